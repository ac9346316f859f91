/**
 * Every routing method, eval and training, on the cpu and wasm backends:
 * the tfjs RoutingBlock against the independent float64 oracle
 * (test/oracle/routing-oracle.ts), with the same random parameters and the
 * same-seeded generators. Also reinforceLosses, adamixConsistency and the
 * Gumbel temperature schedule.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { reinforceLosses, adamixConsistency, GumbelSchedule } from '../../kernel-lib/routing';
import type { RoutingContext, RoutingOutput, RoutingRecord } from '../../kernel-lib/routing';
import {
  oracleForward,
  oracleReinforceLosses,
  oracleAdamixConsistency,
  oracleGumbelTemperature,
  type OracleCtx,
  type OracleOut,
} from '../oracle/routing-oracle';
import { assertClose, buildBlock, expectedParamNames, oracleConfig, randomArray, read, type Case, METHOD_NAMES } from './helpers';

const base = { B: 3, S: 4, C: 6, d: 3, N: 4 };

interface TestCase extends Case {
  label: string;
  /** Extra context: mask (with maskedMean) or router input override. */
  withMask?: boolean;
  withRouterInput?: boolean;
  temperature?: number;
}

const CASES: TestCase[] = [
  { label: 'smear', method: 'smear', ...base, expertDropout: 0.3 },
  { label: 'smear postLN', method: 'smear', ...base, expertDropout: 0.3, postLayerNorm: true },
  { label: 'smear masked mean', method: 'smear', ...base, maskedMean: true, withMask: true },
  { label: 'ensemble routerInput override', method: 'ensemble', ...base, expertDropout: 0.3, withRouterInput: true },
  { label: 'tag (5 tags, shared expert)', method: 'tag', ...base, T: 5, tagToExpert: [0, 1, 2, 3, 1] },
  { label: 'hash postLN', method: 'hash', ...base, postLayerNorm: true },
  { label: 'topk k=1', method: 'topk', ...base, expertDropout: 0.3 },
  { label: 'topk k=2 load balancing', method: 'topk', ...base, topK: 2, loadBalancing: true, expertDropout: 0.2 },
  { label: 'st-gumbel τ=2', method: 'st-gumbel', ...base, expertDropout: 0.3, temperature: 2 },
  { label: 'st-gumbel postLN τ=10', method: 'st-gumbel', ...base, postLayerNorm: true },
  { label: 'reinforce h=C/2', method: 'reinforce', ...base, expertDropout: 0.3, baselineReduction: 2 },
  { label: 'reinforce C=16 h=C/8 routerInput', method: 'reinforce', ...base, C: 16, withRouterInput: true },
  { label: 'dselect-k N=4', method: 'dselect-k', ...base },
  { label: 'dselect-k N=6 postLN routerInput ignored', method: 'dselect-k', ...base, N: 6, postLayerNorm: true, withRouterInput: true },
  { label: 'adamix', method: 'adamix', ...base },
  { label: 'skills T=3', method: 'skills', ...base, T: 3 },
  { label: 'soft-moe P=1', method: 'soft-moe', ...base },
  { label: 'soft-moe P=2 postLN', method: 'soft-moe', ...base, P: 2, postLayerNorm: true },
  { label: 'dense postLN', method: 'dense', ...base, N: 1, postLayerNorm: true },
  // Expert dropout applies only to the softmax-router methods: elsewhere it is ignored and draws nothing.
  { label: 'dselect-k expertDropout ignored', method: 'dselect-k', ...base, expertDropout: 0.5 },
  { label: 'skills expertDropout ignored', method: 'skills', ...base, expertDropout: 0.5 },
  { label: 'adamix expertDropout ignored', method: 'adamix', ...base, expertDropout: 0.5 },
  { label: 'soft-moe expertDropout ignored', method: 'soft-moe', ...base, expertDropout: 0.5 },
  { label: 'tag expertDropout ignored', method: 'tag', ...base, expertDropout: 0.5 },
];

