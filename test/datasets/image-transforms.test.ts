/**
 * kernel-lib/datasets/image/transforms.ts: torchvision's geometry (RandomResizedCrop parameters,
 * Resize of the shorter side, CenterCrop offsets, Python rounding), the float32 normalisation,
 * and the sharp decode → crop → resize → flip → normalise path on synthetic images whose
 * expected pixels are computed by hand.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  centerCropParams,
  defaultEvalResize,
  deriveSeed,
  normalisationTable,
  randomResizedCropParams,
  resizeShorterSide,
  roundHalfEven,
  sampleSeed,
  transformImage,
  type RandomSource,
} from '../../kernel-lib/datasets/image/transforms';
import { Rng } from '../../kernel-lib/util/rng';

/** A generator replaying fixed uniforms, counting draws. */
class Replay implements RandomSource {
  used = 0;
  constructor(private readonly values: number[]) {}
  next(): number {
    if (this.used >= this.values.length) throw new Error('Replay: out of values');
    return this.values[this.used++];
  }
}

/** Normalised value of channel c for 8-bit value v, computed the way torch does (float32 steps). */
function norm(c: number, v: number): number {
  const mean = [0.485, 0.456, 0.406][c];
  const std = [0.229, 0.224, 0.225][c];
  return Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(mean)) / Math.fround(std));
}

function pixel(p: Float32Array, size: number, y: number, x: number): [number, number, number] {
  const o = (y * size + x) * 3;
  return [p[o], p[o + 1], p[o + 2]];
}

let dir = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-image-transforms-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes an 8-bit RGB PNG whose pixel (y, x) is f(y, x). */
async function writePng(name: string, width: number, height: number, f: (y: number, x: number) => [number, number, number]): Promise<string> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = f(y, x);
      const o = (y * width + x) * 3;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
    }
  }
  const file = path.join(dir, name);
  await sharp(raw, { raw: { width, height, channels: 3 } }).png().toFile(file);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Pure geometry
// ---------------------------------------------------------------------------------------------

test('roundHalfEven is Python 3 round()', () => {
  const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [16.5, 16], [17.5, 18], [2.4999, 2], [2.5001, 3], [-0.5, 0], [-1.5, -2], [7, 7]];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x) + 0, want, `round(${x})`);
});

test('randomResizedCropParams: a hand-worked accepted attempt (replayed uniforms)', () => {
  // H=200, W=300: area 60000; scale U=0.5 → 60000·(0.08 + 0.92·0.5) = 32400; ratio U=0.5 → exp(0) = 1
  // → w = h = round(180) = 180; top = floor(0.25·21) = 5, left = floor(0.75·121) = 90.
  const rng = new Replay([0.5, 0.5, 0.25, 0.75]);
  assert.deepEqual(randomResizedCropParams(200, 300, rng), { top: 5, left: 90, height: 180, width: 180 });
  assert.equal(rng.used, 4);
});

test('randomResizedCropParams: rejected attempts, then the clamped center-crop fallback after exactly 10 attempts', () => {
  // U = 0.999 for both scale and ratio: target ≈ the whole area at aspect ≈ 4/3, too wide for a
  // square or tall image and too tall... every attempt is rejected for these shapes.
  const always = (): Replay => new Replay(new Array(40).fill(0.999));
  let rng = always();
  assert.deepEqual(randomResizedCropParams(100, 100, rng), { top: 0, left: 0, height: 100, width: 100 });
  assert.equal(rng.used, 20, 'ten attempts, two draws each, no offsets');
  // Wide image (W/H = 4 > 4/3): h = H, w = round(100·4/3) = 133, left = (400−133)//2 = 133.
  // (The attempts: w = round(√(0.999·40000·1.333)) = 231 fits W, h = 173 > 100: rejected.)
  rng = always();
  assert.deepEqual(randomResizedCropParams(100, 400, rng), { top: 0, left: 133, height: 100, width: 133 });
  assert.equal(rng.used, 20);
  // Tall image (W/H = 1/4 < 3/4): w = W, h = round(100/(3/4)) = 133, top = (400−133)//2 = 133.
  rng = always();
  assert.deepEqual(randomResizedCropParams(400, 100, rng), { top: 133, left: 0, height: 133, width: 100 });
  assert.equal(rng.used, 20);
});

