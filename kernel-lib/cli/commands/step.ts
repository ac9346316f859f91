/**
 * `smear step --setting resnet|t5 [--method <m>] --checkpoint <file> --input <batch.safetensors>
 *             --out <out.safetensors> [--lr X] [--reference-config F]`
 *
 * One training step in training mode from a checkpoint, for comparing a
 * training step with the reference code. The checkpoint is loaded as
 * `smear forward` loads it (./checkpoint: reference names, run folders).
 * The loss is the setting's own (settings/<s>/task.ts: every auxiliary loss
 * with its weight), the update the setting's optimizer (train/optimizer.ts:
 * ResNet Adam, T5 transformers-3.5 AdamW) with its parameter groups (Latent
 * Skills ×skill_lr_ratio) and global-norm clipping, at `--lr` (default: the
 * configuration's base rate; no warm-up schedule: this is one step).
 * The configuration is the run's config.json for a run checkpoint, else the
 * paper profile (T5: with --reference-config applied).
 *
 * Randomness is off or read from the input: expert dropout 0, T5 backbone
 * dropout 0, and every draw the method declares (`trainingDraws`) as
 * `<input>.<k>` for block k (`<input>.<k>.pass2` for a second pass), e.g.
 *   gumbel_noise.<k>      f32 [B,N]  ST-Gumbel: the noise g added to the logits of block k
 *   reinforce_action.<k>  int64 [B]  REINFORCE: the sampled expert of block k
 *   adamix_down.<k>, adamix_up.<k>              int64 [B]  AdaMix pass 1's experts of block k
 *   adamix_down.<k>.pass2, adamix_up.<k>.pass2  int64 [B]  AdaMix pass 2's
 *   skills_uniform.<k>    f32 [T,N]  Latent Skills: the relaxed Bernoulli's uniforms U (before clamping)
 * The per-step routing context is the method's at step 0 (ST-Gumbel: τ0). Blocks k in router
 * order (ResNet 0..7; T5 encoder 2i, 2i+1, decoder 2·L_enc + 3i + {0,1,2}).
 *
 * Input: the batch as `smear forward` reads it plus
 *   labels  int64 [B] (ResNet: class ids)  or  [B,T] (T5: target ids, 0 = padding, like decoder_input_ids)
 * Output:
 *   loss                    f32 []  the total loss
 *   loss.<name>             f32 []  each logged term (ce, nll, aux, reinforce_*, consistency)
 *   grad_norm               f32 []  global gradient norm before clipping
 *   grad.<reference name>   f32     gradient of every trainable parameter that receives one,
 *                                   before clipping, in the reference's state_dict name and layout
 *   param.<reference name>  f32     every trainable parameter after the step, and (ResNet) every
 *                                   BatchNorm running statistic after the training forward(s)
 *   routing.<k>, expert_index.<k>, up_index.<k>   the routing record of pass 1
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { readMany } from '../../backend/host-read';
import { readSafetensors, writeSafetensors, type LoadedTensor, type TensorToWrite } from '../../io/safetensors';
import { getMethod, METHODS } from '../../routing/registry';
import { drawSize } from '../../routing/block';
import { resolveTrainingOptions } from '../../routing/options';
import type { RoutingMethod } from '../../routing/method';
import type { DrawsForBlock, RoutingDraws, RoutingRecord } from '../../routing/types';
import type { Rng } from '../../util/rng';
import { Optimizer, type OptimizerConfig } from '../../train/optimizer';
import { ResNetTask } from '../../settings/resnet/task';
import { PROFILE_DEFAULTS as RESNET_DEFAULTS, type ResNetRunConfig } from '../../settings/resnet/config';
import { T5Task } from '../../settings/t5/task';
import { PROFILE_DEFAULTS as T5_DEFAULTS, type T5RunConfig } from '../../settings/t5/config';
import type { EvalSets, T5Batch } from '../../settings/t5/data';
import { ignoredKeysLine, type T5ReferenceConfig } from '../../settings/t5/reference-config';
import { ByteTokenizer } from '../../tokenizers/byte';
import { DOMAINS } from '../../datasets/domainnet/layout';
import { t5StateEntries } from '../../models/t5/weights';
import type { Command } from '../command';
import { loadResNetForCommand } from './checkpoint';
import { checkRange, intTensor, loadT5ForCommand } from './forward-t5';

function fail(msg: string): never {
  throw new Error(`smear step: ${msg.replace(/^smear forward: /, '')}`);
}

export interface StepOptions {
  setting: string;
  method?: string;
  checkpoint: string;
  input: string;
  out: string;
  lr?: number;
  referenceConfig?: string;
  allowNonFinite?: boolean;
}

/** The draws of every pass from the input file; every one the method declares must be there. */
function readDraws(method: RoutingMethod, tensors: Map<string, LoadedTensor>, blocks: number, file: string, shapes: { b: number; n: number; t: number }): DrawsForBlock[] {
  const passes = method.trainingPasses ?? 1;
  const out: DrawsForBlock[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const perBlock: RoutingDraws[] = [];
    for (let k = 0; k < blocks; k++) {
      const d: Record<string, Int32Array | Float32Array> = {};
      for (const spec of method.trainingDraws ?? []) {
        const ints = spec.dtype === 'int32';
        const name = `${spec.input}.${k}${pass ? `.pass${pass + 1}` : ''}`;
        const t = tensors.get(name);
        const { dims: want } = drawSize(spec, shapes.b, shapes.n, shapes.t);
        if (!t) fail(`${file}: missing tensor '${name}' (${ints ? 'int64' : 'f32'} [${want}]): '${method.name}' draws it in training; smear step reads it from the input`);
        if (ints !== t.data instanceof Int32Array) fail(`${file}: tensor '${name}': expected ${ints ? 'an integer dtype (int64 or int32)' : 'a float dtype'}, got ${t.dtype}`);
        if (t.shape.join(',') !== want.join(',')) fail(`${file}: tensor '${name}': expected shape [${want}] [${spec.shape}], got [${t.shape}]`);
        d[spec.field] = ints ? Int32Array.from(t.data) : Float32Array.from(t.data);
      }
      perBlock.push(d as RoutingDraws);
    }
    out.push((k) => perBlock[k]);
  }
  return out;
}

