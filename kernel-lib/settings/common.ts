/**
 * What the two settings (ResNet-DomainNet, T5-GLUE) share in configuring,
 * naming and reporting runs: profiles, method configurations (1× compute,
 * 1× parameters, 2×), run folders, configuration comparison for resume and
 * reuse, and the validation column of the reproduction reports (their routing
 * tables are in analysis/routing-tables.ts).
 */
import * as path from 'path';
import { getMethod } from '../routing/registry';
import type { RoutingMethod } from '../routing/method';

export type Profile = 'mini' | 'paper';

/** The repository root (kernel-lib/settings → ../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The command-line options of `smear train` / `smear reproduce` that set `train.*` fields (for messages). */
export const TRAIN_CLI_OPTIONS: Readonly<Record<string, string>> = {
  maxSteps: '--steps',
  batchSize: '--batch-size',
  evalEvery: '--eval-every',
  logEvery: '--log-every',
  lr: '--lr',
  seed: '--seed',
  warmupSteps: '--warmup',
  maxValidExamples: '--max-eval-examples',
  maxTestExamples: '--max-eval-examples',
};

/** "option train.batchSize (--batch-size)": a `train.*` field and the command-line option that sets it, if any. */
export function trainOptionName(key: string): string {
  const cli = TRAIN_CLI_OPTIONS[key];
  return `option train.${key}${cli ? ` (${cli})` : ''}`;
}

export function checkProfile(profile: unknown): Profile {
  if (profile !== 'mini' && profile !== 'paper') throw new Error(`option profile: expected 'mini' or 'paper', got '${String(profile)}'`);
  return profile;
}

export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/×/g, 'x')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export interface ResolvedMethod {
  method: RoutingMethod;
  /** The configuration's label (e.g. 'SMEAR 2×'). */
  configuration: string;
  /** Whether it is the method's first (plain) configuration. */
  isDefault: boolean;
  numExperts: number;
  bottleneck: number;
}

/** Look the method and its configuration up and apply the configuration to the setting's sizes. */
export function resolveMethodConfiguration(
  methodName: string,
  configuration: string | undefined,
  sizes: { numExperts: number; bottleneck: number },
): ResolvedMethod {
  const method = getMethod(methodName);
  const wanted = configuration ?? method.configurations[0].label;
  const conf = method.configurations.find((c) => c.label.toLowerCase() === wanted.toLowerCase());
  if (!conf) {
    throw new Error(
      `option configuration: method '${method.name}' has no configuration '${wanted}'; expected one of ${method.configurations.map((c) => `'${c.label}'`).join(', ')}`,
    );
  }
  return { method, configuration: conf.label, isDefault: conf === method.configurations[0], ...conf.resolve(sizes) };
}

/** runs/<setting>-<profile>[-<variant>]-<method>[-<configuration>] */
export function defaultRunDir(setting: string, profile: Profile, m: ResolvedMethod, variant?: string): string {
  const name = `${m.method.name}${m.isDefault ? '' : `-${slug(m.configuration)}`}`;
  return path.join(REPO_ROOT, 'runs', [setting, profile, variant, name].filter((x) => x).join('-'));
}

/**
 * The short budget of `smear reproduce --quick` (the first look): the mini profile's
 * data, model and schedule with fewer steps, in run folders and a results folder of
 * its own (runs/<setting>-mini-quick-<method>, results/<setting>-mini-quick), so the
 * default runs are never replaced by short ones.
 */
export interface QuickBudget {
  maxSteps: number;
  evalEvery: number;
}

/** runs/<setting>-mini-quick-<method>[-<configuration>]: a `--quick` run's folder. */
export function quickRunDir(setting: string, spec: MethodSpec): string {
  // The sizes do not enter the folder's name.
  return defaultRunDir(setting, 'mini', resolveMethodConfiguration(spec.method, spec.configuration, { numExperts: 1, bottleneck: 1 }), 'quick');
}

/** JSON with object keys sorted at every level: equal for configurations that differ only in key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/**
 * Top-level fields in which two configurations differ, after `normalize` drops what is
 * recorded but not chosen; key order does not count (the training options' order follows
 * the registered methods). The run folder's location (runDir) is never compared: a moved
 * folder is the same run.
 */
