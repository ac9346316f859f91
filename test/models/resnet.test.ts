/**
 * RoutedResNet (ResNet18 + 8 routing blocks): numerics against the float64
 * oracle (test/oracle/resnet-oracle.ts) in eval and training (incl. running
 * statistics), the reference state-dict names/layouts and round trips, the
 * `smear forward` command, gradients and training, errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import type { ResNetConfig } from '../../kernel-lib/models/resnet/resnet';
import { saveResNetSafetensors, loadResNetSafetensors } from '../../kernel-lib/models/resnet/checkpoint';
import { forwardCommand } from '../../kernel-lib/cli/commands/forward';
import { readSafetensors, writeSafetensors } from '../../kernel-lib/io/safetensors';
import { Optimizer } from '../../kernel-lib/train/optimizer';
import { resnetOracle } from '../oracle/resnet-oracle';
import type { ResNetOracleCtx } from '../oracle/resnet-oracle';
import type { RefStateDict } from '../oracle/resnet-oracle';

// ------------------------------------------------------------------ helpers
/**
 * Random, non-trivial values (float32-representable) for every key of the
 * model's reference state dict, as plain arrays: the oracle reads them, the
 * model gets them through loadStateDict.
 */
function randomStateDict(model: RoutedResNet, seed: number): RefStateDict {
  const rng = new Rng(seed);
  const sd: RefStateDict = new Map();
  for (const { key, shape } of model.stateDictKeys()) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: ArrayLike<number>;
    if (key.endsWith('num_batches_tracked')) data = [3];
    else if (key.endsWith('running_var')) data = rng.uniformRange(n, 0.5, 1.5);
    else if (key.endsWith('running_mean')) data = rng.normal(n, 0.2);
    else if (shape.length === 4 && !key.includes('adapter_controller')) data = rng.normal(n, 1.4 / Math.sqrt(shape[1] * shape[2] * shape[3])); // conv OIHW
    else if (/(norm|norms\.0)\.weight$|layer_norms\.0\.weight$|scales$/.test(key)) data = rng.normal(n, 0.3, 1);
    else if (key.endsWith('.bias') && !key.includes('samplers')) data = rng.normal(n, 0.2);
    else if (key.includes('z_logits')) data = rng.normal(n, 0.3);
    else if (key.includes('skill_weights')) data = rng.normal(n, 1.5);
    else if (key.includes('router_weights')) data = rng.normal(n, 0.5);
    else data = rng.normal(n, 0.3);
    sd.set(key, { shape, data: Array.from(data) });
  }
  return sd;
}

function toTfMap(sd: RefStateDict): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  for (const [k, v] of sd) m.set(k, tf.tensor(v.data, v.shape, k.endsWith('num_batches_tracked') ? 'int32' : 'float32'));
  return m;
}

/** |a − e| ≤ atol + rtol·|e| elementwise, naming the worst entry. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 2e-4, atol = 2e-5): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} vs expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${label}: entry ${worst}: tfjs ${actual[worst]} vs oracle ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

function read(t: tf.Tensor): number[] {
  return Array.from(t.dataSync() as ArrayLike<number>);
}

/** NCHW random pixels (float32-representable) and their NHWC tensor. */
function randomPixels(B: number, H: number, W: number, seed: number): { nchw: number[]; nhwc: tf.Tensor4D } {
  const nchw = Array.from(new Rng(seed).normal(B * 3 * H * W));
  const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [B, 3, H, W]), [0, 2, 3, 1])) as tf.Tensor4D;
  return { nchw, nhwc };
}

const TINY = [4, 8, 8, 8];
const METHODS = ['smear', 'ensemble', 'tag', 'hash', 'topk', 'st-gumbel', 'reinforce', 'dselect-k', 'adamix', 'skills', 'soft-moe', 'dense'];

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-resnet-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tinyConfig(method: string, extra: Partial<ResNetConfig> = {}): ResNetConfig {
  return {
    widths: TINY,
    stem: 'small',
    numClasses: 5,
    seed: 3,
    ...extra,
    routing: {
      method,
      numExperts: method === 'dense' ? 1 : 3,
      bottleneck: 2,
      baselineReduction: 2,
      slotsPerExpert: method === 'soft-moe' ? 2 : undefined,
      numTags: method === 'skills' ? 4 : undefined,
      expertDropout: method === 'smear' || method === 'topk' ? 0.3 : undefined,
      ...extra.routing,
    },
  };
}