/** The input tensors of every registered method's draws, for the usage line. */
function drawInputs(): string {
  const specs = METHODS.flatMap((m) => (m.trainingDraws ?? []).map((d) => ({ d, passes: m.trainingPasses ?? 1 })));
  return specs.map(({ d, passes }) => `${d.input}.<k> ${d.dtype === 'int32' ? 'int64' : 'f32'} [${d.shape}]${passes > 1 ? ' (and .pass2)' : ''}`).join(', ');
}

interface Prepared {
  loss(ctx: { draws: DrawsForBlock[] }): { loss: tf.Scalar; logs: Record<string, tf.Scalar>; records: RoutingRecord[] };
  params: { name: string; variable: tf.Variable; lrScale?: number }[];
  optimizer: OptimizerConfig;
  layout: { key: string; variable: tf.Variable; toReference(t: tf.Tensor): tf.Tensor }[];
  /** Extra state written after the step (ResNet BN running statistics). */
  state: { key: string; variable: tf.Variable; toReference(t: tf.Tensor): tf.Tensor }[];
  method: RoutingMethod;
  blocks: number;
  shapes: { b: number; n: number; t: number };
  keyPrefix: string;
  source: string;
  dispose(): void;
}

const NO_RNG = undefined as unknown as Rng; // every draw is given: any other draw fails naming itself

