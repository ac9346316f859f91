/**
 * Tables as danfojs-node DataFrames: Markdown rendering and files (CSV and
 * Markdown side by side, next to the figures).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as dfd from 'danfojs-node';

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? (Number.isInteger(v) && Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(v)) : '–';
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A GitHub-flavoured Markdown table (numbers right-aligned). */
export function toMarkdown(df: dfd.DataFrame): string {
  const cols = df.columns as string[];
  const rows = df.values as unknown[][];
  const numeric = cols.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === 'number'));
  const head = `| ${cols.map(cell).join(' | ')} |`;
  const sep = `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`;
  return [head, sep, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n') + '\n';
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV (RFC 4180 quoting; NaN as an empty cell). */
export function toCsv(df: dfd.DataFrame): string {
  const cols = df.columns as string[];
  return [cols.map(csvCell).join(','), ...(df.values as unknown[][]).map((r) => r.map(csvCell).join(','))].join('\n') + '\n';
}

/** Write `<base>.csv` and `<base>.md`; returns both paths. */
export async function saveTable(df: dfd.DataFrame, base: string): Promise<string[]> {
  const b = base.replace(/\.(csv|md)$/i, '');
  fs.mkdirSync(path.dirname(path.resolve(b)), { recursive: true });
  const out: string[] = [];
  for (const [ext, text] of [
    ['csv', toCsv(df)],
    ['md', toMarkdown(df)],
  ] as const) {
    const file = `${b}.${ext}`;
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
    out.push(file);
  }
  return out;
}
