/**
 * `smear forward --setting t5` end to end on tiny checkpoints (t5-test preset:
 * C 16, V 40, 2 + 2 layers → 10 routing blocks): a routed safetensors file
 * (method from its metadata) and a Hugging Face folder without routing tensors
 * (fresh routing from --experts / --bottleneck / --seed or the defaults).
 * Logits must equal RoutedT5.forward on the same inputs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import { RoutedT5, saveRoutedT5, t5StateDict, toHuggingFaceConfig, T5_PRESETS, type T5Inputs } from '../../kernel-lib/models/t5';
import { runForward } from '../../kernel-lib/cli/commands/forward';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'kernel-lib', 'cli', 'bin.js');
const B = 3;
const S = 5;
const T = 4;
const V = T5_PRESETS['t5-test'].vocabSize; // 40
const BLOCKS = 10;

function smear(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, SMEAR_BACKEND: 'wasm', SMEAR_QUIET: '1' } });
}

const INPUT_IDS = [5, 9, 13, 2, 1, 7, 3, 1, 0, 0, 11, 12, 30, 1, 0];
const MASK = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0];
const DEC_IDS = [0, 4, 8, 1, 0, 22, 1, 0, 0, 6, 6, 6];
const TASK_IDS = [2, 0, 3];
const HASH_IDS = Array.from({ length: B * BLOCKS }, (_, i) => (i * 7 + 3) % 4);

function batch(over: Record<string, TensorToWrite | undefined> = {}): Record<string, TensorToWrite> {
  const base: Record<string, TensorToWrite | undefined> = {
    input_ids: { dtype: 'I64', shape: [B, S], data: INPUT_IDS },
    attention_mask: { dtype: 'I64', shape: [B, S], data: MASK },
    decoder_input_ids: { dtype: 'I64', shape: [B, T], data: DEC_IDS },
    task_ids: { dtype: 'I64', shape: [B], data: TASK_IDS },
    hash_ids: { dtype: 'I64', shape: [B, BLOCKS], data: HASH_IDS },
    ...over,
  };
  return Object.fromEntries(Object.entries(base).filter(([, t]) => t !== undefined)) as Record<string, TensorToWrite>;
}

const inputs: T5Inputs = {
  inputIds: Int32Array.from(INPUT_IDS),
  attentionMask: Int32Array.from(MASK),
  decoderInputIds: Int32Array.from(DEC_IDS),
  batchSize: B,
  taskIds: TASK_IDS,
  hashIds: HASH_IDS,
};

function logitsOf(model: RoutedT5): Float32Array {
  const out = model.forward(inputs, { training: false });
  const v = out.logits.dataSync() as Float32Array;
  tf.dispose(out as unknown as tf.TensorContainer);
  return v;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])))) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

function randomizeRouting(model: RoutedT5, seed: number): void {
  const rng = new Rng(seed);
  for (const s of model.sublayers) {
    for (const [name, v] of s.routing.params) {
      const vals = /gain$/.test(name) ? rng.normal(v.size, 0.3, 1) : rng.normal(v.size, name.startsWith('router.weight') ? 1 : 0.3);
      v.assign(tf.tensor(vals, v.shape, 'float32'));
    }
  }
}

/** An HF folder (config.json + model.safetensors, no routing tensors) with `src`'s backbone and norms. */
async function writeHfFolder(src: RoutedT5, dir: string): Promise<void> {
  const sd = t5StateDict(src);
  const files: Record<string, TensorToWrite> = {};
  for (const [k, t] of sd) if (!k.includes('.adapter_controller.')) files[k] = { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
  tf.dispose([...sd.values()]);
  files['encoder.embed_tokens.weight'] = files['shared.weight'];
  fs.mkdirSync(dir, { recursive: true });
  await writeSafetensors(path.join(dir, 'model.safetensors'), files, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHuggingFaceConfig(T5_PRESETS['t5-test'])));
}

