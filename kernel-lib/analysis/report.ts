/**
 * The analysis of finished runs, shared by notebook 04 and `smear analyze`:
 * results table (all methods side by side), routing table (entropy and
 * specialisation per block), the paper's qualitative claims checked against
 * the measured table, and the figures (heatmaps per method, entropy,
 * specialisation, usage) — written as SVG + PNG, tables as CSV + Markdown.
 */
import * as path from 'path';
import * as dfd from 'danfojs-node';
import type { RunSummary } from './runs';
import { METHODS } from '../routing/registry';
import { entropyFigure, routingHeatmaps, specializationFigure, trainingCurves, usageFigure, type PlotlyFigure } from './figures';
import { savePlot } from './render';
import { saveTable } from './tables';

export type DataFrame = dfd.DataFrame;

const round = (v: number, d = 2) => (Number.isFinite(v) ? Number(v.toFixed(d)) : NaN);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** All methods side by side: test score, per domain/task, throughput, parameters, routing summary. */
export function resultsTable(runs: RunSummary[]): dfd.DataFrame {
  if (runs.length === 0) throw new Error('resultsTable: no runs');
  const tags = [...new Set(runs.flatMap((r) => Object.keys(r.perTag)))];
  const cols: Record<string, (string | number)[]> = { method: [], score: [] };
  for (const t of tags) cols[t] = [];
  Object.assign(cols, { 'steps/s': [], 'trainable params': [], 'mean entropy': [], 'mean NMI': [], run: [] });
  for (const r of runs) {
    cols.method.push(r.label);
    cols.score.push(round(r.score, 1));
    for (const t of tags) cols[t].push(round(r.perTag[t] ?? NaN, 1));
    cols['steps/s'].push(round(r.stepsPerSecond, 2));
    cols['trainable params'].push(r.trainableParameters);
    cols['mean entropy'].push(r.routing ? round(mean(r.routing.blocks.map((b) => b.entropy)), 3) : NaN);
    cols['mean NMI'].push(r.routing ? round(mean(r.routing.blocks.map((b) => b.specialization)), 3) : NaN);
    cols.run.push(r.name);
  }
  return new dfd.DataFrame(cols);
}

/** Per method and block: source of the distribution, experts, entropy, specialisation, most-used expert. */
export function routingTable(runs: RunSummary[]): dfd.DataFrame {
  const rows = runs.flatMap((r) =>
    (r.routing?.blocks ?? []).map((b) => {
      const top = b.usage.indexOf(Math.max(...b.usage));
      return [r.label, b.block, b.source, b.numExperts, round(b.entropy, 3), round(b.specialization, 3), top, round(b.usage[top], 3)];
    }),
  );
  if (rows.length === 0) throw new Error('routingTable: none of the runs has routing statistics');
  return new dfd.DataFrame(rows, { columns: ['method', 'block', 'source', 'experts', 'entropy (nats)', 'NMI', 'most used expert', 'its usage'] });
}

export interface Claim {
  claim: string;
  measured: string;
  /** 'holds', 'does not hold', or 'not measured' (a method of the claim has no finished run). */
  verdict: 'holds' | 'does not hold' | 'not measured';
}

/**
 * The paper's qualitative claims, as the methods declare them (`RoutingMethod.claims`:
 * SMEAR above tag routing, hash routing and each gradient-estimator method; SMEAR
 * near Ensemble, within `nearPoints` points, at a fraction of its cost, i.e. higher
 * training throughput), checked against the measured table. Mini runs are short and
 * small: a claim that does not hold there is reported as such, not hidden.
 */
