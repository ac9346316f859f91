import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../../kernel-lib/util/rng';
import {
  generateMiniDomainNet,
  isMiniDomainNetComplete,
  DEFAULT_MINI_DOMAINNET_DIR,
  MANIFEST_FILE,
  PARTIAL_MARKER,
  CLASS_NAMES,
  MINI_DOMAINS,
  renderMiniDomainNetImage,
  transformDigit,
  transformSquare,
  placeDigit,
  loadMnistDigits,
  splitSources,
  digitPixels,
} from '../../kernel-lib/datasets/mini-domainnet';

const SMALL = { trainPerDomain: 30, testPerDomain: 20, size: 32, seed: 7 };

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-domainnet-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)).map((f) => path.join(e.name, f)) : [e.name]))
    .sort();
}

function readList(root: string, domain: string, split: 'train' | 'test'): { rel: string; label: number }[] {
  return fs
    .readFileSync(path.join(root, `${domain}_${split}.txt`), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [rel, label, ...rest] = l.split(' ');
      assert.equal(rest.length, 0, `one space per line: '${l}'`);
      return { rel, label: Number(label) };
    });
}

async function decode(file: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Mean RGB over a 4×4 grid of blocks: 48 features. */
function blockColours(rgb: Uint8Array | Buffer, size: number): number[] {
  const g = 4;
  const f = new Array<number>(g * g * 3).fill(0);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const b = Math.floor((y * g) / size) * g + Math.floor((x * g) / size);
      for (let k = 0; k < 3; k++) f[b * 3 + k] += rgb[(y * size + x) * 3 + k] / 255 / ((size / g) * (size / g));
    }
  }
  return f;
}

