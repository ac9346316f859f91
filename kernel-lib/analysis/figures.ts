/**
 * Plotly figure builders (plain JSON figures: `{ data, layout }`, the format
 * of plotly.js, of Jupyter's `application/vnd.plotly.v1+json` and of
 * plotly.py) for routing statistics and training curves:
 *
 *   routingHeatmaps  per routing block, the average routing distribution per
 *                    domain or task (rows) over experts (columns): the paper's Figure 3
 *   entropyFigure    mean routing entropy per block, one line per method
 *   specializationFigure  normalised mutual information per block, one line per method
 *   usageFigure      expert usage per block (blocks × experts), one panel per method
 *   trainingCurves   training loss (log axis, smoothed over raw) and validation score against
 *                    steps, one colour per run, every run in the legend
 *   barFigure / histogramFigure  small helpers for the notebooks
 *
 * Figures are data; rendering (Jupyter display, SVG/PNG files) is in
 * `render.ts` and `../notebook/display.ts`.
 */
import type { RoutingStats } from './routing-stats';

/** A plotly figure as JSON. */
export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
  config?: Record<string, unknown>;
}

/** Colour scale of routing probabilities (0 → 1). */
export const ROUTING_COLORSCALE = 'Viridis';

export const FONT = { family: 'Arial, Helvetica, sans-serif', size: 12 };

interface Panel {
  title: string;
  trace: Record<string, unknown>;
  xTitle?: string;
  yTitle?: string;
  xTicks?: { vals: number[]; text: string[] };
  yTicks?: { vals: number[]; text: string[] };
  yReversed?: boolean;
}

