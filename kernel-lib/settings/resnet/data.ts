/**
 * DomainNet batches for the ResNet setting: the image loader's batches as
 * tensors, with domain ids (tags) and the reference's hash labels.
 *
 * Hash labels (kernel-lib/docs/reference-code.md#hash-labels): the reference draws `np.random.randint(N, size=16)`
 * per example when a dataset is built (16 columns, the 8 routing blocks read
 * columns 0..7) and keeps them for the dataset's life; train, validation and
 * test each get their own. Here they are drawn from a generator seeded by
 * (seed, split), so they are fixed per example and reproducible.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../util/rng';
import { ImageBatchLoader, type ImageSample, type SkippedImage } from '../../datasets/image/loader';
import type { TransformSpec } from '../../datasets/image/transforms';
import type { BatchSource } from '../../train/trainer';

/** Columns of hash labels per example, as the reference (`all_routers = 16`). */
export const HASH_COLUMNS = 16;

const SPLIT_TAG: Record<string, number> = { train: 1, valid: 2, test: 3 };

export function hashLabels(numExamples: number, numExperts: number, seed: number, split: 'train' | 'valid' | 'test'): Int32Array {
  return new Rng(seed * 7919 + SPLIT_TAG[split]).uniformInt(numExamples * HASH_COLUMNS, numExperts);
}

/** A sample with where it came from (DomainNet samples carry their list file and line). */
export type ListedSample = ImageSample & { list?: string; line?: number };

/** An unreadable image, named for people: its path, list file and line, and why. */
export interface NamedSkip {
  path: string;
  list?: string;
  line?: number;
  reason: string;
}

/** "…/clipart/3/x.png (…/clipart_test.txt:4): <reason>" */
export function formatSkip(s: NamedSkip): string {
  return `${s.path}${s.list ? ` (${s.list}${s.line !== undefined ? `:${s.line}` : ''})` : ''}: ${s.reason}`;
}

function named(samples: readonly ListedSample[], s: SkippedImage): NamedSkip {
  const x = samples[s.index];
  return { path: s.path, ...(x?.list ? { list: x.list } : {}), ...(x?.line !== undefined ? { line: x.line } : {}), reason: s.reason };
}

/** Training images named when first skipped (the rest are counted). */
export const NAMED_TRAIN_SKIPS = 5;

export interface ResNetBatch {
  pixels: tf.Tensor4D; // [B,H,W,3] NHWC, normalised
  labels: Int32Array; // [B]
  domains: Int32Array; // [B] domain ids (tags)
  hash: Int32Array; // [B·16] row-major
  skipped: number;
}

function toBatch(b: { pixels: Float32Array; labels: Int32Array; domains: Int32Array; indices: Int32Array; skipped: unknown[] }, size: number, hash: Int32Array): ResNetBatch {
  const n = b.labels.length;
  const h = new Int32Array(n * HASH_COLUMNS);
  b.indices.forEach((idx, i) => h.set(hash.subarray(idx * HASH_COLUMNS, (idx + 1) * HASH_COLUMNS), i * HASH_COLUMNS));
  return {
    pixels: tf.tensor4d(new Float32Array(b.pixels.subarray(0, n * size * size * 3)), [n, size, size, 3]),
    labels: b.labels,
    domains: b.domains,
    hash: h,
    skipped: b.skipped.length,
  };
}

/** An endless, step-addressable stream of training batches (shuffled per epoch, last partial batch dropped). */
export class TrainBatches implements BatchSource<ResNetBatch> {
  private readonly loader: ImageBatchLoader;
  private readonly hash: Int32Array;
  /** Skips of unreadable training images in this session (an image skipped in two epochs counts twice). */
  skippedImages = 0;
  /** The distinct unreadable training images, in the order they were met; the first NAMED_TRAIN_SKIPS are named on stderr when met. */
  readonly skipped = new Map<string, NamedSkip & { count: number; firstStep: number }>();

  constructor(
    private readonly samples: readonly ListedSample[],
    opts: { batchSize: number; size: number; seed: number; workers: number; numExperts: number; cropScale?: [number, number]; log?: (line: string) => void },
  ) {
    this.log = opts.log ?? ((l) => process.stderr.write(`[smear] ${l}\n`));
    if (samples.length < opts.batchSize) {
      throw new Error(`training split has ${samples.length} images, fewer than one batch of ${opts.batchSize}`);
    }
    this.loader = new ImageBatchLoader(samples, {
      batchSize: opts.batchSize,
      transform: { kind: 'train', size: opts.size, ...(opts.cropScale ? { scale: opts.cropScale } : {}) } as TransformSpec,
      shuffle: true,
      seed: opts.seed,
      workers: opts.workers,
      dropLast: true,
    });
    this.hash = hashLabels(samples.length, opts.numExperts, opts.seed, 'train');
  }

  private readonly log: (line: string) => void;

  get batchesPerEpoch(): number {
    return this.loader.batchesPerEpoch;
  }

