/**
 * Top-k routing [switch_routing] (kernel-lib/docs/reference-code.md#top-k). The reference implements k = 1.
 *
 *   p = R(v)                      (expert dropout 0.1 in training, as the README runs it)
 *   k_b = argmax_n p_b,n
 *   u_b = f_{k_b}(x_b) · p_b,k    (scaled by p_k in training AND at test, as the reference)
 *
 * The router learns only through p_k (which depends on every logit through
 * the softmax), Switch-Transformer style. The scale is folded into the
 * up-projection merge weights (f_k(x)·p_k = swish(·)·(p_k W_up,k)), which
 * is exact because W_up is linear without bias.
 *
 * Extensions beyond the reference (off by default):
 *  - k > 1: u_b = Σ_j f_{k_j}(x_b) · p_{b,k_j} over the k largest probabilities (k× compute).
 *  - Switch load balancing, the reference's formula: L = B · Σ_n mean_b(p_bn) · mean_b(1[n chosen for b]),
 *    summed over blocks with `loadBalancingWeight`. As in the reference, turning
 *    it on also skips the router's input LayerNorm (`use_load_balancing` quirk).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, TWICE_EXPERTS, type RoutingMethod } from '../method';
import { oneHotF, rowDot, stopGradient } from '../ops';
import type { AuxLoss } from '../types';

export const topk: RoutingMethod = {
  name: 'topk',
  referenceName: 'switch_routing',
  title: 'Top-k',
  kind: 'index',
  usesRouter: true,
  auxLosses: [{ name: 'load_balancing', scope: 'block', description: 'Switch load-balancing loss (only with loadBalancing: true)' }],
  defaultExpertDropout: 0.1,
  configurations: [
    { label: 'Top-k', description: 'k = 1, as the reference', resolve: SAME_SIZE },
    { label: 'Top-k 2×', description: 'twice the experts', resolve: TWICE_EXPERTS },
  ],
  description: 'use the most probable expert(s), output scaled by their probability',
  validate(cfg) {
    if (!(Number.isInteger(cfg.topK) && cfg.topK >= 1 && cfg.topK <= cfg.numExperts)) {
      throw new Error(`option topK: expected an integer in [1, numExperts=${cfg.numExperts}], got ${cfg.topK}`);
    }
  },
  mix(x, _v, ctx, { config, experts, route }) {
    const { logits, probs } = route(); // [B,N]
    const n = config.numExperts;
    const k = config.topK;
    // Indices only (no gradient through the selection): argmax for k = 1, topk otherwise.
    // Indices of the k largest probabilities by k argmax passes (tfjs's topk has no gradient,
    // and any op on the tape needs one; ArgMax's is zero). Ties go to the lower index.
    const chosen: tf.Tensor2D = tf.tidy(() => {
      let p: tf.Tensor2D = stopGradient(probs);
      const cols: tf.Tensor1D[] = [];
      for (let j = 0; j < k; j++) {
        const idx = tf.argMax(p, 1) as tf.Tensor1D; // [B]
        cols.push(idx);
        if (j + 1 < k) p = tf.sub(p, tf.mul(oneHotF(idx, n), 2)) as tf.Tensor2D; // exclude (probabilities ≤ 1)
      }
      return tf.stack(cols, 1) as tf.Tensor2D;
    }); // [B,k] int32
    let mixture: tf.Tensor3D | undefined;
    let weights: tf.Tensor2D | undefined;
    let chosenMask: tf.Tensor2D | undefined;
    for (let j = 0; j < k; j++) {
      const oh = oneHotF(tf.squeeze(tf.slice(chosen, [0, j], [-1, 1]), [1]) as tf.Tensor1D, n); // [B,N]
      const pj = rowDot(probs, oh); // [B]  p_{b,k_j}, differentiable
      const scaled = tf.mul(oh, tf.expandDims(pj, 1)) as tf.Tensor2D; // [B,N] one-hot · p_k
      const uj = experts.applyMerged(x, experts.merge(oh, scaled)); // f_k(x) · p_k
      mixture = mixture ? (tf.add(mixture, uj) as tf.Tensor3D) : uj;
      weights = weights ? (tf.add(weights, scaled) as tf.Tensor2D) : scaled;
      chosenMask = chosenMask ? (tf.add(chosenMask, oh) as tf.Tensor2D) : oh;
    }
    const aux: AuxLoss[] = [];
    if (ctx.training && config.loadBalancing) {
      const b = probs.shape[0];
      const value = tf.mul(b, tf.sum(tf.mul(tf.mean(probs, 0), tf.mean(chosenMask as tf.Tensor2D, 0)))) as tf.Scalar;
      aux.push({ name: 'load_balancing', value, weight: config.loadBalancingWeight });
    }
    const index = k === 1 ? tf.squeeze(chosen, [1]) : chosen;
    return { mixture: mixture as tf.Tensor3D, record: { probs, logits, index, weights }, aux };
  },
};