/** The same generator-driven inputs for model and oracle. */
function contexts(B: number, training: boolean, method: string): { model: Parameters<RoutedResNet['forward']>[1]; oracle: ResNetOracleCtx } {
  const domainIds = Int32Array.from({ length: B }, (_, i) => (i * 2 + 1) % 3);
  const R = 10;
  const hashIds = Int32Array.from({ length: B * R }, (_, i) => (i * 7 + 3) % 3);
  const temperature = method === 'st-gumbel' ? 0.7 : undefined;
  return {
    model: { training, rng: new Rng(99), domainIds, hashIds, temperature },
    oracle: { training, rng: new Rng(99), domainIds: Array.from(domainIds), hashIds: Array.from(hashIds), temperature },
  };
}

function checkAgainstOracle(model: RoutedResNet, training: boolean, B: number, H: number, opts: { freezeBackboneBnStats?: boolean } = {}): void {
  const cfg = model.config;
  const rcfg = model.blocks[0].routing.config;
  const sd = randomStateDict(model, 11);
  model.loadStateDict(toTfMap(sd));
  const { nchw, nhwc } = randomPixels(B, H, H, 5);
  const ctx = contexts(B, training, model.method);
  const expected = resnetOracle(
    {
      widths: cfg.widths,
      stem: cfg.stem,
      freezeBackboneBnStats: opts.freezeBackboneBnStats,
      routing: {
        method: model.method,
        N: rcfg.numExperts,
        d: rcfg.bottleneck,
        T: rcfg.numTags,
        P: rcfg.slotsPerExpert,
        expertDropout: rcfg.expertDropout,
        tagToExpert: rcfg.tagToExpert,
      },
    },
    sd,
    nchw,
    B,
    H,
    H,
    ctx.oracle,
  );
  const label = `${model.method} ${cfg.stem} ${training ? 'train' : 'eval'}`;
  const out = model.forward(nhwc, ctx.model);
  assert.deepEqual(out.logits.shape, [B, cfg.numClasses]);
  assert.equal(out.records.length, 8);
  assertClose(read(out.logits), expected.logits, `${label}: logits`, 1e-3, 1e-4);
  out.records.forEach((r, k) => {
    const e = expected.blocks[k];
    if (e.probs) assertClose(read(r.probs!), e.probs, `${label}: block ${k} probs`, 1e-3, 1e-5);
    if (e.index) assert.deepEqual(read(r.index!), e.index, `${label}: block ${k} index`);
  });
  // Running statistics: updated (training, unbiased variance) or untouched.
  const after = model.stateDict();
  for (const [key, t] of after) {
    if (!/running_(mean|var)$/.test(key)) continue;
    const upd = expected.running.get(key);
    assertClose(read(t), upd ?? sd.get(key)!.data, `${label}: ${key}${upd ? ' (updated)' : ' (unchanged)'}`, 1e-3, 1e-5);
  }
  for (const [key, t] of after) {
    if (!key.endsWith('num_batches_tracked')) continue;
    const bumped = expected.running.has(key.replace('num_batches_tracked', 'running_mean'));
    assert.equal(read(t)[0], bumped ? 4 : 3, `${label}: ${key}`);
  }
  if (training && !opts.freezeBackboneBnStats) assert.equal(expected.running.size, 2 * (1 + 8 * 3 + 3));
  tf.dispose([nhwc, out.logits, ...after.values()]);
  for (const r of out.records) tf.dispose(Object.values(r) as tf.Tensor[]);
  tf.dispose(out.aux.map((a) => a.value));
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`RoutedResNet numerics vs float64 oracle (${backend})`, () => {
    before(async () => {
      await initBackend({ backend, quiet: true });
    });
    const methods = backend === 'wasm' ? METHODS : ['smear', 'topk'];
    for (const method of methods) {
      for (const training of [false, true]) {
        it(`${method} ${training ? 'training' : 'eval'} (stem small, widths [${TINY}], 16×16)`, () => {
          const model = new RoutedResNet(tinyConfig(method));
          checkAgainstOracle(model, training, 3, 16);
          model.dispose();
        });
      }
    }
    if (backend === 'wasm') {
      for (const training of [false, true]) {
        it(`smear ${training ? 'training' : 'eval'} (stem imagenet, 32×32)`, () => {
          const model = new RoutedResNet(tinyConfig('smear', { stem: 'imagenet' }));
          checkAgainstOracle(model, training, 2, 32);
          model.dispose();
        });
      }
      it('freezeBackboneBnStats: backbone BNs use running stats in training, BN_pre still updates', () => {
        const model = new RoutedResNet(tinyConfig('smear', { freezeBackboneBnStats: true }));
        checkAgainstOracle(model, true, 3, 16, { freezeBackboneBnStats: true });
        model.dispose();
      });
    }
  });
}

