/**
 * `smear analyze runs/<name>… [--out figures] [--blocks 0,7]`: figures (SVG +
 * PNG through headless Chromium) and tables (CSV + Markdown) for finished
 * runs — the same code as notebook 04 (kernel-lib/analysis/report.ts).
 * Runs are grouped by setting and profile; each group gets its own files.
 */
import * as path from 'path';
import { loadRun, type RunSummary } from '../../analysis/runs';
import { analyzeRuns } from '../../analysis/report';
import { closeRenderer } from '../../analysis/render';
import { toMarkdown } from '../../analysis/tables';
import type { Command } from '../command';

export const analyzeCommand: Command = {
  name: 'analyze',
  summary: 'routing heatmaps, entropy, usage, specialisation and results tables (SVG, PNG, CSV, Markdown) for finished runs',
  usage: 'smear analyze <run folder>… [--out figures] [--blocks 0,7]',
  options: {
    out: { type: 'string', description: 'output folder (default figures/)', default: 'figures' },
    blocks: { type: 'string', description: 'routing blocks shown in the heatmaps, comma-separated (default all)' },
    quiet: { type: 'boolean', description: 'print only the written files' },
  },
  async run({ values, positionals }) {
    if (positionals.length === 0) {
      process.stderr.write('smear analyze: give one or more finished run folders, e.g. `smear analyze runs/resnet-mini-*`\n');
      return 2;
    }
    let blocks: number[] | undefined;
    if (typeof values.blocks === 'string') {
      blocks = values.blocks.split(',').map((s) => Number(s.trim()));
      if (blocks.some((b) => !Number.isInteger(b) || b < 0)) {
        process.stderr.write(`smear analyze: option blocks: expected comma-separated block numbers, got '${values.blocks}'\n`);
        return 2;
      }
    }
    let runs: RunSummary[];
    try {
      runs = positionals.map((p) => loadRun(p));
    } catch (e) {
      process.stderr.write(`smear analyze: ${(e as Error).message}\n`);
      return 1;
    }
    const out = path.resolve(String(values.out ?? 'figures'));
    const groups = new Map<string, RunSummary[]>();
    for (const r of runs) {
      const key = `${r.setting}-${r.profile}-`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    try {
      for (const [prefix, group] of groups) {
        const a = await analyzeRuns(group, { outDir: out, prefix, blocks });
        if (!values.quiet) {
          const results = a.tables.find((t) => t.name.endsWith('results'))!;
          const claims = a.tables.find((t) => t.name.endsWith('claims'))!;
          process.stdout.write(`\n${prefix.slice(0, -1)}: ${group.length} runs\n\n${toMarkdown(results.frame)}\n${toMarkdown(claims.frame)}\n`);
        }
        for (const f of [...a.figures.flatMap((x) => x.files), ...a.tables.flatMap((x) => x.files)]) process.stdout.write(`${path.relative(process.cwd(), f)}\n`);
      }
    } finally {
      await closeRenderer();
    }
    return 0;
  },
};
