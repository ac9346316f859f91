/**
 * DSelect-k [dselectk_routing] (kernel-lib/docs/reference-code.md#dselect-k), with k = 1 as the reference.
 *
 *   x̂ = LN_in(v)                          v: the block's own input mean, also in T5 decoder blocks
 *   s = SmoothStep_γ(x̂ · Z)               [B,m], m = ceil(log2 N); SmoothStep(t) = 0 (t ≤ −γ/2),
 *                                          1 (t ≥ γ/2), −2t³/γ³ + 3t/(2γ) + ½ between
 *   q_e = Π_j (bit_j(e) ? s_j : 1 − s_j)   [B,N], codes MSB-first
 *   u_b = Σ_e q_b,e f_e(x_b)               every expert runs, in training and at test
 *                                          (dselectk1_mode = False, the default)
 * The selector weights softmax(x̂·w) are over k = 1 entries, so ≡ 1: `dselect.w`
 * exists (as in reference checkpoints) but gets no gradient.
 *
 * Regulariser (training; summed over blocks, weight 0.1 as the README runs it):
 *   mean_b Σ_e −q log(q + 1e-6)  +  [N not a power of 2] mean_b 1 / Σ_e (q_e + 1e-6)
 * With N = 6 the q_e need not sum to 1 (they can even all be 0): reproduced, not renormalised.
 * An example on codes 6–7 has q = 0 and a penalty of 1/(6e-6) (B = 32, ×0.1: +520.8 on the loss)
 * with zero gradient (saturated smooth steps), as in the reference: settings/resnet/README.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';

declare module '../types' {
  interface RoutingBlockConfig {
    /** DSelect-k: regulariser weight (README 0.1). Default 0.1. */
    dselectWeight?: number;
    /** DSelect-k smooth-step γ. Default 1. */
    smoothStepGamma?: number;
  }
}

function numSelectors(n: number): number {
  return Math.ceil(Math.log2(n));
}

/** SmoothStep_γ (Hazimeh et al. 2021) via clipping: the cubic is 0 / 1 with zero slope at ±γ/2. */
export function smoothStep(t: tf.Tensor, gamma: number): tf.Tensor {
  return tf.tidy(() => {
    const tc = tf.clipByValue(t, -gamma / 2, gamma / 2);
    return tf.add(tf.add(tf.mul(-2 / gamma ** 3, tf.pow(tc, 3)), tf.mul(3 / (2 * gamma), tc)), 0.5);
  });
}

export const dselectK: RoutingMethod = {
  name: 'dselect-k',
  referenceName: 'dselectk_routing',
  title: 'DSelect-k',
  kind: 'output-mix',
  usesRouter: false,
  usesRouterInputNorm: true,
  ownRouterInput: true,
  auxLosses: [{ name: 'dselect_regularizer', scope: 'block', description: 'entropy of q (+ non-power-of-2 penalty), weight 0.1' }],
  defaultExpertDropout: 0,
  configurations: [{ label: 'DSelect-k', description: 'k = 1 smooth binary selector, all experts computed', resolve: SAME_SIZE }],
  description: 'smooth-step binary selector over experts (k = 1), outputs mixed',
  options: {
    dselectWeight: {
      default: 0.1,
      scope: 'both',
      description: 'weight of the regulariser (the reference load_loss_weight; README 0.1)',
      check(w: number, name) {
        if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0)) throw new Error(`option ${name}: expected a number >= 0, got ${String(w)}`);
      },
    },
    smoothStepGamma: {
      default: 1,
      description: 'γ of the smooth step',
      check(g: number) {
        if (!(g > 0)) throw new Error(`option smoothStepGamma: expected > 0, got ${g}`);
      },
    },
  },
  unusedParams: ['dselect.w'], // softmax over k = 1 selector ≡ 1
  referenceParams: {
    'router.weight': null, // the selector replaces the softmax router's weights
    'dselect.z': { name: 'multi_routers.z_logits', shape: (s) => [1, ...s] }, // [C,m] → [1,C,m]
    'dselect.w': { name: 'multi_routers.w_logits' }, // [C,1]
  },
  referenceArguments: {
    keys: ['load_loss_weight'],
    read(args) {
      const w = args.num('load_loss_weight', (v) => v >= 0, 'a number >= 0') ?? 0;
      return { routing: { dselectWeight: w }, losses: { dselectWeight: w } };
    },
  },
  validate(cfg) {
    if (cfg.numExperts < 2) throw new Error(`method 'dselect-k': numExperts must be >= 2, got ${cfg.numExperts}`);
  },
  createParams(cfg, rng) {
    const c = cfg.width;
    const m = numSelectors(cfg.numExperts);
    const s = cfg.initScale;
    return {
      'dselect.z': tf.variable(tf.tensor2d(rng.normal(c * m, s), [c, m]), true, `${cfg.name}/dselect.z`),
      'dselect.w': tf.variable(tf.tensor2d(rng.normal(c, s), [c, 1]), true, `${cfg.name}/dselect.w`),
    };
  },
  mix(x, routerInput, ctx, { config, experts, router, own }) {
    const n = config.numExperts;
    const m = numSelectors(n);
    const xhat = router.normalizeInput(routerInput()); // [B,C]
    const s = smoothStep(tf.matMul(xhat, own['dselect.z']), config.smoothStepGamma) as tf.Tensor2D; // [B,m]
    // bits[e][j] = j-th most significant bit of e.
    const bits = new Float32Array(n * m);
    for (let e = 0; e < n; e++) for (let j = 0; j < m; j++) bits[e * m + j] = (e >> (m - 1 - j)) & 1;
    const bitT = tf.tensor3d(bits, [1, n, m]);
    const s3 = tf.expandDims(s, 1); // [B,1,m]
    const factors = tf.add(tf.mul(bitT, s3), tf.mul(tf.sub(1, bitT), tf.sub(1, s3))); // [B,N,m]
    let q = tf.squeeze(tf.slice(factors, [0, 0, 0], [-1, -1, 1]), [2]) as tf.Tensor2D; // product over j
    for (let j = 1; j < m; j++) q = tf.mul(q, tf.squeeze(tf.slice(factors, [0, 0, j], [-1, -1, 1]), [2])) as tf.Tensor2D; // [B,N]
    const mixture = experts.applyMixed(x, q); // [B,S,C]
    const aux = [];
    if (ctx.training) {
      let reg = tf.mean(tf.sum(tf.neg(tf.mul(q, tf.log(tf.add(q, 1e-6)))), 1)); // entropy of q
      if (2 ** m !== n) reg = tf.add(reg, tf.mean(tf.div(1, tf.sum(tf.add(q, 1e-6), 1)))); // non-power-of-2 penalty
      aux.push({ name: 'dselect_regularizer', value: reg as tf.Scalar, weight: config.dselectWeight });
    }
    return { mixture, record: { probs: q, weights: q }, aux };
  },
};
