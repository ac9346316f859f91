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
import { SAME_SIZE, type ResolvedBlockConfig, type RoutingMethod } from '../method';
import { oneHotF } from '../ops';

declare module '../types' {
  interface RoutingBlockConfig {
    /** Tag routing: tag → expert map (e.g. RTE → MNLI's expert in T5 encoder blocks). Default identity. */
    tagToExpert?: number[];
  }
}

function checkTagMap(map: number[], _name: string, cfg?: ResolvedBlockConfig): void {
  const { numTags, numExperts } = cfg!;
  if (!Array.isArray(map)) throw new Error(`option tagToExpert: expected an array of ${numTags} expert indices (one per tag), got ${JSON.stringify(map)}`);
  if (numTags > numExperts && map.length === numTags && map.every((e, t) => e === t)) {
    throw new Error(`method 'tag': numTags ${numTags} > numExperts ${numExperts}; pass tagToExpert to share experts`);
  }
  if (map.length !== numTags) throw new Error(`option tagToExpert: expected ${numTags} entries (one per tag), got ${map.length}`);
  map.forEach((e, t) => {
    if (!Number.isInteger(e) || e < 0 || e >= numExperts) {
      throw new Error(`option tagToExpert[${t}]: expected an expert index in [0, ${numExperts}), got ${e}`);
    }
  });
}

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
  options: {
    tagToExpert: {
      default: (cfg: ResolvedBlockConfig) => Array.from({ length: cfg.numTags }, (_, t) => t),
      description: 'tag → expert map (default: tag t uses expert t)',
      check: checkTagMap,
    },
  },
  referenceArguments: {
    keys: ['same_rte_mnli', 'only_in_encoder'],
    // RTE on MNLI's expert (the README's task_routing_same_rte_mnli_onlyencoder run) is tag routing's.
    exclusive: { same_rte_mnli: { neutral: false, refusal: (_v, est) => `key 'same_rte_mnli' applies to task_routing, not ${JSON.stringify(est)}` } },
  },
  mix(x, _v, ctx, { config, experts }) {
    const tags = ctx.tags as Int32Array; // validated by the block
    const ids = tf.tensor1d(Array.from(tags, (t) => config.tagToExpert[t]), 'int32'); // [B]
    const onehot = oneHotF(ids, config.numExperts); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(onehot)); // [B,S,C]
    return { mixture, record: { index: ids, weights: onehot }, aux: [] };
  },
};