export function paperClaims(runs: RunSummary[], nearPoints = 2): Claim[] {
  const by = (label: string) => runs.find((r) => r.label === label);
  const f = (r: RunSummary) => `${r.label} ${r.score.toFixed(1)}`;
  const titleOf = (name: string) => METHODS.find((m) => m.name === name)?.title ?? name;
  const out: Claim[] = [];
  for (const m of METHODS) {
    const self = by(m.name);
    for (const c of m.claims ?? []) {
      const o = by(c.other);
      const missing = `missing: ${[!self && m.name, !o && c.other].filter(Boolean).join(', ')}`;
      if (c.kind === 'above') {
        const claim = `${m.title} scores above ${c.what}`;
        if (!self || !o) out.push({ claim, measured: missing, verdict: 'not measured' });
        else out.push({ claim, measured: `${f(self)} vs ${f(o)}`, verdict: self.score > o.score ? 'holds' : 'does not hold' });
      } else if (c.kind === 'near') {
        const claim = `${m.title} is near ${titleOf(c.other)} (within ${nearPoints} points)`;
        if (!self || !o) out.push({ claim, measured: missing, verdict: 'not measured' });
        else {
          const gap = o.score - self.score;
          out.push({ claim, measured: `${f(self)} vs ${f(o)} (gap ${gap.toFixed(1)})`, verdict: gap <= nearPoints ? 'holds' : 'does not hold' });
        }
      } else {
        const claim = `${m.title} costs a fraction of ${titleOf(c.other)} (higher training steps/s)`;
        if (!self || !o) out.push({ claim, measured: 'missing', verdict: 'not measured' });
        else {
          const ratio = self.stepsPerSecond / o.stepsPerSecond;
          out.push({
            claim,
            measured: `${self.stepsPerSecond.toFixed(2)} vs ${o.stepsPerSecond.toFixed(2)} steps/s (×${ratio.toFixed(2)})`,
            verdict: Number.isFinite(ratio) ? (ratio > 1 ? 'holds' : 'does not hold') : 'not measured',
          });
        }
      }
    }
  }
  return out;
}

export function claimsTable(claims: Claim[]): dfd.DataFrame {
  return new dfd.DataFrame(claims.map((c) => [c.claim, c.measured, c.verdict]), { columns: ['paper claim', 'measured', 'verdict'] });
}

export interface AnalysisFigure {
  name: string;
  title: string;
  figure: PlotlyFigure;
  files: string[];
}

export interface AnalysisTable {
  name: string;
  frame: dfd.DataFrame;
  files: string[];
}

export interface Analysis {
  setting: 'resnet' | 't5';
  runs: RunSummary[];
  figures: AnalysisFigure[];
  tables: AnalysisTable[];
  claims: Claim[];
}

export interface AnalyzeOptions {
  /** Output folder (figures and tables); nothing is written when omitted. */
  outDir?: string;
  /** File name prefix (default "<setting>-<profile>-"). */
  prefix?: string;
  /** Blocks shown in the heatmaps (default all; T5 paper runs have many). */
  blocks?: number[];
}

/** Build (and, with `outDir`, write) the analysis of finished runs of one setting. */
export async function analyzeRuns(runs: RunSummary[], opts: AnalyzeOptions = {}): Promise<Analysis> {
  if (runs.length === 0) throw new Error('analyzeRuns: no finished runs to analyse');
  const settings = [...new Set(runs.map((r) => r.setting))];
  if (settings.length !== 1) throw new Error(`analyzeRuns: runs of one setting at a time (got ${settings.join(', ')})`);
  const setting = settings[0];
  const tagKind = setting === 'resnet' ? 'domain' : 'task';
  const prefix = opts.prefix ?? `${setting}-${runs[0].profile}-`;
  const routed = runs.filter((r) => r.routing && r.routing.blocks.length > 0);
  const figures: AnalysisFigure[] = [];
  const add = (name: string, figure: PlotlyFigure) => figures.push({ name: `${prefix}${name}`, title: String((figure.layout.title as { text?: string })?.text ?? name), figure, files: [] });
  add('training', trainingCurves(runs.map((r) => r.curves), { title: `${setting === 'resnet' ? 'ResNet-DomainNet' : 'T5-GLUE'}: training loss and validation score`, scoreName: setting === 'resnet' ? 'accuracy' : 'score' }));
  for (const r of routed) add(`routing-${r.name.replace(/^(resnet|t5)-[a-z]+-/, '')}`, routingHeatmaps(r.routing!, { tagKind, blocks: opts.blocks, title: `${r.label}: average routing distribution per ${tagKind} (test set)` }));
  if (routed.length) {
    const stats = routed.map((r) => r.routing!);
    add('entropy', entropyFigure(stats));
    add('specialization', specializationFigure(stats));
    add('usage', usageFigure(stats));
  }
  const claims = paperClaims(runs);
  const tables: AnalysisTable[] = [
    { name: `${prefix}results`, frame: resultsTable(runs), files: [] },
    ...(routed.length ? [{ name: `${prefix}routing`, frame: routingTable(routed), files: [] }] : []),
    { name: `${prefix}claims`, frame: claimsTable(claims), files: [] },
  ];
  if (opts.outDir) {
    for (const f of figures) f.files = await savePlot(f.figure, path.join(opts.outDir, `${f.name}.svg`));
    for (const t of tables) t.files = await saveTable(t.frame, path.join(opts.outDir, t.name));
  }
  return { setting, runs, figures, tables, claims };
}
