/**
 * Reads GLUE from a local folder, in either of its two real formats. Nothing is
 * downloaded.
 *
 * (a) The GLUE TSV distribution (what `download_glue_data.py` unpacks; HF
 *     `datasets` 1.x `glue` reads the same files): `<root>/<DIR>/<file>.tsv` with
 *     DIR = RTE, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, CoLA and file = train, dev,
 *     and for MNLI dev_matched / dev_mismatched. Column layouts:
 *       CoLA   no header; 4 columns: source, label (0/1), original mark, sentence
 *       SST-2  sentence, label
 *       MRPC   Quality, #1 ID, #2 ID, #1 String, #2 String
 *       STS-B  index, genre, filename, year, old_index, source1, source2, sentence1, sentence2, score
 *       QQP    id, qid1, qid2, question1, question2, is_duplicate
 *       MNLI   index, promptID, pairID, genre, sentence{1,2}_binary_parse, sentence{1,2}_parse,
 *              sentence1, sentence2, label1[, label2..label5], gold_label
 *       QNLI   index, question, sentence, label   (entailment / not_entailment)
 *       RTE    index, sentence1, sentence2, label (entailment / not_entailment)
 *     Parsing follows HF's glue.py: tab-separated, no quoting (csv.QUOTE_NONE),
 *     columns by header name; string labels map to their ClassLabel index
 *     (entailment 0, not_entailment 1; MNLI entailment 0, neutral 1,
 *     contradiction 2); `idx` = the data row's position, counting skipped rows
 *     (as HF's enumerate does); STS-B scores are rounded to float32, the dtype
 *     HF stores (this matters for the STS-B template's `round`).
 *     Malformed rows (too few or too many columns, an unknown label, a score
 *     that is not a number or outside STS-B's [0, 5]) are reported as
 *     `file:line: problem`, skipped, counted and returned (`problems`), and a
 *     summary warning is given; they never throw. A file that is not the
 *     task's (wrong header) is an Error naming it. (HF would keep
 *     a row with extra columns; here it is skipped, since a stray tab shifts the
 *     named columns.)
 *
 * (b) HF `datasets` parquet exports: `<root>/<task>/<split>-*.parquet` or
 *     `<root>/<task>/<split>/*.parquet` (task = rte, sst2, …; split = train,
 *     validation, validation_matched, validation_mismatched), with HF's glue
 *     columns: text fields (`sentence`, `sentence1`/`sentence2`,
 *     `question1`/`question2`, `question`/`sentence`, `premise`/`hypothesis`),
 *     `label`, `idx`. Shards are read in name order. A file that is not
 *     readable parquet is an Error naming it; invalid rows are skipped as above
 *     (`file: row N: problem`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { GLUE_TASK_INFO, glueTask } from './tasks';
import type { GlueExample, GlueTaskInfo, GlueTaskName } from './tasks';
import { importEsm } from '../../tokenizers/esm';

/** GLUE split names as HF has them. */
export type GlueSplitName = 'train' | 'validation' | 'validation_matched' | 'validation_mismatched';
export const GLUE_SPLIT_NAMES: readonly GlueSplitName[] = ['train', 'validation', 'validation_matched', 'validation_mismatched'];

export interface GlueReadOptions {
  /** where warnings go (default: console.warn, silent when SMEAR_QUIET is set) */
  onWarning?: (message: string) => void;
  /** how many malformed rows are reported one by one before only the summary (default 10) */
  maxReported?: number;
}

/** A row that was skipped: where, and why. */
export interface GlueRowProblem {
  file: string;
  /** TSV: 1-based line in the file */
  line?: number;
  /** parquet: 0-based row in the file */
  row?: number;
  message: string;
}

export interface GlueReadResult {
  examples: GlueExample[];
  /** file(s) read */
  files: string[];
  /** malformed rows skipped */
  skipped: number;
  /** every skipped row (the warnings list only the first `maxReported`) */
  problems: GlueRowProblem[];
}

