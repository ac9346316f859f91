/**
 * The notebooks, headless: every notebook executes top to bottom in the smoke
 * profile through Jupyter's own executor (nbclient, test/notebooks/run_notebooks.py)
 * with the smear-ts kernel registered into a temporary prefix; and a kernel
 * interrupt stops a training cell within a step with a checkpoint, from which
 * rerunning the cell resumes.
 *
 * Needs /usr/bin/python3 with nbclient and ipykernel, and Chromium (CI installs
 * them: .ci/run). Missing ones fail with the install command; nothing is skipped.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PYTHON, JUPYTER_INSTALL_HELP, NOTEBOOKS_DIR, RUNNER, executeNotebooks, installKernel, jupyterStatus, kernelSpec, notebookFiles, temporaryKernel } from '../../kernel-lib/notebook/jupyter';
import { assertChromium } from '../../kernel-lib/analysis/render';
import { tableShapeProblems } from './markdown-tables';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const NOTEBOOKS = ['00-quickstart', '01-data-preparation', '02-train-resnet-domainnet', '03-train-t5-glue', '04-specialization-analysis'];

function requireJupyter(): void {
  const st = jupyterStatus(DEFAULT_PYTHON);
  assert.ok(st.python && st.client && st.nbclient, `Jupyter's Python packages are missing for ${DEFAULT_PYTHON}. ${JUPYTER_INSTALL_HELP}`);
}

describe('notebooks (committed form)', () => {
  it('are the five notebooks, without outputs, on the smear-ts kernel, narrative first, then one configuration cell', () => {
    assert.deepEqual(notebookFiles().map((f) => path.basename(f, '.ipynb')), NOTEBOOKS);
    for (const file of notebookFiles()) {
      const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
      const name = path.basename(file);
      assert.equal(nb.metadata.kernelspec.name, 'smear-ts', name);
      assert.equal(nb.cells[0].cell_type, 'markdown', `${name}: starts with a narrative`);
      const config = nb.cells[1].source.join('');
      assert.match(config, /notebookProfile\("mini"\)/, `${name}: configuration cell chooses the profile`);
      for (const c of nb.cells) {
        if (c.cell_type !== 'code') continue;
        assert.deepEqual(c.outputs, [], `${name}: committed without outputs`);
        assert.equal(c.execution_count, null, `${name}: no execution counts`);
        for (const m of c.source.join('').matchAll(/from "([^"]+)"/g)) {
          assert.ok(!m[1].startsWith('.') || m[1].startsWith('../kernel-lib'), `${name}: imports the library from the repository (${m[1]})`);
        }
      }
      const last = nb.cells[nb.cells.length - 1].source.join('');
      assert.match(last, /assert/, `${name}: ends with checks`);
    }
  });

  it('every markdown table in a markdown cell has the columns its header says', () => {
    const problems = notebookFiles().flatMap((file) => {
      const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: { cell_type: string; source: string[] }[] };
      return nb.cells.flatMap((c, i) => (c.cell_type === 'markdown' ? tableShapeProblems(c.source.join(''), `${path.basename(file)} cell ${i}`) : []));
    });
    assert.deepEqual(problems, []);
  });

  it('kernel spec: absolute tslab binary, the preload for ../kernel-lib imports, signal interrupts; registered into a prefix', () => {
    requireJupyter();
    const spec = kernelSpec();
    assert.ok(path.isAbsolute(spec.argv[0]) && spec.argv[0].endsWith(path.join('node_modules', '.bin', 'tslab')));
    assert.deepEqual(spec.argv.slice(1), ['kernel', '--config-path', '{connection_file}']);
    assert.match(spec.env.NODE_OPTIONS, /--require=.*kernel-lib\/notebook\/kernel-preload\.js/);
    assert.equal(spec.interrupt_mode, 'signal');
    const prefix = tmp('kernel-prefix-');
    const dir = installKernel({ prefix });
    assert.equal(dir, path.join(prefix, 'share', 'jupyter', 'kernels', 'smear-ts'));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8')).argv, spec.argv);
    assert.throws(() => installKernel({ prefix, python: '/nonexistent/python3' }), /Python not found at \/nonexistent\/python3.*apt-get install/);
  });
});

describe('notebooks (executed headless, smoke profile)', () => {
  let work = '';
  before(() => {
    requireJupyter();
    assertChromium();
    work = tmp('notebook-smoke-');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('every notebook runs top to bottom without a cell error, with figures, tables and files', () => {
    const out = path.join(work, 'executed');
    const report = path.join(work, 'report.json');
    const t0 = Date.now();
    const r = executeNotebooks(notebookFiles(), { out, report, env: { SMEAR_NOTEBOOK_PROFILE: 'smoke', SMEAR_NOTEBOOK_WORKDIR: work } });
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, `notebook execution failed:\n${r.stderr.slice(-8000)}`);
    const rows = JSON.parse(fs.readFileSync(report, 'utf8')) as { notebook: string; ok: boolean; seconds: number; mime_counts: Record<string, number>; error_outputs: number; code_cells: number; executed_cells: number }[];
    assert.equal(rows.length, NOTEBOOKS.length);
    for (const row of rows) {
      assert.ok(row.ok, row.notebook);
      assert.equal(row.error_outputs, 0, row.notebook);
      assert.equal(row.executed_cells, row.code_cells, `${row.notebook}: every code cell ran`);
      if (row.notebook !== '01-data-preparation.ipynb') assert.ok((row.mime_counts['text/html'] ?? 0) > 0, `${row.notebook}: HTML output`);
      assert.ok((row.mime_counts['application/vnd.plotly.v1+json'] ?? 0) > 0, `${row.notebook}: a plotly figure`);
      assert.ok((row.mime_counts['image/png'] ?? 0) > 0, `${row.notebook}: a static PNG`);
    }
    const figures = fs.readdirSync(path.join(work, 'figures'));
    for (const f of ['resnet-smoke-routing-smear', 'resnet-smoke-routing-topk', 'resnet-smoke-entropy', 'resnet-smoke-usage', 't5-smoke-routing-smear', 'data-domainnet-samples', 'quickstart-routing']) {
      assert.ok(figures.includes(`${f}.svg`) && figures.includes(`${f}.png`), `figures/${f}.svg and .png`);
    }
    for (const t of ['resnet-smoke-results', 'resnet-smoke-claims', 't5-smoke-results']) assert.ok(figures.includes(`${t}.csv`) && figures.includes(`${t}.md`), `${t}.csv and .md`);
    // Every markdown table shown has the columns its header says (a `|` in a cell splits it).
    const tableProblems: string[] = [];
    let tables = 0;
    for (const name of NOTEBOOKS) {
      const nb = JSON.parse(fs.readFileSync(path.join(out, `${name}.ipynb`), 'utf8')) as { cells: { outputs?: { data?: Record<string, string | string[]> }[] }[] };
      nb.cells.forEach((c, i) =>
        (c.outputs ?? []).forEach((o) => {
          const md = o.data?.['text/markdown'];
          if (md === undefined) return;
          const text = Array.isArray(md) ? md.join('') : md;
          if (text.includes('---')) tables++;
          tableProblems.push(...tableShapeProblems(text, `${name} cell ${i} output`));
        }),
      );
    }
    assert.deepEqual(tableProblems, []);
    assert.ok(tables >= 3, `markdown tables were checked (${tables})`);
    // Executed copies carry outputs; the committed notebooks stay clean.
    const executed = JSON.parse(fs.readFileSync(path.join(out, '04-specialization-analysis.ipynb'), 'utf8'));
    assert.ok(executed.cells.some((c: { outputs?: unknown[] }) => (c.outputs ?? []).length > 0));
    process.stderr.write(`[notebooks] ${rows.map((x) => `${x.notebook} ${x.seconds} s`).join(', ')}; total ${seconds.toFixed(0)} s\n`);
  });

  it('an interrupt stops a training cell after its current step with a checkpoint; rerunning the cell resumes', () => {
    const k = temporaryKernel();
    try {
      const runs = path.join(work, 'interrupt-runs');
      const runDir = path.join(runs, 'resnet-smoke-smear');
      const setup = `
import { prepareResNetData } from "../kernel-lib/notebook";
await prepareResNetData("smoke");`;
      // One cell, run twice: the second run resumes.
      const train = `
import { resnetOverrides, trainMethods } from "../kernel-lib/notebook";
const o = resnetOverrides("smoke");
const overrides = { ...o, train: { ...o.train, maxSteps: 300, evalEvery: 150, logEvery: 1 } };
const done = await trainMethods({ setting: "resnet", profile: "mini", methods: [{ method: "smear" }], overrides, runsDir: ${JSON.stringify(runs)}, runPrefix: "resnet-smoke-", resultsDir: ${JSON.stringify(path.join(work, 'interrupt-results'))}, updateEveryMs: 200 });
console.log("finished", done.length, done[0].steps);`;
      const inspect = `
import * as fs from "fs";
const last = ${JSON.stringify(path.join(runDir, 'checkpoints', 'last.safetensors'))};
const lines = fs.readFileSync(${JSON.stringify(path.join(runDir, 'metrics.jsonl'))}, "utf8").trim().split("\\n").map((l) => JSON.parse(l));
console.log(JSON.stringify({ checkpoint: fs.existsSync(last), results: fs.existsSync(${JSON.stringify(path.join(runDir, 'results.json'))}), lastStep: lines[lines.length - 1].step }));`;
      const spec = {
        cwd: NOTEBOOKS_DIR,
        steps: [
          { code: setup, timeout: 240 },
          { code: train, interrupt_when_exists: path.join(runDir, 'metrics.jsonl'), interrupt_delay: 1, timeout: 90 },
          { code: inspect, timeout: 60 },
          { code: train, timeout: 400 },
        ],
      };
      const specFile = path.join(work, 'session.json');
      fs.writeFileSync(specFile, JSON.stringify(spec));
      const r = spawnSync(DEFAULT_PYTHON, [RUNNER, 'session', '--spec', specFile], { encoding: 'utf8', env: { ...process.env, JUPYTER_PATH: k.jupyterPath }, maxBuffer: 32 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      const [s0, s1, s2, s3] = JSON.parse(r.stdout) as { status: string; stdout: string; stderr: string; updates: number; interrupted_at: number | null; seconds: number }[];
      assert.equal(s0.status, 'ok', s0.stderr);
      // The interrupted cell ends with an error once the step and the checkpoint are done.
      assert.ok(s1.interrupted_at !== null, `the interrupt was sent while the cell trained: ${JSON.stringify(s1).slice(0, 3000)}`);
      assert.equal(s1.status, 'error', `interrupted cell: ${JSON.stringify(s1).slice(0, 4000)}`);
      assert.match(s1.stderr, /stopping after the current step/);
      assert.match(s1.stderr, /interrupted at step \d+; the checkpoint is .*last\.safetensors — rerun the cell to resume/);
      assert.ok(s1.updates > 0, 'the live plot was updated in place (update_display_data)');
      assert.equal(s2.status, 'ok', JSON.stringify(s2).slice(0, 3000));
      const state = JSON.parse(s2.stdout.trim().split('\n').pop()!) as { checkpoint: boolean; results: boolean; lastStep: number };
      assert.ok(state.checkpoint, 'a checkpoint was written');
      assert.equal(state.results, false, 'the run is not finished');
      assert.ok(state.lastStep > 0 && state.lastStep < 300, `stopped within the run (step ${state.lastStep})`);
      // Rerunning the cell resumes from the checkpoint and finishes.
      assert.equal(s3.status, 'ok', s3.stderr);
      assert.match(s3.stderr, new RegExp(`resuming .*resnet-smoke-smear from step ${state.lastStep}`));
      assert.match(s3.stdout, /finished 1 300/);
    } finally {
      k.cleanup();
    }
  });
});
