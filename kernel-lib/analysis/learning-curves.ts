/**
 * Learning curves and the budget they support (issue 10): how a mini profile's
 * step count is chosen from validation scores measured well past where the
 * methods flatten.
 *
 * For one run with validation scores v_1 … v_K at steps t_1 … t_K:
 *
 *   smoothed   s_i = mean(v_{i-w+1} … v_i)          trailing mean of w evaluations
 *                                                      (the mini validation sets are small)
 *   plateau    P   = max_i s_i
 *   reached    t*  = min { t_i : s_i >= P - margin }  the first step within `margin` of P
 *   rising         = s_K - s_j >= margin, t_j the last step <= 3/4 t_K
 *                                                      (still climbing at the end: P is a lower bound)
 *
 * The budget for a set of runs is max t* over them: every method is within
 * `margin` of its own plateau there (the slowest sets it). Runs with a constant
 * learning rate and step-counted schedules (both mini profiles) make a run
 * stopped at step t identical to the long run's first t steps, so the curve of
 * one long run gives what every shorter budget would have seen.
 */
import * as dfd from 'danfojs-node';
import { FONT, LINE_AXIS, RUN_COLORS, type PlotlyFigure } from './figures';

export interface CurvePoint {
  step: number;
  score: number;
}

export interface CurveOptions {
  /** Evaluations in the trailing mean (default 3). */
  window?: number;
  /** Points below the plateau that count as reached (default 3). */
  margin?: number;
}

export interface CurveAnalysis {
  label: string;
  points: CurvePoint[];
  smoothed: CurvePoint[];
  plateau: number;
  /** The step of the smoothed maximum. */
  plateauStep: number;
  /** The first step within `margin` of the plateau. */
  reachedStep: number;
  /** Still climbing at the end (the plateau is then a lower bound). */
  rising: boolean;
  window: number;
  margin: number;
}

/** The smoothed curve, its plateau and the step that reaches it (see the header). */
export function analyzeCurve(label: string, points: CurvePoint[], opts: CurveOptions = {}): CurveAnalysis {
  const window = opts.window ?? 3;
  const margin = opts.margin ?? 3;
  if (!Number.isInteger(window) || window < 1) throw new Error(`option window: expected an integer >= 1, got ${window}`);
  if (!(margin >= 0)) throw new Error(`option margin: expected a number >= 0, got ${margin}`);
  if (points.length === 0) throw new Error(`${label}: no validation scores (expected metrics.jsonl lines with split "valid")`);
  const sorted = [...points].sort((a, b) => a.step - b.step);
  const smoothed = sorted.map((p, i) => {
    const from = Math.max(0, i - window + 1);
    const w = sorted.slice(from, i + 1);
    return { step: p.step, score: w.reduce((s, q) => s + q.score, 0) / w.length };
  });
  let best = 0;
  smoothed.forEach((p, i) => {
    if (p.score > smoothed[best].score) best = i;
  });
  const plateau = smoothed[best].score;
  const reached = smoothed.find((p) => p.score >= plateau - margin)!;
  const last = smoothed[smoothed.length - 1];
  const earlier = [...smoothed].reverse().find((p) => p.step <= 0.75 * last.step) ?? smoothed[0];
  return {
    label,
    points: sorted,
    smoothed,
    plateau,
    plateauStep: smoothed[best].step,
    reachedStep: reached.step,
    rising: last.score - earlier.score >= margin,
    window,
    margin,
  };
}

/** The smoothed score at `step` (the last evaluation at or before it). */
export function smoothedAt(a: CurveAnalysis, step: number): number {
  const p = [...a.smoothed].reverse().find((q) => q.step <= step);
  return p ? p.score : NaN;
}

/** The budget the curves support: the largest reached step (the slowest run sets it). */
export function chooseBudget(curves: CurveAnalysis[]): { budget: number; slowest: string } {
  if (curves.length === 0) throw new Error('chooseBudget: no curves');
  const slowest = curves.reduce((a, b) => (b.reachedStep > a.reachedStep ? b : a));
  return { budget: slowest.reachedStep, slowest: slowest.label };
}

/**
 * One row per run: the raw score at up to `columns` evenly spaced evaluations, the
 * plateau, the step that reaches it, and the distance from it at `budget`.
 */
export function curvesTable(curves: CurveAnalysis[], budget: number, columns = 8): dfd.DataFrame {
  const steps = [...new Set(curves.flatMap((c) => c.points.map((p) => p.step)))].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(steps.length / columns));
  const shown = steps.filter((_, i) => (i + 1) % every === 0 || i === steps.length - 1);
  const rows = curves.map((c) => {
    const row: Record<string, string> = { run: c.label };
    for (const s of shown) {
      const p = c.points.find((q) => q.step === s);
      row[`step ${s}`] = p ? p.score.toFixed(1) : '–';
    }
    row.plateau = `${c.plateau.toFixed(1)}${c.rising ? ' (rising)' : ''}`;
    row['within margin at'] = String(c.reachedStep);
    const last = c.points[c.points.length - 1].step;
    row[`below plateau at ${budget}`] = budget > last ? `– (ends at ${last})` : (c.plateau - smoothedAt(c, budget)).toFixed(1);
    return row;
  });
  return new dfd.DataFrame(rows);
}

/** Validation score against steps: raw points, the smoothed curve, and the chosen budget. */
export function learningCurvesFigure(curves: CurveAnalysis[], opts: { title: string; scoreName: string; budget?: number }): PlotlyFigure {
  const data: Record<string, unknown>[] = [];
  curves.forEach((c, i) => {
    const color = RUN_COLORS[i % RUN_COLORS.length];
    data.push({ type: 'scatter', mode: 'markers', name: c.label, legendgroup: c.label, showlegend: false, x: c.points.map((p) => p.step), y: c.points.map((p) => p.score), marker: { color, size: 4, opacity: 0.45 } });
    data.push({ type: 'scatter', mode: 'lines', name: c.label, legendgroup: c.label, x: c.smoothed.map((p) => p.step), y: c.smoothed.map((p) => p.score), line: { color, width: 2 } });
  });
  const axis = LINE_AXIS;
  const w = curves[0]?.window ?? 3;
  const shapes =
    opts.budget !== undefined
      ? [{ type: 'line', xref: 'x', yref: 'paper', x0: opts.budget, x1: opts.budget, y0: 0, y1: 1, line: { color: '#444', dash: 'dash', width: 1 } }]
      : [];
  const annotations =
    opts.budget !== undefined ? [{ xref: 'x', yref: 'paper', x: opts.budget, y: 1, yanchor: 'bottom', text: `budget ${opts.budget}`, showarrow: false, font: { size: 11 } }] : [];
  return {
    data,
    layout: {
      title: { text: `${opts.title}<br><sub>dots: each evaluation; lines: mean of the last ${w} evaluations</sub>`, x: 0.5, xanchor: 'center' },
      width: 820,
      height: 460,
      font: FONT,
      paper_bgcolor: 'white',
      plot_bgcolor: 'white',
      xaxis: { ...axis, title: { text: 'training step' } },
      yaxis: { ...axis, title: { text: `validation ${opts.scoreName}` } },
      legend: { title: { text: 'run' } },
      shapes,
      annotations,
      margin: { l: 80, r: 20, t: 90, b: 60 },
    },
    config: { responsive: true, displaylogo: false },
  };
}
