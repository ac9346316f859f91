/** Backend choice: fallback order, forcing, and clear errors (each case in a fresh process). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

function run(code: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SMEAR_BACKEND: '', SMEAR_QUIET: '', ...env },
  });
  return r;
}

const PRINT = `
const { initBackend } = require('./kernel-lib/backend');
initBackend().then((i) => { console.log(JSON.stringify(i)); }, (e) => { console.error('ERR ' + e.message); process.exit(3); });
`;

/** Whether the real native package is installed (danfojs-node's npm override can put pure tfjs under the tfjs-node name). */
function nativeAvailable(pkg: string): boolean {
  try {
    const file = require.resolve(`${pkg}/package.json`, { paths: [root] });
    return (JSON.parse(require('fs').readFileSync(file, 'utf8')) as { name: string }).name === pkg;
  } catch {
    return false;
  }
}

describe('backend selection', () => {
  it('falls back automatically and logs the choice once', () => {
    const r = run(PRINT);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.ok(['gpu', 'tensorflow', 'wasm', 'cpu'].includes(info.name));
    assert.equal(info.forced, false);
    const logs = r.stderr.split('\n').filter((l) => l.startsWith('[smear] backend:'));
    assert.equal(logs.length, 1, r.stderr);
    if (!nativeAvailable('@tensorflow/tfjs-node-gpu') && !nativeAvailable('@tensorflow/tfjs-node')) {
      assert.equal(info.name, 'wasm');
      assert.deepEqual(info.skipped.map((s: { name: string }) => s.name), ['gpu', 'tensorflow']);
      assert.match(info.skipped[0].reason, /@tensorflow\/tfjs-node-gpu is not installed/);
      // Not installed, or pure tfjs hoisted under the tfjs-node name by the danfojs-node override.
      assert.match(info.skipped[1].reason, /@tensorflow\/tfjs-node (is not installed|loaded but registered no 'tensorflow' backend)/);
      assert.equal(info.threads, 1);
      assert.equal(info.simd, true);
    }
  });

  it('SMEAR_BACKEND forces a backend', () => {
    const r = run(PRINT, { SMEAR_BACKEND: 'cpu' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.name, 'cpu');
    assert.equal(info.tfBackend, 'cpu');
    assert.equal(info.forced, true);
  });

  it('a forced backend that cannot load says why and how to fix it', (t) => {
    if (nativeAvailable('@tensorflow/tfjs-node')) return t.skip('@tensorflow/tfjs-node is installed here');
    const r = run(PRINT, { SMEAR_BACKEND: 'tensorflow' });
    assert.equal(r.status, 3);
    assert.match(
      r.stderr,
      /backend 'tensorflow' \(forced by SMEAR_BACKEND\) could not load: @tensorflow\/tfjs-node (is not installed|loaded but registered no 'tensorflow' backend[^.]*)\. To fix: install it where libtensorflow can be downloaded/,
    );
  });

  it('an unknown backend name is rejected with the valid names', () => {
    const r = run(PRINT, { SMEAR_BACKEND: 'cuda' });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /SMEAR_BACKEND: unknown backend 'cuda'; expected one of gpu, tensorflow, wasm, cpu or auto/);
  });
});
