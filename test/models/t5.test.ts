/**
 * RoutedT5 (kernel-lib/models/t5): config, relative-position buckets, eval
 * logits vs the float64 oracle (test/oracle/t5-oracle.ts), cached generation vs
 * recomputation, padding, checkpoints (reference names, HF layout with a BF16
 * tensor), gradients and input errors. Tiny configs only (runtime a few seconds).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { readSafetensors, writeSafetensors, numberToBf16Bits, bf16BitsToNumber, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import {
  RoutedT5,
  T5_PRESETS,
  fromHuggingFaceConfig,
  toHuggingFaceConfig,
  resolveT5Config,
  relativePositionBucket,
  loadRoutedT5,
  saveRoutedT5,
  t5StateDict,
  loadT5StateDict,
  CROSS_TABLE_KEY,
  geluNew,
  geluNewReference,
  frozenMatMul,
  type RoutedT5Options,
  type T5Inputs,
} from '../../kernel-lib/models/t5';
import { oracleT5Forward, oracleBucket, type T5OracleConfig } from '../oracle/t5-oracle';
import { assertClose } from '../routing/helpers';

// ------------------------------------------------------------------ helpers

const TEST_CFG = T5_PRESETS['t5-test']; // C 16, 2 heads × 4, F 24, 2+2 layers, V 40

function makeModel(extra: Partial<RoutedT5Options> & { method?: string; numExperts?: number } = {}): RoutedT5 {
  const { method = 'smear', numExperts = 4, ...rest } = extra;
  return new RoutedT5({ config: 't5-test', routing: { method, numExperts, bottleneck: 3, ...(rest.routing ?? {}) }, ...rest });
}

/** Give every routing parameter non-trivial values (so routing changes the output). */
function randomizeRouting(model: RoutedT5, seed: number): void {
  const rng = new Rng(seed);
  for (const s of model.sublayers) {
    for (const [name, v] of s.routing.params) {
      const vals = /gain$/.test(name) ? rng.normal(v.size, 0.3, 1) : rng.normal(v.size, name.startsWith('router.weight') ? 1 : 0.3);
      v.assign(tf.tensor(vals, v.shape, 'float32'));
    }
    s.norm.assign(tf.tensor(rng.normal(s.norm.size, 0.2, 1), s.norm.shape, 'float32'));
  }
  model.encoderFinalNorm.assign(tf.tensor(rng.normal(16, 0.2, 1), [16], 'float32'));
  model.decoderFinalNorm.assign(tf.tensor(rng.normal(16, 0.2, 1), [16], 'float32'));
}

/** HF-named, torch-layout parameters plus routing parameters (our layouts) for the oracle. */
function oracleParams(model: RoutedT5): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const sd = t5StateDict(model);
  for (const [k, t] of sd) if (!k.includes('.adapter_controller.')) out.set(k, Array.from(t.dataSync()));
  tf.dispose([...sd.values()]);
  for (const s of model.sublayers) {
    for (const [k, v] of s.routing.params) out.set(`${s.prefix}.adapter_controller.${k}`, Array.from(v.dataSync()));
  }
  return out;
}

function oracleCfg(model: RoutedT5, extra: Partial<T5OracleConfig> = {}): T5OracleConfig {
  const c = model.config;
  const r = model.routingConfig;
  return {
    dModel: c.dModel,
    dKv: c.dKv,
    dFf: c.dFf,
    numHeads: c.numHeads,
    numLayers: c.numLayers,
    numDecoderLayers: c.numDecoderLayers,
    vocabSize: c.vocabSize,
    numBuckets: c.relativeAttentionNumBuckets,
    maxDistance: c.relativeAttentionMaxDistance,
    eps: c.layerNormEps,
    routing: { method: model.method, N: r.numExperts, C: c.dModel, d: r.bottleneck, T: r.numTags },
    maskedRouterMean: model.options.maskedRouterMean,
    ...extra,
  };
}

// B = 3; example 1 has two padding positions, example 2 one.
const INPUT_IDS = [
  [5, 9, 13, 2, 1],
  [7, 3, 1, 0, 0],
  [11, 12, 30, 1, 0],
];
const MASK = [
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
  [1, 1, 1, 1, 0],
];
const DEC_IDS = [
  [0, 4, 8, 1],
  [0, 22, 1, 0],
  [0, 6, 6, 6],
];

function read(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

function disposeOut(out: { logits: tf.Tensor; records: object[]; aux: { value: tf.Tensor }[] }): void {
  const ts: tf.Tensor[] = [out.logits, ...out.aux.map((a) => a.value)];
  for (const r of out.records) for (const v of Object.values(r)) if (v instanceof tf.Tensor) ts.push(v);
  tf.dispose(ts);
}

function logitsOf(model: RoutedT5, inputs: T5Inputs): number[] {
  const out = model.forward(inputs, { training: false });
  const v = read(out.logits);
  disposeOut(out);
  return v;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 't5-test-'));
}

