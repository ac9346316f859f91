/**
 * The string-keyed registry of routing methods: friendly names as the paper
 * uses them and the reference code's `routing_estimator` names.
 */
import type { RoutingMethod } from './method';
import { smear } from './methods/smear';
import { ensemble } from './methods/ensemble';
import { tag } from './methods/tag';
import { hash } from './methods/hash';
import { topk } from './methods/topk';
import { stGumbel } from './methods/st-gumbel';
import { reinforce } from './methods/reinforce';
import { dselectK } from './methods/dselect-k';
import { adamix } from './methods/adamix';
import { skills } from './methods/skills';
import { softMoe } from './methods/soft-moe';
import { dense } from './methods/dense';

/** Every method, in the order of the paper's comparison. */
export const METHODS: readonly RoutingMethod[] = [
  smear,
  ensemble,
  tag,
  hash,
  topk,
  stGumbel,
  reinforce,
  dselectK,
  adamix,
  skills,
  softMoe,
  dense,
];

const byName = new Map<string, RoutingMethod>();
for (const m of METHODS) {
  byName.set(m.name, m);
  byName.set(m.referenceName.toLowerCase(), m);
}
// Common spellings.
byName.set('none', dense);
byName.set('single', dense);
byName.set('stgumbel', stGumbel);
byName.set('dselectk', dselectK);
byName.set('softmoe', softMoe);
byName.set('top-k', topk);
byName.set('switch', topk);

/** Look a method up by friendly or reference name (case-insensitive). */
export function getMethod(name: string): RoutingMethod {
  const m = typeof name === 'string' ? byName.get(name.trim().toLowerCase()) : undefined;
  if (!m) {
    throw new Error(
      `unknown routing method '${String(name)}'; expected one of ${METHODS.map((x) => `${x.name} (${x.referenceName})`).join(', ')}`,
    );
  }
  return m;
}

/** Friendly names of every method. */
export function methodNames(): string[] {
  return METHODS.map((m) => m.name);
}
