/** `smear reproduce`: the main job — train the method set and write the results tables (npm start). */
import * as path from 'path';
import type { Command } from '../command';
import { reproduceResNet, RESNET_METHOD_SET } from '../../settings/resnet/reproduce';
import { REPO_ROOT } from '../../settings/resnet/config';
import { interruptSignal } from '../interrupt';

export const reproduceCommand: Command = {
  name: 'reproduce',
  summary: 'train every method of the paper’s comparison and write results tables (the main job, `npm start`)',
  usage: 'smear reproduce [--setting resnet] [--profile mini|paper] [--data <root>] [--weights <file>] [--methods a,b,…] [--steps N] [--force]',
  options: {
    setting: { type: 'string', description: "'resnet' (T5-GLUE joins when it lands)" },
    profile: { type: 'string', description: "'mini' (default) or 'paper'" },
    data: { type: 'string', description: 'DomainNet root (paper profile)' },
    weights: { type: 'string', description: 'torchvision ResNet18 weights as safetensors (paper profile)' },
    methods: { type: 'string', description: 'comma-separated method names (default: the whole set)' },
    steps: { type: 'string', description: 'training steps per method' },
    force: { type: 'boolean', description: 'retrain methods that already have results' },
  },
  async run({ values }) {
    const setting = (values.setting as string | undefined) ?? 'resnet';
    if (setting !== 'resnet') throw new Error(`option --setting: only 'resnet' is available so far (T5-GLUE lands with its issue), got '${setting}'`);
    const wanted = values.methods ? (values.methods as string).split(',').map((s) => s.trim()) : undefined;
    const methods = wanted ? RESNET_METHOD_SET.filter((m) => wanted.includes(m.method)) : undefined;
    if (wanted && methods!.length === 0) throw new Error(`option --methods: none of ${wanted.join(', ')} is in the method set`);
    const steps = values.steps !== undefined ? Number(values.steps) : undefined;
    const { rows, resultsFile } = await reproduceResNet({
      profile: ((values.profile as string | undefined) ?? 'mini') as 'mini' | 'paper',
      methods,
      force: !!values.force,
      signal: interruptSignal(),
      overrides: {
        data: values.data ? { root: path.resolve(values.data as string) } : {},
        model: values.weights ? { weights: path.resolve(values.weights as string) } : {},
        train: steps !== undefined ? { maxSteps: steps } : {},
      },
    });
    process.stdout.write(`\n${rows.map((r) => `${r.label.padEnd(28)} ${(100 * r.accuracy).toFixed(1)}%`).join('\n')}\n\n`);
    process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\nruns:    ${rows.map((r) => path.relative(REPO_ROOT, r.runDir)).join(', ')}\n`);
    return 0;
  },
};
