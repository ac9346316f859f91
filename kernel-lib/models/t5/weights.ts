/**
 * T5 checkpoints: Hugging Face T5 v1.1 `model.safetensors` (+ `config.json`)
 * and whole routed models saved with the reference implementation's names.
 *
 * Backbone names and layouts are HF's (torch): Linear weights [out,in] (we
 * store [in,out] and transpose), `shared.weight` [V,C] (the encoder and
 * decoder `embed_tokens.weight` are tied to it: accepted in its place, and
 * checked equal when several are present), relative tables [buckets,H],
 * `lm_head.weight` [V,C]. BF16/F16/F64 tensors are converted to float32 by the
 * safetensors reader.
 *
 * Routing blocks (one per sublayer, prefix `encoder.block.{i}.layer.{0,1}` /
 * `decoder.block.{i}.layer.{0,1,2}`) under `<prefix>.adapter_controller.`:
 *
 *   ours                       reference (hyperformer adapter_controller_fast.py)         shape
 *   experts.down               multi_adapters.down_samplers_weights                      [1,N,C,d]
 *   experts.downBias           multi_adapters.down_samplers_bias                         [1,N,d]
 *   experts.up                 multi_adapters.up_samplers_weights                        [1,N,d,C]
 *   router.weight              multi_routers.router_weights (not DSelect-k)              [1,C,N]
 *   router.inNorm.gain/bias    multi_routers.multi_router_layer_norms.0.weight/bias      [C]
 *   router.weightNorm.*        multi_routers.multi_router_weights_layer_norms.0.*        [C]
 *   postNorm.gain/bias         post_layer_norm.weight/bias                               [C]
 *   baseline.w1/b1/w2/b2       multi_baselines.down_samplers_weights/_bias, up_samplers_weights/_bias  [1,C,h] [1,h] [1,h,1] [1,1]
 *   dselect.z / dselect.w      multi_routers.z_logits / multi_routers.w_logits           [1,C,m] / [C,1]
 *   skills.logits              skill_weights                                             [T,N]
 *
 * Files we write carry `__metadata__` entries `smear.method`, `smear.routing`
 * (JSON of the routing options) and `smear.options` (JSON of the model options),
 * so `loadRoutedT5` can rebuild the model without being told the method.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { hostValuesOf } from '../../backend/host-read';
import { firstNonFinite, readSafetensors, writeSafetensors, type LoadedTensor, type TensorToWrite } from '../../io/safetensors';
import { fromHuggingFaceConfig, toHuggingFaceConfig, type T5Config } from './config';
import { CROSS_TABLE_KEY, RoutedT5, type AttentionWeights, type FfWeights, type RoutedT5Options, type T5RoutingConfig, type T5Sublayer } from './model';

/** A tensor to load: a tf.Tensor or plain data with a shape (e.g. from readSafetensors). */
export type TensorLike = tf.Tensor | { shape: number[]; data: ArrayLike<number> };

/** How one checkpoint entry maps to the model. */
export interface T5StateEntry {
  key: string;
  /** Shape in the checkpoint (torch) layout. */
  shape: number[];
  kind: 'backbone' | 'norm' | 'routing';
  get(): tf.Tensor;
  set(t: tf.Tensor): void;
  /** The variable behind the entry. */
  variable: tf.Variable;
  /** Our layout → the checkpoint's (a transpose or reshape) for a tensor shaped like `variable` (e.g. its gradient). */
  toReference(t: tf.Tensor): tf.Tensor;
}

const EMBED_ALIASES = ['shared.weight', 'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'];


