/**
 * The eight GLUE tasks of the T5-GLUE setting, in the reference's order
 * (the task id is the position in the config's `tasks` list:
 * kernel-lib/docs/reference-code.md#task-and-domain-ids):
 * rte=0, sst2=1, mrpc=2, stsb=3, qqp=4, mnli=5, qnli=6, cola=7.
 *
 * Field names are HF `datasets` `glue/<task>` column names (what the
 * promptsource templates read); `tsvDir` is the folder of the GLUE TSV
 * distribution. Metric names are Hyperformer's (`metrics/metrics.py`):
 * accuracy → `acc`, F1 with invalid → `f1`, Pearson → `pearson_corrcoef`,
 * Spearman → `spearman_corrcoef`, Matthews → `mcc`; the per-task lists are
 * those of `p3_tasks.py` (MRPC/QQP: F1 then accuracy; STS-B: Pearson then
 * Spearman) — 11 values in all.
 */

export const GLUE_TASKS = ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola'] as const;
export type GlueTaskName = (typeof GLUE_TASKS)[number];

export type GlueMetricName = 'acc' | 'f1' | 'pearson_corrcoef' | 'spearman_corrcoef' | 'mcc';

/** Split-scheme group (kernel-lib/docs/reference-code.md#glue-splits): small = halve GLUE validation; large = 1,000 of train as validation. */
export type GlueSizeGroup = 'small' | 'large' | 'mnli';

export interface GlueTaskInfo {
  name: GlueTaskName;
  /** position in GLUE_TASKS = the task id used for routing metadata */
  index: number;
  /** folder name in the GLUE TSV distribution */
  tsvDir: string;
  /** HF column names of the text fields, in order */
  textKeys: readonly string[];
  labelType: 'classification' | 'regression';
  /** number of classes (1 for regression) */
  numLabels: number;
  /** HF ClassLabel names, index = label */
  labelNames: readonly string[];
  /** regression: the closed range of the scores (STS-B: similarity 0–5) */
  scoreRange?: readonly [number, number];
  metrics: readonly GlueMetricName[];
  group: GlueSizeGroup;
  /** GLUE split names (HF): the validation split(s) */
  validationSplits: readonly string[];
}

const T: GlueTaskInfo[] = [
  { name: 'rte', index: 0, tsvDir: 'RTE', textKeys: ['sentence1', 'sentence2'], labelType: 'classification', numLabels: 2, labelNames: ['entailment', 'not_entailment'], metrics: ['acc'], group: 'small', validationSplits: ['validation'] },
  { name: 'sst2', index: 1, tsvDir: 'SST-2', textKeys: ['sentence'], labelType: 'classification', numLabels: 2, labelNames: ['negative', 'positive'], metrics: ['acc'], group: 'large', validationSplits: ['validation'] },
  { name: 'mrpc', index: 2, tsvDir: 'MRPC', textKeys: ['sentence1', 'sentence2'], labelType: 'classification', numLabels: 2, labelNames: ['not_equivalent', 'equivalent'], metrics: ['f1', 'acc'], group: 'small', validationSplits: ['validation'] },
  { name: 'stsb', index: 3, tsvDir: 'STS-B', textKeys: ['sentence1', 'sentence2'], labelType: 'regression', numLabels: 1, labelNames: [], scoreRange: [0, 5], metrics: ['pearson_corrcoef', 'spearman_corrcoef'], group: 'small', validationSplits: ['validation'] },
  { name: 'qqp', index: 4, tsvDir: 'QQP', textKeys: ['question1', 'question2'], labelType: 'classification', numLabels: 2, labelNames: ['not_duplicate', 'duplicate'], metrics: ['f1', 'acc'], group: 'large', validationSplits: ['validation'] },
  { name: 'mnli', index: 5, tsvDir: 'MNLI', textKeys: ['premise', 'hypothesis'], labelType: 'classification', numLabels: 3, labelNames: ['entailment', 'neutral', 'contradiction'], metrics: ['acc'], group: 'mnli', validationSplits: ['validation_matched', 'validation_mismatched'] },
  { name: 'qnli', index: 6, tsvDir: 'QNLI', textKeys: ['question', 'sentence'], labelType: 'classification', numLabels: 2, labelNames: ['entailment', 'not_entailment'], metrics: ['acc'], group: 'large', validationSplits: ['validation'] },
  { name: 'cola', index: 7, tsvDir: 'CoLA', textKeys: ['sentence'], labelType: 'classification', numLabels: 2, labelNames: ['unacceptable', 'acceptable'], metrics: ['mcc'], group: 'small', validationSplits: ['validation'] },
];

export const GLUE_TASK_INFO: Readonly<Record<GlueTaskName, GlueTaskInfo>> = Object.freeze(
  Object.fromEntries(T.map((t) => [t.name, Object.freeze(t)])) as Record<GlueTaskName, GlueTaskInfo>,
);

export function isGlueTask(name: string): name is GlueTaskName {
  return (GLUE_TASKS as readonly string[]).includes(name);
}

/** Accepts HF names (`sst2`, `stsb`) and TSV folder names (`SST-2`, `STS-B`), any case. */
export function glueTask(name: string): GlueTaskInfo {
  const key = name.toLowerCase().replace(/-/g, '');
  if (isGlueTask(key)) return GLUE_TASK_INFO[key];
  throw new Error(`GLUE: unknown task ${JSON.stringify(name)}; expected one of ${GLUE_TASKS.join(', ')}`);
}

export function glueTaskIndex(name: string): number {
  return glueTask(name).index;
}

/** One GLUE example: HF-style text fields, the label (int class or float32 score), HF's idx. */
export interface GlueExample {
  task: GlueTaskName;
  /** HF `idx` (0-based row position in the split) */
  idx: number;
  /** label: class index, or the STS-B score rounded to float32 as HF stores it */
  label: number;
  /** text fields by HF column name */
  text: Record<string, string>;
}
