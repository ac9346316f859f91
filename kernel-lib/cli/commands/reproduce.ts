/** `smear reproduce`: the main job — train the method set and write the results tables (npm start). */
import * as path from 'path';
import type { Command } from '../command';
import { reproduceResNet, RESNET_METHOD_SET } from '../../settings/resnet/reproduce';
import { reproduceT5, T5_METHOD_SET } from '../../settings/t5/reproduce';
import { QUICK_BUDGET as RESNET_QUICK } from '../../settings/resnet/config';
import { QUICK_BUDGET as T5_QUICK } from '../../settings/t5/config';
import { formatValidations, quickRunDir, REPO_ROOT, type MethodSpec, type QuickBudget } from '../../settings/common';
import { interruptSignal } from '../interrupt';

export const reproduceCommand: Command = {
  name: 'reproduce',
  summary: 'train every method of the paper’s comparison and write results tables (the main job, `npm start`)',
  usage: 'smear reproduce [--setting resnet|t5] [--profile mini|paper] [--data <root>] [--weights <file>] [--model <HF T5 folder>] [--methods a,b,…] [--steps N] [--quick] [--workers N] [--skip-bad-eval-images] [--force]',
  options: {
    setting: { type: 'string', description: "'resnet' or 't5' (default: both, resnet then t5)" },
    model: { type: 'string', description: 't5: local Hugging Face T5 v1.1 folder (paper profile)' },
    tokenizer: { type: 'string', description: "t5: spiece.model / tokenizer.json / folder, or 'byte'" },
    profile: { type: 'string', description: "'mini' (default) or 'paper'" },
    data: { type: 'string', description: 'resnet: DomainNet root; t5: GLUE folder (paper profile; needs --setting)' },
    weights: { type: 'string', description: 'torchvision ResNet18 weights as safetensors (paper profile)' },
    methods: { type: 'string', description: 'comma-separated method names (default: the whole set)' },
    steps: { type: 'string', description: 'training steps per method' },
    quick: { type: 'boolean', description: `mini profile: a first look at a short budget (ResNet ${RESNET_QUICK.maxSteps}, T5 ${T5_QUICK.maxSteps} steps, where the learned routers have not finished learning) in runs/<setting>-mini-quick-* and results/<setting>-mini-quick` },
    force: { type: 'boolean', description: 'retrain methods that already have results' },
    'skip-bad-eval-images': { type: 'boolean', description: 'resnet: evaluate without validation/test images that cannot be read (counted and named in the results)' },
    workers: { type: 'string', description: 'methods trained at once, one process each (default: 2 on a machine with 2+ cores for the mini profile, else 1)' },
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

/** The --methods subset of a setting's method set; null when it names none of them and the setting was not asked for. */
function pickMethods<M extends { method: string }>(values: Record<string, unknown>, set: M[], setName: string, explicit: boolean): M[] | undefined | null {
  if (!values.methods) return undefined;
  const wanted = (values.methods as string).split(',').map((s) => s.trim());
  const methods = set.filter((m) => wanted.includes(m.method));
  if (methods.length > 0) return methods;
  if (!explicit) return null;
  throw new Error(`option --methods: none of ${wanted.join(', ')} is in the ${setName} method set`);
}

/**
 * Options both settings take: `run` spreads into reproduceResNet / reproduceT5, `data` and
 * `train` into their overrides. `--quick` runs the mini profile at the setting's short
 * budget in folders of its own (--steps still sets the step count).
 */
function common(values: Record<string, unknown>, signal: AbortSignal, setting: 'resnet' | 't5', quick: QuickBudget) {
  const steps = values.steps !== undefined ? Number(values.steps) : undefined;
  const workers: number | 'auto' = values.workers !== undefined ? Number(values.workers) : 'auto';
  if (workers !== 'auto' && !(Number.isInteger(workers) && workers >= 1)) throw new Error(`option --workers: expected an integer >= 1, got '${String(values.workers)}'`);
  const profile = ((values.profile as string | undefined) ?? 'mini') as 'mini' | 'paper';
  if (values.quick && profile !== 'mini') throw new Error(`option --quick: a short budget of the mini profile; it does not combine with --profile ${profile}`);
  const run = { profile, force: !!values.force, workers, signal };
  const data = values.data ? { root: path.resolve(values.data as string) } : {};
  if (!values.quick) return { run, data, train: steps !== undefined ? { maxSteps: steps } : {} };
  return {
    run: { ...run, outDir: path.join(REPO_ROOT, 'results', `${setting}-mini-quick`), runDirFor: (m: MethodSpec) => quickRunDir(setting, m) },
    data,
    train: { maxSteps: steps ?? quick.maxSteps, evalEvery: quick.evalEvery },
  };
}

/** The closing printout, or (interrupted) what to do next; the command's exit code. */
function finish(signal: AbortSignal, lines: string[], resultsFile: string, runDirs: string[]): number {
  if (signal.aborted) {
    process.stderr.write('[smear] stopped: finished runs and checkpoints are kept; the same command continues where this one stopped\n');
    return 130;
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n`);
  process.stdout.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\nruns:    ${runDirs.map((d) => path.relative(REPO_ROOT, d)).join(', ')}\n`);
  return 0;
}

async function reproduceT5Command(values: Record<string, unknown>, signal: AbortSignal, explicit: boolean): Promise<number> {
  if (values.weights) throw new Error('option --weights applies to --setting resnet; the T5 setting takes --model and --tokenizer');
  if (values['skip-bad-eval-images'] && explicit) throw new Error('option --skip-bad-eval-images applies to --setting resnet (DomainNet images)');
  const methods = pickMethods(values, T5_METHOD_SET, 'T5', explicit);
  if (methods === null) return 0;
  const c = common(values, signal, 't5', T5_QUICK);
  const { rows, resultsFile } = await reproduceT5({
    ...c.run,
    methods,
    overrides: {
      data: c.data,
      model: {
        ...(values.model ? { path: path.resolve(values.model as string) } : {}),
        ...(values.tokenizer ? { tokenizer: values.tokenizer === 'byte' ? 'byte' : path.resolve(values.tokenizer as string) } : {}),
      },
      train: c.train,
    },
  });
  return finish(signal, rows.map((r) => `${r.label.padEnd(28)} GLUE avg ${r.glueAverage.toFixed(1)}  8-task ${r.taskMean.toFixed(1)}  last 2 valid ${formatValidations(r.validations)}`), resultsFile, rows.map((r) => r.runDir));
}

async function reproduceResNetCommand(values: Record<string, unknown>, signal: AbortSignal, explicit: boolean): Promise<number> {
  if (values.model || values.tokenizer) throw new Error('options --model/--tokenizer apply to --setting t5');
  const methods = pickMethods(values, RESNET_METHOD_SET, 'ResNet', explicit);
  if (methods === null) return 0;
  const c = common(values, signal, 'resnet', RESNET_QUICK);
  const { rows, resultsFile } = await reproduceResNet({
    ...c.run,
    methods,
    overrides: {
      data: { ...c.data, ...(values['skip-bad-eval-images'] ? { skipBadEvalImages: true } : {}) },
      model: values.weights ? { weights: path.resolve(values.weights as string) } : {},
      train: c.train,
    },
  });
  return finish(signal, rows.map((r) => `${r.label.padEnd(28)} ${(100 * r.accuracy).toFixed(1)}%  last 2 valid ${formatValidations(r.validations)}`), resultsFile, rows.map((r) => r.runDir));
}
