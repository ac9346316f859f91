/**
 * Loading a checkpoint for `smear forward` and `smear step`, both settings.
 *
 * Accepted checkpoints:
 *   - a model file with the reference's state-dict names (`saveResNetSafetensors`,
 *     `saveRoutedT5`, or converted from the reference's `torch.save(model.state_dict())`;
 *     an optional `model.` prefix on every key), T5 also a Hugging Face folder;
 *   - a run folder's own checkpoint, `runs/<name>/checkpoints/{best,last}.safetensors`
 *     (format `smear-ts-checkpoint-1`: `state.<smear-ts variable name>` tensors, and
 *     `optim.m.*` / `optim.v.*` Adam moments in last.safetensors, which are not read here).
 *     The run's `config.json` (next to `checkpoints/`) gives the method, N, d, the
 *     configuration and, for T5, the backbone folder.
 *
 * The method, N, d and the configuration come from, in order: the run's config.json,
 * the file's metadata (`smear.method`, `smear.routing`, `smear.config`), the tensors
 * (N and d from the experts' shape; the method where a tensor only one method has
 * is present, by the methods' reference names: e.g. `skill_weights` → skills, the
 * REINFORCE baselines → reinforce, `z_logits` → dselect-k, Soft MoE's `scales` →
 * soft-moe). An explicit `--method` that contradicts them is refused naming both.
 *
 * Non-finite weights (NaN, ±Inf) in the file are an error naming the tensor unless
 * `allowNonFinite` is set (checked on the host arrays, before anything is uploaded).
 */
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { firstNonFinite, readSafetensors, type LoadedTensor } from '../../io/safetensors';
import { getMethod, METHODS } from '../../routing/registry';
import { distinctiveReferenceNames } from '../../routing/reference-names';
import { RoutedResNet, type ResNetConfig } from '../../models/resnet/resnet';
import { inferResNetConfig, type ResNetLoadConfig } from '../../models/resnet/checkpoint';
import { resNetModelConfig } from '../../settings/resnet/config';
import { parseJson } from '../../util/json';

/** The run-checkpoint format the trainer writes (train/trainer.ts). */
export const RUN_CHECKPOINT_FORMAT = 'smear-ts-checkpoint-1';

/** The safetensors header only (keys, shapes, metadata), without reading the data. */
export async function peekSafetensors(file: string, what = '--checkpoint'): Promise<{ keys: string[]; shapes: Map<string, number[]>; metadata: Record<string, string> }> {
  let fh;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    throw new Error(`${what} ${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    const lenBuf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(lenBuf, 0, 8, 0);
    if (bytesRead < 8) throw new Error(`${what} ${file}: not a safetensors file (shorter than 8 bytes)`);
    const n = Number(lenBuf.readBigUInt64LE(0));
    const { size } = await fh.stat();
    if (!(n > 0 && n <= size - 8 && n <= 100_000_000)) throw new Error(`${what} ${file}: not a safetensors file (header length ${n})`);
    const head = Buffer.alloc(n);
    await fh.read(head, 0, n, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(head.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${what} ${file}: invalid safetensors header: ${(e as Error).message}`);
    }
    const metadata = (json.__metadata__ ?? {}) as Record<string, string>;
    const keys = Object.keys(json).filter((k) => k !== '__metadata__');
    const shapes = new Map<string, number[]>();
    for (const k of keys) shapes.set(k, ((json[k] as { shape?: number[] })?.shape ?? []) as number[]);
    return { keys, shapes, metadata };
  } finally {
    await fh.close();
  }
}

/** Whether a file's header is a run folder's checkpoint (trainer format). */
export function isRunCheckpoint(keys: string[], metadata: Record<string, string>): boolean {
  return metadata.format === RUN_CHECKPOINT_FORMAT || (keys.length > 0 && keys.every((k) => k.startsWith('state.') || k.startsWith('optim.')));
}

/** The run folder's config.json of a run checkpoint (`runs/<name>/checkpoints/x.safetensors` → `runs/<name>/config.json`). */
export function readRunConfig(file: string): { path: string; config: Record<string, unknown> } {
  const p = path.join(path.dirname(path.dirname(path.resolve(file))), 'config.json');
  if (!fs.existsSync(p)) {
    throw new Error(
      `--checkpoint ${file}: a run folder's checkpoint (state.* tensors, format ${RUN_CHECKPOINT_FORMAT}); its run folder's config.json was expected at ${p} ` +
        '(runs/<name>/config.json, next to checkpoints/)',
    );
  }
  const config = parseJson<Record<string, unknown>>(fs.readFileSync(p, 'utf8'), p);
  if (config === null || typeof config !== 'object') throw new Error(`${p}: expected a JSON object (a run configuration)`);
  return { path: p, config };
}

/** Throw naming the first tensor with a NaN or ±Inf value. */
export function checkFinite(tensors: Map<string, { data: ArrayLike<number>; shape: number[] }>, file: string): void {
  const bad = firstNonFinite(tensors);
  if (bad) {
    throw new Error(
      `--checkpoint ${file}: tensor '${bad.key}' [${bad.shape}] holds ${bad.value} at flat index ${bad.index}: the weights are not finite ` +
        '(a diverged run?); pass --allow-non-finite to load them anyway',
    );
  }
}

/** The method a set of tensor names implies, where a tensor only one method has is present (the methods' reference names). */
export function methodFromTensorNames(keys: string[]): { method: string; tensor: string } | undefined {
  for (const m of METHODS) {
    const names = distinctiveReferenceNames(m, METHODS).map((n) => `.adapter_controller.${n}`);
    const k = keys.find((x) => names.some((n) => x.endsWith(n)));
    if (k) return { method: m.name, tensor: k };
  }
  return undefined;
}

