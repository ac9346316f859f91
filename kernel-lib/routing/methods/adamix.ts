/**
 * AdaMix [adamix_routing] (kernel-lib/docs/reference-code.md#adamix; Wang et al. 2022).
 *
 * Training: per example, an independent uniformly random expert for the
 * down-projection (W_down, b_down) and another for the up-projection:
 *   u_b = swish(x_b W_down[i_b] + b_down[i_b]) W_up[j_b]
 * The model runs twice per step with independent routings; the loss adds the
 * symmetric KL consistency ½[KL(p₂‖p₁) + KL(p₁‖p₂)] (weight 1) between the
 * two passes' output distributions (`adamixConsistency`).
 * Eval: every expert's W_down, b_down, W_up averaged uniformly into one adapter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF } from '../ops';
import { requireRng } from '../router';
import { Experts } from '../experts';

export const adamix: RoutingMethod = {
  name: 'adamix',
  referenceName: 'adamix_routing',
  title: 'AdaMix',
  kind: 'merge',
  usesRouter: false,
  auxLosses: [
    { name: 'consistency', scope: 'model', description: 'symmetric KL between two stochastic passes, weight 1 (adamixConsistency)' },
  ],
  defaultExpertDropout: 0,
  trainingDraws: ['adamixDown', 'adamixUp'],
  trainingPasses: 2,
  configurations: [{ label: 'AdaMix', description: 'random experts in training, uniform merge at test', resolve: SAME_SIZE }],
  description: 'random down/up experts in training (two passes, consistency loss); uniform merge at test',
  mix(x, _v, ctx, { config, experts }) {
    const n = config.numExperts;
    if (!ctx.training) {
      const mixture = Experts.applyShared(
        x,
        tf.mean(experts.down, 0) as tf.Tensor2D, // [C,d]
        tf.mean(experts.downBias, 0) as tf.Tensor1D, // [d]
        tf.mean(experts.up, 0) as tf.Tensor2D, // [d,C]
      );
      return { mixture, record: {}, aux: [] };
    }
    const b = x.shape[0];
    const given = ctx.draws;
    const draw = () => requireRng(ctx.rng, 'AdaMix random experts').uniformInt(b, n);
    const down = tf.tensor1d(given?.adamixDown ?? draw(), 'int32'); // [B]
    const up = tf.tensor1d(given?.adamixUp ?? draw(), 'int32'); // [B]
    const mixture = experts.applyMerged(x, experts.merge(oneHotF(down, n), oneHotF(up, n)));
    return { mixture, record: { index: down, upIndex: up }, aux: [] };
  },
};

/**
 * AdaMix's consistency loss between two passes, from log-probabilities
 * logp1, logp2 [R, K] (classes or vocabulary last):
 *   ½ [KL(p₂‖p₁) + KL(p₁‖p₂)],  KL(p‖q) = Σ_k p_k (log p_k − log q_k)
 * reduction 'batchmean' (ResNet, KLDivLoss batchmean): sum / R.
 * reduction 'mean'      (T5): sum over K, mean over the R positions (padding included, as the reference).
 * Both reduce to Σ/R; kept as two names to document the two call sites.
 */
export function adamixConsistency(
  logp1: tf.Tensor,
  logp2: tf.Tensor,
  reduction: 'batchmean' | 'mean' = 'batchmean',
): tf.Scalar {
  if (logp1.shape.join(',') !== logp2.shape.join(',')) {
    throw new Error(`adamixConsistency: logp1 shape [${logp1.shape}] differs from logp2 shape [${logp2.shape}]`);
  }
  return tf.tidy(() => {
    const k = logp1.shape[logp1.rank - 1];
    const rows = logp1.size / k;
    const kl21 = tf.sum(tf.mul(tf.exp(logp2), tf.sub(logp2, logp1))); // KL(p2‖p1), summed
    const kl12 = tf.sum(tf.mul(tf.exp(logp1), tf.sub(logp1, logp2))); // KL(p1‖p2), summed
    void reduction; // both reductions are Σ / rows (see above)
    return tf.div(tf.mul(0.5, tf.add(kl21, kl12)), rows) as tf.Scalar;
  });
}
