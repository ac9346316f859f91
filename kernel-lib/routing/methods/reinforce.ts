/**
 * REINFORCE with a learned baseline [reinf_bl_routing] (kernel-lib/docs/reference-code.md#reinforce).
 *
 * Training, per block:
 *   a_b ~ Categorical(softmax(logits_b))          u_b = f_{a_b}(x_b)   (no scaling)
 *   baseline_b = (stopgrad(x̂_b) W1 + b1) W2 + b2   (linear, no nonlinearity; h = C/8)
 * Eval: a_b = argmax R(v_b).
 *
 * Losses, once per step over all L blocks (`reinforceLosses`), with ℓ_b the
 * per-example task loss (T5: label-smoothed loss summed over target tokens;
 * ResNet: cross-entropy):
 *   A_{b,l}  = ℓ_b − baseline_{b,l}
 *   L_policy = mean_{b,l}[ log(π_{b,l,a} + 1e-20) · stopgrad(A_{b,l}) ]
 *   L_ent    = mean_{b,l}[ −Σ_n π log(π + 1e-20) ]    (added with +β: entropy is penalised, as the reference)
 *   L_value  = mean_{b,l} Huber_{δ=1}(stopgrad(ℓ_b) − baseline_{b,l})   (reaches the baseline only)
 *   L = L_task + α L_policy + β L_ent + γ L_value,  α = 0.01, β = 5e-4, γ = 0.01
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF, rowDot, stopGradient } from '../ops';
import { requireRng } from '../router';
import type { AuxLoss, RoutingRecord } from '../types';

/** The reference's REINFORCE weights (reinf_bl_routing.json; CV Config.py). */
export const REINFORCE_DEFAULTS = { policyWeight: 0.01, entropyWeight: 5e-4, valueWeight: 0.01, huberDelta: 1 };

export const reinforce: RoutingMethod = {
  name: 'reinforce',
  referenceName: 'reinf_bl_routing',
  title: 'REINFORCE',
  kind: 'index',
  usesRouter: true,
  auxLosses: [
    { name: 'policy', scope: 'model', description: 'α·mean log π(a)·(ℓ − baseline), α = 0.01 (reinforceLosses)' },
    { name: 'entropy', scope: 'model', description: 'β·mean router entropy, β = 5e-4, added as the reference (reinforceLosses)' },
    { name: 'value', scope: 'model', description: 'γ·mean Huber(ℓ − baseline), γ = 0.01 (reinforceLosses)' },
  ],
  defaultExpertDropout: 0,
  trainingDraws: ['action'],
  configurations: [{ label: 'REINFORCE', description: 'score-function gradient with a learned linear baseline', resolve: SAME_SIZE }],
  description: 'sample an expert; train the router with REINFORCE and a learned baseline',
  createParams(cfg, rng) {
    const c = cfg.width;
    const h = Math.floor(c / cfg.baselineReduction);
    if (h < 1) {
      throw new Error(`method 'reinforce': width ${c} / baselineReduction ${cfg.baselineReduction} leaves no baseline units`);
    }
    const s = cfg.initScale;
    return {
      'baseline.w1': tf.variable(tf.tensor2d(rng.normal(c * h, s), [c, h]), true, `${cfg.name}/baseline.w1`),
      'baseline.b1': tf.variable(tf.zeros([h]), true, `${cfg.name}/baseline.b1`),
      'baseline.w2': tf.variable(tf.tensor2d(rng.normal(h, s), [h, 1]), true, `${cfg.name}/baseline.w2`),
      'baseline.b2': tf.variable(tf.zeros([1]), true, `${cfg.name}/baseline.b2`),
    };
  },
  mix(x, _v, ctx, { config, experts, route, own }) {
    const { xhat, logits, probs } = route(); // [B,N]
    const n = config.numExperts;
    if (!ctx.training) {
      const index = tf.argMax(stopGradient(probs), 1) as tf.Tensor1D;
      const oh = oneHotF(index, n);
      return { mixture: experts.applyMerged(x, experts.merge(oh)), record: { probs, logits, index, weights: oh }, aux: [] };
    }
    const [b] = probs.shape;
    let index: tf.Tensor1D;
    if (ctx.draws?.action) {
      index = tf.tensor1d(ctx.draws.action, 'int32'); // given samples (smear step)
    } else {
      const u = tf.tensor2d(requireRng(ctx.rng, 'REINFORCE sampling').uniform(b), [b, 1]); // [B,1]
      // Inverse CDF of softmax(logits) (Categorical(logits=…) in the reference): a = #{n : cumsum_n ≤ u}.
      // (1 − step(cdf − u)) = 1[cdf ≤ u]; built from ops with (zero) gradients so the tape can pass through.
      const cdf = tf.cumsum(tf.softmax(stopGradient(logits)), 1); // [B,N]
      const count = tf.sum(tf.sub(1, tf.step(tf.sub(cdf, u))), 1); // [B]
      index = tf.cast(tf.minimum(count, n - 1), 'int32') as tf.Tensor1D; // [B]
    }
    const oh = oneHotF(index, n); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(oh)); // f_a(x)
    const logProbAction = tf.log(tf.add(rowDot(probs, oh), 1e-20)) as tf.Tensor1D; // [B]
    const hidden = tf.add(tf.matMul(stopGradient(xhat), own['baseline.w1']), own['baseline.b1']); // [B,h]
    const baseline = tf.reshape(tf.add(tf.matMul(hidden, own['baseline.w2']), own['baseline.b2']), [b]) as tf.Tensor1D; // [B]
    return { mixture, record: { probs, logits, index, weights: oh, logProbAction, baseline }, aux: [] };
  },
};

