/**
 * GLUE metrics of the reference (kernel-lib/docs/reference-code.md#glue-metrics;
 * Hyperformer `data/postprocessors.py` and `metrics/metrics.py`), all ×100.
 *
 * Post-processing (applied to predictions AND targets): classification tasks
 * lower-case and strip the string, then map answer words to ints
 * ({yes, entailment, equivalent, acceptable, positive, good, happy, duplicates,
 * true, correct, always, guaranteed} → 1; {no, not entailment, not equivalent,
 * unacceptable, negative, bad, sad, not duplicates, false, incorrect, never,
 * impossible} → 0; {neither, inconclusive, sometimes, maybe, possible} → 2;
 * anything else → −1). STS-B uses Python's `float()` (−1 when unparsable).
 *
 * Metrics: accuracy (`acc`); F1 of class 1 with invalid predictions (≠ 0, 1)
 * set to 1 − target (`f1`, sklearn's f1_score, 0 when undefined); Pearson and
 * Spearman (average ranks for ties) with NaN → 0 (`pearson_corrcoef`,
 * `spearman_corrcoef`); Matthews correlation with sklearn's multiclass
 * formula, so −1 and 2 are classes of their own (`mcc`, 0 when undefined).
 */
import { GLUE_TASKS, glueTask } from '../datasets/glue/tasks';
import type { GlueMetricName, GlueTaskName } from '../datasets/glue/tasks';

const ONE = new Set(['yes', 'entailment', 'equivalent', 'acceptable', 'positive', 'good', 'happy', 'duplicates', 'true', 'correct', 'always', 'guaranteed']);
const ZERO = new Set(['no', 'not entailment', 'not equivalent', 'unacceptable', 'negative', 'bad', 'sad', 'not duplicates', 'false', 'incorrect', 'never', 'impossible']);
const TWO = new Set(['neither', 'inconclusive', 'sometimes', 'maybe', 'possible']);

/** Python's str.strip() whitespace. */
const PY_WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');

/** `string_processor`: strip, lower-case, answer word → 1 / 0 / 2, else −1. */
export function answerToInt(s: string): number {
  const k = s.replace(PY_STRIP, '').toLowerCase();
  if (ONE.has(k)) return 1;
  if (ZERO.has(k)) return 0;
  if (TWO.has(k)) return 2;
  return -1;
}

const PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_SPECIAL = /^[+-]?(?:nan|inf|infinity)$/i;

/** Python's `float(s)` (whitespace stripped, underscores between digits, nan/inf), or `fallback` when it would raise. */
export function pyFloat(s: string, fallback = -1): number {
  const t = s.replace(PY_STRIP, '');
  if (PY_FLOAT.test(t)) return Number(t.replace(/_/g, ''));
  if (PY_SPECIAL.test(t)) {
    const neg = t.startsWith('-');
    if (/nan/i.test(t)) return NaN;
    return neg ? -Infinity : Infinity;
  }
  return fallback;
}

/** The reference's post-processor for a task's decoded strings. */
export function postprocess(task: string, s: string): number {
  return glueTask(task).labelType === 'regression' ? pyFloat(s, -1) : answerToInt(s);
}

function checkLengths(p: ArrayLike<number>, t: ArrayLike<number>, where: string): void {
  if (p.length !== t.length) throw new Error(`${where}: ${p.length} predictions vs ${t.length} targets`);
  if (p.length === 0) throw new Error(`${where}: no examples`);
}

export function accuracy(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  checkLengths(pred, target, 'accuracy');
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === target[i]) ok++;
  return (100 * ok) / pred.length;
}

/** F1 of class 1; predictions other than 0/1 are replaced by 1 − target (always wrong). */
export function f1WithInvalid(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  checkLengths(pred, target, 'f1WithInvalid');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const t = target[i];
    const p = pred[i] === 0 || pred[i] === 1 ? pred[i] : 1 - t;
    if (p === 1 && t === 1) tp++;
    else if (p === 1 && t !== 1) fp++;
    else if (p !== 1 && t === 1) fn++;
  }
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (100 * 2 * tp) / d; // sklearn: 0 (with a warning) when undefined
}

