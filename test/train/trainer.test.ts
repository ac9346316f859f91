/**
 * The trainer on a toy task (a SMEAR routing block regressing a per-tag
 * target, with expert dropout so the generator matters): logging,
 * evaluation and best checkpoint, resume equivalence, abort, NaN stop.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../kernel-lib';
import { Trainer, TrainingDivergedError, type BatchSource } from '../../kernel-lib/train/trainer';
import { makeTask, type Batch } from './toy-task';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'smear-trainer-'));
}

function readMetrics(dir: string) {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .map(({ steps_per_s: _s, ...rest }) => rest);
}

const baseOpts = { maxSteps: 20, evalEvery: 5, logEvery: 2, optimizer: { kind: 'adam' as const, lr: 1e-2, clipNorm: 1 }, seed: 11, progress: { mode: 'none' as const } };

describe('Trainer', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('trains, logs, keeps the best checkpoint and writes results', async () => {
    const dir = tmp();
    const t = makeTask();
    const r = await new Trainer(t.task, t.source, { ...baseOpts, runDir: dir, config: { toy: true } }).run();
    assert.equal(r.status, 'completed');
    assert.equal(r.step, 20);
    const lines = readMetrics(dir);
    assert.equal(lines.filter((l) => l.split === 'train').length, 10);
    assert.equal(lines.filter((l) => l.split === 'valid').length, 4);
    const train = lines.filter((l) => l.split === 'train');
    assert.ok(train[train.length - 1].loss < train[0].loss, 'loss decreases');
    for (const f of ['config.json', 'results.json', 'checkpoints/last.safetensors', 'checkpoints/best.safetensors']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
    const bestValid = Math.max(...lines.filter((l) => l.split === 'valid').map((l) => l.score));
    assert.equal(results.valid_score, bestValid);
    // The test evaluation ran on the best checkpoint: same score as its validation (same eval batch here).
    assert.equal(results.test_score, bestValid);
    t.dispose();
  });

  it('a run stopped by an AbortSignal and resumed ends exactly like an uninterrupted run', async () => {
    const full = tmp();
    const a = makeTask();
    await new Trainer(a.task, a.source, { ...baseOpts, runDir: full }).run();
    const finalFull = new Map([...a.block.params].map(([k, v]) => [k, Array.from(v.dataSync())]));
    a.dispose();

    const split = tmp();
    const b = makeTask();
    const controller = new AbortController();
    let calls = 0;
    const abortingSource: BatchSource<Batch> = {
      iterate(start: number) {
        const it = b.source.iterate(start);
        return {
          next: async () => {
            if (++calls === 8) controller.abort(); // stop in the middle of step 7 (between evals)
            return it.next();
          },
        } as AsyncIterator<Batch>;
      },
      disposeBatch: b.source.disposeBatch,
    };
    const r1 = await new Trainer(b.task, abortingSource, { ...baseOpts, runDir: split, signal: controller.signal }).run();
    assert.equal(r1.status, 'aborted');
    assert.equal(r1.step, 8);
    b.dispose();

    const c = makeTask(); // a fresh process would build the model anew
    const r2 = await new Trainer(c.task, c.source, { ...baseOpts, runDir: split, resume: true }).run();
    assert.equal(r2.status, 'completed');
    assert.deepEqual(readMetrics(split), readMetrics(full));
    for (const [k, v] of c.block.params) assert.deepEqual(Array.from(v.dataSync()), finalFull.get(k), k);
    c.dispose();
  });

  it('a NaN loss stops the run with a clear error and keeps the last good checkpoint', async () => {
    const dir = tmp();
    const t = makeTask({ nanAt: 12 });
    await assert.rejects(
      new Trainer(t.task, t.source, { ...baseOpts, runDir: dir }).run(),
      (e: unknown) => e instanceof TrainingDivergedError && /the loss is NaN at step 12/.test(e.message) && /last\.safetensors/.test(e.message),
    );
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'last.safetensors')));
    t.dispose();
  });

  it('a wasm heap exhaustion inside a step is reported as such, with the fix', async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    const t = makeTask({ oomAt: 3 });
    await assert.rejects(
      new Trainer(t.task, t.source, { ...baseOpts, runDir: tmp() }).run(),
      (e: unknown) =>
        e instanceof Error &&
        /training step 3: the wasm backend ran out of memory \(heap [\d.]+ GiB\): its heap cannot grow past 4 GB\. Lower the batch size/.test(e.message),
    );
    t.dispose();
    const other = makeTask({ oomAt: 0 });
    // Any other error passes through unchanged.
    other.task.loss = () => {
      throw new Error('boom');
    };
    await assert.rejects(new Trainer(other.task, other.source, { ...baseOpts, runDir: tmp() }).run(), /^Error: boom$/);
    other.dispose();
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('rejects bad options', () => {
    const t = makeTask();
    assert.throws(() => new Trainer(t.task, t.source, { ...baseOpts, runDir: tmp(), maxSteps: 0 }), /option maxSteps: expected an integer >= 1, got 0/);
    t.dispose();
  });
});
