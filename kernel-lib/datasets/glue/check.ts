/**
 * `checkGlue`: is a GLUE folder complete and readable, as the T5-GLUE setting
 * would read it? The counterpart of the DomainNet check (domainnet/check.ts),
 * with the same report: per task and GLUE split (train, validation; MNLI
 * validation_matched and validation_mismatched) the format and file(s), the
 * examples read, the labels seen (classes, or the score range) and the rows
 * skipped; then every problem: missing task data or split files, files that
 * are not the task's (a wrong header, not parquet), malformed rows and labels
 * outside the task's range (file:line, e.g. an STS-B score outside [0, 5]),
 * splits without examples and tasks without any (which training would
 * otherwise leave out or fail on late). Writes nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cappedList, formatTable } from '../../util/table';
import { GLUE_TASKS, glueTask } from './tasks';
import type { GlueTaskName } from './tasks';
import { detectGlueFormat, formatRowProblem, glueParquetFiles, glueTsvPath, readGlueParquet, readGlueTsv } from './readers';
import type { GlueFormat, GlueReadResult, GlueRowProblem, GlueSplitName } from './readers';

export interface GlueCheckOptions {
  /** tasks to check (default: all eight, in the reference order) */
  tasks?: readonly string[];
}

export interface GlueSplitCheck {
  task: GlueTaskName;
  split: GlueSplitName;
  format: GlueFormat | null;
  /** the file(s) read, or expected where missing */
  files: string[];
  examples: number;
  /** classification: how many of the task's classes occur ("2 of 3"); regression: "min–max" */
  labels: string;
  skipped: number;
}

export interface GlueMissing {
  /** absent for the root folder */
  task?: GlueTaskName;
  path: string;
  kind: 'root folder' | 'task data' | 'split file';
}

export interface GlueEmptySplit {
  task: GlueTaskName;
  split: GlueSplitName;
  files: string[];
  reason: string;
}

export interface GlueCheckReport {
  root: string;
  tasks: GlueTaskName[];
  splits: GlueSplitCheck[];
  missingFiles: GlueMissing[];
  badRows: GlueRowProblem[];
  emptySplits: GlueEmptySplit[];
  /** tasks without examples in any split */
  emptyTasks: GlueTaskName[];
  /** files that cannot be read as the task's (wrong header, not parquet, …) */
  errors: string[];
  /** missing files + bad rows + empty splits + errors */
  problems: number;
  ok: boolean;
}

