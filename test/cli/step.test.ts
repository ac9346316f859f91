/**
 * `smear step` for every method in both settings, on tiny checkpoints, against
 * independent references:
 *   - ResNet: the float64 oracle (test/oracle/resnet-oracle.ts) in training mode with the
 *     same draws (replayed from the oracle's documented draw order): the cross-entropy
 *     (`loss.ce`) and the BatchNorm running statistics after the step (`param.*.running_*`);
 *   - both settings: finite differences of the written loss along a random direction of
 *     two parameter tensors (a central difference of two more `smear step` runs on perturbed
 *     checkpoints) against Σ grad·direction, and the Adam / AdamW first update recomputed
 *     from the written gradients in float64 (global-norm clipping, ε, bias correction).
 * REINFORCE's policy and value terms use stop-gradients of the task loss, and DSelect-k's
 * regulariser reads only its selector logits, so their checks are against `loss.ce` (the only
 * term the chosen parameters reach).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import { saveResNetSafetensors } from '../../kernel-lib/models/resnet/checkpoint';
import { RoutedT5, saveRoutedT5, T5_PRESETS } from '../../kernel-lib/models/t5';
import { METHODS } from '../../kernel-lib/routing/registry';
import { runStep } from '../../kernel-lib/cli/commands/step';
import { resnetOracle, type RefStateDict } from '../oracle/resnet-oracle';

const B = 3;
const H = 6;

function randomStateDict(model: RoutedResNet, seed: number): RefStateDict {
  const rng = new Rng(seed);
  const sd: RefStateDict = new Map();
  for (const { key, shape } of model.stateDictKeys()) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: ArrayLike<number>;
    if (key.endsWith('num_batches_tracked')) data = [3];
    else if (key.endsWith('running_var')) data = rng.uniformRange(n, 0.5, 1.5);
    else if (key.endsWith('running_mean')) data = rng.normal(n, 0.2);
    else if (shape.length === 4 && !key.includes('adapter_controller')) data = rng.normal(n, 1.4 / Math.sqrt(shape[1] * shape[2] * shape[3]));
    else if (/(norm|norms\.0)\.weight$|layer_norms\.0\.weight$|scales$/.test(key)) data = rng.normal(n, 0.3, 1);
    else if (key.endsWith('.bias') && !key.includes('samplers')) data = rng.normal(n, 0.2);
    else if (key.includes('skill_weights')) data = rng.normal(n, 1.5);
    else if (key.includes('router_weights')) data = rng.normal(n, 0.5);
    else data = rng.normal(n, 0.3);
    sd.set(key, { shape, data: Array.from(Float32Array.from(data)) });
  }
  return sd;
}

function close(a: number, b: number, what: string, rtol: number, atol: number): void {
  if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) assert.fail(`${what}: ${a} vs ${b}`);
}

/** Perturb `keys` of a checkpoint file by h·dir (dir: one array per key) and write it to `to`. */
async function perturbed(from: string, to: string, dirs: Map<string, Float64Array>, h: number): Promise<void> {
  const { tensors, metadata } = await readSafetensors(from);
  const out: Record<string, TensorToWrite> = {};
  for (const [k, t] of tensors) {
    const d = dirs.get(k);
    const data = t.data instanceof Float32Array ? Float32Array.from(t.data, (v, i) => (d ? v + h * d[i] : v)) : t.data;
    out[k] = { dtype: t.dtype === 'I64' ? 'I64' : 'F32', shape: t.shape, data: data as Float32Array };
  }
  await writeSafetensors(to, out, metadata);
}