/**
 * Huber loss (torch.nn.HuberLoss, δ): ½a² for |a| ≤ δ, δ(|a| − ½δ) beyond. Written as
 * ½q² + δ(|a| − q) with q = min(|a|, δ), which is the same function, so no comparison
 * op (tfjs has no gradient for those) sits on the gradient tape.
 */
function huber(a: tf.Tensor, delta: number): tf.Tensor {
  const abs = tf.abs(a);
  const q = tf.minimum(abs, delta);
  return tf.add(tf.mul(0.5, tf.square(q)), tf.mul(delta, tf.sub(abs, q)));
}

/**
 * The REINFORCE losses for one training step from the records of every
 * REINFORCE block (kernel-lib/docs/reference-code.md#reinforce). `perExampleLoss` [B] is the task loss per
 * example; it is detached here. Returns weighted terms ready to add.
 */
export function reinforceLosses(
  records: RoutingRecord[],
  perExampleLoss: tf.Tensor1D,
  weights: Partial<typeof REINFORCE_DEFAULTS> = {},
): AuxLoss[] {
  const w = { ...REINFORCE_DEFAULTS, ...weights };
  const used = records.filter((r) => r.logProbAction && r.baseline && r.probs);
  if (used.length === 0) {
    throw new Error('reinforceLosses: no REINFORCE records (need training-mode records with logProbAction, baseline, probs)');
  }
  for (const r of used) {
    if (r.baseline!.shape[0] !== perExampleLoss.shape[0]) {
      throw new Error(
        `reinforceLosses: perExampleLoss has ${perExampleLoss.shape[0]} examples, the records have ${r.baseline!.shape[0]}`,
      );
    }
  }
  return tf.tidy(() => {
    const loss = stopGradient(perExampleLoss); // [B]
    const logp = tf.stack(used.map((r) => r.logProbAction!)); // [L,B]
    const base = tf.stack(used.map((r) => r.baseline!)); // [L,B]
    const adv = tf.sub(loss, base); // A = ℓ − b  [L,B]
    const policy = tf.mean(tf.mul(logp, stopGradient(adv))) as tf.Scalar;
    const entropy = tf.mean(
      tf.stack(used.map((r) => tf.neg(tf.sum(tf.mul(r.probs!, tf.log(tf.add(r.probs!, 1e-20))), 1)))),
    ) as tf.Scalar; // mean over (l, b)
    const value = tf.mean(huber(tf.sub(loss, base), w.huberDelta)) as tf.Scalar;
    return [
      { name: 'policy', value: policy, weight: w.policyWeight },
      { name: 'entropy', value: entropy, weight: w.entropyWeight },
      { name: 'value', value, weight: w.valueWeight },
    ];
  });
}
