/**
 * The ResNet-DomainNet reproduction: train and test the method set (one after
 * another, or several at once in worker processes) and write a results table
 * with routing heat tables. Finished
 * methods are reused (a run folder whose results.json matches the resolved
 * configuration), so an interrupted reproduction picks up where it stopped.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../io/atomic';
import { loadRoutingStats, type RoutingStats } from '../../analysis/routing-stats';
import { routingSections } from '../../analysis/routing-tables';
import { REPO_ROOT, configDifferences, resolveResNetConfig, type Profile, type ResNetRunConfig, type ResNetRunOverrides } from './config';
import { prepareMini, trainResNet } from './run';
import { initBackend } from '../../backend';
import { divergedAt } from '../../analysis/runs';
import { resolveWorkers, runFolderMode, trainPlans, type RunPlan } from '../workers';
import type { ProgressOptions } from '../../train/progress';
import { formatValidations, lastValidations, methodLabel, validationsNote, type MethodSpec, type ValidationPoint } from '../common';
import { readJsonLines, readJsonObject } from '../../util/json';
import { formatSkip, type NamedSkip } from './data';

/** The default method set (issue 3): every routing method, plus both single-adapter baselines. */
export const RESNET_METHOD_SET: MethodSpec[] = [
  { method: 'smear' },
  { method: 'tag' },
  { method: 'hash' },
  { method: 'topk' },
  { method: 'st-gumbel' },
  { method: 'reinforce' },
  { method: 'dselect-k' },
  { method: 'ensemble' },
  { method: 'soft-moe' },
  { method: 'adamix' },
  { method: 'skills' },
  { method: 'dense', configuration: '1× compute' },
  { method: 'dense', configuration: '1× parameters' },
];

export interface ReproductionRow {
  label: string;
  method: string;
  configuration: string;
  accuracy: number;
  perDomain: Record<string, number>;
  stepsPerSecond: number;
  trainableParameters: number;
  runDir: string;
  reused: boolean;
  /** Validation accuracy ×100 at the last two evaluations. */
  validations?: ValidationPoint[];
  routing?: RoutingStats;
  /** results.json's skipped_images: unreadable images left out (training: skipped batches' images; valid/test: with --skip-bad-eval-images). */
  skippedImages?: { train?: { images: number; skips?: number; list?: NamedSkip[] }; valid?: { images: number; list?: NamedSkip[] }; test?: { images: number; list?: NamedSkip[] } };
}

export interface ReproductionOptions {
  profile?: Profile;
  methods?: MethodSpec[];
  /** Overrides applied to every run (e.g. data root, steps). */
  overrides?: ResNetRunOverrides;
  outDir?: string;
  progress?: ProgressOptions;
  signal?: AbortSignal;
  /** Retrain even when a finished run exists. */
  force?: boolean;
  /** Run folder per method (default: the configuration's runs/<setting>-<profile>-<method>). */
  runDirFor?: (m: MethodSpec) => string;
  /**
   * Methods trained at once, each in its own child process (settings/workers.ts;
   * default 1: one after another in this process, with `progress`). 'auto': 2
   * for the mini profile on a machine with 2+ cores, 1 for the paper profile.
   */
  workers?: number | 'auto';
}