function resolveTasks(tasks: readonly string[] | undefined): GlueTaskName[] {
  if (tasks === undefined) return [...GLUE_TASKS];
  if (!Array.isArray(tasks) || tasks.length === 0) throw new Error(`checkGlue: option 'tasks' must be a non-empty list of ${GLUE_TASKS.join(', ')}; got ${JSON.stringify(tasks)}`);
  const out: GlueTaskName[] = [];
  for (const t of tasks) {
    let name: GlueTaskName;
    try {
      name = glueTask(t).name;
    } catch {
      throw new Error(`checkGlue: option 'tasks' has unknown task ${JSON.stringify(t)}; expected some of ${GLUE_TASKS.join(', ')}`);
    }
    if (out.includes(name)) throw new Error(`checkGlue: option 'tasks' lists ${JSON.stringify(t)} twice`);
    out.push(name);
  }
  return out;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export async function checkGlue(root: string, opts: GlueCheckOptions = {}): Promise<GlueCheckReport> {
  const tasks = resolveTasks(opts.tasks);
  const absRoot = path.resolve(root);
  const report: GlueCheckReport = { root: absRoot, tasks, splits: [], missingFiles: [], badRows: [], emptySplits: [], emptyTasks: [], errors: [], problems: 0, ok: false };
  if (!isDir(absRoot)) {
    report.missingFiles.push({ path: absRoot, kind: 'root folder' });
    return finish(report);
  }
  const quiet = { onWarning: () => undefined, maxReported: 0 };
  for (const task of tasks) {
    const info = glueTask(task);
    const splits: GlueSplitName[] = ['train', ...(info.validationSplits as GlueSplitName[])];
    let format: GlueFormat | null = null;
    try {
      format = detectGlueFormat(absRoot, task);
    } catch {
      report.missingFiles.push({ task, path: `${path.join(absRoot, info.tsvDir)}${path.sep}*.tsv or ${path.join(absRoot, info.name)}${path.sep}*.parquet`, kind: 'task data' });
    }
    let total = 0;
    for (const split of splits) {
      const check: GlueSplitCheck = { task, split, format, files: [], examples: 0, labels: '', skipped: 0 };
      report.splits.push(check);
      if (format === null) continue;
      let result: GlueReadResult | null = null;
      if (format === 'tsv') {
        const file = glueTsvPath(absRoot, task, split);
        check.files = [file];
        if (!fs.existsSync(file)) {
          report.missingFiles.push({ task, path: file, kind: 'split file' });
          continue;
        }
      } else {
        check.files = glueParquetFiles(absRoot, task, split);
        if (check.files.length === 0) {
          report.missingFiles.push({ task, path: `${path.join(absRoot, info.name, split)}-*.parquet or ${path.join(absRoot, info.name, split)}${path.sep}*.parquet`, kind: 'split file' });
          continue;
        }
      }
      try {
        result = format === 'tsv' ? readGlueTsv(absRoot, task, split, quiet) : await readGlueParquet(absRoot, task, split, quiet);
      } catch (e) {
        report.errors.push((e as Error).message);
        continue;
      }
      check.examples = result.examples.length;
      check.skipped = result.skipped;
      report.badRows.push(...result.problems);
      total += check.examples;
      if (info.labelType === 'classification') {
        check.labels = `${new Set(result.examples.map((x) => x.label)).size} of ${info.numLabels}`;
      } else if (result.examples.length > 0) {
        const v = result.examples.map((x) => x.label);
        check.labels = `${Math.min(...v)}–${Math.max(...v)}`;
      }
      if (check.examples === 0) {
        report.emptySplits.push({ task, split, files: check.files, reason: result.skipped > 0 ? `no examples: all ${result.skipped} rows are bad (see the bad rows)` : 'no examples: the file holds no rows' });
      }
    }
    if (format !== null && total === 0) report.emptyTasks.push(task);
  }
  return finish(report);
}

function finish(report: GlueCheckReport): GlueCheckReport {
  report.problems = report.missingFiles.length + report.badRows.length + report.emptySplits.length + report.errors.length;
  report.ok = report.problems === 0;
  return report;
}

/** The report as text: a per-task/split table, then every problem (capped at 20 per kind), as the DomainNet check prints. */
export function formatGlueCheckReport(r: GlueCheckReport): string {
  const rel = (p: string) => (p.startsWith(r.root + path.sep) ? p.slice(r.root.length + 1) : p);
  const rows = r.splits.map((s) => [
    s.task,
    s.split,
    s.format ?? '–',
    s.files.length === 0 ? '(none)' : s.files.length === 1 ? rel(s.files[0]) : `${rel(s.files[0])} (+${s.files.length - 1})`,
    String(s.examples),
    s.labels,
    String(s.skipped),
  ]);
  const out = [`GLUE at ${r.root} (${r.tasks.length} task${r.tasks.length === 1 ? '' : 's'}: ${r.tasks.join(', ')})`, '', formatTable(['task', 'split', 'format', 'file', 'examples', 'labels', 'skipped'], rows)];
  out.push(
    ...cappedList('missing files', r.missingFiles, (m) => `${m.kind.padEnd(11)} ${m.path}`),
    ...cappedList('unreadable files', r.errors, (e) => e),
    ...cappedList('bad rows (skipped when training)', r.badRows, formatRowProblem),
    ...cappedList('empty splits', r.emptySplits, (e) => `${e.task.padEnd(5)} ${e.split.padEnd(21)} ${e.files.map(rel).join(', ')}: ${e.reason}`),
    ...(r.emptyTasks.length ? ['', `tasks without any example: ${r.emptyTasks.join(', ')}`] : []),
    '',
    r.ok ? 'OK: no problems found.' : `${r.problems} problem${r.problems === 1 ? '' : 's'} found.`,
  );
  return out.join('\n');
}