// ------------------------------------------------------------------ state dict

/** The reference names and PyTorch shapes, spelled out independently of the model code. */
function expectedKeys(o: { widths: number[]; stem: 'imagenet' | 'small'; N: number; d: number; K: number; method: string; h?: (c: number) => number; T?: number; P?: number }): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const bn = (p: string, c: number) => {
    for (const s of ['weight', 'bias', 'running_mean', 'running_var']) m.set(`${p}.${s}`, [c]);
    m.set(`${p}.num_batches_tracked`, []);
  };
  const k = o.stem === 'imagenet' ? 7 : 3;
  m.set('conv1.weight', [o.widths[0], 3, k, k]);
  bn('bn1', o.widths[0]);
  let inC = o.widths[0];
  for (let l = 1; l <= 4; l++) {
    const C = o.widths[l - 1];
    for (let b = 0; b < 2; b++) {
      const p = `layer${l}.${b}`;
      m.set(`${p}.conv1.weight`, [C, inC, 3, 3]);
      bn(`${p}.bn1`, C);
      m.set(`${p}.conv2.weight`, [C, C, 3, 3]);
      bn(`${p}.bn2`, C);
      if (b === 0 && (l > 1 || inC !== C)) {
        m.set(`${p}.downsample.0.weight`, [C, inC, 1, 1]);
        bn(`${p}.downsample.1`, C);
      }
      const a = `${p}.adapter_controller`;
      m.set(`${a}.multi_adapters.down_samplers_weights`, [1, o.N, C, o.d]);
      m.set(`${a}.multi_adapters.down_samplers_bias`, [1, o.N, o.d]);
      m.set(`${a}.multi_adapters.up_samplers_weights`, [1, o.N, o.d, C]);
      if (o.method === 'soft-moe') {
        m.set(`${a}.multi_routers.router_weights`, [C, o.N, o.P!]);
        m.set(`${a}.multi_routers.scales`, [o.N, o.P!]);
      } else if (o.method === 'dselect-k') {
        m.set(`${a}.multi_routers.z_logits`, [1, C, Math.ceil(Math.log2(o.N))]);
        m.set(`${a}.multi_routers.w_logits`, [C, 1]);
      } else {
        m.set(`${a}.multi_routers.router_weights`, [1, C, o.N]);
      }
      m.set(`${a}.multi_routers.multi_router_layer_norms.0.weight`, [C]);
      m.set(`${a}.multi_routers.multi_router_layer_norms.0.bias`, [C]);
      m.set(`${a}.multi_routers.multi_router_weights_layer_norms.0.weight`, [C]);
      m.set(`${a}.multi_routers.multi_router_weights_layer_norms.0.bias`, [C]);
      if (o.method === 'reinforce') {
        const h = o.h!(C);
        m.set(`${a}.multi_router_baselines.down_samplers_weights`, [1, C, h]);
        m.set(`${a}.multi_router_baselines.down_samplers_bias`, [1, h]);
        m.set(`${a}.multi_router_baselines.up_samplers_weights`, [1, h, 1]);
        m.set(`${a}.multi_router_baselines.up_samplers_bias`, [1, 1]);
      }
      if (o.method === 'skills') m.set(`${a}.skill_weights`, [o.T!, o.N]);
      bn(`${a}.pre_batch_norm`, C);
      inC = C;
    }
  }
  m.set('classification_layer.weight', [o.K, o.widths[3]]);
  m.set('classification_layer.bias', [o.K]);
  return m;
}

