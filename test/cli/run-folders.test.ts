/**
 * Run folders through `smear train` (issue 12, item 1), table-driven: a
 * folder holding a run (finished, stopped, diverged) is refused with what is
 * there and the two ways on; --resume with nothing to resume, --resume with
 * --fresh, fewer --steps than done and a run folder under /proc are refused
 * at once; each case exits non-zero and leaves everything on disk as it was.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSafetensors } from '../../kernel-lib/io/safetensors';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'kernel-lib', 'cli', 'bin.js');
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-runs-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function smear(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SMEAR_QUIET: '1', SMEAR_BACKEND: 'cpu' } });
}

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

/** A run folder as the Trainer leaves it: steps done `step` of `maxSteps`; `results`: finished or diverged. */
async function writeRun(dir: string, setting: string, step: number, maxSteps: number, results?: Record<string, unknown>): Promise<void> {
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify({ setting, method: 'smear', train: { maxSteps } })}\n`);
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), Array.from({ length: step }, (_, i) => `${JSON.stringify({ step: i + 1, split: 'train', loss: 1 })}\n`).join(''));
  await writeSafetensors(path.join(dir, 'checkpoints', 'last.safetensors'), { 'state.w': { dtype: 'F32', shape: [1], data: new Float32Array([1]) } }, { format: 'smear-ts-checkpoint-1', step: String(step) });
  if (results) fs.writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(results)}\n`);
}

describe('smear train refuses to overwrite a run folder', () => {
  const cases: { name: string; setup: (dir: string) => Promise<void>; args: string[]; expect: (dir: string) => RegExp }[] = [
    {
      name: 'a finished ResNet run, started again',
      setup: (d) => writeRun(d, 'resnet', 6, 6, { steps: 6, test: { accuracy: 0.5 } }),
      args: ['--setting', 'resnet'],
      expect: (d) =>
        new RegExp(
          `^smear: the run folder ${esc(d)} already holds a run \\(6 of 6 steps done, finished \\(results\\.json\\)\\); nothing was changed\\. ` +
            'To continue it, add --resume \\(with a larger --steps to train it longer\\); to start over, add --fresh \\(the folder is moved aside to run\\.old-<timestamp>, not deleted\\); or choose another --run-dir\\.$',
          'm',
        ),
    },
    {
      name: 'a T5 run stopped at step 4, started again',
      setup: (d) => writeRun(d, 't5', 4, 6),
      args: ['--setting', 't5'],
      expect: (d) => new RegExp(`^smear: the run folder ${esc(d)} already holds a run \\(4 of 6 steps done, not finished \\(last checkpoint at step 4\\)\\); nothing was changed\\. To continue it, add --resume; to start over, add --fresh`, 'm'),
    },
    {
      name: 'a diverged run, started again',
      setup: (d) => writeRun(d, 'resnet', 3, 6, { status: 'diverged', step: 4, lr: 100 }),
      args: ['--setting', 'resnet', '--steps', '6'],
      expect: (d) => new RegExp(`^smear: the run folder ${esc(d)} already holds a run \\(diverged at step 4 \\(learning rate 100\\), last checkpoint at step 3\\)`, 'm'),
    },
    {
      name: '--resume --steps 2 of a run that has done 4',
      setup: (d) => writeRun(d, 'resnet', 4, 6),
      args: ['--setting', 'resnet', '--resume', '--steps', '2'],
      expect: (d) => new RegExp(`^smear: --resume --steps 2: the run in ${esc(d)} has done 4 steps \\(4 of 6 steps done, not finished \\(last checkpoint at step 4\\)\\); give --steps 4 or more, or --fresh to start over$`, 'm'),
    },
    {
      name: '--resume with no run folder',
      setup: async () => undefined,
      args: ['--setting', 'resnet', '--resume'],
      expect: (d) => new RegExp(`^smear: --resume: there is nothing to resume in ${esc(d)} \\(no such folder\\); nothing was started\\. To start a new run there, run the same command without --resume\\.$`, 'm'),
    },
    {
      name: '--resume of an empty folder (t5)',
      setup: async (d) => void fs.mkdirSync(d),
      args: ['--setting', 't5', '--resume'],
      expect: (d) => new RegExp(`^smear: --resume: there is nothing to resume in ${esc(d)} \\(it holds no run: no metrics\\.jsonl, checkpoint or results\\.json\\)`, 'm'),
    },
    {
      name: '--resume with --fresh',
      setup: (d) => writeRun(d, 'resnet', 4, 6),
      args: ['--setting', 'resnet', '--resume', '--fresh'],
      expect: () => /^smear: options --resume and --fresh: choose one/m,
    },
    {
      name: '--resume with --force (the alias of --fresh)',
      setup: (d) => writeRun(d, 'resnet', 4, 6),
      args: ['--setting', 'resnet', '--resume', '--force'],
      expect: () => /^smear: options --resume and --force: choose one/m,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const parent = tmp();
      const dir = path.join(parent, 'run');
      await c.setup(dir);
      const before = snapshot(parent);
      const r = smear(['train', '--method', 'smear', ...c.args, '--run-dir', dir]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, c.expect(dir));
      assert.deepEqual(snapshot(parent), before, 'nothing on disk changed');
    });
  }

  for (const setting of ['resnet', 't5']) {
    it(`--run-dir under /proc fails at once with a clear message (${setting})`, () => {
      const dir = `/proc/smear-cli-test-${process.pid}/run`;
      const t0 = Date.now();
      const r = smear(['train', '--setting', setting, '--method', 'smear', '--run-dir', dir]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^smear: option runDir \\(--run-dir\\): cannot use ${esc(dir)}: /proc is on the kernel's proc file system, which holds no files \\(expected a folder on a disk\\)$`, 'm'));
      assert.ok(Date.now() - t0 < 30_000);
    });
  }
});
