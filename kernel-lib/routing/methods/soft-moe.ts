/**
 * Soft MoE with one slot per expert [soft_input_routing] (kernel-lib/docs/reference-code.md#soft-moe; ResNet only in the reference:
 * token mixing is not causal, so it does not fit an autoregressive decoder).
 *
 *   x̂_s = x_s / (‖x_s‖₂ + 1e-6)                    per token
 *   Φ̂   = Φ / (‖Φ‖₂ over C + 1e-6) · σ              Φ [C,N·P], σ [N·P] (init 1)
 *   logits = x̂ Φ̂                                    [B,S,N·P]
 *   D = softmax over S (dispatch),  Cw = softmax over N·P (combine)
 *   slot_{np} = Σ_s D_{s,np} x_s                    (un-normalised tokens)
 *   Y_{np} = f_n(slot_{np});   u_s = Σ_{np} Cw_{s,np} Y_{np}
 * No router LayerNorm, no expert dropout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';

export const softMoe: RoutingMethod = {
  name: 'soft-moe',
  referenceName: 'soft_input_routing',
  title: 'Soft MoE',
  kind: 'token-mix',
  usesRouter: false,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [{ label: 'Soft MoE', description: 'one slot per expert; ResNet setting', resolve: SAME_SIZE }],
  description: 'experts process soft mixtures of tokens (slots); tokens combine slot outputs',
  validate(cfg) {
    if (!(Number.isInteger(cfg.slotsPerExpert) && cfg.slotsPerExpert >= 1)) {
      throw new Error(`option slotsPerExpert: expected an integer >= 1, got ${cfg.slotsPerExpert}`);
    }
  },
  createParams(cfg, rng) {
    const c = cfg.width;
    const np = cfg.numExperts * cfg.slotsPerExpert;
    return {
      'softmoe.phi': tf.variable(tf.tensor2d(rng.normal(c * np, cfg.initScale), [c, np]), true, `${cfg.name}/softmoe.phi`),
      'softmoe.scale': tf.variable(tf.ones([np]), true, `${cfg.name}/softmoe.scale`),
    };
  },
  mix(x, _v, _ctx, { config, experts, own }) {
    const [b, s, c] = x.shape;
    const n = config.numExperts;
    const p = config.slotsPerExpert;
    const np = n * p;
    const xn = tf.div(x, tf.add(tf.norm(x, 'euclidean', 2, true), 1e-6)); // [B,S,C]
    const phi = own['softmoe.phi'];
    const phin = tf.mul(tf.div(phi, tf.add(tf.norm(phi, 'euclidean', 0, true), 1e-6)), own['softmoe.scale']); // [C,NP]
    const logits = tf.reshape(tf.matMul(tf.reshape(xn, [b * s, c]), phin), [b, s, np]); // [B,S,NP]
    const dispatch = tf.softmax(tf.transpose(logits, [0, 2, 1])) as tf.Tensor3D; // softmax over S: [B,NP,S]
    const combine = tf.softmax(logits) as tf.Tensor3D; // softmax over NP: [B,S,NP]
    const slots = tf.matMul(dispatch, x); // [B,NP,C]
    const perExpert = tf.reshape(tf.transpose(tf.reshape(slots, [b, n, p, c]), [1, 0, 2, 3]), [n, b * p, c]); // [N,B·P,C]
    const y = experts.applyPerExpert(perExpert as tf.Tensor3D); // [N,B·P,C]
    const slotOut = tf.reshape(tf.transpose(tf.reshape(y, [n, b, p, c]), [1, 0, 2, 3]), [b, np, c]); // [B,NP,C]
    const mixture = tf.matMul(combine, slotOut) as tf.Tensor3D; // [B,S,C]
    const slotWeights = tf.sum(tf.reshape(tf.mean(combine, 1), [b, n, p]), 2) as tf.Tensor2D; // [B,N]
    return { mixture, record: { slotWeights }, aux: [] };
  },
};
