/**
 * The method seam, proved from outside the library: a 13th routing method
 * defined here, "uniform merge" (SMEAR's parameter merge with a fixed uniform
 * router and no router parameters), registered through the public API only
 * (`registerMethod` and the types and helpers of kernel-lib/index.ts), trains in
 * both mini settings (tiny sizes) with nothing else changed: its blocks, its
 * option, its routing records and statistics, its run folders. No file under
 * kernel-lib names it (kernel-lib/README, "Adding a method").
 *
 *   p_b = (1/k, …, 1/k, 0, …, 0)      the first k = mergedExperts experts (default all N)
 *   W̄ = Σ_n p_b,n W[n],  u_b = swish(x_b W̄_down + b̄_down) W̄_up
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, tf, registerMethod, getMethod, METHODS, RoutingBlock, Experts, SAME_SIZE, type RoutingMethod, type ResolvedBlockConfig } from '../../kernel-lib';
import { generateMiniDomainNet } from '../../kernel-lib/datasets/mini-domainnet/generate';
import { generateMiniGlue } from '../../kernel-lib/datasets/glue/mini';
import { trainResNet } from '../../kernel-lib/settings/resnet/run';
import { resolveResNetConfig, type ResNetRunOverrides } from '../../kernel-lib/settings/resnet/config';
import { trainT5 } from '../../kernel-lib/settings/t5/run';
import type { T5RunOverrides } from '../../kernel-lib/settings/t5/config';
import { loadRoutingStats } from '../../kernel-lib/analysis/routing-stats';

const NAME = 'uniform-merge';
const REFERENCE_NAME = 'uniform_merge_routing';

// The option this method adds to its blocks, typed as the library's methods add theirs.
declare module '../../kernel-lib' {
  interface RoutingBlockConfig {
    /** Uniform merge: k, the experts averaged (default all N). */
    mergedExperts?: number;
  }
}

const uniformMerge: RoutingMethod = {
  name: NAME,
  referenceName: REFERENCE_NAME,
  title: 'Uniform merge',
  kind: 'merge',
  usesRouter: false,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [{ label: 'Uniform merge', description: 'the first k experts averaged with equal weights', resolve: SAME_SIZE }],
  description: 'merge experts with fixed equal weights (no router)',
  options: {
    mergedExperts: {
      default: (cfg: ResolvedBlockConfig) => cfg.numExperts,
      description: 'k, the experts averaged (the first k; default all N)',
      check(k: number, name: string, cfg?: ResolvedBlockConfig) {
        if (!(Number.isInteger(k) && k >= 1 && k <= cfg!.numExperts)) throw new Error(`option ${name}: expected an integer in [1, ${cfg!.numExperts}], got ${k}`);
      },
    },
  },
  mix(x, _v, _ctx, { config, experts }) {
    const { numExperts: n, mergedExperts: k } = config;
    const b = x.shape[0];
    const row = Array.from({ length: n }, (_, e) => (e < k ? 1 / k : 0));
    const p = tf.tensor2d(Array.from({ length: b }, () => row).flat(), [b, n]); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(p)); // [B,S,C]
    return { mixture, record: { weights: p }, aux: [] };
  },
};

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const root = path.resolve(__dirname, '..', '..');

/** Every routing block of a run's statistics routes uniformly over its experts, whatever the tag. */
function assertUniformStats(file: string, n: number, what: string): void {
  const stats = loadRoutingStats(file);
  assert.equal(stats.method, NAME, `${what}: routing statistics name the method`);
  assert.ok(stats.blocks.length > 0, `${what}: routing statistics per block`);
  for (const b of stats.blocks) {
    assert.equal(b.source, 'weights', `${what} block ${b.block}: from the record's merge weights`);
    assert.equal(b.numExperts, n);
    for (const u of b.usage) assert.ok(Math.abs(u - 1 / n) < 1e-6, `${what} block ${b.block}: usage ${u} = 1/${n}`);
    assert.ok(Math.abs(b.entropy - Math.log(n)) < 1e-5, `${what} block ${b.block}: entropy ${b.entropy} = log ${n}`);
    assert.ok(Math.abs(b.specialization) < 1e-6, `${what} block ${b.block}: routing independent of the tag`);
  }
}

