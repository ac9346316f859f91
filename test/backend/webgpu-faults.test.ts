/**
 * GPU faults stop a run with a clear message and lose nothing (webgpu on
 * SwiftShader, each case in a fresh process: a fault leaves its device unusable).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { webgpuSkip, webgpuTestEnv } from './webgpu-env';

const root = path.resolve(__dirname, '..', '..');

function runFault(fault: 'lost' | 'oom') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `smear-fault-${fault}-`));
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'webgpu-fault-run.ts'), fault, dir], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...webgpuTestEnv().env, SMEAR_QUIET: '1' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('ERROR ') || l === 'NO ERROR') ?? '';
  return { line, dir };
}

describe('webgpu faults (fresh process each)', webgpuSkip(), () => {
  it('a device lost mid-run stops it at that step, naming the loss, and keeps the last checkpoint', () => {
    const { line, dir } = runFault('lost');
    assert.match(line, /^ERROR training stopped at step 12: the GPU device was lost \(destroyed/);
    assert.match(line, /The last good checkpoint is .*last\.safetensors/);
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'last.safetensors')), 'the step-10 checkpoint is kept');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a tensor over the adapter\'s buffer limit stops the run naming the limit and suggesting a smaller batch', () => {
    const { line, dir } = runFault('oom');
    assert.match(line, /^ERROR training stopped at step 12: the GPU device reported an error: Buffer size \(\d+\) exceeds the max buffer size limit/);
    assert.match(line, /maxBufferSize|buffer|size/i);
    assert.match(line, /lower the batch size/);
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'last.safetensors')), 'the step-10 checkpoint is kept');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
