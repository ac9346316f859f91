/**
 * Messages (issue 12, item 7), table-driven, one table per input class: a
 * bad input gives an error that names the file (and the line where there is
 * one) or the option, with what was found, and leaves everything on disk as
 * it was. Run folders through `smear analyze` (config.json, results.json,
 * metrics.jsonl, routing-test.json); options through `smear train`; dataset
 * files through `smear data check` and the readers; JSON helpers directly.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGlueParquet, readGlueTsv } from '../../kernel-lib/datasets/glue/readers';
import { readList } from '../../kernel-lib/datasets/domainnet/lists';
import { readSafetensors } from '../../kernel-lib/io/safetensors';
import { readJsonFile, readJsonLines, readJsonObject } from '../../kernel-lib/util/json';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'kernel-lib', 'cli', 'bin.js');
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function smear(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, SMEAR_QUIET: '1' } });
}

/** Every file and folder under `dir`, with a hash of each file's bytes and its modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(p);
      } else {
        out[rel] = `${createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}@${fs.statSync(p).mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A finished ResNet run folder, as `smear analyze` reads it. */
function writeRun(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify({ setting: 'resnet', profile: 'mini', method: 'smear', configuration: '1× compute' }, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify({ method: 'smear', configuration: '1× compute', steps: 4, best_step: 4, test: { accuracy: 0.5, per_domain: { clipart: 0.5 } } })}\n`);
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), [1, 2, 3, 4].map((s) => `${JSON.stringify({ step: s, split: 'train', loss: 1 / s, steps_per_s: 3 })}\n`).join(''));
  fs.writeFileSync(path.join(dir, 'routing-test.json'), `${JSON.stringify({ method: 'smear', tagNames: ['clipart'], blocks: [] })}\n`);
}

describe('messages name the file and line (run folders: smear analyze)', () => {
  const cases: { name: string; file: string; content: string; expect: (file: string) => RegExp }[] = [
    { name: 'a corrupt config.json', file: 'config.json', content: '{"setting": "resnet",', expect: (f) => new RegExp(`^smear analyze: ${esc(f)}: not valid JSON \\(`) },
    { name: 'a config.json that is not an object', file: 'config.json', content: '[1, 2]\n', expect: (f) => new RegExp(`^smear analyze: ${esc(f)}: expected a JSON object, found an array`) },
    { name: 'an empty results.json', file: 'results.json', content: '', expect: (f) => new RegExp(`^smear analyze: ${esc(f)}: empty`) },
    { name: 'a corrupt results.json', file: 'results.json', content: 'accuracy: 0.5\n', expect: (f) => new RegExp(`^smear analyze: ${esc(f)}: not valid JSON`) },
    {
      name: 'a corrupt line in metrics.jsonl',
      file: 'metrics.jsonl',
      content: '{"step": 1, "split": "train", "loss": 1}\n{"step": 2, "split": "tr\n{"step": 3, "split": "train", "loss": 0.3}\n',
      expect: (f) => new RegExp(`^smear analyze: ${esc(f)}:2: not valid JSON \\(.*\\): "\\{\\\\"step\\\\": 2, \\\\"split\\\\": \\\\"tr"`),
    },
    { name: 'a corrupt routing-test.json', file: 'routing-test.json', content: '{"blocks": [', expect: (f) => new RegExp(`^smear analyze: ${esc(f)}: not valid JSON`) },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const runs = tmp('msg-run-');
      const run = path.join(runs, 'resnet-mini-smear');
      writeRun(run);
      const file = path.join(run, c.file);
      fs.writeFileSync(file, c.content);
      const before = snapshot(runs);
      const r = smear(['analyze', run, '--out', path.join(runs, 'figures'), '--quiet']);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, c.expect(file));
      assert.deepEqual(snapshot(runs), before, 'nothing on disk changed');
    });
  }

  it('a last metrics.jsonl line still being written (no newline yet) is ignored while a run is in progress', () => {
    const runs = tmp('msg-run-');
    const file = path.join(runs, 'metrics.jsonl');
    fs.writeFileSync(file, '{"step": 1}\n{"step": 2, "lo');
    assert.deepEqual(readJsonLines(file, { partialLastLine: true }), [{ step: 1 }]);
    assert.throws(() => readJsonLines(file), new RegExp(`^Error: ${esc(file)}:2: not valid JSON`));
  });
});

