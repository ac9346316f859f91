/**
 * The mini profile's pretrained backbone: the role C4 pretraining plays for
 * T5 in the paper. A random tiny T5 with frozen weights cannot learn GLUE
 * through adapters and RMSNorm gains alone, so the mini profile first trains
 * every backbone weight with T5's own objective, span-corruption denoising:
 *
 *   - text: unlabeled mini-GLUE training inputs rendered under random
 *     promptsource templates (the labels and targets are never used), cut to
 *     random windows of `length` byte tokens;
 *   - noise: ~`noiseDensity` of the tokens in spans of mean length `meanSpan`
 *     (T5's random_spans_noise_mask: noise and non-noise run lengths are
 *     random segmentations), each span replaced by a sentinel in the input;
 *     the target is sentinel₀ span₀ sentinel₁ span₁ … EOS;
 *   - sentinels: ids from the top of the byte vocabulary (259, 258, …), i.e.
 *     the spare id and the bytes 0xF5–0xFF that never occur in UTF-8 text;
 *   - loss: mean token cross-entropy (pretraining only; the GLUE runs use the
 *     reference's summed label-smoothed loss), AdamW, clip 1.0, no dropout.
 *
 * RoutedT5 enters its frozen weights through gradient-free customGrads, so
 * pretraining runs its own plain differentiable T5 v1.1 forward here (same
 * equations: RMSNorm, unscaled attention with relative-position buckets,
 * gated GELU, d_model^-0.5 rescale before the untied lm_head; no routing
 * blocks). The result is written as a Hugging Face T5 folder (config.json +
 * model.safetensors with HF names and torch layouts) under
 * data/mini-backbones/, and runs load it through `loadRoutedT5`, the same path
 * as the paper profile's google/t5-v1_1-base folder. `pretrain.json` next to
 * it records the loss curve, held-out denoising accuracy and the time taken.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { packForRead, readPacked, type PackedRead } from '../../backend/host-read';
import * as tf from '@tensorflow/tfjs-core';
import { RoutedT5, relativePositionBuckets, rmsNorm, geluNew, SELF_MASK_VALUE, CROSS_MASK_VALUE } from '../../models/t5/model';
import { resolveT5Config, toHuggingFaceConfig, type T5Config } from '../../models/t5/config';
import { t5StateEntries } from '../../models/t5/weights';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors';
import { writeFileAtomic } from '../../io/atomic';
import { Optimizer } from '../../train/optimizer';
import { Progress } from '../../train/progress';
import { Rng } from '../../util/rng';
import { ByteTokenizer } from '../../tokenizers/byte';
import { applyTemplate, originalTaskTemplates } from '../../datasets/glue/prompts';
import { REPO_ROOT, type T5RunConfig } from './config';
import { loadGlueTasks } from './data';
import { MINI_GLUE_MANIFEST } from '../../datasets/glue/mini';

/** Number of sentinel ids reserved at the top of the vocabulary. */
export const NUM_SENTINELS = 12;

/** Sentinel k's id: vocabSize − 1 − k. */
export function sentinelId(vocabSize: number, k: number): number {
  if (k >= NUM_SENTINELS) throw new Error(`span corruption: more than ${NUM_SENTINELS} spans (lower noiseDensity or raise meanSpan)`);
  return vocabSize - 1 - k;
}

/** Random split of `n` items into `k` non-empty segments (T5's _random_segmentation); lengths in order. */
function randomSegmentation(n: number, k: number, rng: Rng): number[] {
  // choose k−1 distinct cut points in 1..n−1
  const cuts = new Set<number>();
  while (cuts.size < k - 1) cuts.add(1 + rng.uniformInt(1, n - 1)[0]);
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const c of [...sorted, n]) {
    out.push(c - prev);
    prev = c;
  }
  return out;
}

/**
 * T5 span corruption of one token sequence (no EOS in `ids`): returns the
 * corrupted input and the target, both ending with EOS (1).
 */
