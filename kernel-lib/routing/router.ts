/**
 * The router of the reference code (kernel-lib/docs/reference-code.md#router,
 * #expert-dropout; `adapter_utils.py: Router`).
 *
 *   x̂      = LN_in(v)                         v [B,C] → [B,C]   (eps 1e-5, affine 1/0)
 *   W_eff  = LN_w(W_rᵀ)ᵀ                       W_r [C,N]; each expert column normalised over C,
 *                                              gain (init 0.01) and bias shared across experts
 *   logits = x̂ · W_eff                         [B,N]             (no router bias)
 *   R(v)   = softmax(logits)                   [B,N]
 *
 * Expert dropout (training only): m = 1[u < rate] per (example, expert),
 *   p'' = (R⊙(1−m) + 1e-10) / Σ(R⊙(1−m) + 1e-10),  logits' = logits + m·(−1e10).
 *
 * Legend: B batch · C width · N experts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layerNorm } from './ops';
import type { Rng } from '../util/rng';

/** torch.nn.LayerNorm's default eps, used by both router LayerNorms (T5's RMSNorm uses 1e-6). */
export const ROUTER_LN_EPS = 1e-5;

export interface RouteResult {
  xhat: tf.Tensor2D; // [B,C] LN_in(v) (or v itself when the input norm is skipped)
  logits: tf.Tensor2D; // [B,N] (dropout-masked in training)
  probs: tf.Tensor2D; // [B,N] (after dropout renormalisation in training)
}

export class Router {
  readonly c: number;
  readonly n: number;
  readonly weight: tf.Variable; // [C,N] ~ N(0, s²)
  readonly inGain: tf.Variable; // [C] = 1
  readonly inBias: tf.Variable; // [C] = 0
  readonly wGain: tf.Variable; // [C] = 0.01 (the reference's router_init_scale)
  readonly wBias: tf.Variable; // [C] = 0

  constructor(c: number, n: number, rng: Rng, initScale: number, name: string) {
    this.c = c;
    this.n = n;
    this.weight = tf.variable(tf.tensor2d(rng.normal(c * n, initScale), [c, n]), true, `${name}/router.weight`);
    this.inGain = tf.variable(tf.ones([c]), true, `${name}/router.inNorm.gain`);
    this.inBias = tf.variable(tf.zeros([c]), true, `${name}/router.inNorm.bias`);
    this.wGain = tf.variable(tf.fill([c], initScale), true, `${name}/router.weightNorm.gain`);
    this.wBias = tf.variable(tf.zeros([c]), true, `${name}/router.weightNorm.bias`);
  }

  /** x̂ = LN_in(v). */
  normalizeInput(v: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(v, this.inGain, this.inBias, ROUTER_LN_EPS);
  }

  /** W_eff [C,N]: LayerNorm of each column over C (axis 0), so no transpose is needed. */
  effectiveWeight(): tf.Tensor2D {
    return tf.tidy(() => {
      const g = tf.reshape(this.wGain, [this.c, 1]);
      const b = tf.reshape(this.wBias, [this.c, 1]);
      return layerNorm(this.weight as tf.Tensor2D, g, b, ROUTER_LN_EPS, 0);
    });
  }

  /**
   * Route router inputs v [B,C]. `skipInputNorm` reproduces the reference's
   * quirk that LN_in is skipped when load balancing is on.
   */
  route(v: tf.Tensor2D, opts: { training: boolean; dropout: number; rng?: Rng; skipInputNorm?: boolean }): RouteResult {
    return tf.tidy(() => {
      const xhat = opts.skipInputNorm ? v : this.normalizeInput(v); // [B,C]
      let logits = tf.matMul(xhat, this.effectiveWeight()) as tf.Tensor2D; // [B,N]
      let probs = tf.softmax(logits) as tf.Tensor2D; // [B,N]
      if (opts.training && opts.dropout > 0) {
        const [b, n] = probs.shape;
        const u = requireRng(opts.rng, 'expert dropout').uniform(b * n); // [B·N], [b][n] row-major
        const m = new Float32Array(b * n);
        for (let i = 0; i < m.length; i++) m[i] = u[i] < opts.dropout ? 1 : 0;
        const mask = tf.tensor2d(m, [b, n]);
        const kept = tf.add(tf.mul(probs, tf.sub(1, mask)), 1e-10); // p⊙(1−m) + 1e-10
        probs = tf.div(kept, tf.sum(kept, 1, true)) as tf.Tensor2D; // renormalise (renormalize_adapter_probs)
        logits = tf.add(logits, tf.mul(mask, -1e10)) as tf.Tensor2D;
      }
      return { xhat, logits, probs };
    });
  }

  variables(): [string, tf.Variable][] {
    return [
      ['router.weight', this.weight],
      ['router.inNorm.gain', this.inGain],
      ['router.inNorm.bias', this.inBias],
      ['router.weightNorm.gain', this.wGain],
      ['router.weightNorm.bias', this.wBias],
    ];
  }
}

export function requireRng(rng: Rng | undefined, what: string): Rng {
  if (!rng) {
    throw new Error(`ctx.rng: ${what} in training mode needs a seeded generator; pass { training: true, rng: new Rng(seed) }`);
  }
  return rng;
}
