/**
 * kernel-lib loads the way a tslab notebook cell loads it: tslab compiles
 * TypeScript with its own TypeScript 5.0.4 to CommonJS and `require`s the
 * result. This test runs a fresh Node process without tsx, registers a
 * `.ts` require hook that transpiles with TypeScript 5.0 (`ts.transpileModule`,
 * module CommonJS), requires kernel-lib/index.ts and routes a batch.
 * The whole library is also type-checked by TypeScript 5.0 in strict mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

const script = `
const ts = require('typescript');
if (!ts.version.startsWith('5.0.')) throw new Error('expected TypeScript 5.0.x, got ' + ts.version);
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true },
    fileName: filename,
  });
  module._compile(out.outputText, filename);
};
const lib = require(${JSON.stringify(path.join(root, 'kernel-lib', 'index.ts'))});
(async () => {
  await lib.initBackend({ backend: 'cpu', quiet: true });
  const { tf } = lib;
  const block = new lib.RoutingBlock({ method: 'smear', width: 8, numExperts: 4, bottleneck: 2 });
  const out = block.forward(tf.ones([2, 3, 8]));
  const p = out.record.probs.arraySync();
  process.stdout.write(JSON.stringify({ shape: out.y.shape, rowSums: p.map((r) => r.reduce((a, b) => a + b, 0)), methods: lib.METHODS.length }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('kernel-lib loads through CommonJS require with TypeScript 5.0 transpilation (as tslab does)', () => {
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, `child failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.shape, [2, 3, 8]);
  assert.equal(out.methods, 12);
  for (const s of out.rowSums) assert.ok(Math.abs(s - 1) < 1e-5, `router probabilities sum to ${s}`);
});

test('the library type-checks with TypeScript 5.0 in strict mode', () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', root], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});
