import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RoutingStats } from '../../kernel-lib/analysis/routing-stats';
import { routingHeatmaps, entropyFigure, specializationFigure, usageFigure, trainingCurves, histogramFigure } from '../../kernel-lib/analysis/figures';
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
    assert.equal(c.data.length, 2);
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