/** Fields compared whenever both sides produce them; presence must agree for the strict ones. */
const STRICT_FIELDS: Record<string, (c: TestCase, training: boolean) => boolean> = {
  probs: (c) => ['smear', 'ensemble', 'topk', 'st-gumbel', 'reinforce', 'dselect-k'].includes(c.method),
  index: (c, t) => ['tag', 'hash', 'topk', 'st-gumbel', 'reinforce'].includes(c.method) || (c.method === 'adamix' && t),
  upIndex: (c, t) => c.method === 'adamix' && t,
  slotWeights: (c) => c.method === 'soft-moe',
  logProbAction: (c, t) => c.method === 'reinforce' && t,
  baseline: (c, t) => c.method === 'reinforce' && t,
};

function contexts(c: TestCase, training: boolean, seed: number): { ctx: RoutingContext; octx: OracleCtx; rngT?: Rng; rngO?: Rng } {
  const { B, S, C } = c;
  const ctx: RoutingContext = { training };
  const octx: OracleCtx = { training };
  const T = c.T ?? c.N;
  if (c.method === 'tag' || c.method === 'skills') {
    const tags = Array.from({ length: B }, (_, b) => (b * 2 + 1) % T);
    ctx.tags = tags;
    octx.tags = tags;
  }
  if (c.method === 'hash') {
    const hash = Array.from({ length: B }, (_, b) => (b * 3 + 2) % c.N);
    ctx.hash = tf.tensor1d(hash, 'int32');
    octx.hash = hash;
  }
  if (c.withMask) {
    const mask = Array.from({ length: B * S }, (_, i) => (i % S < S - (i % 3) ? 1 : 0)); // some padding
    ctx.mask = tf.tensor2d(mask, [B, S]);
    octx.mask = mask;
    octx.maskedMean = c.maskedMean;
  }
  if (c.withRouterInput) {
    const v = randomArray(B * C, seed + 77);
    ctx.routerInput = tf.tensor2d(v, [B, C]);
    octx.routerInput = v;
  }
  if (c.temperature !== undefined) {
    ctx.temperature = c.temperature;
    octx.temperature = c.temperature;
  }
  let rngT: Rng | undefined;
  let rngO: Rng | undefined;
  if (training) {
    rngT = new Rng(seed + 5);
    rngO = new Rng(seed + 5);
    ctx.rng = rngT;
    octx.rng = rngO;
  }
  return { ctx, octx, rngT, rngO };
}

const RECORD_FIELDS = ['probs', 'logits', 'weights', 'slotWeights', 'logProbAction', 'baseline'] as const;
const INDEX_FIELDS = ['index', 'upIndex'] as const;

function compare(c: TestCase, training: boolean, out: RoutingOutput, ref: OracleOut, notes: string[]): void {
  const tag = `${c.label} ${training ? 'train' : 'eval'}`;
  assertClose(read(out.y), ref.y, `${tag}: y`);
  assertClose(read(out.mixture), ref.mixture, `${tag}: mixture`);
  const rec = out.record as RoutingRecord & Record<string, tf.Tensor | undefined>;
  for (const f of [...RECORD_FIELDS, ...INDEX_FIELDS]) {
    const a = read(rec[f]);
    const e = ref[f];
    const strict = STRICT_FIELDS[f]?.(c, training) ?? false;
    if (strict) {
      assert.ok(a, `${tag}: record.${f} is missing`);
      assert.ok(e, `${tag}: oracle.${f} is missing`);
    }
    if (!a || !e) {
      if (a || e) notes.push(`${tag}: record.${f} only on the ${a ? 'tfjs' : 'oracle'} side`);
      continue;
    }
    if (f === 'index' || f === 'upIndex') assert.deepEqual(a, e, `${tag}: record.${f}`);
    else assertClose(a, e, `${tag}: record.${f}`);
  }
  const auxT = new Map(out.aux.map((a) => [a.name, a.value.dataSync()[0]]));
  assert.deepEqual([...auxT.keys()].sort(), Object.keys(ref.aux).sort(), `${tag}: aux names`);
  for (const [k, v] of Object.entries(ref.aux)) assertClose([auxT.get(k)!], [v], `${tag}: aux.${k}`);
}

