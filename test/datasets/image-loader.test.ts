/**
 * kernel-lib/datasets/image/loader.ts: ImageBatchLoader on worker threads — the epoch order, the
 * same batches whatever the number of workers, resuming from a batch, skipping unreadable files,
 * closing without leaving the process hanging, and starting its workers whether the parent runs
 * under tsx, under a tsx-free transpiling require hook (tslab), or as transpiled .js.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import ts from 'typescript';
import { ImageBatchLoader, epochOrder, type ImageBatch, type ImageSample } from '../../kernel-lib/datasets/image/loader';
import { sampleSeed, transformImage } from '../../kernel-lib/datasets/image/transforms';
import { Rng } from '../../kernel-lib/util/rng';

const root = path.resolve(__dirname, '..', '..');
let dir = '';
let samples: ImageSample[] = [];
const CORRUPT = 7;
const MISSING = 12;
const N = 23;

/** Random-ish images of varied sizes, JPEG and PNG, grey and RGB; one corrupt file, one missing. */
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-image-loader-'));
  const rng = new Rng(5);
  samples = [];
  for (let i = 0; i < N; i++) {
    const width = 40 + ((i * 37) % 90);
    const height = 36 + ((i * 53) % 70);
    const channels = i % 5 === 4 ? 1 : 3;
    const raw = Buffer.from(rng.uniformInt(width * height * channels, 256));
    const file = path.join(dir, `img${i}.${i % 2 ? 'png' : 'jpg'}`);
    if (i === CORRUPT) fs.writeFileSync(file, Buffer.from('this is not an image'));
    else if (i !== MISSING) {
      const img = sharp(raw, { raw: { width, height, channels: channels as 1 | 3 } });
      await (i % 2 ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
    }
    samples.push({ path: file, label: i % 4, domain: i % 3 });
  }
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of it) out.push({ ...b, pixels: Float32Array.from(b.pixels) });
  return out;
}

function summary(batches: ImageBatch[]): unknown {
  return batches.map((b) => ({
    batchIndex: b.batchIndex,
    indices: Array.from(b.indices),
    labels: Array.from(b.labels),
    domains: Array.from(b.domains),
    skipped: b.skipped.map((s) => s.index),
    pixels: createHash('sha256').update(Buffer.from(b.pixels.buffer, b.pixels.byteOffset, b.pixels.byteLength)).digest('hex'),
  }));
}

test('epochOrder: identity without shuffle, a seeded permutation per epoch with it', () => {
  assert.deepEqual(Array.from(epochOrder(5, false, 1, 3)), [0, 1, 2, 3, 4]);
  const a = epochOrder(1000, true, 42, 0);
  assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(epochOrder(1000, true, 42, 0), a);
  assert.notDeepEqual(epochOrder(1000, true, 42, 1), a);
  assert.notDeepEqual(epochOrder(1000, true, 43, 0), a);
  assert.deepEqual(Array.from(epochOrder(10, true, 42, 0)), [6, 3, 7, 9, 8, 5, 0, 4, 1, 2]);
});

test('batchesPerEpoch with and without dropLast; options are validated', () => {
  const t = { kind: 'eval' as const, size: 8 };
  assert.equal(new ImageBatchLoader(samples, { batchSize: 5, transform: t, shuffle: false, seed: 0 }).batchesPerEpoch, 5);
  assert.equal(new ImageBatchLoader(samples, { batchSize: 5, transform: t, shuffle: false, seed: 0, dropLast: true }).batchesPerEpoch, 4);
  assert.throws(() => new ImageBatchLoader(samples, { batchSize: 0, transform: t, shuffle: false, seed: 0 }));
  assert.throws(() => new ImageBatchLoader(samples, { batchSize: 2, transform: { kind: 'test' as 'eval', size: 8 }, shuffle: false, seed: 0 }));
  assert.throws(() => new ImageBatchLoader([{ path: 'x', label: 0.5, domain: 0 }], { batchSize: 2, transform: t, shuffle: false, seed: 0 }));
  const l = new ImageBatchLoader(samples, { batchSize: 5, transform: t, shuffle: false, seed: 0 });
  assert.throws(() => l.epoch(0, 6), /startBatch/);
  assert.throws(() => l.epoch(-1), /epoch/);
});

