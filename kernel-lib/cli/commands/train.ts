/** `smear train`: train and test one method in a setting (paper or mini profile). */
import * as path from 'path';
import type { Command } from '../command';
import { trainResNet } from '../../settings/resnet/run';
import type { ResNetRunOverrides } from '../../settings/resnet/config';
import { trainT5 } from '../../settings/t5/run';
import type { T5RunOverrides } from '../../settings/t5/config';
import type { GlueSplitMode } from '../../datasets/glue/splits';
import { interruptSignal } from '../interrupt';
import { getMethod } from '../../routing/registry';
import { DEFAULT_INIT_SCALE } from '../../routing/block';
import { checkAgainstReference, ignoredKeysLine, readT5ReferenceConfig } from '../../settings/t5/reference-config';

function num(values: Record<string, unknown>, key: string): number | undefined {
  const v = values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`option --${key}: expected a number, got '${String(v)}'`);
  return n;
}

/** Options both settings take: method, profile, configuration, sizes, run folder. */
function commonOverrides(values: Record<string, unknown>) {
  if (!values.method) throw new Error('option --method is required (see `smear methods`)');
  return {
    method: values.method as string,
    profile: ((values.profile as string | undefined) ?? 'mini') as 'mini' | 'paper',
    ...(values.configuration ? { configuration: values.configuration as string } : {}),
    ...(num(values, 'experts') !== undefined ? { numExperts: num(values, 'experts') } : {}),
    ...(num(values, 'bottleneck') !== undefined ? { bottleneck: num(values, 'bottleneck') } : {}),
    ...(values['run-dir'] ? { runDir: path.resolve(values['run-dir'] as string) } : {}),
  };
}

