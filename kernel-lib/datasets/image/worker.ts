/**
 * Worker-thread entry of `ImageBatchLoader` (loader.ts starts it; nothing else should).
 *
 * Protocol. The parent posts one `WorkerBatchMessage` per batch to every worker. The batch's
 * samples are claimed with `Atomics.add` on a shared counter, so all workers share the batch
 * without the parent thread (which may be busy with a synchronous training step) having to hand
 * out work; each worker writes its samples' pixels straight into the batch's SharedArrayBuffer
 * at the sample's slot, then posts one `WorkerDoneMessage` (with its failures) when the batch has
 * nothing left to claim. Batches are processed in the order they arrive, one sample at a time per
 * worker (so one worker ≈ one core of decoding).
 *
 * Plain CommonJS once transpiled: requires only node, sharp and ./transforms, ../../util/rng.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { Rng } from '../../util/rng';
import { transformInto, type TransformSpec } from './transforms';

export interface WorkerInit {
  spec: TransformSpec;
}

export interface WorkerBatchMessage {
  type: 'batch';
  batchId: number;
  paths: string[];
  /** Per-sample generator seeds (unused for eval). */
  seeds: Uint32Array;
  /** [B·size·size·3] float32 output. */
  pixels: SharedArrayBuffer;
  /** Int32 [0]: next slot to claim. */
  counter: SharedArrayBuffer;
}

export interface WorkerDoneMessage {
  type: 'done';
  batchId: number;
  failures: { slot: number; reason: string }[];
}

function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 500);
}

async function runBatch(spec: TransformSpec, m: WorkerBatchMessage): Promise<WorkerDoneMessage> {
  const per = spec.size * spec.size * 3;
  const out = new Float32Array(m.pixels);
  const counter = new Int32Array(m.counter);
  const failures: { slot: number; reason: string }[] = [];
  for (;;) {
    const slot = Atomics.add(counter, 0, 1);
    if (slot >= m.paths.length) break;
    try {
      const rng = spec.kind === 'train' ? new Rng(m.seeds[slot]) : null;
      await transformInto(m.paths[slot], spec, rng, out, slot * per);
    } catch (e) {
      failures.push({ slot, reason: describe(e) });
    }
  }
  return { type: 'done', batchId: m.batchId, failures };
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('kernel-lib/datasets/image/worker: must run in a worker thread');
  const init = workerData as WorkerInit;
  // The libvips operation cache only costs memory here: every operation reads a new image.
  sharp.cache(false);
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (m: WorkerBatchMessage) => {
    if (m.type !== 'batch') return;
    chain = chain
      .then(async () => {
        port.postMessage(await runBatch(init.spec, m));
      })
      .catch((e: unknown) => {
        // Not a per-image failure (those are caught in runBatch): surface it as the worker's
        // 'error' event, which fails the loader's pending batches.
        setImmediate(() => {
          throw e;
        });
      });
  });
}

main();
