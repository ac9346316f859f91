/**
 * DomainNet batches for the ResNet setting: the image loader's batches as
 * tensors, with domain ids (tags) and the reference's hash labels.
 *
 * Hash labels (SPEC §1.4): the reference draws `np.random.randint(N, size=16)`
 * per example when a dataset is built (16 columns, the 8 routing blocks read
 * columns 0..7) and keeps them for the dataset's life; train, validation and
 * test each get their own. Here they are drawn from a generator seeded by
 * (seed, split), so they are fixed per example and reproducible.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../util/rng';
import { ImageBatchLoader, type ImageSample } from '../../datasets/image/loader';
import type { TransformSpec } from '../../datasets/image/transforms';
import type { BatchSource } from '../../train/trainer';

/** Columns of hash labels per example, as the reference (`all_routers = 16`). */
export const HASH_COLUMNS = 16;

const SPLIT_TAG: Record<string, number> = { train: 1, valid: 2, test: 3 };

export function hashLabels(numExamples: number, numExperts: number, seed: number, split: 'train' | 'valid' | 'test'): Int32Array {
  return new Rng(seed * 7919 + SPLIT_TAG[split]).uniformInt(numExamples * HASH_COLUMNS, numExperts);
}

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
  skippedImages = 0;

  constructor(samples: readonly ImageSample[], opts: { batchSize: number; size: number; seed: number; workers: number; numExperts: number; cropScale?: [number, number] }) {
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

  get batchesPerEpoch(): number {
    return this.loader.batchesPerEpoch;
  }

  async *iterate(startStep: number): AsyncGenerator<ResNetBatch> {
    const per = this.loader.batchesPerEpoch;
    const size = this.loader.transform.size;
    for (let epoch = Math.floor(startStep / per), start = startStep % per; ; epoch++, start = 0) {
      for await (const b of this.loader.epoch(epoch, start)) {
        this.skippedImages += b.skipped.length;
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

/** One pass over an evaluation split, in order, with the eval transform. */
export class EvalBatches {
  private readonly loader: ImageBatchLoader;
  private readonly hash: Int32Array;

  constructor(readonly samples: readonly ImageSample[], split: 'valid' | 'test', opts: { batchSize: number; size: number; resize: number; seed: number; workers: number; numExperts: number }) {
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
      if (b.labels.length === 0) continue;
      yield toBatch(b, this.loader.transform.size, this.hash);
    }
  }

  async close(): Promise<void> {
    await this.loader.close();
  }
}
