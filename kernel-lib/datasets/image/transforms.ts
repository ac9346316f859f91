/**
 * Image decoding and torchvision-equivalent preprocessing for the ResNet18-DomainNet setting
 * (kernel-lib/docs/reference-code.md#image-transforms), producing float32 NHWC pixels (H×W×3, RGB) normalised with the ImageNet
 * mean/std after scaling to [0, 1].
 *
 *   train: RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3), bilinear)
 *          → RandomHorizontalFlip(0.5) → ToTensor → Normalize
 *   eval:  Resize(resize) (shorter side) → CenterCrop(size) → ToTensor → Normalize
 *
 * The geometry (crop parameters, resized sizes, crop offsets, Python's round-half-to-even and
 * int() truncation) is torchvision's exactly and lives in pure functions below, so it is unit
 * tested without images. The resampling itself is libvips's (sharp) `linear` kernel, which, like
 * PIL's BILINEAR, widens the triangle filter when downsampling (antialiasing); libvips may do a
 * box pre-shrink for large reduction factors, so resized pixels can differ from PIL's by a few
 * grey levels. The normalisation reproduces torch's float32 arithmetic exactly (a lookup table of
 * fround((fround(v/255) − mean) / std)).
 *
 * Decoding mirrors `Image.open(p).convert('RGB')`: the first frame, EXIF orientation NOT applied
 * (PIL does not apply it either), alpha dropped (not composited), grey replicated to RGB.
 * Deviation: sharp converts images with an embedded non-sRGB ICC profile (and CMYK JPEGs) to sRGB
 * through the profile, where PIL's convert('RGB') ignores the profile.
 *
 * Randomness: every random number comes from the generator passed in (`RandomSource`, e.g. the
 * project's `Rng`). The loader derives one generator per sample from (seed, epoch, sample index)
 * with `sampleSeed`, so results do not depend on which worker ran the sample. Draw order per
 * sample (train): for each crop attempt (≤ 10) one uniform for the area scale then one for the
 * log aspect ratio; on acceptance one uniform for the top offset then one for the left offset;
 * then one uniform for the flip (always drawn, even when flipProb is 0 or 1).
 *
 * This module must stay loadable by a plain CommonJS require after TypeScript transpilation
 * (the loader's worker threads load it): no TS-only runtime features, only `sharp` and node.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type ResizeOptions, type Sharp, type SharpOptions } from 'sharp';

/** What the transforms need from a generator: uniforms in [0, 1). `Rng` satisfies it. */
export interface RandomSource {
  next(): number;
}

export interface TransformSpec {
  /** 'train': RandomResizedCrop + flip; 'eval': Resize(shorter side) + CenterCrop. */
  kind: 'train' | 'eval';
  /** Output side (224 in the paper). */
  size: number;
  /** Eval only: the shorter side before the center crop. Default round(size·256/224) (256 for 224, 73 for 64). */
  resize?: number;
  /** Train only: RandomResizedCrop area scale range. Default [0.08, 1]. */
  scale?: [number, number];
  /** Train only: RandomResizedCrop aspect ratio range. Default [3/4, 4/3]. */
  ratio?: [number, number];
  /** Train only: horizontal flip probability. Default 0.5. */
  flipProb?: number;
}