/** Lay panels out on a grid (plotly.js has no make_subplots): one axis pair and a title annotation per panel. */
function grid(panels: Panel[], opts: { title: string; columns?: number; panelWidth?: number; panelHeight?: number; shared?: Record<string, unknown> }): PlotlyFigure {
  const n = panels.length;
  const cols = Math.max(1, Math.min(n, opts.columns ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.max(1, Math.ceil(n / cols));
  const pw = opts.panelWidth ?? 260;
  const ph = opts.panelHeight ?? 240;
  const margin = { l: 110, r: 110, t: 90, b: 70 };
  const width = margin.l + margin.r + cols * pw;
  const height = margin.t + margin.b + rows * ph;
  const gapX = Math.min(0.06, 60 / (cols * pw));
  const gapY = Math.min(0.12, 75 / (rows * ph));
  const cw = (1 - gapX * (cols - 1)) / cols;
  const rh = (1 - gapY * (rows - 1)) / rows;
  const layout: Record<string, unknown> = {
    title: { text: opts.title, x: 0.5, xanchor: 'center' },
    width,
    height,
    margin,
    font: FONT,
    paper_bgcolor: 'white',
    plot_bgcolor: 'white',
    showlegend: false,
    ...opts.shared,
  };
  const annotations: Record<string, unknown>[] = [];
  const data: Record<string, unknown>[] = [];
  panels.forEach((p, i) => {
    const r = Math.floor(i / cols);
    const c = i % cols;
    const x0 = c * (cw + gapX);
    const y1 = 1 - r * (rh + gapY);
    const suffix = i === 0 ? '' : String(i + 1);
    const xa = `xaxis${suffix}`;
    const ya = `yaxis${suffix}`;
    layout[xa] = {
      domain: [x0, x0 + cw],
      anchor: `y${suffix}`,
      // Axis titles on the bottom panel of each column and the left column only.
      title: { text: i + cols >= n ? (p.xTitle ?? '') : '' },
      ...(p.xTicks ? { tickmode: 'array', tickvals: p.xTicks.vals, ticktext: p.xTicks.text } : {}),
      showgrid: false,
      zeroline: false,
      linecolor: '#444',
      mirror: true,
      automargin: false,
    };
    layout[ya] = {
      domain: [Math.max(0, y1 - rh), y1],
      anchor: `x${suffix}`,
      title: { text: c === 0 ? (p.yTitle ?? '') : '' },
      ...(p.yTicks ? { tickmode: 'array', tickvals: p.yTicks.vals, ticktext: c === 0 ? p.yTicks.text : p.yTicks.vals.map(() => '') } : {}),
      ...(p.yReversed ? { autorange: 'reversed' } : {}),
      showgrid: false,
      zeroline: false,
      linecolor: '#444',
      mirror: true,
      automargin: false,
    };
    annotations.push({ text: `<b>${p.title}</b>`, x: x0 + cw / 2, y: y1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', yshift: 4, showarrow: false, font: { size: 13 } });
    data.push({ ...p.trace, xaxis: `x${suffix}`, yaxis: `y${suffix}` });
  });
  layout.annotations = annotations;
  return { data, layout, config: { responsive: true, displaylogo: false } };
}

export interface HeatmapOptions {
  /** Figure title (default: "<method>: average routing distribution per <tag kind>"). */
  title?: string;
  /** 'domain' (ResNet-DomainNet) or 'task' (T5-GLUE); default: 'domain'. */
  tagKind?: string;
  /** Blocks to show (default all). */
  blocks?: number[];
  columns?: number;
  /** Block names (e.g. "layer1.0"); default "block <n>". */
  blockName?: (block: number) => string;
}

/**
 * The paper's Figure 3 for one method: per routing block, a heatmap of the
 * average routing distribution per domain/task (rows, named) over experts
 * (columns, numbered), on one shared colour scale from 0 to 1.
 */
export function routingHeatmaps(stats: RoutingStats, opts: HeatmapOptions = {}): PlotlyFigure {
  const kind = opts.tagKind ?? 'domain';
  const blocks = stats.blocks.filter((b) => !opts.blocks || opts.blocks.includes(b.block));
  if (blocks.length === 0) throw new Error(`routingHeatmaps: ${stats.method} has no routing distributions${opts.blocks ? ` in blocks ${opts.blocks.join(', ')}` : ''}`);
  const name = opts.blockName ?? ((b: number) => `block ${b}`);
  const panels: Panel[] = blocks.map((b) => {
    const experts = Array.from({ length: b.numExperts }, (_, e) => e);
    const tags = stats.tagNames.map((_, t) => t);
    return {
      title: `${name(b.block)} (NMI ${b.specialization.toFixed(2)})`,
      xTitle: 'expert',
      yTitle: kind,
      xTicks: { vals: experts, text: experts.map(String) },
      yTicks: { vals: tags, text: stats.tagNames },
      yReversed: true,
      trace: {
        type: 'heatmap',
        z: b.meanByTag,
        x: experts,
        y: tags,
        coloraxis: 'coloraxis',
        xgap: 1,
        ygap: 1,
        hovertemplate: `${kind} %{customdata}<br>expert %{x}<br>p = %{z:.3f}<extra></extra>`,
        customdata: b.meanByTag.map((row, t) => row.map(() => stats.tagNames[t])),
      },
    };
  });
  return grid(panels, {
    title: opts.title ?? `${stats.method}: average routing distribution per ${kind} (${stats.examples} test examples)`,
    columns: opts.columns ?? Math.min(4, panels.length),
    shared: {
      coloraxis: { colorscale: ROUTING_COLORSCALE, cmin: 0, cmax: 1, colorbar: { title: { text: 'routing<br>probability', side: 'right' }, thickness: 14, len: 0.8 } },
    },
  });
}

function blockLines(statsList: RoutingStats[], value: (b: RoutingStats['blocks'][number]) => number, title: string, yTitle: string, extra: Record<string, unknown> = {}): PlotlyFigure {
  const data = statsList.map((s) => ({
    type: 'scatter',
    mode: 'lines+markers',
    name: s.method,
    x: s.blocks.map((b) => b.block),
    y: s.blocks.map(value),
  }));
  const maxBlock = Math.max(0, ...statsList.flatMap((s) => s.blocks.map((b) => b.block)));
  return {
    data,
    layout: {
      title: { text: title, x: 0.5, xanchor: 'center' },
      width: 760,
      height: 440,
      font: FONT,
      paper_bgcolor: 'white',
      plot_bgcolor: 'white',
      xaxis: { title: { text: 'routing block' }, zeroline: false, tickmode: maxBlock <= 24 ? 'linear' : 'auto', dtick: 1, showgrid: true, gridcolor: '#eee', linecolor: '#444', mirror: true },
      yaxis: { title: { text: yTitle }, showgrid: true, gridcolor: '#eee', linecolor: '#444', mirror: true, rangemode: 'tozero', ...extra },
      legend: { title: { text: 'method' } },
      margin: { l: 80, r: 20, t: 70, b: 60 },
    },
    config: { responsive: true, displaylogo: false },
  };
}

/** Mean per-example routing entropy per block (nats), one line per method; ln N marks uniform routing. */
export function entropyFigure(statsList: RoutingStats[], title = 'Routing entropy per block'): PlotlyFigure {
  const fig = blockLines(statsList, (b) => b.entropy, title, 'mean routing entropy (nats)');
  const n = Math.max(0, ...statsList.flatMap((s) => s.blocks.map((b) => b.numExperts)));
  if (n > 1) {
    fig.layout.shapes = [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: Math.log(n), y1: Math.log(n), line: { dash: 'dot', color: '#888' } }];
    fig.layout.annotations = [{ xref: 'paper', x: 1, y: Math.log(n), xanchor: 'right', yanchor: 'bottom', text: `uniform over ${n} experts (ln ${n})`, showarrow: false, font: { color: '#666' } }];
  }
  return fig;
}

/** Specialisation (normalised mutual information between domain/task and expert) per block. */
export function specializationFigure(statsList: RoutingStats[], title = 'Specialisation per block (NMI between tag and expert)'): PlotlyFigure {
  return blockLines(statsList, (b) => b.specialization, title, 'normalised mutual information', { range: [0, 1.02] });
}

/** Expert usage (average routing probability mass per expert) per block, one panel per method. */
export function usageFigure(statsList: RoutingStats[], title = 'Expert usage per block'): PlotlyFigure {
  const withBlocks = statsList.filter((s) => s.blocks.length > 0);
  if (withBlocks.length === 0) throw new Error('usageFigure: no routing statistics with blocks');
  const zmax = Math.max(...withBlocks.flatMap((s) => s.blocks.flatMap((b) => b.usage)));
  const panels: Panel[] = withBlocks.map((s) => {
    const n = Math.max(...s.blocks.map((b) => b.numExperts));
    const experts = Array.from({ length: n }, (_, e) => e);
    const blocks = s.blocks.map((b) => b.block);
    return {
      title: s.method,
      xTitle: 'expert',
      yTitle: 'routing block',
      xTicks: { vals: experts, text: experts.map(String) },
      yTicks: { vals: blocks, text: blocks.map(String) },
      yReversed: true,
      trace: {
        type: 'heatmap',
        z: s.blocks.map((b) => experts.map((e) => b.usage[e] ?? 0)),
        x: experts,
        y: blocks,
        coloraxis: 'coloraxis',
        xgap: 1,
        ygap: 1,
        hovertemplate: 'block %{y}<br>expert %{x}<br>usage %{z:.3f}<extra></extra>',
      },
    };
  });
  return grid(panels, {
    title,
    columns: Math.min(4, panels.length),
    panelHeight: Math.max(160, 22 * Math.max(...withBlocks.map((s) => s.blocks.length)) + 40),
    shared: { coloraxis: { colorscale: ROUTING_COLORSCALE, cmin: 0, cmax: Math.max(zmax, 1e-6), colorbar: { title: { text: 'fraction of<br>routing mass', side: 'right' }, thickness: 14, len: 0.8 } } },
  });
}

export interface CurveSeries {
  label: string;
  train: { step: number; loss: number }[];
  valid: { step: number; score: number }[];
}

/** Thirteen colours that stay apart (D3's category10 and three darker ones), then dashed repeats. */
/** The axis style of the line figures (training curves, learning curves). */
export const LINE_AXIS = { showgrid: true, gridcolor: '#eee', linecolor: '#444', mirror: true, zeroline: false };

/** One colour per run, in run order (13 distinct: a full method set). */
export const RUN_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#843c39'];

/**
 * A running median over steps, not over points: at each point, the median of the
 * points within ±`halfWidth` steps of it, so a curve logged every step and one
 * logged every 20 steps are smoothed alike (a sparse curve keeps its points). Unlike
 * a moving average, an isolated outlying step (DSelect-k's non-power-of-2 penalty)
 * does not move it. Non-finite values are left out; points are taken in step order.
 * Long curves stay cheap to redraw live: at most `maxPoints` points are returned
 * (every k-th), and a window of more than `maxWindow` points is sampled evenly.
 */
export function runningMedian(
  points: { step: number; value: number }[],
  halfWidth: number,
  opts: { maxPoints?: number; maxWindow?: number } = {},
): { step: number; value: number }[] {
  const every = Math.max(1, Math.ceil(points.length / (opts.maxPoints ?? 2000)));
  const maxWindow = opts.maxWindow ?? 201;
  const out: { step: number; value: number }[] = [];
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < points.length; i++) {
    const s = points[i].step;
    while (points[lo].step < s - halfWidth) lo++;
    while (hi < points.length && points[hi].step <= s + halfWidth) hi++;
    if (i % every !== 0 && i !== points.length - 1) continue;
    const stride = Math.max(1, Math.ceil((hi - lo) / maxWindow));
    const w: number[] = [];
    for (let j = lo; j < hi; j += stride) if (Number.isFinite(points[j].value)) w.push(points[j].value);
    w.sort((x, y) => x - y);
    const n = w.length;
    out.push({ step: s, value: n === 0 ? NaN : n % 2 ? w[(n - 1) / 2] : (w[n / 2 - 1] + w[n / 2]) / 2 });
  }
  return out;
}

/** Tick values for a log axis spanning [10^lo, 10^hi]: 1-1.5-2-3-5-7 per decade, thinned to 1-2-5 or 1 when there are many. */
function logTicks(lo: number, hi: number): number[] {
  for (const mantissas of [[1, 1.5, 2, 3, 5, 7], [1, 2, 5], [1]]) {
    const ticks: number[] = [];
    for (let k = Math.floor(lo) - 1; k <= Math.ceil(hi); k++) for (const m of mantissas) {
      const v = Number((m * 10 ** k).toPrecision(3));
      if (Math.log10(v) >= lo && Math.log10(v) <= hi) ticks.push(v);
    }
    if (ticks.length <= 9 || mantissas.length === 1) return ticks;
  }
  return [];
}

export interface TrainingCurvesOptions {
  title?: string;
  /** Name of the validation score ("accuracy", "score"). */
  scoreName?: string;
  /**
   * Half-width of the smoothed loss line's running median, in steps (default: 1/20
   * of the longest run, at least 1); 0 draws the raw losses only.
   */
  smoothingSteps?: number;
  /** Loss axis: 'log' (default; linear when some loss is ≤ 0) or 'linear'. */
  lossAxis?: 'log' | 'linear';
  /** Legend columns below the panels (default: as many as fit, up to 5). */
  legendColumns?: number;
}

/**
 * Training loss (left) and validation score (right) against steps, one colour per
 * run, built to stay readable for a dozen runs and more:
 *  - the loss on a log axis, each run's raw losses as a faint line and its
 *    smoothed loss (`runningMedian` over ±τ steps) as a bold one;
 *  - the loss axis spans the smoothed lines and the raw losses near them, so that a
 *    few outlying steps (DSelect-k's non-power-of-2 penalty, 520 against 2:
 *    kernel-lib/settings/resnet/README.md) do not flatten every other curve; the raw
 *    points above the axis are named in a note over the panel;
 *  - validation as lines with markers at every evaluation;
 *  - one legend entry per run, in rows below both panels (clicking one hides the
 *    run in both), and a figure that grows with the rows, so no run falls off.
 */
export function trainingCurves(series: CurveSeries[], opts: TrainingCurvesOptions = {}): PlotlyFigure {
  const data: Record<string, unknown>[] = [];
  let maxStep = 1;
  for (const s of series) for (const p of [...s.train, ...s.valid]) if (p.step > maxStep) maxStep = p.step;
  const tau = opts.smoothingSteps ?? Math.max(1, Math.round(maxStep / 20));
  const positive = series.every((s) => s.train.every((p) => !(p.loss <= 0)));
  const log = (opts.lossAxis ?? 'log') === 'log' && positive;
  // The loss axis spans the smoothed lines, the lowest raw loss and the raw losses that are
  // not outliers (at most 2× the smoothed lines' top on a log axis, half their span above it
  // on a linear one): only those outliers are cut, and named.
  const f = (v: number) => (log ? Math.log10(v) : v);
  let lo = Infinity;
  let hi = -Infinity;
  const raw = series.map((s) => s.train.map((p) => ({ step: p.step, value: p.loss })));
  const smoothed = raw.map((pts) => {
    const line = tau > 0 ? runningMedian(pts, tau) : pts;
    for (const p of line) {
      const v = f(p.value);
      if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
    for (const p of pts) {
      const v = f(p.value);
      if (Number.isFinite(v)) lo = Math.min(lo, v);
    }
    return line;
  });
  const outlier = hi + (log ? Math.log10(2) : 0.5 * Math.max(hi - lo, Math.abs(hi) * 1e-3));
  for (const pts of raw) {
    for (const p of pts) {
      const v = f(p.value);
      if (Number.isFinite(v) && v <= outlier && v > hi) hi = v;
    }
  }
  series.forEach((s, i) => {
    const color = RUN_COLORS[i % RUN_COLORS.length];
    const dash = i < RUN_COLORS.length ? 'solid' : 'dash';
    const x = s.train.map((p) => p.step);
    if (tau > 0) {
      data.push({ type: 'scatter', mode: 'lines', name: `${s.label} (raw)`, legendgroup: s.label, showlegend: false, x, y: s.train.map((p) => p.loss), line: { color, width: 1 }, opacity: 0.2, hovertemplate: `${s.label}<br>step %{x}<br>loss %{y:.4g}<extra>raw</extra>`, xaxis: 'x', yaxis: 'y' });
    }
    data.push({ type: 'scatter', mode: 'lines', name: s.label, legendgroup: s.label, x: smoothed[i].map((p) => p.step), y: smoothed[i].map((p) => p.value), line: { color, width: 2.2, dash }, hovertemplate: `${s.label}<br>step %{x}<br>${tau > 0 ? 'smoothed ' : ''}loss %{y:.4g}<extra></extra>`, xaxis: 'x', yaxis: 'y' });
    data.push({ type: 'scatter', mode: 'lines+markers', name: s.label, legendgroup: s.label, showlegend: false, x: s.valid.map((p) => p.step), y: s.valid.map((p) => p.score), line: { color, width: 2, dash }, marker: { size: 6 }, hovertemplate: `${s.label}<br>step %{x}<br>${opts.scoreName ?? 'score'} %{y:.4g}<extra></extra>`, xaxis: 'x2', yaxis: 'y2' });
  });
  // Padded by 8 %, in the axis' own units (log10 on a log axis).
  let lossRange: [number, number] | undefined;
  const annotations: Record<string, unknown>[] = [];
  if (hi >= lo) {
    const pad = hi > lo ? 0.08 * (hi - lo) : log ? 0.1 : Math.max(1e-3, 0.1 * Math.abs(hi));
    lo -= pad;
    hi += pad;
    lossRange = [lo, hi];
    const top = log ? 10 ** hi : hi;
    const above = series
      .map((s) => ({ label: s.label, over: s.train.filter((p) => p.loss > top) }))
      .filter((a) => a.over.length > 0)
      .map((a) => `${a.label}: ${a.over.length} step${a.over.length === 1 ? '' : 's'} up to ${Math.max(...a.over.map((p) => p.loss)).toPrecision(4)}`);
    if (tau > 0 && above.length) {
      annotations.push({ text: `raw losses above the axis: ${above.join('; ')}`, xref: 'x domain', yref: 'y domain', x: 0, y: 1, xanchor: 'left', yanchor: 'bottom', yshift: 2, showarrow: false, align: 'left', font: { size: 11, color: '#555' } });
    }
  }
  const columns = Math.max(1, Math.min(opts.legendColumns ?? 5, series.length || 1));
  const legendRows = Math.ceil(series.length / columns);
  const axis = LINE_AXIS;
  const lossTitle = `training loss${tau > 0 ? ` (bold: median over ±${tau} steps; faint: raw)` : ''}`;
  return {
    data,
    layout: {
      title: { text: opts.title ?? 'Training', x: 0.5, xanchor: 'center' },
      width: 1000,
      height: 470 + 24 * legendRows,
      font: FONT,
      paper_bgcolor: 'white',
      plot_bgcolor: 'white',
      xaxis: { ...axis, domain: [0, 0.46], anchor: 'y', title: { text: 'step' } },
      yaxis: {
        ...axis,
        anchor: 'x',
        type: log ? 'log' : 'linear',
        title: { text: lossTitle, font: { size: 11 } },
        ...(lossRange ? { range: lossRange } : {}),
        ...(lossRange && log ? { tickmode: 'array', tickvals: logTicks(lossRange[0], lossRange[1]) } : {}),
      },
      xaxis2: { ...axis, domain: [0.56, 1], anchor: 'y2', title: { text: 'step' } },
      yaxis2: { ...axis, anchor: 'x2', title: { text: `validation ${opts.scoreName ?? 'score'}` } },
      legend: {
        title: { text: 'run', side: 'top' },
        orientation: 'h',
        x: 0,
        xanchor: 'left',
        y: -0.14,
        yanchor: 'top',
        entrywidth: 0.95 / columns,
        entrywidthmode: 'fraction',
        groupclick: 'togglegroup',
      },
      annotations,
      margin: { l: 80, r: 20, t: 80, b: 40 },
    },
    config: { responsive: true, displaylogo: false },
  };
}

/** A bar chart (e.g. one example's routing distribution). */
export function barFigure(labels: (string | number)[], values: number[], opts: { title: string; xTitle: string; yTitle: string; range?: [number, number] }): PlotlyFigure {
  return {
    data: [{ type: 'bar', x: labels.map(String), y: values, marker: { color: '#3b528b' }, text: values.map((v) => v.toFixed(3)), textposition: 'outside' }],
    layout: {
      title: { text: opts.title, x: 0.5, xanchor: 'center' },
      width: 640,
      height: 400,
      font: FONT,
      paper_bgcolor: 'white',
      plot_bgcolor: 'white',
      xaxis: { title: { text: opts.xTitle }, type: 'category', linecolor: '#444', mirror: true },
      yaxis: { title: { text: opts.yTitle }, linecolor: '#444', mirror: true, gridcolor: '#eee', ...(opts.range ? { range: opts.range } : {}) },
      margin: { l: 70, r: 20, t: 70, b: 60 },
    },
    config: { responsive: true, displaylogo: false },
  };
}

/** Overlaid histograms, one per named series (e.g. token lengths per task). */
export function histogramFigure(series: Record<string, number[]>, opts: { title: string; xTitle: string; yTitle?: string; columns?: number }): PlotlyFigure {
  const names = Object.keys(series);
  const panels: Panel[] = names.map((name) => ({
    title: name,
    xTitle: opts.xTitle,
    yTitle: opts.yTitle ?? 'examples',
    trace: { type: 'histogram', x: series[name], marker: { color: '#3b528b' }, nbinsx: 30 },
  }));
  return grid(panels, { title: opts.title, columns: opts.columns ?? Math.min(4, names.length), panelWidth: 240, panelHeight: 200 });
}