export function topLevelDifferences(saved: Record<string, unknown>, now: Record<string, unknown>, normalize: (c: Record<string, unknown>) => Record<string, unknown>): string[] {
  const drop = (c: Record<string, unknown>) => {
    const { runDir: _r, ...rest } = normalize(c);
    return rest;
  };
  const a = drop(saved);
  const b = drop(JSON.parse(JSON.stringify(now)) as Record<string, unknown>);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
}

/** For messages: each differing field of `keys` one level down, "train.lr: 0.003 (config.json) → 0.5 (now)". */
export function differenceDetails(saved: Record<string, unknown>, now: Record<string, unknown>, keys: string[]): string[] {
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  const out: string[] = [];
  for (const k of keys) {
    const a = saved[k];
    const b = JSON.parse(JSON.stringify(now[k] ?? null)) as unknown;
    const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
    if (isObj(a) && isObj(b)) {
      for (const sub of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (canonicalJson(a[sub]) !== canonicalJson(b[sub])) out.push(`${k}.${sub}: ${show(a[sub])} (config.json) → ${show(b[sub])} (now)`);
      }
    } else {
      out.push(`${k}: ${show(a)} (config.json) → ${show(b)} (now)`);
    }
  }
  return out.length > 8 ? [...out.slice(0, 8), `… ${out.length - 8} more`] : out;
}

/**
 * The refusal to resume a run folder written with another configuration, naming the
 * fields. `train.maxSteps` may differ (a longer run extends the folder's; checked by
 * checkRunFolder), as may the folder's location.
 */
export function checkResumeConfiguration(
  savedConfig: string,
  saved: Record<string, any>,
  cfg: { train: { maxSteps: number } } & object,
  differences: (saved: Record<string, unknown>, cfg: any) => string[],
): void {
  const now = { ...cfg, train: { ...cfg.train, maxSteps: saved?.train?.maxSteps ?? cfg.train.maxSteps } };
  const diff = differences(saved, now);
  if (diff.length === 0) return;
  throw new Error(
    `--resume: ${savedConfig} was written with a different configuration (${diff.join(', ')}); ` +
      `${differenceDetails(saved, now as unknown as Record<string, unknown>, diff).join('; ')}. ` +
      'Resume with the same options, or start over with --fresh (the folder is moved aside), or choose another --run-dir',
  );
}

/** One entry of a reproduction's method set. */
export interface MethodSpec {
  method: string;
  configuration?: string;
}

export function methodLabel(m: MethodSpec): string {
  return m.configuration ? `${m.method} (${m.configuration})` : m.method;
}

/** One evaluation of a run on its validation set: the step and the score ×100. */
export interface ValidationPoint {
  step: number;
  score: number;
}

/**
 * The validation scores at a run's last two evaluations, from its metrics.jsonl
 * lines (`split: 'valid'`), ×`scale` (100 for an accuracy in [0, 1], 1 for a
 * score already ×100): the results tables print them so a reader sees whether a
 * method was still improving when its budget ended.
 */
export function lastValidations(lines: Record<string, any>[], scale: number): ValidationPoint[] {
  return lines
    .filter((l) => l.split === 'valid' && typeof l.step === 'number' && typeof l.score === 'number')
    .slice(-2)
    .map((l) => ({ step: l.step, score: scale * l.score }));
}

/** "51.7 → 54.2" (the last two validation scores), one score when the run evaluated once, "–" when never. */
export function formatValidations(points: ValidationPoint[] | undefined): string {
  if (!points || points.length === 0) return '–';
  return points.map((p) => p.score.toFixed(1)).join(' → ');
}

/** The table note explaining the "last 2 valid" column, naming the steps the runs evaluated at. */
export function validationsNote(rows: { validations?: ValidationPoint[] }[], score = 'score'): string {
  const steps = [...new Set(rows.map((r) => (r.validations ?? []).map((p) => p.step).join(' and ')).filter((s) => s))];
  const at = steps.length === 1 ? ` (steps ${steps[0]})` : '';
  return `"last 2 valid" is the validation ${score} at the last two evaluations${at}: a rise means the method was still learning when its budget ended.`;
}
