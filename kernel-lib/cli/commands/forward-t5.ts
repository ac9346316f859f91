/**
 * `smear forward --setting t5 …`: eval-mode forward of a routed T5 on one batch.
 *
 *   checkpoint: a routed model file (`saveRoutedT5`, or the reference's names:
 *               routing tensors under `….adapter_controller.`), or a Hugging Face
 *               folder (`config.json` + `model.safetensors`, T5 v1.1 keys). N and
 *               d are inferred from the routing tensors; a checkpoint without any
 *               gets fresh routing blocks from `experts` / `bottleneck` / `seed`
 *               (defaults 8 (1 for dense) / 24 / 42).
 *   input:      input_ids         int64 [B,S]
 *               attention_mask    int64 [B,S]   (0/1; default all ones)
 *               decoder_input_ids int64 [B,T]   (start token 0, then the shifted labels)
 *               task_ids          int64 [B]     (needed by tag / skills routing)
 *               hash_ids          int64 [B,R]   R ≥ number of routing blocks (60 for base; needed by hash routing)
 *   output:     logits            f32 [B,T,V]
 *               routing.<k>       f32 [B,N]  router probabilities of block k (methods with a router)
 *               expert_index.<k>  int64 [B]  chosen expert of block k (discrete methods)
 * Block k is the reference's router index: encoder block i → 2i, 2i+1;
 * decoder block i → 2·L_enc + 3i + {0,1,2}.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { readSafetensors, writeSafetensors } from '../../io/safetensors';
import type { LoadedTensor, TensorToWrite } from '../../io/safetensors';
import { loadRoutedT5 } from '../../models/t5/weights';
import type { RoutedT5, T5RoutingConfig } from '../../models/t5/model';
import { getMethod } from '../../routing/registry';
import { forwardOutputs } from './forward-outputs';
import { parseJson } from '../../util/json';
import { buildModel } from '../../settings/t5/run';
import type { T5RunConfig } from '../../settings/t5/config';
import { checkAgainstReference, ignoredKeysLine, readT5ReferenceConfig, type T5ReferenceConfig } from '../../settings/t5/reference-config';
import { checkFinite, isRunCheckpoint, loadRunState, methodFromTensorNames, peekSafetensors, readRunConfig, resolveMethod, type LoadedInfo } from './checkpoint';

/** Default routing sizes for a checkpoint without routing tensors (the paper's T5 setting). */
export const T5_FORWARD_DEFAULTS = { experts: 8, bottleneck: 24, seed: 42 } as const;

export interface T5ForwardOptions extends T5LoadOptions {
  input: string;
  out: string;
}

function fail(msg: string): never {
  throw new Error(`smear forward: ${msg}`);
}

async function weightsFile(p: string): Promise<string> {
  let stat;
  try {
    stat = await fsp.stat(p);
  } catch {
    fail(`--checkpoint ${p}: no such file or folder`);
  }
  return stat.isDirectory() ? path.join(p, 'model.safetensors') : p;
}

/** What the T5 loader of `smear forward` / `smear step` takes. */
export interface T5LoadOptions {
  method?: string;
  checkpoint: string;
  experts?: number;
  bottleneck?: number;
  seed?: number;
  /** A reference adapter configuration file (settings/t5/reference-config). */
  referenceConfig?: string;
  allowNonFinite?: boolean;
  /** Routing overrides (smear step: expertDropout 0). */
  routing?: Partial<T5RoutingConfig>;
}