function disposeOutput(out: RoutingOutput): void {
  const ts: tf.Tensor[] = [out.y, out.mixture, ...out.aux.map((a) => a.value)];
  for (const v of Object.values(out.record)) if (v instanceof tf.Tensor) ts.push(v);
  tf.dispose(ts);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`routing block vs oracle on ${backend}`, () => {
    const notes: string[] = [];
    before(async () => {
      await initBackend({ backend, quiet: true });
      assert.equal(tf.getBackend(), backend);
    });
    after(() => {
      if (notes.length) console.log(`[${backend}] record fields present on one side only (not failures):\n  ${[...new Set(notes)].join('\n  ')}`);
    });

    it('covers all 12 methods', () => {
      assert.deepEqual([...new Set(CASES.map((c) => c.method))].sort(), [...METHOD_NAMES].sort());
    });

    CASES.forEach((c, ci) => {
      for (const training of [false, true]) {
        it(`${c.label} (${training ? 'training' : 'eval'})`, () => {
          const seed = 100 + 17 * ci;
          const { block, params } = buildBlock(c, seed);
          try {
            assert.deepEqual([...block.params.keys()].sort(), expectedParamNames(c.method, !!c.postLayerNorm), 'parameter names');
            const x = randomArray(c.B * c.S * c.C, seed + 3);
            const { ctx, octx, rngT, rngO } = contexts(c, training, seed);
            const xt = tf.tensor3d(x, [c.B, c.S, c.C]);
            const out = block.forward(xt, ctx);
            const ref = oracleForward(oracleConfig(c), params, x, c.B, c.S, octx);
            compare(c, training, out, ref, notes);
            if (rngT && rngO) {
              // Same number of draws consumed from the generator.
              assert.deepEqual(rngT.getState(), rngO.getState(), `${c.label}: generator state after the forward`);
            }
            disposeOutput(out);
            tf.dispose([xt, ctx.mask, ctx.routerInput, ctx.hash as tf.Tensor | undefined].filter((t): t is tf.Tensor => !!t));
          } finally {
            block.dispose();
          }
        });
      }
    });

    it('training with several seeds: st-gumbel, reinforce, topk, adamix, skills agree draw by draw', () => {
      for (const [ci, c] of ([
        { label: 'st-gumbel τ=1', method: 'st-gumbel', ...base, B: 6, expertDropout: 0.4, temperature: 1 },
        { label: 'reinforce', method: 'reinforce', ...base, B: 6, expertDropout: 0.4, baselineReduction: 2 },
        { label: 'topk', method: 'topk', ...base, B: 6, expertDropout: 0.4 },
        { label: 'adamix', method: 'adamix', ...base, B: 6 },
        { label: 'skills', method: 'skills', ...base, B: 6 },
      ] as TestCase[]).entries()) {
        const { block, params } = buildBlock(c, 900 + ci);
        const x = randomArray(c.B * c.S * c.C, 950 + ci);
        const xt = tf.tensor3d(x, [c.B, c.S, c.C]);
        for (let s = 0; s < 4; s++) {
          const { ctx, octx } = contexts(c, true, 1000 * s + ci);
          const out = block.forward(xt, ctx);
          compare(c, true, out, oracleForward(oracleConfig(c), params, x, c.B, c.S, octx), notes);
          disposeOutput(out);
        }
        xt.dispose();
        block.dispose();
      }
    });

    it('expert dropout with every expert dropped gives uniform probabilities', () => {
      const c: TestCase = { label: 'smear all dropped', method: 'smear', ...base, expertDropout: 0.99999999 };
      const { block, params } = buildBlock(c, 31);
      const x = randomArray(c.B * c.S * c.C, 32);
      const { ctx, octx } = contexts(c, true, 33);
      const out = block.forward(tf.tensor3d(x, [c.B, c.S, c.C]), ctx);
      const ref = oracleForward(oracleConfig(c), params, x, c.B, c.S, octx);
      assertClose(read(out.record.probs), new Array<number>(c.B * c.N).fill(1 / c.N), 'probs uniform', 1e-5, 1e-6);
      assertClose(read(out.y), ref.y, 'y');
      disposeOutput(out);
      block.dispose();
    });

    it('reinforceLosses matches the oracle (two blocks)', () => {
      const c: TestCase = { label: 'reinforce', method: 'reinforce', ...base, expertDropout: 0.2, baselineReduction: 2 };
      const blocks = [buildBlock(c, 41), buildBlock(c, 42)];
      const x = randomArray(c.B * c.S * c.C, 43);
      const xt = tf.tensor3d(x, [c.B, c.S, c.C]);
      const outs: RoutingOutput[] = [];
      const refs: OracleOut[] = [];
      blocks.forEach(({ block, params }, i) => {
        const { ctx, octx } = contexts(c, true, 44 + i);
        outs.push(block.forward(xt, ctx));
        refs.push(oracleForward(oracleConfig(c), params, x, c.B, c.S, octx));
      });
      const loss = randomArray(c.B, 45, 2).map(Math.abs);
      const terms = reinforceLosses(
        outs.map((o) => o.record),
        tf.tensor1d(loss),
      );
      const got = Object.fromEntries(terms.map((t) => [t.name, t.value.dataSync()[0]]));
      const want = oracleReinforceLosses(
        refs.map((r) => ({ probs: r.probs!, index: r.index!, baseline: r.baseline! })),
        loss,
        c.N,
      );
      assert.deepEqual(Object.keys(got).sort(), ['entropy', 'policy', 'value']);
      assertClose([got.policy], [want.policy], 'policy');
      assertClose([got.entropy], [want.entropy], 'entropy');
      assertClose([got.value], [want.value], 'value');
      const w = Object.fromEntries(terms.map((t) => [t.name, t.weight]));
      assert.deepEqual(w, { policy: 0.01, entropy: 5e-4, value: 0.01 });
      outs.forEach(disposeOutput);
      blocks.forEach((b) => b.block.dispose());
      xt.dispose();
    });

    it('adamixConsistency matches the oracle (ResNet batchmean [B,K], T5 mean [B,T,V])', () => {
      const mk = (n: number, cols: number, seed: number): number[] => {
        const z = randomArray(n * cols, seed, 2);
        const out: number[] = [];
        for (let r = 0; r < n; r++) {
          const row = z.slice(r * cols, (r + 1) * cols);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          out.push(...row.map((v) => v - lse));
        }
        return Array.from(new Float32Array(out));
      };
      const a = mk(5, 7, 1);
      const b = mk(5, 7, 2);
      const got = adamixConsistency(tf.tensor2d(a, [5, 7]), tf.tensor2d(b, [5, 7]), 'batchmean').dataSync()[0];
      assertClose([got], [oracleAdamixConsistency(a, b, 5, 7, 'batchmean')], 'batchmean');
      const a3 = mk(6, 9, 3);
      const b3 = mk(6, 9, 4);
      const got3 = adamixConsistency(tf.tensor3d(a3, [2, 3, 9]), tf.tensor3d(b3, [2, 3, 9]), 'mean').dataSync()[0];
      assertClose([got3], [oracleAdamixConsistency(a3, b3, 6, 9, 'mean')], 'mean');
    });
  });
}