test('randomResizedCropParams: fixed-seed values (Rng(42)), equal to a transliteration of torchvision get_params fed the same uniforms', () => {
  // Cross-checked with Python: torchvision's get_params with torch.empty(1).uniform_ / torch.randint
  // replaced by the same uniforms (floor(u·n) for randint) and Python's round().
  const rng = new Rng(42);
  const got = Array.from({ length: 5 }, () => randomResizedCropParams(200, 300, rng));
  assert.deepEqual(got, [
    { top: 8, left: 4, height: 96, width: 115 },
    { top: 106, left: 75, height: 80, width: 70 },
    { top: 75, left: 169, height: 123, width: 121 },
    { top: 0, left: 46, height: 200, width: 237 },
    { top: 17, left: 27, height: 134, width: 101 },
  ]);
  assert.deepEqual(randomResizedCropParams(375, 500, new Rng(sampleSeed(42, 3, 17))), { top: 31, left: 294, height: 251, width: 192 });
});

test('randomResizedCropParams: crops lie inside the image and follow scale/ratio up to rounding', () => {
  const rng = new Rng(7);
  const shapes: [number, number][] = [[224, 224], [375, 500], [500, 333], [64, 640], [33, 41], [1, 1]];
  for (const [H, W] of shapes) {
    for (let k = 0; k < 300; k++) {
      const c = randomResizedCropParams(H, W, rng);
      assert.ok(Number.isInteger(c.top) && Number.isInteger(c.left) && Number.isInteger(c.height) && Number.isInteger(c.width));
      assert.ok(c.height >= 1 && c.width >= 1 && c.top >= 0 && c.left >= 0, JSON.stringify(c));
      assert.ok(c.top + c.height <= H && c.left + c.width <= W, `${H}×${W}: ${JSON.stringify(c)}`);
      // An accepted attempt has w = round(√(t·r)), h = round(√(t/r)) with t/area in [0.08, 1],
      // r in [3/4, 4/3]; check through the continuous bounds widened by the rounding (±0.5).
      const a = (c.width + 0.5) * (c.height + 0.5);
      assert.ok(a >= 0.08 * H * W - 1e-9 || c.width === W || c.height === H, `area too small ${JSON.stringify(c)} in ${H}×${W}`);
      assert.ok((c.width + 0.5) / Math.max(c.height - 0.5, 1e-9) >= 3 / 4 - 1e-9 || c.width === W, `too tall ${JSON.stringify(c)}`);
      assert.ok((c.width - 0.5) / (c.height + 0.5) <= 4 / 3 + 1e-9 || c.height === H, `too wide ${JSON.stringify(c)}`);
    }
  }
});

test('randomResizedCropParams: custom scale and ratio; the same generator state gives the same crop', () => {
  const c = randomResizedCropParams(100, 100, new Replay([0.3, 0.9, 0.5, 0.5]), [0.25, 0.25], [1, 1]);
  assert.deepEqual(c, { top: 25, left: 25, height: 50, width: 50 });
  const a = new Rng(3);
  const b = new Rng(3);
  for (let i = 0; i < 20; i++) assert.deepEqual(randomResizedCropParams(321, 123, a), randomResizedCropParams(321, 123, b));
});

