/**
 * Run folders are the user's work (issue 12, items 1 and 6), through the
 * Trainer on its toy task: a folder holding a run is refused unless resumed
 * or moved aside (--fresh), naming what is there and leaving it as it was;
 * --resume with nothing to resume says so; --resume --steps N extends a
 * finished run (exactly like a longer run) and refuses fewer steps than done;
 * partial files of killed writes are removed at the next start; a run folder
 * under /proc (or behind a file) fails at once with a clear message; a
 * non-finite loss or gradient norm stops the run naming the step, the
 * learning rate and the kept checkpoint, and results.json says 'diverged'.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../kernel-lib';
import { Trainer, TrainingDivergedError, type BatchSource, type TrainerOptions } from '../../kernel-lib/train/trainer';
import { checkpointStep, checkRunFolder, inspectRunFolder } from '../../kernel-lib/train/run-folder';
import { removeStaleTmpFiles } from '../../kernel-lib/io/atomic';
import { makeDir } from '../../kernel-lib/io/dirs';
import { makeTask, type Batch } from './toy-task';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-runfolder-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every file and folder under `dir` with a hash of its bytes and its modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(p);
      } else out[rel] = `${createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}@${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

function readMetrics(dir: string) {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .map(({ steps_per_s: _s, ...rest }) => rest);
}

const base = { maxSteps: 10, evalEvery: 5, logEvery: 2, optimizer: { kind: 'adam' as const, lr: 1e-2, clipNorm: 1 }, seed: 11, progress: { mode: 'none' as const } };

/** Train the toy task in `runDir` with `opts`; `abortAt`: stop after that many batches were drawn. */
async function train(runDir: string, opts: Partial<TrainerOptions> = {}, abortAt?: number, task: Parameters<typeof makeTask>[0] = {}) {
  const t = makeTask(task);
  const controller = new AbortController();
  let calls = 0;
  const source: BatchSource<Batch> =
    abortAt === undefined
      ? t.source
      : {
          iterate(start: number) {
            const it = t.source.iterate(start);
            return { next: async () => (++calls === abortAt && controller.abort(), it.next()) } as AsyncIterator<Batch>;
          },
          disposeBatch: t.source.disposeBatch,
        };
  try {
    return await new Trainer(t.task, source, { ...base, runDir, config: { toy: true, train: { maxSteps: opts.maxSteps ?? base.maxSteps } }, ...(abortAt !== undefined ? { signal: controller.signal } : {}), ...opts }).run();
  } finally {
    t.dispose();
  }
}

