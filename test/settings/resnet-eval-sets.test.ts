/**
 * Evaluation sets are exact (issue 12, item 2), on a tiny mini DomainNet: an
 * unreadable validation or test image stops the run before training, naming
 * the file and its list line, and nothing is written; with
 * skipBadEvalImages (--skip-bad-eval-images) the run evaluates without them
 * and names them in results.json, results.md and the log; unreadable
 * training images are named (path, list:line) when first met and totalled in
 * results.json.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../kernel-lib';
import { generateMiniDomainNet } from '../../kernel-lib/datasets/mini-domainnet/generate';
import { loadDomainNetSplit } from '../../kernel-lib/datasets/domainnet/reader';
import { trainResNet } from '../../kernel-lib/settings/resnet/run';
import { EvalBatches } from '../../kernel-lib/settings/resnet/data';
import { renderResults, type ReproductionRow } from '../../kernel-lib/settings/resnet/reproduce';
import { resolveResNetConfig, type ResNetRunOverrides } from '../../kernel-lib/settings/resnet/config';

const dirs: string[] = [];
const tmp = (p: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), p));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let pristine = '';
let backbone = '';

function tiny(root: string, runDir: string, data: Partial<ResNetRunOverrides['data']> = {}): ResNetRunOverrides & { method: string } {
  return {
    method: 'smear',
    profile: 'mini',
    runDir,
    numExperts: 3,
    bottleneck: 2,
    data: { root, workers: 1, ...data },
    model: { widths: [8, 8, 8, 16], weights: backbone },
    train: { batchSize: 8, evalBatchSize: 16, maxSteps: 6, evalEvery: 3, logEvery: 1 },
  };
}

/** A copy of the tiny data set, with its folds made. */
function dataCopy(): string {
  const root = path.join(tmp('evalsets-data-'), 'data');
  fs.cpSync(pristine, root, { recursive: true });
  return root;
}

async function captureStderr<T>(f: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
  try {
    return { value: await f(), stderr: lines.join('') };
  } finally {
    process.stderr.write = write;
  }
}

