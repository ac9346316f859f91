/**
 * The user's data folders are read-only, and caches know their data (issue 12,
 * item 4): DomainNet folds are made in a cache folder keyed by a hash of the
 * lists (the dataset folder is not written, also when the run then fails);
 * fold files already in the dataset folder are used as the reference does,
 * named when they are not the current list's split; changed lists get new
 * folds and are named; a fixed list no longer trips over a fold file an
 * earlier failed run wrote; the ResNet mini backbone's cache name carries a
 * hash of the data it is pretrained on.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateMiniDomainNet } from '../../kernel-lib/datasets/mini-domainnet/generate';
import { loadDomainNetSplit } from '../../kernel-lib/datasets/domainnet/reader';
import { listFiles } from '../../kernel-lib/datasets/domainnet/layout';
import { makeFolds } from '../../kernel-lib/datasets/domainnet/folds';
import { foldCacheDir, resolveFoldFiles } from '../../kernel-lib/datasets/domainnet/fold-cache';
import { miniBackbonePath, pretrainDataTag } from '../../kernel-lib/settings/resnet/pretrain';
import { resolveResNetConfig } from '../../kernel-lib/settings/resnet/config';

const dirs: string[] = [];
const tmp = (p: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), p));
  dirs.push(d);
  return d;
};
let savedCache: string | undefined;
after(() => {
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
  if (savedCache === undefined) delete process.env.SMEAR_CACHE_DIR;
  else process.env.SMEAR_CACHE_DIR = savedCache;
});

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16)}@${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

let pristine = '';
const copy = () => {
  const root = path.join(tmp('folds-data-'), 'dn');
  fs.cpSync(pristine, root, { recursive: true });
  return root;
};

describe('DomainNet folds go to a cache keyed by the lists', () => {
  before(async () => {
    savedCache = process.env.SMEAR_CACHE_DIR;
    process.env.SMEAR_CACHE_DIR = tmp('folds-cache-');
    pristine = path.join(tmp('folds-pristine-'), 'dn');
    await generateMiniDomainNet(pristine, { trainPerDomain: 10, testPerDomain: 2 });
  });

  it('loading train and valid writes nothing into the dataset folder; the folds and a manifest of the lists are in the cache', () => {
    const root = copy();
    const before = snapshot(root);
    const valid = loadDomainNetSplit(root, 'valid', { numClasses: 10 });
    const train = loadDomainNetSplit(root, 'train', { numClasses: 10 });
    assert.deepEqual(snapshot(root), before, 'the dataset folder is unchanged');
    const { dir } = foldCacheDir(root);
    assert.equal(valid[0].list, path.join(dir, 'clipart_valid_fold.txt'));
    assert.equal(train.length + valid.length, 60);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.root, root);
    assert.equal(manifest.lists.clipart, createHash('sha256').update(fs.readFileSync(listFiles(root, 'clipart').train)).digest('hex'));
    // The same folds as the reference's split written into the folder (makeFolds, when asked).
    const asked = copy();
    makeFolds(asked);
    assert.equal(fs.readFileSync(path.join(dir, 'clipart_valid_fold.txt'), 'utf8'), fs.readFileSync(listFiles(asked, 'clipart').validFold, 'utf8'));
    assert.deepEqual(loadDomainNetSplit(asked, 'valid', { numClasses: 10 }).map((s) => s.relPath), valid.map((s) => s.relPath));
  });

  it('fold files in the dataset folder are used as they are, and named when they are not the current list’s split', () => {
    const root = copy();
    makeFolds(root, { domains: ['clipart'] });
    const f = listFiles(root, 'clipart');
    // A list that changed after its folds were made.
    fs.appendFileSync(f.train, `${fs.readFileSync(f.train, 'utf8').split('\n')[0]}\n`);
    const before = snapshot(root);
    const { files, notes } = resolveFoldFiles(root, ['clipart', 'sketch']);
    assert.deepEqual(files.clipart, { trainFold: f.trainFold, validFold: f.validFold, where: 'dataset' });
    assert.equal(files.sketch.where, 'cache');
    assert.ok(notes.some((n) => n === `DomainNet folds: ${f.trainFold} / ${f.validFold} are not the reference split of the current ${f.train} (the list changed since they were made, or they were made otherwise); they are used as they are, as the reference does. Remove them to use folds of the current list.`), notes.join('\n'));
    assert.equal(loadDomainNetSplit(root, 'valid', { numClasses: 10, domains: ['clipart'] })[0].list, f.validFold);
    assert.deepEqual(snapshot(root), before);
  });

  it('changed lists get new folds and are named; a fixed list does not trip over what a failed run left', () => {
    const root = copy();
    const f = listFiles(root, 'painting');
    const good = fs.readFileSync(f.train, 'utf8');
    // A broken list: the run fails on it, naming the line (of the fold made from it).
    fs.writeFileSync(f.train, `${good}painting/0/missing-label.png\n`);
    assert.throws(() => loadDomainNetSplit(root, 'train', { numClasses: 10 }), /painting_(train|valid)_fold\.txt:\d+: .*"painting\/0\/missing-label\.png"/);
    const broken = foldCacheDir(root).dir;
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.includes('_fold')), [], 'the failed run wrote nothing into the dataset folder');
    // Fixed: new folds, the change named.
    fs.writeFileSync(f.train, good);
    const { notes } = resolveFoldFiles(root, ['painting']);
    const fixed = foldCacheDir(root).dir;
    assert.notEqual(fixed, broken);
    assert.ok(notes.includes(`DomainNet lists changed since folds were last made for ${root}: ${f.train}; the folds of the current lists are in ${fixed}`), notes.join('\n'));
    assert.equal(loadDomainNetSplit(root, 'train', { numClasses: 10 }).length, 48);
  });

  it('the ResNet mini backbone cache is keyed by the data it is pretrained on (not by where the folder is)', () => {
    const a = copy();
    const b = copy();
    const cfg = (root: string) => resolveResNetConfig({ method: 'dense', data: { root } });
    assert.equal(path.basename(miniBackbonePath(cfg(a))), path.basename(miniBackbonePath(cfg(b))), 'a copy elsewhere is the same data');
    const other = path.join(tmp('folds-other-'), 'dn');
    fs.cpSync(pristine, other, { recursive: true });
    const img = loadDomainNetSplit(other, 'train', { numClasses: 10 })[0].path;
    fs.appendFileSync(img, Buffer.alloc(7));
    assert.notEqual(miniBackbonePath(cfg(other)), miniBackbonePath(cfg(a)), 'other images: another backbone');
    assert.match(path.basename(miniBackbonePath(cfg(a))), /^resnet18-imagenet-w32-64-128-256-32px-s42-400x64-lr0\.002-data[0-9a-f]{8}\.safetensors$/);
    assert.equal(pretrainDataTag([]), createHash('sha256').digest('hex').slice(0, 8));
  });
});
