/**
 * Learning curves and the budget they support (kernel-lib/analysis/learning-curves.ts):
 * plateaus, reached steps and the rising flag checked on curves whose answers
 * are worked out by hand in the comments; `smear analyze --curves` on run
 * folders written here.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeCurve, chooseBudget, curvesTable, learningCurvesFigure, smoothedAt } from '../../kernel-lib/analysis/learning-curves';
import { toMarkdown } from '../../kernel-lib/analysis/tables';

const REPO = path.resolve(__dirname, '..', '..');
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const curve = (scores: number[], every = 100) => scores.map((score, i) => ({ step: every * (i + 1), score }));

describe('learning curves', () => {
  it('window 1: the plateau is the best score, reached where a score first comes within the margin', () => {
    // 40 50 60 70 79 80 80 80: plateau 80 (step 600); 79 >= 78 at step 500.
    const a = analyzeCurve('a', curve([40, 50, 60, 70, 79, 80, 80, 80]), { window: 1, margin: 2 });
    assert.equal(a.plateau, 80);
    assert.equal(a.plateauStep, 600);
    assert.equal(a.reachedStep, 500);
    // Last 80 vs the last step <= 600 (3/4 of 800): 80 - 80 < 2.
    assert.equal(a.rising, false);
  });

  it('the trailing mean smooths single noisy evaluations', () => {
    // window 3: smoothed 30, 45, 50, 50, 60, 70, 70, 70 — the spike 60 at step 200 alone does not reach 70 - 2.
    const a = analyzeCurve('b', curve([30, 60, 60, 30, 90, 90, 30, 90]), { window: 3, margin: 2 });
    assert.deepEqual(a.smoothed.map((p) => p.score), [30, 45, 50, 50, 60, 70, 70, 70]);
    assert.equal(a.plateau, 70);
    assert.equal(a.reachedStep, 600);
    assert.equal(smoothedAt(a, 450), 50);
    assert.equal(smoothedAt(a, 50), NaN);
  });

  it('a curve still climbing at the end is flagged', () => {
    // 10 20 … 80: at 800 the score is 80; at 600 (3/4) it was 60: rising.
    const a = analyzeCurve('c', curve([10, 20, 30, 40, 50, 60, 70, 80]), { window: 1, margin: 2 });
    assert.equal(a.rising, true);
    assert.equal(a.reachedStep, 800);
  });

  it('the budget is the slowest run’s reached step; the table gives each run’s distance there', () => {
    const fast = analyzeCurve('fast', curve([70, 80, 80, 80, 80, 80, 80, 80]), { window: 1, margin: 2 });
    const slow = analyzeCurve('slow', curve([30, 40, 50, 60, 70, 70, 70, 70]), { window: 1, margin: 2 });
    assert.deepEqual(chooseBudget([fast, slow]), { budget: 500, slowest: 'slow' });
    const md = toMarkdown(curvesTable([fast, slow], 400, 3));
    // 8 evaluations in 3 columns: every 3rd and the last (steps 300, 600, 800); at 400 slow is 70 - 60 = 10 below.
    assert.match(md, /\| run \| step 300 \| step 600 \| step 800 \| plateau \| within margin at \| below plateau at 400 \|/);
    assert.match(md, /\| fast \| 80\.0 \| 80\.0 \| 80\.0 \| 80\.0 \| 200 \| 0\.0 \|/);
    assert.match(md, /\| slow \| 50\.0 \| 70\.0 \| 70\.0 \| 70\.0 \| 500 \| 10\.0 \|/);
    // Reaching the plateau only in the last quarter: it may still be rising.
    const late = analyzeCurve('late', curve([30, 40, 50, 60, 70, 70]), { window: 1, margin: 2 });
    assert.equal(late.rising, true);
    assert.match(toMarkdown(curvesTable([late], 500)), /\| 70\.0 \(rising\) \| 500 \|/);
    // A run that stopped before the budget has no score there.
    assert.match(toMarkdown(curvesTable([late], 800)), /\| 500 \| – \(ends at 600\) \|/);
  });

  it('the figure names every run once in the legend and marks the budget', () => {
    const runs = Array.from({ length: 13 }, (_, i) => analyzeCurve(`m${i}`, curve([i, i + 1, i + 2])));
    const fig = learningCurvesFigure(runs, { title: 't', scoreName: 'accuracy', budget: 300 });
    const legend = fig.data.filter((d) => d.showlegend !== false).map((d) => d.name);
    assert.deepEqual(legend, runs.map((r) => r.label));
    assert.equal((fig.layout.shapes as { x0: number }[])[0].x0, 300);
  });

  it('bad options are named', () => {
    assert.throws(() => analyzeCurve('x', curve([1]), { window: 0 }), /option window: expected an integer >= 1, got 0/);
    assert.throws(() => analyzeCurve('x', curve([1]), { margin: -1 }), /option margin: expected a number >= 0, got -1/);
    assert.throws(() => analyzeCurve('x', []), /x: no validation scores/);
  });

  it('smear analyze --curves writes the table and figure and prints the budget', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'curves-'));
    dirs.push(root);
    const write = (method: string, scores: number[]) => {
      const dir = path.join(root, `resnet-mini-${method}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ setting: 'resnet', profile: 'mini', method, configuration: method }));
      fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ method, configuration: method, test: { accuracy: 0.5, per_domain: {} }, steps: 100 * scores.length }));
      // ResNet metrics.jsonl holds accuracies in [0, 1]; the curves are in percent.
      fs.writeFileSync(path.join(dir, 'metrics.jsonl'), scores.map((s, i) => JSON.stringify({ step: 100 * (i + 1), split: 'valid', score: s / 100 })).join('\n') + '\n');
      return dir;
    };
    const runs = [write('smear', [30, 40, 50, 60, 70, 70, 70, 70]), write('tag', [70, 80, 80, 80, 80, 80, 80, 80]), write('topk', [10, 20, 30, 40, 50, 60, 70, 80])];
    const out = path.join(root, 'figures');
    const r = spawnSync(process.execPath, [path.join(REPO, 'kernel-lib', 'cli', 'bin.js'), 'analyze', '--curves', '--window', '1', '--margin', '2', '--out', out, ...runs], { encoding: 'utf8', env: { ...process.env, SMEAR_QUIET: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /budget: 800 steps \(every run within 2 of its own plateau from there; the slowest is topk\)/);
    assert.match(r.stdout, /\| smear \| .* \| 70\.0 \| 500 \| 0\.0 \|/);
    assert.match(r.stdout, /still rising at the end \(their plateaus are lower bounds; train longer\): topk\n/);
    for (const f of ['resnet-mini-learning-curves.svg', 'resnet-mini-learning-curves.png', 'resnet-mini-curves.md', 'resnet-mini-curves.csv']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const bad = spawnSync(process.execPath, [path.join(REPO, 'kernel-lib', 'cli', 'bin.js'), 'analyze', '--curves', '--margin', 'x', ...runs], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /option --margin: expected a number >= 0, got 'x'/);
  });
});