/** The model with where its method and sizes came from. */
export async function loadT5ForCommand(opts: T5LoadOptions): Promise<{ model: RoutedT5; info: LoadedInfo; reference?: T5ReferenceConfig }> {
  for (const k of ['experts', 'bottleneck'] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) fail(`--${k}: expected a positive integer, got ${v}`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(`--seed: expected an integer, got ${opts.seed}`);
  const rc = opts.referenceConfig !== undefined ? readT5ReferenceConfig(opts.referenceConfig) : undefined;
  if (rc) {
    checkAgainstReference(rc, [
      { option: '--experts', value: opts.experts, file: rc.numExperts, key: 'num_adapters' },
      { option: '--bottleneck', value: opts.bottleneck, file: rc.bottleneck, key: 'model_dim / reduction_factor' },
    ]);
    if (opts.method !== undefined) {
      const given = getMethod(opts.method).name;
      if (given !== rc.method) fail(`--method ${opts.method} ('${given}') contradicts --reference-config ${rc.file} (routing_estimator: '${getMethod(rc.method).referenceName}', '${rc.method}'); drop one of them`);
    }
  }
  const explicitMethod = opts.method ?? rc?.method;
  const file = await weightsFile(opts.checkpoint);
  const { keys, metadata } = await peekSafetensors(file);
  const base = {
    routing: {
      ...(rc ? rc.routing : {}),
      ...(opts.routing ?? {}),
    } as Partial<T5RoutingConfig>,
  };
  let model: RoutedT5;
  let info: LoadedInfo;
  if (isRunCheckpoint(keys, metadata)) {
    const run = readRunConfig(file);
    if (run.config.setting !== undefined && run.config.setting !== 't5') fail(`--checkpoint ${file}: ${run.path} is a '${String(run.config.setting)}' run, not --setting t5`);
    const method = resolveMethod(explicitMethod, { method: String(run.config.method), where: `${run.path} (method)` }, file);
    const cfg = run.config as unknown as T5RunConfig;
    for (const [k, v, key] of [['experts', cfg.numExperts, 'numExperts'], ['bottleneck', cfg.bottleneck, 'bottleneck']] as const) {
      const given = opts[k] ?? (rc ? (k === 'experts' ? rc.numExperts : rc.bottleneck) : undefined);
      if (given !== undefined && given !== v) fail(`${opts[k] !== undefined ? `--${k}` : `--reference-config ${rc!.file}`} ${given} contradicts ${run.path} (${key}: ${v})`);
    }
    if (rc && rc.sameRteMnliInEncoder !== !!cfg.model?.sameRteMnliInEncoder) {
      fail(`--reference-config ${rc.file} (same_rte_mnli/only_in_encoder: ${rc.sameRteMnliInEncoder}) contradicts ${run.path} (model.sameRteMnliInEncoder: ${!!cfg.model?.sameRteMnliInEncoder})`);
    }
    const { tensors } = await readSafetensors(file);
    if (!opts.allowNonFinite) checkFinite(tensors, file);
    try {
      model = await buildModel({ ...cfg, method, ...(base.routing.expertDropout !== undefined ? { expertDropout: base.routing.expertDropout } : {}) });
    } catch (e) {
      fail(`${run.path}: ${(e as Error).message}`);
    }
    try {
      loadRunState(model.variables(), tensors, file, (k) => k.includes('.adapter_controller.') || k.endsWith('layer_norm.weight'));
    } catch (e) {
      model.dispose();
      throw e;
    }
    info = {
      method,
      numExperts: model.routingConfig.numExperts,
      bottleneck: model.routingConfig.bottleneck,
      configuration: typeof cfg.configuration === 'string' ? cfg.configuration : undefined,
      source: run.path,
      runConfig: run.config,
      runConfigPath: run.path,
      keyPrefix: '',
    };
  } else {
    const hasRouting = keys.some((k) => k.includes('.adapter_controller.'));
    let metaMethod: string | undefined = metadata['smear.method'];
    if (metaMethod === undefined && metadata['smear.routing'] !== undefined) {
      metaMethod = parseJson<{ method?: string }>(metadata['smear.routing'], `${opts.checkpoint} (metadata smear.routing)`).method;
    }
    const fromTensors = methodFromTensorNames(keys);
    const found = metaMethod !== undefined
      ? { method: metaMethod, where: 'its metadata smear.method' }
      : fromTensors
        ? { method: fromTensors.method, where: `its tensor '${fromTensors.tensor}'` }
        : undefined;
    const method = resolveMethod(explicitMethod, found, opts.checkpoint);
    const routing: Partial<T5RoutingConfig> = { ...base.routing, method };
    const experts = opts.experts ?? rc?.numExperts;
    const bottleneck = opts.bottleneck ?? rc?.bottleneck;
    if (hasRouting) {
      // N and d come from the routing tensors; given values must agree (loadRoutedT5 checks).
      if (experts !== undefined) routing.numExperts = experts;
      if (bottleneck !== undefined) routing.bottleneck = bottleneck;
    } else {
      routing.numExperts = experts ?? getMethod(method).fixedExperts ?? T5_FORWARD_DEFAULTS.experts;
      routing.bottleneck = bottleneck ?? T5_FORWARD_DEFAULTS.bottleneck;
    }
    try {
      model = await loadRoutedT5(opts.checkpoint, {
        routing,
        ...(rc ? { sameRteMnliInEncoder: rc.sameRteMnliInEncoder } : {}),
        ...(hasRouting ? (opts.seed !== undefined ? { seed: opts.seed } : {}) : { seed: opts.seed ?? T5_FORWARD_DEFAULTS.seed }),
        rejectNonFinite: !opts.allowNonFinite,
      });
    } catch (e) {
      let msg = (e as Error).message.replace('pass options.routing.method', 'pass --method <name>');
      if (msg.endsWith('the weights are not finite')) msg += ' (a diverged run?); pass --allow-non-finite to load them anyway';
      if (rc) msg = msg.replace(/option routing\.numExperts (\d+)/, `--reference-config ${rc.file} (num_adapters $1)`).replace(/option routing\.bottleneck (\d+)/, `--reference-config ${rc.file} (model_dim / reduction_factor = $1)`);
      msg = msg.replace(/option routing\.numExperts/, '--experts').replace(/option routing\.bottleneck/, '--bottleneck');
      fail(msg);
    }
    info = {
      method,
      numExperts: model.routingConfig.numExperts,
      bottleneck: model.routingConfig.bottleneck,
      source: found ? `${opts.checkpoint} (${found.where})` : rc ? `--reference-config ${rc.file}` : '--method',
      keyPrefix: keys.length > 0 && keys.every((k) => k.startsWith('model.')) ? 'model.' : '',
    };
  }
  if (rc && model.config.dModel !== rc.modelDim) {
    const d = model.config.dModel;
    model.dispose();
    fail(`--reference-config ${rc.file}: model_dim ${rc.modelDim} differs from the checkpoint's d_model ${d}`);
  }
  return { model, info, reference: rc };
}

/** Load the model as the command does (exported for tests and notebooks). */
export async function loadT5ForForward(opts: T5LoadOptions): Promise<RoutedT5> {
  return (await loadT5ForCommand(opts)).model;
}

type Ints = { data: Int32Array; shape: number[] };

/** An integer tensor of the input file, validated (name, dtype, rank, batch). */
export function intTensor(
  tensors: Map<string, LoadedTensor>,
  name: string,
  file: string,
  want: string,
  rank: number,
  batch: number | undefined,
  why = '',
): Ints | undefined {
  const t = tensors.get(name);
  if (!t) return undefined;
  if (!(t.data instanceof Int32Array)) fail(`${file}: tensor '${name}': expected an integer dtype (int64 or int32) ${want}, got ${t.dtype}`);
  if (t.shape.length !== rank || (batch !== undefined && t.shape[0] !== batch) || t.shape.some((s) => s < 1)) {
    fail(`${file}: tensor '${name}': expected shape ${want.replace(/^int64 /, '')}${why}, got [${t.shape}]`);
  }
  return { data: t.data, shape: t.shape };
}

export function checkRange(t: Ints, name: string, file: string, lo: number, hi: number, what: string): void {
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (v < lo || v >= hi) {
      const at = t.shape.length === 2 ? `[${Math.floor(i / cols)}][${i % cols}]` : `[${i}]`;
      fail(`${file}: tensor '${name}'${at} = ${v}: expected ${what} in [${lo}, ${hi})`);
    }
  }
}

