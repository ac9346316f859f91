/**
 * The host-read budget of training (cpu backend, where reads can be counted):
 * a training step of either setting's task — model forward with every
 * method's extra losses, gradients, the optimizer update with clipping —
 * reads nothing back from the device, and the Trainer reads once per step
 * (the packed loss, logged values and gradient norm). On a GPU each read is a
 * stall, and on webgpu in Node a synchronous read does not work at all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { METHODS } from '../../kernel-lib/routing';
import { Rng } from '../../kernel-lib/util/rng';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import { RoutedT5 } from '../../kernel-lib/models/t5/model';
import { ResNetTask } from '../../kernel-lib/settings/resnet/task';
import { resolveResNetConfig } from '../../kernel-lib/settings/resnet/config';
import type { ResNetBatch } from '../../kernel-lib/settings/resnet/data';
import { T5Task } from '../../kernel-lib/settings/t5/task';
import { resolveT5RunConfig } from '../../kernel-lib/settings/t5/config';
import type { T5Batch, EvalSets } from '../../kernel-lib/settings/t5/data';
import type { Tokenizer } from '../../kernel-lib/tokenizers/types';
import { Optimizer } from '../../kernel-lib/train/optimizer';
import { Trainer, type BatchSource, type TrainerTask } from '../../kernel-lib/train/trainer';

/** Count calls of the tensor read methods while `fn` runs. */
const reads: string[] = [];
const proto = tf.Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
const READS = ['dataSync', 'arraySync', 'data', 'array', 'bufferSync', 'buffer'] as const;
const originals = Object.fromEntries(READS.map((k) => [k, proto[k]]));

function resnetBatch(seed: number, b = 4, n = 16): ResNetBatch {
  const r = new Rng(seed);
  return {
    pixels: tf.tensor4d(r.normal(b * n * n * 3), [b, n, n, 3]),
    labels: Int32Array.from(r.uniformInt(b, 5)),
    domains: Int32Array.from(r.uniformInt(b, 6)),
    hash: Int32Array.from(r.uniformInt(b * 8, 3)),
  } as unknown as ResNetBatch;
}

function t5Batch(seed: number): T5Batch {
  const r = new Rng(seed);
  const b = 3;
  const s = 5;
  const t = 3;
  const ids = Int32Array.from(r.uniformInt(b * s, 30), (v) => v + 2);
  const labels = Int32Array.from(r.uniformInt(b * t, 30), (v) => v + 2);
  const dec = new Int32Array(b * t);
  for (let i = 0; i < b; i++) for (let j = 1; j < t; j++) dec[i * t + j] = labels[i * t + j - 1];
  return {
    batchSize: b, inputIds: ids, attentionMask: new Int32Array(b * s).fill(1), srcLen: s,
    labels, decoderInputIds: dec, tgtLen: t, taskIds: Int32Array.from([0, 1, 2]),
    hashIds: Int32Array.from(r.uniformInt(b * 64, 3)), hashColumns: 64,
  };
}

const noEvalSets = { valid: () => { throw new Error('unused'); }, test: () => { throw new Error('unused'); } };

function resnetTask(method: string): ResNetTask {
  const n = method === 'dense' ? 1 : 6; // 6 domains
  const cfg = resolveResNetConfig({ method, numExperts: n, bottleneck: 2, data: { root: '/unused', numClasses: 5 } as never, runDir: '/unused' });
  const model = new RoutedResNet({ numClasses: 5, widths: [8, 8, 8, 8], stem: 'small', seed: 3, routing: { method, numExperts: n, bottleneck: 2 } });
  return new ResNetTask(model, cfg, noEvalSets as never, ['a', 'b', 'c', 'd', 'e', 'f']);
}

