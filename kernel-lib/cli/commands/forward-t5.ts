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
import { loadRoutedT5, type LoadRoutedT5Options } from '../../models/t5/weights';
import type { RoutedT5 } from '../../models/t5/model';
import { getMethod } from '../../routing/registry';
import { forwardOutputs } from './forward-outputs';
import { parseJson } from '../../util/json';

/** Default routing sizes for a checkpoint without routing tensors (the paper's T5 setting). */
export const T5_FORWARD_DEFAULTS = { experts: 8, bottleneck: 24, seed: 42 } as const;

export interface T5ForwardOptions {
  method?: string;
  checkpoint: string;
  input: string;
  out: string;
  /** Fresh routing only (a checkpoint without routing tensors); with routing tensors, must agree with them. */
  experts?: number;
  bottleneck?: number;
  seed?: number;
}

function fail(msg: string): never {
  throw new Error(`smear forward: ${msg}`);
}

/** The safetensors header only (keys and metadata), without reading the data. */
async function peekHeader(file: string): Promise<{ keys: string[]; metadata: Record<string, string> }> {
  let fh;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    fail(`--checkpoint ${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    const lenBuf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(lenBuf, 0, 8, 0);
    if (bytesRead < 8) fail(`--checkpoint ${file}: not a safetensors file (shorter than 8 bytes)`);
    const n = Number(lenBuf.readBigUInt64LE(0));
    const { size } = await fh.stat();
    if (!(n > 0 && n <= size - 8 && n <= 100_000_000)) fail(`--checkpoint ${file}: not a safetensors file (header length ${n})`);
    const head = Buffer.alloc(n);
    await fh.read(head, 0, n, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(head.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      fail(`--checkpoint ${file}: invalid safetensors header: ${(e as Error).message}`);
    }
    const metadata = (json.__metadata__ ?? {}) as Record<string, string>;
    return { keys: Object.keys(json).filter((k) => k !== '__metadata__'), metadata };
  } finally {
    await fh.close();
  }
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

/** Load the model as the command does (exported for tests and notebooks). */
export async function loadT5ForForward(opts: Pick<T5ForwardOptions, 'method' | 'checkpoint' | 'experts' | 'bottleneck' | 'seed'>): Promise<RoutedT5> {
  let method: string | undefined;
  if (opts.method !== undefined) {
    try {
      method = getMethod(opts.method).name;
    } catch (e) {
      fail(`--method: ${(e as Error).message}`);
    }
  }
  for (const k of ['experts', 'bottleneck'] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) fail(`--${k}: expected a positive integer, got ${v}`);
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(`--seed: expected an integer, got ${opts.seed}`);
  const file = await weightsFile(opts.checkpoint);
  const { keys, metadata } = await peekHeader(file);
  const hasRouting = keys.some((k) => k.includes('.adapter_controller.'));
  if (!method && metadata['smear.method'] === undefined && metadata['smear.routing'] === undefined) {
    fail(`${opts.checkpoint}: the routing method is unknown (no smear.method metadata in ${file}); pass --method <name> (see smear methods)`);
  }
  const routing: NonNullable<LoadRoutedT5Options['routing']> = {};
  if (method) routing.method = method;
  if (hasRouting) {
    // N and d come from the routing tensors; given values must agree (loadRoutedT5 checks).
    if (opts.experts !== undefined) routing.numExperts = opts.experts;
    if (opts.bottleneck !== undefined) routing.bottleneck = opts.bottleneck;
  } else {
    const m = getMethod(method ?? metadata['smear.method'] ?? parseJson<{ method?: string }>(metadata['smear.routing'] ?? '{}', `${opts.checkpoint} (metadata smear.routing)`).method ?? '');
    routing.numExperts = opts.experts ?? (m.kind === 'dense' ? 1 : T5_FORWARD_DEFAULTS.experts);
    routing.bottleneck = opts.bottleneck ?? T5_FORWARD_DEFAULTS.bottleneck;
  }
  try {
    return await loadRoutedT5(opts.checkpoint, {
      routing,
      ...(hasRouting ? (opts.seed !== undefined ? { seed: opts.seed } : {}) : { seed: opts.seed ?? T5_FORWARD_DEFAULTS.seed }),
    });
  } catch (e) {
    fail((e as Error).message.replace('pass options.routing.method', 'pass --method <name>'));
  }
}

type Ints = { data: Int32Array; shape: number[] };

/** An integer tensor of the input file, validated (name, dtype, rank, batch). */
function intTensor(
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

function checkRange(t: Ints, name: string, file: string, lo: number, hi: number, what: string): void {
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
  const model = await loadT5ForForward(opts);
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
    });
  } finally {
    model.dispose();
  }
}
