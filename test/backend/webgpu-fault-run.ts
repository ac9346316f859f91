/**
 * Child process of webgpu-faults.test.ts: a tiny Trainer run on webgpu in which
 * a fault happens at step 12 (after the step-10 checkpoint): `lost` destroys
 * the GPU device (Dawn then resolves device.lost), `oom` allocates a tensor
 * larger than the adapter's maxBufferSize. Prints the error the run stops with.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { RoutingBlock } from '../../kernel-lib/routing';
import { Rng } from '../../kernel-lib/util/rng';
import { Trainer, type BatchSource, type TrainerTask } from '../../kernel-lib/train/trainer';

const [fault, runDir] = process.argv.slice(2);

(async () => {
  const info = await initBackend({ backend: 'webgpu', quiet: true });
  const block = new RoutingBlock({ method: 'smear', width: 4, numExperts: 2, bottleneck: 2, init: 1 });
  const x = tf.tensor3d(new Rng(2).normal(2 * 3 * 4), [2, 3, 4]);
  const task: TrainerTask<number> = {
    params: () => block.namedParams().filter((p) => p.used).map((p) => ({ name: p.name, variable: p.variable })),
    stateVariables: () => new Map(block.params),
    loss: (_b, ctx) => {
      if (ctx.step === 12 && fault === 'lost') (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
      let loss = tf.mean(tf.square(block.forward(x).y)) as tf.Scalar;
      if (ctx.step === 12 && fault === 'oom') {
        const n = Math.ceil(info.adapter!.limits.maxBufferSize / 4) + 1024; // one float32 buffer over the limit
        loss = tf.add(loss, tf.sum(tf.fill([n], 1e-9))) as tf.Scalar;
      }
      return { loss };
    },
    evaluate: async () => ({ score: 0, metrics: {} }),
  };
  const source = { async *iterate() { for (;;) yield 0; } } as unknown as BatchSource<number>;
  try {
    await new Trainer(task, source, { runDir, maxSteps: 30, evalEvery: 10, seed: 1, skipTest: true, optimizer: { kind: 'adam', lr: 1e-2 }, progress: { mode: 'none' } }).run();
    console.log('NO ERROR');
  } catch (e) {
    console.log(`ERROR ${(e as Error).message}`);
  }
  process.exit(0);
})();
