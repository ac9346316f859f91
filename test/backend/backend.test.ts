/** Backend choice: fallback order, forcing, and clear errors (each case in a fresh process). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

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
      assert.deepEqual(info.skipped.map((s: { name: string }) => s.name), ['gpu', 'webgpu', 'tensorflow']);
      assert.match(info.skipped[0].reason, /@tensorflow\/tfjs-node-gpu is not installed/);
      // No GPU here: no adapter at all, or only a software one (never taken automatically).
      assert.match(
        info.skipped[1].reason,
        /no Vulkan driver \(ICD\) is installed|only software Vulkan drivers are installed|Dawn found no GPU adapter|only a software adapter is available|`webgpu` \(Dawn for Node\) is not installed/,
      );
      // Without a driver, Dawn is not even loaded: none of its Vulkan warnings at every start.
      if (/no Vulkan driver|only software Vulkan drivers/.test(info.skipped[1].reason)) assert.doesNotMatch(r.stderr, /vkCreateInstance|Vulkan/);
      // Not installed, or pure tfjs hoisted under the tfjs-node name by the danfojs-node override.
      assert.match(info.skipped[2].reason, /@tensorflow\/tfjs-node (is not installed|loaded but registered no 'tensorflow' backend)/);
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

  it('webgpu: a software adapter is never chosen automatically, only when forced, and the log names the adapter', () => {
    const icd = { VK_ICD_FILENAMES: SWIFTSHADER_ICD };
    const auto = run(PRINT, icd);
    assert.equal(auto.status, 0, auto.stderr);
    const a = JSON.parse(auto.stdout);
    assert.notEqual(a.name, 'webgpu');
    const why = a.skipped.find((x: { name: string }) => x.name === 'webgpu');
    assert.match(why.reason, /only a software adapter is available \(google \/ swiftshader.*software\): too slow to train on; force it with SMEAR_BACKEND=webgpu/);
    const forced = run(PRINT, { ...icd, SMEAR_BACKEND: 'webgpu' });
    assert.equal(forced.status, 0, forced.stderr);
    const f = JSON.parse(forced.stdout);
    assert.equal(f.name, 'webgpu');
    assert.equal(f.tfBackend, 'webgpu');
    assert.equal(f.adapter.architecture, 'swiftshader');
    assert.equal(f.adapter.software, true);
    assert.ok(f.adapter.limits.maxBufferSize > 0 && f.adapter.limits.maxStorageBufferBindingSize > 0);
    assert.match(forced.stderr, /\[smear\] backend: webgpu \(@tensorflow\/tfjs-backend-webgpu, adapter google \/ swiftshader \/ SwiftShader driver [\d.]+, software\)/);
  });

  it('webgpu forced without any adapter fails saying why and what to install', () => {
    const r = run(PRINT, { SMEAR_BACKEND: 'webgpu', VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /backend 'webgpu' \(forced by SMEAR_BACKEND\) could not load: Dawn found no GPU adapter \(VK_ICD_FILENAMES\/VK_DRIVER_FILES = \/nonexistent\/icd.json\)/);
    assert.match(r.stderr, /apt-get install libvulkan1/);
    assert.match(r.stderr, /vk_swiftshader_icd\.json/);
  });

  it('an unknown backend name is rejected with the valid names', () => {
    const r = run(PRINT, { SMEAR_BACKEND: 'cuda' });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /SMEAR_BACKEND: unknown backend 'cuda'; expected one of gpu, webgpu, tensorflow, wasm, cpu or auto/);
  });
});