function shapeStr(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

function toTensor(value: TensorLike, key: string): tf.Tensor {
  if (value instanceof tf.Tensor) return value.dtype === 'float32' ? tf.clone(value) : tf.cast(value, 'float32');
  if (value == null || !Array.isArray(value.shape) || value.data == null) {
    throw new Error(`T5 checkpoint '${key}': expected a tf.Tensor or { shape, data }`);
  }
  const n = value.shape.reduce((a, b) => a * b, 1);
  if (value.data.length !== n) throw new Error(`T5 checkpoint '${key}': shape ${shapeStr(value.shape)} needs ${n} values, got ${value.data.length}`);
  return tf.tensor(value.data instanceof Float32Array ? value.data : Float32Array.from(value.data), value.shape, 'float32');
}

function linearEntry(key: string, v: tf.Variable): T5StateEntry {
  const [inDim, outDim] = v.shape;
  return {
    key,
    shape: [outDim, inDim], // torch Linear: out × in
    kind: 'backbone',
    get: () => tf.transpose(v),
    set: (t) => v.assign(tf.transpose(t)),
    variable: v,
    toReference: (t) => tf.transpose(t),
  };
}

function plainEntry(key: string, v: tf.Variable, kind: T5StateEntry['kind']): T5StateEntry {
  return { key, shape: [...v.shape], kind, get: () => tf.clone(v), set: (t) => v.assign(t), variable: v, toReference: (t) => tf.clone(t) };
}

function attnEntries(prefix: string, a: AttentionWeights): T5StateEntry[] {
  return [linearEntry(`${prefix}.q.weight`, a.q), linearEntry(`${prefix}.k.weight`, a.k), linearEntry(`${prefix}.v.weight`, a.v), linearEntry(`${prefix}.o.weight`, a.o)];
}

function ffEntries(prefix: string, w: FfWeights): T5StateEntry[] {
  return [linearEntry(`${prefix}.wi_0.weight`, w.wi0), linearEntry(`${prefix}.wi_1.weight`, w.wi1), linearEntry(`${prefix}.wo.weight`, w.wo)];
}

function sublayerEntries(s: T5Sublayer): T5StateEntry[] {
  const out: T5StateEntry[] = [plainEntry(`${s.prefix}.layer_norm.weight`, s.norm, 'norm')];
  for (const { variable: v, key, shape } of s.routing.referenceEntries('t5')) {
    const ours = v.shape;
    out.push({
      key: `${s.prefix}.adapter_controller.${key}`,
      shape,
      kind: 'routing',
      get: () => tf.reshape(v, shape),
      set: (t) => v.assign(tf.reshape(t, ours)),
      variable: v,
      toReference: (t) => tf.reshape(t, shape),
    });
  }
  return out;
}

/** Every checkpoint entry of a model, in module order (the cross-attention table only when the model has one). */
export function t5StateEntries(model: RoutedT5): T5StateEntry[] {
  const out: T5StateEntry[] = [plainEntry('shared.weight', model.shared, 'backbone')];
  model.encoderBlocks.forEach((b, i) => {
    const p = `encoder.block.${i}`;
    out.push(...attnEntries(`${p}.layer.0.SelfAttention`, b.attn));
    if (i === 0) out.push(plainEntry(`${p}.layer.0.SelfAttention.relative_attention_bias.weight`, model.encoderRelBias, 'backbone'));
    out.push(...sublayerEntries(b.sublayers[0]));
    out.push(...ffEntries(`${p}.layer.1.DenseReluDense`, b.ff));
    out.push(...sublayerEntries(b.sublayers[1]));
  });
  out.push(plainEntry('encoder.final_layer_norm.weight', model.encoderFinalNorm, 'norm'));
  model.decoderBlocks.forEach((b, i) => {
    const p = `decoder.block.${i}`;
    out.push(...attnEntries(`${p}.layer.0.SelfAttention`, b.attn));
    if (i === 0) out.push(plainEntry(`${p}.layer.0.SelfAttention.relative_attention_bias.weight`, model.decoderRelBias, 'backbone'));
    out.push(...sublayerEntries(b.sublayers[0]));
    out.push(...attnEntries(`${p}.layer.1.EncDecAttention`, b.cross));
    if (i === 0 && model.crossRelBias) out.push(plainEntry(CROSS_TABLE_KEY, model.crossRelBias, 'backbone'));
    out.push(...sublayerEntries(b.sublayers[1]));
    out.push(...ffEntries(`${p}.layer.2.DenseReluDense`, b.ff));
    out.push(...sublayerEntries(b.sublayers[2]));
  });
  out.push(plainEntry('decoder.final_layer_norm.weight', model.decoderFinalNorm, 'norm'));
  const [c, v] = model.lmHead.shape;
  out.push({
    key: 'lm_head.weight',
    shape: [v, c],
    kind: 'backbone',
    get: () => tf.transpose(model.lmHead),
    set: (t) => model.lmHead.assign(tf.transpose(t)),
    variable: model.lmHead,
    toReference: (t) => tf.transpose(t),
  });
  return out;
}

/**
 * The model's state in checkpoint names and torch layouts. `include`:
 * 'all' (default), or 'trainable' (routing tensors and RMSNorm gains only).
 * Returns new tensors: dispose them.
 */
export function t5StateDict(model: RoutedT5, include: 'all' | 'trainable' = 'all'): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const e of t5StateEntries(model)) {
    if (include === 'trainable' && e.kind === 'backbone') continue;
    out.set(e.key, e.get());
  }
  return out;
}