export function formatRowProblem(p: GlueRowProblem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : p.row !== undefined ? `: row ${p.row}` : ''}: ${p.message}`;
}

export function defaultWarn(message: string): void {
  if (!process.env.SMEAR_QUIET) console.warn(message);
}

function checkSplit(task: GlueTaskInfo, split: string, where: string): GlueSplitName {
  const ok: string[] = task.name === 'mnli' ? ['train', 'validation_matched', 'validation_mismatched'] : ['train', 'validation'];
  if (!ok.includes(split)) {
    throw new Error(`${where}: split ${JSON.stringify(split)} does not exist for ${task.name}; expected one of ${ok.join(', ')}`);
  }
  return split as GlueSplitName;
}

// ---------------------------------------------------------------- TSV

interface TsvLayout {
  /** header present? (CoLA: no) */
  header: boolean;
  /** exact expected header columns (checked when header is true), or the minimum for MNLI */
  columns: readonly string[];
  /** HF text field -> column name (or index for headerless) */
  text: Record<string, string | number>;
  label: string | number;
}

const MNLI_HEAD = ['index', 'promptID', 'pairID', 'genre', 'sentence1_binary_parse', 'sentence2_binary_parse', 'sentence1_parse', 'sentence2_parse', 'sentence1', 'sentence2'];

const TSV_LAYOUT: Record<GlueTaskName, TsvLayout> = {
  cola: { header: false, columns: ['source', 'label', 'mark', 'sentence'], text: { sentence: 3 }, label: 1 },
  sst2: { header: true, columns: ['sentence', 'label'], text: { sentence: 'sentence' }, label: 'label' },
  mrpc: { header: true, columns: ['Quality', '#1 ID', '#2 ID', '#1 String', '#2 String'], text: { sentence1: '#1 String', sentence2: '#2 String' }, label: 'Quality' },
  stsb: { header: true, columns: ['index', 'genre', 'filename', 'year', 'old_index', 'source1', 'source2', 'sentence1', 'sentence2', 'score'], text: { sentence1: 'sentence1', sentence2: 'sentence2' }, label: 'score' },
  qqp: { header: true, columns: ['id', 'qid1', 'qid2', 'question1', 'question2', 'is_duplicate'], text: { question1: 'question1', question2: 'question2' }, label: 'is_duplicate' },
  mnli: { header: true, columns: MNLI_HEAD, text: { premise: 'sentence1', hypothesis: 'sentence2' }, label: 'gold_label' },
  qnli: { header: true, columns: ['index', 'question', 'sentence', 'label'], text: { question: 'question', sentence: 'sentence' }, label: 'label' },
  rte: { header: true, columns: ['index', 'sentence1', 'sentence2', 'label'], text: { sentence1: 'sentence1', sentence2: 'sentence2' }, label: 'label' },
};

const TSV_FILE: Record<GlueSplitName, string> = {
  train: 'train.tsv',
  validation: 'dev.tsv',
  validation_matched: 'dev_matched.tsv',
  validation_mismatched: 'dev_mismatched.tsv',
};

/** Path of a split's TSV file under a GLUE root. */
export function glueTsvPath(root: string, task: string, split: string): string {
  const info = glueTask(task);
  const s = checkSplit(info, split, 'glueTsvPath');
  return path.join(root, info.tsvDir, TSV_FILE[s]);
}

/**
 * Parses one label value the way HF does: class names → index, '0'/'1'
 * → int, STS-B → float32. Returns an error string for a bad value.
 */
function parseLabel(task: GlueTaskInfo, raw: string): number | string {
  if (task.labelType === 'regression') {
    const t = raw.trim();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return `score ${JSON.stringify(raw)} is not a number`;
    return scoreProblem(task, Number(t)) ?? Math.fround(Number(t));
  }
  const byName = task.labelNames.indexOf(raw);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(raw)) {
    const v = Number(raw);
    if (v < task.numLabels) return v;
  }
  return `label ${JSON.stringify(raw)} is not one of ${[...task.labelNames, ...Array.from({ length: task.numLabels }, (_, i) => String(i))].join(', ')}`;
}

/** A regression score outside the task's range (STS-B: [0, 5]), as a problem; null when it is in range. */
function scoreProblem(task: GlueTaskInfo, v: number): string | null {
  const r = task.scoreRange;
  if (!Number.isFinite(v)) return `score ${v} is not a finite number`;
  return r && !(v >= r[0] && v <= r[1]) ? `score ${v} is outside [${r[0]}, ${r[1]}] (the ${task.name} similarity range)` : null;
}

/** Reads one TSV split. Malformed rows are reported, skipped and counted. */
export function readGlueTsv(root: string, task: string, split: string, opts: GlueReadOptions = {}): GlueReadResult {
  const info = glueTask(task);
  const s = checkSplit(info, split, 'readGlueTsv');
  const file = path.join(root, info.tsvDir, TSV_FILE[s]);
  if (!fs.existsSync(file)) {
    throw new Error(
      `readGlueTsv: ${file} not found (task ${info.name}, split ${s}). Expected the GLUE TSV layout <root>/${info.tsvDir}/${TSV_FILE[s]}; ` +
        `option 'root' is ${JSON.stringify(root)}.`,
    );
  }
  const warn = opts.onWarning ?? defaultWarn;
  const maxReported = opts.maxReported ?? 10;
  const layout = TSV_LAYOUT[info.name];
  let text = fs.readFileSync(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  let colIndex: Record<string, number> = {};
  let nCols = layout.columns.length;
  let first = 0;
  if (layout.header) {
    if (lines.length === 0) throw new Error(`readGlueTsv: ${file}:1: empty file, expected a header (${layout.columns.join('\\t')})`);
    const head = lines[0].split('\t');
    if (info.name === 'mnli') {
      const bad = MNLI_HEAD.findIndex((c, i) => head[i] !== c);
      if (bad >= 0 || head[head.length - 1] !== 'gold_label') {
        throw new Error(`readGlueTsv: ${file}:1: not an MNLI header: expected ${MNLI_HEAD.join(', ')}, label1…, gold_label; got ${head.join(', ')}`);
      }
    } else if (head.length !== layout.columns.length || layout.columns.some((c, i) => head[i] !== c)) {
      throw new Error(`readGlueTsv: ${file}:1: header for ${info.name} should be ${layout.columns.join(', ')}; got ${head.join(', ')}`);
    }
    nCols = head.length;
    colIndex = Object.fromEntries(head.map((c, i) => [c, i]));
    first = 1;
  }
  const col = (key: string | number): number => (typeof key === 'number' ? key : colIndex[key]);

  const examples: GlueExample[] = [];
  const problems: GlueRowProblem[] = [];
  let skipped = 0;
  const report = (lineNo: number, problem: string): void => {
    skipped++;
    problems.push({ file, line: lineNo, message: problem });
    if (skipped <= maxReported) warn(`${file}:${lineNo}: ${problem}; row skipped`);
  };
  for (let li = first; li < lines.length; li++) {
    const idx = li - first;
    const line = lines[li];
    const cells = line.split('\t');
    if (cells.length !== nCols) {
      report(li + 1, `expected ${nCols} tab-separated columns, found ${cells.length}`);
      continue;
    }
    const label = parseLabel(info, cells[col(layout.label)]);
    if (typeof label === 'string') {
      report(li + 1, label);
      continue;
    }
    const fields: Record<string, string> = {};
    for (const [k, c] of Object.entries(layout.text)) fields[k] = cells[col(c)];
    examples.push({ task: info.name, idx, label, text: fields });
  }
  if (skipped > 0) {
    warn(`readGlueTsv: ${file}: ${skipped} malformed row(s) skipped${skipped > maxReported ? ` (first ${maxReported} reported)` : ''}; ${examples.length} read`);
  }
  return { examples, files: [file], skipped, problems };
}

// ---------------------------------------------------------------- parquet

interface Hyparquet {
  parquetReadObjects(options: { file: ArrayBuffer; columns?: string[] }): Promise<Record<string, unknown>[]>;
  parquetMetadata(buffer: ArrayBuffer): { schema: { name: string }[] };
}

/** Parquet shards of a split: `<root>/<task>/<split>-*.parquet` or `<root>/<task>/<split>/*.parquet`, sorted. */
export function glueParquetFiles(root: string, task: string, split: string): string[] {
  const info = glueTask(task);
  const s = checkSplit(info, split, 'glueParquetFiles');
  const dir = path.join(root, info.name);
  const files: string[] = [];
  if (fs.existsSync(dir)) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (f.endsWith('.parquet') && (f.startsWith(`${s}-`) || f === `${s}.parquet`)) files.push(path.join(dir, f));
    }
    const sub = path.join(dir, s);
    if (files.length === 0 && fs.existsSync(sub) && fs.statSync(sub).isDirectory()) {
      for (const f of fs.readdirSync(sub).sort()) if (f.endsWith('.parquet')) files.push(path.join(sub, f));
    }
  }
  return files;
}