function assertKeys(model: RoutedResNet, expected: Map<string, number[]>, label: string): void {
  const sd = model.stateDict();
  const got = new Map([...sd].map(([k, t]) => [k, t.shape]));
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !expected.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, label);
  for (const [k, s] of expected) assert.deepEqual(got.get(k), s, `${label}: ${k}`);
  for (const [k, t] of sd) assert.equal(t.dtype, k.endsWith('num_batches_tracked') ? 'int32' : 'float32', `${label}: ${k} dtype`);
  tf.dispose([...sd.values()]);
}

describe('RoutedResNet state dict (reference names and layouts)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('full ResNet18 smear: names/shapes of modeling_resnet.py; trainable parameter count (kernel-lib/docs/reference-code.md#sizes)', () => {
    const model = new RoutedResNet({ routing: { method: 'smear' } });
    assertKeys(model, expectedKeys({ widths: [64, 128, 256, 512], stem: 'imagenet', N: 6, d: 32, K: 345, method: 'smear' }), 'smear full');
    // experts 738,816 (kernel-lib/docs/reference-code.md#sizes) + routers 8 blocks × (C·6 + 4C) over ΣC = 1920 → 19,200
    // + BN_pre 2·1920 = 3,840 + classifier 512·345 + 345 = 176,985
    assert.equal(model.parameterCount(), 738_816 + 19_200 + 3_840 + 176_985);
    const names = model.trainableParams().map((p) => p.name);
    assert.ok(names.includes('layer1.0.experts.down') && names.includes('layer4.1.router.weightNorm.gain'));
    assert.ok(names.includes('layer2.1.preNorm.weight') && names.includes('classifier.weight'));
    assert.ok(!names.some((n) => /conv|\.bn\d|downsample|^bn1/.test(n)), 'frozen backbone excluded');
    model.dispose();
  });

  const variants: [string, Parameters<typeof expectedKeys>[0]][] = [
    ['reinforce', { widths: TINY, stem: 'small', N: 3, d: 2, K: 5, method: 'reinforce', h: (c) => Math.floor(c / 2) }],
    ['dselect-k', { widths: TINY, stem: 'small', N: 3, d: 2, K: 5, method: 'dselect-k' }],
    ['soft-moe', { widths: TINY, stem: 'small', N: 3, d: 2, K: 5, method: 'soft-moe', P: 2 }],
    ['skills', { widths: TINY, stem: 'small', N: 3, d: 2, K: 5, method: 'skills', T: 4 }],
    ['smear', { widths: TINY, stem: 'small', N: 3, d: 2, K: 5, method: 'smear' }],
  ];
  for (const [method, exp] of variants) {
    it(`${method}: exact names/shapes; save → load → identical logits and state`, async () => {
      const model = new RoutedResNet(tinyConfig(method));
      assertKeys(model, expectedKeys(exp), method);
      model.loadStateDict(toTfMap(randomStateDict(model, 21)));
      // a training step moves running stats and counters, which must survive the round trip
      const { nhwc } = randomPixels(2, 16, 16, 8);
      const ctx = contexts(2, true, method).model;
      tf.tidy(() => {
        model.forward(nhwc, ctx);
      });
      const file = path.join(tmp, `${method}.safetensors`);
      await saveResNetSafetensors(model, file, { note: 'test' });
      const { tensors, metadata } = await readSafetensors(file);
      assert.equal(metadata['smear.method'], method);
      assert.equal(metadata.note, 'test');
      assert.equal(tensors.get('bn1.num_batches_tracked')!.dtype, 'I64');
      assert.equal(tensors.get('bn1.num_batches_tracked')!.data[0], 4);
      const loaded = await loadResNetSafetensors(file, { routing: { method } });
      assert.equal(loaded.numExperts, 3);
      assert.deepEqual(loaded.config.widths, TINY);
      const evalCtx = contexts(2, false, method).model;
      const a = tf.tidy(() => read(model.forward(nhwc, evalCtx).logits));
      const b = tf.tidy(() => read(loaded.forward(nhwc, evalCtx).logits));
      assert.deepEqual(b, a, 'identical logits');
      const sa = model.stateDict();
      const sb = loaded.stateDict();
      for (const [k, t] of sa) assert.deepEqual(read(sb.get(k)!), read(t), k);
      tf.dispose([nhwc, ...sa.values(), ...sb.values()]);
      model.dispose();
      loaded.dispose();
    });
  }

  it("accepts a leading 'model.' on every key", () => {
    const src = new RoutedResNet(tinyConfig('smear', { seed: 5 }));
    const dst = new RoutedResNet(tinyConfig('smear', { seed: 6 }));
    const sd = src.stateDict();
    const prefixed = new Map([...sd].map(([k, t]) => [`model.${k}`, t]));
    dst.loadStateDict(prefixed, { strict: true });
    const sd2 = dst.stateDict();
    for (const [k, t] of sd) assert.deepEqual(read(sd2.get(k)!), read(t), k);
    tf.dispose([...sd.values(), ...sd2.values()]);
    src.dispose();
    dst.dispose();
  });

  it('converts OIHW ↔ HWIO (hand-built conv weight) and [K,F] ↔ [F,K] (classifier)', () => {
    const model = new RoutedResNet(tinyConfig('smear'));
    const sd = randomStateDict(model, 1);
    // conv1.weight [O=4, I=3, 3, 3]: value 1000·o + 100·i + 10·h + w
    const conv = { shape: [4, 3, 3, 3], data: [] as number[] };
    for (let o = 0; o < 4; o++) for (let i = 0; i < 3; i++) for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) conv.data.push(1000 * o + 100 * i + 10 * h + w);
    sd.set('conv1.weight', conv);
    const cls = { shape: [5, 8], data: Array.from({ length: 40 }, (_, i) => i) }; // [k][f] = 8k + f
    sd.set('classification_layer.weight', cls);
    model.loadStateDict(sd);
    const hwio = model.conv1.weight.arraySync() as number[][][][];
    assert.equal(hwio[2][1][0][3], 3021, 'HWIO[h=2][w=1][i=0][o=3] = OIHW[o=3][i=0][h=2][w=1]');
    assert.equal(hwio[0][2][2][1], 1202);
    const fk = model.classifierWeight.arraySync() as number[][];
    assert.deepEqual(model.classifierWeight.shape, [8, 5]);
    assert.equal(fk[6][4], 8 * 4 + 6);
    const back = model.stateDict();
    assert.deepEqual(read(back.get('conv1.weight')!), conv.data);
    assert.deepEqual(read(back.get('classification_layer.weight')!), cls.data);
    tf.dispose([...back.values()]);
    model.dispose();
  });

  it('loadTorchvision fills the backbone and ignores fc.*', () => {
    const src = new RoutedResNet({ routing: { method: 'smear' }, numClasses: 7, seed: 1 });
    const dst = new RoutedResNet({ routing: { method: 'smear' }, numClasses: 7, seed: 2 });
    const sd = src.stateDict();
    const tv = new Map<string, tf.Tensor>([...sd].filter(([k]) => !k.includes('adapter_controller') && !k.startsWith('classification_layer')));
    tv.set('fc.weight', tf.zeros([1000, 512]));
    tv.set('fc.bias', tf.zeros([1000]));
    dst.loadTorchvision(tv);
    const sd2 = dst.stateDict();
    for (const k of tv.keys()) if (!k.startsWith('fc.')) assert.deepEqual(read(sd2.get(k)!), read(sd.get(k)!), k);
    assert.notDeepEqual(read(sd2.get('classification_layer.bias')!), read(sd.get('classification_layer.bias')!), 'head untouched');
    tv.delete('layer3.1.bn2.running_var');
    assert.throws(() => dst.loadTorchvision(tv), /loadTorchvision.*missing keys: layer3\.1\.bn2\.running_var/);
    tf.dispose([...sd.values(), ...sd2.values(), tv.get('fc.weight')!, tv.get('fc.bias')!]);
    src.dispose();
    dst.dispose();
  });

  it('errors: wrong shape names the tensor with expected and got; strict missing/unexpected keys', () => {
    const model = new RoutedResNet(tinyConfig('smear'));
    const sd = randomStateDict(model, 2);
    const bad = new Map(sd);
    bad.set('layer2.0.conv1.weight', { shape: [8, 4, 3, 1], data: new Array(96).fill(0) });
    assert.throws(() => model.loadStateDict(bad), /tensor 'layer2\.0\.conv1\.weight': expected shape \[8,4,3,3\] \(PyTorch OIHW\), got \[8,4,3,1\]/);
    const bad2 = new Map(sd);
    bad2.set('layer1.0.adapter_controller.multi_adapters.down_samplers_weights', { shape: [3, 4, 2], data: new Array(24).fill(0) });
    assert.throws(() => model.loadStateDict(bad2), /'layer1\.0\.adapter_controller\.multi_adapters\.down_samplers_weights': expected shape \[1,3,4,2\], got \[3,4,2\]/);
    const missing = new Map(sd);
    missing.delete('layer4.1.adapter_controller.pre_batch_norm.running_var');
    missing.set('layer9.extra', { shape: [1], data: [0] });
    assert.throws(() => model.loadStateDict(missing), (e: Error) => {
      assert.match(e.message, /missing keys: layer4\.1\.adapter_controller\.pre_batch_norm\.running_var/);
      assert.match(e.message, /unexpected keys: layer9\.extra/);
      return true;
    });
    const before = read(model.conv1.weight);
    assert.throws(() => model.loadStateDict(bad)); // nothing assigned on error
    assert.deepEqual(read(model.conv1.weight), before);
    const res = model.loadStateDict(missing, { strict: false });
    assert.deepEqual(res, { missing: ['layer4.1.adapter_controller.pre_batch_norm.running_var'], unexpected: ['layer9.extra'] });
    model.dispose();
  });

  it('forward input errors name the input and the expectation', () => {
    const model = new RoutedResNet(tinyConfig('hash'));
    const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    assert.throws(() => model.forward(tf.zeros([2, 3, 8, 8]) as tf.Tensor4D, { training: false }), /pixels: expected shape \[B,H,W,3\].*got \[2,3,8,8\]/);
    assert.throws(() => model.forward(x, { training: false, hashIds: new Int32Array(2 * 5) }), /hashIds: expected \[B,R\].*R >= 8/);
    assert.throws(() => model.forward(x, { training: false }), /needs ctx\.hash/);
    model.dispose();
    const tag = new RoutedResNet(tinyConfig('tag'));
    assert.throws(() => tag.forward(x, { training: false }), /needs ctx\.tags/);
    assert.throws(() => tag.forward(x, { training: false, domainIds: new Int32Array(3) }), /domainIds: expected 2 ids/);
    tag.dispose();
    assert.throws(() => new RoutedResNet({ routing: { method: 'nope' } }), /nope/);
    assert.throws(() => new RoutedResNet({ widths: [4, 8], routing: { method: 'smear' } }), /option widths/);
    x.dispose();
  });
});

