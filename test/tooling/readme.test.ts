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

test('README "Moving between smear-ts and the reference code" example runs as printed', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.split('\n## Moving between smear-ts and the reference code')[1]?.split('\n## ')[0];
  assert.ok(section, 'README has the interchange section');
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  const sh = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code && sh, 'the section has a ```ts and a ```sh block');
  const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'readme-interchange-'));
  // The example runs in a copy of the layout it expects: the repository root's kernel-lib and node_modules.
  fs.symlinkSync(path.join(root, 'kernel-lib'), path.join(tmp, 'kernel-lib'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(tmp, 'package.json'));
  fs.writeFileSync(path.join(tmp, 'interchange.ts'), code);
  try {
    for (const line of sh.split('\n').filter((l) => l.trim())) {
      const args = line.split(/\s+/);
      const cmd = args[0] === 'npx' && args[1] === 'smear' ? [path.join(root, 'kernel-lib', 'cli', 'bin.js'), ...args.slice(2)] : args.slice(1);
      assert.ok(args[0] === 'node' || (args[0] === 'npx' && args[1] === 'smear'), `unexpected command: ${line}`);
      const r = spawnSync(process.execPath, cmd, { cwd: tmp, encoding: 'utf8', env: { ...process.env, SMEAR_BACKEND: 'cpu', SMEAR_QUIET: '1' } });
      assert.equal(r.status, 0, `${line}\n${r.stderr}`);
    }
    const { readSafetensors } = require('../../kernel-lib/io/safetensors');
    return (async () => {
      const fwd = await readSafetensors(path.join(tmp, 'interchange', 'forward.safetensors'));
      assert.deepEqual(Array.from(fwd.tensors.get('expert_index.0').data), [5, 5]);
      assert.deepEqual(Array.from(fwd.tensors.get('expert_index.4').data), [0, 5]);
      const step = await readSafetensors(path.join(tmp, 'interchange', 'step.safetensors'));
      assert.ok(step.tensors.has('loss') && step.tensors.has('loss.ce'));
      assert.ok(step.tensors.has('grad.encoder.block.0.layer.0.adapter_controller.multi_adapters.down_samplers_weights'));
      assert.ok(step.tensors.has('param.decoder.final_layer_norm.weight'));
    })().finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
});
