/**
 * DomainNet: list parsing, the reference's seed-42 folds (against CPython), the
 * split reader, the data check and `smear data check`, on fixture roots in the
 * real layout (`<domain>/<class>/<file>.png` written with sharp, list files).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { DOMAINS, NUM_CLASSES, listFiles } from '../../kernel-lib/datasets/domainnet/layout';
import { parseListText, readList, writeList } from '../../kernel-lib/datasets/domainnet/lists';
import { computeFolds, makeFolds, pythonReadlines } from '../../kernel-lib/datasets/domainnet/folds';
import { foldCacheDir } from '../../kernel-lib/datasets/domainnet/fold-cache';
import { loadDomainNetSplit } from '../../kernel-lib/datasets/domainnet/reader';
import { checkDomainNet, formatCheckReport } from '../../kernel-lib/datasets/domainnet/check';
import { dataCommand } from '../../kernel-lib/cli/commands/data';

const CLASSES: [string, number][] = [
  ['aircraft_carrier', 0],
  ['zebra', 344],
  ['cat', 57],
];
const nTrain = (k: number) => 10 + 3 * k;
const N_TEST = 3;
const trainLine = (domain: string, i: number) => `${domain}/${CLASSES[i % 3][0]}/${domain}_${String(i).padStart(3, '0')}.png ${CLASSES[i % 3][1]}\n`;
const testLine = (domain: string, i: number) => `${domain}/${CLASSES[i % 3][0]}/${domain}_test_${i}.png ${CLASSES[i % 3][1]}\n`;
const trainText = (domain: string, k: number) => Array.from({ length: nTrain(k) }, (_, i) => trainLine(domain, i)).join('');

/**
 * The README snippet's shuffle of the fixture lists, from `python3 folds_expected.py`
 * (Python 3.11.7), folds_expected.py being:
 *
 *   import random
 *   classes = [('aircraft_carrier', 0), ('zebra', 344), ('cat', 57)]
 *   domains = ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]
 *   random.seed(42)
 *   for k, domain in enumerate(domains):
 *       domain_data = [f"{domain}/{classes[i % 3][0]}/{domain}_{i:03d}.png {classes[i % 3][1]}\n" for i in range(10 + 3 * k)]
 *       random.shuffle(domain_data)
 *       print(f"  {domain}: {{ cut: {int(len(domain_data) * 0.2)}, order: {[int(l.split()[0][-7:-4]) for l in domain_data]} }},")
 *
 * order = original line indices after the shuffle; the first `cut` are the validation fold.
 */
const PY_FOLDS: Record<string, { cut: number; order: number[] }> = {
  clipart: { cut: 2, order: [7, 3, 2, 8, 5, 6, 9, 4, 0, 1] },
  infograph: { cut: 2, order: [11, 7, 2, 12, 5, 4, 8, 3, 1, 10, 0, 6, 9] },
  painting: { cut: 3, order: [11, 14, 10, 8, 15, 1, 12, 5, 6, 2, 0, 4, 9, 7, 3, 13] },
  quickdraw: { cut: 3, order: [14, 10, 17, 5, 2, 13, 15, 6, 1, 8, 7, 0, 18, 4, 9, 16, 11, 3, 12] },
  real: { cut: 4, order: [14, 15, 13, 0, 18, 12, 20, 8, 11, 17, 5, 10, 16, 4, 6, 3, 19, 21, 9, 7, 1, 2] },
  sketch: { cut: 5, order: [15, 4, 18, 16, 1, 9, 2, 6, 21, 11, 3, 0, 20, 19, 13, 10, 22, 24, 8, 12, 14, 5, 7, 23, 17] },
};
function expectedFold(domain: string, which: 'valid' | 'train'): string {
  const { cut, order } = PY_FOLDS[domain];
  const idx = which === 'valid' ? order.slice(0, cut) : order.slice(cut);
  return idx.map((i) => trainLine(domain, i)).join('');
}