// ------------------------------------------------------------------ config

describe('T5 config', () => {
  it('has the t5-v1_1-base preset (kernel-lib/docs/reference-code.md#t5-backbone)', () => {
    const b = T5_PRESETS['t5-v1_1-base'];
    assert.deepEqual(
      [b.dModel, b.dKv, b.dFf, b.numHeads, b.numLayers, b.numDecoderLayers, b.vocabSize, b.relativeAttentionNumBuckets, b.relativeAttentionMaxDistance],
      [768, 64, 2048, 12, 12, 12, 32128, 32, 128],
    );
    assert.equal(b.dropoutRate, 0.1);
    assert.equal(b.layerNormEps, 1e-6);
    assert.equal(T5_PRESETS['t5-tiny'].vocabSize, 260);
  });

  it('reads HF config.json keys and round-trips through toHuggingFaceConfig', () => {
    const json = {
      d_model: 768, d_kv: 64, d_ff: 2048, num_heads: 12, num_layers: 12, num_decoder_layers: 12, vocab_size: 32128,
      relative_attention_num_buckets: 32, relative_attention_max_distance: 128, dropout_rate: 0.1, layer_norm_epsilon: 1e-6,
      feed_forward_proj: 'gated-gelu', tie_word_embeddings: false,
    };
    assert.deepEqual(fromHuggingFaceConfig(json), T5_PRESETS['t5-v1_1-base']);
    assert.deepEqual(fromHuggingFaceConfig(toHuggingFaceConfig(TEST_CFG)), TEST_CFG);
    // num_decoder_layers defaults to num_layers; max distance to 128 (older configs lack it).
    const { num_decoder_layers: _a, relative_attention_max_distance: _b, ...older } = json;
    const c = fromHuggingFaceConfig(older);
    assert.equal(c.numDecoderLayers, 12);
    assert.equal(c.relativeAttentionMaxDistance, 128);
  });

  it('rejects bad configs naming the key', () => {
    assert.throws(() => fromHuggingFaceConfig({ d_model: 8 }), /missing key 'd_kv'/);
    const ok = toHuggingFaceConfig(TEST_CFG);
    assert.throws(() => fromHuggingFaceConfig({ ...ok, feed_forward_proj: 'relu' }), /feed_forward_proj: expected 'gated-gelu'/);
    assert.throws(() => fromHuggingFaceConfig({ ...ok, num_heads: 2.5 }), /num_heads: expected a positive integer/);
    assert.throws(() => fromHuggingFaceConfig({ ...ok, dropout_rate: 1 }), /dropoutRate: expected a number in \[0, 1\)/);
    assert.throws(() => fromHuggingFaceConfig([1]), /expected a JSON object/);
    assert.throws(() => resolveT5Config('t5-huge'), /unknown; expected one of/);
    assert.throws(() => resolveT5Config({ preset: 't5-test', relativeAttentionNumBuckets: 7 }), /relativeAttentionNumBuckets: expected an even integer/);
  });
});

// ------------------------------------------------------------------ buckets

describe('relative position buckets (HF _relative_position_bucket)', () => {
  it('bidirectional, 32 buckets, max distance 128 (encoder, cross-attention)', () => {
    // relative = memory − query. n = −relative; keys after the query (n < 0) use buckets 16..31.
    // 8 exact buckets (|n| < 8), then 8 + floor(log(|n|/8)/log(16)·8), capped at 15.
    const cases: [number, number][] = [
      [0, 0], [-1, 1], [-7, 7], [-8, 8], [-11, 8], [-12, 9], [-15, 9], [-16, 10], [-23, 11], [-32, 12], [-64, 14], [-127, 15], [-128, 15], [-1000, 15],
      [1, 17], [7, 23], [8, 24], [16, 26], [127, 31], [500, 31],
    ];
    for (const [rel, want] of cases) {
      assert.equal(relativePositionBucket(rel, true, 32, 128), want, `relative ${rel}`);
      assert.equal(oracleBucket(rel, true, 32, 128), want, `oracle, relative ${rel}`);
    }
  });

  it('causal, 32 buckets, max distance 128 (decoder self-attention)', () => {
    // Future keys → 0; 16 exact buckets; then 16 + floor(log(n/16)/log(8)·16), capped at 31.
    const cases: [number, number][] = [
      [3, 0], [1, 0], [0, 0], [-1, 1], [-15, 15], [-16, 16], [-20, 17], [-32, 21], [-64, 26], [-127, 31], [-128, 31], [-4000, 31],
    ];
    for (const [rel, want] of cases) {
      assert.equal(relativePositionBucket(rel, false, 32, 128), want, `relative ${rel}`);
      assert.equal(oracleBucket(rel, false, 32, 128), want, `oracle, relative ${rel}`);
    }
  });

  it('agrees with the float64 oracle over a range of distances and bucket settings', () => {
    for (const [nb, md] of [[32, 128], [16, 64], [8, 20]]) {
      for (let rel = -300; rel <= 300; rel++) {
        for (const bi of [true, false]) {
          assert.equal(relativePositionBucket(rel, bi, nb, md), oracleBucket(rel, bi, nb, md), `rel ${rel} bidirectional ${bi} buckets ${nb}/${md}`);
        }
      }
    }
  });
});

