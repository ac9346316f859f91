/**
 * Straight-through Gumbel-softmax [gs_st_routing] (kernel-lib/docs/reference-code.md#st-gumbel).
 *
 * Training:
 *   g = −log(−log(U + 1e-20) + 1e-20),  U ~ U(0,1)^{B×N}
 *   y = softmax((logits + g) / τ);  k = argmax y
 *   val = 1 − stopgrad(y_k) + y_k      (= 1 forward; gradient reaches the router through y_k)
 *   u_b = f_k(x_b) · val
 * Eval: k = argmax R(v), no scaling.
 *
 * Temperature: τ0 = 10, min 0.5, the reference's compounding anneal
 * τ ← max(τ·exp(−r·step), 0.5) at every evaluation (T5 r = 1e-6 every 5,000
 * steps; ResNet r = 1e-4 every 1,000) — see `GumbelSchedule`. The trainer
 * passes the current τ as `ctx.temperature`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF, rowDot, stopGradient } from '../ops';
import { requireRng } from '../router';

export const stGumbel: RoutingMethod = {
  name: 'st-gumbel',
  referenceName: 'gs_st_routing',
  title: 'ST-Gumbel',
  kind: 'index',
  usesRouter: true,
  auxLosses: [],
  trainingDraws: ['gumbel'],
  defaultExpertDropout: 0,
  configurations: [{ label: 'ST-Gumbel', description: 'straight-through Gumbel-softmax, τ annealed 10 → 0.5', resolve: SAME_SIZE }],
  description: 'sample an expert with Gumbel noise; straight-through gradient',
  mix(x, _v, ctx, { config, experts, route }) {
    const { logits, probs } = route(); // [B,N]
    const n = config.numExperts;
    if (!ctx.training) {
      const index = tf.argMax(stopGradient(probs), 1) as tf.Tensor1D; // [B]
      const oh = oneHotF(index, n);
      const mixture = experts.applyMerged(x, experts.merge(oh));
      return { mixture, record: { probs, logits, index, weights: oh }, aux: [] };
    }
    const [b] = probs.shape;
    const given = ctx.draws?.gumbel; // [B·N] g itself (smear step)
    const g = given
      ? tf.tensor2d(given, [b, n])
      : tf.tidy(() => {
          const u = requireRng(ctx.rng, 'ST-Gumbel sampling').uniform(b * n); // [B·N]
          return tf.neg(tf.log(tf.add(tf.neg(tf.log(tf.add(tf.tensor2d(u, [b, n]), 1e-20))), 1e-20)));
        }); // [B,N]
    const y = tf.softmax(tf.div(tf.add(logits, g), ctx.temperature)) as tf.Tensor2D; // [B,N]
    const index = tf.argMax(stopGradient(y), 1) as tf.Tensor1D; // [B]
    const oh = oneHotF(index, n); // [B,N]
    const yk = rowDot(y, oh); // [B]
    const val = tf.add(tf.sub(1, stopGradient(yk)), yk); // [B] = 1 forward
    const upWeights = tf.mul(oh, tf.expandDims(val, 1)) as tf.Tensor2D; // one-hot · val
    const mixture = experts.applyMerged(x, experts.merge(oh, upWeights)); // f_k(x) · val
    return { mixture, record: { probs, logits, index, weights: upWeights }, aux: [] };
  },
};