/** The reference README's snippet, verbatim, run with python3 in `dir`. */
const README_SNIPPET = `import random

domains = ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]
random.seed(42)

for domain in domains:
    with open(domain + '_train.txt', 'r') as f:
        domain_data = f.readlines()
        random.shuffle(domain_data)
        valid_data = domain_data[0:int(len(domain_data)*0.2)]
        train_data = domain_data[int(len(domain_data)*0.2):]

        with open(domain + '_train_fold.txt', 'w') as f:
            f.write("".join(train_data))
        with open(domain + '_valid_fold.txt', 'w') as f:
            f.write("".join(valid_data))
`;
function runPythonSnippet(dir: string): string | null {
  const r = spawnSync('python3', ['-c', README_SNIPPET], { cwd: dir, encoding: 'utf8' });
  if (r.error || r.status !== 0) return r.error ? r.error.message : `exit ${r.status}: ${r.stderr}`;
  return null;
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-domainnet-'));
  tmpDirs.push(d);
  return d;
}
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function writePng(file: string, seed: number): Promise<void> {
  const w = 5;
  const h = 4;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (seed * 37 + i * 11) & 255;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
}

/** Only the list files (no images): enough for fold tests. */
function writeLists(root: string): void {
  DOMAINS.forEach((d, k) => {
    fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(listFiles(root, d).train, trainText(d, k));
    fs.writeFileSync(listFiles(root, d).test, Array.from({ length: N_TEST }, (_, i) => testLine(d, i)).join(''));
  });
}

/** A complete fixture root: every listed image exists as a small PNG. */
async function makeRoot(): Promise<string> {
  const root = tmpDir();
  writeLists(root);
  const jobs: Promise<void>[] = [];
  DOMAINS.forEach((d, k) => {
    for (let i = 0; i < nTrain(k); i++) jobs.push(writePng(path.join(root, trainLine(d, i).split(' ')[0]), k * 100 + i));
    for (let i = 0; i < N_TEST; i++) jobs.push(writePng(path.join(root, testLine(d, i).split(' ')[0]), k * 100 + 50 + i));
  });
  await Promise.all(jobs);
  return root;
}

const read = (f: string) => fs.readFileSync(f, 'utf8');

