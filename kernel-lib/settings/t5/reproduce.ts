/**
 * The T5-GLUE reproduction: train and test the method set one after another
 * and write a results table (per-task metrics, the 11-value GLUE average, the
 * 8-task mean, steps/s, trainable parameters) with routing heat tables.
 * Finished methods are reused (a run folder whose config.json matches the
 * resolved configuration and that has results.json), so an interrupted
 * reproduction picks up where it stopped.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../io/atomic';
import { loadRoutingStats, type RoutingStats } from '../../analysis/routing-stats';
import { routingSections } from '../../analysis/routing-tables';
import { GLUE_TASKS, GLUE_TASK_INFO } from '../../datasets/glue/tasks';
import type { ProgressOptions } from '../../train/progress';
import { REPO_ROOT, configDifferences, resolveT5RunConfig, type Profile, type T5RunConfig, type T5RunOverrides } from './config';
import { prepareMiniT5, trainT5 } from './run';
import { initBackend } from '../../backend';
import { formatValidations, lastValidations, methodLabel, validationsNote, type MethodSpec, type ValidationPoint } from '../common';
import { divergedAt } from '../../analysis/runs';
import { resolveWorkers, runFolderMode, trainPlans, type RunPlan } from '../workers';
import { readJsonLines, readJsonObject } from '../../util/json';

/** The default method set: every T5 routing method of the comparison plus both single-adapter baselines. */
export const T5_METHOD_SET: MethodSpec[] = [
  { method: 'smear' },
  { method: 'tag' },
  { method: 'hash' },
  { method: 'topk' },
  { method: 'st-gumbel' },
  { method: 'reinforce' },
  { method: 'dselect-k' },
  { method: 'ensemble' },
  { method: 'dense', configuration: '1× compute' },
  { method: 'dense', configuration: '1× parameters' },
  { method: 'adamix' },
  { method: 'skills' },
];

export interface T5ReproductionRow {
  label: string;
  method: string;
  configuration: string;
  glueAverage: number;
  taskMean: number;
  perTask: Record<string, Record<string, number>>;
  validScore: number;
  /** Validation GLUE avg at the last two evaluations. */
  validations?: ValidationPoint[];
  bestStep: number;
  stepsPerSecond: number;
  /** Wall-clock seconds of the run (training + evaluations), from its metrics. */
  seconds: number;
  trainableParameters: number;
  runDir: string;
  reused: boolean;
  routing?: RoutingStats;
}

export interface T5ReproductionOptions {
  profile?: Profile;
  methods?: MethodSpec[];
  overrides?: T5RunOverrides;
  outDir?: string;
  progress?: ProgressOptions;
  signal?: AbortSignal;
  force?: boolean;
  runDirFor?: (m: MethodSpec) => string;
  /**
   * Methods trained at once, each in its own child process (default 1: one
   * after another in this process, with `progress`). 'auto': the mini profile
   * uses min(2, available cores) — the wasm backend computes on one thread, so
   * a second process uses the second core —, the paper profile 1.
   */
  workers?: number | 'auto';
}

interface Plan extends RunPlan<T5RunOverrides> {
  cfg: T5RunConfig;
}

export async function reproduceT5(opts: T5ReproductionOptions = {}): Promise<{ rows: T5ReproductionRow[]; resultsFile: string; pretrain?: Record<string, unknown> }> {
  const profile = opts.profile ?? 'mini';
  const outDir = opts.outDir ?? path.join(REPO_ROOT, 'results', `t5-${profile}`);
  const quiet = opts.progress?.mode === 'none';
  const workers = resolveWorkers(opts.workers, profile);
  const t0 = Date.now();
  let pretrain: Record<string, unknown> | undefined;
  const plans: Plan[] = [];
  for (const spec of opts.methods ?? T5_METHOD_SET) {
    if (opts.signal?.aborted) break;
    const overrides: T5RunOverrides & { method: string } = {
      ...opts.overrides,
      profile,
      method: spec.method,
      configuration: spec.configuration,
      ...(opts.runDirFor ? { runDir: opts.runDirFor(spec) } : {}),
    };
    let cfg: T5RunConfig = resolveT5RunConfig(overrides);
    if (profile === 'mini') {
      // The backbone (pretrained once, cached) is part of the configuration a run is compared by.
      await initBackend();
      cfg = await prepareMiniT5(cfg, quiet);
      overrides.model = { ...overrides.model, path: cfg.model.path };
      const report = cfg.model.path ? path.join(cfg.model.path, 'pretrain.json') : '';
      if (report && fs.existsSync(report) && !pretrain) {
        const { curve: _c, ...r } = readJsonObject(report);
        pretrain = { ...r, folder: path.relative(REPO_ROOT, cfg.model.path!) };
      }
    }
    const configFile = path.join(cfg.runDir, 'config.json');
    const same = !opts.force && fs.existsSync(configFile) && configDifferences(readJsonObject(configFile), cfg).length === 0;
    const diverged = same ? divergedAt(cfg.runDir) : undefined;
    if (diverged !== undefined) {
      // Resuming would diverge again at the same step (runs are deterministic).
      throw new Error(`${methodLabel(spec)}: the run in ${cfg.runDir} diverged at step ${diverged} (its results.json says so); retrain it with --force (the folder is moved aside), with a lower learning rate`);
    }
    const reused = same && fs.existsSync(path.join(cfg.runDir, 'results.json'));
    if (reused) process.stderr.write(`[smear] t5 ${methodLabel(spec)}: reusing ${path.relative(REPO_ROOT, cfg.runDir)}\n`);
    plans.push({ spec, overrides, cfg, runDir: cfg.runDir, steps: cfg.train.maxSteps, same, reused, completed: reused });
  }
  const processes = await trainPlans(
    't5',
    plans,
    workers,
    async (plan) => (await trainT5(plan.overrides, { progress: opts.progress, signal: opts.signal, ...runFolderMode(plan) })).result.status,
    opts.signal,
  );
  const rows: T5ReproductionRow[] = [];
  for (const { spec, cfg, reused, completed } of plans) {
    if (!completed) continue;
    const results = readJsonObject(path.join(cfg.runDir, 'results.json'));
    const routingFile = path.join(cfg.runDir, 'routing-test.json');
    const lines = readJsonLines(path.join(cfg.runDir, 'metrics.jsonl'));
    const train = lines.filter((l) => l.split === 'train' && typeof l.steps_per_s === 'number');
    const { glue_average, task_mean, examples: _e, ...perTask } = results.test;
    rows.push({
      label: methodLabel(spec),
      method: cfg.method,
      configuration: cfg.configuration,
      glueAverage: glue_average,
      taskMean: task_mean,
      perTask,
      validScore: results.valid_score,
      validations: lastValidations(lines, 1),
      bestStep: results.best_step,
      stepsPerSecond: train.length ? train.reduce((s, l) => s + l.steps_per_s, 0) / train.length : NaN,
      seconds: typeof results.seconds === 'number' ? results.seconds : NaN,
      trainableParameters: results.trainable_parameters,
      runDir: cfg.runDir,
      reused,
      routing: fs.existsSync(routingFile) ? loadRoutingStats(routingFile) : undefined,
    });
  }
  const resultsFile = path.join(outDir, 'results.md');
  // Interrupted: keep the previous tables (the finished runs are reused next time).
  if (opts.signal?.aborted) return { rows, resultsFile, pretrain };
  fs.mkdirSync(outDir, { recursive: true });
  await writeFileAtomic(resultsFile, renderT5Results(rows, profile, (Date.now() - t0) / 1000, pretrain, processes));
  await writeFileAtomic(path.join(outDir, 'results.json'), `${JSON.stringify({ pretrain, rows: rows.map(({ routing: _r, ...r }) => r) }, null, 2)}\n`);
  return { rows, resultsFile, pretrain };
}

