/**
 * The webgpu backend (Dawn for Node + @tensorflow/tfjs-backend-webgpu) against
 * the cpu backend, on small shapes: every routing method's forward and
 * gradients in training mode, a ResNet training step (BatchNorm in training
 * mode, Adam with clipping, running statistics), a T5 training step (AdamW)
 * and greedy generation, and the Trainer itself (no synchronous read, no
 * tensor leak over 20 steps, checkpoints, resume).
 *
 * Without a GPU this runs on SwiftShader (see ./webgpu-env.ts): slow, so the
 * shapes are tiny. Each computation is built from scratch on each backend from
 * the same seeds (host-side generators), and read with `await data()` only:
 * synchronous reads do not work on webgpu in Node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { webgpuSkip, webgpuTestEnv } from './webgpu-env';

process.env.VK_ICD_FILENAMES = webgpuTestEnv().env.VK_ICD_FILENAMES; // before Dawn loads

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend, webGpuFault } from '../../kernel-lib/backend';
import { readMany } from '../../kernel-lib/backend/host-read';
import { METHODS, RoutingBlock } from '../../kernel-lib/routing';
import { totalAuxLoss } from '../../kernel-lib/routing/aux';
import { Rng } from '../../kernel-lib/util/rng';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import { loadResNetSafetensors, saveResNetSafetensors } from '../../kernel-lib/models/resnet/checkpoint';
import { loadRoutedT5, saveRoutedT5 } from '../../kernel-lib/models/t5/weights';
import { RoutedT5 } from '../../kernel-lib/models/t5/model';
import { Optimizer } from '../../kernel-lib/train/optimizer';
import { Trainer, type BatchSource, type TrainerTask } from '../../kernel-lib/train/trainer';
import { assertClose } from '../routing/helpers';

type Values = Map<string, Float32Array>;

/** Run `fn` with `backend` active; it builds everything it uses, and returns host values. */
async function on(backend: 'webgpu' | 'cpu', fn: () => Promise<Values>): Promise<Values> {
  assert.ok(await tf.setBackend(backend), `backend ${backend} initialises`);
  return fn();
}

/** Read named tensors (one round trip) into a map; disposes them. */
async function collect(named: [string, tf.Tensor][]): Promise<Values> {
  const values = await readMany(named.map(([, t]) => t));
  tf.dispose(named.map(([, t]) => t));
  return new Map(named.map(([k], i) => [k, Float32Array.from(values[i])]));
}

function compare(gpu: Values, cpu: Values, label: string, rtol = 1e-3, atol = 1e-4): void {
  assert.deepEqual([...gpu.keys()].sort(), [...cpu.keys()].sort(), `${label}: same outputs`);
  for (const [k, c] of cpu) assertClose(gpu.get(k), c, `${label}: ${k} (webgpu vs cpu)`, rtol, atol);
}

/** Deterministic non-trivial values for every variable (host generator; no reads). */
function randomize(vars: Iterable<[string, tf.Variable]>, seed: number, std = 0.4): void {
  const rng = new Rng(seed);
  for (const [name, v] of vars) {
    const vals = /gain$|scale$|weight$/.test(name) && v.rank === 1 ? rng.normal(v.size, 0.2, 1) : rng.normal(v.size, std);
    v.assign(tf.tensor(vals, v.shape, 'float32'));
  }
}