/** Reads one split from HF parquet export(s). */
export async function readGlueParquet(root: string, task: string, split: string, opts: GlueReadOptions = {}): Promise<GlueReadResult> {
  const info = glueTask(task);
  const s = checkSplit(info, split, 'readGlueParquet');
  const files = glueParquetFiles(root, info.name, s);
  if (files.length === 0) {
    throw new Error(
      `readGlueParquet: no parquet files for ${info.name}/${s} under ${path.join(root, info.name)}; expected ${s}-*.parquet or ${s}/*.parquet ` +
        `(option 'root' is ${JSON.stringify(root)}).`,
    );
  }
  const warn = opts.onWarning ?? defaultWarn;
  const hp = await importEsm<Hyparquet>('hyparquet', 'readGlueParquet');
  const need = [...info.textKeys, 'label', 'idx'];
  const examples: GlueExample[] = [];
  const problems: GlueRowProblem[] = [];
  let skipped = 0;
  let rowBase = 0;
  for (const file of files) {
    const b = fs.readFileSync(file);
    const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    const notParquet = (e: unknown) =>
      new Error(`readGlueParquet: ${file} (${b.byteLength} bytes) is not a readable parquet file (${info.name}/${s}): ${e instanceof Error ? e.message : String(e)}`);
    let schema: { name: string }[];
    try {
      schema = hp.parquetMetadata(buf).schema;
    } catch (e) {
      throw notParquet(e);
    }
    const have = new Set(schema.map((e) => e.name));
    const missing = need.filter((c) => c !== 'idx' && !have.has(c));
    if (missing.length > 0) {
      throw new Error(`readGlueParquet: ${file}: missing column(s) ${missing.join(', ')} for ${info.name} (has ${[...have].slice(1).join(', ')})`);
    }
    let rows: Record<string, unknown>[];
    try {
      rows = await hp.parquetReadObjects({ file: buf, columns: need.filter((c) => have.has(c)) });
    } catch (e) {
      throw notParquet(e);
    }
    rows.forEach((row, r) => {
      const rawLabel = row.label;
      let label = typeof rawLabel === 'bigint' ? Number(rawLabel) : (rawLabel as number);
      const bad =
        typeof label !== 'number' || !Number.isFinite(label) || (info.labelType === 'classification' && !(Number.isInteger(label) && label >= 0 && label < info.numLabels));
      const outOfRange = !bad && info.labelType === 'regression' ? scoreProblem(info, label) : null;
      const textOk = info.textKeys.every((k) => typeof row[k] === 'string');
      if (bad || outOfRange || !textOk) {
        skipped++;
        const message = bad ? `label ${String(rawLabel)} invalid for ${info.name}` : (outOfRange ?? 'a text field is not a string');
        problems.push({ file, row: r, message });
        if (skipped <= (opts.maxReported ?? 10)) warn(`${file}: row ${r}: ${message}; row skipped`);
        return;
      }
      if (info.labelType === 'regression') label = Math.fround(label);
      const text: Record<string, string> = {};
      for (const k of info.textKeys) text[k] = row[k] as string;
      const idxRaw = row.idx;
      const idx = idxRaw === undefined ? rowBase + r : Number(idxRaw);
      examples.push({ task: info.name, idx, label, text });
    });
    rowBase += rows.length;
  }
  if (skipped > 0) warn(`readGlueParquet: ${info.name}/${s}: ${skipped} invalid row(s) skipped; ${examples.length} read`);
  return { examples, files, skipped, problems };
}