/** Training options given on the command line (`[configKey, --option]`), as a partial `train` block. */
function trainOverrides(values: Record<string, unknown>, keys: [string, string][]): Record<string, number> {
  const common: [string, string][] = [
    ['maxSteps', 'steps'],
    ['batchSize', 'batch-size'],
    ['evalEvery', 'eval-every'],
    ['logEvery', 'log-every'],
    ['lr', 'lr'],
    ['seed', 'seed'],
  ];
  const out: Record<string, number> = {};
  for (const [key, option] of [...common, ...keys]) {
    const v = num(values, option);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** --fresh, or its alias --force; refused with --resume, naming the option given. */
function fresh(values: Record<string, unknown>): boolean {
  if (values.resume && values.force) throw new Error("options --resume and --force: choose one (--resume continues the run folder's run, --force moves it aside and starts over)");
  return !!(values.fresh || values.force);
}

/** The message for a run stopped by Ctrl-C (exit code 130), or null when it finished. */
function stopped(result: { status: string; step: number }, runDir: string): number | null {
  if (result.status !== 'aborted') return null;
  process.stdout.write(`stopped at step ${result.step}; resume with: smear train ... --resume (run folder ${runDir})\n`);
  return 130;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train and test one routing method (ResNet-DomainNet or T5-GLUE)',
  usage:
    'smear train --setting resnet --method <name> [--profile mini|paper] [--data <DomainNet root>] [--weights <resnet18.safetensors>] ' +
    '[--configuration <label>] [--steps N] [--batch-size N] [--eval-every N] [--log-every N] [--lr X] [--image-size N] [--workers N] [--skip-bad-eval-images] [--seed N] [--run-dir DIR] [--resume | --fresh]\n' +
    '       smear train --setting t5 --method <name> [--profile mini|paper] [--data <GLUE folder>] [--model <HF T5 folder>] [--tokenizer <spiece.model|tokenizer.json|folder|byte>] ' +
    '[--configuration <label>] [--steps N] [--batch-size N] [--eval-every N] [--log-every N] [--lr X] [--warmup N] [--max-length N] [--split-mode reference|spec] [--max-eval-examples N] [--seed N] [--run-dir DIR] [--resume | --fresh]',
  options: {
    setting: { type: 'string', description: "'resnet' (or 't5')" },
    method: { type: 'string', description: 'routing method, friendly or reference name (see smear methods)' },
    profile: { type: 'string', description: "'mini' (default: embedded data, CPU minutes) or 'paper'" },
    data: { type: 'string', description: 'resnet: DomainNet root (folders + <domain>_train.txt/_test.txt); t5: GLUE folder (GLUE TSV or HF parquet)' },
    model: { type: 'string', description: 't5: local Hugging Face T5 v1.1 folder (config.json + model.safetensors), paper profile' },
    tokenizer: { type: 'string', description: "t5: spiece.model / tokenizer.json / folder holding one, or 'byte' (default: the --model folder; mini: byte)" },
    warmup: { type: 'string', description: 't5: linear warm-up steps (paper 2000)' },
    'max-length': { type: 'string', description: 't5: source truncation in tokens (paper 128; mini 320 bytes)' },
    'split-mode': { type: 'string', description: "t5: 'reference' (paper default: the reference code drops the last example of every split) or 'spec' (the split scheme\'s nominal sizes; mini default)" },
    'max-eval-examples': { type: 'string', description: 't5: cap on validation and test examples per task (default: all; mini 16)' },
    weights: { type: 'string', description: 'torchvision ResNet18 ImageNet weights as safetensors (paper profile)' },
    configuration: { type: 'string', description: "method configuration, e.g. '1× parameters', 'SMEAR 2×'" },
    experts: { type: 'string', description: 'number of experts N (default 6)' },
    bottleneck: { type: 'string', description: 'expert bottleneck d (default 32; mini 16)' },
    steps: { type: 'string', description: 'training steps (paper 100000)' },
    'batch-size': { type: 'string', description: 'training batch size (paper 128)' },
    'eval-every': { type: 'string', description: 'evaluate and checkpoint every N steps (paper 1000)' },
    'log-every': { type: 'string', description: 'write the training loss and its terms to metrics.jsonl every N steps (paper 50; mini 20)' },
    lr: { type: 'string', description: 'Adam learning rate (paper 1e-3)' },
    'image-size': { type: 'string', description: 'crop size (paper 224)' },
    workers: { type: 'string', description: 'image decoding threads' },
    'skip-bad-eval-images': { type: 'boolean', description: 'resnet: evaluate without validation/test images that cannot be read (counted and named in results.json, results.md, the log); default: such an image stops the run before training' },
    seed: { type: 'string', description: 'random seed (default 42)' },
    'run-dir': { type: 'string', description: 'run folder (default runs/<setting>-<profile>-<method>)' },
    resume: { type: 'boolean', description: 'continue the run folder’s run from its last checkpoint (with a larger --steps: train a finished run longer)' },
    fresh: { type: 'boolean', description: 'start over in a run folder that holds a run: the old folder is moved aside to <dir>.old-<timestamp>, never deleted' },
    force: { type: 'boolean', description: 'the same as --fresh (the name `smear reproduce` uses)' },
    'reference-config': {
      type: 'string',
      description: "t5: the reference's adapter configuration JSON (method, N, d, RTE→MNLI, loss weights, lr, warm-up, steps, batch, label smoothing, data seed); --method then optional",
    },
  },
  async run({ values }) {
    const setting = (values.setting as string | undefined) ?? 'resnet';
    if (setting === 't5') return runT5(values);
    if (setting !== 'resnet') throw new Error(`option --setting: expected 'resnet' or 't5', got '${setting}'`);
    for (const k of ['model', 'tokenizer', 'warmup', 'max-length', 'split-mode', 'max-eval-examples', 'reference-config']) {
      if (values[k] !== undefined) throw new Error(`option --${k} applies to --setting t5; the ResNet setting takes --data, --weights, --image-size, --workers`);
    }
    const imageSize = num(values, 'image-size');
    const overrides: ResNetRunOverrides & { method: string } = {
      ...commonOverrides(values),
      data: {
        ...(values.data ? { root: path.resolve(values.data as string) } : {}),
        ...(imageSize !== undefined ? { imageSize, resize: Math.round((imageSize * 256) / 224) } : {}),
        ...(num(values, 'workers') !== undefined ? { workers: num(values, 'workers') } : {}),
        ...(values['skip-bad-eval-images'] ? { skipBadEvalImages: true } : {}),
      },
      model: values.weights ? { weights: path.resolve(values.weights as string) } : {},
      train: trainOverrides(values, []),
    };
    const r = await trainResNet(overrides, { resume: !!values.resume, fresh: fresh(values), signal: interruptSignal() });
    const res = r.result;
    const code = stopped(res, r.config.runDir);
    if (code !== null) return code;
    const acc = res.test?.metrics.accuracy as number;
    process.stdout.write(
      `${r.config.method} (${r.config.configuration}): test accuracy ${(100 * acc).toFixed(2)}% ` +
        `(best validation at step ${res.best?.step}); run folder ${r.config.runDir}\n`,
    );
    return 0;
  },
};

/** `smear train --setting t5`. */
async function runT5(values: Record<string, unknown>): Promise<number> {
  for (const k of ['weights', 'image-size', 'workers', 'skip-bad-eval-images']) {
    if (values[k] !== undefined) throw new Error(`option --${k} applies to --setting resnet; the T5 setting takes --model, --tokenizer, --data`);
  }
  const maxLength = num(values, 'max-length');
  const rcFile = values['reference-config'] as string | undefined;
  const rc = rcFile !== undefined ? readT5ReferenceConfig(rcFile) : undefined;
  if (rc) {
    if (values.method !== undefined && getMethod(values.method as string).name !== rc.method) {
      throw new Error(`option --method ${String(values.method)} contradicts --reference-config ${rc.file} (routing_estimator: '${getMethod(rc.method).referenceName}', '${rc.method}'); drop one of them`);
    }
    checkAgainstReference(rc, [
      { option: '--experts', value: num(values, 'experts'), file: rc.numExperts, key: 'num_adapters' },
      { option: '--bottleneck', value: num(values, 'bottleneck'), file: rc.bottleneck, key: 'model_dim / reduction_factor' },
      { option: '--lr', value: num(values, 'lr'), file: rc.train.lr, key: 'learning_rate' },
      { option: '--steps', value: num(values, 'steps'), file: rc.train.maxSteps, key: 'max_steps' },
      { option: '--batch-size', value: num(values, 'batch-size'), file: rc.train.batchSize, key: 'per_device_train_batch_size' },
      { option: '--warmup', value: num(values, 'warmup'), file: rc.train.warmupSteps, key: 'warmup_steps' },
      { option: '--eval-every', value: num(values, 'eval-every'), file: rc.train.evalEvery, key: 'eval_steps' },
      { option: '--max-length', value: maxLength, file: rc.data.maxInputLength, key: 'max_source_length' },
    ]);
    // A run configuration records the file's expert dropout and training options (`losses`), not other block options.
    const m = getMethod(rc.method);
    const carried = new Set(['expertDropout', ...Object.keys(rc.losses)]);
    const defaultOf = (k: string): unknown => (k === 'initScale' ? DEFAULT_INIT_SCALE : m.options?.[k]?.default);
    const unsupported = Object.entries(rc.routing).filter(([k, v]) => !carried.has(k) && v !== undefined && JSON.stringify(v) !== JSON.stringify(defaultOf(k)));
    if (unsupported.length) throw new Error(`--reference-config ${rc.file}: smear train does not take ${unsupported.map(([k, v]) => `${k} ${String(v)}`).join(', ')} from a reference file yet (routing-block options a run configuration does not record); smear forward and smear step do`);
    const line = ignoredKeysLine(rc);
    if (line) process.stderr.write(`[smear] ${line}\n`);
  }
  const fromRc = <T>(v: T | undefined, k: string) => (v !== undefined ? { [k]: v } : {});
  const overrides: T5RunOverrides & { method: string } = {
    ...commonOverrides({ ...values, ...(rc && values.method === undefined ? { method: rc.method } : {}) }),
    ...(rc
      ? {
          numExperts: rc.numExperts,
          bottleneck: rc.bottleneck,
          ...fromRc(rc.routing.expertDropout, 'expertDropout'),
          referenceConfig: { file: path.resolve(rc.file), notUsed: rc.notUsed, ignored: rc.unknown },
          losses: rc.losses,
        }
      : {}),
    data: {
      ...(rc ? rc.data : {}),
      ...(values.data ? { root: path.resolve(values.data as string) } : {}),
      ...(maxLength !== undefined ? { maxInputLength: maxLength } : {}),
      ...(values['split-mode'] !== undefined ? { splitMode: values['split-mode'] as GlueSplitMode } : {}),
    },
    model: {
      ...(rc ? { sameRteMnliInEncoder: rc.sameRteMnliInEncoder } : {}),
      ...(values.model ? { path: path.resolve(values.model as string) } : {}),
      ...(values.tokenizer ? { tokenizer: values.tokenizer === 'byte' ? 'byte' : path.resolve(values.tokenizer as string) } : {}),
    },
    train: {
      ...(rc ? rc.train : {}),
      ...trainOverrides(values, [
      ['warmupSteps', 'warmup'],
      ['maxValidExamples', 'max-eval-examples'],
      ['maxTestExamples', 'max-eval-examples'],
      ]),
    },
  };
  const r = await trainT5(overrides, { resume: !!values.resume, fresh: fresh(values), signal: interruptSignal() });
  const res = r.result;
  const code = stopped(res, r.config.runDir);
  if (code !== null) return code;
  const m = res.test?.metrics as { glue_average: number; task_mean: number };
  process.stdout.write(
    `${r.config.method} (${r.config.configuration}): test GLUE average ${m.glue_average.toFixed(2)} (11 metric values), 8-task mean ${m.task_mean.toFixed(2)} ` +
      `(best validation at step ${res.best?.step}); run folder ${r.config.runDir}\n`,
  );
  return 0;
}
