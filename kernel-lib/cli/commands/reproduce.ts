/** `smear reproduce`: the main job — train the method set and write the results tables (npm start). */
import * as path from 'path';
import type { Command } from '../command';
import { reproduceResNet, RESNET_METHOD_SET } from '../../settings/resnet/reproduce';
import { reproduceT5, T5_METHOD_SET } from '../../settings/t5/reproduce';
import { REPO_ROOT } from '../../settings/resnet/config';
import { interruptSignal } from '../interrupt';

export const reproduceCommand: Command = {
  name: 'reproduce',
  summary: 'train every method of the paper’s comparison and write results tables (the main job, `npm start`)',
  usage: 'smear reproduce [--setting resnet|t5] [--profile mini|paper] [--data <root>] [--weights <file>] [--model <HF T5 folder>] [--methods a,b,…] [--steps N] [--force]',
  options: {
    setting: { type: 'string', description: "'resnet' or 't5' (default: both, resnet then t5)" },
    model: { type: 'string', description: 't5: local Hugging Face T5 v1.1 folder (paper profile)' },
    tokenizer: { type: 'string', description: "t5: spiece.model / tokenizer.json / folder, or 'byte'" },
    profile: { type: 'string', description: "'mini' (default) or 'paper'" },
    data: { type: 'string', description: 'resnet: DomainNet root; t5: GLUE folder (paper profile; needs --setting)' },
    weights: { type: 'string', description: 'torchvision ResNet18 weights as safetensors (paper profile)' },
    methods: { type: 'string', description: 'comma-separated method names (default: the whole set)' },
    steps: { type: 'string', description: 'training steps per method' },
    force: { type: 'boolean', description: 'retrain methods that already have results' },
  },
  async run({ values }) {
    const setting = values.setting as string | undefined;
    if (setting !== undefined && setting !== 'resnet' && setting !== 't5') throw new Error(`option --setting: expected 'resnet' or 't5', got '${setting}'`);
    if (setting === undefined && (values.data || values.weights || values.model)) {
      throw new Error('options --data/--weights/--model name one setting\'s files: give --setting resnet or --setting t5 with them');
    }
    const signal = interruptSignal();
    // Without --setting, the main job runs both settings: ResNet-DomainNet, then T5-GLUE.
    if (setting !== 't5') {
      const code = await reproduceResNetCommand(values, signal, setting === 'resnet');
      if (code !== 0 || setting === 'resnet') return code;
      if (signal.aborted) return 130;
    }
    return reproduceT5Command(values, signal, setting === 't5');
  },
};

async function reproduceT5Command(values: Record<string, unknown>, signal: AbortSignal, explicit: boolean): Promise<number> {
  if (values.weights) throw new Error('option --weights applies to --setting resnet; the T5 setting takes --model and --tokenizer');
  const wanted = values.methods ? (values.methods as string).split(',').map((s) => s.trim()) : undefined;
  const methods = wanted ? T5_METHOD_SET.filter((m) => wanted.includes(m.method)) : undefined;
  if (wanted && methods!.length === 0 && !explicit) return 0;
  if (wanted && methods!.length === 0) throw new Error(`option --methods: none of ${wanted.join(', ')} is in the T5 method set`);
  const steps = values.steps !== undefined ? Number(values.steps) : undefined;
  const { rows, resultsFile } = await reproduceT5({
    profile: ((values.profile as string | undefined) ?? 'mini') as 'mini' | 'paper',
    methods,
    force: !!values.force,
    signal,
    overrides: {
      data: values.data ? { root: path.resolve(values.data as string) } : {},
      model: {
        ...(values.model ? { path: path.resolve(values.model as string) } : {}),
        ...(values.tokenizer ? { tokenizer: values.tokenizer === 'byte' ? 'byte' : path.resolve(values.tokenizer as string) } : {}),
      },
      train: steps !== undefined ? { maxSteps: steps } : {},
    },
  });
  process.stdout.write(`\n${rows.map((r) => `${r.label.padEnd(28)} GLUE avg ${r.glueAverage.toFixed(1)}  8-task ${r.taskMean.toFixed(1)}`).join('\n')}\n\n`);
  process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\nruns:    ${rows.map((r) => path.relative(REPO_ROOT, r.runDir)).join(', ')}\n`);
  return 0;
}

async function reproduceResNetCommand(values: Record<string, unknown>, signal: AbortSignal, explicit: boolean): Promise<number> {
  {
    if (values.model || values.tokenizer) throw new Error('options --model/--tokenizer apply to --setting t5');
    const wanted = values.methods ? (values.methods as string).split(',').map((s) => s.trim()) : undefined;
    const methods = wanted ? RESNET_METHOD_SET.filter((m) => wanted.includes(m.method)) : undefined;
    if (wanted && methods!.length === 0 && !explicit) return 0;
    if (wanted && methods!.length === 0) throw new Error(`option --methods: none of ${wanted.join(', ')} is in the method set`);
    const steps = values.steps !== undefined ? Number(values.steps) : undefined;
    const { rows, resultsFile } = await reproduceResNet({
      profile: ((values.profile as string | undefined) ?? 'mini') as 'mini' | 'paper',
      methods,
      force: !!values.force,
      signal,
      overrides: {
        data: values.data ? { root: path.resolve(values.data as string) } : {},
        model: values.weights ? { weights: path.resolve(values.weights as string) } : {},
        train: steps !== undefined ? { maxSteps: steps } : {},
      },
    });
    process.stdout.write(`\n${rows.map((r) => `${r.label.padEnd(28)} ${(100 * r.accuracy).toFixed(1)}%`).join('\n')}\n\n`);
    process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\nruns:    ${rows.map((r) => path.relative(REPO_ROOT, r.runDir)).join(', ')}\n`);
    return 0;
  }
}