const METRIC_SHORT: Record<string, string> = { acc: 'acc', f1: 'F1', pearson_corrcoef: 'P', spearman_corrcoef: 'S', mcc: 'MCC' };

export function renderT5Results(rows: T5ReproductionRow[], profile: Profile, seconds: number, pretrain?: Record<string, unknown>, workers = 1): string {
  const cols = GLUE_TASKS.flatMap((t) => GLUE_TASK_INFO[t].metrics.map((m) => ({ task: t, metric: m as string })));
  const fmt = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : '–');
  const trained = rows.filter((r) => !r.reused).length;
  const out: string[] = [
    `# T5-GLUE, ${profile} profile`,
    '',
    `Test metrics (×100; every test example under every original-task template, pooled) of the best-validation`,
    `checkpoint of each method. "GLUE avg" is the reference's eval_average_metrics (mean of the 11 metric values;`,
    `the model-selection score), "8-task" the mean of per-task means. steps/s is the mean training throughput;`,
    `trainable parameters include every routing block and T5 RMSNorm gain. "valid" is the best validation GLUE avg (the`,
    `checkpoint tested); ${validationsNote(rows, 'GLUE avg')}`,
    `Written by \`npm start\` (\`smear reproduce\`); ${trained} of ${rows.length} runs trained in this invocation (${seconds.toFixed(0)} s wall${workers > 1 ? `, ${workers} training processes at once` : ''}).`,
    '',
  ];
  if (pretrain) {
    const p = pretrain as { steps?: number; seconds?: number; firstLoss?: number; finalLoss?: number; heldOutAccuracyBefore?: number; heldOutAccuracyAfter?: number; folder?: string };
    out.push(
      `Backbone: ${p.folder} — span-corruption pretraining, ${p.steps} steps in ${Number(p.seconds).toFixed(0)} s (cached, not counted above),`,
      `denoising loss ${Number(p.firstLoss).toFixed(2)} → ${Number(p.finalLoss).toFixed(2)}, held-out target-token accuracy ${(100 * Number(p.heldOutAccuracyBefore)).toFixed(1)}% → ${(100 * Number(p.heldOutAccuracyAfter)).toFixed(1)}%.`,
      '',
    );
  }
  out.push(
    `| method | GLUE avg | 8-task | ${cols.map((c) => `${c.task} ${METRIC_SHORT[c.metric] ?? c.metric}`).join(' | ')} | valid | last 2 valid | steps/s | trainable params |`,
    `|---|---:|---:|${cols.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${fmt(r.glueAverage)} | ${fmt(r.taskMean)} | ${cols.map((c) => fmt(r.perTask[c.task]?.[c.metric])).join(' | ')} | ${fmt(r.validScore)} | ${formatValidations(r.validations)} | ${r.stepsPerSecond.toFixed(2)} | ${r.trainableParameters.toLocaleString('en-US')} |`,
    ),
    '',
    '## Routing (test set): average routing distribution per task',
    '',
    'Rows: tasks; columns: experts; each row sums to 1 (the paper’s Figure 3, as tables). Shown for the first encoder',
    'and the last decoder routing block of every method with a routing distribution; all blocks are in each run’s',
    'routing-test.json. Tag routing shows RTE on MNLI’s expert in encoder blocks (the README’s configuration).',
    '',
  );
  out.push(...routingSections(rows, 'task'));
  return `${out.join('\n')}\n`;
}

export type { MethodSpec };
