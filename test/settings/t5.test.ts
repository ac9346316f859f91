/**
 * The T5-GLUE setting end to end on tiny fixtures in the real formats: mini-GLUE
 * written as GLUE TSV into a temp folder, a t5-test-size model (byte
 * vocabulary), an HF-format T5 folder written with the weights module. Covers
 * the summed label-smoothed loss, the multi-task sampler, batch collation, a
 * run's folder, stop/resume equivalence, the paper-profile CLI and bad input.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib';
import { generateMiniGlue } from '../../kernel-lib/datasets/glue/mini';
import { RoutedT5 } from '../../kernel-lib/models/t5/model';
import { toHuggingFaceConfig } from '../../kernel-lib/models/t5/config';
import { t5StateEntries } from '../../kernel-lib/models/t5/weights';
import { writeSafetensors, readSafetensors, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import { ByteTokenizer } from '../../kernel-lib/tokenizers/byte';
import { resolveT5RunConfig, type T5RunOverrides } from '../../kernel-lib/settings/t5/config';
import { collate, Encoder, MultiTaskSampler, TrainBatches, loadGlueTasks, taskMaxDecodingLength, type T5Example } from '../../kernel-lib/settings/t5/data';
import { labelSmoothedLoss } from '../../kernel-lib/settings/t5/task';
import { trainT5 } from '../../kernel-lib/settings/t5/run';
import { reproduceT5 } from '../../kernel-lib/settings/t5/reproduce';
import { resolveWorkers } from '../../kernel-lib/settings/workers';
import { plainT5Logits, spanCorrupt, ensureMiniT5Backbone } from '../../kernel-lib/settings/t5/pretrain';
import { Rng } from '../../kernel-lib/util/rng';

const root = path.resolve(__dirname, '..', '..');
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const TINY = { preset: 't5-test', overrides: { vocabSize: 260 } };
let glue = '';
let backbone = '';

function tiny(method: string, runDir: string, extra: Partial<T5RunOverrides['train']> = {}): T5RunOverrides & { method: string } {
  return {
    method,
    profile: 'mini',
    runDir,
    bottleneck: 2,
    data: { root: glue, validationSize: 4, maxInputLength: 300 },
    model: { ...TINY, path: backbone },
    train: { batchSize: 4, evalBatchSize: 16, maxSteps: 4, evalEvery: 2, logEvery: 1, maxValidExamples: 2, maxTestExamples: 1, warmupSteps: 2, ...extra },
    losses: { gumbel: { tau0: 10, minTemp: 0.5, rate: 0.1, period: 1 } },
  };
}

function metrics(dir: string) {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .map(({ steps_per_s: _s, ...rest }) => rest);
}

/** An HF-format T5 folder (config.json + model.safetensors, HF names, no routing tensors). */
async function writeHfFolder(dir: string, seed: number): Promise<void> {
  const model = new RoutedT5({ config: { preset: 't5-test', vocabSize: 260 }, routing: { method: 'dense', numExperts: 1, bottleneck: 1 }, seed });
  const tensors: Record<string, TensorToWrite> = {};
  for (const e of t5StateEntries(model)) {
    if (e.kind === 'routing') continue;
    const t = e.get();
    tensors[e.key] = { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
    t.dispose();
  }
  fs.mkdirSync(dir, { recursive: true });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHuggingFaceConfig(model.config)));
  model.dispose();
}