export interface LoadT5Options {
  /**
   * Reject missing and unexpected keys (default true). Routing tensors may be
   * missing when the checkpoint has none at all (a plain HF checkpoint): the
   * routing blocks keep their fresh initialisation. `strict: false` also
   * accepts partial checkpoints (e.g. `include: 'trainable'` files).
   */
  strict?: boolean;
}

export interface LoadT5Result {
  missing: string[];
  unexpected: string[];
  /** True when the checkpoint had no routing tensors (fresh routing blocks kept). */
  freshRouting: boolean;
  /** Whether the checkpoint carried the transformers-3.5 cross-attention table. */
  crossAttentionTable: boolean;
}

/**
 * Load a checkpoint map (HF names; routing tensors with reference names; an
 * optional leading `model.` on keys is accepted) into a model. Everything is
 * validated before anything is assigned: a wrong shape throws naming the key,
 * the expected (torch-layout) and the given shape.
 */
export function loadT5StateDict(model: RoutedT5, map: Map<string, TensorLike>, opts: LoadT5Options = {}): LoadT5Result {
  if (!(map instanceof Map)) throw new Error('loadT5StateDict: expected a Map of name → tensor');
  const strict = opts.strict ?? true;
  const given = new Map<string, { original: string; value: TensorLike }>();
  for (const [k, value] of map) {
    const key = k.startsWith('model.') ? k.slice('model.'.length) : k;
    if (given.has(key)) throw new Error(`loadT5StateDict: key '${k}' given twice (with and without the 'model.' prefix)`);
    given.set(key, { original: k, value });
  }
  const shapeOf = (v: TensorLike): number[] | undefined => (v instanceof tf.Tensor ? v.shape : Array.isArray(v?.shape) ? v.shape : undefined);
  const check = (key: string, value: TensorLike, want: number[]) => {
    const shape = shapeOf(value);
    if (!shape || shape.join(',') !== want.join(',')) {
      const hint = /\.(q|k|v|o|wi_0|wi_1|wo)\.weight$|lm_head/.test(key) ? ' (torch layout [out,in])' : '';
      throw new Error(`loadT5StateDict: tensor '${given.get(key)?.original ?? key}': expected shape ${shapeStr(want)}${hint}, got ${shape ? shapeStr(shape) : String(shape)}`);
    }
  };

  // Tied embeddings: shared.weight or an embed_tokens alias.
  const embedKeys = EMBED_ALIASES.filter((k) => given.has(k));
  const entries = t5StateEntries(model).filter((e) => e.key !== CROSS_TABLE_KEY);
  const hasRouting = [...given.keys()].some((k) => k.includes('.adapter_controller.'));
  const missing: string[] = [];
  for (const e of entries) {
    if (e.key === 'shared.weight') {
      if (embedKeys.length === 0) missing.push('shared.weight');
      continue;
    }
    if (!given.has(e.key) && !(e.kind === 'routing' && !hasRouting)) missing.push(e.key);
  }
  const known = new Set([...entries.map((e) => e.key), ...EMBED_ALIASES, CROSS_TABLE_KEY]);
  const unexpected = [...given.keys()].filter((k) => !known.has(k));
  if (strict && (missing.length || unexpected.length)) {
    const list = (xs: string[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
    const routingHint = unexpected.some((k) => k.includes('.adapter_controller.'))
      ? ` (routing tensors for method '${model.method}', N ${model.routingConfig.numExperts}, d ${model.routingConfig.bottleneck} expected; another method's checkpoint?)`
      : '';
    throw new Error(
      `loadT5StateDict (strict): ` +
        [missing.length ? `missing keys: ${list(missing)}` : '', unexpected.length ? `unexpected keys: ${list(unexpected)}${routingHint}` : '']
          .filter(Boolean)
          .join('; '),
    );
  }

  // Validate everything first.
  const todo: [T5StateEntry, TensorLike][] = [];
  for (const e of entries) {
    if (e.key === 'shared.weight') {
      for (const k of embedKeys) check(k, given.get(k)!.value, e.shape);
      if (embedKeys.length > 1) {
        const host = (k: string): ArrayLike<number> => {
          const v = given.get(k)!.value;
          return v instanceof tf.Tensor ? hostValuesOf(v, `loadT5StateDict: '${k}'`) : v.data;
        };
        const first = host(embedKeys[0]);
        for (const k of embedKeys.slice(1)) {
          const other = host(k);
          let same = other.length === first.length;
          for (let i = 0; same && i < first.length; i++) same = Math.fround(first[i]) === Math.fround(other[i]);
          if (!same) {
            throw new Error(`loadT5StateDict: '${k}' differs from '${embedKeys[0]}'; T5 v1.1 ties the encoder/decoder embeddings to shared.weight`);
          }
        }
      }
      if (embedKeys.length) todo.push([e, given.get(embedKeys[0])!.value]);
      continue;
    }
    const g = given.get(e.key);
    if (!g) continue;
    check(e.key, g.value, e.shape);
    todo.push([e, g.value]);
  }
  const cross = given.get(CROSS_TABLE_KEY);
  const crossShape = [model.config.relativeAttentionNumBuckets, model.config.numHeads];
  if (cross) check(CROSS_TABLE_KEY, cross.value, crossShape);

  for (const [e, value] of todo) tf.tidy(() => e.set(toTensor(value, e.key)));
  if (cross) {
    const t = toTensor(cross.value, CROSS_TABLE_KEY) as tf.Tensor2D;
    model.setCrossAttentionTable(t, 'checkpoint');
    t.dispose();
  }
  return { missing, unexpected, freshRouting: !hasRouting, crossAttentionTable: !!cross };
}

// ------------------------------------------------------------------ files

export interface T5Checkpoint {
  /** From `config.json` next to the weights (or inside the folder), when present. */
  config?: T5Config;
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string>;
  /** The safetensors file read. */
  file: string;
}

/** Read `model.safetensors` (a file, or a folder with `model.safetensors` and optionally `config.json`). */
export async function readT5Checkpoint(p: string): Promise<T5Checkpoint> {
  let stat;
  try {
    stat = await fsp.stat(p);
  } catch {
    throw new Error(`T5 checkpoint ${p}: no such file or folder`);
  }
  const dir = stat.isDirectory() ? p : path.dirname(p);
  const file = stat.isDirectory() ? path.join(p, 'model.safetensors') : p;
  if (stat.isDirectory()) {
    try {
      await fsp.access(file);
    } catch {
      const sharded = (await fsp.readdir(p)).some((f) => /^model-\d+-of-\d+\.safetensors$/.test(f));
      throw new Error(
        `T5 checkpoint ${p}: expected model.safetensors in the folder` + (sharded ? ' (sharded checkpoints are not supported: merge the shards)' : ''),
      );
    }
  }
  const { tensors, metadata } = await readSafetensors(file);
  let config: T5Config | undefined;
  const cfgPath = path.join(dir, 'config.json');
  let text: string | undefined;
  try {
    text = await fsp.readFile(cfgPath, 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`T5 checkpoint ${cfgPath}: invalid JSON: ${(e as Error).message}`);
    }
    try {
      config = fromHuggingFaceConfig(json);
    } catch (e) {
      throw new Error(`${cfgPath}: ${(e as Error).message}`);
    }
  }
  return { config, tensors, metadata, file };
}

export interface LoadRoutedT5Options extends Partial<Omit<RoutedT5Options, 'routing' | 'config'>> {
  /** Backbone config; default: the checkpoint's config.json, then its `smear.config` metadata. */
  config?: RoutedT5Options['config'];
  /**
   * Routing options; default: the checkpoint's `smear.routing` metadata. With
   * routing tensors present, N and d are inferred from them (given values must agree).
   */
  routing?: Partial<T5RoutingConfig>;
  /** See LoadT5Options.strict. Default true. */
  strict?: boolean;
  /** Refuse a checkpoint holding NaN or ±Inf, naming the tensor (checked on the host arrays). Default false. */
  rejectNonFinite?: boolean;
}

function parseMeta<T>(meta: Record<string, string>, key: string, file: string): T | undefined {
  if (meta[key] === undefined) return undefined;
  try {
    return JSON.parse(meta[key]) as T;
  } catch (e) {
    throw new Error(`T5 checkpoint ${file}: metadata '${key}' is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Build a RoutedT5 from a checkpoint file or folder: a plain HF T5 v1.1
 * checkpoint (fresh routing blocks from `routing`, `seed`) or a routed model
 * written by `saveRoutedT5` / with reference routing names (N and d inferred
 * from `…adapter_controller.multi_adapters.down_samplers_weights` [1,N,C,d]).
 */
export async function loadRoutedT5(p: string, opts: LoadRoutedT5Options = {}): Promise<RoutedT5> {
  const ckpt = await readT5Checkpoint(p);
  if (opts.rejectNonFinite) {
    const bad = firstNonFinite(ckpt.tensors as Map<string, { data: ArrayLike<number>; shape: number[] }>);
    if (bad) throw new Error(`T5 checkpoint ${ckpt.file}: tensor '${bad.key}' ${shapeStr(bad.shape)} holds ${bad.value} at flat index ${bad.index}: the weights are not finite`);
  }
  const metaRouting = parseMeta<T5RoutingConfig>(ckpt.metadata, 'smear.routing', ckpt.file);
  const metaOptions = parseMeta<Partial<RoutedT5Options>>(ckpt.metadata, 'smear.options', ckpt.file) ?? {};
  const metaConfig = parseMeta<T5Config>(ckpt.metadata, 'smear.config', ckpt.file);
  const config = opts.config ?? ckpt.config ?? metaConfig;
  if (!config) throw new Error(`T5 checkpoint ${ckpt.file}: no config.json next to it and no smear.config metadata; pass options.config`);
  const routing: Partial<T5RoutingConfig> = { ...(metaRouting ?? {}), ...(opts.routing ?? {}) };
  if (typeof routing.method !== 'string') {
    throw new Error(`T5 checkpoint ${ckpt.file}: the routing method is unknown (no smear.routing metadata); pass options.routing.method`);
  }
  // Infer N and d from the first routing block's experts.
  const downKey = [...ckpt.tensors.keys()].find((k) => /(^|\.)encoder\.block\.0\.layer\.0\.adapter_controller\.multi_adapters\.down_samplers_weights$/.test(k));
  if (downKey) {
    const shape = ckpt.tensors.get(downKey)!.shape;
    if (shape.length !== 4 || shape[0] !== 1) {
      throw new Error(`T5 checkpoint ${ckpt.file}: '${downKey}': expected shape [1,N,C,d], got ${shapeStr(shape)}`);
    }
    const [, n, , d] = shape;
    for (const [k, v] of [['numExperts', n], ['bottleneck', d]] as const) {
      if (opts.routing?.[k] !== undefined && opts.routing[k] !== v) {
        throw new Error(`T5 checkpoint ${ckpt.file}: option routing.${k} ${opts.routing[k]} disagrees with the checkpoint's ${v} ('${downKey}' ${shapeStr(shape)})`);
      }
    }
    routing.numExperts = n;
    routing.bottleneck = d;
  }
  const modelOpts: RoutedT5Options = {
    ...metaOptions,
    ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => v !== undefined && !['config', 'routing', 'strict', 'rejectNonFinite'].includes(k))),
    config,
    routing: routing as T5RoutingConfig,
    backboneInit: 'zeros',
  };
  const model = new RoutedT5(modelOpts);
  try {
    loadT5StateDict(model, ckpt.tensors as Map<string, TensorLike>, { strict: opts.strict ?? true });
  } catch (e) {
    model.dispose();
    throw new Error(`${ckpt.file}: ${(e as Error).message}`);
  }
  return model;
}