async function prepareResNet(opts: StepOptions, tensors: Map<string, LoadedTensor>): Promise<Prepared> {
  if (opts.referenceConfig !== undefined) fail('--reference-config applies to --setting t5 (the reference adapter configuration files are the T5 code\'s)');
  const { model, info } = await loadResNetForCommand({ checkpoint: opts.checkpoint, method: opts.method, allowNonFinite: opts.allowNonFinite, routing: { expertDropout: 0 } }).catch((e) => fail((e as Error).message));
  const file = opts.input;
  const px = tensors.get('pixel_values');
  if (!px) fail(`${file}: missing tensor 'pixel_values' (float [B,3,H,W], NCHW)`);
  if (!(px.data instanceof Float32Array)) fail(`${file}: tensor 'pixel_values': expected a float dtype, got ${px.dtype}`);
  if (px.shape.length !== 4 || px.shape[1] !== 3) fail(`${file}: tensor 'pixel_values': expected shape [B,3,H,W] (NCHW), got [${px.shape}]`);
  const b = px.shape[0];
  const k = model.config.numClasses;
  const method = getMethod(model.method);
  const labels = intTensor(tensors, 'labels', file, `int64 [${b}]`, 1, b);
  if (!labels) fail(`${file}: missing tensor 'labels' (int64 [${b}], one class id per example)`);
  checkRange(labels, 'labels', file, 0, k, `a class id (the checkpoint has ${k} classes)`);
  const { numExperts: n, numTags } = model.blocks[0].routing.config;
  const domains = intTensor(tensors, 'domain_ids', file, `int64 [${b}]`, 1, b);
  if (!domains && method.needsTags) fail(`${file}: missing tensor 'domain_ids' (int64 [${b}]), needed by '${method.name}' routing`);
  if (domains && method.needsTags) checkRange(domains, 'domain_ids', file, 0, numTags, `a domain id (${numTags} tags)`);
  const hash = intTensor(tensors, 'hash_ids', file, `int64 [${b},R]`, 2, b);
  if (!hash && method.needsHash) fail(`${file}: missing tensor 'hash_ids' (int64 [${b},R≥8]), needed by hash routing`);
  if (hash && method.needsHash) checkRange(hash, 'hash_ids', file, 0, n, `an expert index (N = ${n})`);
  const run = info.runConfig as unknown as ResNetRunConfig | undefined;
  const cfg: ResNetRunConfig =
    run ??
    ({ ...RESNET_DEFAULTS.paper, method: method.name, configuration: method.configurations[0].label, runDir: '', data: { ...RESNET_DEFAULTS.paper.data, numClasses: k }, losses: resolveTrainingOptions(RESNET_DEFAULTS.paper.losses) } as ResNetRunConfig);
  const task = new ResNetTask(model, cfg, { valid: () => fail('no evaluation'), test: () => fail('no evaluation') }, [...DOMAINS]);
  const pixels = tf.tidy(() => tf.transpose(tf.tensor4d(px.data as Float32Array, px.shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D);
  const batch = { pixels, labels: labels.data, domains: domains?.data ?? new Int32Array(b), hash: hash?.data ?? new Int32Array(b * 8), skipped: 0 };
  const layout = model.referenceLayout();
  return {
    loss: ({ draws }) => task.loss(batch, { step: 0, rng: NO_RNG, draws }),
    params: task.params(),
    optimizer: { kind: 'adam', lr: opts.lr ?? cfg.train.lr, clipNorm: cfg.train.clipNorm },
    layout,
    state: layout.filter((e) => /\.running_(mean|var)$/.test(e.key)),
    method,
    blocks: model.blocks.length,
    shapes: { b, n, t: numTags },
    keyPrefix: info.keyPrefix,
    source: info.source,
    dispose: () => {
      pixels.dispose();
      model.dispose();
    },
  };
}

async function prepareT5(opts: StepOptions, tensors: Map<string, LoadedTensor>): Promise<Prepared & { reference?: T5ReferenceConfig }> {
  const loaded = await loadT5ForCommand({ checkpoint: opts.checkpoint, method: opts.method, referenceConfig: opts.referenceConfig, allowNonFinite: opts.allowNonFinite, routing: { expertDropout: 0 } }).catch((e) => fail((e as Error).message));
  const { model, info, reference: rc } = loaded;
  const file = opts.input;
  const method = getMethod(model.method);
  const { vocabSize: v } = model.config;
  const n = model.routingConfig.numExperts;
  const numTags = model.routingConfig.numTags ?? n;
  const nBlocks = model.numRoutingBlocks;
  const ids = intTensor(tensors, 'input_ids', file, 'int64 [B,S]', 2, undefined);
  if (!ids) fail(`${file}: missing tensor 'input_ids' (int64 [B,S], source token ids)`);
  const [b, s] = ids.shape;
  const mask = intTensor(tensors, 'attention_mask', file, `int64 [${b},${s}] (like input_ids)`, 2, b);
  if (mask && mask.shape[1] !== s) fail(`${file}: tensor 'attention_mask': expected shape [${b},${s}] (like input_ids), got [${mask.shape}]`);
  const dec = intTensor(tensors, 'decoder_input_ids', file, `int64 [${b},T]`, 2, b, ' (batch size of input_ids)');
  if (!dec) fail(`${file}: missing tensor 'decoder_input_ids' (int64 [${b},T]: start token 0, then the shifted labels)`);
  const t = dec.shape[1];
  const labels = intTensor(tensors, 'labels', file, `int64 [${b},${t}] (like decoder_input_ids)`, 2, b);
  if (!labels) fail(`${file}: missing tensor 'labels' (int64 [${b},${t}]: target token ids, 0 = padding, like decoder_input_ids)`);
  if (labels.shape[1] !== t) fail(`${file}: tensor 'labels': expected shape [${b},${t}] (like decoder_input_ids), got [${labels.shape}]`);
  const tasks = intTensor(tensors, 'task_ids', file, `int64 [${b}]`, 1, b);
  if (!tasks && method.needsTags) fail(`${file}: missing tensor 'task_ids' (int64 [${b}]), needed by '${method.name}' routing`);
  const hash = intTensor(tensors, 'hash_ids', file, `int64 [${b},${nBlocks}]`, 2, b, ' (one column per routing block)');
  if (!hash && method.needsHash) fail(`${file}: missing tensor 'hash_ids' (int64 [${b},${nBlocks}]), needed by hash routing`);
  if (hash && hash.shape[1] < nBlocks) fail(`${file}: tensor 'hash_ids': expected shape [${b},${nBlocks}] (one column per routing block of this model), got [${hash.shape}]`);
  for (const [x, name] of [[ids, 'input_ids'], [dec, 'decoder_input_ids'], [labels, 'labels']] as const) {
    checkRange(x, name, file, 0, v, `a token id of the checkpoint's vocabulary (vocab_size ${v})`);
  }
  if (mask) checkRange(mask, 'attention_mask', file, 0, 2, '0 or 1');
  if (tasks && method.needsTags) checkRange(tasks, 'task_ids', file, 0, numTags, `a task id (${numTags} tags)`);
  if (hash && method.needsHash) checkRange(hash, 'hash_ids', file, 0, n, `an expert index (N = ${n})`);
  const run = info.runConfig as unknown as T5RunConfig | undefined;
  const base = T5_DEFAULTS.paper;
  const cfg: T5RunConfig =
    run ??
    ({
      ...base,
      method: method.name,
      configuration: method.configurations[0].label,
      runDir: '',
      train: { ...base.train, ...(rc?.train ?? {}) },
      losses: resolveTrainingOptions(base.losses, rc?.losses),
    } as T5RunConfig);
  const task = new T5Task(model, cfg, { tasks: [] } as unknown as EvalSets, new ByteTokenizer());
  const batch: T5Batch = {
    batchSize: b,
    inputIds: ids.data,
    attentionMask: mask?.data ?? new Int32Array(b * s).fill(1),
    srcLen: s,
    labels: labels.data,
    decoderInputIds: dec.data,
    tgtLen: t,
    taskIds: tasks?.data ?? new Int32Array(b),
    hashIds: hash?.data ?? new Int32Array(b * nBlocks),
    hashColumns: hash ? hash.shape[1] : nBlocks,
  };
  return {
    loss: ({ draws }) => task.loss(batch, { step: 0, rng: NO_RNG, draws, disableDropout: true }),
    params: task.params(),
    optimizer: { kind: 'adamw', lr: opts.lr ?? cfg.train.lr, clipNorm: cfg.train.clipNorm, weightDecay: cfg.train.weightDecay },
    layout: t5StateEntries(model),
    state: [],
    method,
    blocks: nBlocks,
    shapes: { b, n, t: numTags },
    keyPrefix: info.keyPrefix,
    source: info.source,
    reference: rc,
    dispose: () => model.dispose(),
  };
}

/** Run one step and write the output file (exported for tests and notebooks). */
export async function runStep(opts: StepOptions): Promise<void> {
  if (opts.setting !== 'resnet' && opts.setting !== 't5') fail(`--setting: expected 'resnet' or 't5', got '${opts.setting}'`);
  if (opts.lr !== undefined && !(Number.isFinite(opts.lr) && opts.lr >= 0)) fail(`--lr: expected a number >= 0, got ${opts.lr}`);
  await initBackend();
  const { tensors } = await readSafetensors(opts.input).catch((e) => fail(`--input: ${(e as Error).message}`));
  const p = opts.setting === 'resnet' ? await prepareResNet(opts, tensors) : await prepareT5(opts, tensors);
  try {
    const rc = (p as { reference?: T5ReferenceConfig }).reference;
    if (rc) {
      const line = ignoredKeysLine(rc);
      if (line) process.stderr.write(`smear step: ${line}\n`);
    }
    const draws = readDraws(p.method, tensors, p.blocks, opts.input, p.shapes);
    const byVar = new Map(p.layout.map((e) => [e.variable.name, e]));
    const vars = p.params.map((x) => x.variable);
    const nameOf = new Map(p.params.map((x) => [x.variable.name, x.name]));
    let logs: Record<string, tf.Scalar> = {};
    let records: RoutingRecord[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const r = p.loss({ draws });
      logs = Object.fromEntries(Object.entries(r.logs).map(([k, t]) => [k, tf.keep(t)]));
      records = r.records.map((rec) => Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, t ? tf.keep(t as tf.Tensor) : t]))) as RoutingRecord[];
      return r.loss;
    }, vars);
    const order: { key: string; t: tf.Tensor; int?: boolean }[] = [{ key: 'loss', t: value }];
    for (const [k, t] of Object.entries(logs)) order.push({ key: `loss.${k}`, t });
    const refKey = (variable: tf.Variable): { key: string; toReference(t: tf.Tensor): tf.Tensor } => {
      const e = byVar.get(variable.name);
      if (!e) fail(`internal: trainable parameter '${nameOf.get(variable.name)}' has no reference state-dict entry`);
      return { key: `${p.keyPrefix}${e.key}`, toReference: e.toReference };
    };
    const gradByName = new Map<string, tf.Tensor>();
    for (const prm of p.params) {
      const g = grads[prm.variable.name];
      if (!g) continue;
      gradByName.set(prm.name, g);
      const r = refKey(prm.variable);
      order.push({ key: `grad.${r.key}`, t: r.toReference(g) });
    }
    const optimizer = new Optimizer(p.params, p.optimizer);
    const norm = optimizer.step(gradByName);
    order.push({ key: 'grad_norm', t: norm });
    for (const prm of p.params) {
      const r = refKey(prm.variable);
      order.push({ key: `param.${r.key}`, t: r.toReference(prm.variable) });
    }
    for (const e of p.state) order.push({ key: `param.${p.keyPrefix}${e.key}`, t: e.toReference(e.variable) });
    records.forEach((rec, k) => {
      if (rec.probs) order.push({ key: `routing.${k}`, t: rec.probs });
      if (rec.index) order.push({ key: `expert_index.${k}`, t: rec.index, int: true });
      if (rec.upIndex) order.push({ key: `up_index.${k}`, t: rec.upIndex, int: true });
    });
    const out: Record<string, TensorToWrite> = {};
    try {
      const values = await readMany(order.map((o) => o.t));
      order.forEach((o, i) => {
        out[o.key] = o.int ? { dtype: 'I64', shape: o.t.shape, data: Int32Array.from(values[i]) } : { dtype: 'F32', shape: o.t.shape, data: Float32Array.from(values[i]) };
      });
    } finally {
      tf.dispose(order.map((o) => o.t));
      tf.dispose(Object.values(grads));
      tf.dispose(records as unknown as tf.TensorContainer);
      optimizer.dispose();
    }
    await writeSafetensors(opts.out, out, {
      'smear.setting': opts.setting,
      'smear.method': p.method.name,
      'smear.checkpoint': opts.checkpoint,
      'smear.source': p.source,
      'smear.lr': String(p.optimizer.lr),
      'smear.optimizer': JSON.stringify(p.optimizer),
      ...(rc ? { 'smear.reference-config': rc.file } : {}),
    });
  } finally {
    p.dispose();
  }
}