  private noteSkips(b: { skipped: SkippedImage[] }, step: number): void {
    for (const s of b.skipped) {
      this.skippedImages += 1;
      const seen = this.skipped.get(s.path);
      if (seen) {
        seen.count += 1;
        continue;
      }
      const n = named(this.samples, s);
      this.skipped.set(s.path, { ...n, count: 1, firstStep: step });
      if (this.skipped.size <= NAMED_TRAIN_SKIPS) this.log(`step ${step}: skipped an unreadable training image: ${formatSkip(n)}`);
      if (this.skipped.size === NAMED_TRAIN_SKIPS) this.log(`further unreadable training images are counted, not named here; results.json lists them all`);
    }
  }

  async *iterate(startStep: number): AsyncGenerator<ResNetBatch> {
    const per = this.loader.batchesPerEpoch;
    const size = this.loader.transform.size;
    for (let epoch = Math.floor(startStep / per), start = startStep % per; ; epoch++, start = 0) {
      for await (const b of this.loader.epoch(epoch, start)) {
        this.noteSkips(b, epoch * per + b.batchIndex);
        if (b.labels.length === 0) continue;
        yield toBatch(b, size, this.hash);
      }
    }
  }

  disposeBatch(b: ResNetBatch): void {
    b.pixels.dispose();
  }

  async close(): Promise<void> {
    await this.loader.close();
  }
}

/**
 * Evaluation sets are used whole: an example that cannot be read is an Error naming its
 * file and list line, unless the run skips them (`skip`), when each is recorded once.
 */
export interface EvalSkipPolicy {
  skip: boolean;
  /** Unreadable examples met, by path. */
  skipped: Map<string, NamedSkip>;
}

/** The error for unreadable evaluation examples, naming each (the first 20) and the ways on. */
export function unreadableEvalError(bad: { split: string; skip: NamedSkip }[], when: string): Error {
  const per = ['valid', 'test'].map((s) => `${s} ${bad.filter((b) => b.split === s).length}`).join(', ');
  const lines = bad.slice(0, 20).map((b) => `  ${b.split}: ${formatSkip(b.skip)}`);
  if (bad.length > 20) lines.push(`  … ${bad.length - 20} more`);
  return new Error(
    `evaluation sets are used whole, but ${bad.length} example${bad.length === 1 ? '' : 's'} cannot be read (${per}); ${when}:\n${lines.join('\n')}\n` +
      'Fix or remove those images (or their list lines), or pass --skip-bad-eval-images (option data.skipBadEvalImages) to evaluate without them: ' +
      'they are then counted and named in results.json, results.md and the log.',
  );
}

/** One pass over an evaluation split, in order, with the eval transform. */
export class EvalBatches {
  private readonly loader: ImageBatchLoader;
  private readonly hash: Int32Array;

  constructor(
    readonly samples: readonly ListedSample[],
    readonly split: 'valid' | 'test',
    opts: { batchSize: number; size: number; resize: number; seed: number; workers: number; numExperts: number },
    private readonly policy: EvalSkipPolicy = { skip: false, skipped: new Map() },
  ) {
    this.loader = new ImageBatchLoader(samples, {
      batchSize: opts.batchSize,
      transform: { kind: 'eval', size: opts.size, resize: opts.resize } as TransformSpec,
      shuffle: false,
      seed: opts.seed,
      workers: opts.workers,
    });
    this.hash = hashLabels(samples.length, opts.numExperts, opts.seed, split);
  }

  async *batches(): AsyncGenerator<ResNetBatch> {
    for await (const b of this.loader.epoch(0)) {
      if (b.skipped.length > 0) {
        const bad = b.skipped.map((s) => named(this.samples, s));
        if (!this.policy.skip) throw unreadableEvalError(bad.map((skip) => ({ split: this.split, skip })), 'the evaluation stopped');
        for (const s of bad) {
          if (!this.policy.skipped.has(s.path)) process.stderr.write(`[smear] --skip-bad-eval-images: the ${this.split} evaluation left out ${formatSkip(s)}\n`);
          this.policy.skipped.set(s.path, s);
        }
      }
      if (b.labels.length === 0) continue;
      yield toBatch(b, this.loader.transform.size, this.hash);
    }
  }

  async close(): Promise<void> {
    await this.loader.close();
  }
}

/**
 * Read every example of the evaluation splits once, as evaluation reads them (same loader
 * and transform), before training: the unreadable ones, by split, with their list lines.
 */
export async function unreadableEvalExamples(
  splits: { split: 'valid' | 'test'; samples: readonly ListedSample[] }[],
  opts: { batchSize: number; size: number; resize: number; seed: number; workers: number; numExperts: number },
): Promise<{ split: 'valid' | 'test'; skip: NamedSkip }[]> {
  const out: { split: 'valid' | 'test'; skip: NamedSkip }[] = [];
  for (const { split, samples } of splits) {
    if (samples.length === 0) continue;
    const loader = new ImageBatchLoader(samples, { batchSize: opts.batchSize, transform: { kind: 'eval', size: opts.size, resize: opts.resize } as TransformSpec, shuffle: false, seed: opts.seed, workers: opts.workers });
    try {
      for await (const b of loader.epoch(0)) for (const s of b.skipped) out.push({ split, skip: named(samples, s) });
    } finally {
      await loader.close();
    }
  }
  return out;
}
