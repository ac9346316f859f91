/**
 * The Trainer's toy task (shared by trainer.test.ts and run-folder.test.ts): a SMEAR
 * routing block regressing a per-tag target, with expert dropout so the generator matters.
 */
import { tf, RoutingBlock, Rng } from '../../kernel-lib';
import type { BatchSource, TrainerTask } from '../../kernel-lib/train/trainer';

export interface Batch {
  x: tf.Tensor3D;
  y: tf.Tensor3D;
  tags: Int32Array;
}

const B = 8;
const S = 3;
const C = 6;

function makeData(seed: number) {
  // Target: a tag-dependent linear map of x, so routing by input helps.
  const rng = new Rng(seed);
  const maps = [0, 1, 2].map(() => tf.tensor2d(rng.normal(C * C, 0.5), [C, C]));
  const batchAt = (step: number): Batch => {
    const r = new Rng(1000 + step); // deterministic in the step
    const tags = r.uniformInt(B, 3);
    return tf.tidy(() => {
      const x = tf.tensor3d(r.normal(B * S * C), [B, S, C]);
      const ys = Array.from(tags, (t, b) => tf.matMul(tf.squeeze(tf.slice(x, [b, 0, 0], [1, S, C]), [0]), maps[t]));
      return { x, y: tf.stack(ys) as tf.Tensor3D, tags };
    });
  };
  return { batchAt, dispose: () => tf.dispose(maps) };
}

export function makeTask(opts: { nanAt?: number; oomAt?: number; nanGradAt?: number } = {}) {
  const block = new RoutingBlock({ method: 'smear', width: C, numExperts: 3, bottleneck: 4, init: 3, expertDropout: 0.2 });
  const data = makeData(5);
  const evalBatch = data.batchAt(-1);
  const task: TrainerTask<Batch> = {
    params: () => block.namedParams().filter((p) => p.used).map((p) => ({ name: p.name, variable: p.variable, lrScale: p.lrScale })),
    stateVariables: () => new Map(block.params),
    loss: (batch, ctx) => {
      const out = block.forward(batch.x, { training: true, rng: ctx.rng });
      let loss = tf.mean(tf.square(tf.sub(out.y, batch.y))) as tf.Scalar;
      if (opts.nanAt !== undefined && ctx.step >= opts.nanAt) loss = tf.mul(loss, NaN) as tf.Scalar;
      // A finite loss whose gradient is not: 0 · d√x/dx at x = 0 is 0 · ∞ = NaN.
      if (opts.nanGradAt !== undefined && ctx.step >= opts.nanGradAt) {
        const v = block.namedParams().find((p) => p.used)!.variable;
        loss = tf.add(loss, tf.mul(0, tf.sum(tf.sqrt(tf.sub(v, v))))) as tf.Scalar;
      }
      // What the wasm backend throws when its 4 GB heap is exhausted.
      if (opts.oomAt !== undefined && ctx.step >= opts.oomAt) throw new (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError('memory access out of bounds');
      return { loss, logs: { mse: loss } };
    },
    evaluate: async () => {
      const mse = tf.tidy(() => tf.mean(tf.square(tf.sub(block.forward(evalBatch.x).y, evalBatch.y))).dataSync()[0]);
      return { score: -mse, metrics: { mse } };
    },
  };
  const source: BatchSource<Batch> = {
    async *iterate(start: number) {
      for (let s = start; ; s++) yield data.batchAt(s);
    },
    disposeBatch: (b: Batch) => tf.dispose([b.x, b.y]),
  } as unknown as BatchSource<Batch>;
  return { task, source, block, dispose: () => { block.dispose(); data.dispose(); tf.dispose([evalBatch.x, evalBatch.y]); } };
}