test('resizeShorterSide: torchvision Resize(int) sizes with int() truncation', () => {
  assert.deepEqual(resizeShorterSide(200, 300, 256), { height: 256, width: 384 });
  assert.deepEqual(resizeShorterSide(300, 200, 256), { height: 384, width: 256 });
  assert.deepEqual(resizeShorterSide(375, 500, 256), { height: 256, width: 341 }); // 341.33
  assert.deepEqual(resizeShorterSide(500, 333, 256), { height: 384, width: 256 }); // 384.38
  assert.deepEqual(resizeShorterSide(3, 7, 4), { height: 4, width: 9 }); // 9.33
  assert.deepEqual(resizeShorterSide(99, 100, 256), { height: 256, width: 258 }); // 258.59, truncated not rounded
  assert.deepEqual(resizeShorterSide(128, 128, 256), { height: 256, width: 256 });
  assert.equal(defaultEvalResize(224), 256);
  assert.equal(defaultEvalResize(64), 73);
});

test('centerCropParams: int(round((s − c)/2)) with ties to even, zero padding when the crop is larger', () => {
  assert.deepEqual(centerCropParams(256, 300, 224, 224), { top: 16, left: 38, height: 224, width: 224 });
  assert.deepEqual(centerCropParams(256, 257, 224, 224), { top: 16, left: 16, height: 224, width: 224 }); // round(16.5) = 16
  assert.deepEqual(centerCropParams(256, 259, 224, 224), { top: 16, left: 18, height: 224, width: 224 }); // round(17.5) = 18
  assert.deepEqual(centerCropParams(100, 50, 64, 64), { top: 18, left: -7, height: 64, width: 64 }); // pad (64−50)//2 = 7
  assert.deepEqual(centerCropParams(30, 31, 64, 64), { top: -17, left: -16, height: 64, width: 64 });
});

test('sampleSeed / deriveSeed: deterministic, order-sensitive, distinct across epochs and indices', () => {
  assert.equal(sampleSeed(42, 3, 17), sampleSeed(42, 3, 17));
  assert.notEqual(deriveSeed(1, 2, 3), deriveSeed(3, 2, 1));
  const seen = new Set<number>();
  for (let e = 0; e < 4; e++) for (let i = 0; i < 500; i++) seen.add(sampleSeed(42, e, i));
  assert.equal(seen.size, 2000);
  assert.notEqual(sampleSeed(2 ** 40, 0, 0), sampleSeed(0, 0, 0));
  assert.throws(() => deriveSeed(1.5));
});

test('normalisation table matches torch float32 ToTensor + Normalize', () => {
  const t = normalisationTable();
  for (let c = 0; c < 3; c++) for (const v of [0, 1, 127, 128, 254, 255]) assert.equal(t[c * 256 + v], norm(c, v));
  assert.ok(Math.abs(t[0] - -0.485 / 0.229) < 1e-6);
  assert.ok(Math.abs(t[255] - (1 - 0.485) / 0.229) < 1e-6);
});

// ---------------------------------------------------------------------------------------------
// Decode + transform
// ---------------------------------------------------------------------------------------------

test('eval: a constant-colour image becomes the normalised constant (any size, downscale or upscale)', async () => {
  const file = await writePng('const.png', 300, 200, () => [10, 128, 250]);
  for (const spec of [{ size: 224 }, { size: 64 }, { size: 32, resize: 40 }, { size: 224, resize: 400 }]) {
    const { pixels, info } = await transformImage(file, { kind: 'eval', ...spec }, null);
    assert.equal(pixels.length, spec.size * spec.size * 3);
    for (let i = 0; i < pixels.length; i += 3) {
      assert.equal(pixels[i], norm(0, 10));
      assert.equal(pixels[i + 1], norm(1, 128));
      assert.equal(pixels[i + 2], norm(2, 250));
    }
    assert.equal(info.flipped, false);
  }
});

