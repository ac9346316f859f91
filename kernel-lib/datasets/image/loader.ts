/**
 * `ImageBatchLoader`: batches of decoded, augmented, normalised images (transforms.ts) produced on
 * worker threads (worker.ts) with `prefetch` batches in flight, so the compute thread does not
 * wait while the workers keep up.
 *
 *   const loader = new ImageBatchLoader(samples, { batchSize: 128, transform: { kind: 'train', size: 224 },
 *                                                  shuffle: true, seed: 42 });
 *   for await (const b of loader.epoch(epoch, startBatch)) { b.pixels  // [B,H,W,3] float32 … }
 *   await loader.close();
 *
 * Order. Epoch `e` visits `epochOrder(e)`: the identity, or when `shuffle` a Fisher–Yates shuffle
 * driven by `new Rng(deriveSeed(SHUFFLE_SEED_TAG, seed, e))`. Batch `k` is positions
 * [k·B, (k+1)·B) of that order, so `epoch(e, k)` resumes a run exactly where it stopped. Each
 * sample's augmentation uses `new Rng(sampleSeed(seed, e, index))`, so batches are identical
 * whatever the number of workers or their scheduling.
 *
 * Unreadable images. A sample that fails to read or decode is left out of its batch and reported
 * in `skipped` (`{ path, reason, index }`); the batch is then SMALLER (pixels/labels/domains/
 * indices hold only the decoded samples, in order). Batches are not refilled from later samples,
 * so batch boundaries stay a pure function of (seed, epoch) and resuming stays exact. A batch
 * whose samples all fail is still yielded, with zero samples — a trainer should skip it.
 *
 * Threads. Workers start on the first `epoch()` and are unref'd while idle, so a forgotten
 * `close()` does not keep the process alive; `close()` terminates them. Decoding runs through
 * sharp, whose work goes through libuv's process-wide thread pool (default 4 threads, shared by
 * every worker thread; measured: with a pool of 1, two concurrent sharp jobs run one after the
 * other): with more than 4 workers, start node with UV_THREADPOOL_SIZE ≥ workers (+ a few for the
 * main thread's file I/O). It must be in the environment when node starts — setting it from code
 * is too late under tsx, whose loader already started the pool. A one-time warning says so.
 * Workers call `sharp.cache(false)` (process-wide in libvips).
 *
 * Worker start-up works whether this file runs as TypeScript (tsx, or a tslab-style transpiling
 * require hook — the worker then registers tsx's CommonJS hook itself) or as transpiled .js next
 * to a transpiled worker.js (no tsx needed).
 */
import { Worker } from 'node:worker_threads';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../util/rng';
import { deriveSeed, sampleSeed, defaultEvalResize, type TransformSpec } from './transforms';
import type { WorkerBatchMessage, WorkerDoneMessage, WorkerInit } from './worker';

function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

let warnedThreadPool = false;

/** sharp's work goes through libuv's process-wide pool (default 4 threads): more workers than that wait on it. */
function warnSmallThreadPool(workers: number): void {
  const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  if (warnedThreadPool || workers <= pool || process.env.SMEAR_QUIET) return;
  warnedThreadPool = true;
  console.warn(
    `ImageBatchLoader: ${workers} workers but UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}: ` +
      `at most that many images decode at once. Start node with UV_THREADPOOL_SIZE=${workers + 4} (it must be set before node starts).`,
  );
}

export interface ImageSample {
  path: string;
  label: number;
  domain: number;
}

export interface ImageLoaderOptions {
  batchSize: number;
  transform: TransformSpec;
  shuffle: boolean;
  seed: number;
  /** Worker threads. Default max(1, cores − 1). */
  workers?: number;
  /** Batches in flight beyond the one being consumed. Default 2. */
  prefetch?: number;
  /** Drop the last, incomplete batch. Default false. */
  dropLast?: boolean;
}

export interface SkippedImage {
  path: string;
  reason: string;
  /** Sample index. */
  index: number;
}

export interface ImageBatch {
  /** [B, size, size, 3] normalised RGB, B = labels.length. Backed by a SharedArrayBuffer. */
  pixels: Float32Array;
  labels: Int32Array;
  domains: Int32Array;
  /** Sample indices (into the loader's samples). */
  indices: Int32Array;
  /** Position of this batch in the epoch. */
  batchIndex: number;
  /** Samples of this batch that could not be read (left out of the batch). */
  skipped: SkippedImage[];
}

/** Tag mixed into the epoch shuffle seed. */
export const SHUFFLE_SEED_TAG = 0x53485546; // 'SHUF'

/** Uniform in [0, 1) with 53 random bits (unbiased indices for large datasets). */
function uniform53(rng: Rng): number {
  return ((rng.nextUint32() >>> 5) * 67108864 + (rng.nextUint32() >>> 6)) / 9007199254740992;
}

