/**
 * The string-keyed registry of routing methods: friendly names as the paper
 * uses them and the reference code's `routing_estimator` names. The twelve
 * methods of the paper's comparison are registered here; `registerMethod`
 * adds one from outside the library (nothing else in kernel-lib names a method:
 * test/tooling/method-names.test.ts).
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

const registered: RoutingMethod[] = [smear, ensemble, tag, hash, topk, stGumbel, reinforce, dselectK, adamix, skills, softMoe, dense];

/** Every method, in the order of the paper's comparison, then those added with `registerMethod`. */
export const METHODS: readonly RoutingMethod[] = registered;

/**
 * The method of a model without routing: one plain adapter in every block (the
 * mini backbones are pretrained with it, its adapters left out of the trained set).
 */
export const SINGLE_ADAPTER: RoutingMethod = dense;

const byName = new Map<string, RoutingMethod>();
const add = (key: string, m: RoutingMethod) => byName.set(key.trim().toLowerCase(), m);
for (const m of registered) {
  add(m.name, m);
  add(m.referenceName, m);
}
// Common spellings.
add('none', dense);
add('single', dense);
add('stgumbel', stGumbel);
add('dselectk', dselectK);
add('softmoe', softMoe);
add('top-k', topk);
add('switch', topk);

/**
 * Add a routing method (a `RoutingMethod` defined outside the library) under its
 * friendly and reference names. Every part of the library then knows it: blocks,
 * models, both settings' training, `smear step` and `smear analyze`. Refuses a name
 * that is taken and a method without its required fields.
 */
export function registerMethod(method: RoutingMethod): RoutingMethod {
  if (method == null || typeof method !== 'object') throw new Error('registerMethod: expected a RoutingMethod object');
  for (const k of ['name', 'referenceName', 'title', 'kind', 'description'] as const) {
    if (typeof method[k] !== 'string' || method[k].trim() === '') throw new Error(`registerMethod: field ${k}: expected a non-empty string, got ${JSON.stringify(method[k])}`);
  }
  if (typeof method.mix !== 'function') throw new Error(`registerMethod '${method.name}': field mix: expected a function`);
  if (!Array.isArray(method.configurations) || method.configurations.length === 0) {
    throw new Error(`registerMethod '${method.name}': field configurations: expected at least one configuration`);
  }
  if (!Array.isArray(method.auxLosses)) throw new Error(`registerMethod '${method.name}': field auxLosses: expected an array`);
  if (!(typeof method.defaultExpertDropout === 'number' && method.defaultExpertDropout >= 0 && method.defaultExpertDropout < 1)) {
    throw new Error(`registerMethod '${method.name}': field defaultExpertDropout: expected a number in [0, 1), got ${String(method.defaultExpertDropout)}`);
  }
  for (const key of [method.name, method.referenceName]) {
    const other = byName.get(key.trim().toLowerCase());
    if (other) throw new Error(`registerMethod '${method.name}': the name '${key}' is taken by method '${other.name}'`);
  }
  registered.push(method);
  add(method.name, method);
  add(method.referenceName, method);
  return method;
}

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
