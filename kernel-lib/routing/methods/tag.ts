/**
 * Tag routing — metadata routing [task_routing] (kernel-lib/docs/reference-code.md#tag).
 *
 *   expert_b = tagToExpert[tag_b]        (T5: task id; ResNet: domain id)
 *   u_b = f_{expert_b}(x_b)              (no probability scaling; the router is unused)
 *
 * The T5 README run shares MNLI's expert with RTE in encoder blocks only
 * (`same_rte_mnli`, `only_in_encoder`): the model passes `tagToExpert` with
 * rte → 5 to its encoder blocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF } from '../ops';

export const tag: RoutingMethod = {
  name: 'tag',
  referenceName: 'task_routing',
  title: 'Tag',
  kind: 'index',
  usesRouter: false,
  needsTags: true,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [{ label: 'Tag', description: 'one expert per task/domain', resolve: SAME_SIZE }],
  description: 'use the expert of the example’s task or domain',
  mix(x, _v, ctx, { config, experts }) {
    const tags = ctx.tags as Int32Array; // validated by the block
    const ids = tf.tensor1d(Array.from(tags, (t) => config.tagToExpert[t]), 'int32'); // [B]
    const onehot = oneHotF(ids, config.numExperts); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(onehot)); // [B,S,C]
    return { mixture, record: { index: ids, weights: onehot }, aux: [] };
  },
};