describe('T5-GLUE setting (tiny)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    glue = path.join(tmp('mini-glue-'), 'glue');
    generateMiniGlue(glue, { train: 24, validation: 10 });
    backbone = path.join(path.dirname(glue), 'backbone');
    await writeHfFolder(backbone, 3);
  });

  it('the label-smoothed loss is summed over non-pad target tokens (fairseq form) and per example', () => {
    const b = 2, t = 3, v = 4, eps = 0.1;
    const logits = Array.from({ length: b * t * v }, (_, i) => Math.sin(i * 1.7) * 2);
    const labels = Int32Array.from([2, 1, 0, 3, 2, 1]); // example 0 ends with padding
    const { loss, perExample, nll } = labelSmoothedLoss(tf.tensor3d(logits, [b, t, v]), labels, eps);
    let total = 0, nllSum = 0;
    const per = [0, 0];
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < t; j++) {
        const y = labels[i * t + j];
        if (y === 0) continue;
        const row = logits.slice((i * t + j) * v, (i * t + j + 1) * v);
        const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
        const logp = row.map((x) => x - lse);
        const tok = (1 - eps) * -logp[y] + (eps / v) * -logp.reduce((s, x) => s + x, 0);
        total += tok;
        per[i] += tok;
        nllSum += -logp[y];
      }
    }
    assert.ok(Math.abs(loss.dataSync()[0] - total) < 1e-4, `${loss.dataSync()[0]} vs ${total}`);
    assert.ok(Math.abs(nll.dataSync()[0] - nllSum) < 1e-4);
    Array.from(perExample.dataSync()).forEach((x, i) => assert.ok(Math.abs(x - per[i]) < 1e-4));
  });

  it('the sampler draws with replacement, seeded by epoch, and is step-addressable', async () => {
    const s = new MultiTaskSampler([5, 3, 4], 4, 0);
    assert.equal(s.total, 12);
    assert.equal(s.batchesPerEpoch, 3);
    const e0 = s.epochIndices(0);
    assert.ok(e0.every((i) => i >= 0 && i < 12));
    assert.ok(new Set(e0).size < 12, 'with replacement: repeats in an epoch of 12 draws');
    assert.deepEqual(Array.from(new MultiTaskSampler([5, 3, 4], 4, 0).epochIndices(0)), Array.from(e0));
    assert.notDeepEqual(Array.from(s.epochIndices(1)), Array.from(e0));
    assert.deepEqual(Array.from(new MultiTaskSampler([5, 3, 4], 4, 1).epochIndices(0)), Array.from(s.epochIndices(1)), 'epoch e uses seed + e');
    assert.deepEqual(Array.from(s.batchIndices(4)), Array.from(s.epochIndices(1).slice(4, 8)));
    assert.deepEqual(s.locate(0), { dataset: 0, row: 0 });
    assert.deepEqual(s.locate(5), { dataset: 1, row: 0 });
    assert.deepEqual(s.locate(11), { dataset: 2, row: 3 });
    // Batches (templates included) are a function of the step.
    const cfg = resolveT5RunConfig(tiny('smear', tmp('x-')));
    const tasks = await loadGlueTasks(cfg);
    const mk = () => new TrainBatches(tasks, new Encoder(new ByteTokenizer(), 300, 32), { batchSize: 4, samplerSeed: 0, seed: 42, dataSeed: 42, hashColumns: 10 });
    const it5 = mk().iterate(5);
    const a = (await it5.next()).value;
    const fresh = mk();
    for (let i = 0; i < 5; i++) fresh.batchAt(i);
    assert.deepEqual(a, fresh.batchAt(5));
    assert.deepEqual(mk().batchAt(7), mk().batchAt(7));
    assert.notDeepEqual(mk().batchAt(7).inputIds, mk().batchAt(8).inputIds);
  });

  it('collation pads to the longest, appends EOS, shifts labels right with 0 and pads labels with 0', () => {
    const enc = new Encoder(new ByteTokenizer(), 5, 3);
    const a = enc.encode('ab', 'yes');
    assert.deepEqual(a.input, [100, 101, 1]);
    assert.deepEqual(a.target, [124, 104, 1]); // 'y','e' then EOS (truncated to 3 incl. EOS)
    assert.equal(enc.targetStats.truncated, 1);
    const b = enc.encode('abcdefg', 'no');
    assert.deepEqual(b.input, [100, 101, 102, 103, 1], 'truncation keeps EOS');
    assert.equal(enc.sourceStats.truncated, 1);
    const ex: T5Example[] = [
      { ...a, task: 0, hash: Int32Array.from([1, 2, 3]) },
      { ...b, task: 5, hash: Int32Array.from([4, 5, 6]) },
    ];
    const batch = collate(ex, 2);
    assert.equal(batch.srcLen, 5);
    assert.equal(batch.tgtLen, 3);
    assert.deepEqual(Array.from(batch.inputIds), [100, 101, 1, 0, 0, 100, 101, 102, 103, 1]);
    assert.deepEqual(Array.from(batch.attentionMask), [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    assert.deepEqual(Array.from(batch.labels), [124, 104, 1, 113, 114, 1]);
    assert.deepEqual(Array.from(batch.decoderInputIds), [0, 124, 104, 0, 113, 114]);
    assert.deepEqual(Array.from(batch.taskIds), [0, 5]);
    assert.deepEqual(Array.from(batch.hashIds), [1, 2, 4, 5]);
    assert.equal(taskMaxDecodingLength('rte', new ByteTokenizer()), 'not entailment'.length + 1);
    assert.equal(taskMaxDecodingLength('stsb', new ByteTokenizer()), 4);
  });

  it('span corruption and the pretraining forward match RoutedT5 (routing blocks silenced)', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => 10 + i);
    const { input, target } = spanCorrupt(ids, new Rng(1), { noiseDensity: 0.2, meanSpan: 3, vocabSize: 260 });
    assert.equal(input[input.length - 1], 1);
    assert.equal(target[0], 259);
    const kept = input.filter((x) => x >= 10 && x < 40);
    const dropped = target.filter((x) => x >= 10 && x < 40);
    assert.deepEqual([...kept, ...dropped].sort((x, y) => x - y), ids);
    assert.equal(dropped.length, 6);
    const model = new RoutedT5({ config: { preset: 't5-test', vocabSize: 260 }, routing: { method: 'dense', numExperts: 1, bottleneck: 1 }, seed: 5 });
    for (const [k, v] of model.variables()) if (k.endsWith('postNorm.gain')) v.assign(tf.zerosLike(v)); // y' = y + 0
    const src = { ids: Int32Array.from([5, 6, 7, 1, 8, 9, 0, 0]), mask: Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0]), b: 2, s: 4 };
    const dec = { ids: Int32Array.from([0, 11, 12, 0, 13, 0]), t: 3 };
    const want = model.forward({ inputIds: src.ids, attentionMask: Int32Array.from(src.mask), decoderInputIds: dec.ids, batchSize: 2 }, { training: false }).logits;
    const got = plainT5Logits(model.config, model.variables(), src, dec);
    const diff = tf.max(tf.abs(tf.sub(want, got))).dataSync()[0];
    assert.ok(diff < 1e-4, `max diff ${diff}`);
    model.dispose();
  });

  it('the mini backbone is pretrained once and saved as an HF folder that loads as a T5 checkpoint', async () => {
    const cfg = resolveT5RunConfig({ ...tiny('smear', tmp('pre-')), model: { ...TINY, pretrain: { steps: 2, batchSize: 4, lr: 1e-3, length: 32, noiseDensity: 0.15, meanSpan: 3 } } });
    const dir = await ensureMiniT5Backbone(cfg, true);
    try {
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'pretrain.json'), 'utf8'));
      assert.equal(report.steps, 2);
      assert.equal(report.curve.length, 2);
      const { tensors } = await readSafetensors(path.join(dir, 'model.safetensors'));
      const keys = [...tensors.keys()];
      assert.ok(keys.includes('shared.weight') && keys.includes('decoder.block.1.layer.2.DenseReluDense.wo.weight') && keys.includes('lm_head.weight'));
      assert.ok(!keys.some((k) => k.includes('adapter_controller')));
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size, 260);
      assert.equal(await ensureMiniT5Backbone(cfg, true), dir, 'cached');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a run writes config, metrics, checkpoints, results and routing statistics per task', async () => {
    const dir = tmp('run-');
    const r = await trainT5(tiny('smear', dir), { progress: { mode: 'none' } });
    assert.equal(r.result.status, 'completed');
    for (const f of ['config.json', 'metrics.jsonl', 'results.json', 'routing-test.json', 'checkpoints/last.safetensors', 'checkpoints/best.safetensors']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    assert.equal(results.method, 'smear');
    assert.equal(results.trainable_parameters, r.trainableParameters);
    // test: one example per task under every template (RTE 5 … MNLI 15)
    assert.equal(results.test.examples, 7 * 5 + 15);
    for (const k of ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola']) assert.ok(results.test[k], k);
    assert.deepEqual(Object.keys(results.test.mrpc), ['f1', 'acc']);
    const vals = ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola'].flatMap((k) => Object.values(results.test[k]) as number[]);
    assert.equal(vals.length, 11);
    assert.ok(Math.abs(results.test.glue_average - vals.reduce((a, b) => a + b, 0) / 11) < 1e-9);
    assert.equal(typeof results.test.task_mean, 'number');
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.equal(config.splits.sst2.validation, 4);
    assert.equal(config.backbone.config.dModel, 16);
    const ckpt = await readSafetensors(path.join(dir, 'checkpoints', 'last.safetensors'));
    assert.ok(![...ckpt.tensors.keys()].some((k) => k.endsWith('.q.weight')), 'frozen backbone weights are not checkpointed');
    assert.equal(r.routing!.blocks.length, 10);
    assert.deepEqual(r.routing!.tagNames, ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola']);
    for (const row of r.routing!.blocks[0].meanByTag) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    const train = metrics(dir).filter((l) => l.split === 'train');
    assert.equal(train[0].lr, 0, 'linear warm-up from 0');
    assert.ok(train[0].ce > 0 && train[0].nll > 0);
  });

  for (const method of ['smear', 'reinforce']) {
    it(`a stopped and resumed ${method} run ends exactly like an uninterrupted one`, async () => {
      const full = tmp('full-');
      const a = await trainT5(tiny(method, full), { progress: { mode: 'none' } });
      const split = tmp('split-');
      const controller = new AbortController();
      const r1 = await trainT5(tiny(method, split), {
        signal: controller.signal,
        progress: { mode: 'none', onProgress: (e) => e.step === 3 && e.phase === 'train' && controller.abort() },
      });
      assert.equal(r1.result.status, 'aborted');
      assert.equal(r1.result.step, 3);
      const r2 = await trainT5(tiny(method, split), { resume: true, progress: { mode: 'none' } });
      assert.equal(r2.result.status, 'completed');
      assert.deepEqual(metrics(split), metrics(full));
      assert.deepEqual(r2.result.test!.metrics, a.result.test!.metrics);
      if (method === 'reinforce') assert.ok(metrics(full).some((l) => typeof l.reinforce_policy === 'number'));
      const x = await readSafetensors(path.join(full, 'checkpoints', 'last.safetensors'));
      const y = await readSafetensors(path.join(split, 'checkpoints', 'last.safetensors'));
      for (const [k, t] of x.tensors) assert.deepEqual(Array.from(y.tensors.get(k)!.data), Array.from(t.data), k);
    });
  }

  it('adamix, tag (RTE→MNLI in the encoder) and dselect-k train one step', async () => {
    for (const method of ['adamix', 'tag', 'dselect-k']) {
      const dir = tmp(`${method}-`);
      const r = await trainT5(tiny(method, dir, { maxSteps: 1, evalEvery: 1, maxTestExamples: 1 }), { progress: { mode: 'none' } });
      assert.equal(r.result.status, 'completed', method);
      const line = metrics(dir).find((l) => l.split === 'train');
      if (method === 'adamix') assert.equal(typeof line.consistency, 'number');
      if (method === 'dselect-k') assert.equal(typeof line.aux, 'number');
      if (method === 'tag') {
        const enc = r.routing!.blocks[0];
        assert.equal(enc.meanByTag[0][5], 1, 'RTE uses MNLI’s expert in encoder blocks');
        assert.equal(r.routing!.blocks[9].meanByTag[0][0], 1, 'and its own in decoder blocks');
      }
    }
  });

  it('the reproduction writes a results table and reuses finished runs', async () => {
    const out = tmp('repro-');
    const runs = tmp('runs-');
    const methods = [{ method: 'hash' }, { method: 'dense', configuration: '1× parameters' }];
    const overrides = { ...tiny('hash', ''), runDir: undefined, train: { ...tiny('hash', '').train, maxSteps: 2 } } as T5RunOverrides;
    const runDirFor = (m: { method: string; configuration?: string }) => path.join(runs, `${m.method}${m.configuration ? '-p' : ''}`);
    const first = await reproduceT5({ methods, outDir: out, overrides, progress: { mode: 'none' }, runDirFor });
    assert.deepEqual(first.rows.map((r) => r.reused), [false, false]);
    const md = fs.readFileSync(first.resultsFile, 'utf8');
    assert.match(md, /\| hash \| \d+\.\d \| \d+\.\d \|/);
    assert.match(md, /\| dense \(1× parameters\) \|/);
    assert.match(md, /mrpc F1 \| mrpc acc/);
    const second = await reproduceT5({ methods, outDir: out, overrides, progress: { mode: 'none' }, runDirFor });
    assert.deepEqual(second.rows.map((r) => r.reused), [true, true]);
    assert.deepEqual(second.rows.map((r) => r.glueAverage), first.rows.map((r) => r.glueAverage));
    // Two worker processes train the same runs to the same results (and the table keeps the method order).
    const runs2 = tmp('runs-workers-');
    const runDirFor2 = (m: { method: string; configuration?: string }) => path.join(runs2, `${m.method}${m.configuration ? '-p' : ''}`);
    const third = await reproduceT5({ methods, outDir: tmp('repro-workers-'), overrides, progress: { mode: 'none' }, runDirFor: runDirFor2, workers: 2 });
    assert.deepEqual(third.rows.map((r) => [r.label, r.reused]), [['hash', false], ['dense (1× parameters)', false]]);
    assert.deepEqual(third.rows.map((r) => r.glueAverage), first.rows.map((r) => r.glueAverage));
    assert.deepEqual(third.rows.map((r) => r.perTask), first.rows.map((r) => r.perTask));
    assert.match(fs.readFileSync(third.resultsFile, 'utf8'), /2 training processes at once/);
    assert.throws(() => resolveWorkers(0, 'mini'), /option workers: expected an integer >= 1, got 0/);
    assert.equal(resolveWorkers('auto', 'paper'), 1);
  });

  it('the paper-profile CLI command trains on an HF T5 folder and GLUE TSV', () => {
    const data = path.join(tmp('paper-glue-'), 'glue');
    // Large tasks take 1,000 validation rows from train in the paper profile: 1,004 rows leave 4 to train on.
    generateMiniGlue(data, { train: 1004, validation: 6 });
    const run = tmp('paper-run-');
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'kernel-lib', 'cli', 'bin.js'), 'train', '--setting', 't5', '--profile', 'paper', '--method', 'smear', '--data', data, '--model', backbone, '--tokenizer', 'byte',
        '--steps', '1', '--eval-every', '1', '--batch-size', '2', '--max-eval-examples', '1', '--run-dir', run],
      { cwd: root, encoding: 'utf8', env: { ...process.env, SMEAR_BACKEND: 'wasm' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /smear \(SMEAR\): test GLUE average [\d.]+ \(11 metric values\), 8-task mean [\d.]+/);
    const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    assert.equal(cfg.profile, 'paper');
    assert.equal(cfg.data.maxInputLength, 128);
    assert.equal(cfg.train.lr, 3e-4);
    assert.equal(cfg.train.warmupSteps, 2000);
    assert.equal(cfg.numExperts, 8);
    assert.equal(cfg.bottleneck, 24);
    assert.equal(cfg.data.splitMode, 'reference');
    assert.equal(cfg.splits.sst2.validation, 999); // the reference's n_obs = -1 drops the last of the 1,000
    const lines = metrics(run);
    assert.equal(lines[0].lr, 0);
  });

  it('bad input names the option and what was expected', async () => {
    assert.throws(() => resolveT5RunConfig({ method: 'smear', profile: 'paper' }), /option data: the paper profile needs the GLUE folder/);
    assert.throws(() => resolveT5RunConfig({ method: 'smear', profile: 'paper', data: { root: '/x' } }), /option model: the paper profile needs a local Hugging Face T5 v1.1 folder/);
    assert.throws(() => resolveT5RunConfig({ method: 'smear', configuration: '3× fun' }), /method 'smear' has no configuration '3× fun'; expected one of 'SMEAR', 'SMEAR 2×'/);
    assert.throws(() => resolveT5RunConfig({ method: 'smear', profile: 'huge' as 'mini' }), /option profile: expected 'mini' or 'paper', got 'huge'/);
    assert.throws(() => resolveT5RunConfig({ method: 'smear', data: { maxInputLength: 0 } }), /option data.maxInputLength: expected an integer >= 2, got 0/);
    assert.throws(() => resolveT5RunConfig({ method: 'nope' }), /unknown routing method 'nope'/);
    const p = resolveT5RunConfig({ method: 'smear', configuration: 'SMEAR 2×' });
    assert.equal(p.numExperts, 16);
    assert.equal(resolveT5RunConfig({ method: 'dense', configuration: '1× parameters', profile: 'paper', data: { root: '/x' }, model: { path: '/m' } }).bottleneck, 192);
    await assert.rejects(trainT5({ ...tiny('smear', tmp('bad-')), model: { ...TINY, path: '/nonexistent/t5' } }, { progress: { mode: 'none' } }), /option model: \/nonexistent\/t5 does not exist/);
    await assert.rejects(trainT5({ ...tiny('smear', tmp('bad-')), data: { root: '/nonexistent/glue' } }, { progress: { mode: 'none' } }), /option data: \/nonexistent\/glue does not exist/);
    await assert.rejects(trainT5({ ...tiny('hash', tmp('bad-')), numExperts: 4 }, { progress: { mode: 'none' } }), /method 'hash': .*randint\(8\).*numExperts must be >= 8, got 4/);
    const small = path.join(tmp('small-'), 'm');
    const m = new RoutedT5({ config: 't5-test', routing: { method: 'dense' }, seed: 1 });
    const tensors: Record<string, TensorToWrite> = {};
    for (const e of t5StateEntries(m)) if (e.kind !== 'routing') tensors[e.key] = { dtype: 'F32', shape: e.shape, data: e.get().dataSync() as Float32Array };
    fs.mkdirSync(small, { recursive: true });
    await writeSafetensors(path.join(small, 'model.safetensors'), tensors, { format: 'pt' });
    fs.writeFileSync(path.join(small, 'config.json'), JSON.stringify(toHuggingFaceConfig(m.config)));
    m.dispose();
    await assert.rejects(trainT5({ ...tiny('smear', tmp('bad-')), model: { ...TINY, path: small } }, { progress: { mode: 'none' } }), /option tokenizer: it produces ids up to 258, but the model's vocabulary has 40 entries/);
    await assert.rejects(trainT5({ ...tiny('smear', tmp('bad-')), model: { ...TINY, path: backbone, tokenizer: '/nonexistent/spiece.model' } }, { progress: { mode: 'none' } }), /option tokenizer: .*does not exist/);
    const resumed = tmp('resume-');
    await trainT5(tiny('smear', resumed, { maxSteps: 1, evalEvery: 1 }), { progress: { mode: 'none' } });
    // Issue 12: more steps extend a finished run (was refused as 'a different configuration (train)'); another learning rate is refused, named.
    await assert.rejects(trainT5(tiny('smear', resumed, { maxSteps: 2, evalEvery: 1, lr: 0.5 }), { resume: true, progress: { mode: 'none' } }), /--resume: .*config.json was written with a different configuration \(train\); train\.lr: [\d.e-]+ \(config\.json\) → 0\.5 \(now\)/);
    const extended = await trainT5(tiny('smear', resumed, { maxSteps: 2, evalEvery: 1 }), { resume: true, progress: { mode: 'none' } });
    assert.equal(extended.result.step, 2);
    assert.equal(JSON.parse(fs.readFileSync(path.join(resumed, 'results.step-1.json'), 'utf8')).steps, 1);
    await assert.rejects(trainT5(tiny('smear', resumed, { maxSteps: 2, evalEvery: 1 }), { progress: { mode: 'none' } }), /already holds a run \(2 of 2 steps done, finished \(results\.json\)\)/);
    const cli = spawnSync(process.execPath, [path.join(root, 'kernel-lib', 'cli', 'bin.js'), 'train', '--setting', 't5', '--method', 'smear', '--weights', 'x.safetensors'], { cwd: root, encoding: 'utf8' });
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /option --weights applies to --setting resnet/);
  });
});