describe('evaluation sets are exact (ResNet)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    pristine = path.join(tmp('evalsets-pristine-'), 'data');
    await generateMiniDomainNet(pristine, { trainPerDomain: 20, testPerDomain: 6 });
    loadDomainNetSplit(pristine, 'valid', { numClasses: 10 }); // the folds, in the copies too
    const { ensureMiniBackbone } = await import('../../kernel-lib/settings/resnet/pretrain');
    const cfg = resolveResNetConfig({ ...tiny(pristine, tmp('evalsets-pre-')), model: { widths: [8, 8, 8, 16], pretrain: { steps: 2, batchSize: 8, lr: 1e-3 } } });
    const made = await ensureMiniBackbone(cfg, true);
    backbone = path.join(path.dirname(pristine), 'backbone.safetensors');
    fs.copyFileSync(made, backbone);
    fs.rmSync(made);
  });

  it('an unreadable validation and a cut-short test image stop the run before training, naming file and list line; nothing is written', async () => {
    const root = dataCopy();
    const v = loadDomainNetSplit(root, 'valid', { numClasses: 10 })[0];
    const t = loadDomainNetSplit(root, 'test', { numClasses: 10 })[2];
    fs.writeFileSync(v.path, 'not an image');
    fs.writeFileSync(t.path, fs.readFileSync(t.path).subarray(0, 40));
    const parent = tmp('evalsets-run-');
    const run = path.join(parent, 'run');
    await assert.rejects(trainResNet(tiny(root, run), { progress: { mode: 'none' } }), (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          '^evaluation sets are used whole, but 2 examples cannot be read \\(valid 1, test 1\\); nothing was trained:\\n' +
            `  valid: ${esc(v.path)} \\(${esc(v.list!)}:${v.line}\\): .+\\n` +
            `  test: ${esc(t.path)} \\(${esc(t.list!)}:${t.line}\\): .+\\n` +
            'Fix or remove those images \\(or their list lines\\), or pass --skip-bad-eval-images \\(option data\\.skipBadEvalImages\\) to evaluate without them',
        ),
      );
      return true;
    });
    assert.deepEqual(fs.readdirSync(parent), [], 'no run folder was made');
  });

  it('with --skip-bad-eval-images the run evaluates without them and names them in results.json, results.md and the log', async () => {
    const root = dataCopy();
    const testSet = loadDomainNetSplit(root, 'test', { numClasses: 10 });
    const t = testSet[1];
    fs.writeFileSync(t.path, 'not an image');
    const run = path.join(tmp('evalsets-skip-'), 'run');
    const { value: r, stderr } = await captureStderr(() => trainResNet(tiny(root, run, { skipBadEvalImages: true }), { progress: { mode: 'none' } }));
    assert.equal(r.result.status, 'completed');
    assert.match(stderr, new RegExp(`--skip-bad-eval-images: the test set is used without ${esc(t.path)} \\(${esc(t.list!)}:${t.line}\\): `));
    const results = JSON.parse(fs.readFileSync(path.join(run, 'results.json'), 'utf8'));
    assert.equal(results.test.examples, testSet.length - 1);
    assert.equal(results.skipped_images.test.images, 1);
    assert.deepEqual({ ...results.skipped_images.test.list[0], reason: 'x' }, { path: t.path, list: t.list, line: t.line, reason: 'x' });
    assert.equal(results.skipped_images.valid.images, 0);
    assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).data.skipBadEvalImages, true);
    const row = { label: 'smear', method: 'smear', configuration: 'SMEAR', accuracy: 0.5, perDomain: {}, stepsPerSecond: 1, trainableParameters: 1, runDir: run, reused: false, skippedImages: results.skipped_images } as ReproductionRow;
    const md = renderResults([row], 'mini', 1);
    assert.match(md, /## Skipped images\n/);
    assert.match(md, /- smear: training 0, validation 0, test 1\n/);
    assert.ok(md.includes(`  - test: \`${t.path} (${t.list}:${t.line}): `), md);
    // Without the option, a folder's configuration says it was not asked for (older run folders compare equal).
    assert.equal('skipBadEvalImages' in resolveResNetConfig(tiny(root, run)).data, false);
  });

  it('an image that becomes unreadable during the run stops the evaluation naming it (or, skipping, is recorded once)', async () => {
    const root = dataCopy();
    const test = loadDomainNetSplit(root, 'test', { numClasses: 10 }).slice(0, 4);
    fs.writeFileSync(test[3].path, 'not an image');
    const opts = { batchSize: 2, size: 32, resize: 32, seed: 1, workers: 1, numExperts: 3 };
    const strict = new EvalBatches(test, 'test', opts);
    await assert.rejects(
      (async () => {
        for await (const b of strict.batches()) b.pixels.dispose();
      })(),
      new RegExp(`^Error: evaluation sets are used whole, but 1 example cannot be read \\(valid 0, test 1\\); the evaluation stopped:\\n  test: ${esc(test[3].path)} \\(${esc(test[3].list!)}:${test[3].line}\\): `),
    );
    await strict.close();
    const policy = { skip: true, skipped: new Map() };
    for (let pass = 0; pass < 2; pass++) {
      const lenient = new EvalBatches(test, 'test', opts, policy);
      let n = 0;
      await captureStderr(async () => {
        for await (const b of lenient.batches()) (n += b.labels.length), b.pixels.dispose();
      });
      await lenient.close();
      assert.equal(n, 3);
    }
    assert.deepEqual([...policy.skipped.keys()], [test[3].path]);
  });

  it('unreadable training images are named (path, list:line) when first met and totalled in results.json', async () => {
    const root = dataCopy();
    const train = loadDomainNetSplit(root, 'train', { numClasses: 10 });
    for (const s of train.slice(0, 20)) fs.writeFileSync(s.path, 'not an image'); // 20 of the 96
    const run = path.join(tmp('evalsets-train-'), 'run');
    const { value: r, stderr } = await captureStderr(() => trainResNet(tiny(root, run), { progress: { mode: 'none' } }));
    assert.equal(r.result.status, 'completed');
    const results = JSON.parse(fs.readFileSync(path.join(run, 'results.json'), 'utf8'));
    const skipped = results.skipped_images.train;
    assert.ok(skipped.images > 5, `${skipped.images} images skipped`);
    assert.equal(skipped.list.length, skipped.images);
    assert.equal(skipped.since_step, 0);
    const named = stderr.split('\n').filter((l) => l.includes('skipped an unreadable training image'));
    assert.equal(named.length, 5, stderr);
    const first = skipped.list[0];
    assert.ok(train.some((s) => s.path === first.path && s.list === first.list && s.line === first.line));
    assert.match(named[0], new RegExp(`^\\[smear\\] step \\d+: skipped an unreadable training image: ${esc(first.path)} \\(${esc(first.list)}:${first.line}\\): `));
    assert.match(stderr, /further unreadable training images are counted, not named here; results\.json lists them all/);
    assert.match(stderr, new RegExp(`${skipped.images} unreadable training images were skipped \\(${skipped.skips} times\\); results\\.json names them`));
  });
});