/** The visiting order of an epoch: identity, or a seeded Fisher–Yates shuffle by (seed, epoch). */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) {
    const rng = new Rng(deriveSeed(SHUFFLE_SEED_TAG, seed, epoch));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(uniform53(rng) * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Worker pool
// ---------------------------------------------------------------------------------------------

const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.boot.tsx) require(workerData.boot.tsx);
require(workerData.boot.entry);
`;

function workerBoot(): { entry: string; tsx: string | null } {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `worker${ext}`);
  // Running as TypeScript: the worker thread starts without the parent's loader hooks, so it
  // registers tsx's CommonJS require hook before loading worker.ts.
  return { entry, tsx: ext === '.ts' ? require.resolve('tsx/cjs') : null };
}

interface PendingBatch {
  waiting: number;
  failures: { slot: number; reason: string }[];
  resolve: (failures: { slot: number; reason: string }[]) => void;
  reject: (e: Error) => void;
}

class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, PendingBatch>();
  private nextId = 0;
  private dead: Error | null = null;
  private closing = false;

  constructor(count: number, spec: TransformSpec) {
    const init: WorkerInit & { boot: { entry: string; tsx: string | null } } = { spec, boot: workerBoot() };
    for (let i = 0; i < count; i++) {
      const w = new Worker(BOOTSTRAP, { eval: true, workerData: init, execArgv: [] });
      w.on('message', (m: WorkerDoneMessage) => this.onDone(m));
      w.on('error', (e: Error) => this.fail(new Error(`image loader worker failed: ${e.message}`)));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`image loader worker exited unexpectedly (code ${code})`));
      });
      w.unref();
      this.workers.push(w);
    }
  }

  private onDone(m: WorkerDoneMessage): void {
    const p = this.pending.get(m.batchId);
    if (!p) return;
    for (const f of m.failures) p.failures.push(f);
    if (--p.waiting === 0) {
      this.pending.delete(m.batchId);
      this.updateRefs();
      p.resolve(p.failures.sort((a, b) => a.slot - b.slot));
    }
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
    for (const w of this.workers) void w.terminate();
  }

  private updateRefs(): void {
    const busy = this.pending.size > 0;
    for (const w of this.workers) {
      if (busy) w.ref();
      else w.unref();
    }
  }

  /** Runs one batch on every worker; resolves with the failed slots. */
  run(m: Omit<WorkerBatchMessage, 'type' | 'batchId'>): Promise<{ slot: number; reason: string }[]> {
    if (this.dead) return Promise.reject(this.dead);
    const batchId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(batchId, { waiting: this.workers.length, failures: [], resolve, reject });
      this.updateRefs();
      const msg: WorkerBatchMessage = { type: 'batch', batchId, ...m };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const e = new Error('image loader closed');
    if (!this.dead) this.dead = e;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------------

interface InFlight {
  promise: Promise<ImageBatch>;
  cancel: () => void;
}

export class ImageBatchLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly workers: number;
  readonly prefetch: number;
  readonly transform: TransformSpec;
  private readonly samples: readonly ImageSample[];
  private readonly shuffle: boolean;
  private readonly seed: number;
  private pool: WorkerPool | null = null;
  private closed = false;
  private cachedOrder: { epoch: number; order: Int32Array } | null = null;

  constructor(samples: readonly ImageSample[], options: ImageLoaderOptions) {
    const { batchSize, transform, shuffle, seed } = options;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`ImageBatchLoader: batchSize must be an integer >= 1, got ${batchSize}`);
    if (!Number.isInteger(seed)) throw new Error(`ImageBatchLoader: seed must be an integer, got ${seed}`);
    if (!transform || (transform.kind !== 'train' && transform.kind !== 'eval')) {
      throw new Error(`ImageBatchLoader: transform.kind must be 'train' or 'eval', got ${JSON.stringify(transform?.kind)}`);
    }
    if (!(Number.isInteger(transform.size) && transform.size >= 1)) throw new Error(`ImageBatchLoader: transform.size must be a positive integer, got ${transform.size}`);
    const workers = options.workers ?? Math.max(1, cores() - 1);
    if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`ImageBatchLoader: workers must be an integer >= 1, got ${workers}`);
    const prefetch = options.prefetch ?? 2;
    if (!(Number.isInteger(prefetch) && prefetch >= 0)) throw new Error(`ImageBatchLoader: prefetch must be an integer >= 0, got ${prefetch}`);
    samples.forEach((s, i) => {
      if (typeof s.path !== 'string' || !Number.isInteger(s.label) || !Number.isInteger(s.domain)) {
        throw new Error(`ImageBatchLoader: sample ${i} must be { path: string, label: int, domain: int }, got ${JSON.stringify(s)}`);
      }
    });
    this.samples = samples;
    this.batchSize = batchSize;
    this.transform = transform.kind === 'eval' ? { ...transform, resize: transform.resize ?? defaultEvalResize(transform.size) } : { ...transform };
    this.shuffle = shuffle;
    this.seed = seed;
    this.workers = workers;
    this.prefetch = prefetch;
    this.batchesPerEpoch = options.dropLast ? Math.floor(samples.length / batchSize) : Math.ceil(samples.length / batchSize);
  }

  get size(): number {
    return this.samples.length;
  }

  /** The epoch's visiting order (sample indices). */
  epochOrder(epoch: number): Int32Array {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`ImageBatchLoader: epoch must be an integer >= 0, got ${epoch}`);
    if (this.cachedOrder?.epoch !== epoch) {
      this.cachedOrder = { epoch, order: epochOrder(this.samples.length, this.shuffle, this.seed, epoch) };
    }
    return this.cachedOrder.order;
  }

  /** Batches `startBatch …` of epoch `epoch`, in order. Breaking out of the loop cancels the prefetched work. */
  epoch(epoch: number, startBatch = 0): AsyncIterable<ImageBatch> {
    if (this.closed) throw new Error('ImageBatchLoader: closed');
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`ImageBatchLoader: epoch must be an integer >= 0, got ${epoch}`);
    if (!(Number.isInteger(startBatch) && startBatch >= 0 && startBatch <= this.batchesPerEpoch)) {
      throw new Error(`ImageBatchLoader: startBatch must be an integer in [0, ${this.batchesPerEpoch}], got ${startBatch}`);
    }
    return this.iterate(epoch, startBatch);
  }

  private async *iterate(epoch: number, startBatch: number): AsyncGenerator<ImageBatch> {
    const order = this.epochOrder(epoch);
    const inFlight = new Map<number, InFlight>();
    let submitted = startBatch;
    try {
      for (let b = startBatch; b < this.batchesPerEpoch; b++) {
        const upTo = Math.min(this.batchesPerEpoch, b + 1 + this.prefetch);
        while (submitted < upTo) {
          inFlight.set(submitted, this.submit(order, epoch, submitted));
          submitted++;
        }
        const job = inFlight.get(b) as InFlight;
        inFlight.delete(b);
        yield await job.promise;
      }
    } finally {
      for (const job of inFlight.values()) job.cancel();
    }
  }

  private ensurePool(): WorkerPool {
    if (this.closed) throw new Error('ImageBatchLoader: closed');
    if (!this.pool) {
      warnSmallThreadPool(this.workers);
      this.pool = new WorkerPool(this.workers, this.transform);
    }
    return this.pool;
  }

  private submit(order: Int32Array, epoch: number, batchIndex: number): InFlight {
    const start = batchIndex * this.batchSize;
    const idx = order.slice(start, Math.min(order.length, start + this.batchSize));
    const n = idx.length;
    const per = this.transform.size * this.transform.size * 3;
    const pixels = new SharedArrayBuffer(n * per * 4);
    const counter = new SharedArrayBuffer(4);
    const paths = Array.from(idx, (i) => this.samples[i].path);
    const seeds = new Uint32Array(n);
    for (let k = 0; k < n; k++) seeds[k] = sampleSeed(this.seed, epoch, idx[k]);
    const promise = this.ensurePool()
      .run({ paths, seeds, pixels, counter })
      .then((failures) => this.assemble(batchIndex, idx, pixels, per, failures));
    promise.catch(() => undefined); // a prefetched batch may fail while nobody awaits it yet
    return { promise, cancel: () => Atomics.store(new Int32Array(counter), 0, n) };
  }

  private assemble(
    batchIndex: number,
    idx: Int32Array,
    buffer: SharedArrayBuffer,
    per: number,
    failures: { slot: number; reason: string }[],
  ): ImageBatch {
    const failed = new Set(failures.map((f) => f.slot));
    const keep: number[] = [];
    for (let k = 0; k < idx.length; k++) if (!failed.has(k)) keep.push(k);
    let pixels = new Float32Array(buffer);
    if (keep.length < idx.length) {
      keep.forEach((slot, to) => {
        if (slot !== to) pixels.copyWithin(to * per, slot * per, (slot + 1) * per);
      });
      pixels = new Float32Array(buffer, 0, keep.length * per);
    }
    const indices = Int32Array.from(keep, (k) => idx[k]);
    return {
      pixels,
      labels: Int32Array.from(indices, (i) => this.samples[i].label),
      domains: Int32Array.from(indices, (i) => this.samples[i].domain),
      indices,
      batchIndex,
      skipped: failures.map((f) => ({ path: this.samples[idx[f.slot]].path, reason: f.reason, index: idx[f.slot] })),
    };
  }

  /** Terminates the worker threads. The loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }
}