describe('webgpu backend vs cpu (small shapes)', webgpuSkip(), () => {
  before(async () => {
    // In CI a missing adapter fails here, with initBackend's reason and fix.
    await initBackend({ backend: 'webgpu', quiet: true });
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('fills: AddN over more inputs than one shader can bind (the global gradient norm of a model)', async () => {
    const go = async () => {
      const r = new Rng(3);
      const xs = Array.from({ length: 83 }, (_, i) => tf.tensor1d(r.normal(5, 1)));
      const named: [string, tf.Tensor][] = [[`sum`, tf.addN(xs)], ['sum of 8', tf.addN(xs.slice(0, 8))]];
      tf.dispose(xs);
      return collect(named);
    };
    const gpu = await on('webgpu', go);
    const cpu = await on('cpu', go);
    compare(gpu, cpu, 'addN', 1e-5, 1e-5);
    assert.equal(webGpuFault(), undefined);
  });

  for (const { name: method, kind, needsTags } of METHODS) {
    it(`${method}: block forward and gradients in training mode`, async () => {
      const B = 3;
      const S = 4;
      const C = 8;
      const run = () => {
        const block = new RoutingBlock({ method, width: C, numExperts: kind === 'dense' ? 1 : 4, bottleneck: 3, numTags: needsTags ? 3 : undefined, init: 11, postLayerNorm: true });
        randomize(block.params, 12);
        const r = new Rng(13);
        const x = tf.tensor3d(r.normal(B * S * C), [B, S, C]);
        const w = tf.tensor3d(r.normal(B * S * C), [B, S, C]);
        const vars = block.namedParams().filter((p) => p.used);
        const ctx = { training: true, rng: new Rng(14), tags: Int32Array.from([0, 2, 1]), hash: Int32Array.from([3, 0, 1]), temperature: 2 };
        let y: tf.Tensor | undefined;
        let probs: tf.Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const out = block.forward(x, ctx);
          y = tf.keep(out.y);
          if (out.record.probs) probs = tf.keep(out.record.probs);
          return tf.add(tf.sum(tf.mul(out.y, w)), totalAuxLoss(out.aux)) as tf.Scalar;
        }, vars.map((p) => p.variable));
        const named: [string, tf.Tensor][] = [['loss', value], ['y', y!]];
        if (probs) named.push(['probs', probs]);
        for (const p of vars) if (grads[p.variable.name]) named.push([`grad.${p.name}`, grads[p.variable.name]]);
        tf.dispose([x, w]);
        return { named, dispose: () => block.dispose() };
      };
      const go = async () => {
        const { named, dispose } = run();
        try {
          return await collect(named);
        } finally {
          dispose();
        }
      };
      const gpu = await on('webgpu', go);
      const cpu = await on('cpu', go);
      assert.ok([...cpu.keys()].some((k) => k.startsWith('grad.')), 'some parameter receives a gradient');
      compare(gpu, cpu, method);
    });
  }

  for (const method of ['smear', 'dselect-k', 'topk']) {
    it(`ResNet training step (${method}): BatchNorm in training mode, Adam with clipping, running statistics`, async () => {
      const go = async () => {
        const model = new RoutedResNet({ numClasses: 5, widths: [4, 8, 8, 8], stem: 'small', routing: { method, numExperts: 3, bottleneck: 2 }, seed: 3 });
        try {
          randomize(model.trainableParams().map((p) => [p.name, p.variable] as [string, tf.Variable]), 4, 0.3);
          const r = new Rng(5);
          const x = tf.tensor4d(r.normal(4 * 16 * 16 * 3), [4, 16, 16, 3]);
          const y = tf.oneHot(tf.tensor1d([0, 3, 4, 1], 'int32'), 5);
          const params = model.trainableParams();
          const opt = new Optimizer(params, { kind: 'adam', lr: 1e-2, clipNorm: 0.5 });
          const rng = new Rng(6);
          const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
          const named: [string, tf.Tensor][] = [];
          for (let s = 0; s < 2; s++) {
            const norm = tf.tidy(() => {
              const { value, grads } = tf.variableGrads(() => {
                const out = model.forward(x, { training: true, rng, temperature: 2 });
                return tf.add(tf.losses.softmaxCrossEntropy(y, out.logits), totalAuxLoss(out.aux)) as tf.Scalar;
              }, params.map((p) => p.variable));
              named.push([`step ${s} loss`, tf.keep(value)]);
              for (const [k, g] of Object.entries(grads)) named.push([`step ${s} grad.${nameOf.get(k)}`, tf.keep(tf.clone(g))]);
              return opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
            });
            named.push([`step ${s} grad norm`, norm]);
          }
          const logits = tf.tidy(() => model.forward(x, { training: false }).logits);
          named.push(['eval logits', logits], ...[...model.variables()].map(([k, v]) => [`after.${k}`, tf.clone(v)] as [string, tf.Tensor]));
          opt.dispose();
          tf.dispose([x, y]);
          return await collect(named);
        } finally {
          model.dispose();
        }
      };
      const gpu = await on('webgpu', go);
      const cpu = await on('cpu', go);
      assert.ok([...cpu.keys()].some((k) => /running_mean/.test(k)), 'running statistics are compared');
      // Losses, gradients of both steps, eval logits and BN statistics: float32 agreement. The
      // parameters themselves are not compared after Adam steps: Adam's first updates are
      // ≈ lr·sign(g), so a gradient entry that rounds differently near 0 moves its parameter by
      // up to 2·lr (the optimizer is compared on identical gradients in its own test below).
      const part = (m: Values) => new Map([...m].filter(([k]) => !k.startsWith('after.')));
      compare(part(gpu), part(cpu), `resnet ${method}`, 2e-3, 2e-4);
      const stats = (m: Values) => new Map([...m].filter(([k]) => /running_/.test(k)));
      compare(stats(gpu), stats(cpu), `resnet ${method} running statistics`, 2e-3, 2e-4);
    });
  }

  for (const kind of ['adam', 'adamw'] as const) {
    it(`optimizer: ${kind} with parameter groups, clipping and weight decay, on identical gradients`, async () => {
      const go = async () => {
        const r = new Rng(21);
        const vars = [0, 1, 2].map((i) => tf.variable(tf.tensor1d(r.normal(7, 1)), true, `p${i}-${kind}-${tf.getBackend()}`));
        const opt = new Optimizer(vars.map((v, i) => ({ name: `p${i}`, variable: v, lrScale: i === 2 ? 10 : 1 })), { kind, lr: 1e-2, clipNorm: 0.5, weightDecay: kind === 'adamw' ? 0.1 : 0 });
        const named: [string, tf.Tensor][] = [];
        for (let s = 0; s < 3; s++) {
          const grads = new Map(vars.map((_, i) => [`p${i}`, tf.tensor1d(r.normal(7, 2))] as [string, tf.Tensor]));
          if (s === 1) grads.delete('p1'); // no gradient: left untouched, moments too
          named.push([`norm ${s}`, opt.step(grads)]);
          tf.dispose([...grads.values()]);
        }
        named.push(...vars.map((v, i) => [`p${i}`, tf.clone(v)] as [string, tf.Tensor]), ...[...opt.stateTensors()].map(([k, t]) => [k, tf.clone(t)] as [string, tf.Tensor]));
        opt.dispose();
        tf.dispose(vars);
        return collect(named);
      };
      const gpu = await on('webgpu', go);
      const cpu = await on('cpu', go);
      compare(gpu, cpu, kind, 1e-5, 1e-6);
    });
  }

  it('T5 training step (smear, AdamW) and greedy generation', async () => {
    const ids = [[5, 9, 13, 2, 1], [7, 3, 1, 0, 0], [11, 12, 30, 1, 0]];
    const mask = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]];
    const dec = [[0, 4, 8, 1], [0, 22, 1, 0], [0, 6, 6, 6]];
    const labels = [[4, 8, 1, 0], [22, 1, 0, 0], [6, 6, 6, 1]];
    const go = async () => {
      const model = new RoutedT5({ config: 't5-test', routing: { method: 'smear', numExperts: 4, bottleneck: 3 } });
      try {
        model.sublayers.forEach((sub, i) => randomize(sub.routing.params, 7 + i, 0.3));
        const params = model.trainableParams();
        const opt = new Optimizer(params, { kind: 'adamw', lr: 1e-2, clipNorm: 1 });
        const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
        const rng = new Rng(8);
        const norm = tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const out = model.forward({ inputIds: ids, attentionMask: mask, decoderInputIds: dec }, { training: true, rng });
            const v = out.logits.shape[2];
            const lab = tf.oneHot(tf.tensor2d(labels, [3, 4], 'int32'), v);
            return tf.add(tf.neg(tf.mean(tf.sum(tf.mul(lab, tf.logSoftmax(out.logits)), -1))), totalAuxLoss(out.aux)) as tf.Scalar;
          }, params.map((p) => p.variable));
          return opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
        });
        const gen = await model.generate({ inputIds: ids, attentionMask: mask }, { maxLength: 5, returnLogits: true });
        const named: [string, tf.Tensor][] = [
          ['grad norm', norm],
          ['generated', tf.tensor(gen.sequences, gen.shape, 'int32')],
          ['step logits', gen.logits!],
          ...params.map((p) => [p.name, tf.clone(p.variable)] as [string, tf.Tensor]),
        ];
        opt.dispose();
        return await collect(named);
      } finally {
        model.dispose();
      }
    };
    const gpu = await on('webgpu', go);
    const cpu = await on('cpu', go);
    assert.deepEqual(Array.from(gpu.get('generated')!), Array.from(cpu.get('generated')!), 'greedy sequences');
    compare(gpu, cpu, 't5 smear', 2e-3, 2e-4);
  });

  it('checkpoints on webgpu: ResNet and T5 files written and read back give the same outputs (no synchronous read)', async () => {
    await tf.setBackend('webgpu');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-webgpu-ckpt-'));
    try {
      const resnet = new RoutedResNet({ numClasses: 5, widths: [4, 8, 8, 8], stem: 'small', routing: { method: 'smear', numExperts: 3, bottleneck: 2 }, seed: 3 });
      randomize(resnet.trainableParams().map((p) => [p.name, p.variable] as [string, tf.Variable]), 4, 0.3);
      const x = tf.tensor4d(new Rng(5).normal(2 * 16 * 16 * 3), [2, 16, 16, 3]);
      // One training forward, so the BN running statistics and num_batches_tracked move off their init.
      tf.tidy(() => { resnet.forward(x, { training: true, rng: new Rng(1) }); });
      await saveResNetSafetensors(resnet, path.join(dir, 'resnet.safetensors'));
      const back = await loadResNetSafetensors(path.join(dir, 'resnet.safetensors'));
      const [a, b] = await readMany([tf.tidy(() => resnet.forward(x, { training: false }).logits), tf.tidy(() => back.forward(x, { training: false }).logits)]);
      assertClose(b, a, 'resnet logits after a save/load round trip', 1e-5, 1e-6);
      assert.equal(back.blocks[0].bn1.numBatchesTracked, resnet.blocks[0].bn1.numBatchesTracked);
      tf.dispose(x);
      resnet.dispose();
      back.dispose();

      const t5 = new RoutedT5({ config: 't5-test', routing: { method: 'topk', numExperts: 4, bottleneck: 3 } });
      t5.sublayers.forEach((sub, i) => randomize(sub.routing.params, 30 + i, 0.3));
      await saveRoutedT5(t5, path.join(dir, 't5.safetensors'));
      const t5b = await loadRoutedT5(path.join(dir, 't5.safetensors'));
      const inputs = { inputIds: [[5, 9, 13, 2, 1]], attentionMask: [[1, 1, 1, 1, 1]], decoderInputIds: [[0, 4, 8]] };
      const [c, d] = await readMany([t5.forward(inputs, { training: false }).logits, t5b.forward(inputs, { training: false }).logits]);
      assertClose(d, c, 't5 logits after a save/load round trip', 1e-5, 1e-6);
      t5.dispose();
      t5b.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Trainer runs on webgpu: no synchronous read, no tensor leak over 20 steps, checkpoints resume exactly', async () => {
    await tf.setBackend('webgpu');
    const B = 6;
    const S = 3;
    const C = 6;
    const sync: string[] = [];
    const proto = tf.Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const originals = { dataSync: proto.dataSync, arraySync: proto.arraySync };
    for (const k of ['dataSync', 'arraySync'] as const) {
      proto[k] = function (this: tf.Tensor, ...a: unknown[]) {
        sync.push(k);
        return originals[k].apply(this, a);
      };
    }
    const make = () => {
      const block = new RoutingBlock({ method: 'smear', width: C, numExperts: 3, bottleneck: 4, init: 3, expertDropout: 0.2 });
      const map = tf.tensor2d(new Rng(1).normal(C * C, 0.5), [C, C]);
      const batchAt = (step: number) => {
        const r = new Rng(1000 + step);
        return tf.tidy(() => {
          const x = tf.tensor3d(r.normal(B * S * C), [B, S, C]);
          return { x, y: tf.matMul(tf.reshape(x, [B * S, C]), map).reshape([B, S, C]) as tf.Tensor3D };
        });
      };
      const evalBatch = batchAt(-1);
      const task: TrainerTask<{ x: tf.Tensor3D; y: tf.Tensor3D }> = {
        params: () => block.namedParams().filter((p) => p.used).map((p) => ({ name: p.name, variable: p.variable })),
        stateVariables: () => new Map(block.params),
        loss: (batch, ctx) => {
          const out = block.forward(batch.x, { training: true, rng: ctx.rng });
          const loss = tf.mean(tf.square(tf.sub(out.y, batch.y))) as tf.Scalar;
          return { loss, logs: { mse: loss } };
        },
        evaluate: async () => {
          const t = tf.tidy(() => tf.mean(tf.square(tf.sub(block.forward(evalBatch.x).y, evalBatch.y))));
          const mse = (await t.data())[0];
          t.dispose();
          return { score: -mse, metrics: { mse } };
        },
      };
      const source = {
        async *iterate(start: number) {
          for (let s = start; ; s++) yield batchAt(s);
        },
        disposeBatch: (b: { x: tf.Tensor; y: tf.Tensor }) => tf.dispose([b.x, b.y]),
      } as unknown as BatchSource<{ x: tf.Tensor3D; y: tf.Tensor3D }>;
      return { task, source, dispose: () => { block.dispose(); tf.dispose([map, evalBatch.x, evalBatch.y]); } };
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-webgpu-'));
    try {
      const counts: number[] = [];
      const a = make();
      const full = await new Trainer(a.task, a.source, {
        runDir: path.join(dir, 'full'), maxSteps: 20, evalEvery: 10, logEvery: 5, seed: 1, skipTest: true,
        optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 },
        progress: { mode: 'none', onProgress: (e) => e.phase === 'train' && counts.push(tf.memory().numTensors) },
      }).run();
      a.dispose();
      assert.equal(full.status, 'completed');
      assert.ok(full.best && Number.isFinite(full.best.score));
      assert.equal(sync.length, 0, `synchronous reads during training on webgpu: ${sync.join(', ')}`);
      // After the first steps (Adam moments allocated), the tensor count is constant up to the one
      // packed scalar tensor of the step being read, which is freed whenever its read completes
      // (GPU timing): a leak of even one tensor per step would grow by 15 here.
      const steady = counts.slice(3);
      assert.ok(steady.length >= 15, `progress events: ${counts.length}`);
      assert.ok(Math.max(...steady) - Math.min(...steady) <= 1, `tensor count over steps: ${counts.join(' ')}`);

      // Stop at step 10, resume to 20: the same final metrics as the uninterrupted run.
      const b = make();
      const ctl = new AbortController();
      await new Trainer(b.task, b.source, {
        runDir: path.join(dir, 'resumed'), maxSteps: 20, evalEvery: 10, logEvery: 5, seed: 1, skipTest: true, signal: ctl.signal,
        optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 },
        progress: { mode: 'none', onProgress: (e) => e.step === 12 && e.phase === 'train' && ctl.abort() },
      }).run();
      b.dispose();
      const c = make();
      const resumed = await new Trainer(c.task, c.source, {
        runDir: path.join(dir, 'resumed'), maxSteps: 20, evalEvery: 10, logEvery: 5, seed: 1, skipTest: true, resume: true,
        optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 }, progress: { mode: 'none' },
      }).run();
      c.dispose();
      assert.equal(resumed.best!.score, full.best!.score, 'resumed run ends like the uninterrupted one');
    } finally {
      proto.dataSync = originals.dataSync;
      proto.arraySync = originals.arraySync;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