describe('a routing method registered from outside the library', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('registers through the public API under both names; taken names and incomplete methods are refused', () => {
    const count = METHODS.length;
    assert.equal(registerMethod(uniformMerge), uniformMerge);
    assert.equal(METHODS.length, count + 1);
    assert.equal(getMethod(NAME), uniformMerge);
    assert.equal(getMethod(REFERENCE_NAME.toUpperCase()), uniformMerge);
    assert.throws(() => registerMethod({ ...uniformMerge, referenceName: 'other_name' }), /registerMethod 'uniform-merge': the name 'uniform-merge' is taken by method 'uniform-merge'/);
    assert.throws(() => registerMethod({ ...uniformMerge, name: 'x', referenceName: 'parameter_averaging_routing' }), /the name 'parameter_averaging_routing' is taken by method 'smear'/);
    assert.throws(() => registerMethod({ ...uniformMerge, name: 'y', referenceName: 'y', mix: undefined } as unknown as RoutingMethod), /field mix: expected a function/);
  });

  it('its blocks merge the experts uniformly without router parameters; its option has a default and a check', async () => {
    const block = new RoutingBlock({ method: NAME, width: 8, numExperts: 4, bottleneck: 2, init: 3 });
    assert.equal(block.config.mergedExperts, 4, 'default: every expert');
    const x = tf.randomNormal([3, 5, 8], 0, 1, 'float32', 7) as tf.Tensor3D;
    const out = block.forward(x, { training: true });
    assert.deepEqual(Array.from(await out.record.weights!.data()), new Array(12).fill(0.25));
    // u = the adapter whose weights are the experts' plain average.
    const e = block.experts;
    const want = Experts.applyShared(x, tf.mean(e.down, 0) as tf.Tensor2D, tf.mean(e.downBias, 0) as tf.Tensor1D, tf.mean(e.up, 0) as tf.Tensor2D);
    const [got, ref] = [await out.mixture.data(), await want.data()];
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i] - ref[i]) <= 1e-5 * (1 + Math.abs(ref[i])), `mixture[${i}]`);
    // Only the experts train: the router exists (as in every block) but is unused.
    for (const p of block.namedParams()) assert.equal(p.used, !p.name.startsWith('router.'), p.name);
    assert.equal(block.trainableParameterCount(), 4 * 8 * 2 + 4 * 2 + 4 * 2 * 8);
    const two = new RoutingBlock({ method: NAME, width: 8, numExperts: 4, bottleneck: 2, mergedExperts: 2 });
    assert.deepEqual(Array.from(await two.forward(x).record.weights!.data()).slice(0, 4), [0.5, 0.5, 0, 0]);
    assert.throws(() => new RoutingBlock({ method: NAME, width: 8, numExperts: 4, mergedExperts: 5 }), /option mergedExperts: expected an integer in \[1, 4\], got 5/);
    block.dispose();
    two.dispose();
  });

  it('trains and tests in the ResNet-DomainNet mini setting', async () => {
    const dataRoot = path.join(tmp('um-dn-'), 'data');
    await generateMiniDomainNet(dataRoot, { trainPerDomain: 12, testPerDomain: 4 });
    const overrides = (runDir: string): ResNetRunOverrides & { method: string } => ({
      method: NAME,
      profile: 'mini',
      runDir,
      numExperts: 3,
      bottleneck: 2,
      data: { root: dataRoot, workers: 1 },
      model: { widths: [8, 8, 8, 16] },
      train: { batchSize: 8, evalBatchSize: 16, maxSteps: 3, evalEvery: 3, logEvery: 1 },
    });
    // A tiny backbone through the mini pretraining path, moved out of the repository's cache.
    const { ensureMiniBackbone } = await import('../../kernel-lib/settings/resnet/pretrain');
    const cached = await ensureMiniBackbone(resolveResNetConfig({ ...overrides(tmp('um-pre-')), model: { widths: [8, 8, 8, 16], pretrain: { steps: 2, batchSize: 8, lr: 1e-3 } } }), true);
    const backbone = path.join(path.dirname(dataRoot), 'backbone.safetensors');
    fs.copyFileSync(cached, backbone);
    fs.rmSync(cached);
    const runDir = path.join(tmp('um-resnet-'), 'run');
    const r = await trainResNet({ ...overrides(runDir), model: { widths: [8, 8, 8, 16], weights: backbone } }, { progress: { mode: 'none' } });
    assert.equal(r.result.status, 'completed');
    const results = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8'));
    assert.equal(results.method, NAME);
    assert.equal(results.configuration, 'Uniform merge');
    assert.ok(results.test.accuracy >= 0 && results.test.accuracy <= 1);
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).method, NAME);
    const train = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.split === 'train');
    assert.equal(train.length, 3);
    assert.ok(train.every((l) => Number.isFinite(l.loss) && Number.isFinite(l.ce) && l.ce === l.loss), 'the loss is the cross-entropy: no extra terms');
    assertUniformStats(path.join(runDir, 'routing-test.json'), 3, 'resnet');
    assert.equal(r.routing!.blocks.length, 8);
  });

  it('trains and tests in the T5-GLUE mini setting', async () => {
    const glue = path.join(tmp('um-glue-'), 'glue');
    generateMiniGlue(glue, { train: 16, validation: 8 });
    const runDir = path.join(tmp('um-t5-'), 'run');
    const overrides: T5RunOverrides & { method: string } = {
      method: NAME,
      profile: 'mini',
      runDir,
      numExperts: 4,
      bottleneck: 2,
      data: { root: glue, validationSize: 4, maxInputLength: 300 },
      // A random t5-test backbone (no pretraining): the method is what is tested here.
      model: { preset: 't5-test', overrides: { vocabSize: 260 }, pretrain: { steps: 0, batchSize: 0, lr: 0, length: 0, noiseDensity: 0, meanSpan: 0 } },
      train: { batchSize: 4, evalBatchSize: 16, maxSteps: 2, evalEvery: 2, logEvery: 1, maxValidExamples: 2, maxTestExamples: 1, warmupSteps: 1 },
    };
    const r = await trainT5(overrides, { progress: { mode: 'none' } });
    assert.equal(r.result.status, 'completed');
    const results = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8'));
    assert.equal(results.method, NAME);
    assert.ok(Number.isFinite(results.test.glue_average));
    const train = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.split === 'train');
    assert.equal(train.length, 2);
    assert.ok(train.every((l) => Number.isFinite(l.loss) && l.ce === l.loss), 'the loss is the label-smoothed CE: no extra terms');
    assertUniformStats(path.join(runDir, 'routing-test.json'), 4, 't5');
  });

  it('no file under kernel-lib names it', () => {
    const hits: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|js|md|json)$/.test(e.name)) {
          const text = fs.readFileSync(p, 'utf8');
          for (const n of [NAME, REFERENCE_NAME, 'Uniform merge', 'mergedExperts']) if (text.includes(n)) hits.push(`${path.relative(root, p)}: ${n}`);
        }
      }
    };
    walk(path.join(root, 'kernel-lib'));
    assert.deepEqual(hits, []);
  });
});
