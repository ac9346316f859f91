/** The README's library example runs exactly as printed (saved as example.ts in the repository root). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

test('README example runs as printed', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.split('\n## Example')[1];
  assert.ok(section, 'README has an "## Example" section');
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the Example section has a ```ts block');
  assert.ok(code.split('\n').filter((l) => l.trim()).length <= 12, 'the example stays short');
  const file = path.join(root, `example.readme-test-${process.pid}.ts`);
  fs.writeFileSync(file, code);
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', env: { ...process.env, SMEAR_BACKEND: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /output \[ 4, 16, 768 \]/);
    const probs = /routing \[([^\]]*)\]/.exec(r.stdout.replace(/\n\s*/g, ' '))?.[1];
    assert.ok(probs, r.stdout);
    const values = probs.split(',').map((s) => Number(s.trim().replace(/'/g, '')));
    assert.equal(values.length, 8);
    assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 0.01);
    assert.match(r.stdout, /trainable parameters 30\d,\d{3}|trainable parameters 30\d\d\d\d/);
  } finally {
    fs.rmSync(file, { force: true });
  }
});