test('train batches: the same with 1 and 2 workers, equal to the single-image transform with the per-sample seed; corrupt and missing files skipped', async () => {
  const opts = { batchSize: 5, transform: { kind: 'train' as const, size: 24 }, shuffle: true, seed: 11 };
  const one = new ImageBatchLoader(samples, { ...opts, workers: 1 });
  const two = new ImageBatchLoader(samples, { ...opts, workers: 2, prefetch: 1 });
  try {
    const a = await collect(one.epoch(2));
    const b = await collect(two.epoch(2));
    assert.deepEqual(summary(a), summary(b));

    // Every sample appears once, in the epoch's order, minus the unreadable two.
    const order = Array.from(epochOrder(N, true, 11, 2));
    assert.deepEqual(a.flatMap((x) => Array.from(x.indices)), order.filter((i) => i !== CORRUPT && i !== MISSING));
    assert.deepEqual(a.map((x) => x.batchIndex), [0, 1, 2, 3, 4]);
    const skipped = a.flatMap((x) => x.skipped);
    assert.deepEqual(skipped.map((s) => s.index).sort((x, y) => x - y), [CORRUPT, MISSING]);
    for (const s of skipped) {
      assert.equal(s.path, samples[s.index].path);
      assert.ok(s.reason.length > 0);
    }
    assert.match(skipped.find((s) => s.index === MISSING)!.reason, /ENOENT/);
    // The batch holding a bad sample is smaller, not refilled.
    for (const x of a) {
      const bad = order.slice(x.batchIndex * 5, x.batchIndex * 5 + 5).filter((i) => i === CORRUPT || i === MISSING).length;
      const expected = Math.min(5, N - x.batchIndex * 5) - bad;
      assert.equal(x.labels.length, expected);
      assert.equal(x.pixels.length, expected * 24 * 24 * 3);
      assert.deepEqual(Array.from(x.labels), Array.from(x.indices, (i) => samples[i].label));
      assert.deepEqual(Array.from(x.domains), Array.from(x.indices, (i) => samples[i].domain));
    }

    // Pixels are exactly what the main-thread transform gives with the per-sample generator.
    const per = 24 * 24 * 3;
    for (const x of [a[0], a[a.length - 1]]) {
      for (let k = 0; k < x.indices.length; k++) {
        const i = x.indices[k];
        const ref = await transformImage(samples[i].path, opts.transform, new Rng(sampleSeed(11, 2, i)));
        assert.deepEqual(x.pixels.subarray(k * per, (k + 1) * per), ref.pixels, `sample ${i}`);
      }
    }

    // Another epoch: another order and other augmentations of the same images.
    const c = await collect(one.epoch(3));
    assert.notDeepEqual(summary(c), summary(a));
  } finally {
    await one.close();
    await two.close();
  }
});

test('resuming with startBatch gives the tail of the full epoch', async () => {
  const loader = new ImageBatchLoader(samples, { batchSize: 4, transform: { kind: 'train', size: 16 }, shuffle: true, seed: 3, workers: 2 });
  try {
    const full = await collect(loader.epoch(1));
    const tail = await collect(loader.epoch(1, 3));
    assert.equal(full.length, loader.batchesPerEpoch);
    assert.deepEqual(tail.map((b) => b.batchIndex), [3, 4, 5]);
    assert.deepEqual(summary(tail), summary(full.slice(3)));
    assert.deepEqual(await collect(loader.epoch(1, loader.batchesPerEpoch)), []);
  } finally {
    await loader.close();
  }
});

test('eval batches without shuffle are in sample order and deterministic; breaking early and starting again works', async () => {
  const loader = new ImageBatchLoader(samples, { batchSize: 6, transform: { kind: 'eval', size: 20 }, shuffle: false, seed: 0, workers: 2, dropLast: true });
  try {
    const a = await collect(loader.epoch(0));
    assert.equal(a.length, 3);
    assert.deepEqual(Array.from(a[0].indices), [0, 1, 2, 3, 4, 5]);
    const ref = await transformImage(samples[4].path, { kind: 'eval', size: 20 }, null);
    assert.deepEqual(a[0].pixels.subarray(4 * 1200, 5 * 1200), ref.pixels);
    for await (const b of loader.epoch(5)) {
      assert.equal(b.batchIndex, 0);
      break; // cancels the prefetched batches
    }
    assert.deepEqual(summary(await collect(loader.epoch(7))), summary(a), 'eval output does not depend on the epoch');
  } finally {
    await loader.close();
  }
  assert.throws(() => loader.epoch(0), /closed/);
});

test('prefetching: batches are decoded while the consumer blocks the main thread synchronously', async () => {
  // Large JPEGs so that decoding a batch takes tens of milliseconds.
  const big: ImageSample[] = [];
  const noise = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg()
    .toBuffer();
  for (let i = 0; i < 9; i++) {
    const file = path.join(dir, `big${i}.jpg`);
    fs.writeFileSync(file, noise);
    big.push({ path: file, label: 0, domain: 0 });
  }
  /** Milliseconds the consumer waited for each batch, with a 400 ms synchronous "training step" per batch. */
  async function waits(prefetch: number): Promise<number[]> {
    const loader = new ImageBatchLoader(big, { batchSize: 3, transform: { kind: 'train', size: 24 }, shuffle: true, seed: 9, workers: 1, prefetch });
    try {
      const out: number[] = [];
      let t = Date.now();
      for await (const _b of loader.epoch(0)) {
        out.push(Date.now() - t);
        const end = Date.now() + 400;
        while (Date.now() < end) {
          /* busy: the main thread's event loop is blocked */
        }
        t = Date.now();
      }
      return out;
    } finally {
      await loader.close();
    }
  }
  const none = await waits(0);
  const two = await waits(2);
  assert.equal(two.length, 3);
  // Without prefetch every batch is decoded after the consumer asks; with it, batch 1 was decoded
  // during the first blocking step (the workers claim samples without the main thread). (Only
  // batch 1 is asserted: under heavy CPU contention batch 2 may not be finished in time.)
  assert.ok(two[1] < none[1] / 2, `waits without prefetch ${none.join(', ')} ms, with ${two.join(', ')} ms`);
});

