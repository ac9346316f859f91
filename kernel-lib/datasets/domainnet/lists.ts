/**
 * DomainNet list files: `<relative/path> <label>` per line (official
 * `<domain>_train.txt` / `<domain>_test.txt` and the fold files).
 *
 * Parsing tolerates CRLF / CR line ends, surrounding whitespace, a UTF-8 BOM
 * and blank lines (blank lines can sit anywhere in a fold file, because the
 * reference's split shuffles a train list's blank lines like any other line).
 * Anything else that is not exactly two fields, or a label that is not an
 * integer in [0, numClasses), is an error naming `file:line` and the text.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomicSync } from '../../io/atomic';

export interface ListEntry {
  relPath: string;
  label: number;
  /** 1-based line number in the file */
  line: number;
}

export interface ListProblem {
  file: string;
  line: number;
  /** the offending line, as read */
  text: string;
  message: string;
}

export interface ParsedList {
  entries: ListEntry[];
  problems: ListProblem[];
}

/** Lines as Python's text mode sees them (universal newlines), without their terminators. */
export function splitLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function formatProblem(p: ListProblem): string {
  return `${p.file}:${p.line}: ${p.message}: ${JSON.stringify(p.text)}`;
}

/** Parses a list's text, collecting every problem (`file` is only used in messages). */
export function parseListText(text: string, file: string, numClasses: number): ParsedList {
  const entries: ListEntry[] = [];
  const problems: ListProblem[] = [];
  const lines = splitLines(text.startsWith('\ufeff') ? text.slice(1) : text);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '') return;
    const fields = t.split(/\s+/);
    if (fields.length !== 2) {
      problems.push({
        file,
        line,
        text: raw,
        message: `malformed line: expected "<relative/path> <label>" (2 fields separated by whitespace), found ${fields.length} field${fields.length === 1 ? '' : 's'}`,
      });
      return;
    }
    const [relPath, labelText] = fields;
    if (!/^[+-]?\d+$/.test(labelText)) {
      problems.push({ file, line, text: raw, message: `label ${JSON.stringify(labelText)} is not an integer (expected an integer in [0, ${numClasses}))` });
      return;
    }
    const label = Number(labelText);
    if (label < 0 || label >= numClasses) {
      problems.push({ file, line, text: raw, message: `label ${labelText} is out of range (expected an integer in [0, ${numClasses}))` });
      return;
    }
    if (path.isAbsolute(relPath) || relPath.split(/[\\/]/).includes('..')) {
      problems.push({ file, line, text: raw, message: `path ${JSON.stringify(relPath)} must be relative to the DomainNet root and stay inside it` });
      return;
    }
    entries.push({ relPath, label, line });
  });
  return { entries, problems };
}

/** Reads a list file; a missing file or the first problem line is an Error naming it. */
export function readList(file: string, numClasses: number): ListEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot read list file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  const { entries, problems } = parseListText(text, file, numClasses);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem line${problems.length > 2 ? 's' : ''} in this file)` : '';
    throw new Error(`${formatProblem(problems[0])}${more}`);
  }
  return entries;
}


/** Writes entries as a list file (`relPath label\n` per entry), atomically. */
export function writeList(file: string, entries: readonly { relPath: string; label: number }[]): void {
  for (const e of entries) {
    if (/\s/.test(e.relPath) || e.relPath === '') throw new Error(`writeList ${file}: path ${JSON.stringify(e.relPath)} is empty or contains whitespace, which the list format cannot hold`);
    if (!Number.isInteger(e.label)) throw new Error(`writeList ${file}: label of ${e.relPath} must be an integer; got ${e.label}`);
  }
  writeFileAtomicSync(file, entries.map((e) => `${e.relPath} ${e.label}\n`).join(''));
}
