/**
 * Finished runs as data: a run folder (`runs/<name>/`, written by the
 * trainer and `trainResNet`/`trainT5`) read into one summary per run
 * (configuration, test score, throughput, parameters, routing statistics,
 * learning curves), for tables, figures and `smear analyze`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { getMethod } from '../routing/registry';
import { loadRoutingStats, type RoutingStats } from './routing-stats';
import type { CurveSeries } from './figures';
import { readJsonLines, readJsonObject } from '../util/json';

export interface RunSummary {
  dir: string;
  name: string;
  setting: 'resnet' | 't5';
  profile: string;
  method: string;
  configuration: string;
  /** "method" or "method (configuration)" when the configuration is not the method's first. */
  label: string;
  /** Test score in percent: ResNet pooled accuracy, T5 GLUE average. */
  score: number;
  scoreName: string;
  /** Per domain (ResNet, percent) or per task (T5: the task's mean metric) test scores. */
  perTag: Record<string, number>;
  /** Mean training throughput over the logged windows. */
  stepsPerSecond: number;
  trainableParameters: number;
  steps: number;
  bestStep?: number;
  routing?: RoutingStats;
  curves: CurveSeries;
  /** The validation score at every evaluation, in the unit of `score` (percent, GLUE ×100). */
  validation: { step: number; score: number }[];
}

const readJson = readJsonObject;

function metricsLines(dir: string): Record<string, any>[] {
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  // A last line without its newline may be being written by a run in progress.
  return readJsonLines(file, { partialLastLine: true });
}

/** Learning curves from a run's metrics.jsonl (training loss, validation score). */
export function readCurves(dir: string, label = path.basename(dir)): CurveSeries {
  const lines = metricsLines(dir);
  return {
    label,
    train: lines.filter((l) => l.split === 'train' && typeof l.loss === 'number').map((l) => ({ step: l.step, loss: l.loss })),
    valid: lines.filter((l) => l.split === 'valid' && typeof l.score === 'number').map((l) => ({ step: l.step, score: l.score })),
  };
}

/** "method", or "method (configuration)" for a method's other configurations and for both dense baselines. */
export function runLabel(method: string, configuration: string): string {
  let first = configuration;
  try {
    first = getMethod(method).configurations[0].label;
  } catch {
    // unknown method name: label it as recorded
  }
  const c = configuration.toLowerCase();
  return (c === first.toLowerCase() || c === method.toLowerCase()) && method !== 'dense' ? method : `${method} (${configuration})`;
}

/** The step a run folder's results.json says it diverged at (status 'diverged'), else undefined (also for an unreadable one). */
export function divergedAt(dir: string): number | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    return r && r.status === 'diverged' ? Number(r.step) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `dir` holds a finished run (config.json and a results.json that does not say 'diverged'). */
export function isFinishedRun(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json')) && fs.existsSync(path.join(dir, 'results.json')) && divergedAt(dir) === undefined;
}

/** Read a finished run folder. Throws with the reason when it is not one. */
export function loadRun(dir: string): RunSummary {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs)) throw new Error(`${dir}: no such run folder`);
  const diverged = divergedAt(abs);
  if (diverged !== undefined) throw new Error(`${dir}: not a finished run: it diverged at step ${diverged} (results.json says so; train it again with a lower --lr and --fresh)`);
  if (!isFinishedRun(abs)) throw new Error(`${dir}: not a finished run (expected config.json and results.json; an interrupted run resumes with --resume)`);
  const config = readJson(path.join(abs, 'config.json'));
  const results = readJson(path.join(abs, 'results.json'));
  const setting = config.setting === 't5' ? 't5' : config.setting === 'resnet' ? 'resnet' : null;
  if (!setting) throw new Error(`${dir}/config.json: unknown setting ${JSON.stringify(config.setting)}`);
  const method = String(results.method ?? config.method);
  const configuration = String(results.configuration ?? config.configuration ?? method);
  const label = runLabel(method, configuration);
  const test = results.test ?? {};
  let score: number;
  let perTag: Record<string, number> = {};
  let scoreName: string;
  // metrics.jsonl's validation scores: ResNet accuracies in [0, 1], T5 GLUE metrics ×100.
  let validScale = 1;
  if (setting === 'resnet') {
    validScale = 100;
    if (typeof test.accuracy !== 'number') throw new Error(`${dir}/results.json: test.accuracy missing`);
    score = 100 * test.accuracy;
    scoreName = 'accuracy (%)';
    perTag = Object.fromEntries(Object.entries((test.per_domain ?? {}) as Record<string, number>).map(([k, v]) => [k, 100 * v]));
  } else {
    const { glue_average, task_mean: _m, examples: _e, ...tasks } = test as Record<string, any>;
    if (typeof glue_average !== 'number') throw new Error(`${dir}/results.json: test.glue_average missing`);
    score = glue_average; // the GLUE metrics are ×100 already (metrics/glue.ts)
    scoreName = 'GLUE average';
    for (const [task, m] of Object.entries(tasks)) {
      if (m && typeof m === 'object') {
        const vals = Object.values(m as Record<string, number>).filter((v) => typeof v === 'number');
        if (vals.length) perTag[task] = vals.reduce((a, b) => a + b, 0) / vals.length;
      }
    }
  }
  const lines = metricsLines(abs);
  const sps = lines.filter((l) => l.split === 'train' && typeof l.steps_per_s === 'number').map((l) => l.steps_per_s as number);
  const routingFile = path.join(abs, 'routing-test.json');
  return {
    dir: abs,
    name: path.basename(abs),
    setting,
    profile: String(config.profile ?? ''),
    method,
    configuration,
    label,
    score,
    scoreName,
    perTag,
    stepsPerSecond: sps.length ? sps.reduce((a, b) => a + b, 0) / sps.length : NaN,
    trainableParameters: Number(results.trainable_parameters ?? config.trainableParameters ?? NaN),
    steps: Number(results.steps ?? NaN),
    bestStep: typeof results.best_step === 'number' ? results.best_step : undefined,
    routing: fs.existsSync(routingFile) ? { ...loadRoutingStats(routingFile), method: label } : undefined,
    curves: readCurves(abs, label),
    validation: lines.filter((l) => l.split === 'valid' && typeof l.score === 'number').map((l) => ({ step: l.step, score: validScale * l.score })),
  };
}

/** Finished run folders under `root` whose names start with `prefix` (e.g. runs/, 'resnet-mini-'). */
export function findRuns(root: string, prefix = ''): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith(prefix) && isFinishedRun(path.join(root, e.name)))
    .map((e) => path.join(root, e.name))
    .sort();
}