// ---------------------------------------------------------------- either

export type GlueFormat = 'tsv' | 'parquet';

/** Which format a GLUE root holds for a task: TSV folder first, then parquet. */
export function detectGlueFormat(root: string, task: string): GlueFormat {
  const info = glueTask(task);
  if (fs.existsSync(path.join(root, info.tsvDir, 'train.tsv')) || fs.existsSync(path.join(root, info.tsvDir, 'dev.tsv'))) return 'tsv';
  if (fs.existsSync(path.join(root, info.tsvDir, 'dev_matched.tsv'))) return 'tsv';
  if (fs.existsSync(path.join(root, info.name))) return 'parquet';
  throw new Error(
    `GLUE: no data for ${info.name} under ${root}: expected ${path.join(root, info.tsvDir)}/*.tsv (GLUE TSV) or ${path.join(root, info.name)}/*.parquet (HF export)`,
  );
}

/** Reads a split in whichever format the root holds (or the one given). */
export async function readGlueSplit(root: string, task: string, split: string, opts: GlueReadOptions & { format?: GlueFormat } = {}): Promise<GlueReadResult> {
  const format = opts.format ?? detectGlueFormat(root, task);
  return format === 'tsv' ? readGlueTsv(root, task, split, opts) : readGlueParquet(root, task, split, opts);
}

export { GLUE_TASK_INFO };
