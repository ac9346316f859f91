/**
 * Reading the JSON files a run folder, a dataset or a model folder holds
 * (config.json, results.json, metrics.jsonl, routing-test.json, manifests),
 * with errors that name the file, the line for JSON Lines, and what was
 * found, instead of a bare "Unexpected token … in JSON at position 12".
 */
import * as fs from 'fs';

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'a folder, not a file' : err.message}`);
  }
}

const excerpt = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** One JSON document; a syntax error is an Error naming `file` (and `line`, for a line of JSON Lines). */
export function parseJson<T = unknown>(text: string, file: string, line?: number): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    const where = line === undefined ? file : `${file}:${line}`;
    const what = text.trim() === '' ? 'empty' : `not valid JSON (${(e as Error).message})`;
    throw new Error(`${where}: ${what}${line !== undefined && text.trim() !== '' ? `: ${excerpt(text)}` : ''}`);
  }
}

/** A JSON file (one document). */
export function readJsonFile<T = unknown>(file: string): T {
  return parseJson<T>(readText(file), file);
}

/** A JSON file that must hold an object (config.json, results.json): anything else is an Error naming the file. */
export function readJsonObject(file: string): Record<string, any> {
  const v = readJsonFile(file);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: expected a JSON object, found ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as Record<string, any>;
}

export interface JsonLinesOptions {
  /** Ignore a last line without its newline that does not parse (a line being appended). Default false. */
  partialLastLine?: boolean;
}

/** A JSON Lines file (metrics.jsonl): one document per non-blank line; a bad line is an Error naming file:line. */
export function readJsonLines<T = Record<string, any>>(file: string, opts: JsonLinesOptions = {}): T[] {
  const text = readText(file);
  const lines = text.split('\n');
  const out: T[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    const last = i === lines.length - 1; // no newline after it
    if (last && opts.partialLastLine) {
      try {
        out.push(JSON.parse(l) as T);
      } catch {
        // being written
      }
      return;
    }
    out.push(parseJson<T>(l, file, i + 1));
  });
  return out;
}