describe('messages name the option (smear train)', () => {
  const cases: [string[], RegExp][] = [
    [['--setting', 'resnet', '--batch-size', '0'], /^smear: option train\.batchSize \(--batch-size\): expected an integer >= 1, got 0$/m],
    [['--setting', 'resnet', '--steps', '0'], /^smear: option train\.maxSteps \(--steps\): expected an integer >= 1, got 0$/m],
    [['--setting', 'resnet', '--eval-every', '0'], /^smear: option train\.evalEvery \(--eval-every\): expected an integer >= 1, got 0$/m],
    [['--setting', 'resnet', '--batch-size', '2.5'], /^smear: option train\.batchSize \(--batch-size\): expected an integer >= 1, got 2\.5$/m],
    [['--setting', 't5', '--batch-size', '0'], /^smear: option train\.batchSize \(--batch-size\): expected an integer >= 1, got 0$/m],
    [['--setting', 't5', '--eval-every', '0'], /^smear: option train\.evalEvery \(--eval-every\): expected an integer >= 1, got 0$/m],
    [['--setting', 'resnet', '--log-every', '0'], /^smear: option train\.logEvery \(--log-every\): expected an integer >= 1, got 0$/m],
  ];
  for (const [args, re] of cases) {
    it(args.join(' '), () => {
      const dir = tmp('msg-opt-');
      const runDir = path.join(dir, 'run');
      const r = smear(['train', '--method', 'smear', ...args, '--run-dir', runDir]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
      assert.deepEqual(fs.readdirSync(dir), [], 'no run folder was made');
    });
  }
});

describe('messages name the file and line (dataset files)', () => {
  const STSB_HEAD = 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore';
  const cases: { name: string; setup: (root: string) => string; run: (root: string) => Promise<string>; expect: (file: string) => RegExp }[] = [
    {
      name: 'a text file named .parquet (readGlueParquet)',
      setup: (root) => {
        const f = path.join(root, 'rte', 'train-00000-of-00001.parquet');
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, 'index\tsentence1\tsentence2\tlabel\n');
        return f;
      },
      run: async (root) => (await readGlueParquet(root, 'rte', 'train'), 'no error'),
      expect: (f) => new RegExp(`^readGlueParquet: ${esc(f)} \\(\\d+ bytes\\) is not a readable parquet file \\(rte/train\\): parquet file invalid \\(footer != PAR1\\)$`),
    },
    {
      name: 'a text file named .parquet (smear data check --setting t5)',
      setup: (root) => {
        const f = path.join(root, 'rte', 'validation-00000-of-00001.parquet');
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, 'not parquet\n');
        return f;
      },
      run: async (root) => {
        const r = smear(['data', 'check', '--setting', 't5', '--data', root, '--tasks', 'rte']);
        assert.equal(r.status, 1, r.stderr);
        return r.stdout;
      },
      expect: (f) => new RegExp(`unreadable files \\(1\\):\\n {2}readGlueParquet: ${esc(f)} \\(12 bytes\\) is not a readable parquet file`),
    },
    {
      name: 'STS-B scores outside [0, 5] (readGlueTsv warns, skips)',
      setup: (root) => {
        const f = path.join(root, 'STS-B', 'train.tsv');
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, `${STSB_HEAD}\n0\tg\tf\ty\t0\tn\tn\ta\tb\t2.5\n1\tg\tf\ty\t0\tn\tn\ta\tb\t6.25\n`);
        return f;
      },
      run: async (root) => {
        const warnings: string[] = [];
        const r = readGlueTsv(root, 'stsb', 'train', { onWarning: (m) => warnings.push(m) });
        assert.equal(r.examples.length, 1);
        return warnings.join('\n');
      },
      expect: (f) => new RegExp(`^${esc(f)}:3: score 6\\.25 is outside \\[0, 5\\] \\(the stsb similarity range\\); row skipped$`, 'm'),
    },
    {
      name: 'STS-B scores outside [0, 5] (smear data check --setting t5)',
      setup: (root) => {
        const f = path.join(root, 'STS-B', 'train.tsv');
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, `${STSB_HEAD}\n0\tg\tf\ty\t0\tn\tn\ta\tb\t-1\n`);
        fs.writeFileSync(path.join(root, 'STS-B', 'dev.tsv'), `${STSB_HEAD}\n0\tg\tf\ty\t0\tn\tn\ta\tb\t4\n`);
        return f;
      },
      run: async (root) => {
        const r = smear(['data', 'check', '--setting', 't5', '--data', root, '--tasks', 'stsb']);
        assert.equal(r.status, 1, r.stderr);
        return r.stdout;
      },
      expect: (f) => new RegExp(`${esc(f)}:2: score -1 is outside \\[0, 5\\]`),
    },
    {
      name: 'an empty DomainNet list (smear data check --setting resnet)',
      setup: (root) => {
        fs.mkdirSync(path.join(root, 'clipart'));
        fs.writeFileSync(path.join(root, 'clipart_train.txt'), '');
        fs.writeFileSync(path.join(root, 'clipart_test.txt'), '');
        return path.join(root, 'clipart_test.txt');
      },
      run: async (root) => {
        const r = smear(['data', 'check', '--setting', 'resnet', '--data', root, '--domains', 'clipart']);
        assert.equal(r.status, 1, r.stderr);
        return r.stdout;
      },
      expect: (f) => new RegExp(`clipart\\s+test\\s+${esc(f)}: the list file is empty`),
    },
    {
      name: 'a DomainNet list line with a label out of range (readList)',
      setup: (root) => {
        const f = path.join(root, 'clipart_test.txt');
        fs.writeFileSync(f, 'clipart/cat/a.png 3\nclipart/cat/b.png 345\n');
        return f;
      },
      run: async (root) => (readList(path.join(root, 'clipart_test.txt'), 345), 'no error'),
      expect: (f) => new RegExp(`^${esc(f)}:2: label 345 is out of range \\(expected an integer in \\[0, 345\\)\\)`),
    },
    {
      name: 'a text file named .safetensors (readSafetensors)',
      setup: (root) => {
        const f = path.join(root, 'model.safetensors');
        fs.writeFileSync(f, 'this is a text file, not safetensors\n');
        return f;
      },
      run: async (root) => (await readSafetensors(path.join(root, 'model.safetensors')), 'no error'),
      expect: (f) => new RegExp(esc(f)),
    },
    {
      name: 'a JSON file cut short (readJsonFile)',
      setup: (root) => {
        const f = path.join(root, 'manifest.json');
        fs.writeFileSync(f, '{"params": {"seed": 0');
        return f;
      },
      run: async (root) => (readJsonFile(path.join(root, 'manifest.json')), 'no error'),
      expect: (f) => new RegExp(`^${esc(f)}: not valid JSON \\(`),
    },
    {
      name: 'a folder where a JSON file should be (readJsonObject)',
      setup: (root) => {
        const f = path.join(root, 'config.json');
        fs.mkdirSync(f);
        return f;
      },
      run: async (root) => (readJsonObject(path.join(root, 'config.json')), 'no error'),
      expect: (f) => new RegExp(`^cannot read ${esc(f)}: a folder, not a file$`),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const root = tmp('msg-data-');
      const file = c.setup(root);
      const before = snapshot(root);
      let message: string;
      try {
        message = await c.run(root);
      } catch (e) {
        assert.ok(e instanceof Error, `an Error, not ${String(e)}`);
        message = e.message;
      }
      assert.match(message, c.expect(file));
      assert.deepEqual(snapshot(root), before, 'nothing on disk changed');
    });
  }
});
