/**
 * `smear analyze runs/<name>… [--out figures] [--blocks 0,7]`: figures (SVG +
 * PNG through headless Chromium) and tables (CSV + Markdown) for finished
 * runs — the same code as notebook 04 (kernel-lib/analysis/report.ts).
 * Runs are grouped by setting and profile; each group gets its own files.
 * With --curves: the learning curves of the runs, their plateaus and the
 * budget they support (kernel-lib/analysis/learning-curves.ts).
 */
import * as path from 'path';
import { loadRun, type RunSummary } from '../../analysis/runs';
import { analyzeRuns } from '../../analysis/report';
import { closeRenderer, savePlot } from '../../analysis/render';
import { saveTable, toMarkdown } from '../../analysis/tables';
import { analyzeCurve, chooseBudget, curvesTable, learningCurvesFigure } from '../../analysis/learning-curves';
import type { Command } from '../command';

export const analyzeCommand: Command = {
  name: 'analyze',
  summary: 'routing heatmaps, entropy, usage, specialisation and results tables (SVG, PNG, CSV, Markdown) for finished runs',
  usage: 'smear analyze <run folder>… [--out figures] [--blocks 0,7] | smear analyze --curves <run folder>… [--margin 3] [--window 3] [--out figures]',
  options: {
    curves: { type: 'boolean', description: 'learning curves: validation score against steps, each run’s plateau and the budget where every run is within --margin of its own' },
    margin: { type: 'string', description: 'with --curves: points below the plateau that count as reached (default 3)' },
    window: { type: 'string', description: 'with --curves: evaluations in the trailing mean that smooths each curve (default 3)' },
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
    if (values.curves) return curves(runs, out, values);
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

/** `--curves`: per setting and profile, a table and a figure of the learning curves, and the budget line. */
async function curves(runs: RunSummary[], out: string, values: Record<string, unknown>): Promise<number> {
  const margin = values.margin !== undefined ? Number(values.margin) : 3;
  const window = values.window !== undefined ? Number(values.window) : 3;
  if (!(margin >= 0)) throw new Error(`option --margin: expected a number >= 0, got '${String(values.margin)}'`);
  if (!(Number.isInteger(window) && window >= 1)) throw new Error(`option --window: expected an integer >= 1, got '${String(values.window)}'`);
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(`${r.setting}-${r.profile}-`, [...(groups.get(`${r.setting}-${r.profile}-`) ?? []), r]);
  try {
    for (const [prefix, group] of groups) {
      const analyses = group.map((r) => analyzeCurve(r.label, r.validation, { margin, window }));
      const { budget, slowest } = chooseBudget(analyses);
      const table = curvesTable(analyses, budget);
      const scoreName = group[0].scoreName;
      const figure = learningCurvesFigure(analyses, { title: `${prefix.slice(0, -1)}: validation ${scoreName} against training steps`, scoreName, budget });
      const files = [...(await savePlot(figure, path.join(out, `${prefix}learning-curves.svg`))), ...(await saveTable(table, path.join(out, `${prefix}curves`)))];
      const rising = analyses.filter((a) => a.rising).map((a) => a.label);
      process.stdout.write(
        `\n${prefix.slice(0, -1)}: ${group.length} runs, trailing mean of ${window} evaluations, margin ${margin}\n\n${toMarkdown(table)}\n` +
          `budget: ${budget} steps (every run within ${margin} of its own plateau from there; the slowest is ${slowest})\n` +
          (rising.length ? `still rising at the end (their plateaus are lower bounds; train longer): ${rising.join(', ')}\n` : '') +
          `${files.map((f) => path.relative(process.cwd(), f)).join('\n')}\n`,
      );
    }
  } finally {
    await closeRenderer();
  }
  return 0;
}
