/**
 * Latent Skills [skill_routing] (kernel-lib/docs/reference-code.md#latent-skills; Ponti et al. 2022,
 * Polytropon-style).
 *
 *   S ∈ R^{T×N} per block, init U(−1e-3, 1e-3), learning rate ×10
 *   Training: A = RelaxedBernoulli(τ = 1, logits = S).rsample()
 *             = sigmoid((log U − log(1−U) + S) / τ),  U ~ U(0,1)^{T×N} clamped to [ε, 1−ε]
 *   Eval:     A = sigmoid(S)
 *   p_b = A[tag_b] / (Σ_n A[tag_b, n] + 1e-12), then SMEAR-style parameter merging with p.
 * The router is unused.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF } from '../ops';
import { requireRng } from '../router';

/** torch.finfo(float32).eps, torch's clamp_probs bound. */
const EPS32 = 1.1920928955078125e-7;
/** The relaxed Bernoulli temperature of the reference. */
const SKILL_TEMPERATURE = 1;

export const skills: RoutingMethod = {
  name: 'skills',
  referenceName: 'skill_routing',
  title: 'Latent Skills',
  kind: 'merge',
  usesRouter: false,
  needsTags: true,
  auxLosses: [],
  defaultExpertDropout: 0,
  trainingDraws: ['skillsUniform'],
  configurations: [{ label: 'Latent Skills', description: 'learned task-to-skill matrix, merged experts', resolve: SAME_SIZE }],
  description: 'learned per-task soft allocation of experts (relaxed Bernoulli), merged',
  lrScale: { 'skills.logits': 10 },
  createParams(cfg, rng) {
    const t = cfg.numTags;
    const n = cfg.numExperts;
    return {
      'skills.logits': tf.variable(tf.tensor2d(rng.uniformRange(t * n, -1e-3, 1e-3), [t, n]), true, `${cfg.name}/skills.logits`),
    };
  },
  mix(x, _v, ctx, { config, experts, own }) {
    const t = config.numTags;
    const n = config.numExperts;
    const logits = own['skills.logits']; // [T,N]
    let alloc: tf.Tensor2D; // A [T,N]
    if (ctx.training) {
      const u = ctx.draws?.skillsUniform ? Float32Array.from(ctx.draws.skillsUniform) : requireRng(ctx.rng, 'skills relaxed Bernoulli').uniform(t * n);
      for (let i = 0; i < u.length; i++) u[i] = Math.min(Math.max(u[i], EPS32), 1 - EPS32);
      const ut = tf.tensor2d(u, [t, n]);
      const noise = tf.sub(tf.log(ut), tf.log1p(tf.neg(ut))); // logistic noise
      alloc = tf.sigmoid(tf.div(tf.add(noise, logits), SKILL_TEMPERATURE)) as tf.Tensor2D;
    } else {
      alloc = tf.sigmoid(logits) as tf.Tensor2D;
    }
    const tagIds = tf.tensor1d(ctx.tags as Int32Array, 'int32'); // [B]
    const rows = tf.matMul(oneHotF(tagIds, t), alloc); // A[tag_b]  [B,N] (one-hot matmul, no gather)
    const p = tf.div(rows, tf.add(tf.sum(rows, 1, true), 1e-12)) as tf.Tensor2D; // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(p));
    return { mixture, record: { weights: p, probs: p }, aux: [] };
  },
};