function t5Task(method: string): T5Task {
  const n = method === 'dense' ? 1 : 8; // 8 GLUE tasks
  const cfg = resolveT5RunConfig({ method, numExperts: n, bottleneck: 2, data: { root: '/unused' } as never, runDir: '/unused' });
  const model = new RoutedT5({ config: 't5-test', routing: { method, numExperts: n, bottleneck: 2 } });
  return new T5Task(model, cfg, { tasks: [] } as unknown as EvalSets, {} as Tokenizer);
}

/** One optimizer step of a task's loss, as the Trainer computes it, with reads counted. */
function countedStep<B>(task: TrainerTask<B>, batch: B, step: number): string[] {
  const params = task.params();
  const opt = new Optimizer(params, { kind: 'adam', lr: 1e-3, clipNorm: 1 });
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const rng = new Rng(9);
  reads.length = 0;
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => task.loss(batch, { step, rng }).loss, params.map((p) => p.variable));
    opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
  });
  const seen = [...reads];
  opt.dispose();
  return seen;
}

describe('host reads during training (cpu backend)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    for (const k of READS) {
      proto[k] = function (this: tf.Tensor, ...a: unknown[]) {
        reads.push(k);
        return originals[k].apply(this, a);
      };
    }
  });
  after(() => {
    for (const k of READS) proto[k] = originals[k];
  });

  for (const { name: method } of METHODS) {
    it(`${method}: a ResNet and a T5 training step (forward, every extra loss, gradients, clipped update) read nothing`, () => {
      const rt = resnetTask(method);
      const rb = resnetBatch(1);
      assert.deepEqual(countedStep(rt, rb, 3), [], 'ResNet step');
      tf.dispose(rb.pixels);
      rt.model.dispose();
      const tt = t5Task(method);
      assert.deepEqual(countedStep(tt, t5Batch(2), 3), [], 'T5 step');
      tt.model.dispose();
    });
  }

  it('the Trainer reads once per step (loss, logged values and gradient norm packed together) and leaks no tensor over 20 steps', async () => {
    const task = resnetTask('reinforce'); // several logged values
    const evaluate = async () => ({ score: 0, metrics: {} });
    const wrapped: TrainerTask<ResNetBatch> = {
      params: () => task.params(),
      stateVariables: () => task.stateVariables(),
      loss: (b, ctx) => task.loss(b, ctx),
      evaluate,
    };
    const source = {
      async *iterate(start: number) {
        for (let s = start; ; s++) yield resnetBatch(100 + s);
      },
      disposeBatch: (b: ResNetBatch) => b.pixels.dispose(),
    } as unknown as BatchSource<ResNetBatch>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-reads-'));
    let atEval: string[] | undefined;
    const counts: number[] = [];
    reads.length = 0;
    try {
      await new Trainer(wrapped, source, {
        runDir: dir, maxSteps: 20, evalEvery: 20, logEvery: 5, seed: 1, skipTest: true,
        optimizer: { kind: 'adam', lr: 1e-3, clipNorm: 1 },
        progress: {
          mode: 'none',
          onProgress: (e) => {
            if (e.phase === 'train') counts.push(tf.memory().numTensors);
            if (e.phase === 'eval' && !atEval) atEval = [...reads];
          },
        },
      }).run();
      assert.ok(atEval, 'the run reached its evaluation');
      assert.deepEqual(atEval, new Array(20).fill('data'), 'one asynchronous read per step, none synchronous');
      // No tensor leak over 20 steps (after the Adam moments exist; ±1: the packed read in flight).
      const steady = counts.slice(3);
      assert.ok(Math.max(...steady) - Math.min(...steady) <= 1, `tensor count over steps: ${counts.join(' ')}`);
      const train = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.split === 'train');
      assert.deepEqual(train.map((l) => l.step), [5, 10, 15, 20]);
      for (const l of train) {
        for (const k of ['loss', 'ce', 'grad_norm', 'reinforce_policy']) assert.ok(Number.isFinite(l[k]), `${k} logged at step ${l.step}`);
      }
    } finally {
      task.model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
