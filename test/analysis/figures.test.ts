import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RoutingStats } from '../../kernel-lib/analysis/routing-stats';
import { routingHeatmaps, entropyFigure, specializationFigure, usageFigure, trainingCurves, histogramFigure, runningMedian, type CurveSeries } from '../../kernel-lib/analysis/figures';
import { renderPlot } from '../../kernel-lib/analysis/render';
import { assertChromium, closeRenderer, plotHtml, savePlot } from '../../kernel-lib/analysis/render';
import { toCsv, toMarkdown, saveTable } from '../../kernel-lib/analysis/tables';
import { loadRun, findRuns } from '../../kernel-lib/analysis/runs';
import { analyzeRuns, paperClaims, resultsTable } from '../../kernel-lib/analysis/report';
import { analyzeCommand } from '../../kernel-lib/cli/commands/analyze';
import * as dfd from 'danfojs-node';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const DOMAINS = ['clipart', 'infograph', 'painting', 'quickdraw', 'real', 'sketch'];

function stats(method: string, sharp: number): RoutingStats {
  const n = 6;
  const blocks = [0, 1, 2].map((block) => {
    const meanByTag = DOMAINS.map((_, t) => Array.from({ length: n }, (_, e) => (e === (t + block) % n ? sharp : (1 - sharp) / (n - 1))));
    return { block, source: 'probs' as const, numExperts: n, counts: DOMAINS.map(() => 10), meanByTag, usage: Array(n).fill(1 / n), argmaxUsage: Array(n).fill(1 / n), entropy: 0.5 + block / 10, specialization: sharp - 0.1 * block };
  });
  return { method, tagNames: DOMAINS, examples: 60, blocks };
}