/** Adam (kind 'adam') or transformers AdamW first update from the gradients, in float64. */
function checkFirstUpdate(out: Map<string, { data: ArrayLike<number> }>, before: Map<string, ArrayLike<number>>, lr: number, clip: number, kind: 'adam' | 'adamw', label: string): void {
  const grads = [...out.keys()].filter((k) => k.startsWith('grad.'));
  assert.ok(grads.length > 0, `${label}: no gradients written`);
  let sq = 0;
  for (const k of grads) for (const g of Array.from(out.get(k)!.data)) sq += g * g;
  const norm = Math.sqrt(sq);
  close(out.get('grad_norm')!.data[0], norm, `${label}: grad_norm`, 1e-4, 1e-6);
  const f = Math.min(1, clip / (norm + 1e-6));
  for (const k of grads) {
    const name = k.slice('grad.'.length);
    const p0 = before.get(name);
    assert.ok(p0, `${label}: ${name} is not in the checkpoint`);
    const p1 = out.get(`param.${name}`)!.data;
    const g = out.get(k)!.data;
    const lrP = lr * (/skill_weights$/.test(name) ? 10 : 1);
    for (let i = 0; i < g.length; i++) {
      const gc = g[i] * f;
      // t = 1: m̂ = gc, v̂ = gc² (adam); AdamW: lr·√(1−β2)/(1−β1) · m/(√v+ε) with m = 0.1 gc, v = 0.001 gc²
      const upd = kind === 'adam' ? (lrP * gc) / (Math.abs(gc) + 1e-8) : ((lrP * Math.sqrt(0.001)) / 0.1) * ((0.1 * gc) / (Math.sqrt(0.001 * gc * gc) + 1e-8));
      close(p1[i], p0[i] - upd, `${label}: param.${name}[${i}]`, 1e-4, 2e-6);
    }
  }
}

