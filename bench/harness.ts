/** What the benchmarks share: medians, one measurement per fresh child process, and their sections of RESULTS.md. */
import * as fs from 'fs';
import { spawnSync } from 'child_process';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Run `script` with `args` in a fresh Node process (the wasm heap never
 * shrinks, so each large measurement gets its own) and parse the JSON it
 * prints; a failed child yields `{ error }` with its first error line.
 */
export function runChild<T>(script: string, args: string[]): T | { error: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SMEAR_QUIET: '1' },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) return { error: (r.stderr || '').split('\n').find((l) => /Error|Aborted|memory/i.test(l))?.trim() ?? `exit ${r.status}` };
  return JSON.parse(r.stdout) as T;
}

/**
 * Replace the section of `file` that starts with `marker` (up to the next
 * `## ` heading) by `section`, or append it; other benchmarks' sections stay.
 */
export function writeSection(file: string, marker: string, section: string): void {
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const at = existing.indexOf(marker);
  let text: string;
  if (at < 0) {
    text = existing.trim() ? `${existing.trimEnd()}\n\n${section}` : section;
  } else {
    const next = existing.indexOf('\n## ', at + marker.length);
    text = `${existing.slice(0, at)}${section}${next < 0 ? '' : `\n${existing.slice(next + 1)}`}`;
  }
  fs.writeFileSync(file, text);
}

/** Run `step` `warmup` times untimed, then `runs` times; the seconds of each timed run. */
export function timeSteps(step: () => void, warmup: number, runs: number): number[] {
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times;
}