// ------------------------------------------------------------------ oracle

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`RoutedT5 eval logits vs the float64 oracle on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, quiet: true });
      assert.equal(tf.getBackend(), backend);
    });

    const check = (label: string, model: RoutedT5, inputs: T5Inputs, oracleExtra: Partial<T5OracleConfig> = {}, hash?: number[][]) => {
      const before = tf.memory().numTensors;
      const out = model.forward(inputs, { training: false });
      assert.deepEqual(out.logits.shape, [3, 4, TEST_CFG.vocabSize]);
      assert.equal(out.records.length, model.numRoutingBlocks);
      const want = oracleT5Forward(oracleCfg(model, oracleExtra), oracleParams(model), {
        inputIds: INPUT_IDS,
        attentionMask: MASK,
        decoderInputIds: DEC_IDS,
        taskIds: inputs.taskIds ? Array.from(inputs.taskIds) : undefined,
        hash,
      });
      assertClose(read(out.logits), want.logits, `${label}: logits`, 2e-3, 2e-4);
      out.records.forEach((r, k) => {
        if (r.probs && want.blocks[k].probs) assertClose(read(r.probs), want.blocks[k].probs, `${label}: block ${k} probs`, 2e-3, 1e-5);
      });
      disposeOut(out);
      assert.equal(tf.memory().numTensors, before, `${label}: forward leaks tensors`);
      return { out, want };
    };

    it('SMEAR, padded batch, router means over all positions (reference)', () => {
      const model = makeModel();
      randomizeRouting(model, 1);
      const { want } = check('smear', model, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS });
      // Decoder blocks route from the mean of the final encoder output over ALL source positions.
      const e = want.encoderOutput;
      const c = 16;
      const mean = new Array<number>(3 * c).fill(0);
      for (let b = 0; b < 3; b++) for (let s = 0; s < 5; s++) for (let j = 0; j < c; j++) mean[b * c + j] += e[(b * 5 + s) * c + j] / 5;
      assertClose(want.blocks[4].routerInput, mean, 'oracle decoder router input = unmasked encoder mean', 1e-9, 1e-12);
      const enc = model.encode({ inputIds: INPUT_IDS, attentionMask: MASK });
      assertClose(read(enc.routerInput), mean, 'encode().routerInput', 2e-3, 2e-4);
      tf.dispose([enc.hidden, enc.routerInput, ...enc.records.flatMap((r) => Object.values(r) as tf.Tensor[])]);
      model.dispose();
    });

    it('SMEAR with masked router means and a cross-attention table', () => {
      const model = makeModel({ maskedRouterMean: true, crossAttentionBias: 'random' });
      assert.equal(model.crossAttentionBiasSource, 'random');
      randomizeRouting(model, 2);
      check('smear masked+cross', model, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS });
      model.dispose();
    });

    it('tag routing with RTE → MNLI in encoder blocks only; hash routing reads column k', () => {
      const model = makeModel({ method: 'tag', numExperts: 8, sameRteMnliInEncoder: true });
      randomizeRouting(model, 3);
      const taskIds = [0, 5, 2];
      const map = [5, 1, 2, 3, 4, 5, 6, 7];
      const { out } = check('tag', model, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS, taskIds }, { encoderTagToExpert: map });
      void out;
      const o2 = model.forward({ inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS, taskIds }, { training: false });
      o2.records.forEach((r, k) => assert.deepEqual(read(r.index!), k < 4 ? [5, 5, 2] : [0, 5, 2], `block ${k} expert`));
      disposeOut(o2);
      model.dispose();

      const hm = makeModel({ method: 'hash', numExperts: 4 });
      randomizeRouting(hm, 4);
      const r = new Rng(9);
      const hash = Array.from({ length: 3 }, () => Array.from(r.uniformInt(12, 4))); // R = 12 ≥ 10 blocks
      check('hash', hm, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS, hashIds: Int32Array.from(hash.flat()) }, {}, hash);
      const o3 = hm.forward({ inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS, hashIds: Int32Array.from(hash.flat()) }, { training: false });
      o3.records.forEach((rec, k) => assert.deepEqual(read(rec.index!), hash.map((row) => row[k]), `hash block ${k}`));
      disposeOut(o3);
      hm.dispose();
    });
  });
}

// ------------------------------------------------------------------ generation, padding, training

describe('RoutedT5 on wasm: generation, padding, training', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('cached greedy generation equals full recomputation and teacher forcing', async () => {
    for (const extra of [{}, { crossAttentionBias: 'random' as const }]) {
      const model = makeModel(extra);
      randomizeRouting(model, 5);
      const inputs = { inputIds: INPUT_IDS, attentionMask: MASK };
      const before = tf.memory().numTensors;
      const a = await model.generate(inputs, { maxLength: 6, returnLogits: true });
      const b = await model.generate(inputs, { maxLength: 6, returnLogits: true, useCache: false });
      assert.deepEqual(Array.from(a.sequences), Array.from(b.sequences), 'greedy sequences');
      assert.deepEqual(a.shape, b.shape);
      assertClose(read(a.logits!), read(b.logits!), 'step logits cached vs recomputed', 1e-4, 1e-4);
      // Teacher forcing on [0, generated…] gives the same per-step logits.
      const [bs, l] = a.shape;
      const dec = Array.from({ length: bs }, (_, i) => [0, ...Array.from(a.sequences.slice(i * l, i * l + l - 1))]);
      assertClose(logitsOf(model, { ...inputs, decoderInputIds: dec }), read(a.logits!), 'teacher-forced logits', 1e-4, 1e-4);
      // Greedy = argmax of the step logits, pad after EOS.
      const lg = a.logits!.arraySync() as number[][][];
      for (let i = 0; i < bs; i++) {
        let done = false;
        for (let p = 0; p < l; p++) {
          const row = lg[i][p];
          const arg = row.indexOf(Math.max(...row));
          assert.equal(a.sequences[i * l + p], done ? 0 : arg, `example ${i} step ${p}`);
          if (!done && arg === 1) done = true;
        }
      }
      tf.dispose([a.logits!, b.logits!]);
      assert.equal(tf.memory().numTensors, before, 'generate leaks tensors');
      model.dispose();
    }
  });

  it('DSelect-k routes decoder blocks from its own mean: the current token only in cached generation (reference)', async () => {
    const model = makeModel({ method: 'dselect-k' });
    randomizeRouting(model, 13);
    const inputs = { inputIds: INPUT_IDS, attentionMask: MASK };
    const a = await model.generate(inputs, { maxLength: 4, returnLogits: true });
    const b = await model.generate(inputs, { maxLength: 4, returnLogits: true, useCache: false });
    const la = a.logits!.arraySync() as number[][][];
    const lb = b.logits!.arraySync() as number[][][];
    // Step 0: one decoder token, both agree; later steps: the full recomputation averages over the prefix.
    for (let i = 0; i < 3; i++) assertClose(la[i][0], lb[i][0], `example ${i} step 0`, 1e-4, 1e-4);
    const later = la.flatMap((r, i) => r.slice(1).flatMap((row, p) => row.map((x, k) => Math.abs(x - lb[i][p + 1][k]))));
    if (a.shape[1] > 1 && b.shape[1] > 1) assert.ok(Math.max(...later) > 1e-4, 'later steps differ (own mean over one token vs the prefix)');
    tf.dispose([a.logits!, b.logits!]);
    model.dispose();
  });

  it('stops at EOS and pads; maxLength bounds the length', async () => {
    const model = makeModel();
    // Force EOS: lm_head row for token 1 dominates.
    const [c, v] = model.lmHead.shape;
    const w = new Float32Array(c * v);
    for (let i = 0; i < c; i++) w[i * v + 1] = 100;
    model.lmHead.assign(tf.tensor2d(w, [c, v]));
    const out = await model.generate({ inputIds: INPUT_IDS, attentionMask: MASK }, { maxLength: 5 });
    // Depending on the sign of the final states, EOS wins at step 0 for every example or never; check the contract.
    const [b, l] = out.shape;
    assert.ok(l >= 1 && l <= 5);
    for (let i = 0; i < b; i++) {
      const row = Array.from(out.sequences.slice(i * l, (i + 1) * l));
      const eos = row.indexOf(1);
      if (eos >= 0) assert.ok(row.slice(eos + 1).every((t) => t === 0), `pads after EOS: ${row}`);
    }
    if (Array.from(out.sequences).every((t) => t === 1)) assert.equal(l, 1, 'stops once every sequence has EOS');
    model.dispose();
  });

  it('padding: keys masked in attention; router means include padding unless maskedRouterMean', () => {
    const changedPads = INPUT_IDS.map((r, b) => r.map((t, s) => (MASK[b][s] ? t : 17)));
    for (const masked of [false, true]) {
      const model = makeModel({ maskedRouterMean: masked });
      randomizeRouting(model, 6);
      const a = logitsOf(model, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS });
      const b = logitsOf(model, { inputIds: changedPads, attentionMask: MASK, decoderInputIds: DEC_IDS });
      const diff = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
      // Example 0 has no padding: identical either way (per-example routing).
      const per = 4 * TEST_CFG.vocabSize;
      assertClose(b.slice(0, per), a.slice(0, per), 'unpadded example unaffected');
      if (masked) assert.ok(diff < 1e-5, `masked router mean: padded tokens must not matter (max diff ${diff})`);
      else assert.ok(diff > 1e-3, `reference router mean includes padding: padded tokens change the routing (max diff ${diff})`);
      // Extra padding columns: no effect when masked, an effect (batch dependence) otherwise.
      const padded = { inputIds: INPUT_IDS.map((r) => [...r, 0, 0]), attentionMask: MASK.map((r) => [...r, 0, 0]), decoderInputIds: DEC_IDS };
      const c = logitsOf(model, padded);
      const d2 = Math.max(...a.map((x, i) => Math.abs(x - c[i])));
      if (masked) assert.ok(d2 < 1e-4, `masked: extra padding changes nothing (max diff ${d2})`);
      else assert.ok(d2 > 1e-3, `unmasked: extra padding shifts the router means (max diff ${d2})`);
      model.dispose();
    }
  });

  it('training: dropout is seeded by ctx.rng; rate 0 equals eval', () => {
    const model = makeModel();
    randomizeRouting(model, 7);
    const inputs = { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS };
    const run = (seed: number) => {
      const o = model.forward(inputs, { training: true, rng: new Rng(seed) });
      const v = read(o.logits);
      disposeOut(o);
      return v;
    };
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
    const evalLogits = logitsOf(model, inputs);
    const nodrop = new RoutedT5({ config: { preset: 't5-test', dropoutRate: 0 }, routing: { method: 'smear', numExperts: 4, bottleneck: 3, expertDropout: 0 } });
    randomizeRouting(nodrop, 7);
    const o = nodrop.forward(inputs, { training: true, rng: new Rng(3) });
    assertClose(read(o.logits), evalLogits, 'training with every rate 0 = eval', 1e-5, 1e-6);
    disposeOut(o);
    assert.throws(() => model.forward(inputs, { training: true }), /ctx\.rng is required in training/);
    model.dispose();
    nodrop.dispose();
  });

  it('gradients reach only routing parameters and RMSNorm gains', () => {
    const model = makeModel({ crossAttentionBias: 'random' });
    randomizeRouting(model, 8);
    const trainable = model.trainableParams();
    const names = new Set(trainable.map((p) => p.name));
    // 10 routing blocks × (experts 3 + router 5 + post LN 2) + 10 sublayer RMSNorms + 2 final RMSNorms.
    assert.equal(trainable.length, 10 * 10 + 12);
    assert.ok(names.has('encoder.block.0.layer.0.adapter_controller.experts.down'));
    assert.ok(names.has('decoder.block.1.layer.2.layer_norm.weight'));
    assert.ok(names.has('encoder.final_layer_norm.weight') && names.has('decoder.final_layer_norm.weight'));
    const trainableVars = new Set(trainable.map((p) => p.variable));
    for (const [name, v] of model.variables()) {
      if (!trainableVars.has(v)) assert.equal(v.trainable, false, `${name} must be frozen`);
    }
    const weights = tf.tensor(new Rng(1).normal(3 * 4 * TEST_CFG.vocabSize), [3, 4, TEST_CFG.vocabSize]);
    const { value, grads } = tf.variableGrads(() => {
      const o = model.forward({ inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS }, { training: true, rng: new Rng(4) });
      return tf.sum(tf.mul(o.logits, weights)) as tf.Scalar;
    }, trainable.map((p) => p.variable));
    assert.ok(Number.isFinite(value.dataSync()[0]));
    const byVar = new Map(trainable.map((p) => [p.variable.name, p.name]));
    assert.deepEqual(new Set(Object.keys(grads)), new Set(byVar.keys()), 'a gradient for exactly the trainable parameters');
    for (const [vn, g] of Object.entries(grads)) {
      const norm = tf.tidy(() => tf.norm(g).dataSync()[0]);
      assert.ok(Number.isFinite(norm) && norm > 0, `${byVar.get(vn)}: gradient norm ${norm}`);
    }
    tf.dispose([value, weights, ...Object.values(grads)]);
    model.dispose();
  });
});

describe('RoutedT5 gradients on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('hand-written gradients (gelu_new, frozen matmul) equal autodiff', () => {
    const x = tf.tensor2d(new Rng(3).normal(6 * 5, 2), [6, 5]);
    const w = tf.tensor2d(new Rng(4).normal(5 * 7), [5, 7]);
    const dy = tf.tensor2d(new Rng(5).normal(6 * 7), [6, 7]);
    const g1 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(geluNew(t), tf.slice(dy, [0, 0], [6, 5]))))(x);
    const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(geluNewReference(t), tf.slice(dy, [0, 0], [6, 5]))))(x);
    assertClose(read(geluNew(x)), read(geluNewReference(x)), 'gelu_new value', 1e-6, 1e-7);
    assertClose(read(g1), read(g2), 'gelu_new gradient', 1e-5, 1e-6);
    const m1 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(frozenMatMul(t as tf.Tensor2D, w), dy)))(x);
    const m2 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(t as tf.Tensor2D, w), dy)))(x);
    assertClose(read(m1), read(m2), 'frozen matmul gradient', 1e-5, 1e-6);
    tf.dispose([x, w, dy, g1, g2, m1, m2]);
  });

  it('model gradients match central finite differences (eval mode)', () => {
    // Default initialisation (routing is already non-trivial through LN_post): randomised
    // routing parameters make the loss too curved for float32 finite differences.
    const model = makeModel({ crossAttentionBias: 'random' });
    const weights = tf.tensor(new Rng(2).normal(3 * 4 * TEST_CFG.vocabSize), [3, 4, TEST_CFG.vocabSize]);
    const inputs = { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS };
    const loss = () => {
      const o = model.forward(inputs, { training: false });
      const l = tf.sum(tf.mul(o.logits, weights)) as tf.Scalar;
      disposeOut(o);
      return l;
    };
    const pick = new Map(model.trainableParams().map((p) => [p.name, p.variable]));
    const names = [
      'encoder.block.0.layer.0.layer_norm.weight',
      'encoder.block.1.layer.1.adapter_controller.experts.down',
      'encoder.block.0.layer.1.adapter_controller.router.weight',
      'decoder.block.0.layer.1.adapter_controller.postNorm.gain',
      'decoder.block.1.layer.2.adapter_controller.experts.up',
      'decoder.final_layer_norm.weight',
    ];
    const vars = names.map((n) => pick.get(n)!);
    const { grads } = tf.variableGrads(loss, vars);
    for (const [i, n] of names.entries()) {
      const v = vars[i];
      const g = read(grads[v.name]);
      const base = v.dataSync().slice() as Float32Array;
      const rmsV = Math.sqrt(base.reduce((a, x) => a + x * x, 0) / base.length);
      const eps = Math.min(1e-2, 0.05 * rmsV); // relative to the parameter's scale (router/expert weights are ~0.01)
      const j = g.reduce((best, x, k) => (Math.abs(x) > Math.abs(g[best]) ? k : best), 0); // largest entry
      const at = (delta: number) => {
        const t = base.slice();
        t[j] += delta;
        v.assign(tf.tensor(t, v.shape));
        const l = loss();
        const val = l.dataSync()[0];
        l.dispose();
        return val;
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(tf.tensor(base, v.shape));
      assert.ok(Math.abs(fd - g[j]) <= 2e-2 * Math.abs(fd) + 1e-2, `${n}[${j}]: autodiff ${g[j]} vs finite difference ${fd}`);
    }
    tf.dispose([weights, ...Object.values(grads)]);
    model.dispose();
  });
});

// ------------------------------------------------------------------ checkpoints

describe('RoutedT5 checkpoints on wasm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });
  const inputs = { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS };

  it('round trip through a folder with the reference routing names', async () => {
    const model = makeModel({ crossAttentionBias: 'random', seed: 11 });
    randomizeRouting(model, 10);
    const dir = tmpDir();
    await saveRoutedT5(model, dir);
    const { tensors, metadata } = await readSafetensors(path.join(dir, 'model.safetensors'));
    assert.equal(metadata['smear.method'], 'smear');
    const shape = (k: string) => tensors.get(k)?.shape;
    const p = 'encoder.block.0.layer.0.adapter_controller';
    assert.deepEqual(shape(`${p}.multi_adapters.down_samplers_weights`), [1, 4, 16, 3]);
    assert.deepEqual(shape(`${p}.multi_adapters.down_samplers_bias`), [1, 4, 3]);
    assert.deepEqual(shape(`${p}.multi_adapters.up_samplers_weights`), [1, 4, 3, 16]);
    assert.deepEqual(shape(`${p}.multi_routers.router_weights`), [1, 16, 4]);
    assert.deepEqual(shape(`${p}.multi_routers.multi_router_layer_norms.0.weight`), [16]);
    assert.deepEqual(shape(`${p}.multi_routers.multi_router_weights_layer_norms.0.bias`), [16]);
    assert.deepEqual(shape('decoder.block.1.layer.2.adapter_controller.post_layer_norm.weight'), [16]);
    assert.deepEqual(shape('encoder.block.1.layer.1.DenseReluDense.wi_0.weight'), [24, 16]);
    assert.deepEqual(shape('decoder.block.0.layer.1.EncDecAttention.o.weight'), [16, 8]);
    assert.deepEqual(shape('lm_head.weight'), [40, 16]);
    assert.deepEqual(shape(CROSS_TABLE_KEY), [32, 2]);
    // 10 blocks × 10 routing tensors + 12 RMSNorms + backbone (shared, 2 tables, cross table, 2·(4+3) + 2·(4+4+3), lm_head).
    assert.equal(tensors.size, 100 + 12 + 1 + 3 + 14 + 22 + 1);
    const loaded = await loadRoutedT5(dir);
    assert.equal(loaded.method, 'smear');
    assert.equal(loaded.crossAttentionBiasSource, 'checkpoint');
    assert.deepEqual(logitsOf(loaded, inputs), logitsOf(model, inputs));
    // Wrong method's checkpoint into a strict load: names the unexpected keys.
    const other = makeModel({ method: 'dselect-k' });
    assert.throws(() => loadT5StateDict(other, tensors), /unexpected keys: .*multi_routers\.router_weights/);
    other.dispose();
    model.dispose();
    loaded.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  it('method-specific reference names: REINFORCE baseline, DSelect-k, skills', () => {
    const names = (method: string, extra = {}) => {
      const m = makeModel({ method, numExperts: 4, routing: { method, numExperts: 4, bottleneck: 3, ...extra } } as never);
      const sd = t5StateDict(m, 'trainable');
      const out = new Map([...sd].filter(([k]) => k.startsWith('decoder.block.0.layer.1.adapter_controller.')).map(([k, t]) => [k.slice(43), t.shape]));
      tf.dispose([...sd.values()]);
      m.dispose();
      return out;
    };
    const r = names('reinforce');
    assert.deepEqual(r.get('multi_baselines.down_samplers_weights'), [1, 16, 2]);
    assert.deepEqual(r.get('multi_baselines.down_samplers_bias'), [1, 2]);
    assert.deepEqual(r.get('multi_baselines.up_samplers_weights'), [1, 2, 1]);
    assert.deepEqual(r.get('multi_baselines.up_samplers_bias'), [1, 1]);
    const d = names('dselect-k');
    assert.deepEqual(d.get('multi_routers.z_logits'), [1, 16, 2]);
    assert.deepEqual(d.get('multi_routers.w_logits'), [16, 1]);
    assert.equal(d.has('multi_routers.router_weights'), false);
    assert.deepEqual(names('skills').get('skill_weights'), [8, 4]);
  });

  it('loads a plain HF-layout checkpoint (tied aliases, a BF16 tensor, cross table) with fresh routing', async () => {
    const src = makeModel({ crossAttentionBias: 'random', seed: 21 });
    // bf16-representable lm_head so the BF16 copy is exact.
    const lm = src.lmHead.dataSync() as Float32Array;
    src.lmHead.assign(tf.tensor2d(lm.map((x) => bf16BitsToNumber(numberToBf16Bits(x))), src.lmHead.shape as [number, number]));
    const sd = t5StateDict(src);
    const files: Record<string, TensorToWrite> = {};
    for (const [k, t] of sd) {
      if (k.includes('.adapter_controller.')) continue;
      files[k] = { dtype: k === 'lm_head.weight' ? 'BF16' : 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
    }
    files['encoder.embed_tokens.weight'] = files['shared.weight'];
    files['decoder.embed_tokens.weight'] = files['shared.weight'];
    tf.dispose([...sd.values()]);
    const dir = tmpDir();
    await writeSafetensors(path.join(dir, 'model.safetensors'), files, { format: 'pt' });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHuggingFaceConfig(TEST_CFG)));
    assert.equal((await readSafetensors(path.join(dir, 'model.safetensors'))).tensors.get('lm_head.weight')!.dtype, 'BF16');

    await assert.rejects(loadRoutedT5(dir), /routing method is unknown.*options\.routing\.method/);
    const loaded = await loadRoutedT5(dir, { routing: { method: 'smear', numExperts: 4, bottleneck: 3 }, seed: 21 });
    assert.equal(loaded.crossAttentionBiasSource, 'checkpoint');
    // Fresh routing from the same seed = the source model's routing: identical logits.
    assertClose(logitsOf(loaded, inputs), logitsOf(src, inputs), 'HF-loaded logits', 1e-6, 1e-6);

    // Without the cross table: none (modern HF) unless asked for a random one.
    delete files[CROSS_TABLE_KEY];
    delete files['decoder.embed_tokens.weight'];
    await writeSafetensors(path.join(dir, 'model.safetensors'), files);
    const plain = await loadRoutedT5(dir, { routing: { method: 'smear' } });
    assert.equal(plain.crossAttentionBiasSource, 'none');
    assert.equal(plain.crossRelBias, undefined);
    const rnd = await loadRoutedT5(dir, { routing: { method: 'smear' }, crossAttentionBias: 'random' });
    assert.equal(rnd.crossAttentionBiasSource, 'random');

    // Errors: a missing key, a wrong shape, differing tied embeddings.
    const bad = { ...files };
    delete bad['decoder.block.1.layer.1.EncDecAttention.k.weight'];
    await writeSafetensors(path.join(dir, 'model.safetensors'), bad);
    await assert.rejects(loadRoutedT5(dir, { routing: { method: 'smear' } }), /missing keys: decoder\.block\.1\.layer\.1\.EncDecAttention\.k\.weight/);
    bad['decoder.block.1.layer.1.EncDecAttention.k.weight'] = { dtype: 'F32', shape: [16, 8], data: new Float32Array(128) };
    await writeSafetensors(path.join(dir, 'model.safetensors'), bad);
    await assert.rejects(
      loadRoutedT5(dir, { routing: { method: 'smear' } }),
      /tensor 'decoder\.block\.1\.layer\.1\.EncDecAttention\.k\.weight': expected shape \[8,16\] \(torch layout \[out,in\]\), got \[16,8\]/,
    );
    const tied = { ...files, 'encoder.embed_tokens.weight': { dtype: 'F32' as const, shape: [40, 16], data: new Float32Array(640) } };
    await writeSafetensors(path.join(dir, 'model.safetensors'), tied);
    await assert.rejects(loadRoutedT5(dir, { routing: { method: 'smear' } }), /'encoder\.embed_tokens\.weight' differs from 'shared\.weight'/);
    await assert.rejects(loadRoutedT5(path.join(dir, 'nope')), /no such file or folder/);
    for (const m of [src, loaded, plain, rnd]) m.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

// ------------------------------------------------------------------ errors

describe('RoutedT5 input and option errors', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('names the input and what was expected', async () => {
    const model = makeModel();
    const f = (inputs: Partial<T5Inputs>) => () => model.forward({ inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS, ...inputs } as T5Inputs, { training: false });
    assert.throws(f({ attentionMask: MASK.map((r) => r.slice(1)) }), /attentionMask: expected shape \[3,5\] like inputIds/);
    assert.throws(f({ attentionMask: [[1, 1, 1, 1, 2], ...MASK.slice(1)] }), /attentionMask\[0\]\[4\]: expected 0 or 1, got 2/);
    assert.throws(f({ inputIds: [[5, 9, 40, 2, 1], ...INPUT_IDS.slice(1)] }), /inputIds\[0\]\[2\]: expected a token id in \[0, 40\), got 40/);
    assert.throws(f({ decoderInputIds: undefined }), /decoderInputIds is required/);
    assert.throws(f({ decoderInputIds: DEC_IDS.slice(0, 2) }), /decoderInputIds: expected 3 rows/);
    assert.throws(() => model.forward({ inputIds: Int32Array.from(INPUT_IDS.flat()), decoderInputIds: Int32Array.from(DEC_IDS.flat()) }, { training: false }), /needs inputs\.batchSize/);
    assert.throws(f({ inputIds: [[1, 2], [3]] }), /rectangular/);
    assert.throws(() => model.forward({ inputIds: INPUT_IDS } as T5Inputs, undefined as never), /ctx\.training \(boolean\) is required/);
    // Flat arrays with batchSize work.
    const flat = logitsOf(model, { inputIds: Int32Array.from(INPUT_IDS.flat()), attentionMask: Int32Array.from(MASK.flat()), decoderInputIds: Int32Array.from(DEC_IDS.flat()), batchSize: 3 });
    assert.deepEqual(flat, logitsOf(model, { inputIds: INPUT_IDS, attentionMask: MASK, decoderInputIds: DEC_IDS }));
    await assert.rejects(() => model.generate({ inputIds: INPUT_IDS }, { maxLength: 0 }), /maxLength: expected a positive integer/);
    model.dispose();

    const tag = makeModel({ method: 'tag', numExperts: 8 });
    assert.throws(() => tag.forward({ inputIds: INPUT_IDS, decoderInputIds: DEC_IDS }, { training: false }), /taskIds is required by 'tag'/);
    assert.throws(() => tag.forward({ inputIds: INPUT_IDS, decoderInputIds: DEC_IDS, taskIds: [1, 2] }, { training: false }), /taskIds: expected 3 ids/);
    tag.dispose();
    const hash = makeModel({ method: 'hash' });
    assert.throws(
      () => hash.forward({ inputIds: INPUT_IDS, decoderInputIds: DEC_IDS, hashIds: new Int32Array(3 * 9) }, { training: false }),
      /hashIds: expected \[B,R\] row-major with B = 3 and R >= 10/,
    );
    hash.dispose();
  });

  it('rejects options the model owns or that do not apply', () => {
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: { method: 'smear', maskedMean: true } as never }), /routing\.maskedMean is set by the model \(use the model option maskedRouterMean\)/);
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: { method: 'smear' }, sameRteMnliInEncoder: true }), /sameRteMnliInEncoder applies to tag routing only/);
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: { method: 'tag', numExperts: 4 }, sameRteMnliInEncoder: true }), /needs numTags and numExperts > 5/);
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: { method: 'smear' }, crossAttentionBias: 'zero' as never }), /crossAttentionBias: expected 'none' or 'random'/);
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: {} as never }), /routing\.method is required/);
    assert.throws(() => new RoutedT5({ config: 't5-test', routing: { method: 'nope' } }), /nope/);
  });
});