describe('smear step', () => {
  let dir: string;
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'step-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const m of METHODS) {
    it(`resnet ${m.name}: oracle CE and BN statistics, finite differences, Adam update`, async () => {
      const n = 3;
      const model = new RoutedResNet({ numClasses: 4, widths: [8, 8, 8, 8], stem: 'small', routing: { method: m.name, numExperts: m.kind === 'dense' ? 1 : n, bottleneck: 2, expertDropout: 0 }, seed: 1 });
      const rcfg = model.blocks[0].routing.config;
      const sd = randomStateDict(model, 11);
      model.loadStateDict(new Map([...sd].map(([k, v]) => [k, { shape: v.shape, data: v.data }])));
      const ckpt = path.join(dir, `resnet-${m.name}.safetensors`);
      await saveResNetSafetensors(model, ckpt);
      model.dispose();
      const N = rcfg.numExperts;
      const T = rcfg.numTags;
      const px = new Rng(5).normal(B * 3 * H * H, 1);
      const labels = [1, 3, 0];
      const domains = [0, 2, 1].map((d) => d % T);
      const hash = Array.from({ length: B * 8 }, (_, i) => (i * 5 + 1) % N);
      // The oracle draws from rng in its documented order; replay it for the input file.
      const oracleOut = () =>
        resnetOracle(
          { widths: [8, 8, 8, 8], stem: 'small', routing: { method: m.name, N, d: 2, T, P: rcfg.slotsPerExpert, expertDropout: 0, tagToExpert: rcfg.tagToExpert } },
          sd,
          Array.from(px),
          B,
          H,
          H,
          { training: true, rng: new Rng(99), domainIds: domains, hashIds: hash },
        );
      const expected = oracleOut();
      const input: Record<string, TensorToWrite> = {
        pixel_values: { dtype: 'F32', shape: [B, 3, H, H], data: px },
        labels: { dtype: 'I64', shape: [B], data: labels },
        domain_ids: { dtype: 'I64', shape: [B], data: domains },
        hash_ids: { dtype: 'I64', shape: [B, 8], data: hash },
      };
      const rng = new Rng(99);
      for (let k = 0; k < 8; k++) {
        if (m.name === 'st-gumbel') {
          const u = rng.uniform(B * N);
          input[`gumbel_noise.${k}`] = { dtype: 'F32', shape: [B, N], data: Float32Array.from(u, (x) => -Math.log(-Math.log(x + 1e-20) + 1e-20)) };
        } else if (m.name === 'skills') {
          input[`skills_uniform.${k}`] = { dtype: 'F32', shape: [T, N], data: rng.uniform(T * N) };
        } else if (m.name === 'adamix') {
          input[`adamix_down.${k}`] = { dtype: 'I64', shape: [B], data: rng.uniformInt(B, N) };
          input[`adamix_up.${k}`] = { dtype: 'I64', shape: [B], data: rng.uniformInt(B, N) };
        } else if (m.name === 'reinforce') {
          input[`reinforce_action.${k}`] = { dtype: 'I64', shape: [B], data: expected.blocks[k].index! };
        }
      }
      if (m.name === 'adamix') {
        const r2 = new Rng(7);
        for (let k = 0; k < 8; k++) {
          input[`adamix_down.${k}.pass2`] = { dtype: 'I64', shape: [B], data: r2.uniformInt(B, N) };
          input[`adamix_up.${k}.pass2`] = { dtype: 'I64', shape: [B], data: r2.uniformInt(B, N) };
        }
      }
      const inFile = path.join(dir, `resnet-${m.name}-in.safetensors`);
      await writeSafetensors(inFile, input);
      const outFile = path.join(dir, `resnet-${m.name}-out.safetensors`);
      const lr = 1e-3;
      await runStep({ setting: 'resnet', checkpoint: ckpt, input: inFile, out: outFile, lr });
      const { tensors: out, metadata } = await readSafetensors(outFile);
      assert.equal(metadata['smear.method'], m.name);
      // Oracle: mean cross-entropy of pass 1 and (one pass) the running statistics.
      let ce = 0;
      for (let b = 0; b < B; b++) {
        const row = expected.logits.slice(b * 4, b * 4 + 4);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        ce += (lse - row[labels[b]]) / B;
      }
      close(out.get('loss.ce')!.data[0], ce, `${m.name}: loss.ce vs oracle`, 2e-4, 2e-5);
      if (m.name !== 'adamix') {
        for (const [k, v] of expected.running) {
          const got = out.get(`param.${k}`);
          assert.ok(got, `${m.name}: param.${k} written`);
          for (let i = 0; i < v.length; i++) close(got.data[i], v[i], `${m.name}: param.${k}[${i}]`, 1e-3, 1e-4);
        }
      }
      if (m.name === 'skills' || m.name === 'tag' || m.name === 'hash' || m.name === 'topk' || m.name === 'st-gumbel' || m.name === 'reinforce') {
        for (let k = 0; k < 8; k++) if (expected.blocks[k].index) assert.deepEqual(Array.from(out.get(`expert_index.${k}`)?.data ?? []), expected.blocks[k].index, `${m.name}: expert_index.${k}`);
      }
      // Adam's first update from the written gradients.
      const before = new Map<string, ArrayLike<number>>([...sd].map(([k, v]) => [k, v.data]));
      checkFirstUpdate(out, before, lr, 1, 'adam', `resnet ${m.name}`);
      // Finite differences along a random direction of two tensors.
      const keys = ['classification_layer.weight', 'layer4.1.adapter_controller.multi_adapters.up_samplers_weights'];
      const dirs = new Map<string, Float64Array>();
      const dr = new Rng(3);
      let analytic = 0;
      for (const k of keys) {
        const g = out.get(`grad.${k}`);
        assert.ok(g, `${m.name}: grad.${k} written`);
        const d = Float64Array.from(dr.normal(g.data.length, 1));
        dirs.set(k, d);
        for (let i = 0; i < d.length; i++) analytic += g.data[i] * d[i];
      }
      const h = 1e-2;
      // REINFORCE's policy/value terms stop the gradient of ℓ; DSelect-k's regulariser (large,
      // so float32 differences of the total are coarse) reads z only: both compare with loss.ce.
      const lossKey = m.name === 'reinforce' || m.name === 'dselect-k' ? 'loss.ce' : 'loss';
      const at = async (s: number) => {
        const f = path.join(dir, `resnet-${m.name}-${s}.safetensors`);
        await perturbed(ckpt, f, dirs, s * h);
        const o = path.join(dir, `resnet-${m.name}-${s}-out.safetensors`);
        await runStep({ setting: 'resnet', checkpoint: f, input: inFile, out: o, lr });
        return (await readSafetensors(o)).tensors.get(lossKey)!.data[0];
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * h);
      close(analytic, fd, `${m.name}: Σ grad·dir vs finite difference of ${lossKey}`, 2e-2, 2e-3);
    });
  }

  for (const m of METHODS) {
    it(`t5 ${m.name}: finite differences, AdamW update, routing record`, async () => {
      const n = m.kind === 'dense' ? 1 : 4;
      const model = new RoutedT5({ config: 't5-test', routing: { method: m.name, numExperts: n, bottleneck: 3, expertDropout: 0 }, seed: 3 });
      const rng0 = new Rng(9);
      for (const s of model.sublayers) {
        for (const [name, v] of s.routing.params) {
          const vals = /gain$/.test(name) ? rng0.normal(v.size, 0.3, 1) : rng0.normal(v.size, name.startsWith('router.weight') ? 1 : 0.3);
          v.assign(tf.tensor(vals, v.shape, 'float32'));
        }
      }
      const ckpt = path.join(dir, `t5-${m.name}.safetensors`);
      await saveRoutedT5(model, ckpt);
      const blocks = model.numRoutingBlocks;
      const T = model.routingConfig.numTags ?? n;
      model.dispose();
      const V = T5_PRESETS['t5-test'].vocabSize;
      const S = 5;
      const TT = 4;
      const input: Record<string, TensorToWrite> = {
        input_ids: { dtype: 'I64', shape: [B, S], data: [5, 9, 13, 2, 1, 7, 3, 1, 0, 0, 11, 12, 30, 1, 0] },
        attention_mask: { dtype: 'I64', shape: [B, S], data: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0] },
        decoder_input_ids: { dtype: 'I64', shape: [B, TT], data: [0, 4, 8, 1, 0, 22, 1, 0, 0, 6, 6, 6] },
        labels: { dtype: 'I64', shape: [B, TT], data: [4, 8, 1, 0, 22, 1, 0, 0, 6, 6, 6, 1] },
        task_ids: { dtype: 'I64', shape: [B], data: [2, 0, 3].map((t) => t % Math.min(T, n)) },
        hash_ids: { dtype: 'I64', shape: [B, blocks], data: Array.from({ length: B * blocks }, (_, i) => (i * 7 + 3) % n) },
      };
      const rng = new Rng(21);
      for (let pass = 0; pass < (m.trainingPasses ?? 1); pass++) {
        const suffix = pass ? '.pass2' : '';
        for (let k = 0; k < blocks; k++) {
          if (m.name === 'st-gumbel') input[`gumbel_noise.${k}`] = { dtype: 'F32', shape: [B, n], data: Float32Array.from(rng.uniform(B * n), (x) => -Math.log(-Math.log(x + 1e-20) + 1e-20)) };
          if (m.name === 'skills') input[`skills_uniform.${k}`] = { dtype: 'F32', shape: [T, n], data: rng.uniform(T * n) };
          if (m.name === 'reinforce') input[`reinforce_action.${k}`] = { dtype: 'I64', shape: [B], data: rng.uniformInt(B, n) };
          if (m.name === 'adamix') {
            input[`adamix_down.${k}${suffix}`] = { dtype: 'I64', shape: [B], data: rng.uniformInt(B, n) };
            input[`adamix_up.${k}${suffix}`] = { dtype: 'I64', shape: [B], data: rng.uniformInt(B, n) };
          }
        }
      }
      const inFile = path.join(dir, `t5-${m.name}-in.safetensors`);
      await writeSafetensors(inFile, input);
      const outFile = path.join(dir, `t5-${m.name}-out.safetensors`);
      const lr = 1e-3;
      await runStep({ setting: 't5', checkpoint: ckpt, input: inFile, out: outFile, lr });
      const { tensors: out } = await readSafetensors(outFile);
      if (m.name === 'reinforce') for (let k = 0; k < blocks; k++) assert.deepEqual(Array.from(out.get(`expert_index.${k}`)!.data), Array.from(input[`reinforce_action.${k}`].data), `reinforce: expert_index.${k} = the given action`);
      if (m.name === 'adamix') for (let k = 0; k < blocks; k++) assert.deepEqual(Array.from(out.get(`up_index.${k}`)!.data), Array.from(input[`adamix_up.${k}`].data), `adamix: up_index.${k}`);
      const { tensors: ck } = await readSafetensors(ckpt);
      const before = new Map<string, ArrayLike<number>>([...ck].map(([k, v]) => [k, v.data]));
      checkFirstUpdate(out, before, lr, 1, 'adamw', `t5 ${m.name}`);
      const keys = ['decoder.final_layer_norm.weight', 'decoder.block.1.layer.2.adapter_controller.multi_adapters.up_samplers_weights'];
      const dirs = new Map<string, Float64Array>();
      const dr = new Rng(4);
      let analytic = 0;
      for (const k of keys) {
        const g = out.get(`grad.${k}`);
        assert.ok(g, `${m.name}: grad.${k} written`);
        const d = Float64Array.from(dr.normal(g.data.length, 0.5));
        dirs.set(k, d);
        for (let i = 0; i < d.length; i++) analytic += g.data[i] * d[i];
      }
      const h = 1e-2;
      // REINFORCE's policy/value terms stop the gradient of ℓ; DSelect-k's regulariser (large,
      // so float32 differences of the total are coarse) reads z only: both compare with loss.ce.
      const lossKey = m.name === 'reinforce' || m.name === 'dselect-k' ? 'loss.ce' : 'loss';
      const at = async (s: number) => {
        const f = path.join(dir, `t5-${m.name}-${s}.safetensors`);
        await perturbed(ckpt, f, dirs, s * h);
        const o = path.join(dir, `t5-${m.name}-${s}-out.safetensors`);
        await runStep({ setting: 't5', checkpoint: f, input: inFile, out: o, lr });
        return (await readSafetensors(o)).tensors.get(lossKey)!.data[0];
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * h);
      close(analytic, fd, `${m.name}: Σ grad·dir vs finite difference of ${lossKey}`, 2e-2, 2e-3);
    });
  }

  it('missing draws, labels and bad options are errors naming the tensor or option', async () => {
    const model = new RoutedT5({ config: 't5-test', routing: { method: 'st-gumbel', numExperts: 4, bottleneck: 3 }, seed: 3 });
    const ckpt = path.join(dir, 't5-err.safetensors');
    await saveRoutedT5(model, ckpt);
    model.dispose();
    const inFile = path.join(dir, 'err-in.safetensors');
    const base: Record<string, TensorToWrite> = {
      input_ids: { dtype: 'I64', shape: [1, 2], data: [5, 1] },
      decoder_input_ids: { dtype: 'I64', shape: [1, 2], data: [0, 4] },
    };
    await writeSafetensors(inFile, base);
    const out = path.join(dir, 'err-out.safetensors');
    await assert.rejects(runStep({ setting: 't5', checkpoint: ckpt, input: inFile, out }), /missing tensor 'labels' \(int64 \[1,2\]/);
    await writeSafetensors(inFile, { ...base, labels: { dtype: 'I64', shape: [1, 2], data: [4, 1] } });
    await assert.rejects(runStep({ setting: 't5', checkpoint: ckpt, input: inFile, out }), /missing tensor 'gumbel_noise\.0' \(f32 \[1,4\]\): 'st-gumbel' draws it in training/);
    await assert.rejects(runStep({ setting: 't5', checkpoint: ckpt, input: inFile, out, method: 'smear' }), /--method smear \('smear'\) contradicts the checkpoint .*says 'st-gumbel'/);
    await assert.rejects(runStep({ setting: 'vit', checkpoint: ckpt, input: inFile, out }), /--setting: expected 'resnet' or 't5', got 'vit'/);
    assert.equal(fs.existsSync(out), false);
  });
});