/** Runs `script` in a fresh node (no tsx preloaded), returns stdout; fails on a non-zero exit or a hang. */
function runNode(script: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  assert.equal(r.error, undefined, `child did not finish: ${r.error}`);
  assert.equal(r.status, 0, `child failed (${r.status}, ${r.signal}):\n${r.stderr}`);
  return r.stdout;
}

/** Child-process body: one train epoch with 2 workers, printed as JSON summaries. */
function epochScript(loaderPath: string, closeIt: boolean): string {
  return `
const { createHash } = require('crypto');
const { ImageBatchLoader } = require(${JSON.stringify(loaderPath)});
const samples = ${JSON.stringify(samples)};
(async () => {
  const loader = new ImageBatchLoader(samples, { batchSize: 5, transform: { kind: 'train', size: 24 }, shuffle: true, seed: 11, workers: 2 });
  const out = [];
  for await (const b of loader.epoch(2)) out.push({ batchIndex: b.batchIndex, indices: Array.from(b.indices), labels: Array.from(b.labels),
    domains: Array.from(b.domains), skipped: b.skipped.map((s) => s.index),
    pixels: createHash('sha256').update(Buffer.from(b.pixels.buffer, b.pixels.byteOffset, b.pixels.byteLength)).digest('hex') });
  ${closeIt ? 'await loader.close();' : '/* no close(): idle workers are unref\'d, the process must still exit */'}
  process.stdout.write(JSON.stringify({ out, tsx: Object.keys(require.cache).some((k) => k.includes('node_modules/tsx')) }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
}

async function inProcessReference(): Promise<unknown> {
  const loader = new ImageBatchLoader(samples, { batchSize: 5, transform: { kind: 'train', size: 24 }, shuffle: true, seed: 11, workers: 1 });
  try {
    return summary(await collect(loader.epoch(2)));
  } finally {
    await loader.close();
  }
}

test('workers start when the parent is loaded by a tsx-free transpiling require hook (as tslab does); the process exits without close()', async () => {
  const hook = `
const ts = require('typescript');
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true }, fileName: filename });
  module._compile(out.outputText, filename);
};`;
  const loaderTs = path.join(root, 'kernel-lib', 'datasets', 'image', 'loader.ts');
  const got = JSON.parse(runNode(hook + epochScript(loaderTs, false)));
  assert.equal(got.tsx, false, 'the parent must not have tsx loaded');
  assert.deepEqual(got.out, await inProcessReference());
});

test('workers start from transpiled .js (plain CommonJS require, no tsx anywhere), with the same batches', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-image-cjs-'));
  try {
    const files = ['kernel-lib/util/rng.ts', 'kernel-lib/datasets/image/transforms.ts', 'kernel-lib/datasets/image/worker.ts', 'kernel-lib/datasets/image/loader.ts'];
    for (const f of files) {
      const js = ts.transpileModule(fs.readFileSync(path.join(root, f), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true },
        fileName: f,
      }).outputText;
      const dest = path.join(out, f.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, js);
    }
    const loaderJs = path.join(out, 'kernel-lib', 'datasets', 'image', 'loader.js');
    // Outside the repository: sharp is found through NODE_PATH; tsx cannot be loaded at all.
    const got = JSON.parse(runNode(epochScript(loaderJs, true), { NODE_PATH: path.join(root, 'node_modules') }));
    assert.equal(got.tsx, false);
    assert.deepEqual(got.out, await inProcessReference());
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('a process that breaks out of an epoch mid-way and closes the loader exits promptly', () => {
  const loaderTs = path.join(root, 'kernel-lib', 'datasets', 'image', 'loader.ts');
  const script = `
require('tsx/cjs');
const { ImageBatchLoader } = require(${JSON.stringify(loaderTs)});
const samples = ${JSON.stringify(samples)};
(async () => {
  const loader = new ImageBatchLoader(samples, { batchSize: 2, transform: { kind: 'train', size: 16 }, shuffle: true, seed: 1, workers: 2, prefetch: 3 });
  let n = 0;
  for await (const b of loader.epoch(0)) { if (++n === 2) break; }
  await loader.close();
  process.stdout.write('ok ' + n);
})().catch((e) => { console.error(e); process.exit(1); });
`;
  const t0 = Date.now();
  assert.equal(runNode(script), 'ok 2');
  assert.ok(Date.now() - t0 < 30_000);
});
