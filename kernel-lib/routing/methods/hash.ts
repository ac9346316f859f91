/**
 * Hash routing [hash_routing] (kernel-lib/docs/reference-code.md#hash).
 *
 *   expert_b = hash[b, router_index]     (uniform random labels fixed per example and block)
 *   u_b = f_{expert_b}(x_b)
 *
 * The labels are drawn once per dataset (kernel-lib/docs/reference-code.md#hash-labels); the model passes
 * this block's column as `ctx.hash`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF } from '../ops';

export const hash: RoutingMethod = {
  name: 'hash',
  referenceName: 'hash_routing',
  title: 'Hash',
  kind: 'index',
  usesRouter: false,
  needsHash: true,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [{ label: 'Hash', description: 'a fixed random expert per example and block', resolve: SAME_SIZE }],
  description: 'use a fixed random expert per example and block',
  mix(x, _v, ctx, { config, experts }) {
    const ids = tf.tensor1d(ctx.hash as Int32Array, 'int32'); // [B]
    const onehot = oneHotF(ids, config.numExperts); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(onehot)); // [B,S,C]
    return { mixture, record: { index: ids, weights: onehot }, aux: [] };
  },
};