export async function runT5Forward(opts: T5ForwardOptions): Promise<void> {
  await initBackend();
  const { model, info, reference } = await loadT5ForCommand(opts);
  if (reference) {
    const line = ignoredKeysLine(reference);
    if (line) process.stderr.write(`smear forward: ${line}\n`);
  }
  try {
    const { tensors } = await readSafetensors(opts.input);
    const file = opts.input;
    const method = getMethod(model.method);
    const nBlocks = model.numRoutingBlocks;
    const { vocabSize: v } = model.config;
    const { numExperts: n } = model.routingConfig;
    const numTags = model.routingConfig.numTags ?? n;

    const ids = intTensor(tensors, 'input_ids', file, 'int64 [B,S]', 2, undefined);
    if (!ids) fail(`${file}: missing tensor 'input_ids' (int64 [B,S], source token ids)`);
    const [b, s] = ids.shape;
    const mask = intTensor(tensors, 'attention_mask', file, `int64 [${b},${s}] (like input_ids)`, 2, b);
    if (mask && mask.shape[1] !== s) fail(`${file}: tensor 'attention_mask': expected shape [${b},${s}] (like input_ids), got [${mask.shape}]`);
    const dec = intTensor(tensors, 'decoder_input_ids', file, `int64 [${b},T]`, 2, b, ' (batch size of input_ids)');
    if (!dec) fail(`${file}: missing tensor 'decoder_input_ids' (int64 [${b},T]: start token 0, then the shifted labels)`);
    const tasks = intTensor(tensors, 'task_ids', file, `int64 [${b}]`, 1, b);
    if (!tasks && method.needsTags) fail(`${file}: missing tensor 'task_ids' (int64 [${b}], one task id per example), needed by '${model.method}' routing`);
    const hash = intTensor(tensors, 'hash_ids', file, `int64 [${b},${nBlocks}]`, 2, b, ' (one column per routing block)');
    if (!hash && method.needsHash) fail(`${file}: missing tensor 'hash_ids' (int64 [${b},${nBlocks}], one column per routing block), needed by hash routing`);
    if (hash && hash.shape[1] < nBlocks) {
      fail(`${file}: tensor 'hash_ids': expected shape [${b},${nBlocks}] (one column per routing block of this model), got [${hash.shape}]`);
    }
    checkRange(ids, 'input_ids', file, 0, v, `a token id of the checkpoint's vocabulary (vocab_size ${v})`);
    checkRange(dec, 'decoder_input_ids', file, 0, v, `a token id of the checkpoint's vocabulary (vocab_size ${v})`);
    if (mask) checkRange(mask, 'attention_mask', file, 0, 2, '0 or 1');
    if (tasks && method.needsTags) checkRange(tasks, 'task_ids', file, 0, numTags, `a task id (${model.method} routing has ${numTags} tags)`);
    if (hash && method.needsHash) checkRange(hash, 'hash_ids', file, 0, n, `an expert index (N = ${n})`);

    const out: Record<string, TensorToWrite> = {};
    const res = model.forward(
      {
        inputIds: ids.data,
        attentionMask: mask?.data,
        decoderInputIds: dec.data,
        batchSize: b,
        taskIds: tasks?.data,
        hashIds: hash?.data,
      },
      { training: false },
    );
    Object.assign(out, await forwardOutputs(res));
    await writeSafetensors(opts.out, out, {
      'smear.setting': 't5',
      'smear.method': model.method,
      'smear.checkpoint': opts.checkpoint,
      'smear.routing': JSON.stringify(model.routingConfig),
      'smear.source': info.source,
      ...(info.configuration ? { 'smear.configuration': info.configuration } : {}),
      ...(reference ? { 'smear.reference-config': reference.file } : {}),
    });
  } finally {
    model.dispose();
  }
}