// ------------------------------------------------------------------ CLI

async function captureStderr(fn: () => Promise<number>): Promise<{ code: number; err: string }> {
  const orig = process.stderr.write.bind(process.stderr);
  let err = '';
  (process.stderr as unknown as { write: (s: string) => boolean }).write = (s: string) => {
    err += s;
    return true;
  };
  try {
    return { code: await fn(), err };
  } finally {
    (process.stderr as unknown as { write: typeof orig }).write = orig;
  }
}

describe('smear forward (end to end)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });
  for (const method of ['smear', 'topk', 'hash']) {
    it(`${method}: checkpoint + batch → logits, routing.<k>, expert_index.<k>`, async () => {
      const model = new RoutedResNet(tinyConfig(method, { widths: [4, 6, 8, 10] }));
      model.loadStateDict(toTfMap(randomStateDict(model, 4)));
      const ckpt = path.join(tmp, `cli-${method}.safetensors`);
      await saveResNetSafetensors(model, ckpt);
      const B = 3;
      const { nchw, nhwc } = randomPixels(B, 12, 12, 9);
      const hash = Array.from({ length: B * 8 }, (_, i) => (i * 5) % 3);
      const input = path.join(tmp, `in-${method}.safetensors`);
      await writeSafetensors(input, {
        pixel_values: { dtype: 'F32', shape: [B, 3, 12, 12], data: nchw },
        domain_ids: { dtype: 'I64', shape: [B], data: [0, 1, 2] },
        hash_ids: { dtype: 'I64', shape: [B, 8], data: hash },
      });
      const outFile = path.join(tmp, `out-${method}.safetensors`);
      const { code, err } = await captureStderr(() =>
        forwardCommand.run({ values: { setting: 'resnet', method, checkpoint: ckpt, input, out: outFile }, positionals: [] }),
      );
      assert.equal(code, 0, err);
      const { tensors } = await readSafetensors(outFile);
      const expected = model.forward(nhwc, { training: false, hashIds: Int32Array.from(hash), domainIds: Int32Array.from([0, 1, 2]) });
      assert.deepEqual(tensors.get('logits')!.shape, [B, 5]);
      assertClose(tensors.get('logits')!.data, read(expected.logits), 'logits', 1e-5, 1e-6);
      for (let k = 0; k < 8; k++) {
        const rec = expected.records[k];
        if (method === 'hash') assert.ok(!tensors.has(`routing.${k}`));
        else assertClose(tensors.get(`routing.${k}`)!.data, read(rec.probs!), `routing.${k}`, 1e-5, 1e-7);
        if (method === 'smear') assert.ok(!tensors.has(`expert_index.${k}`));
        else {
          const idx = tensors.get(`expert_index.${k}`)!;
          assert.equal(idx.dtype, 'I64');
          assert.deepEqual(Array.from(idx.data), read(rec.index!), `expert_index.${k}`);
          if (method === 'hash') assert.deepEqual(Array.from(idx.data), [0, 1, 2].map((b) => hash[b * 8 + k]));
        }
      }
      tf.dispose([nhwc, expected.logits]);
      model.dispose();
    });
  }

  it('bad inputs are named (also on the --setting t5 path)', async () => {
    let r = await captureStderr(() => forwardCommand.run({ values: { setting: 't5', checkpoint: 'x', input: 'y', out: 'z' }, positionals: [] }));
    assert.equal(r.code, 1);
    assert.match(r.err, /--checkpoint x: no such file or folder/);
    r = await captureStderr(() => forwardCommand.run({ values: { setting: 'resnet' }, positionals: [] }));
    assert.equal(r.code, 2);
    assert.match(r.err, /missing options --checkpoint, --input, --out/);
    const model = new RoutedResNet(tinyConfig('smear'));
    const ckpt = path.join(tmp, 'cli-bad.safetensors');
    await saveResNetSafetensors(model, ckpt);
    const input = path.join(tmp, 'in-bad.safetensors');
    await writeSafetensors(input, { pixel_values: { dtype: 'F32', shape: [1, 8, 8, 3], data: new Float32Array(192) } });
    r = await captureStderr(() => forwardCommand.run({ values: { setting: 'resnet', method: 'smear', checkpoint: ckpt, input, out: path.join(tmp, 'o.st') }, positionals: [] }));
    assert.equal(r.code, 1);
    assert.match(r.err, /pixel_values': expected shape \[B,3,H,W\] \(NCHW\), got \[1,8,8,3\]/);
    model.dispose();
  });
});