export const stepCommand: Command = {
  name: 'step',
  summary: 'one training step from a checkpoint on a batch: losses, gradients, updated parameters (safetensors out)',
  usage:
    'smear step --setting resnet|t5 [--method <name>] --checkpoint model.safetensors --input batch.safetensors --out out.safetensors [--lr X] [--reference-config <adapter config.json>]',
  options: {
    setting: { type: 'string', description: "model setting: 'resnet' or 't5'", default: 'resnet' },
    method: { type: 'string', description: 'routing method; default: the checkpoint (run config.json, metadata) or --reference-config' },
    checkpoint: { type: 'string', description: 'model weights as smear forward takes them (reference names; runs/<name>/checkpoints/*.safetensors)' },
    input: {
      type: 'string',
      description: `the batch as smear forward reads it, plus labels (resnet int64 [B]; t5 int64 [B,T]); draws: ${drawInputs()}`,
    },
    out: { type: 'string', description: 'where to write loss, loss.<name>, grad_norm, grad.<name>, param.<name>, routing.<k>, expert_index.<k>' },
    lr: { type: 'string', description: "learning rate of the step (default: the configuration's base rate)" },
    'reference-config': { type: 'string', description: "t5: the reference's adapter configuration JSON (method, sizes, loss weights, lr)" },
    'allow-non-finite': { type: 'boolean', description: 'load a checkpoint whose weights hold NaN or Inf' },
  },
  async run({ values }) {
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    try {
      const missing = ['checkpoint', 'input', 'out'].filter((k) => !str(k));
      if (missing.length) {
        process.stderr.write(`smear step: missing option${missing.length > 1 ? 's' : ''} ${missing.map((k) => `--${k}`).join(', ')}\n`);
        return 2;
      }
      const lrText = str('lr');
      const lr = lrText === undefined ? undefined : Number(lrText);
      if (lrText !== undefined && !Number.isFinite(lr)) fail(`--lr: expected a number, got '${lrText}'`);
      await runStep({
        setting: str('setting') ?? 'resnet',
        method: str('method'),
        checkpoint: str('checkpoint')!,
        input: str('input')!,
        out: str('out')!,
        lr,
        referenceConfig: str('reference-config'),
        allowNonFinite: values['allow-non-finite'] === true,
      });
      process.stderr.write(`smear step: wrote ${str('out')}\n`);
      return 0;
    } catch (e) {
      const msg = (e as Error).message;
      process.stderr.write(`${msg.startsWith('smear step:') ? msg : `smear step: ${msg}`}\n`);
      return 1;
    }
  },
};