test('eval: center crop of a gradient (shorter side already = resize, so no resampling) is exact, tie rounded to even', async () => {
  // H = 256, W = 259: Resize(256) keeps 256×259; CenterCrop(224): top 16, left round(17.5) = 18.
  const f = (y: number, x: number): [number, number, number] => [x % 256, y, (x + 2 * y) % 256];
  const file = await writePng('gradient.png', 259, 256, f);
  const { pixels, info } = await transformImage(file, { kind: 'eval', size: 224, resize: 256 }, null);
  assert.deepEqual(info.resized, { height: 256, width: 259 });
  assert.deepEqual(info.crop, { top: 16, left: 18, height: 224, width: 224 });
  for (let y = 0; y < 224; y++) {
    for (let x = 0; x < 224; x++) {
      const [r, g, b] = f(y + 16, x + 18);
      assert.deepEqual(pixel(pixels, 224, y, x), [norm(0, r), norm(1, g), norm(2, b)], `pixel ${y},${x}`);
    }
  }
});

test('eval: a crop larger than the resized image is zero padded like torchvision', async () => {
  // 30 wide × 40 tall, Resize(32) → 32×42 (int(42.67)), CenterCrop(64): pad top 11, left 16.
  const file = await writePng('small.png', 30, 40, () => [200, 100, 50]);
  const { pixels, info } = await transformImage(file, { kind: 'eval', size: 64, resize: 32 }, null);
  assert.deepEqual(info.resized, { height: 42, width: 32 });
  assert.deepEqual(info.crop, { top: -11, left: -16, height: 64, width: 64 });
  const zero = [norm(0, 0), norm(1, 0), norm(2, 0)];
  const inside = [norm(0, 200), norm(1, 100), norm(2, 50)];
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const isInside = y >= 11 && y < 11 + 42 && x >= 16 && x < 16 + 32;
      assert.deepEqual(pixel(pixels, 64, y, x), isInside ? inside : zero, `pixel ${y},${x}`);
    }
  }
});

test('eval: downscaling a linear ramp by 2 is bilinear (pixel centres aligned, antialiased)', async () => {
  // R = 2x on a 128-wide image; Resize(32) of a 64×128 image → 32×64: output column x samples the
  // source around 2x + 0.5, where the ramp is 4x + 1 (exact for a symmetric filter, away from edges).
  const file = await writePng('ramp.png', 128, 64, (_y, x) => [2 * x, 128, 128]);
  const { pixels } = await transformImage(file, { kind: 'eval', size: 32, resize: 32 }, null);
  // Resized 32×64, center crop 32×32: left = 16 → output x ↔ resized column x + 16.
  for (let x = 1; x < 31; x++) {
    const want = 4 * (x + 16) + 1;
    const got = pixel(pixels, 32, 10, x)[0];
    assert.ok(Math.abs(got - norm(0, want)) <= 1.01 / 255 / 0.229, `column ${x}: ${got} vs ${norm(0, want)}`);
  }
});

test('train: crop window and flip are exact when the crop needs no resize (replayed uniforms)', async () => {
  const f = (y: number, x: number): [number, number, number] => [x * 3, y * 3, (x * y) % 256];
  const file = await writePng('train-grad.png', 64, 64, f);
  // scale [0.25, 0.25], ratio [1, 1] → a 32×32 crop; top = floor(0.2·33) = 6, left = floor(0.9·33) = 29.
  const spec = { kind: 'train' as const, size: 32, scale: [0.25, 0.25] as [number, number], ratio: [1, 1] as [number, number] };
  const flipped = await transformImage(file, spec, new Replay([0.5, 0.5, 0.2, 0.9, 0.3]));
  const plain = await transformImage(file, spec, new Replay([0.5, 0.5, 0.2, 0.9, 0.7]));
  assert.deepEqual(flipped.info.crop, { top: 6, left: 29, height: 32, width: 32 });
  assert.equal(flipped.info.flipped, true);
  assert.equal(plain.info.flipped, false);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const [r, g, b] = f(y + 6, x + 29);
      assert.deepEqual(pixel(plain.pixels, 32, y, x), [norm(0, r), norm(1, g), norm(2, b)]);
      assert.deepEqual(pixel(flipped.pixels, 32, y, 31 - x), [norm(0, r), norm(1, g), norm(2, b)]);
    }
  }
});