describe('Gumbel temperature schedule vs oracle', () => {
  it('T5 and ResNet presets, every step around each anneal', () => {
    for (const [preset, opts] of [
      ['T5', GumbelSchedule.T5],
      ['ResNet', GumbelSchedule.RESNET],
    ] as const) {
      const s = new GumbelSchedule(opts);
      const steps = [0, 1, 998, 999, 1000, 1001, 4999, 5000, 5001, 6999, 7000, 7999, 8000, 49999, 50000, 100000, 149999, 150000, 174999, 175000, 600000];
      for (const step of steps) {
        assertClose([s.temperatureAt(step)], [oracleGumbelTemperature(step, opts)], `${preset} step ${step}`, 1e-12, 0);
      }
    }
    // The derived values of kernel-lib/docs/reference-code.md#gumbel-temperature, under the documented convention (τ "@g" = τ used at step g+1).
    const r2 = (v: number) => Math.round(v * 100) / 100;
    assert.equal(r2(new GumbelSchedule(GumbelSchedule.T5).temperatureAt(5000)), 9.95);
    assert.equal(r2(new GumbelSchedule(GumbelSchedule.RESNET).temperatureAt(7000)), 0.61);
    assert.equal(new GumbelSchedule(GumbelSchedule.RESNET).temperatureAt(8000), 0.5);
  });
});