function nearest(centroids: number[][], v: number[]): number {
  let best = -1;
  let bestD = Infinity;
  centroids.forEach((c, i) => {
    const d = c.reduce((a, ci, j) => a + (ci - v[j]) ** 2, 0);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

describe('mini-domainnet render', () => {
  const classes = loadMnistDigits();
  const digit = digitPixels(classes[6], 0);

  it('reads the real MNIST digits of the mnist package (10,000, 28×28 in [0, 1])', () => {
    assert.equal(classes.length, 10);
    assert.equal(classes.reduce((a, c) => a + c.count, 0), 10000);
    for (const c of classes) {
      assert.equal(c.pixels.length, c.count * 784);
      assert.ok(c.pixels.every((v) => v >= 0 && v <= 1));
    }
  });

  it('splits each class into disjoint train and test pools, deterministically', () => {
    const a = splitSources(classes, new Rng(1));
    const b = splitSources(classes, new Rng(1));
    for (let c = 0; c < 10; c++) {
      assert.deepEqual(a.train[c], b.train[c]);
      assert.deepEqual(a.test[c], b.test[c]);
      const test = new Set(a.test[c]);
      assert.ok(a.train[c].every((i) => !test.has(i)));
      assert.equal(a.train[c].length + a.test[c].length, classes[c].count);
      assert.equal(new Set([...a.train[c], ...a.test[c]]).size, classes[c].count);
    }
    assert.notDeepEqual(splitSources(classes, new Rng(2)).test[0], a.test[0]);
  });

  it('is a pure function of (digit, domain, rng state, size) and returns size·size·3 bytes', () => {
    for (let d = 0; d < 6; d++) {
      const x = renderMiniDomainNetImage(digit, d, new Rng(3), 32);
      assert.equal(x.length, 32 * 32 * 3);
      assert.deepEqual(renderMiniDomainNetImage(digit, MINI_DOMAINS[d], new Rng(3), 32), x);
      assert.notDeepEqual(renderMiniDomainNetImage(digit, d, new Rng(4), 32), x);
    }
    assert.equal(renderMiniDomainNetImage(digit, 'sketch', new Rng(3), 20).length, 20 * 20 * 3);
    assert.throws(() => renderMiniDomainNetImage(digit.subarray(1), 0, new Rng(1)), /784/);
    assert.throws(() => renderMiniDomainNetImage(digit, 6, new Rng(1)), /domain id/);
    assert.throws(() => renderMiniDomainNetImage(digit, 'photo' as never, new Rng(1)), /unknown domain/);
    assert.throws(() => renderMiniDomainNetImage(digit, 0, new Rng(1), 4), /size/);
  });

  it('applies the documented D4 transforms (rot90 clockwise) and all six differ on a real digit', () => {
    const sq = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    assert.deepEqual(Array.from(transformSquare(sq, 3, 'rot90')), [7, 4, 1, 8, 5, 2, 9, 6, 3]);
    assert.deepEqual(Array.from(transformSquare(sq, 3, 'rot180')), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(Array.from(transformSquare(sq, 3, 'rot270')), [3, 6, 9, 2, 5, 8, 1, 4, 7]);
    assert.deepEqual(Array.from(transformSquare(sq, 3, 'flipud')), [7, 8, 9, 4, 5, 6, 1, 2, 3]);
    assert.deepEqual(Array.from(transformSquare(sq, 3, 'transpose')), [1, 4, 7, 2, 5, 8, 3, 6, 9]);
    const t = MINI_DOMAINS.map((d) => transformDigit(digit, d));
    for (let i = 0; i < 6; i++) {
      for (let j = i + 1; j < 6; j++) {
        const l1 = t[i].reduce((a, v, k) => a + Math.abs(v - t[j][k]), 0);
        assert.ok(l1 > 20, `${MINI_DOMAINS[i]} vs ${MINI_DOMAINS[j]}: L1 ${l1}`);
      }
    }
    // Under a left-right flip the pairs painting/real and quickdraw/sketch coincide (documented).
    const fliplr = (x: Float32Array) => Float32Array.from(x, (_, k) => x[Math.floor(k / 28) * 28 + (27 - (k % 28))]);
    assert.deepEqual(fliplr(t[2]), t[4]);
    assert.deepEqual(fliplr(t[3]), t[5]);
  });

  it('makes the class depend on the domain: digit templates learned in one domain fail in another', () => {
    // Style-free digit shapes (the placed, transformed digit). Nearest class mean
    // trained on clipart (identity) recognises clipart test digits, not painting
    // (rot180) or quickdraw (rot90) ones.
    const split = splitSources(classes, new Rng(5));
    const rng = new Rng(6);
    const shape = (c: number, i: number, d: number) => Array.from(placeDigit(transformDigit(digitPixels(classes[c], i), d), 16, rng.fork()));
    const centroids: number[][] = [];
    for (let c = 0; c < 10; c++) {
      const xs = Array.from(split.train[c].subarray(0, 40), (i) => shape(c, i, 0));
      centroids.push(xs[0].map((_, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length));
    }
    const accuracy = (d: number) => {
      let ok = 0;
      for (let c = 0; c < 10; c++) for (const i of split.test[c].subarray(0, 20)) ok += nearest(centroids, shape(c, i, d)) === c ? 1 : 0;
      return ok / 200;
    };
    const same = accuracy(0);
    assert.ok(same > 0.6, `clipart → clipart ${same}`);
    for (const d of [2, 3]) {
      const other = accuracy(d);
      assert.ok(other < same - 0.3, `clipart → ${MINI_DOMAINS[d]} ${other} vs ${same}`);
    }
    // And the same digit with the same jitter looks different in any two domains.
    const imgs = MINI_DOMAINS.map((d) => renderMiniDomainNetImage(digit, d, new Rng(9), 32));
    for (let i = 0; i < 6; i++) for (let j = i + 1; j < 6; j++) assert.notDeepEqual(imgs[i], imgs[j]);
  });
});

describe('generateMiniDomainNet', () => {
  let root: string;
  before(async () => {
    root = path.join(tmp, 'a');
    const r = await generateMiniDomainNet(root, SMALL);
    assert.equal(r.created, true);
    assert.equal(r.root, root);
    for (const d of MINI_DOMAINS) assert.deepEqual(r.counts[d], { train: 30, test: 20 });
  });

  it('exports the default location data/mini-domainnet under the repository root', () => {
    assert.equal(DEFAULT_MINI_DOMAINNET_DIR, path.resolve(__dirname, '..', '..', 'data', 'mini-domainnet'));
  });

  it('writes the DomainNet layout: lists of "domain/class/file.png label", every file present, RGB PNGs', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, MANIFEST_FILE), 'utf8'));
    assert.equal(manifest.files, 6 * 50);
    assert.deepEqual(manifest.classes, CLASS_NAMES);
    assert.ok(!fs.existsSync(path.join(root, PARTIAL_MARKER)));
    const listed = new Set<string>();
    for (const d of MINI_DOMAINS) {
      for (const split of ['train', 'test'] as const) {
        const lines = readList(root, d, split);
        assert.equal(lines.length, split === 'train' ? 30 : 20);
        const perClass = new Array<number>(10).fill(0);
        for (const { rel, label } of lines) {
          assert.ok(Number.isInteger(label) && label >= 0 && label <= 9);
          perClass[label]++;
          const parts = rel.split('/');
          assert.equal(parts.length, 3, rel);
          assert.equal(parts[0], d);
          assert.equal(parts[1], `digit_${label}`);
          assert.match(parts[2], new RegExp(`^${d}_00${label}_\\d{6}\\.png$`));
          assert.ok(fs.existsSync(path.join(root, rel)), rel);
          assert.ok(!listed.has(rel), `listed twice: ${rel}`);
          listed.add(rel);
        }
        assert.deepEqual(perClass, new Array(10).fill(split === 'train' ? 3 : 2));
        // grouped by class, like DomainNet's lists
        assert.deepEqual(lines.map((l) => l.label), [...lines.map((l) => l.label)].sort((a, b) => a - b));
      }
    }
    // nothing unlisted on disk besides the lists and the manifest
    const onDisk = listFiles(root).filter((f) => f.endsWith('.png'));
    assert.deepEqual(onDisk, [...listed].map((r) => r.split('/').join(path.sep)).sort());
    const img = await decode(path.join(root, [...listed][0]));
    assert.deepEqual([img.width, img.height, img.channels], [32, 32, 3]);
  });

  it('domains are recognisable from colour alone (nearest mean 4×4 colours > 95%)', async () => {
    const feats = async (split: 'train' | 'test') =>
      Promise.all(
        MINI_DOMAINS.flatMap((d, di) =>
          readList(root, d, split).map(async ({ rel }) => ({ d: di, f: blockColours((await decode(path.join(root, rel))).data, 32) })),
        ),
      );
    const train = await feats('train');
    const test = await feats('test');
    const centroids = MINI_DOMAINS.map((_, di) => {
      const xs = train.filter((e) => e.d === di).map((e) => e.f);
      return xs[0].map((_, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length);
    });
    const acc = test.filter((e) => nearest(centroids, e.f) === e.d).length / test.length;
    assert.ok(acc > 0.95, `domain accuracy ${acc}`);
  });

  it('is deterministic: same seed → byte-identical files, other seed → different images', async () => {
    const b = path.join(tmp, 'b');
    await generateMiniDomainNet(b, SMALL);
    const files = listFiles(root);
    assert.deepEqual(listFiles(b), files);
    for (const f of files) assert.ok(fs.readFileSync(path.join(root, f)).equals(fs.readFileSync(path.join(b, f))), f);

    const c = path.join(tmp, 'c');
    await generateMiniDomainNet(c, { ...SMALL, seed: 8 });
    const pngs = files.filter((f) => f.endsWith('.png'));
    assert.deepEqual(listFiles(c).filter((f) => f.endsWith('.png')), pngs);
    const same = pngs.filter((f) => fs.readFileSync(path.join(root, f)).equals(fs.readFileSync(path.join(c, f)))).length;
    assert.equal(same, 0);
  });

  it("a domain's images do not depend on which other domains are generated", async () => {
    const p = path.join(tmp, 'painting-only');
    const r = await generateMiniDomainNet(p, { ...SMALL, domains: ['painting'] });
    assert.deepEqual(Object.keys(r.counts), ['painting']);
    assert.ok(!fs.existsSync(path.join(p, 'clipart')));
    assert.equal(fs.readFileSync(path.join(p, 'painting_train.txt'), 'utf8'), fs.readFileSync(path.join(root, 'painting_train.txt'), 'utf8'));
    for (const { rel } of readList(p, 'painting', 'test')) {
      assert.ok(fs.readFileSync(path.join(p, rel)).equals(fs.readFileSync(path.join(root, rel))), rel);
    }
  });

  it('skips a complete data set and regenerates a broken, interrupted or different one', async () => {
    const r = path.join(tmp, 'd');
    assert.equal((await generateMiniDomainNet(r, SMALL)).created, true);
    const first = readList(r, 'sketch', 'train')[5].rel;
    const bytes = fs.readFileSync(path.join(r, first));
    const mtime = fs.statSync(path.join(r, MANIFEST_FILE)).mtimeMs;

    const again = await generateMiniDomainNet(r, SMALL);
    assert.equal(again.created, false);
    assert.deepEqual(again.counts.sketch, { train: 30, test: 20 });
    assert.equal(fs.statSync(path.join(r, MANIFEST_FILE)).mtimeMs, mtime);

    // a missing image → regenerated, identical
    fs.rmSync(path.join(r, first));
    assert.equal(isMiniDomainNetComplete(r, SMALL), false);
    assert.equal((await generateMiniDomainNet(r, SMALL)).created, true);
    assert.ok(fs.readFileSync(path.join(r, first)).equals(bytes));

    // an interrupted generation (marker left behind) → regenerated
    fs.writeFileSync(path.join(r, PARTIAL_MARKER), '');
    assert.equal(isMiniDomainNetComplete(r, SMALL), false);
    assert.equal((await generateMiniDomainNet(r, SMALL)).created, true);
    assert.ok(!fs.existsSync(path.join(r, PARTIAL_MARKER)));

    // killed before the manifest was written (marker present, no manifest) → regenerated
    fs.rmSync(path.join(r, MANIFEST_FILE));
    fs.writeFileSync(path.join(r, PARTIAL_MARKER), '');
    assert.equal((await generateMiniDomainNet(r, SMALL)).created, true);

    // force
    assert.equal((await generateMiniDomainNet(r, { ...SMALL, force: true })).created, true);

    // other options → regenerated, stale files and derived folds removed
    fs.writeFileSync(path.join(r, 'sketch_train_fold.txt'), 'stale\n');
    const smaller = { ...SMALL, trainPerDomain: 10, testPerDomain: 10, size: 24 };
    assert.equal((await generateMiniDomainNet(r, smaller)).created, true);
    assert.ok(!fs.existsSync(path.join(r, 'sketch_train_fold.txt')));
    assert.equal(listFiles(r).filter((f) => f.endsWith('.png')).length, 6 * 20);
    const img = await decode(path.join(r, readList(r, 'real', 'test')[0].rel));
    assert.deepEqual([img.width, img.height, img.channels], [24, 24, 3]);
    assert.equal(isMiniDomainNetComplete(r, SMALL), false);
    assert.equal(isMiniDomainNetComplete(r, smaller), true);
  });

  it('refuses to overwrite a DomainNet-like directory it did not create', async () => {
    const foreign = path.join(tmp, 'foreign');
    fs.mkdirSync(path.join(foreign, 'clipart'), { recursive: true });
    fs.writeFileSync(path.join(foreign, 'clipart_train.txt'), 'clipart/aircraft_carrier/x.jpg 0\n');
    await assert.rejects(generateMiniDomainNet(foreign, SMALL), /refusing to overwrite/);
    assert.ok(fs.existsSync(path.join(foreign, 'clipart_train.txt')));
  });

  it('validates its options', async () => {
    await assert.rejects(generateMiniDomainNet(path.join(tmp, 'bad'), { trainPerDomain: 0 }), /trainPerDomain/);
    await assert.rejects(generateMiniDomainNet(path.join(tmp, 'bad'), { size: 2.5 }), /size/);
    await assert.rejects(generateMiniDomainNet(path.join(tmp, 'bad'), { domains: [] }), /domains/);
    await assert.rejects(generateMiniDomainNet(path.join(tmp, 'bad'), { domains: ['photo' as never] }), /unknown domain/);
  });
});