/** A finished ResNet run folder as the trainer writes it. */
function fakeRun(root: string, method: string, accuracy: number, sps: number, withRouting = true, configuration = method): string {
  const dir = path.join(root, `resnet-mini-${method}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ setting: 'resnet', profile: 'mini', method, configuration, trainableParameters: 1000 }));
  const perDomain = Object.fromEntries(DOMAINS.map((d) => [d, accuracy]));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ method, configuration, best_step: 4, test: { accuracy, per_domain: perDomain }, steps: 4, trainable_parameters: 1234 }));
  fs.writeFileSync(
    path.join(dir, 'metrics.jsonl'),
    [1, 2, 3, 4].map((s) => JSON.stringify({ step: s, split: 'train', loss: 2 / s, steps_per_s: sps })).join('\n') + `\n${JSON.stringify({ step: 4, split: 'valid', score: accuracy })}\n`,
  );
  if (withRouting) fs.writeFileSync(path.join(dir, 'routing-test.json'), JSON.stringify(stats(method, 0.7)));
  return dir;
}

describe('analysis figures', () => {
  after(() => closeRenderer());

  it('heatmaps: one panel per block with titles, domain and expert tick labels, one colour scale 0..1', () => {
    const fig = routingHeatmaps(stats('smear', 0.8), { tagKind: 'domain' });
    assert.equal(fig.data.length, 3);
    const titles = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
    assert.deepEqual(titles, ['<b>block 0 (NMI 0.80)</b>', '<b>block 1 (NMI 0.70)</b>', '<b>block 2 (NMI 0.60)</b>']);
    for (const [i, t] of fig.data.entries()) {
      assert.equal(t.type, 'heatmap');
      assert.equal(t.coloraxis, 'coloraxis');
      const s = i === 0 ? '' : String(i + 1);
      assert.deepEqual((fig.layout[`xaxis${s}`] as { ticktext: string[] }).ticktext, ['0', '1', '2', '3', '4', '5']);
      assert.equal((fig.layout[`yaxis${s}`] as { autorange: string }).autorange, 'reversed');
    }
    assert.deepEqual((fig.layout.yaxis as { ticktext: string[] }).ticktext, DOMAINS);
    assert.equal((fig.layout.yaxis as { title: { text: string } }).title.text, 'domain');
    assert.equal((fig.layout.xaxis as { title: { text: string } }).title.text, 'expert');
    const ca = fig.layout.coloraxis as { cmin: number; cmax: number; colorbar: { title: { text: string } } };
    assert.equal(ca.cmin, 0);
    assert.equal(ca.cmax, 1);
    assert.match(ca.colorbar.title.text, /routing/);
    assert.match((fig.layout.title as { text: string }).text, /smear: average routing distribution per domain/);
    assert.throws(() => routingHeatmaps({ method: 'dense', tagNames: DOMAINS, examples: 0, blocks: [] }), /dense has no routing distributions/);
  });

  it('entropy, specialisation, usage, curves and histograms', () => {
    const s = [stats('smear', 0.8), stats('topk', 0.5)];
    const e = entropyFigure(s);
    assert.equal(e.data.length, 2);
    assert.deepEqual(e.data[0].x, [0, 1, 2]);
    assert.ok(Math.abs((e.layout.shapes as { y0: number }[])[0].y0 - Math.log(6)) < 1e-12);
    assert.deepEqual(specializationFigure(s).data[1].y, [0.5, 0.4, 0.3].map((v) => 0.5 - (0.5 - v)));
    const u = usageFigure(s);
    assert.equal(u.data.length, 2);
    assert.deepEqual((u.layout.annotations as { text: string }[]).map((a) => a.text), ['<b>smear</b>', '<b>topk</b>']);
    const c = trainingCurves([{ label: 'smear', train: [{ step: 1, loss: 2 }], valid: [{ step: 1, score: 0.5 }] }], { scoreName: 'accuracy' });
    assert.equal(c.data.length, 3); // raw loss, smoothed loss, validation
    assert.equal((c.layout.yaxis2 as { title: { text: string } }).title.text, 'validation accuracy');
    assert.equal(histogramFigure({ rte: [1, 2], cola: [3] }, { title: 'h', xTitle: 'tokens' }).data.length, 2);
  });

  it('tables: Markdown and CSV (quoting, NaN as empty), written side by side', async () => {
    const df = new dfd.DataFrame({ method: ['smear', 'a|b'], score: [54.1, NaN], note: ['x,y', 'say "hi"'] });
    assert.equal(toMarkdown(df), '| method | score | note |\n|---|---:|---|\n| smear | 54.1 | x,y |\n| a\\|b | – | say "hi" |\n');
    assert.equal(toCsv(df), 'method,score,note\nsmear,54.1,"x,y"\na|b,,"say ""hi"""\n');
    const dir = tmp('tables-');
    const files = await saveTable(df, path.join(dir, 'sub', 't'));
    assert.deepEqual(files.map((f) => path.basename(f)), ['t.csv', 't.md']);
  });

  it('runningMedian: a window in steps, not points; an isolated spike does not move it; sparse curves keep their points', () => {
    const pts = Array.from({ length: 40 }, (_, i) => ({ step: i + 1, value: i === 20 ? 520 : 2 }));
    const m = runningMedian(pts, 3);
    assert.equal(m.length, 40);
    assert.deepEqual(m.map((p) => p.step), pts.map((p) => p.step));
    assert.ok(m.every((p) => p.value === 2), 'the spike at step 21 is not in the median');
    // Logged every 20 steps: a ±8-step window holds only the point itself.
    const sparse = [20, 40, 60].map((step, i) => ({ step, value: [3, 1, 2][i] }));
    assert.deepEqual(runningMedian(sparse, 8).map((p) => p.value), [3, 1, 2]);
    // ±20 steps: the middle point's window holds all three (median 2), the ends two each (mean of the pair).
    assert.deepEqual(runningMedian(sparse, 20).map((p) => p.value), [2, 2, 1.5]);
    assert.deepEqual(runningMedian([{ step: 1, value: NaN }, { step: 2, value: 4 }], 5).map((p) => p.value), [4, 4]);
    // Long curves: at most maxPoints points, the last one included.
    const long = runningMedian(Array.from({ length: 10000 }, (_, i) => ({ step: i, value: 1 })), 400, { maxPoints: 100 });
    assert.equal(long.length, 101);
    assert.equal(long[long.length - 1].step, 9999);
  });

  /** Thirteen runs as notebook 02 trains them: every step logged, one with DSelect-k's penalty spikes. */
  const THIRTEEN = ['adamix', 'dense (1× compute)', 'dense (1× parameters)', 'dselect-k', 'ensemble', 'hash', 'reinforce', 'skills', 'smear', 'soft-moe', 'st-gumbel', 'tag', 'topk'];
  const SPIKES = [55, 60, 64, 72, 98, 101, 105, 106];
  function thirteenRuns(): CurveSeries[] {
    return THIRTEEN.map((label, r) => ({
      label,
      train: Array.from({ length: 200 }, (_, i) => {
        const step = i + 1;
        const loss = 1.5 + 0.05 * r + 2 / Math.sqrt(step) + 0.1 * Math.sin(step * (r + 1));
        return { step, loss: label === 'dselect-k' && SPIKES.includes(step) ? 520.8 : loss };
      }),
      valid: [25, 50, 75, 100, 125, 150, 175, 200].map((step) => ({ step, score: 0.3 + 0.001 * step + 0.01 * r })),
    }));
  }

  it('training curves for 13 runs: every run in the legend, a log loss axis the spikes do not stretch, raw and smoothed losses, validation curves', () => {
    const series = thirteenRuns();
    const fig = trainingCurves(series, { scoreName: 'accuracy' });
    // One legend entry per run, each run once; the raw and validation traces toggle with it.
    const entries = fig.data.filter((t) => t.showlegend !== false);
    assert.deepEqual(entries.map((t) => t.name), THIRTEEN);
    for (const t of fig.data) assert.ok(THIRTEEN.includes(t.legendgroup as string), `trace ${t.name} is in its run's legend group`);
    const legend = fig.layout.legend as { orientation: string; y: number; yanchor: string; groupclick: string };
    assert.equal(legend.orientation, 'h');
    assert.ok(legend.y < 0 && legend.yanchor === 'top', 'legend below the panels');
    assert.equal(legend.groupclick, 'togglegroup');
    assert.ok((fig.layout.height as number) > (trainingCurves(series.slice(0, 3)).layout.height as number), 'the figure grows with the legend rows');
    // Log loss axis, spanning the smoothed lines: DSelect-k's spikes (520.8) are above it and named.
    const y = fig.layout.yaxis as { type: string; range: [number, number]; tickvals: number[]; title: { text: string } };
    assert.equal(y.type, 'log');
    assert.ok(10 ** y.range[1] < 10 && 10 ** y.range[0] < 1.6, `loss axis ${10 ** y.range[0]}..${10 ** y.range[1]}`);
    assert.ok(y.tickvals.length >= 3 && y.tickvals.every((v) => Math.log10(v) >= y.range[0] && Math.log10(v) <= y.range[1]));
    assert.match(y.title.text, /median over ±10 steps/);
    const notes = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
    assert.deepEqual(notes, ['raw losses above the axis: dselect-k: 8 steps up to 520.8']);
    // Per run: a faint raw line with every logged loss, a bold smoothed one, a validation curve.
    for (const [r, s] of series.entries()) {
      const mine = fig.data.filter((t) => t.legendgroup === s.label);
      assert.equal(mine.length, 3, s.label);
      const [raw, smooth, valid] = mine;
      assert.deepEqual(raw.y, s.train.map((p) => p.loss));
      assert.ok((raw.opacity as number) < 1 && (raw.line as { width: number }).width < (smooth.line as { width: number }).width);
      assert.equal(raw.yaxis, 'y');
      assert.equal(smooth.yaxis, 'y');
      assert.equal((smooth.x as number[]).length, 200);
      assert.ok(Math.max(...(smooth.y as number[])) < 10, `${s.label}: the smoothed line ignores the spikes`);
      assert.equal(valid.mode, 'lines+markers');
      assert.equal(valid.yaxis, 'y2');
      assert.deepEqual(valid.x, s.valid.map((p) => p.step));
      assert.deepEqual(valid.y, s.valid.map((p) => p.score));
      assert.equal((valid.line as { color: string }).color, (smooth.line as { color: string }).color, `${s.label}: one colour per run (${r})`);
    }
    assert.equal(new Set(entries.map((t) => (t.line as { color: string }).color)).size, 13, '13 distinct colours');
    assert.equal((fig.layout.yaxis2 as { title: { text: string } }).title.text, 'validation accuracy');
  });

  it('training curves: a linear axis when a loss is not positive; no smoothing on request', () => {
    const neg = trainingCurves([{ label: 'reinforce', train: [{ step: 1, loss: -0.5 }, { step: 2, loss: 1 }], valid: [] }]);
    assert.equal((neg.layout.yaxis as { type: string }).type, 'linear');
    const raw = trainingCurves(thirteenRuns().slice(0, 2), { smoothingSteps: 0 });
    assert.equal(raw.data.length, 4); // loss and validation per run
    assert.equal((raw.layout.annotations as unknown[]).length, 0);
  });

  it('training curves for 13 runs rendered: every legend entry lies inside the legend box and the legend inside the image', async () => {
    assertChromium();
    const fig = trainingCurves(thirteenRuns(), { title: 'ResNet-DomainNet training' });
    const svg = await renderPlot(fig, 'svg');
    const size = svg.match(/<svg[^>]*width="([\d.]+)" height="([\d.]+)"/)!;
    const legend = svg.slice(svg.indexOf('<g class="legend"'));
    const at = legend.match(/^<g class="legend"[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"/)!;
    const clip = svg.match(/<clipPath id="legend[^"]*"><rect width="([\d.]+)" height="([\d.]+)"/)!;
    // An entry's position is its legend group's offset plus its own (plotly.js 2–4 SVG structure).
    const entries: { text: string; x: number; y: number }[] = [];
    for (const g of legend.matchAll(/<g class="groups"(?: transform="(?:translate\(([-\d.]+),([-\d.]+)\))?")?>([\s\S]*?)(?=<g class="groups"|$)/g)) {
      for (const t of g[3].matchAll(/<g class="traces" transform="translate\(([-\d.]+),([-\d.]+)\)"[\s\S]*?class="legendtext"[^>]*>([^<]*)</g)) {
        entries.push({ text: t[3], x: Number(g[1] ?? 0) + Number(t[1]), y: Number(g[2] ?? 0) + Number(t[2]) });
      }
    }
    assert.deepEqual(entries.map((e) => e.text), THIRTEEN);
    const [cw, ch] = [Number(clip[1]), Number(clip[2])];
    for (const e of entries) assert.ok(e.x >= 0 && e.x < cw && e.y > 0 && e.y + 8 <= ch, `${e.text} at (${e.x}, ${e.y}) lies inside the legend box ${cw}×${ch}`);
    assert.ok(Number(at[2]) + ch <= Number(size[2]) && Number(at[1]) + cw <= Number(size[1]), 'the legend lies inside the image');
    assert.ok(svg.includes('raw losses above the axis: dselect-k'));
  });

  it('static export through headless Chromium: SVG with the titles and labels, PNG at 2× the layout size', async () => {
    assertChromium(); // CI installs chromium; a missing one is an error, not a skip
    const dir = tmp('plots-');
    const fig = routingHeatmaps(stats('smear', 0.8));
    const files = await savePlot(fig, path.join(dir, 'heat.svg'));
    assert.deepEqual(files.map((f) => path.basename(f)), ['heat.svg', 'heat.png']);
    const svg = fs.readFileSync(files[0], 'utf8');
    assert.ok(svg.startsWith('<svg'));
    for (const text of ['block 0 (NMI 0.80)', 'clipart', 'sketch', 'expert', 'domain', 'routing']) assert.ok(svg.includes(text), `SVG contains ${text}`);
    const png = fs.readFileSync(files[1]);
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.equal(png.readUInt32BE(16), 2 * (fig.layout.width as number));
    assert.equal(png.readUInt32BE(20), 2 * (fig.layout.height as number));
    await assert.rejects(savePlot(fig, path.join(dir, 'x.jpg')), /expected a \.svg or \.png/);
    assert.match(plotHtml(fig, { plotly: 'global' }), /Plotly\.newPlot|P\.newPlot/);
  });

  it('a missing Chromium is a clear error with the install command', () => {
    const saved = process.env.SMEAR_CHROMIUM;
    process.env.SMEAR_CHROMIUM = '/nonexistent/chromium';
    try {
      assert.throws(() => assertChromium(), /Chromium not found at \/nonexistent\/chromium.*apt-get install -y chromium/);
    } finally {
      if (saved === undefined) delete process.env.SMEAR_CHROMIUM;
      else process.env.SMEAR_CHROMIUM = saved;
    }
  });
});