export function spanCorrupt(ids: readonly number[], rng: Rng, opts: { noiseDensity: number; meanSpan: number; vocabSize: number }): { input: number[]; target: number[] } {
  const n = ids.length;
  const numNoise = Math.min(Math.max(Math.round(n * opts.noiseDensity), 1), n - 1);
  const numSpans = Math.max(1, Math.min(Math.round(numNoise / opts.meanSpan), numNoise, n - numNoise));
  const noiseLens = randomSegmentation(numNoise, numSpans, rng);
  const keepLens = randomSegmentation(n - numNoise, numSpans, rng);
  const input: number[] = [];
  const target: number[] = [];
  let p = 0;
  for (let s = 0; s < numSpans; s++) {
    for (let i = 0; i < keepLens[s]; i++) input.push(ids[p++]);
    const sent = sentinelId(opts.vocabSize, s);
    input.push(sent);
    target.push(sent);
    for (let i = 0; i < noiseLens[s]; i++) target.push(ids[p++]);
  }
  input.push(1);
  target.push(1);
  return { input, target };
}

/** A plain, fully differentiable T5 v1.1 over named variables (our [in,out] layouts, RoutedT5's names). */
export function plainT5Logits(
  cfg: T5Config,
  w: Map<string, tf.Variable>,
  src: { ids: Int32Array; mask: Float32Array; b: number; s: number },
  dec: { ids: Int32Array; t: number },
): tf.Tensor3D {
  const { dModel: c, numHeads: h, dKv: kd, layerNormEps: eps, relativeAttentionNumBuckets: nb, relativeAttentionMaxDistance: md } = cfg;
  const get = (k: string) => {
    const v = w.get(k);
    if (!v) throw new Error(`plainT5Logits: missing weight '${k}'`);
    return v;
  };
  const { b, s } = src;
  const t = dec.t;
  const embed = (ids: Int32Array, l: number) => tf.reshape(tf.gather(get('shared.weight'), tf.tensor1d(ids, 'int32')), [b, l, c]) as tf.Tensor3D;
  const lin = (x: tf.Tensor3D, k: string) => {
    const [bb, l, cin] = x.shape;
    const wt = get(k);
    return tf.reshape(tf.matMul(tf.reshape(x, [bb * l, cin]) as tf.Tensor2D, wt as tf.Tensor2D), [bb, l, wt.shape[1] as number]) as tf.Tensor3D;
  };
  const heads = (x: tf.Tensor3D) => {
    const l = x.shape[1];
    return tf.reshape(tf.transpose(tf.reshape(x, [b, l, h, kd]), [0, 2, 1, 3]), [b * h, l, kd]) as tf.Tensor3D;
  };
  const posBias = (table: string, ql: number, kl: number, bidirectional: boolean) => {
    const buckets = relativePositionBuckets(0, ql, kl, bidirectional, nb, md);
    return tf.reshape(tf.transpose(tf.gather(get(table), tf.tensor1d(buckets, 'int32'))), [1, h, ql, kl]);
  };
  const attend = (x: tf.Tensor3D, mem: tf.Tensor3D, p: string, bias: tf.Tensor) => {
    const q = heads(lin(x, `${p}.q.weight`));
    const k = heads(lin(mem, `${p}.k.weight`));
    const v = heads(lin(mem, `${p}.v.weight`));
    const tq = x.shape[1];
    const tk = mem.shape[1];
    const scores = tf.add(tf.reshape(tf.matMul(q, k, false, true), [b, h, tq, tk]), bias); // no 1/sqrt(d_kv) (T5)
    const ctx = tf.matMul(tf.reshape(tf.softmax(scores), [b * h, tq, tk]) as tf.Tensor3D, v);
    const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [b, h, tq, kd]), [0, 2, 1, 3]), [b, tq, h * kd]) as tf.Tensor3D;
    return lin(merged, `${p}.o.weight`);
  };
  const ff = (x: tf.Tensor3D, p: string) => lin(tf.mul(geluNew(lin(x, `${p}.wi_0.weight`)), lin(x, `${p}.wi_1.weight`)) as tf.Tensor3D, `${p}.wo.weight`);
  const mask = tf.tensor2d(src.mask, [b, s]);
  const keyMask = (value: number) => tf.reshape(tf.mul(tf.sub(1, mask), value), [b, 1, 1, s]);

  let x = embed(src.ids, s);
  const encBias = tf.add(posBias('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', s, s, true), keyMask(SELF_MASK_VALUE));
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `encoder.block.${i}`;
    const n0 = rmsNorm(x, get(`${p}.layer.0.layer_norm.weight`), eps);
    x = tf.add(x, attend(n0, n0, `${p}.layer.0.SelfAttention`, encBias));
    x = tf.add(x, ff(rmsNorm(x, get(`${p}.layer.1.layer_norm.weight`), eps), `${p}.layer.1.DenseReluDense`));
  }
  const enc = rmsNorm(x, get('encoder.final_layer_norm.weight'), eps);

  let y = embed(dec.ids, t);
  const causal = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) causal[i * t + j] = SELF_MASK_VALUE;
  const selfBias = tf.add(posBias('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', t, t, false), tf.tensor4d(causal, [1, 1, t, t]));
  const crossBias = keyMask(CROSS_MASK_VALUE);
  for (let i = 0; i < cfg.numDecoderLayers; i++) {
    const p = `decoder.block.${i}`;
    const n0 = rmsNorm(y, get(`${p}.layer.0.layer_norm.weight`), eps);
    y = tf.add(y, attend(n0, n0, `${p}.layer.0.SelfAttention`, selfBias));
    y = tf.add(y, attend(rmsNorm(y, get(`${p}.layer.1.layer_norm.weight`), eps), enc, `${p}.layer.1.EncDecAttention`, crossBias));
    y = tf.add(y, ff(rmsNorm(y, get(`${p}.layer.2.layer_norm.weight`), eps), `${p}.layer.2.DenseReluDense`));
  }
  const out = tf.mul(rmsNorm(y, get('decoder.final_layer_norm.weight'), eps), c ** -0.5); // reference rescale (kernel-lib/docs/reference-code.md#t5-backbone)
  return lin(out as tf.Tensor3D, 'lm_head.weight');
}