export async function reproduceResNet(opts: ReproductionOptions = {}): Promise<{ rows: ReproductionRow[]; resultsFile: string }> {
  const profile = opts.profile ?? 'mini';
  const outDir = opts.outDir ?? path.join(REPO_ROOT, 'results', `resnet-${profile}`);
  const workers = resolveWorkers(opts.workers, profile);
  const t0 = Date.now();
  const plans: Plan[] = [];
  for (const spec of opts.methods ?? RESNET_METHOD_SET) {
    const overrides = {
      ...opts.overrides,
      profile,
      method: spec.method,
      configuration: spec.configuration,
      ...(opts.runDirFor ? { runDir: opts.runDirFor(spec) } : {}),
    };
    const cfg = resolveResNetConfig(overrides);
    const configFile = path.join(cfg.runDir, 'config.json');
    // A run folder made with this configuration: reuse it when finished, resume it when interrupted.
    const same = !opts.force && fs.existsSync(configFile) && configDifferences(readJsonObject(configFile), cfg).length === 0;
    const diverged = same ? divergedAt(cfg.runDir) : undefined;
    if (diverged !== undefined) {
      // Resuming would diverge again at the same step (runs are deterministic).
      throw new Error(`${methodLabel(spec)}: the run in ${cfg.runDir} diverged at step ${diverged} (its results.json says so); retrain it with --force (the folder is moved aside), with a lower learning rate`);
    }
    const reused = same && fs.existsSync(path.join(cfg.runDir, 'results.json'));
    if (reused) process.stderr.write(`[smear] ${methodLabel(spec)}: reusing ${path.relative(REPO_ROOT, cfg.runDir)}\n`);
    plans.push({ spec, overrides, cfg, runDir: cfg.runDir, steps: cfg.train.maxSteps, same, reused, completed: reused });
  }
  const pending = plans.filter((p) => !p.reused);
  if (profile === 'mini' && pending.length > 0 && !opts.signal?.aborted) {
    // Data and backbone once, here, before runs (and worker processes) that share them start.
    await initBackend();
    await prepareMini(pending[0].cfg, opts.progress?.mode === 'none');
  }
  const processes = await trainPlans(
    'resnet',
    plans,
    workers,
    async (plan) => (await trainResNet(plan.overrides, { progress: opts.progress, signal: opts.signal, ...runFolderMode(plan) })).result.status,
    opts.signal,
  );
  const rows: ReproductionRow[] = [];
  for (const { spec, cfg, reused, completed } of plans) {
    if (!completed) continue;
    const results = readJsonObject(path.join(cfg.runDir, 'results.json'));
    const routingFile = path.join(cfg.runDir, 'routing-test.json');
    const metricsLines = readJsonLines(path.join(cfg.runDir, 'metrics.jsonl'));
    const train = metricsLines.filter((l) => l.split === 'train' && typeof l.steps_per_s === 'number');
    rows.push({
      label: methodLabel(spec),
      method: cfg.method,
      configuration: cfg.configuration,
      accuracy: results.test.accuracy,
      perDomain: results.test.per_domain,
      stepsPerSecond: train.length ? train.reduce((s, l) => s + l.steps_per_s, 0) / train.length : NaN,
      trainableParameters: results.trainable_parameters,
      runDir: cfg.runDir,
      reused,
      validations: lastValidations(metricsLines, 100),
      ...(results.skipped_images ? { skippedImages: results.skipped_images } : {}),
      routing: fs.existsSync(routingFile) ? loadRoutingStats(routingFile) : undefined,
    });
  }
  const resultsFile = path.join(outDir, 'results.md');
  // Interrupted: keep the previous tables (the finished runs are reused next time).
  if (opts.signal?.aborted) return { rows, resultsFile };
  fs.mkdirSync(outDir, { recursive: true });
  await writeFileAtomic(resultsFile, renderResults(rows, profile, (Date.now() - t0) / 1000, processes));
  await writeFileAtomic(path.join(outDir, 'results.json'), `${JSON.stringify(rows.map(({ routing: _r, ...r }) => r), null, 2)}\n`);
  return { rows, resultsFile };
}

interface Plan extends RunPlan<ResNetRunOverrides> {
  cfg: ResNetRunConfig;
}

export function renderResults(rows: ReproductionRow[], profile: Profile, seconds: number, workers = 1): string {
  const domains = rows[0] ? Object.keys(rows[0].perDomain) : [];
  const out: string[] = [
    `# ResNet-DomainNet, ${profile} profile`,
    '',
    `Test accuracy (pooled top-1 and per domain) of the best-validation checkpoint of each method; steps/s is`,
    `the mean training throughput; trainable parameters include routing blocks, BN_pre and the classifier.`,
    validationsNote(rows, 'accuracy'),
    `Written by \`npm start\` (\`smear reproduce\`); ${rows.filter((r) => !r.reused).length} of ${rows.length} runs trained in this invocation (${seconds.toFixed(0)} s wall${workers > 1 ? `, ${workers} training processes at once` : ''}).`,
    '',
    `| method | accuracy | ${domains.join(' | ')} | last 2 valid | steps/s | trainable params |`,
    `|---|---:|${domains.map(() => '---:').join('|')}|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.label} | ${(100 * r.accuracy).toFixed(1)} | ${domains.map((d) => (100 * (r.perDomain[d] ?? NaN)).toFixed(1)).join(' | ')} | ${formatValidations(r.validations)} | ${r.stepsPerSecond.toFixed(2)} | ${r.trainableParameters.toLocaleString('en-US')} |`,
    ),
    '',
    ...skippedSection(rows),
    '## Routing (test set): average routing distribution per domain',
    '',
    'Rows: domains; columns: experts; each row sums to 1 (the paper’s Figure 3, as tables). Shown for the first and',
    'last routing block of every method with a routing distribution; all blocks are in each run’s routing-test.json.',
    '',
  ];
  out.push(...routingSections(rows, 'domain'));
  return `${out.join('\n')}\n`;
}


/** The results.md section naming the images each run left out (empty when none was). */
export function skippedSection(rows: ReproductionRow[]): string[] {
  const any = rows.filter((r) => r.skippedImages && ['train', 'valid', 'test'].some((s) => (r.skippedImages as Record<string, { images: number } | undefined>)[s]?.images));
  if (any.length === 0) return [];
  const out = ['## Skipped images', '', 'Images that could not be read, by run and split (validation and test only with --skip-bad-eval-images; their accuracy is over the rest):', ''];
  for (const r of any) {
    const s = r.skippedImages!;
    out.push(`- ${r.label}: training ${s.train?.images ?? 0}${s.train?.skips ? ` (${s.train.skips} skips)` : ''}, validation ${s.valid?.images ?? 0}, test ${s.test?.images ?? 0}`);
    for (const [split, v] of [['training', s.train], ['validation', s.valid], ['test', s.test]] as const) {
      for (const x of (v?.list ?? []).slice(0, 10)) out.push(`  - ${split}: \`${formatSkip(x)}\``);
      if ((v?.list?.length ?? 0) > 10) out.push(`  - ${split}: … ${v!.list!.length - 10} more in ${path.join(r.runDir, 'results.json')}`);
    }
  }
  out.push('');
  return out;
}

export type { MethodSpec };