describe('DomainNet list files', () => {
  it('parses lines, tolerating CRLF, surrounding whitespace, blank lines and a BOM', () => {
    const text = '\ufeffclipart/cat/a.png 57\r\nclipart/zebra/b.png 344   \r\n\r\n  clipart/cat/c.png\t0\n\n';
    const { entries, problems } = parseListText(text, 'x.txt', NUM_CLASSES);
    assert.deepEqual(problems, []);
    assert.deepEqual(entries, [
      { relPath: 'clipart/cat/a.png', label: 57, line: 1 },
      { relPath: 'clipart/zebra/b.png', label: 344, line: 2 },
      { relPath: 'clipart/cat/c.png', label: 0, line: 4 },
    ]);
  });

  it('a malformed line is an Error naming file:line and the line', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'clipart_train.txt');
    fs.writeFileSync(f, 'clipart/cat/a.png 57\nclipart/cat/b.png 3 extra\n');
    assert.throws(() => readList(f, NUM_CLASSES), (e: Error) => {
      assert.match(e.message, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: malformed line`));
      assert.match(e.message, /expected "<relative\/path> <label>"/);
      assert.match(e.message, /found 3 fields/);
      assert.match(e.message, /"clipart\/cat\/b\.png 3 extra"/);
      return true;
    });
    fs.writeFileSync(f, 'clipart/cat/a.png\n');
    assert.throws(() => readList(f, NUM_CLASSES), /clipart_train\.txt:1: malformed line.*found 1 field:/);
  });

  it('labels outside [0, numClasses) or not integers are Errors naming file:line and the value', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'sketch_test.txt');
    fs.writeFileSync(f, 'sketch/cat/a.png 1\nsketch/cat/b.png 2\nsketch/cat/c.png 345\nsketch/cat/d.png -1\n');
    assert.throws(() => readList(f, NUM_CLASSES), /sketch_test\.txt:3: label 345 is out of range \(expected an integer in \[0, 345\)\).*and 1 more problem line/);
    fs.writeFileSync(f, 'sketch/cat/a.png 1.5\n');
    assert.throws(() => readList(f, NUM_CLASSES), /sketch_test\.txt:1: label "1\.5" is not an integer/);
    fs.writeFileSync(f, 'sketch/cat/a.png 7\n');
    assert.throws(() => readList(f, 5), /sketch_test\.txt:1: label 7 is out of range \(expected an integer in \[0, 5\)\)/);
    fs.writeFileSync(f, '/abs/a.png 7\n');
    assert.throws(() => readList(f, NUM_CLASSES), /sketch_test\.txt:1: path "\/abs\/a\.png" must be relative/);
  });

  it('a missing list file is an Error naming it', () => {
    assert.throws(() => readList('/nonexistent/real_test.txt', NUM_CLASSES), /cannot read list file \/nonexistent\/real_test\.txt: no such file/);
  });

  it('writeList writes atomically (no temporary file left) and reads back', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'out.txt');
    writeList(f, [
      { relPath: 'real/cat/a.png', label: 57 },
      { relPath: 'real/zebra/b.png', label: 344 },
    ]);
    assert.equal(read(f), 'real/cat/a.png 57\nreal/zebra/b.png 344\n');
    assert.deepEqual(fs.readdirSync(dir), ['out.txt']);
    assert.deepEqual(readList(f, NUM_CLASSES).map((e) => e.label), [57, 344]);
    assert.throws(() => writeList(f, [{ relPath: 'a b.png', label: 1 }]), /out\.txt: path "a b\.png" is empty or contains whitespace/);
  });
});

describe('DomainNet folds (the reference README snippet)', () => {
  it('pythonReadlines keeps "\\n", translates CRLF/CR and keeps a last line without newline', () => {
    assert.deepEqual(pythonReadlines('a 1\r\nb 2\rc 3\n\nd 4'), ['a 1\n', 'b 2\n', 'c 3\n', '\n', 'd 4']);
    assert.deepEqual(pythonReadlines(''), []);
  });

  it('writes the fold files CPython writes (embedded values)', () => {
    const root = tmpDir();
    writeLists(root);
    const summary = makeFolds(root);
    assert.deepEqual(
      summary.map((s) => [s.domain, s.lines, s.valid, s.train, s.source]),
      DOMAINS.map((d, k) => [d, nTrain(k), PY_FOLDS[d].cut, nTrain(k) - PY_FOLDS[d].cut, 'written']),
    );
    for (const d of DOMAINS) {
      assert.equal(read(listFiles(root, d).validFold), expectedFold(d, 'valid'), `${d} valid fold`);
      assert.equal(read(listFiles(root, d).trainFold), expectedFold(d, 'train'), `${d} train fold`);
    }
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.includes('.tmp-')), []);
  });

  it('writes byte-identical fold files to the README snippet run live in python3 (plain and CRLF/whitespace/blank-line lists)', (t) => {
    for (const messy of [false, true]) {
      const ours = tmpDir();
      writeLists(ours);
      if (messy) {
        // CRLF ends, trailing spaces, a blank line in the middle: readlines() shuffles the blank line too
        const lines = trainText('clipart', 0).split('\n').filter(Boolean);
        fs.writeFileSync(listFiles(ours, 'clipart').train, `${lines.slice(0, 4).join('  \r\n')}\r\n\r\n${lines.slice(4).join('\r\n')}\r\n`);
        fs.writeFileSync(listFiles(ours, 'painting').train, trainText('painting', 2).replace(/\n/g, ' \t\n'));
      }
      const py = tmpDir();
      for (const d of DOMAINS) fs.copyFileSync(listFiles(ours, d).train, listFiles(py, d).train);
      const err = runPythonSnippet(py);
      if (err !== null) {
        t.skip(`python3 not runnable here (${err}); the embedded CPython values are checked in the previous test`);
        return;
      }
      makeFolds(ours);
      for (const d of DOMAINS) {
        for (const k of ['trainFold', 'validFold'] as const) {
          assert.ok(fs.readFileSync(listFiles(ours, d)[k]).equals(fs.readFileSync(listFiles(py, d)[k])), `${messy ? 'messy ' : ''}${d} ${k} differs from python3's`);
        }
      }
      if (messy) {
        // the blank line is a shuffled element; the reader skips it
        const train = loadDomainNetSplit(ours, 'train', { domains: ['clipart'] });
        const valid = loadDomainNetSplit(ours, 'valid', { domains: ['clipart'] });
        assert.equal(train.length + valid.length, 10);
      }
    }
  });

  it('a list whose last line lacks a newline splits the same way (that line gets its newline)', () => {
    const root = tmpDir();
    writeLists(root);
    fs.writeFileSync(listFiles(root, 'clipart').train, trainText('clipart', 0).replace(/\n$/, ''));
    makeFolds(root, { domains: ['clipart'] });
    assert.equal(read(listFiles(root, 'clipart').validFold), expectedFold('clipart', 'valid'));
    assert.equal(read(listFiles(root, 'clipart').trainFold), expectedFold('clipart', 'train'));
  });

  it('uses existing fold files as they are and still gives later domains the reference split', () => {
    const root = tmpDir();
    writeLists(root);
    const f = listFiles(root, 'clipart');
    const customValid = trainLine('clipart', 0) + trainLine('clipart', 1);
    const customTrain = Array.from({ length: 8 }, (_, i) => trainLine('clipart', i + 2)).join('');
    fs.writeFileSync(f.validFold, customValid);
    fs.writeFileSync(f.trainFold, customTrain);
    const old = new Date(2000, 0, 1);
    fs.utimesSync(f.validFold, old, old);
    const summary = makeFolds(root);
    assert.equal(summary[0].source, 'existing');
    assert.deepEqual(summary.slice(1).map((s) => s.source), ['written', 'written', 'written', 'written', 'written']);
    assert.equal(read(f.validFold), customValid);
    assert.equal(read(f.trainFold), customTrain);
    assert.equal(fs.statSync(f.validFold).mtime.getTime(), old.getTime(), 'existing fold file was rewritten');
    for (const d of DOMAINS.slice(1)) assert.equal(read(listFiles(root, d).validFold), expectedFold(d, 'valid'), d);
    // a second call rewrites nothing
    assert.deepEqual(makeFolds(root).map((s) => s.source), DOMAINS.map(() => 'existing'));
  });

  it('a subset of domains walks the earlier ones (train lists, or fold files when the list is gone)', () => {
    const root = tmpDir();
    writeLists(root);
    makeFolds(root, { domains: ['sketch'] });
    assert.equal(read(listFiles(root, 'sketch').validFold), expectedFold('sketch', 'valid'));
    assert.equal(fs.existsSync(listFiles(root, 'clipart').validFold), false, 'only the requested domain is written');

    makeFolds(root, { domains: ['clipart'] });
    fs.rmSync(listFiles(root, 'clipart').train);
    fs.rmSync(listFiles(root, 'sketch').validFold);
    fs.rmSync(listFiles(root, 'sketch').trainFold);
    makeFolds(root, { domains: ['sketch'] });
    assert.equal(read(listFiles(root, 'sketch').trainFold), expectedFold('sketch', 'train'));

    fs.rmSync(listFiles(root, 'clipart').validFold);
    assert.throws(
      () => computeFolds(root, { domains: ['real'] }),
      (e: Error) => {
        assert.match(e.message, /cannot reproduce the reference split for real/);
        assert.match(e.message, /one random\.seed\(42\) stream in the order clipart, infograph/);
        assert.match(e.message, new RegExp(`neither ${listFiles(root, 'clipart').train.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        assert.match(e.message, /should look like/);
        return true;
      },
    );
  });

  it('one fold file alone: the other is written only if the existing one is the reference split', () => {
    const root = tmpDir();
    writeLists(root);
    const f = listFiles(root, 'clipart');
    fs.writeFileSync(f.validFold, expectedFold('clipart', 'valid'));
    makeFolds(root, { domains: ['clipart'] });
    assert.equal(read(f.trainFold), expectedFold('clipart', 'train'));
    fs.rmSync(f.trainFold);
    fs.writeFileSync(f.validFold, trainLine('clipart', 0));
    assert.throws(() => makeFolds(root, { domains: ['clipart'] }), /clipart_valid_fold\.txt exists but .*clipart_train_fold\.txt does not, and .* is not what the reference split/);
  });

  it('rejects bad options and a missing train list, naming them', () => {
    const root = tmpDir();
    writeLists(root);
    assert.throws(() => makeFolds(root, { domains: ['photo'] }), /option 'domains' has unknown domain "photo"; expected some of clipart, infograph/);
    assert.throws(() => makeFolds(root, { validFraction: 1.5 }), /option 'validFraction' must be in \[0, 1\] \(0\.2 in the reference\); got 1\.5/);
    assert.throws(() => makeFolds(root, { seed: 0.5 }), /option 'seed' must be an integer/);
    fs.rmSync(listFiles(root, 'clipart').train);
    assert.throws(() => makeFolds(root, { domains: ['clipart'] }), /clipart_train\.txt not found, and the fold files .* are not both there either/);
  });
});

describe('loadDomainNetSplit', () => {
  let root = '';
  before(async () => {
    root = await makeRoot();
  });

  it('train/valid come from the fold files (made on first use), test from <domain>_test.txt', () => {
    const valid = loadDomainNetSplit(root, 'valid');
    // Issue 12: the fold files are made in the fold cache, not in the dataset folder (was: in the dataset folder).
    assert.ok(!fs.existsSync(listFiles(root, 'real').validFold), 'the dataset folder is not written');
    assert.ok(fs.existsSync(foldCacheDir(root).dir), 'fold files were made in the cache');
    const train = loadDomainNetSplit(root, 'train');
    const test = loadDomainNetSplit(root, 'test');
    const total = DOMAINS.reduce((s, _, k) => s + nTrain(k), 0);
    assert.equal(valid.length, DOMAINS.reduce((s, d) => s + PY_FOLDS[d].cut, 0));
    assert.equal(train.length + valid.length, total);
    assert.equal(test.length, DOMAINS.length * N_TEST);
    // first validation sample = clipart's first shuffled line
    const i = PY_FOLDS.clipart.order[0];
    const relPath = trainLine('clipart', i).split(' ')[0];
    assert.deepEqual(valid[0], { path: path.join(root, relPath), relPath, label: CLASSES[i % 3][1], domain: 0, list: path.join(foldCacheDir(root).dir, 'clipart_valid_fold.txt'), line: 1 });
    assert.deepEqual([...new Set(test.map((s) => s.domain))], [0, 1, 2, 3, 4, 5]);
    for (const s of [...train, ...valid, ...test]) {
      assert.ok(path.isAbsolute(s.path) && fs.existsSync(s.path), s.path);
      assert.equal(s.relPath.split('/')[0], DOMAINS[s.domain]);
    }
    assert.deepEqual(new Set(train.map((s) => s.label)), new Set([0, 344, 57]));
  });

  it('a subset keeps the reference domain ids and order', () => {
    const s = loadDomainNetSplit(root, 'test', { domains: ['sketch', 'real'] });
    assert.deepEqual(s.map((x) => x.domain), [5, 5, 5, 4, 4, 4]);
  });

  it('a missing domain folder, root or test list is an Error naming the path and the layout', () => {
    const bad = tmpDir();
    writeLists(bad);
    fs.rmSync(path.join(bad, 'painting'), { recursive: true });
    assert.throws(() => loadDomainNetSplit(bad, 'test'), (e: Error) => {
      assert.match(e.message, new RegExp(`domain folder for 'painting' ${path.join(bad, 'painting').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
      assert.match(e.message, /should look like/);
      assert.match(e.message, /clipart_train\.txt, clipart_test\.txt {3}official lists/);
      return true;
    });
    assert.throws(() => loadDomainNetSplit(path.join(bad, 'nope'), 'train'), /root folder .*nope does not exist/);
    fs.rmSync(listFiles(bad, 'real').test);
    assert.throws(() => loadDomainNetSplit(bad, 'test', { domains: ['real'] }), /test list .*real_test\.txt not found\.\nA DomainNet root/);
    assert.throws(() => loadDomainNetSplit(bad, 'train', { domains: ['real'], makeFolds: false }), /real_train_fold\.txt .* absent and option makeFolds is false/);
    assert.throws(() => loadDomainNetSplit(bad, 'dev' as 'train'), /split must be one of train, valid, test; got "dev"/);
  });

  it('label problems surface from the reader with file:line', () => {
    const bad = tmpDir();
    writeLists(bad);
    fs.appendFileSync(listFiles(bad, 'quickdraw').test, 'quickdraw/cat/x.png 400\n');
    assert.throws(() => loadDomainNetSplit(bad, 'test'), /quickdraw_test\.txt:4: label 400 is out of range/);
  });
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await fn();
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** Every file under a folder with its size and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out[path.relative(dir, p)] = `${st.size}@${st.mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

describe('checkDomainNet and `smear data check`', () => {
  it('a complete root is clean: per domain and split images and classes; folds absent, then the reference split', async () => {
    const root = await makeRoot();
    const r = await checkDomainNet(root);
    assert.equal(r.ok, true, formatCheckReport(r));
    assert.equal(r.splits.length, 18);
    const clip = r.splits.filter((s) => s.domain === 'clipart');
    assert.deepEqual(clip.map((s) => [s.split, s.source, s.images, s.classes, s.missing, s.unreadable]), [
      ['train', 'computed', 8, 3, 0, 0],
      ['valid', 'computed', 2, 2, 0, 0], // lines 7 and 3: classes 1 and 0
      ['test', 'file', 3, 3, 0, 0],
    ]);
    assert.deepEqual(r.folds.map((f) => f.status), DOMAINS.map(() => 'absent'));
    assert.equal(fs.existsSync(listFiles(root, 'clipart').validFold), false, 'the check writes nothing');
    makeFolds(root);
    const r2 = await checkDomainNet(root, { decode: true });
    assert.deepEqual(r2.folds.map((f) => f.status), DOMAINS.map(() => 'reference'));
    assert.equal(r2.ok, true);

    const cli = await capture(() => dataCommand.run({ values: { setting: 'resnet', data: root }, positionals: ['check'] }));
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /domain\s+split\s+list\s+images\s+classes\s+missing\s+unreadable/);
    assert.match(cli.stdout, /sketch\s+valid\s+sketch_valid_fold\.txt\s+5\s+/);
    assert.match(cli.stdout, /OK: no problems found\./);
  });

  it('reports a missing image, a corrupt image, a truncated image (by its end marker), a bad label and a missing list', async () => {
    const root = await makeRoot();
    makeFolds(root);
    const missing = path.join(root, trainLine('painting', 4).split(' ')[0]);
    fs.rmSync(missing);
    const corrupt = path.join(root, testLine('real', 1).split(' ')[0]);
    fs.writeFileSync(corrupt, 'this is not a PNG');
    const truncated = path.join(root, testLine('infograph', 0).split(' ')[0]);
    const png = fs.readFileSync(truncated);
    fs.writeFileSync(truncated, png.subarray(0, png.length - 20)); // header intact, image data cut short
    fs.appendFileSync(listFiles(root, 'clipart').test, 'clipart/cat/extra.png 999\n');
    fs.rmSync(listFiles(root, 'sketch').test);

    const r = await checkDomainNet(root);
    assert.equal(r.ok, false);
    assert.deepEqual(r.emptySplits, []);
    const painting = `${listFiles(root, 'painting').train}:5`;
    assert.deepEqual(
      r.missingFiles.map((m) => [m.kind, m.path, m.referencedBy]),
      [
        ['image', missing, painting],
        ['list file', listFiles(root, 'sketch').test, undefined],
      ],
    );
    assert.deepEqual(r.unreadableImages.map((u) => u.path), [truncated, corrupt]);
    assert.match(r.unreadableImages[0].error, new RegExp(`^truncated PNG: no IEND chunk at its end \\(the file ends after ${png.length - 20} bytes\\) \\(--decode decodes every image fully\\)$`));
    assert.equal(r.unreadableImages[0].referencedBy, `${listFiles(root, 'infograph').test}:1`);
    assert.match(r.unreadableImages[1].error, /unsupported image format/);
    assert.equal(r.unreadableImages[1].referencedBy, `${listFiles(root, 'real').test}:2`);
    assert.equal(r.badLines.length, 1);
    assert.equal(r.badLines[0].file, listFiles(root, 'clipart').test);
    assert.equal(r.badLines[0].line, 4);
    assert.match(r.badLines[0].message, /label 999 is out of range/);
    assert.equal(r.problems, 5);
    const paintingSplit = r.splits.filter((s) => s.domain === 'painting' && s.missing > 0).map((s) => s.split);
    assert.equal(paintingSplit.length, 1, 'the missing image is counted in the fold that holds it');
    assert.deepEqual(r.splits.find((s) => s.domain === 'sketch' && s.split === 'test')?.source, 'unavailable');

    const text = formatCheckReport(r);
    assert.match(text, /missing files \(2\):/);
    assert.match(text, new RegExp(`image\\s+${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+\\(listed at .*painting_train\\.txt:5\\)`));
    assert.match(text, /images checked by header and end marker \(--decode: full decode\)/);
    assert.match(text, /unreadable images \(2\):/);
    assert.match(text, /bad list lines \(1\):\n {2}.*clipart_test\.txt:4: label 999 is out of range.*"clipart\/cat\/extra\.png 999"/);
    assert.match(text, /5 problems found\./);

    const decoded = await checkDomainNet(root, { decode: true });
    assert.deepEqual(decoded.unreadableImages.map((u) => u.path).sort(), [corrupt, truncated].sort());

    const cli = await capture(() => dataCommand.run({ values: { setting: 'resnet', data: root, json: true, decode: true }, positionals: ['check'] }));
    assert.equal(cli.code, 1);
    const json = JSON.parse(cli.stdout);
    assert.equal(json.ok, false);
    assert.equal(json.problems, 5);
    assert.equal(json.decode, true);
  });

  it('an image damaged inside (its end marker intact) passes the header check and fails --decode', async () => {
    const root = await makeRoot();
    const damaged = path.join(root, testLine('clipart', 2).split(' ')[0]);
    const png = Buffer.from(fs.readFileSync(damaged));
    const idat = png.indexOf('IDAT', 0, 'latin1');
    for (let i = idat + 4; i < idat + 14; i++) png[i] ^= 0x5a; // compressed pixel data (and its CRC) garbled
    fs.writeFileSync(damaged, png);
    const header = await checkDomainNet(root, { domains: ['clipart'] });
    assert.equal(header.ok, true, formatCheckReport(header));
    const decoded = await checkDomainNet(root, { domains: ['clipart'], decode: true });
    assert.deepEqual(decoded.unreadableImages.map((u) => u.path), [damaged]);
    assert.match(formatCheckReport(decoded), /images checked by full decode/);
  });

  it('truncation by the header: JPEG end marker, GIF trailer, WebP and BMP sizes; whole files pass', async () => {
    const { truncation } = await import('../../kernel-lib/datasets/domainnet/check');
    const dir = tmpDir();
    const px = Buffer.alloc(8 * 6 * 3, 120);
    const img = () => sharp(px, { raw: { width: 8, height: 6, channels: 3 } });
    const files: [string, Buffer][] = [
      ['a.jpg', await img().jpeg().toBuffer()],
      ['a.gif', await img().gif().toBuffer()],
      ['a.webp', await img().webp().toBuffer()],
      ['a.png', await img().png().toBuffer()],
    ];
    const bmp = Buffer.alloc(54 + 8 * 6 * 4);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(bmp.length, 2);
    files.push(['a.bmp', bmp]);
    for (const [name, whole] of files) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, whole);
      assert.equal(await truncation(f, whole.length), null, `${name} whole`);
      const cut = whole.subarray(0, whole.length - 7);
      fs.writeFileSync(f, cut);
      assert.match((await truncation(f, cut.length)) ?? 'passed', new RegExp(`^truncated ${name.slice(2).toUpperCase().replace('JPG', 'JPEG').replace('WEBP', 'WebP')}: .*the file ends after ${cut.length} bytes`), name);
    }
    // JPEG with bytes after its end marker (some cameras pad): whole.
    const f = path.join(dir, 'padded.jpg');
    const padded = Buffer.concat([files[0][1], Buffer.alloc(100)]);
    fs.writeFileSync(f, padded);
    assert.equal(await truncation(f, padded.length), null);
  });

  it('an empty list, a list whose every line is bad, and a domain without examples fail the check', async () => {
    const root = await makeRoot();
    const clip = listFiles(root, 'clipart');
    const sketch = listFiles(root, 'sketch');
    const real = listFiles(root, 'real');
    fs.writeFileSync(clip.test, '\n\n'); // blank lines only
    fs.writeFileSync(sketch.train, '');
    fs.writeFileSync(sketch.test, '');
    fs.writeFileSync(real.test, 'real/cat/x.png -1\nreal/cat/y.png\n');
    const before = snapshot(root);
    const r = await checkDomainNet(root);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.emptySplits.map((e) => [e.domain, e.split, path.basename(e.listFile), e.reason.split(':')[0]]),
      [
        ['clipart', 'test', 'clipart_test.txt', 'the list file is empty'],
        ['real', 'test', 'real_test.txt', 'no examples'],
        ['sketch', 'train', 'sketch_train_fold.txt', 'no examples'],
        ['sketch', 'valid', 'sketch_valid_fold.txt', 'no examples'],
        ['sketch', 'test', 'sketch_test.txt', 'the list file is empty'],
      ],
    );
    assert.deepEqual(r.emptyDomains, ['sketch']);
    assert.equal(r.badLines.length, 2);
    assert.equal(r.problems, 5 + 2);
    const text = formatCheckReport(r);
    assert.match(text, /empty splits \(5\):\n {2}clipart\s+test\s+\S+clipart_test\.txt: the list file is empty/);
    assert.match(text, /sketch\s+train\s+\S+sketch_train_fold\.txt: no examples: the split computed from \S+sketch_train\.txt is empty/);
    assert.match(text, /domains without any example \(training would leave them out\): sketch/);
    const cli = await capture(() => dataCommand.run({ values: { setting: 'resnet', data: root }, positionals: ['check'] }));
    assert.equal(cli.code, 1);
    assert.match(cli.stdout, /7 problems found\./);
    assert.deepEqual(snapshot(root), before, 'the check writes nothing');
  });

  it('folds that differ from the reference split are reported but used', async () => {
    const root = tmpDir();
    writeLists(root);
    const f = listFiles(root, 'clipart');
    fs.writeFileSync(f.validFold, trainLine('clipart', 0));
    fs.writeFileSync(f.trainFold, Array.from({ length: 9 }, (_, i) => trainLine('clipart', i + 1)).join(''));
    const r = await checkDomainNet(root, { domains: ['clipart'] });
    assert.equal(r.folds[0].status, 'differs');
    assert.equal(r.splits[1].images, 1);
  });

  it('the command rejects bad usage with exit 2 and a message naming the option', async () => {
    const cases: [Record<string, string | boolean>, string[], RegExp][] = [
      [{ setting: 'resnet', data: '/x' }, [], /missing subcommand; expected `check`/],
      [{ setting: 'resnet', data: '/x' }, ['fix'], /unknown subcommand 'fix'/],
      [{ data: '/x' }, ['check'], /option --setting is required/],
      [{ setting: 'vit', data: '/x' }, ['check'], /--setting must be 'resnet' \(DomainNet\) or 't5' \(GLUE\); got 'vit'/],
      [{ setting: 'resnet' }, ['check'], /option --data <DomainNet root> is required/],
      [{ setting: 'resnet', data: '/x', domains: 'clipart,photo' }, ['check'], /unknown domain "photo"/],
    ];
    for (const [values, positionals, re] of cases) {
      const r = await capture(() => dataCommand.run({ values, positionals }));
      assert.equal(r.code, 2, JSON.stringify(values));
      assert.match(r.stderr, re);
      assert.match(r.stderr, /usage: smear data check --setting resnet --data/);
    }
    const r = await capture(() => dataCommand.run({ values: { setting: 'resnet', data: '/nonexistent-domainnet' }, positionals: ['check'] }));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /root folder\s+\/nonexistent-domainnet/);
  });
});