export function backboneConfig(cfg: T5RunConfig): T5Config {
  return resolveT5Config({ preset: cfg.model.preset, ...(cfg.model.overrides ?? {}) } as Partial<T5Config> & { preset: string });
}

/**
 * What the pretraining text depends on: mini-GLUE's generation parameters
 * (its manifest: format version, seed, sizes), or the data folder's path for
 * other data; a short hash of it names the backbone folder, so a regenerated
 * or different data set gets its own backbone.
 */
export function pretrainDataTag(root: string): string {
  const manifest = path.join(root, MINI_GLUE_MANIFEST);
  let key = `path:${path.resolve(root)}`;
  if (fs.existsSync(manifest)) {
    try {
      key = `mini-glue:${JSON.stringify(JSON.parse(fs.readFileSync(manifest, 'utf8')).params)}`;
    } catch {
      /* unreadable manifest: fall back to the path */
    }
  }
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function miniBackboneDir(cfg: T5RunConfig): string {
  const p = cfg.model.pretrain;
  const c = backboneConfig(cfg);
  const shape = `d${c.dModel}-ff${c.dFf}-h${c.numHeads}x${c.dKv}-l${c.numLayers}-${c.numDecoderLayers}`;
  return path.join(
    REPO_ROOT,
    'data',
    'mini-backbones',
    `t5-${shape}-s${cfg.train.seed}-${p.steps}x${p.batchSize}-len${p.length}-lr${p.lr}-n${p.noiseDensity}-m${p.meanSpan}-data${pretrainDataTag(cfg.data.root)}`,
  );
}

export interface PretrainReport {
  steps: number;
  seconds: number;
  firstLoss: number;
  finalLoss: number;
  /** Held-out windows: token accuracy of teacher-forced argmax on the targets (sentinels and EOS included), before and after. */
  heldOutAccuracyBefore: number;
  heldOutAccuracyAfter: number;
}

let pretrainCounter = 0;

/** Pretrain (or reuse) the mini backbone; returns the HF folder. */
export async function ensureMiniT5Backbone(cfg: T5RunConfig, quiet = false): Promise<string> {
  const opts = cfg.model.pretrain;
  for (const [k, min] of [['steps', 1], ['batchSize', 1], ['length', 8]] as const) {
    if (!(Number.isInteger(opts[k]) && opts[k] >= min)) throw new Error(`option model.pretrain.${k}: expected an integer >= ${min} to pretrain the mini backbone, got ${opts[k]}`);
  }
  const dir = miniBackboneDir(cfg);
  if (fs.existsSync(path.join(dir, 'model.safetensors')) && fs.existsSync(path.join(dir, 'config.json'))) return dir;
  const t0 = Date.now();
  const tcfg = backboneConfig(cfg);
  const tok = new ByteTokenizer();
  if (tcfg.vocabSize - NUM_SENTINELS < tok.vocabSize - 11) throw new Error(`pretraining: vocabulary ${tcfg.vocabSize} leaves no room for ${NUM_SENTINELS} sentinels above the bytes`);
  const tasks = await loadGlueTasks(cfg, () => undefined);
  const pool = tasks.flatMap((t) => t.train);
  const templates = new Map(tasks.map((t) => [t.task, originalTaskTemplates(t.task)]));
  const model = new RoutedT5({ config: tcfg, routing: { method: 'dense', numExperts: 1, bottleneck: 1 }, seed: cfg.train.seed + 11 });
  const weights = new Map<string, tf.Variable>();
  const prefix = `pretrain${pretrainCounter++}/`;
  for (const [k, v] of model.variables()) if (!k.includes('.adapter_controller.')) weights.set(k, tf.variable(tf.clone(v), true, `${prefix}${k}`));
  const params = [...weights].map(([name, variable]) => ({ name, variable }));
  const optimizer = new Optimizer(params, { kind: 'adamw', lr: opts.lr, clipNorm: 1 });

  const sample = (rng: Rng, n: number) => {
    const rows = Array.from({ length: n }, () => {
      const ex = pool[rng.uniformInt(1, pool.length)[0]];
      const tpls = templates.get(ex.task)!;
      const ids = tok.encode(applyTemplate(tpls[rng.uniformInt(1, tpls.length)[0]], ex).input).slice(0, -1);
      const start = ids.length > opts.length ? rng.uniformInt(1, ids.length - opts.length + 1)[0] : 0;
      return spanCorrupt(ids.slice(start, start + opts.length), rng, { noiseDensity: opts.noiseDensity, meanSpan: opts.meanSpan, vocabSize: tcfg.vocabSize });
    });
    const s = Math.max(...rows.map((r) => r.input.length));
    const t = Math.max(...rows.map((r) => r.target.length));
    const ids = new Int32Array(n * s);
    const mask = new Float32Array(n * s);
    const labels = new Int32Array(n * t);
    const decIds = new Int32Array(n * t);
    rows.forEach((r, i) => {
      ids.set(r.input, i * s);
      mask.fill(1, i * s, i * s + r.input.length);
      labels.set(r.target, i * t);
      for (let j = 1; j < r.target.length; j++) decIds[i * t + j] = r.target[j - 1];
    });
    return { src: { ids, mask, b: n, s }, dec: { ids: decIds, t }, labels };
  };
  const lossOf = (batch: ReturnType<typeof sample>) => {
    const logits = plainT5Logits(tcfg, weights, batch.src, batch.dec);
    const lab = tf.tensor2d(batch.labels, [batch.src.b, batch.dec.t], 'int32');
    const m = tf.cast(tf.notEqual(lab, 0), 'float32');
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(lab, tcfg.vocabSize), tf.logSoftmax(logits)), -1));
    return { loss: tf.div(tf.sum(tf.mul(nll, m)), tf.sum(m)) as tf.Scalar, logits, m };
  };
  const heldOut = sample(new Rng(cfg.train.seed + 999), 64);
  const accuracy = async () => {
    const [ok, total] = await readPacked(
      tf.tidy(() => {
        const { logits, m } = lossOf(heldOut);
        const hit = tf.mul(tf.cast(tf.equal(tf.argMax(logits, -1), tf.tensor2d(heldOut.labels, [heldOut.src.b, heldOut.dec.t], 'int32')), 'float32'), m);
        return packForRead([tf.sum(hit), tf.sum(m)]) as unknown as tf.TensorContainer;
      }) as unknown as PackedRead,
    );
    return ok[0] / total[0];
  };
  const before = await accuracy();
  const rng = new Rng(cfg.train.seed + 12);
  const progress = new Progress(opts.steps, { label: 'pretrain mini T5 backbone', mode: quiet ? 'none' : 'auto' });
  const curve: number[] = [];
  progress.start(0);
  try {
    for (let step = 0; step < opts.steps; step++) {
      const batch = sample(rng, opts.batchSize);
      const warm = Math.min(1, (step + 1) / Math.max(1, Math.floor(opts.steps / 20)));
      const lossT = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => lossOf(batch).loss, params.map((p) => p.variable));
        const byName = new Map(Object.entries(grads).map(([k, g]) => [k.slice(prefix.length), g]));
        optimizer.step(byName, opts.lr * warm);
        return value;
      });
      const loss = (await lossT.data())[0]; // one read per step
      lossT.dispose();
      if (!Number.isFinite(loss)) throw new Error(`pretraining the mini backbone diverged at step ${step} (loss ${loss}); lower model.pretrain.lr`);
      curve.push(loss);
      progress.update(step + 1, loss);
    }
  } finally {
    progress.stop();
  }
  const after = await accuracy();
  // Write back into the RoutedT5 and save its backbone with HF names.
  for (const [k, v] of weights) model.variables().get(k)!.assign(v);
  const tensors: Record<string, TensorToWrite> = {};
  for (const e of t5StateEntries(model)) {
    if (e.kind === 'routing') continue;
    const t = e.get();
    tensors[e.key] = { dtype: 'F32', shape: t.shape, data: (await t.data()) as Float32Array };
    t.dispose();
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  await writeSafetensors(path.join(tmp, 'model.safetensors'), tensors, { format: 'pt', 'smear.note': 'mini T5 backbone: span-corruption pretraining on unlabeled mini-GLUE prompts' });
  fs.writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(toHuggingFaceConfig(tcfg), null, 2)}\n`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const report: PretrainReport = {
    steps: opts.steps,
    seconds: (Date.now() - t0) / 1000,
    firstLoss: mean(curve.slice(0, 10)),
    finalLoss: mean(curve.slice(-10)),
    heldOutAccuracyBefore: before,
    heldOutAccuracyAfter: after,
  };
  await writeFileAtomic(path.join(tmp, 'pretrain.json'), `${JSON.stringify({ ...report, options: opts, curve }, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  tf.dispose([...weights.values()]);
  optimizer.dispose();
  model.dispose();
  if (!quiet) {
    process.stderr.write(
      `[smear] mini T5 backbone: ${opts.steps} steps in ${report.seconds.toFixed(0)} s, denoising loss ${report.firstLoss.toFixed(2)} → ${report.finalLoss.toFixed(2)}, ` +
        `held-out token accuracy ${(100 * before).toFixed(1)}% → ${(100 * after).toFixed(1)}% (${dir})\n`,
    );
  }
  return dir;
}
