/**
 * The tables of a Markdown text, split into cells as GitHub-flavoured
 * Markdown (and the notebook front ends' renderers, marked and markdown-it)
 * split them: on every `|` that is not escaped as `\|`, code spans included.
 * Used to check that every table a notebook shows has the columns its header
 * says (issue 12: a `|` inside `max |W̄ − Σ p_n W_n|` split a row, and the
 * front end dropped the cells past the header's count).
 */

export interface MarkdownTable {
  /** 1-based line of the header row in the text. */
  line: number;
  header: string[];
  /** Cells of the delimiter row (`---`, `:---:`, …). */
  delimiter: string[];
  rows: { line: number; cells: string[] }[];
}

/** The cells of one table row. */
export function splitRow(row: string): string[] {
  let s = row.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim());
}

const DELIMITER = /^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$/;

/** Every table in a Markdown text (a header row, a delimiter row, then the rows up to a line without `|`). */
export function markdownTables(md: string): MarkdownTable[] {
  const lines = md.split('\n');
  const tables: MarkdownTable[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].includes('|') || !DELIMITER.test(lines[i + 1].trim())) continue;
    const table: MarkdownTable = { line: i + 1, header: splitRow(lines[i]), delimiter: splitRow(lines[i + 1]), rows: [] };
    let j = i + 2;
    for (; j < lines.length && lines[j].includes('|') && lines[j].trim() !== ''; j++) table.rows.push({ line: j + 1, cells: splitRow(lines[j]) });
    tables.push(table);
    i = j - 1;
  }
  return tables;
}

/** One line per table row whose cell count differs from its header's (empty: every table is well formed). */
export function tableShapeProblems(md: string, where: string): string[] {
  const problems: string[] = [];
  for (const t of markdownTables(md)) {
    const n = t.header.length;
    if (t.delimiter.length !== n) problems.push(`${where}, line ${t.line + 1}: the delimiter row has ${t.delimiter.length} cells, the header ${n} (${t.header.join(' | ')})`);
    for (const r of t.rows) {
      if (r.cells.length !== n) problems.push(`${where}, line ${r.line}: ${r.cells.length} cells where the header has ${n} (${t.header.join(' | ')}): ${r.cells.join(' ‖ ')}`);
    }
  }
  return problems;
}
