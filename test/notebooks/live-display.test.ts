/**
 * Live displays never kill a run (issue 12, item 9), through the real kernel:
 * a cell fires thousands of concurrent live-figure updates, interleaved with
 * console output and with a final update that renders a PNG, the way
 * `trainMethods` does during a long training (it was the 03 notebook's mini
 * profile that died: zeromq's "Socket is busy writing" thrown by an update
 * sent while another was in flight, then again by tslab's own
 * unhandled-rejection report, which ended the kernel process). Asserts that
 * the cell succeeds, the kernel is alive for the next cell, and the figure
 * the front end shows last is the newest one.
 *
 * Needs /usr/bin/python3 with nbclient and ipykernel, and Chromium (as the
 * notebook tests do).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PYTHON, JUPYTER_INSTALL_HELP, NOTEBOOKS_DIR, RUNNER, jupyterStatus, temporaryKernel } from '../../kernel-lib/notebook/jupyter';
import { assertChromium } from '../../kernel-lib/analysis/render';

interface StepResult {
  status: string;
  stdout: string;
  stderr: string;
  displays: number;
  updates: number;
  shown: Record<string, string>;
  alive: boolean;
  error: { ename: string; evalue: string } | null;
}

describe('live displays in the kernel', () => {
  it('thousands of concurrent updates with console output: the kernel survives and the newest figure is the one shown', () => {
    const st = jupyterStatus(DEFAULT_PYTHON);
    assert.ok(st.python && st.client && st.nbclient, `Jupyter's Python packages are missing for ${DEFAULT_PYTHON}. ${JUPYTER_INSTALL_HELP}`);
    assertChromium();
    const k = temporaryKernel();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-display-'));
    try {
      const flood = `
import { LiveDisplay } from "../kernel-lib/notebook";
import { trainingCurves } from "../kernel-lib/analysis/figures";
const fig = (name: string, n: number) => trainingCurves([{ label: "smear", train: Array.from({ length: n }, (_, s) => ({ step: s, loss: 1 / (s + 1) })), valid: [] }], { title: name });
const live = new LiveDisplay(0);
console.log("display", live.id);
for (let i = 0; i < 1500; i++) {
  void live.updateFigure(fig("update " + i, 1 + (i % 50)));
  if (i % 5 === 0) console.log("line " + i);
}
// A final update (renders a PNG) still in flight while newer updates arrive: the newest wins.
void live.updateFigure(fig("final", 50), { final: true });
for (let i = 0; i < 300; i++) void live.updateFigure(fig("after " + i, 10), { force: true });
await live.updateFigure(fig("newest", 20), { force: true });
console.log("flood sent");`;
      const spec = { cwd: NOTEBOOKS_DIR, steps: [{ code: flood, timeout: 150 }, { code: 'await new Promise((r) => setTimeout(r, 3000)); console.log("alive");', timeout: 60 }] };
      const specFile = path.join(work, 'session.json');
      fs.writeFileSync(specFile, JSON.stringify(spec));
      const r = spawnSync(DEFAULT_PYTHON, [RUNNER, 'session', '--spec', specFile], { encoding: 'utf8', env: { ...process.env, JUPYTER_PATH: k.jupyterPath }, maxBuffer: 64 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      const steps = JSON.parse(r.stdout) as StepResult[];
      const brief = (s: StepResult) => JSON.stringify({ ...s, stdout: s.stdout.slice(-1500), stderr: s.stderr.slice(-3000) });
      const s0 = steps[0];
      assert.ok(s0.alive, `the kernel died during the updates: ${brief(s0)}`);
      assert.equal(s0.status, 'ok', brief(s0));
      assert.doesNotMatch(s0.stderr, /busy writing|UnhandledPromiseRejection|UncaughtException|an update failed/, brief(s0));
      assert.match(s0.stdout, /line 1495\n/, 'every console line arrived');
      assert.match(s0.stdout, /flood sent/);
      const id = /display (\S+)/.exec(s0.stdout)![1];
      assert.equal(s0.shown[id], '<plotly figure: newest>', `the newest figure is the one shown: ${brief(s0)}`);
      assert.ok(s0.displays === 1 && s0.updates >= 1, `one display, replaced in place: ${brief(s0)}`);
      assert.ok(s0.updates < 500, `updates in flight are coalesced (${s0.updates} sent for 1802)`);
      assert.equal(steps.length, 2, 'the next cell ran');
      assert.equal(steps[1].status, 'ok', brief(steps[1]));
      assert.match(steps[1].stdout, /alive/);
      // Nothing older arrived late (an update still in flight when the cell ended goes out through the next cell).
      assert.equal(steps[1].shown[id], undefined, `a late update replaced the newest figure: ${brief(steps[1])}`);
    } finally {
      k.cleanup();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