describe('smear forward --setting t5', () => {
  let dir: string;
  let routedFile: string;
  let hfDir: string;
  let batchFile: string;
  let routed: RoutedT5;
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forward-t5-'));
    routed = new RoutedT5({ config: 't5-test', routing: { method: 'smear', numExperts: 4, bottleneck: 3 }, seed: 3 });
    randomizeRouting(routed, 9);
    routedFile = path.join(dir, 'routed.safetensors');
    await saveRoutedT5(routed, routedFile);
    hfDir = path.join(dir, 'hf');
    await writeHfFolder(routed, hfDir);
    batchFile = path.join(dir, 'batch.safetensors');
    await writeSafetensors(batchFile, batch());
  });
  after(() => {
    routed.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('routed safetensors file (method from metadata): logits = RoutedT5.forward, routing.<k> rows sum to 1', async () => {
    const out = path.join(dir, 'out-routed.safetensors');
    const r = smear(['forward', '--setting', 't5', '--checkpoint', routedFile, '--input', batchFile, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const { tensors, metadata } = await readSafetensors(out);
    assert.equal(metadata['smear.setting'], 't5');
    assert.equal(metadata['smear.method'], 'smear');
    const logits = tensors.get('logits')!;
    assert.equal(logits.dtype, 'F32');
    assert.deepEqual(logits.shape, [B, T, V]);
    assertClose(logits.data, logitsOf(routed), 'logits');
    for (let k = 0; k < BLOCKS; k++) {
      const p = tensors.get(`routing.${k}`);
      assert.ok(p, `routing.${k}`);
      assert.equal(p.dtype, 'F32');
      assert.deepEqual(p.shape, [B, 4]);
      for (let i = 0; i < B; i++) {
        const row = Array.from(p.data.subarray(4 * i, 4 * i + 4));
        assert.ok(Math.abs(row.reduce((a, c) => a + c, 0) - 1) < 1e-5, `routing.${k} row ${i}`);
      }
      assert.equal(tensors.has(`expert_index.${k}`), false);
    }
    assert.equal(tensors.has(`routing.${BLOCKS}`), false);
    // Different routers per block (randomised): not all the same distribution.
    assert.notDeepEqual(Array.from(tensors.get('routing.0')!.data), Array.from(tensors.get('routing.7')!.data));
  });

  it('HF folder without routing tensors: fresh hash routing from --experts/--bottleneck/--seed; expert_index = hash column', async () => {
    const out = path.join(dir, 'out-hash.safetensors');
    const r = smear(['forward', '--setting', 't5', '--method', 'hash_routing', '--experts', '4', '--bottleneck', '3', '--seed', '5', '--checkpoint', hfDir, '--input', batchFile, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const { tensors, metadata } = await readSafetensors(out);
    assert.equal(metadata['smear.method'], 'hash');
    // Same backbone, routing freshly initialised from seed 5 = a model built with seed 5 and loaded with the backbone.
    const ref = new RoutedT5({ config: 't5-test', routing: { method: 'hash', numExperts: 4, bottleneck: 3 }, seed: 5 });
    for (const [k, v] of routed.variables()) if (!k.includes('.adapter_controller.')) ref.variables().get(k)!.assign(v);
    assert.deepEqual(tensors.get('logits')!.shape, [B, T, V]);
    assertClose(tensors.get('logits')!.data, logitsOf(ref), 'logits');
    ref.dispose();
    for (let k = 0; k < BLOCKS; k++) {
      const e = tensors.get(`expert_index.${k}`);
      assert.ok(e, `expert_index.${k}`);
      assert.equal(e.dtype, 'I64');
      assert.deepEqual(e.shape, [B]);
      assert.deepEqual(Array.from(e.data), [0, 1, 2].map((i) => HASH_IDS[i * BLOCKS + k]), `expert_index.${k}`);
    }
  });

  it('HF folder, tag routing with the default sizes (N 8, d 24, seed 42): expert_index = task id', async () => {
    const out = path.join(dir, 'out-tag.safetensors');
    await runForward({ setting: 't5', method: 'tag', checkpoint: hfDir, input: batchFile, out });
    const { tensors } = await readSafetensors(out);
    const ref = new RoutedT5({ config: 't5-test', routing: { method: 'tag', numExperts: 8, bottleneck: 24 }, seed: 42 });
    for (const [k, v] of routed.variables()) if (!k.includes('.adapter_controller.')) ref.variables().get(k)!.assign(v);
    assertClose(tensors.get('logits')!.data, logitsOf(ref), 'logits');
    assert.deepEqual(ref.routingConfig.numExperts, 8);
    ref.dispose();
    for (let k = 0; k < BLOCKS; k++) assert.deepEqual(Array.from(tensors.get(`expert_index.${k}`)!.data), TASK_IDS, `expert_index.${k}`);
    // d = 24 went into the model: a second run with another bottleneck differs.
    const out2 = path.join(dir, 'out-tag2.safetensors');
    await runForward({ setting: 't5', method: 'tag', checkpoint: hfDir, input: batchFile, out: out2, bottleneck: 5 });
    assert.notDeepEqual(Array.from((await readSafetensors(out2)).tensors.get('logits')!.data), Array.from(tensors.get('logits')!.data));
  });

  it('errors: missing inputs, dtypes, shapes, vocabulary, method', async () => {
    const out = path.join(dir, 'out-err.safetensors');
    const bad = async (over: Record<string, TensorToWrite | undefined>, re: RegExp, extra: { method?: string; checkpoint?: string; experts?: number } = {}) => {
      const f = path.join(dir, 'bad.safetensors');
      await writeSafetensors(f, batch(over));
      await assert.rejects(runForward({ setting: 't5', checkpoint: routedFile, input: f, out, ...extra }), re);
    };
    await bad({ input_ids: undefined }, /missing tensor 'input_ids' \(int64 \[B,S\]/);
    await bad({ decoder_input_ids: undefined }, /missing tensor 'decoder_input_ids' \(int64 \[3,T\]/);
    await bad({ hash_ids: undefined }, /missing tensor 'hash_ids' \(int64 \[3,10\], one column per routing block\), needed by hash routing/, { method: 'hash', checkpoint: hfDir, experts: 4 });
    await bad({ task_ids: undefined }, /missing tensor 'task_ids' \(int64 \[3\].*needed by 'tag' routing/, { method: 'tag', checkpoint: hfDir });
    await bad({ input_ids: { dtype: 'F32', shape: [B, S], data: INPUT_IDS } }, /tensor 'input_ids': expected an integer dtype \(int64 or int32\) int64 \[B,S\], got F32/);
    await bad({ attention_mask: { dtype: 'I64', shape: [B, S - 1], data: MASK.slice(0, B * (S - 1)) } }, /tensor 'attention_mask': expected shape \[3,5\] \(like input_ids\), got \[3,4\]/);
    await bad({ decoder_input_ids: { dtype: 'I64', shape: [2, T], data: DEC_IDS.slice(0, 2 * T) } }, /tensor 'decoder_input_ids': expected shape \[3,T\] \(batch size of input_ids\), got \[2,4\]/);
    await bad({ hash_ids: { dtype: 'I64', shape: [B, 8], data: HASH_IDS.slice(0, B * 8) } }, /tensor 'hash_ids': expected shape \[3,10\] \(one column per routing block of this model\), got \[3,8\]/);
    await bad({ input_ids: { dtype: 'I64', shape: [B, S], data: INPUT_IDS.map((v, i) => (i === 6 ? 300 : v)) } }, /tensor 'input_ids'\[1\]\[1\] = 300: expected a token id of the checkpoint's vocabulary \(vocab_size 40\) in \[0, 40\)/);
    await bad({ decoder_input_ids: { dtype: 'I64', shape: [B, T], data: DEC_IDS.map((v, i) => (i === 0 ? 40 : v)) } }, /tensor 'decoder_input_ids'\[0\]\[0\] = 40: .*vocab_size 40/);
    await bad({ hash_ids: { dtype: 'I64', shape: [B, BLOCKS], data: HASH_IDS.map((v, i) => (i === 0 ? 4 : v)) } }, /tensor 'hash_ids'\[0\]\[0\] = 4: expected an expert index \(N = 4\)/, { method: 'hash', checkpoint: hfDir, experts: 4 });
    await assert.rejects(runForward({ setting: 't5', method: 'nope', checkpoint: routedFile, input: batchFile, out }), /--method: unknown routing method 'nope'/);
    await assert.rejects(runForward({ setting: 't5', checkpoint: hfDir, input: batchFile, out }), /routing method is unknown .*pass --method <name>/);
    await assert.rejects(runForward({ setting: 't5', checkpoint: routedFile, input: batchFile, out, experts: 6 }), /--experts 6 disagrees with the checkpoint's 4/);
    await assert.rejects(runForward({ setting: 't5', checkpoint: routedFile, input: batchFile, out, method: 'dselect-k' }), /--method dselect-k \('dselect-k'\) contradicts the checkpoint .*routed\.safetensors: its metadata smear\.method says 'smear'/);
    await assert.rejects(runForward({ setting: 't5', checkpoint: path.join(dir, 'none'), input: batchFile, out }), /--checkpoint .*none: no such file or folder/);
    await assert.rejects(runForward({ setting: 'vit', checkpoint: routedFile, input: batchFile, out }), /--setting: expected 'resnet' or 't5', got 'vit'/);
    await assert.rejects(runForward({ setting: 'resnet', checkpoint: routedFile, input: batchFile, out, experts: 4 }), /--experts applies to --setting t5 only/);
    assert.equal(fs.existsSync(out), false);
  });

  it('CLI exit codes and messages', () => {
    const r = smear(['forward', '--setting', 't5', '--checkpoint', hfDir, '--input', batchFile, '--out', path.join(dir, 'x.safetensors'), '--method', 'smear', '--experts', 'many']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^smear forward: --experts: expected an integer, got 'many'/);
    const m = smear(['forward', '--setting', 't5', '--checkpoint', hfDir]);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /missing options --input, --out/);
  });
});