describe('analysis of finished runs', () => {
  after(() => closeRenderer());

  it('loads runs, builds the side-by-side table and checks the paper claims honestly', () => {
    const root = tmp('runs-');
    fakeRun(root, 'smear', 0.6, 3);
    fakeRun(root, 'tag', 0.7, 5);
    fakeRun(root, 'hash', 0.4, 5);
    fakeRun(root, 'ensemble', 0.61, 2);
    fakeRun(root, 'dense', 0.5, 8, false, '1× compute');
    fs.mkdirSync(path.join(root, 'resnet-mini-unfinished'));
    const dirs = findRuns(root, 'resnet-mini-');
    assert.equal(dirs.length, 5);
    const runs = dirs.map((d) => loadRun(d));
    const dense = runs.find((r) => r.method === 'dense')!;
    assert.equal(dense.label, 'dense (1× compute)');
    assert.equal(dense.routing, undefined);
    const smear = runs.find((r) => r.method === 'smear')!;
    assert.equal(smear.score, 60);
    assert.equal(smear.stepsPerSecond, 3);
    const table = resultsTable(runs);
    assert.deepEqual(table.columns.slice(0, 3), ['method', 'score', 'clipart']);
    const claims = paperClaims(runs);
    const verdict = (re: RegExp) => claims.find((c) => re.test(c.claim))!.verdict;
    assert.equal(verdict(/above tag/), 'does not hold');
    assert.equal(verdict(/above hash/), 'holds');
    assert.equal(verdict(/above topk/), 'not measured');
    assert.equal(verdict(/near Ensemble/), 'holds');
    assert.equal(verdict(/fraction of Ensemble/), 'holds');
    assert.throws(() => loadRun(path.join(root, 'resnet-mini-unfinished')), /not a finished run/);
  });

  it('writes figures for every run with routing and the tables; `smear analyze` does the same', async () => {
    const root = tmp('runs-');
    const dirs = [fakeRun(root, 'smear', 0.6, 3), fakeRun(root, 'topk', 0.5, 4), fakeRun(root, 'dense', 0.5, 8, false, '1× compute')];
    const out = tmp('figs-');
    const a = await analyzeRuns(dirs.map((d) => loadRun(d)), { outDir: out });
    assert.deepEqual(a.figures.map((f) => f.name), ['resnet-mini-training', 'resnet-mini-routing-smear', 'resnet-mini-routing-topk', 'resnet-mini-entropy', 'resnet-mini-specialization', 'resnet-mini-usage']);
    for (const f of a.figures) assert.deepEqual(f.files.map((x) => path.extname(x)), ['.svg', '.png']);
    assert.deepEqual(a.tables.map((t) => t.name), ['resnet-mini-results', 'resnet-mini-routing', 'resnet-mini-claims']);
    const out2 = tmp('figs-cli-');
    let printed = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await analyzeCommand.run({ values: { out: out2 }, positionals: dirs });
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 0);
    assert.match(printed, /\| smear \| 60 \|/);
    assert.match(printed, /SMEAR scores above topk/);
    assert.deepEqual(fs.readdirSync(out2).sort(), fs.readdirSync(out).sort());
    assert.equal(await analyzeCommand.run({ values: { out: out2 }, positionals: [] }), 2);
  });
});
