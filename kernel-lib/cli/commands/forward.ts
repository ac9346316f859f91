/**
 * `smear forward --setting resnet|t5 --method <name> --checkpoint model.safetensors
 *                --input batch.safetensors --out out.safetensors`
 *
 * Eval-mode forward of a checkpoint on one batch, for checking against the
 * reference implementation. The T5 setting is in ./forward-t5 (its inputs:
 * input_ids, attention_mask, decoder_input_ids, task_ids, hash_ids). ResNet:
 *   input:  pixel_values  float [B,3,H,W] (NCHW, normalised)
 *           domain_ids    int64 [B]        (needed by tag / skills routing)
 *           hash_ids      int64 [B,R≥8]    (needed by hash routing)
 *   output: logits          f32 [B,K]
 *           routing.<k>     f32 [B,N]  router probabilities of block k (methods with a softmax router)
 *           expert_index.<k> int64 [B] chosen expert of block k (discrete methods)
 * N, d, K and the widths are inferred from the checkpoint's shapes; the method
 * from a run's config.json, the file's metadata or a method-specific tensor
 * (./checkpoint), so `--method` may be omitted (a contradicting one is refused).
 * Run folders' own checkpoints (runs/<name>/checkpoints/best.safetensors) are
 * accepted: the model is built from the run's config.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { readSafetensors, writeSafetensors } from '../../io/safetensors';
import type { LoadedTensor, TensorToWrite } from '../../io/safetensors';
import { loadResNetForCommand } from './checkpoint';
import type { Command } from '../command';
import { runT5Forward } from './forward-t5';
import { forwardOutputs, type ForwardTensors } from './forward-outputs';

function fail(msg: string): never {
  throw new Error(`smear forward: ${msg}`);
}

function ids(t: LoadedTensor | undefined, name: string, file: string, rank: number, batch: number): Int32Array | undefined {
  if (!t) return undefined;
  if (!(t.data instanceof Int32Array)) fail(`${file}: tensor '${name}': expected an integer dtype (int64 or int32), got ${t.dtype}`);
  if (t.shape.length !== rank || t.shape[0] !== batch) {
    fail(`${file}: tensor '${name}': expected shape ${rank === 1 ? `[${batch}]` : `[${batch},R]`}, got [${t.shape}]`);
  }
  return t.data;
}

export interface ForwardOptions {
  setting: string;
  method?: string;
  checkpoint: string;
  input: string;
  out: string;
  /** T5 only: routing sizes and seed for a checkpoint without routing tensors. */
  experts?: number;
  bottleneck?: number;
  seed?: number;
  /** T5 only: the reference's adapter configuration file (method, N, d, RTE→MNLI sharing, routing options). */
  referenceConfig?: string;
  /** Load a checkpoint holding NaN/±Inf weights (refused by default, naming the tensor). */
  allowNonFinite?: boolean;
}

export async function runForward(opts: ForwardOptions): Promise<void> {
  if (opts.setting === 't5') return runT5Forward(opts);
  if (opts.setting !== 'resnet') fail(`--setting: expected 'resnet' or 't5', got '${opts.setting}'`);
  for (const k of ['experts', 'bottleneck', 'seed', 'referenceConfig'] as const) {
    if (opts[k] !== undefined) fail(`--${k === 'referenceConfig' ? 'reference-config' : k} applies to --setting t5 only (ResNet sizes are inferred from the checkpoint)`);
  }
  await initBackend();
  let loaded;
  try {
    loaded = await loadResNetForCommand({ checkpoint: opts.checkpoint, method: opts.method, allowNonFinite: opts.allowNonFinite });
  } catch (e) {
    fail((e as Error).message);
  }
  const { model, info } = loaded;
  try {
    const { tensors } = await readSafetensors(opts.input);
    const px = tensors.get('pixel_values');
    if (!px) fail(`${opts.input}: missing tensor 'pixel_values' (float [B,3,H,W], NCHW)`);
    if (!(px.data instanceof Float32Array)) fail(`${opts.input}: tensor 'pixel_values': expected a float dtype, got ${px.dtype}`);
    if (px.shape.length !== 4 || px.shape[1] !== 3) fail(`${opts.input}: tensor 'pixel_values': expected shape [B,3,H,W] (NCHW), got [${px.shape}]`);
    const b = px.shape[0];
    const domainIds = ids(tensors.get('domain_ids'), 'domain_ids', opts.input, 1, b);
    const hashIds = ids(tensors.get('hash_ids'), 'hash_ids', opts.input, 2, b);
    const res = tf.tidy(() => {
      const nchw = tf.tensor4d(px.data as Float32Array, px.shape as [number, number, number, number]);
      const pixels = tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D; // NCHW → NHWC
      const r = model.forward(pixels, { training: false, domainIds, hashIds });
      return { logits: r.logits, records: r.records } as unknown as tf.TensorContainer;
    }) as unknown as ForwardTensors;
    const out = await forwardOutputs(res);
    await writeSafetensors(opts.out, out, { 'smear.setting': 'resnet', 'smear.method': model.method,
      'smear.checkpoint': opts.checkpoint,
      'smear.source': info.source,
      ...(info.configuration ? { 'smear.configuration': info.configuration } : {}),
    });
  } finally {
    model.dispose();
  }
}