// ------------------------------------------------------------------ gradients and training

describe('RoutedResNet gradients and training (wasm)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  function toyBatch(B: number, H: number): { x: tf.Tensor4D; labels: tf.Tensor2D } {
    const { nhwc } = randomPixels(B, H, H, 17);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 5), 'int32'), 5).toFloat() as tf.Tensor2D;
    return { x: nhwc, labels };
  }

  it('gradients reach exactly the trainable parameters (frozen backbone gets none); Adam steps reduce the loss', () => {
    const model = new RoutedResNet(tinyConfig('smear'));
    const { x, labels } = toyBatch(6, 16);
    const params = model.trainableParams();
    const loss = (training: boolean, rng?: Rng) => () =>
      tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training, rng }).logits) as tf.Scalar;
    // Default varList = every trainable variable in the engine: only the model's trainable params are connected.
    const { value, grads } = tf.variableGrads(loss(true, new Rng(1)));
    const names = new Map(params.map((p) => [p.variable.name, p.name]));
    const gotVars = Object.keys(grads);
    assert.ok(gotVars.every((n) => names.has(n)), `unexpected gradients: ${gotVars.filter((n) => !names.has(n))}`);
    assert.equal(gotVars.length, params.length, `missing gradients: ${params.filter((p) => !(p.variable.name in grads)).map((p) => p.name)}`);
    for (const p of params) assert.ok(tf.tidy(() => tf.any(tf.notEqual(grads[p.variable.name], 0)).dataSync()[0]) === 1, `zero gradient: ${p.name}`);
    for (const [n, v] of model.variables()) if (!names.has(v.name)) assert.equal(v.trainable, false, `${n}: frozen backbone / running stats must be non-trainable`);
    tf.dispose([value, ...Object.values(grads)]);

    const backboneBefore = read(model.blocks[3].conv2.weight);
    const evalLoss = () => tf.tidy(() => loss(false)().dataSync()[0]);
    const l0 = evalLoss();
    const opt = new Optimizer(params, { kind: 'adam', lr: 3e-2 });
    const rng = new Rng(2);
    for (let s = 0; s < 8; s++) {
      const { value: v, grads: g } = tf.variableGrads(
        loss(true, rng),
        params.map((p) => p.variable),
      );
      opt.step(new Map(params.map((p) => [p.name, g[p.variable.name]])));
      tf.dispose([v, ...Object.values(g)]);
    }
    const l1 = evalLoss();
    assert.ok(l1 < l0 * 0.8, `loss ${l0} → ${l1}`);
    assert.deepEqual(read(model.blocks[3].conv2.weight), backboneBefore, 'frozen backbone unchanged');
    tf.dispose([x, labels]);
    model.dispose();
  });

  it('unfrozen backbone (imagenet stem: conv + maxpool backprop) gets gradients too', () => {
    const model = new RoutedResNet(tinyConfig('topk', { stem: 'imagenet', freezeBackbone: false }));
    const { x, labels } = toyBatch(2, 32);
    const params = model.trainableParams();
    assert.ok(params.some((p) => p.name === 'conv1.weight') && params.some((p) => p.name === 'layer2.0.downsample.1.bias'));
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true, rng: new Rng(3) }).logits) as tf.Scalar,
      params.map((p) => p.variable),
    );
    for (const n of ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer2.0.downsample.0.weight']) {
      const v = params.find((p) => p.name === n)!.variable;
      assert.ok(grads[v.name], `gradient for ${n}`);
      assert.ok(tf.tidy(() => tf.sum(tf.abs(grads[v.name])).dataSync()[0]) > 0, `non-zero gradient for ${n}`);
    }
    tf.dispose([value, ...Object.values(grads), x, labels]);
    model.dispose();
  });
});