describe('run folders are the user’s work (Trainer)', () => {
  let finished = '';
  let stopped = '';
  let diverged = '';
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    finished = path.join(tmp(), 'finished');
    await train(finished);
    stopped = path.join(tmp(), 'stopped');
    assert.equal((await train(stopped, { maxSteps: 20 }, 8)).step, 8);
    diverged = path.join(tmp(), 'diverged');
    await assert.rejects(train(diverged, {}, undefined, { nanAt: 7 }), TrainingDivergedError);
  });

  const refusals: { name: string; dir: () => string; expect: RegExp }[] = [
    { name: 'a finished run', dir: () => finished, expect: /already holds a run \(10 of 10 steps done, finished \(results\.json\)\); nothing was changed\. To continue it, add --resume \(with a larger --steps to train it longer\); to start over, add --fresh \(the folder is moved aside to finished\.old-<timestamp>, not deleted\)/ },
    { name: 'a run stopped at step 8', dir: () => stopped, expect: /already holds a run \(8 of 20 steps done, not finished \(last checkpoint at step 8\)\); nothing was changed\. To continue it, add --resume; to start over, add --fresh/ },
    { name: 'a diverged run', dir: () => diverged, expect: /already holds a run \(diverged at step 7 \(learning rate 0\.01\), last checkpoint at step 5\); nothing was changed/ },
  ];
  for (const c of refusals) {
    it(`starting again in a folder holding ${c.name} is refused, naming what is there, and nothing on disk changes`, async () => {
      const before = snapshot(path.dirname(c.dir()));
      await assert.rejects(train(c.dir()), (e: Error) => c.expect.test(e.message) && e.message.includes(c.dir()));
      assert.deepEqual(snapshot(path.dirname(c.dir())), before);
    });
  }

  it('--fresh moves the old run aside as <dir>.old-<timestamp> (never deleted) and starts over', async () => {
    const parent = tmp();
    const dir = path.join(parent, 'run');
    fs.cpSync(stopped, dir, { recursive: true });
    const old = snapshot(dir);
    const r = await train(dir, { fresh: true, maxSteps: 20 });
    assert.equal(r.status, 'completed');
    const aside = fs.readdirSync(parent).filter((f) => f !== 'run');
    assert.equal(aside.length, 1);
    assert.match(aside[0], /^run\.old-\d{8}T\d{6}Z$/);
    assert.deepEqual(snapshot(path.join(parent, aside[0])), old, 'the old folder is intact');
    assert.equal(readMetrics(dir)[0].step, 2, 'the new run started at step 0');
    // --fresh where there is no run just starts; --resume and --fresh together are refused.
    assert.equal((await train(path.join(parent, 'new'), { fresh: true })).status, 'completed');
    assert.throws(() => checkRunFolder(dir, { resume: true, fresh: true }), /options --resume and --fresh: choose one/);
  });

  const nothing: { name: string; setup: (p: string) => string }[] = [
    { name: 'a missing folder', setup: (p) => path.join(p, 'missing') },
    { name: 'an empty folder', setup: (p) => (fs.mkdirSync(path.join(p, 'empty')), path.join(p, 'empty')) },
    {
      name: 'a folder with a config.json only',
      setup: (p) => (fs.mkdirSync(path.join(p, 'cfg')), fs.writeFileSync(path.join(p, 'cfg', 'config.json'), '{}\n'), path.join(p, 'cfg')),
    },
  ];
  for (const c of nothing) {
    it(`--resume with nothing to resume (${c.name}) says so and starts nothing; 'if-any' starts`, async () => {
      const parent = tmp();
      const dir = c.setup(parent);
      const before = snapshot(parent);
      await assert.rejects(train(dir, { resume: true }), new RegExp(`^Error: --resume: there is nothing to resume in ${esc(dir)} \\(.*\\); nothing was started\\. To start a new run there, run the same command without --resume\\.$`));
      assert.deepEqual(snapshot(parent), before);
      assert.equal((await train(dir, { resume: 'if-any' })).status, 'completed');
    });
  }

  it('--resume --steps N extends a finished run exactly like a longer run; the finished results.json is kept', async () => {
    const longer = path.join(tmp(), 'longer');
    await train(longer, { maxSteps: 20 });
    const dir = path.join(tmp(), 'extended');
    fs.cpSync(finished, dir, { recursive: true });
    const results10 = fs.readFileSync(path.join(dir, 'results.json'), 'utf8');
    const r = await train(dir, { resume: true, maxSteps: 20 });
    assert.equal(r.status, 'completed');
    assert.equal(r.step, 20);
    assert.deepEqual(readMetrics(dir), readMetrics(longer));
    assert.equal(fs.readFileSync(path.join(dir, 'results.step-10.json'), 'utf8'), results10);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')).steps, 20);
    assert.equal(checkpointStep(path.join(dir, 'checkpoints', 'last.safetensors')), 20);
  });

  it('--resume --steps N below the steps done is refused; a schedule that depends on the step count is named', async () => {
    const before = snapshot(finished);
    await assert.rejects(train(finished, { resume: true, maxSteps: 6 }), /^Error: --resume --steps 6: the run in .*finished has done 10 steps \(10 of 10 steps done, finished \(results\.json\)\); give --steps 10 or more, or --fresh to start over$/);
    assert.throws(
      () => checkRunFolder(finished, { resume: true, maxSteps: 30, stepCountFields: ['train.decaySteps'] }),
      /^Error: --resume --steps 30: the run in .*finished was planned for 10 steps and its schedule depends on the step count \(train\.decaySteps\); it cannot be extended/,
    );
    assert.deepEqual(snapshot(finished), before);
  });

  it('a moved run folder resumes (its location is not part of it)', async () => {
    const a = path.join(tmp(), 'a');
    fs.cpSync(stopped, a, { recursive: true });
    const b = path.join(tmp(), 'b');
    fs.renameSync(a, b);
    const r = await train(b, { resume: true, maxSteps: 20 });
    assert.equal(r.status, 'completed');
    const full = path.join(tmp(), 'full');
    await train(full, { maxSteps: 20 });
    assert.deepEqual(readMetrics(b), readMetrics(full));
  });

  it('partial files of a killed atomic write are removed at the next start; those of a running writer stay', async () => {
    const dir = path.join(tmp(), 'run');
    fs.cpSync(stopped, dir, { recursive: true });
    const dead = path.join(dir, 'checkpoints', '.last.safetensors.4194999.0123456789ab.tmp'); // above Linux's pid_max
    const deadTop = path.join(dir, '.results.json.4194998.abcdefabcdef.tmp');
    const live = path.join(dir, 'checkpoints', `.best.safetensors.${process.ppid}.0123456789ab.tmp`);
    for (const f of [dead, deadTop, live]) fs.writeFileSync(f, 'partial');
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (stderr.push(String(s)), true)) as typeof process.stderr.write;
    try {
      assert.equal((await train(dir, { resume: true, maxSteps: 20 })).status, 'completed');
    } finally {
      process.stderr.write = write;
    }
    assert.ok(!fs.existsSync(dead) && !fs.existsSync(deadTop), 'stale partial files removed');
    assert.ok(fs.existsSync(live), 'a running writer’s file is left alone');
    assert.ok(stderr.some((l) => l.includes(`removed ${dead}, a partial file left by an interrupted write`)), stderr.join(''));
    assert.deepEqual(removeStaleTmpFiles(path.join(dir, 'missing')), []);
  });

  const unusable: { name: string; dir: (p: string) => string; expect: (d: string) => RegExp }[] = [
    { name: 'under /proc', dir: () => `/proc/smear-test-${process.pid}/run`, expect: (d) => new RegExp(`^option runDir \\(--run-dir\\): cannot use ${esc(d)}: /proc is on the kernel's proc file system, which holds no files`) },
    { name: 'under /sys', dir: () => '/sys/smear-test/run', expect: (d) => new RegExp(`^option runDir \\(--run-dir\\): cannot use ${esc(d)}: /sys is on the kernel's sysfs file system`) },
    {
      name: 'behind a file',
      dir: (p) => (fs.writeFileSync(path.join(p, 'file'), 'x'), path.join(p, 'file', 'run')),
      expect: (d) => new RegExp(`^option runDir \\(--run-dir\\): cannot use ${esc(d)}: ${esc(path.dirname(d))} is a file, not a folder$`),
    },
  ];
  for (const c of unusable) {
    it(`a run folder ${c.name} fails at once with a clear message`, async () => {
      const parent = tmp();
      const dir = c.dir(parent);
      const before = snapshot(parent);
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('hung')), 5000).unref());
      await assert.rejects(Promise.race([train(dir), timeout]), (e: Error) => c.expect(dir).test(e.message));
      assert.deepEqual(snapshot(parent), before);
    });
  }

  it('makeDir never hangs under /proc and names the component it could not create', () => {
    assert.throws(() => makeDir(`/proc/smear-test-${process.pid}/a/b`, 'option out'), new RegExp(`^Error: option out: cannot create /proc/smear-test-${process.pid}/a/b: mkdir /proc/smear-test-${process.pid}: ENOENT \\(its parent does not accept new folders`));
  });

  const divergences: { name: string; task: Parameters<typeof makeTask>[0]; quantity: string; key: string }[] = [
    { name: 'a NaN loss', task: { nanAt: 7 }, quantity: 'loss', key: 'loss' },
    { name: 'a finite loss with a NaN gradient norm', task: { nanGradAt: 7 }, quantity: 'gradient norm', key: 'grad_norm' },
  ];
  for (const c of divergences) {
    it(`${c.name} stops the run at that step naming the learning rate and the kept checkpoint; results.json says diverged`, async () => {
      const dir = path.join(tmp(), 'run');
      const last = path.join(dir, 'checkpoints', 'last.safetensors');
      await assert.rejects(
        train(dir, { lrSchedule: (s) => (10 + s) / 1000 }, undefined, c.task),
        (e: unknown) =>
          e instanceof TrainingDivergedError &&
          e.message ===
            `training stopped: the ${c.quantity} is NaN at step 7 (learning rate 0.017). The last good checkpoint is ${last} (step 5), kept. ` +
              'To train again with a lower learning rate: the same command with a smaller --lr and --fresh (the run folder is moved aside, not deleted).',
      );
      assert.equal(checkpointStep(last), 5, 'the checkpoint of step 5 is kept, not overwritten');
      const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
      assert.deepEqual(results, { status: 'diverged', step: 7, lr: 0.017, [c.key]: 'NaN', last_checkpoint: last, last_checkpoint_step: 5 });
      const state = inspectRunFolder(dir);
      assert.equal(state.status, 'diverged');
      assert.equal(state.stepsDone, 5);
      // No partial file is left behind.
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    });
  }

  it('a run diverging before its first checkpoint says no checkpoint had been written', async () => {
    const dir = path.join(tmp(), 'run');
    await assert.rejects(train(dir, {}, undefined, { nanAt: 2 }), /the loss is NaN at step 2 \(learning rate 0\.01\)\. No checkpoint had been written yet\./);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')).last_checkpoint, null);
  });
});