export const forwardCommand: Command = {
  name: 'forward',
  summary: 'eval-mode forward of a checkpoint on a batch (safetensors in, safetensors out)',
  usage:
    'smear forward --setting resnet|t5 [--method <name>] [--reference-config <adapter config.json>] --checkpoint model.safetensors|runs/<name>/checkpoints/best.safetensors --input batch.safetensors --out out.safetensors',
  options: {
    setting: { type: 'string', description: "model setting: 'resnet' or 't5'", default: 'resnet' },
    method: { type: 'string', description: 'routing method (friendly or reference name); default: the checkpoint metadata' },
    checkpoint: {
      type: 'string',
      description: 'model weights (.safetensors, reference state-dict names); t5 also: a Hugging Face folder (config.json + model.safetensors)',
    },
    input: {
      type: 'string',
      description:
        'batch. resnet: pixel_values [B,3,H,W], domain_ids [B], hash_ids [B,R≥8]; ' +
        't5: input_ids [B,S], attention_mask [B,S], decoder_input_ids [B,T], task_ids [B], hash_ids [B,blocks] (int64)',
    },
    out: { type: 'string', description: 'where to write logits, routing.<k>, expert_index.<k>' },
    experts: { type: 'string', description: `t5, checkpoint without routing tensors: experts N of the fresh routing blocks (default 8; 1 for dense)` },
    bottleneck: { type: 'string', description: 't5, checkpoint without routing tensors: adapter bottleneck d (default 24)' },
    seed: { type: 'string', description: 't5, checkpoint without routing tensors: seed of the fresh routing blocks (default 42)' },
    'reference-config': {
      type: 'string',
      description: "t5: the reference's adapter configuration JSON (hyperformer/configs/adapter/<name>.json): method, N, d, RTE→MNLI sharing; --method then optional",
    },
    'allow-non-finite': { type: 'boolean', description: 'load a checkpoint whose weights hold NaN or Inf (refused by default, naming the tensor)' },
  },
  async run({ values }) {
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    const setting = str('setting') ?? 'resnet';
    const int = (k: string): number | undefined => {
      const v = str(k);
      if (v === undefined) return undefined;
      if (!/^-?\d+$/.test(v.trim())) fail(`--${k}: expected an integer, got '${v}'`);
      return Number(v);
    };
    try {
      const missing = ['checkpoint', 'input', 'out'].filter((k) => !str(k));
      if (missing.length) {
        process.stderr.write(`smear forward: missing option${missing.length > 1 ? 's' : ''} ${missing.map((k) => `--${k}`).join(', ')}\n`);
        return 2;
      }
      await runForward({
        setting,
        method: str('method'),
        checkpoint: str('checkpoint')!,
        input: str('input')!,
        out: str('out')!,
        experts: int('experts'),
        bottleneck: int('bottleneck'),
        seed: int('seed'),
        referenceConfig: str('reference-config'),
        allowNonFinite: values['allow-non-finite'] === true,
      });
      process.stderr.write(`smear forward: wrote ${str('out')}\n`);
      return 0;
    } catch (e) {
      const msg = (e as Error).message;
      process.stderr.write(`${msg.startsWith('smear forward:') ? msg : `smear forward: ${msg}`}\n`);
      return 1;
    }
  },
};

