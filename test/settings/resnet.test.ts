/**
 * The ResNet-DomainNet setting end to end on a tiny mini DomainNet (real
 * on-disk format, generated here): a run writes its folder, a stopped and
 * resumed run ends exactly like an uninterrupted one, and the reproduction
 * reuses finished runs.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../kernel-lib';
import { generateMiniDomainNet } from '../../kernel-lib/datasets/mini-domainnet/generate';
import { trainResNet } from '../../kernel-lib/settings/resnet/run';
import { reproduceResNet } from '../../kernel-lib/settings/resnet/reproduce';
import { configDifferences, resolveResNetConfig, type ResNetRunOverrides } from '../../kernel-lib/settings/resnet/config';
import { readSafetensors } from '../../kernel-lib/io/safetensors';

let dataRoot = '';
let backbone = '';
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

function tiny(method: string, runDir: string, extra: Partial<ResNetRunOverrides['train']> = {}): ResNetRunOverrides & { method: string } {
  return {
    method,
    profile: 'mini',
    runDir,
    numExperts: 3,
    bottleneck: 2,
    data: { root: dataRoot, workers: 1 },
    model: { widths: [8, 8, 8, 16], weights: backbone },
    train: { batchSize: 8, evalBatchSize: 16, maxSteps: 6, evalEvery: 3, logEvery: 1, ...extra },
  };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every file and folder under `dir` with a hash of its bytes and its modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(p);
      } else out[rel] = `${createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}@${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

function metrics(dir: string) {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .map(({ steps_per_s: _s, ...rest }) => rest);
}

describe('ResNet-DomainNet setting (tiny)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    dataRoot = path.join(tmp('mini-dn-'), 'data');
    await generateMiniDomainNet(dataRoot, { trainPerDomain: 20, testPerDomain: 6 });
    // A tiny backbone pretrained for two steps through the mini pretraining path.
    const { ensureMiniBackbone } = await import('../../kernel-lib/settings/resnet/pretrain');
    const cfg = resolveResNetConfig({ ...tiny('dense', tmp('pre-')), model: { widths: [8, 8, 8, 16], pretrain: { steps: 2, batchSize: 8, lr: 1e-3 } } });
    backbone = await ensureMiniBackbone(cfg, true);
    fs.copyFileSync(backbone, path.join(path.dirname(dataRoot), 'backbone.safetensors'));
    fs.rmSync(backbone);
    backbone = path.join(path.dirname(dataRoot), 'backbone.safetensors');
  });

  it('the pretrained mini backbone carries torchvision names only', async () => {
    const { tensors } = await readSafetensors(backbone);
    const keys = [...tensors.keys()];
    assert.ok(keys.includes('conv1.weight') && keys.includes('layer4.1.bn2.running_var'));
    assert.ok(!keys.some((k) => k.includes('adapter_controller') || k.startsWith('classification_layer')));
  });

  it('a run writes config, metrics, checkpoints, results and routing statistics', async () => {
    const dir = tmp('run-');
    const r = await trainResNet(tiny('smear', dir), { progress: { mode: 'none' } });
    assert.equal(r.result.status, 'completed');
    for (const f of ['config.json', 'metrics.jsonl', 'results.json', 'routing-test.json', 'checkpoints/last.safetensors', 'checkpoints/best.safetensors']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    assert.equal(results.method, 'smear');
    assert.equal(results.test.examples, 36);
    assert.deepEqual(Object.keys(results.test.per_domain), ['clipart', 'infograph', 'painting', 'quickdraw', 'real', 'sketch']);
    assert.equal(results.trainable_parameters, r.trainableParameters);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.equal(config.numExperts, 3);
    assert.equal(config.splits.test, 36);
    assert.equal(r.routing!.blocks.length, 8);
    for (const row of r.routing!.blocks[0].meanByTag) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  });

  for (const method of ['reinforce', 'adamix', 'st-gumbel']) {
    it(`a stopped and resumed ${method} run ends exactly like an uninterrupted one`, async () => {
      const full = tmp('full-');
      await trainResNet(tiny(method, full), { progress: { mode: 'none' } });
      const split = tmp('split-');
      const controller = new AbortController();
      const r1 = await trainResNet(tiny(method, split), {
        signal: controller.signal,
        progress: { mode: 'none', onProgress: (e) => e.step === 4 && e.phase === 'train' && controller.abort() },
      });
      assert.equal(r1.result.status, 'aborted');
      assert.equal(r1.result.step, 4);
      const r2 = await trainResNet(tiny(method, split), { resume: true, progress: { mode: 'none' } });
      assert.equal(r2.result.status, 'completed');
      assert.deepEqual(metrics(split), metrics(full));
      const a = await readSafetensors(path.join(full, 'checkpoints', 'last.safetensors'));
      const b = await readSafetensors(path.join(split, 'checkpoints', 'last.safetensors'));
      for (const [k, t] of a.tensors) assert.deepEqual(Array.from(b.tensors.get(k)!.data), Array.from(t.data), k);
    });
  }

  it('the reproduction writes a results table and reuses finished runs', async () => {
    const out = tmp('repro-');
    const runs = tmp('runs-');
    const methods = [{ method: 'tag' }, { method: 'dense', configuration: '1× parameters' }];
    const overrides = { ...tiny('tag', ''), runDir: undefined, numExperts: 6 } as ResNetRunOverrides;
    const runDirFor = (m: { method: string; configuration?: string }) => path.join(runs, `${m.method}${m.configuration ? '-p' : ''}`);
    // Point each method at its own folder under `runs`.
    const first = await reproduceResNet({ methods, outDir: out, overrides, progress: { mode: 'none' }, runDirFor });
    assert.deepEqual(first.rows.map((r) => r.reused), [false, false]);
    const md = fs.readFileSync(first.resultsFile, 'utf8');
    assert.match(md, /\| tag \| \d+\.\d \|/);
    assert.match(md, /\| dense \(1× parameters\) \|/);
    assert.match(md, /### tag, block 0/);
    const second = await reproduceResNet({ methods, outDir: out, overrides, progress: { mode: 'none' }, runDirFor });
    assert.deepEqual(second.rows.map((r) => r.reused), [true, true]);
    assert.deepEqual(second.rows.map((r) => r.accuracy), first.rows.map((r) => r.accuracy));
    // An interrupted reproduction leaves the previous tables alone.
    const before = fs.readFileSync(first.resultsFile, 'utf8');
    const aborted = new AbortController();
    aborted.abort();
    await reproduceResNet({ methods, outDir: out, overrides, progress: { mode: 'none' }, runDirFor, force: true, signal: aborted.signal });
    assert.equal(fs.readFileSync(first.resultsFile, 'utf8'), before);
    // Two worker processes train the same runs to the same results (and the table keeps the method order).
    const runs2 = tmp('runs-workers-');
    const runDirFor2 = (m: { method: string; configuration?: string }) => path.join(runs2, `${m.method}${m.configuration ? '-p' : ''}`);
    const third = await reproduceResNet({ methods, outDir: tmp('repro-workers-'), overrides, progress: { mode: 'none' }, runDirFor: runDirFor2, workers: 2 });
    assert.deepEqual(third.rows.map((r) => [r.label, r.reused]), [['tag', false], ['dense (1× parameters)', false]]);
    assert.deepEqual(third.rows.map((r) => r.perDomain), first.rows.map((r) => r.perDomain));
    assert.match(fs.readFileSync(third.resultsFile, 'utf8'), /2 training processes at once/);
  });

  it('the reproduction moves a run it retrains aside (--force, or another configuration), never deletes it, and refuses a diverged one clearly', async () => {
    const runs = tmp('runs-force-');
    const methods = [{ method: 'tag' }];
    const overrides = { ...tiny('tag', ''), runDir: undefined, numExperts: 6 } as ResNetRunOverrides;
    const common = { methods, outDir: tmp('repro-force-'), overrides, progress: { mode: 'none' as const }, runDirFor: () => path.join(runs, 'tag') };
    await reproduceResNet(common);
    const first = snapshot(path.join(runs, 'tag'));
    const forced = await reproduceResNet({ ...common, force: true });
    assert.deepEqual(forced.rows.map((r) => r.reused), [false]);
    const aside = fs.readdirSync(runs).filter((f) => f.startsWith('tag.old-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(snapshot(path.join(runs, aside[0])), first, 'the retrained run is kept whole');
    const longer = await reproduceResNet({ ...common, overrides: { ...overrides, train: { ...overrides.train, maxSteps: 7 } } });
    assert.deepEqual(longer.rows.map((r) => r.reused), [false]);
    assert.equal(fs.readdirSync(runs).filter((f) => f.startsWith('tag.old-')).length, 2);
    fs.writeFileSync(path.join(runs, 'tag', 'results.json'), '{"status": "diverged", "step": 4, "lr": 0.003}\n');
    const before = snapshot(runs);
    await assert.rejects(
      reproduceResNet({ ...common, overrides: { ...overrides, train: { ...overrides.train, maxSteps: 7 } } }),
      /^Error: tag: the run in .*tag diverged at step 4 \(its results\.json says so\); retrain it with --force/,
    );
    assert.deepEqual(snapshot(runs), before);
  });

  it('resuming with a different configuration is refused, naming the differences', async () => {
    const dir = tmp('cfg-');
    await trainResNet(tiny('smear', dir, { maxSteps: 2, evalEvery: 2 }), { progress: { mode: 'none' } });
    await assert.rejects(
      trainResNet(tiny('smear', dir, { maxSteps: 2, evalEvery: 2, lr: 0.5 }), { resume: true, progress: { mode: 'none' } }),
      /--resume: .*config\.json was written with a different configuration \(train\)/,
    );
    await assert.rejects(
      trainResNet(tiny('smear', dir, { maxSteps: 2, evalEvery: 2, lr: 0.5 }), { resume: true, progress: { mode: 'none' } }),
      /\(train\); train\.lr: 0\.003 \(config\.json\) → 0\.5 \(now\)\. Resume with the same options, or start over with --fresh/,
    );
  });

  it('the same run again is refused and changes nothing; a moved finished run extends with --resume --steps 8 exactly like an 8-step run; --fresh moves the old run aside', async () => {
    const quiet = { progress: { mode: 'none' as const } };
    const parent = tmp('again-');
    const dir = path.join(parent, 'run');
    await trainResNet(tiny('smear', dir), quiet);
    const before = snapshot(parent);
    const runBefore = snapshot(dir);
    await assert.rejects(trainResNet(tiny('smear', dir), quiet), new RegExp(`^Error: the run folder ${esc(dir)} already holds a run \\(6 of 6 steps done, finished \\(results\\.json\\)\\); nothing was changed\\. To continue it, add --resume`));
    await assert.rejects(trainResNet(tiny('smear', path.join(parent, 'other')), { ...quiet, resume: true }), /^Error: --resume: there is nothing to resume in .*other \(no such folder\)/);
    assert.deepEqual(snapshot(parent), before, 'nothing on disk changed');
    // The folder moved elsewhere, then trained on to 8 steps: the metrics of an uninterrupted 8-step run.
    const moved = path.join(tmp('moved-'), 'run');
    fs.cpSync(dir, moved, { recursive: true });
    const r = await trainResNet(tiny('smear', moved, { maxSteps: 8 }), { ...quiet, resume: true });
    assert.equal(r.result.step, 8);
    const full = tmp('full8-');
    await trainResNet(tiny('smear', full, { maxSteps: 8 }), quiet);
    assert.deepEqual(metrics(moved), metrics(full));
    assert.equal(JSON.parse(fs.readFileSync(path.join(moved, 'results.step-6.json'), 'utf8')).steps, 6);
    assert.equal(JSON.parse(fs.readFileSync(path.join(moved, 'results.json'), 'utf8')).steps, 8);
    assert.equal(JSON.parse(fs.readFileSync(path.join(moved, 'config.json'), 'utf8')).runDir, moved);
    // --fresh: the old folder is kept whole beside the new run.
    await trainResNet(tiny('smear', dir), { ...quiet, fresh: true });
    const aside = fs.readdirSync(parent).filter((f) => f.startsWith('run.old-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(snapshot(path.join(parent, aside[0])), runBefore, 'the old run is intact');
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')).steps, 6);
  });

  it('a diverging run (a huge --lr) stops at the step, naming the learning rate and the kept checkpoint; results.json says diverged', async () => {
    const dir = tmp('diverge-');
    await assert.rejects(
      trainResNet(tiny('smear', dir, { lr: 1e12 }), { progress: { mode: 'none' } }),
      /^TrainingDivergedError: training stopped: the loss is NaN at step 1 \(learning rate 1000000000000\)\. No checkpoint had been written yet\. To train again with a lower learning rate: the same command with a smaller --lr and --fresh/,
    );
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    assert.equal(results.status, 'diverged');
    assert.deepEqual(results, { status: 'diverged', step: 1, lr: 1e12, loss: 'NaN', last_checkpoint: null, last_checkpoint_step: null });
  });

  it('tag routing with fewer experts than domains is refused clearly', async () => {
    await assert.rejects(trainResNet(tiny('tag', tmp('tag-')), { progress: { mode: 'none' } }), /method 'tag': numTags 6 > numExperts 3; pass tagToExpert/);
  });

  it('bad configuration names the option', () => {
    assert.throws(() => resolveResNetConfig({ method: 'smear', profile: 'paper' }), /option data: the paper profile needs the DomainNet root/);
    assert.throws(() => resolveResNetConfig({ method: 'smear', profile: 'paper', data: { root: '/x' } }), /option weights: the paper profile needs torchvision ResNet18/);
    assert.throws(() => resolveResNetConfig({ method: 'smear', configuration: '3× fun' }), /method 'smear' has no configuration '3× fun'; expected one of 'SMEAR', 'SMEAR 2×'/);
    assert.throws(() => resolveResNetConfig({ method: 'smear', profile: 'huge' as 'mini' }), /option profile: expected 'mini' or 'paper', got 'huge'/);
  });

  it("the methods' training options: their defaults, the profile's values, partial overrides, checks; key order does not count", () => {
    const cfg = resolveResNetConfig({ method: 'smear', profile: 'paper', data: { root: '/x' }, model: { weights: '/w' } });
    assert.deepEqual(cfg.losses, {
      gumbel: { tau0: 10, minTemp: 0.5, rate: 1e-4, period: 1000 }, // the ResNet profile's schedule
      reinforce: { policyWeight: 0.01, entropyWeight: 5e-4, valueWeight: 0.01 },
      dselectWeight: 0.1,
      skillLrRatio: 10,
    });
    const over = resolveResNetConfig({ method: 'reinforce', losses: { gumbel: { rate: 0.5 }, reinforce: { valueWeight: 0.2 } } });
    assert.deepEqual(over.losses.gumbel, { tau0: 10, minTemp: 0.5, rate: 0.5, period: 20 }, 'merged one level deep into the mini profile');
    assert.deepEqual(over.losses.reinforce, { policyWeight: 0.01, entropyWeight: 5e-4, valueWeight: 0.2 });
    assert.throws(() => resolveResNetConfig({ method: 'smear', losses: { gumbel: { period: 0 } } }), /option losses\.gumbel\.period: expected an integer >= 1, got 0/);
    assert.throws(() => resolveResNetConfig({ method: 'smear', losses: { dselectWeight: -1 } }), /option losses\.dselectWeight: expected a number >= 0, got -1/);
    assert.throws(() => resolveResNetConfig({ method: 'smear', losses: { skilLrRatio: 5 } }), /option losses\.skilLrRatio: no routing method has this option; expected one of gumbel, reinforce, dselectWeight, skillLrRatio/);
    // A run folder's config.json written with the losses in another order (as before the methods declared them) is the same configuration.
    const saved = JSON.parse(JSON.stringify(cfg));
    saved.losses = { dselectWeight: 0.1, skillLrRatio: 10, gumbel: { tau0: 10, minTemp: 0.5, rate: 1e-4, period: 1000 }, reinforce: { policyWeight: 0.01, entropyWeight: 5e-4, valueWeight: 0.01 } };
    assert.deepEqual(configDifferences(saved, cfg), []);
    assert.deepEqual(configDifferences({ ...saved, losses: { ...saved.losses, skillLrRatio: 3 } }, cfg), ['losses']);
  });
});