/** The method to use: the explicit one (checked against what the checkpoint says), else the checkpoint's. */
export function resolveMethod(explicit: string | undefined, found: { method: string; where: string } | undefined, file: string): string {
  let given: string | undefined;
  if (explicit !== undefined) {
    try {
      given = getMethod(explicit).name;
    } catch (e) {
      throw new Error(`--method: ${(e as Error).message}`);
    }
  }
  const fromFile = found ? getMethod(found.method).name : undefined;
  if (given && fromFile && given !== fromFile) {
    throw new Error(`--method ${explicit} ('${given}') contradicts the checkpoint ${file}: ${found!.where} says '${fromFile}'; drop --method or pass the matching checkpoint`);
  }
  const m = given ?? fromFile;
  if (!m) throw new Error(`${file}: the routing method is unknown (no run config.json, no smear.method metadata, no method-specific tensor); pass --method <name> (see smear methods)`);
  return m;
}

export interface LoadedInfo {
  method: string;
  numExperts: number;
  bottleneck: number;
  configuration?: string;
  /** Where the method came from. */
  source: string;
  /** The run's config.json, for a run checkpoint. */
  runConfig?: Record<string, unknown>;
  runConfigPath?: string;
  /** `model.` when every key of the file carries it (reference checkpoints of the CV code). */
  keyPrefix: string;
}

/** Assign a run checkpoint's `state.<name>` tensors to the model's variables of the same names (all of them, shapes checked). */
export function loadRunState(vars: Map<string, tf.Variable>, tensors: Map<string, LoadedTensor>, file: string, only?: (name: string) => boolean): void {
  const want = [...vars.keys()].filter((k) => !only || only(k));
  const missing = want.filter((k) => !tensors.has(`state.${k}`));
  if (missing.length) throw new Error(`--checkpoint ${file}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).map((k) => `'state.${k}'`).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} for this model`);
  const unexpected = [...tensors.keys()].filter((k) => k.startsWith('state.') && !vars.has(k.slice(6)));
  if (unexpected.length) throw new Error(`--checkpoint ${file}: tensor '${unexpected[0]}' matches no variable of the model built from the run's config.json`);
  for (const k of want) {
    const t = tensors.get(`state.${k}`)!;
    const v = vars.get(k)!;
    if (t.shape.join(',') !== v.shape.join(',')) throw new Error(`--checkpoint ${file}: tensor 'state.${k}' has shape [${t.shape}], the model expects [${v.shape}]`);
    tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
  }
}

export interface ResNetLoadOptions {
  checkpoint: string;
  method?: string;
  allowNonFinite?: boolean;
  /** Overrides of the routing options (smear step: expertDropout 0). */
  routing?: ResNetLoadConfig['routing'];
}

/** The RoutedResNet configuration of a run's config.json (as trainResNet builds the model). */
export function resNetConfigOfRun(cfg: Record<string, any>): ResNetConfig {
  return resNetModelConfig({ ...cfg, method: getMethod(String(cfg.method)).name } as Parameters<typeof resNetModelConfig>[0]);
}

/** Load a ResNet checkpoint for a command (see the module comment). */
export async function loadResNetForCommand(opts: ResNetLoadOptions): Promise<{ model: RoutedResNet; info: LoadedInfo }> {
  const file = opts.checkpoint;
  if (!fs.existsSync(file)) throw new Error(`--checkpoint ${file}: no such file`);
  if (fs.statSync(file).isDirectory()) throw new Error(`--checkpoint ${file}: a folder; the ResNet setting takes a .safetensors file`);
  const { tensors, metadata } = await readSafetensors(file);
  const keys = [...tensors.keys()];
  if (!opts.allowNonFinite) checkFinite(tensors, file);
  if (isRunCheckpoint(keys, metadata)) {
    const run = readRunConfig(file);
    if (run.config.setting !== undefined && run.config.setting !== 'resnet') {
      throw new Error(`--checkpoint ${file}: ${run.path} is a '${String(run.config.setting)}' run, not --setting resnet`);
    }
    const method = resolveMethod(opts.method, { method: String(run.config.method), where: `${run.path} (method)` }, file);
    const mc = resNetConfigOfRun(run.config);
    const model = new RoutedResNet({ ...mc, routing: { ...mc.routing, method, ...opts.routing } });
    try {
      loadRunState(model.variables(), tensors, file);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return {
      model,
      info: {
        method,
        numExperts: model.config.routing.numExperts,
        bottleneck: model.config.routing.bottleneck,
        configuration: typeof run.config.configuration === 'string' ? run.config.configuration : undefined,
        source: run.path,
        runConfig: run.config,
        runConfigPath: run.path,
        keyPrefix: '',
      },
    };
  }
  const fromTensors = methodFromTensorNames(keys);
  const found = metadata['smear.method'] !== undefined
    ? { method: metadata['smear.method'], where: 'its metadata smear.method' }
    : fromTensors
      ? { method: fromTensors.method, where: `its tensor '${fromTensors.tensor}'` }
      : undefined;
  const method = resolveMethod(opts.method, found, file);
  const model = new RoutedResNet(inferResNetConfig(tensors, { routing: { method, ...opts.routing } }, metadata, file));
  try {
    model.loadStateDict(tensors, { strict: true });
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return {
    model,
    info: {
      method,
      numExperts: model.config.routing.numExperts,
      bottleneck: model.config.routing.bottleneck,
      source: found ? `${file} (${found.where})` : '--method',
      keyPrefix: keys.length > 0 && keys.every((k) => k.startsWith('model.')) ? 'model.' : '',
    },
  };
}