function pearsonRaw(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** Pearson correlation ×100; NaN (constant input, n < 2, non-finite values) → 0. */
export function pearson(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  checkLengths(pred, target, 'pearson');
  const r = pearsonRaw(target, pred);
  return Number.isFinite(r) ? 100 * r : 0;
}

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average'). */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || a - b);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]] === x[order[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman correlation ×100 (Pearson of average ranks); NaN → 0. */
export function spearman(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  checkLengths(pred, target, 'spearman');
  for (let i = 0; i < pred.length; i++) if (Number.isNaN(pred[i]) || Number.isNaN(target[i])) return 0;
  const r = pearsonRaw(averageRanks(target), averageRanks(pred));
  return Number.isFinite(r) ? 100 * r : 0;
}

/** Matthews correlation ×100, sklearn's multiclass formula over the classes present; 0 when undefined. */
export function matthews(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  checkLengths(pred, target, 'matthews');
  const classes = [...new Set([...Array.from(target), ...Array.from(pred)])].sort((a, b) => a - b);
  const at = new Map(classes.map((c, i) => [c, i]));
  const k = classes.length;
  const tSum = new Float64Array(k);
  const pSum = new Float64Array(k);
  let correct = 0;
  for (let i = 0; i < pred.length; i++) {
    tSum[at.get(target[i])!]++;
    pSum[at.get(pred[i])!]++;
    if (pred[i] === target[i]) correct++;
  }
  const n = pred.length;
  let tp = 0;
  let pp = 0;
  let tt = 0;
  for (let c = 0; c < k; c++) {
    tp += tSum[c] * pSum[c];
    pp += pSum[c] * pSum[c];
    tt += tSum[c] * tSum[c];
  }
  const cov = correct * n - tp;
  const covP = n * n - pp;
  const covT = n * n - tt;
  if (covP * covT === 0) return 0;
  return (100 * cov) / Math.sqrt(covT * covP);
}

export type GlueTaskMetrics = Partial<Record<GlueMetricName, number>>;

/** A task's metrics (the reference's list for it) from numeric predictions/targets (post-processed). */
export function taskMetrics(task: string, pred: ArrayLike<number>, target: ArrayLike<number>): GlueTaskMetrics {
  const info = glueTask(task);
  const out: GlueTaskMetrics = {};
  for (const m of info.metrics) {
    out[m] =
      m === 'acc' ? accuracy(pred, target) : m === 'f1' ? f1WithInvalid(pred, target) : m === 'pearson_corrcoef' ? pearson(pred, target) : m === 'spearman_corrcoef' ? spearman(pred, target) : matthews(pred, target);
  }
  return out;
}

/** Same, from the decoded prediction and target strings. */
export function taskMetricsFromStrings(task: string, predictions: readonly string[], targets: readonly string[]): GlueTaskMetrics {
  return taskMetrics(
    task,
    predictions.map((s) => postprocess(task, s)),
    targets.map((s) => postprocess(task, s)),
  );
}

export type GlueResults = Partial<Record<GlueTaskName, GlueTaskMetrics>>;

function allValues(perTask: GlueResults, where: string): { task: GlueTaskName; values: number[] }[] {
  const rows: { task: GlueTaskName; values: number[] }[] = [];
  for (const [task, ms] of Object.entries(perTask) as [GlueTaskName, GlueTaskMetrics][]) {
    if (!(GLUE_TASKS as readonly string[]).includes(task)) throw new Error(`${where}: unknown task ${task}`);
    const vals = glueTask(task).metrics.map((m) => {
      const v = ms[m];
      if (typeof v !== 'number') throw new Error(`${where}: ${task} lacks metric '${m}'`);
      return v;
    });
    rows.push({ task, values: vals });
  }
  if (rows.length === 0) throw new Error(`${where}: no tasks`);
  return rows;
}

/**
 * The reference's `eval_average_metrics`: the unweighted mean of every metric
 * value of every task (11 values for the 8 tasks: MRPC, QQP and STS-B give two).
 */
export function glueAverage(perTask: GlueResults): number {
  const vals = allValues(perTask, 'glueAverage').flatMap((r) => r.values);
  return vals.reduce((s, v) => s + v, 0) / vals.length;
}

/** The alternative: mean over tasks of each task's mean metric (8 values). */
export function glueTaskMeanAverage(perTask: GlueResults): number {
  const rows = allValues(perTask, 'glueTaskMeanAverage');
  return rows.reduce((s, r) => s + r.values.reduce((a, b) => a + b, 0) / r.values.length, 0) / rows.length;
}