export interface SaveT5Options {
  /** Stored float dtype. Default 'F32'. */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** 'all' (default) or 'trainable' (routing tensors and RMSNorm gains). */
  include?: 'all' | 'trainable';
}

/**
 * Save a model. A path ending in `.safetensors` writes that file; any other
 * path is a folder receiving `model.safetensors` and an HF `config.json`.
 * Routing tensors carry the reference names; metadata records the method and
 * options (see the module comment).
 */
export async function saveRoutedT5(model: RoutedT5, p: string, opts: SaveT5Options = {}): Promise<string> {
  const dtype = opts.dtype ?? 'F32';
  if (!['F32', 'BF16', 'F16'].includes(dtype)) throw new Error(`saveRoutedT5: option dtype: expected 'F32', 'BF16' or 'F16', got ${dtype}`);
  const tensors: Record<string, TensorToWrite> = {};
  const sd = t5StateDict(model, opts.include ?? 'all');
  try {
    for (const [k, t] of sd) tensors[k] = { dtype, shape: t.shape, data: (await t.data()) as Float32Array };
  } finally {
    for (const t of sd.values()) t.dispose();
  }
  const { crossAttentionBias: _ignored, ...options } = model.options;
  const metadata = {
    format: 'pt',
    'smear.method': model.method,
    'smear.routing': JSON.stringify(model.routingConfig),
    'smear.options': JSON.stringify(options),
    'smear.config': JSON.stringify(model.config),
  };
  let file = p;
  if (!p.endsWith('.safetensors')) {
    await fsp.mkdir(p, { recursive: true });
    file = path.join(p, 'model.safetensors');
    await fsp.writeFile(path.join(p, 'config.json'), JSON.stringify(toHuggingFaceConfig(model.config), null, 2) + '\n');
  }
  await writeSafetensors(file, tensors, metadata);
  return file;
}