test('train: flip mirrors the resized crop; same seed, same output; flipProb 0/1 keep the draw order', async () => {
  const file = await writePng('train-noise.png', 97, 61, (y, x) => [(x * 7 + y * 3) % 256, (x * x + y) % 256, (y * 11) % 256]);
  const base = { kind: 'train' as const, size: 48 };
  const a = await transformImage(file, base, new Rng(sampleSeed(1, 0, 5)));
  const b = await transformImage(file, base, new Rng(sampleSeed(1, 0, 5)));
  assert.deepEqual(a.pixels, b.pixels);
  assert.deepEqual(a.info, b.info);
  const never = await transformImage(file, { ...base, flipProb: 0 }, new Rng(99));
  const always = await transformImage(file, { ...base, flipProb: 1 }, new Rng(99));
  assert.deepEqual(never.info.crop, always.info.crop);
  assert.equal(never.info.flipped, false);
  assert.equal(always.info.flipped, true);
  for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) assert.deepEqual(pixel(always.pixels, 48, y, x), pixel(never.pixels, 48, y, 47 - x));
});

test('decoding: grayscale becomes RGB, alpha is dropped (not composited), JPEG decodes', async () => {
  const greyFile = path.join(dir, 'grey.png');
  await sharp(Buffer.alloc(40 * 30, 77), { raw: { width: 40, height: 30, channels: 1 } }).png().toFile(greyFile);
  const grey = await transformImage(greyFile, { kind: 'eval', size: 16, resize: 20 }, null);
  for (let i = 0; i < grey.pixels.length; i += 3) assert.deepEqual([grey.pixels[i], grey.pixels[i + 1], grey.pixels[i + 2]], [norm(0, 77), norm(1, 77), norm(2, 77)]);

  const rgbaFile = path.join(dir, 'rgba.png');
  const rgba = Buffer.alloc(40 * 30 * 4);
  for (let i = 0; i < 40 * 30; i++) rgba.set([30, 60, 90, i % 2 ? 0 : 255], i * 4);
  await sharp(rgba, { raw: { width: 40, height: 30, channels: 4 } }).png().toFile(rgbaFile);
  const noAlpha = await transformImage(rgbaFile, { kind: 'train', size: 16 }, new Rng(1));
  for (let i = 0; i < noAlpha.pixels.length; i += 3) assert.deepEqual([noAlpha.pixels[i], noAlpha.pixels[i + 1], noAlpha.pixels[i + 2]], [norm(0, 30), norm(1, 60), norm(2, 90)]);

  const jpgFile = path.join(dir, 'const.jpg');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 } } }).jpeg({ quality: 95 }).toFile(jpgFile);
  const jpg = await transformImage(jpgFile, { kind: 'eval', size: 32 }, null);
  for (let i = 0; i < jpg.pixels.length; i++) assert.ok(Math.abs(jpg.pixels[i] - norm(i % 3, 128)) <= 2 / 255 / 0.224, `jpeg value ${jpg.pixels[i]}`);
});

test('unreadable input throws (the loader turns this into a skipped sample)', async () => {
  const bad = path.join(dir, 'bad.jpg');
  fs.writeFileSync(bad, Buffer.from('definitely not a jpeg'));
  await assert.rejects(transformImage(bad, { kind: 'eval', size: 8 }, null));
  const good = path.join(dir, 'trunc-src.jpg');
  await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 1, g: 2, b: 3 } } }).jpeg().toFile(good);
  const truncated = path.join(dir, 'trunc.jpg');
  const bytes = fs.readFileSync(good);
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(transformImage(truncated, { kind: 'eval', size: 8 }, null));
  await assert.rejects(transformImage(path.join(dir, 'missing.png'), { kind: 'eval', size: 8 }, null), /ENOENT/);
  await assert.rejects(transformImage(good, { kind: 'train', size: 8 }, null), /random generator/);
});
