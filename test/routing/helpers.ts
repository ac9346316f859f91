/**
 * Shared helpers for the tfjs-vs-oracle routing tests: block construction with
 * random non-trivial parameters, conversion to the oracle's layouts, and
 * tolerance comparisons with readable failure messages.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../kernel-lib/util/rng';
import { RoutingBlock } from '../../kernel-lib/routing';
import type { RoutingBlockConfig } from '../../kernel-lib/routing';
import type { OracleConfig, OracleParams } from '../oracle/routing-oracle';

export const METHOD_NAMES = [
  'smear',
  'ensemble',
  'tag',
  'hash',
  'topk',
  'st-gumbel',
  'reinforce',
  'dselect-k',
  'adamix',
  'skills',
  'soft-moe',
  'dense',
] as const;

/** The parameter names a block of this method must expose (as `RoutingBlock.namedParams` lists them). */
export function expectedParamNames(method: string, postLayerNorm: boolean): string[] {
  const names = [
    'experts.down',
    'experts.downBias',
    'experts.up',
    'router.weight',
    'router.inNorm.gain',
    'router.inNorm.bias',
    'router.weightNorm.gain',
    'router.weightNorm.bias',
  ];
  if (postLayerNorm) names.push('postNorm.gain', 'postNorm.bias');
  if (method === 'reinforce') names.push('baseline.w1', 'baseline.b1', 'baseline.w2', 'baseline.b2');
  if (method === 'dselect-k') names.push('dselect.z', 'dselect.w');
  if (method === 'skills') names.push('skills.logits');
  if (method === 'soft-moe') names.push('softmoe.phi', 'softmoe.scale');
  return names.sort();
}

export interface Case {
  method: string;
  B: number;
  S: number;
  C: number;
  d: number;
  N: number;
  T?: number;
  P?: number;
  postLayerNorm?: boolean;
  expertDropout?: number;
  topK?: number;
  loadBalancing?: boolean;
  tagToExpert?: number[];
  maskedMean?: boolean;
  baselineReduction?: number;
}

export function blockConfig(c: Case, seed: number): RoutingBlockConfig {
  return {
    method: c.method,
    width: c.C,
    numExperts: c.N,
    bottleneck: c.d,
    postLayerNorm: c.postLayerNorm ?? false,
    expertDropout: c.expertDropout ?? 0,
    numTags: c.T,
    topK: c.topK,
    loadBalancing: c.loadBalancing,
    slotsPerExpert: c.P,
    tagToExpert: c.tagToExpert,
    maskedMean: c.maskedMean,
    baselineReduction: c.baselineReduction,
    init: seed,
  };
}

export function oracleConfig(c: Case): OracleConfig {
  return {
    method: c.method,
    N: c.N,
    C: c.C,
    d: c.d,
    T: c.T,
    P: c.P,
    postLayerNorm: c.postLayerNorm,
    expertDropout: c.expertDropout,
    topK: c.topK,
    loadBalancing: c.loadBalancing,
    tagToExpert: c.tagToExpert,
  };
}

/**
 * Give every parameter random non-trivial values (N(0, σ²); gains and scales
 * 1 + N(0, 0.3²)) and return them (as the float32 values stored) for the oracle.
 */
export function randomizeParams(block: RoutingBlock, seed: number, std = 0.5): OracleParams {
  const rng = new Rng(seed);
  const out: OracleParams = {};
  for (const [name, v] of block.params) {
    let vals: Float32Array;
    if (/gain$|scale$/.test(name)) vals = rng.normal(v.size, 0.3, 1);
    else if (name === 'skills.logits') vals = rng.normal(v.size, 1.5);
    else vals = rng.normal(v.size, std);
    v.assign(tf.tensor(vals, v.shape, 'float32'));
    out[name] = Array.from(v.dataSync());
  }
  return out;
}

export function buildBlock(c: Case, seed: number): { block: RoutingBlock; params: OracleParams } {
  const block = new RoutingBlock(blockConfig(c, seed));
  const params = randomizeParams(block, seed + 1000);
  return { block, params };
}

/** float32-representable random values (so tfjs and the oracle see the same inputs). */
export function randomArray(n: number, seed: number, std = 1): number[] {
  return Array.from(new Rng(seed).normal(n, std));
}

export function read(t: tf.Tensor | undefined): number[] | undefined {
  return t ? Array.from(t.dataSync() as ArrayLike<number>) : undefined;
}

/** max |a−e| − (atol + rtol·|e|) ≤ 0 elementwise, with the worst entry named on failure. */
export function assertClose(
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number> | undefined,
  label: string,
  rtol = 1e-4,
  atol = 1e-5,
): void {
  assert.ok(actual, `${label}: actual is missing`);
  assert.ok(expected, `${label}: expected is missing`);
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} vs expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${label}: entry ${worst}: tfjs ${actual[worst]} vs oracle ${expected[worst]} ` +
        `(|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(3)}, rtol ${rtol}, atol ${atol})` +
        `\n  tfjs:   [${Array.from(actual).slice(0, 12).map((v) => v.toPrecision(6)).join(', ')}${actual.length > 12 ? ', …' : ''}]` +
        `\n  oracle: [${Array.from(expected).slice(0, 12).map((v) => v.toPrecision(6)).join(', ')}${expected.length > 12 ? ', …' : ''}]`,
    );
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
