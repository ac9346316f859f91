/**
 * Method options, as the methods declare them (`RoutingMethod.options`):
 *   block options     RoutingBlockConfig fields, filled in by `resolveBlockConfig`
 *                     (every registered method's, with their defaults) and checked for
 *                     the block's own method;
 *   training options  a run configuration's `losses` section (`resolveTrainingOptions`),
 *                     read by the methods' step hooks; those of scope 'both' also reach
 *                     every block of the run (`blockOptionsOf`).
 * And the step-level pieces a training task delegates to its method:
 * `methodStepContext` and `addStepLosses`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { totalAuxLoss } from './aux';
import { METHODS } from './registry';
import type { MethodOption, OptionValues, ResolvedBlockConfig, RoutingMethod, StepContext, StepInput } from './method';
import type { RoutingBlockConfig } from './types';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function entries(m: RoutingMethod): [string, MethodOption][] {
  return Object.entries(m.options ?? {});
}

const isBlock = (o: MethodOption) => (o.scope ?? 'block') !== 'training';
const isTraining = (o: MethodOption) => o.scope === 'training' || o.scope === 'both';

const copy = (v: unknown): unknown => (isObject(v) ? { ...v } : Array.isArray(v) ? [...v] : v);

/** `given` over `base`, one level deep for objects (a partial schedule sets only its fields). */
function merge(base: unknown, given: unknown): unknown {
  if (given === undefined) return copy(base);
  if (isObject(base) && isObject(given)) return { ...base, ...given };
  return Array.isArray(given) ? [...given] : given;
}

/** Whether the method declares option `key` (e.g. tag routing's `tagToExpert`). */
export function hasOption(method: RoutingMethod, key: string): boolean {
  return !!method.options && Object.prototype.hasOwnProperty.call(method.options, key);
}

/**
 * Fill every registered method's block options into `cfg` (the given value, else the
 * default; object values merged) and check those of the block's own `method`.
 */
export function fillBlockOptions(method: RoutingMethod, cfg: ResolvedBlockConfig, given: RoutingBlockConfig): void {
  const out = cfg as unknown as Record<string, unknown>;
  const src = given as unknown as Record<string, unknown>;
  const filled = new Set<string>();
  // The block's own method first: where two methods share an option key, its default wins.
  for (const m of [method, ...METHODS.filter((x) => x !== method)]) {
    for (const [key, opt] of entries(m)) {
      if (!isBlock(opt) || filled.has(key)) continue;
      filled.add(key);
      out[key] = merge(typeof opt.default === 'function' ? (opt.default as (c: ResolvedBlockConfig) => unknown)(cfg) : opt.default, src[key]);
    }
  }
  for (const [key, opt] of entries(method)) if (isBlock(opt)) opt.check?.(out[key], key, cfg);
}

/** The defaults of every registered method's training options. */
export function trainingOptionDefaults(): OptionValues {
  const out: OptionValues = {};
  for (const m of METHODS) for (const [key, opt] of entries(m)) if (isTraining(opt) && !(key in out)) out[key] = copy(opt.default);
  return out;
}

/**
 * A run configuration's training options (`losses`): the methods' defaults, then each
 * layer in turn (a profile's values, the caller's overrides; objects merged one level
 * deep), every value checked by its method. An unknown key is an error naming the known ones.
 */
export function resolveTrainingOptions(...layers: (OptionValues | undefined)[]): OptionValues {
  const owner = new Map<string, MethodOption>();
  for (const m of METHODS) for (const [key, opt] of entries(m)) if (isTraining(opt) && !owner.has(key)) owner.set(key, opt);
  let out: OptionValues = trainingOptionDefaults();
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (!isObject(layer)) throw new Error(`option losses: expected an object of method options, got ${JSON.stringify(layer)}`);
    const next: OptionValues = { ...out };
    for (const [key, v] of Object.entries(layer)) {
      if (!owner.has(key)) throw new Error(`option losses.${key}: no routing method has this option; expected one of ${[...owner.keys()].join(', ')}`);
      next[key] = merge(out[key], v);
    }
    out = next;
  }
  for (const [key, opt] of owner) opt.check?.(out[key], `losses.${key}`);
  return out;
}

/** The block options a run's training options set for `method`'s blocks (its options of scope 'both'). */
export function blockOptionsOf(method: RoutingMethod, training: OptionValues | undefined): Partial<RoutingBlockConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, opt] of entries(method)) {
    if (opt.scope === 'both' && training && training[key] !== undefined) out[key] = merge(opt.default, training[key]);
  }
  return out as Partial<RoutingBlockConfig>;
}

/** The routing context of training step `step` (empty for methods without one). */
export function methodStepContext(method: RoutingMethod, step: number, training: OptionValues): StepContext {
  return method.stepContext ? method.stepContext(step, training) : {};
}

/**
 * `loss` plus the method's step-level terms (Σ weight · value), each logged under its
 * name in `logs`. `input` is built only for methods that have such terms.
 */
export function addStepLosses(method: RoutingMethod, loss: tf.Scalar, logs: Record<string, tf.Scalar>, input: () => StepInput): tf.Scalar {
  if (!method.stepLosses) return loss;
  const terms = method.stepLosses(input());
  for (const t of terms) logs[t.name] = t.value;
  return tf.add(loss, totalAuxLoss(terms)) as tf.Scalar;
}