export interface CropParams {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** What one transform did (for tests and debugging). */
export interface TransformInfo {
  /** Decoded image size. */
  srcHeight: number;
  srcWidth: number;
  /** Train: the crop taken from the decoded image. Eval: the crop taken from the resized image. */
  crop: CropParams;
  /** Eval: the resized image size. Train: the crop size. */
  resized: { height: number; width: number };
  flipped: boolean;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

// ---------------------------------------------------------------------------------------------
// Pure geometry (torchvision's algorithms, Python rounding)
// ---------------------------------------------------------------------------------------------

/** Python 3's round(): to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function checkDims(height: number, width: number, what: string): void {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new Error(`${what}: image size must be positive integers, got ${height}×${width}`);
  }
}

/**
 * torchvision `RandomResizedCrop.get_params(img, scale, ratio)`: up to 10 attempts of
 * target_area = area·U(scale), aspect = exp(U(log ratio)), w = round(√(target_area·aspect)),
 * h = round(√(target_area/aspect)); accepted when 0 < w ≤ W and 0 < h ≤ H, then
 * top = randint(0, H−h), left = randint(0, W−w) (inclusive). Otherwise the whole-image center
 * crop with the aspect ratio clamped to `ratio`.
 */
export function randomResizedCropParams(
  height: number,
  width: number,
  rng: RandomSource,
  scale: readonly [number, number] = [0.08, 1.0],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropParams {
  checkDims(height, width, 'randomResizedCropParams');
  if (!(scale[0] <= scale[1]) || !(ratio[0] <= ratio[1]) || !(ratio[0] > 0)) {
    throw new Error(`randomResizedCropParams: expected scale and ratio as (min, max), got ${scale} / ${ratio}`);
  }
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rng.next());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.next());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(rng.next() * (height - h + 1));
      const left = Math.floor(rng.next() * (width - w + 1));
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to the central crop.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * torchvision `Resize(size)` with an int size: the shorter side becomes `size`, the longer
 * int(size·long/short) (truncation); a square image becomes size×size.
 */
export function resizeShorterSide(height: number, width: number, size: number): { height: number; width: number } {
  checkDims(height, width, 'resizeShorterSide');
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`resizeShorterSide: size must be a positive integer, got ${size}`);
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { height: size, width: Math.trunc((size * width) / height) };
}

/**
 * torchvision `CenterCrop` offsets: top = int(round((H − ch)/2)), left = int(round((W − cw)/2)),
 * Python rounding (ties to even). When the crop is larger than the image torchvision first pads
 * with zeros ((c−s)//2 before, (c−s+1)//2 after); the returned offsets are then negative and the
 * region outside the image is zero-filled by the caller, which is the same thing.
 */
export function centerCropParams(height: number, width: number, cropHeight: number, cropWidth: number): CropParams {
  checkDims(height, width, 'centerCropParams');
  checkDims(cropHeight, cropWidth, 'centerCropParams (crop)');
  const offset = (s: number, c: number): number => {
    if (c > s) {
      // Pad left = (c−s)//2, then the padded size is c and the crop offset is 0.
      return -Math.floor((c - s) / 2);
    }
    return roundHalfEven((s - c) / 2);
  };
  return { top: offset(height, cropHeight), left: offset(width, cropWidth), height: cropHeight, width: cropWidth };
}

/** Default eval resize for an output size: round(size·256/224) (256 for 224). */
export function defaultEvalResize(size: number): number {
  return Math.round((size * 256) / 224);
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A uint32 seed derived from a list of integers (each up to ±2^53), e.g.
 * `new Rng(deriveSeed(seed, epoch, index))`. Order matters; distinct inputs give
 * well-mixed, practically independent seeds.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x6a09e667;
  for (const p of parts) {
    if (!Number.isInteger(p)) throw new Error(`deriveSeed: expected integers, got ${p}`);
    const lo = p >>> 0;
    const hi = Math.floor(p / 2 ** 32) >>> 0;
    h = mix32((h ^ lo) >>> 0);
    h = mix32((h ^ hi ^ 0x9e3779b9) >>> 0);
  }
  return h;
}

/** Tag mixed into per-sample augmentation seeds (distinct from the shuffle's). */
export const SAMPLE_SEED_TAG = 0x53414d50; // 'SAMP'

/** The per-sample augmentation seed: a function of (seed, epoch, sample index) only. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return deriveSeed(SAMPLE_SEED_TAG, seed, epoch, index);
}

// ---------------------------------------------------------------------------------------------
// Normalisation (torch float32 arithmetic)
// ---------------------------------------------------------------------------------------------

let lut: Float32Array | null = null;

/** 3×256 table: lut[c·256 + v] = fround(fround(fround(v/255) − mean_c) / std_c), as torch computes it. */
export function normalisationTable(): Float32Array {
  if (lut === null) {
    const t = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      const m = Math.fround(IMAGENET_MEAN[c]);
      const s = Math.fround(IMAGENET_STD[c]);
      for (let v = 0; v < 256; v++) {
        t[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
      }
    }
    lut = t;
  }
  return lut;
}

/**
 * Copies the window (top, left, size×size) of an 8-bit raw image (channels 1 or ≥ 3) into
 * `out[offset …]` as normalised float32 RGB, optionally mirrored horizontally. Pixels outside the
 * image read as 0 (torchvision's zero padding).
 */
export function writeNormalised(
  raw: Uint8Array,
  rawWidth: number,
  rawHeight: number,
  channels: number,
  top: number,
  left: number,
  outHeight: number,
  outWidth: number,
  flip: boolean,
  out: Float32Array,
  offset: number,
): void {
  const t = normalisationTable();
  if (offset < 0 || offset + outHeight * outWidth * 3 > out.length) {
    throw new Error(`writeNormalised: output too small (${out.length}) for offset ${offset} and ${outHeight}×${outWidth}×3`);
  }
  const grey = channels < 3;
  let o = offset;
  for (let y = 0; y < outHeight; y++) {
    const sy = y + top;
    const rowInside = sy >= 0 && sy < rawHeight;
    for (let x = 0; x < outWidth; x++) {
      const sx = (flip ? outWidth - 1 - x : x) + left;
      if (!rowInside || sx < 0 || sx >= rawWidth) {
        out[o++] = t[0];
        out[o++] = t[256];
        out[o++] = t[512];
        continue;
      }
      const p = (sy * rawWidth + sx) * channels;
      if (grey) {
        const v = raw[p];
        out[o++] = t[v];
        out[o++] = t[256 + v];
        out[o++] = t[512 + v];
      } else {
        out[o++] = t[raw[p]];
        out[o++] = t[256 + raw[p + 1]];
        out[o++] = t[512 + raw[p + 2]];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding + transform (sharp)
// ---------------------------------------------------------------------------------------------

const SHARP_INPUT: SharpOptions = { failOn: 'error' };

function resizeOptions(width: number, height: number): ResizeOptions {
  return { width, height, kernel: 'linear', fit: 'fill', fastShrinkOnLoad: false };
}

interface Source {
  image: () => Sharp;
  height: number;
  width: number;
}

/** Opens an encoded image; images with alpha are first flattened to raw RGB (alpha dropped, as PIL's convert('RGB')). */
async function openSource(input: string | Buffer): Promise<Source> {
  const buf = typeof input === 'string' ? await readFile(input) : input;
  const meta = await sharp(buf, SHARP_INPUT).metadata();
  const width = meta.width;
  const height = meta.height;
  if (!width || !height) throw new Error('could not read the image size');
  if (meta.hasAlpha) {
    // Drop alpha before any resampling: sharp would otherwise premultiply during the resize.
    const { data, info } = await sharp(buf, SHARP_INPUT)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const raw = { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 };
    return { image: () => sharp(data, { raw }), width: info.width, height: info.height };
  }
  return { image: () => sharp(buf, SHARP_INPUT), width, height };
}

async function toRaw(img: Sharp): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 && info.channels < 3) throw new Error(`unexpected channel count ${info.channels}`);
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/**
 * Decodes `input` (a file path or encoded bytes), applies the transform and writes
 * size·size·3 normalised float32 values (HWC, RGB) into `out` from `offset`.
 * `rng` is required for 'train' and unused for 'eval'. Throws on unreadable/corrupt images.
 */
export async function transformInto(
  input: string | Buffer,
  spec: TransformSpec,
  rng: RandomSource | null,
  out: Float32Array,
  offset = 0,
): Promise<TransformInfo> {
  const size = spec.size;
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`transform: size must be a positive integer, got ${size}`);
  const src = await openSource(input);
  if (spec.kind === 'train') {
    if (!rng) throw new Error('transform: the train transform needs a random generator');
    const crop = randomResizedCropParams(src.height, src.width, rng, spec.scale, spec.ratio);
    const flipped = rng.next() < (spec.flipProb ?? 0.5);
    let img = src.image().extract({ left: crop.left, top: crop.top, width: crop.width, height: crop.height });
    if (crop.width !== size || crop.height !== size) img = img.resize(resizeOptions(size, size));
    const raw = await toRaw(img);
    if (raw.width !== size || raw.height !== size) throw new Error(`resize produced ${raw.width}×${raw.height}, expected ${size}×${size}`);
    writeNormalised(raw.data, raw.width, raw.height, raw.channels, 0, 0, size, size, flipped, out, offset);
    return { srcHeight: src.height, srcWidth: src.width, crop, resized: { height: crop.height, width: crop.width }, flipped };
  }
  if (spec.kind === 'eval') {
    const resize = spec.resize ?? defaultEvalResize(size);
    const resized = resizeShorterSide(src.height, src.width, resize);
    let img = src.image();
    if (resized.width !== src.width || resized.height !== src.height) img = img.resize(resizeOptions(resized.width, resized.height));
    const raw = await toRaw(img);
    if (raw.width !== resized.width || raw.height !== resized.height) {
      throw new Error(`resize produced ${raw.width}×${raw.height}, expected ${resized.width}×${resized.height}`);
    }
    const crop = centerCropParams(raw.height, raw.width, size, size);
    writeNormalised(raw.data, raw.width, raw.height, raw.channels, crop.top, crop.left, size, size, false, out, offset);
    return { srcHeight: src.height, srcWidth: src.width, crop, resized, flipped: false };
  }
  throw new Error(`transform: unknown kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
}

/** `transformInto` into a new Float32Array of length size·size·3. */
export async function transformImage(
  input: string | Buffer,
  spec: TransformSpec,
  rng: RandomSource | null,
): Promise<{ pixels: Float32Array; info: TransformInfo }> {
  const pixels = new Float32Array(spec.size * spec.size * 3);
  const info = await transformInto(input, spec, rng, pixels, 0);
  return { pixels, info };
}
