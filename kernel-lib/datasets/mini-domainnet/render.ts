/**
 * Rendering for the mini DomainNet: one real MNIST digit (28×28 grey in [0, 1])
 * + a domain + a seeded `Rng` → one RGB image (`Uint8Array`, row-major,
 * `size·size·3`). Pure: the output depends only on the arguments, and the
 * number of draws taken from `rng` depends only on the domain.
 *
 * Each domain does two things to the digit (the design and the reasoning are in
 * `data/README.md` and in `./generate.ts`):
 *
 * 1. a domain-specific geometric transform from the dihedral group D4 (the same
 *    pixels mean different classes in different domains: a 6 under `rot180` is
 *    a 9, a 2 under `transpose` is none of the ten digits, …);
 *
 *      domain     id  transform   same transform as … under a left-right flip
 *      clipart    0   identity    —
 *      infograph  1   rot270      —
 *      painting   2   rot180      real       (flipud = fliplr ∘ rot180)
 *      quickdraw  3   rot90       sketch     (transpose = fliplr ∘ rot90)
 *      real       4   flipud      painting
 *      sketch     5   transpose   quickdraw
 *
 *    All six differ from each other. If training adds random left-right flips
 *    (the reference's DomainNet augmentation does), the pairs in the last
 *    column become the same task — the pairs the reference's `same_pnt_rel`
 *    and `same_qdr_skt` options share an expert between — and four distinct
 *    orientations remain.
 *
 * 2. a strong, global style that identifies the domain at a glance (flat orange
 *    clipart with outlined white digits; dark navy infographic with a grid and a
 *    bar; blurred ochre painting; black pen on white for quickdraw; sky/ground
 *    photo with noise and a shaded, shadowed digit for real; pencil outline on
 *    yellowish paper for sketch).
 *
 * Per image, from `rng` (in this order): placement (scale, small rotation,
 * shift), then the domain's colour/texture draws, then a global brightness.
 */
import { Rng } from '../../util/rng';

/** DomainNet's six domains, in the reference's order; the index is the domain id. */
export const MINI_DOMAINS = ['clipart', 'infograph', 'painting', 'quickdraw', 'real', 'sketch'] as const;
export type MiniDomain = (typeof MINI_DOMAINS)[number];

/** Side of an MNIST digit. */
export const MNIST_SIDE = 28;
const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;

/** The D4 elements used, as maps of a square image (row r, column c, side n). */
export type DigitTransform = 'identity' | 'rot90' | 'rot180' | 'rot270' | 'flipud' | 'transpose';

/** Domain → geometric transform applied to the digit before placement (see the header). */
export const DOMAIN_TRANSFORMS: Readonly<Record<MiniDomain, DigitTransform>> = {
  clipart: 'identity',
  infograph: 'rot270',
  painting: 'rot180',
  quickdraw: 'rot90',
  real: 'flipud',
  sketch: 'transpose',
};

export function domainId(domain: MiniDomain | number): number {
  if (typeof domain === 'number') {
    if (!(Number.isInteger(domain) && domain >= 0 && domain < MINI_DOMAINS.length)) {
      throw new Error(`mini-domainnet: domain id must be an integer in 0..${MINI_DOMAINS.length - 1}, got ${domain}`);
    }
    return domain;
  }
  const id = MINI_DOMAINS.indexOf(domain);
  if (id < 0) throw new Error(`mini-domainnet: unknown domain '${domain}' (expected one of ${MINI_DOMAINS.join(', ')})`);
  return id;
}

/**
 * Apply a D4 transform to a square `n×n` single-channel image (row-major).
 * rot90 is clockwise; transpose mirrors about the main diagonal.
 */
export function transformSquare(src: ArrayLike<number>, n: number, t: DigitTransform): Float32Array {
  if (src.length !== n * n) throw new Error(`transformSquare: expected ${n * n} values, got ${src.length}`);
  const out = new Float32Array(n * n);
  const m = n - 1;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let sr: number;
      let sc: number;
      switch (t) {
        case 'identity': sr = r; sc = c; break;
        case 'rot90': sr = m - c; sc = r; break;
        case 'rot180': sr = m - r; sc = m - c; break;
        case 'rot270': sr = c; sc = m - r; break;
        case 'flipud': sr = m - r; sc = c; break;
        case 'transpose': sr = c; sc = r; break;
        default: throw new Error(`transformSquare: unknown transform '${t as string}'`);
      }
      out[r * n + c] = src[sr * n + sc];
    }
  }
  return out;
}

/** The digit under its domain's transform (28×28, before placement and style). */
export function transformDigit(digit: ArrayLike<number>, domain: MiniDomain | number): Float32Array {
  if (digit.length !== MNIST_PIXELS) {
    throw new Error(`mini-domainnet: a digit has ${MNIST_PIXELS} pixels (28×28), got ${digit.length}`);
  }
  return transformSquare(digit, MNIST_SIDE, DOMAIN_TRANSFORMS[MINI_DOMAINS[domainId(domain)]]);
}

function checkSize(size: number): void {
  if (!(Number.isInteger(size) && size >= 8 && size <= 1024)) {
    throw new Error(`mini-domainnet: size must be an integer in 8..1024, got ${size}`);
  }
}

/**
 * Place a (transformed) 28×28 digit on a `size×size` canvas with per-image
 * jitter: scale ×[0.88, 1.04] of size/28, rotation ±8°, shift ±size/16 on each
 * axis. Bilinear sampling with 2×2 supersampling; returns coverage in [0, 1].
 * Draws exactly 4 uniforms.
 */
export function placeDigit(digit28: ArrayLike<number>, size: number, rng: Rng): Float32Array {
  checkSize(size);
  const [uScale, uAngle, uDx, uDy] = rng.uniform(4);
  const s = (size / MNIST_SIDE) * (0.88 + 0.16 * uScale);
  const theta = ((uAngle * 2 - 1) * 8 * Math.PI) / 180;
  const cx = size / 2 + (uDx * 2 - 1) * (size / 16);
  const cy = size / 2 + (uDy * 2 - 1) * (size / 16);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const n = MNIST_SIDE;
  const sample = (x: number, y: number): number => {
    // x, y: continuous source coordinates in pixel-index units (centre of pixel i is i).
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = x - x0;
    const fy = y - y0;
    let v = 0;
    for (let dy = 0; dy <= 1; dy++) {
      const yy = y0 + dy;
      if (yy < 0 || yy >= n) continue;
      const wy = dy ? fy : 1 - fy;
      for (let dx = 0; dx <= 1; dx++) {
        const xx = x0 + dx;
        if (xx < 0 || xx >= n) continue;
        v += wy * (dx ? fx : 1 - fx) * digit28[yy * n + xx];
      }
    }
    return v;
  };
  const out = new Float32Array(size * size);
  const SS = 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const u = (x + (sx + 0.5) / SS - cx) / s;
          const v = (y + (sy + 0.5) / SS - cy) / s;
          // inverse rotation, then into source pixel-index coordinates
          const su = cos * u + sin * v + n / 2 - 0.5;
          const sv = -sin * u + cos * v + n / 2 - 0.5;
          acc += sample(su, sv);
        }
      }
      out[y * size + x] = Math.min(1, Math.max(0, acc / (SS * SS)));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// small single-channel filters (edges clamp)

function at(m: Float32Array, size: number, x: number, y: number): number {
  const xx = x < 0 ? 0 : x >= size ? size - 1 : x;
  const yy = y < 0 ? 0 : y >= size ? size - 1 : y;
  return m[yy * size + xx];
}

function dilate3(m: Float32Array, size: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) v = Math.max(v, at(m, size, x + dx, y + dy));
      out[y * size + x] = v;
    }
  }
  return out;
}

function blur3(m: Float32Array, size: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) v += at(m, size, x + dx, y + dy);
      out[y * size + x] = v / 9;
    }
  }
  return out;
}

/** Sobel gradient magnitude / 4 (a unit step gives ≈ 1). */
function sobel(m: Float32Array, size: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const a = (dx: number, dy: number) => at(m, size, x + dx, y + dy);
      const gx = a(1, -1) + 2 * a(1, 0) + a(1, 1) - a(-1, -1) - 2 * a(-1, 0) - a(-1, 1);
      const gy = a(-1, 1) + 2 * a(0, 1) + a(1, 1) - a(-1, -1) - 2 * a(0, -1) - a(1, -1);
      out[y * size + x] = Math.sqrt(gx * gx + gy * gy) / 4;
    }
  }
  return out;
}

/** Smooth random field: a g×g grid of uniforms in [-1, 1], bilinearly upsampled. Draws g·g uniforms. */
function smoothField(size: number, g: number, rng: Rng): Float32Array {
  const grid = rng.uniform(g * g);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const gy = (y / Math.max(1, size - 1)) * (g - 1);
    const y0 = Math.min(g - 2, Math.floor(gy));
    const fy = gy - y0;
    for (let x = 0; x < size; x++) {
      const gx = (x / Math.max(1, size - 1)) * (g - 1);
      const x0 = Math.min(g - 2, Math.floor(gx));
      const fx = gx - x0;
      const v =
        (1 - fy) * ((1 - fx) * grid[y0 * g + x0] + fx * grid[y0 * g + x0 + 1]) +
        fy * ((1 - fx) * grid[(y0 + 1) * g + x0] + fx * grid[(y0 + 1) * g + x0 + 1]);
      out[y * size + x] = v * 2 - 1;
    }
  }
  return out;
}

type RGB = [number, number, number];

function jitterColour(base: RGB, amount: number, rng: Rng): RGB {
  const u = rng.uniform(3);
  return [base[0] + (u[0] * 2 - 1) * amount, base[1] + (u[1] * 2 - 1) * amount, base[2] + (u[2] * 2 - 1) * amount];
}

/** Float RGB canvas, planar per channel for simple blending. */
class Canvas {
  readonly c: [Float32Array, Float32Array, Float32Array];
  constructor(readonly size: number) {
    const n = size * size;
    this.c = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  }
  fill(col: RGB): void {
    for (let k = 0; k < 3; k++) this.c[k].fill(col[k]);
  }
  /** this = this·(1−w) + col·w at pixel i. */
  blend(i: number, col: RGB, w: number): void {
    if (w <= 0) return;
    const a = Math.min(1, w);
    for (let k = 0; k < 3; k++) this.c[k][i] += (col[k] - this.c[k][i]) * a;
  }
}

// ---------------------------------------------------------------------------
// the six styles; each takes the placed digit coverage `m`

function styleClipart(m: Float32Array, size: number, rng: Rng): Canvas {
  // Flat saturated orange, white digit with a dark outline, no texture.
  const cv = new Canvas(size);
  cv.fill(jitterColour([0.96, 0.6, 0.18], 0.04, rng));
  const outline = dilate3(m, size);
  const fill = jitterColour([0.97, 0.97, 0.94], 0.02, rng);
  for (let i = 0; i < size * size; i++) {
    cv.blend(i, [0.08, 0.06, 0.06], (outline[i] - m[i]) * 1.6);
    cv.blend(i, fill, m[i] * 1.3);
  }
  return cv;
}

function styleInfograph(m: Float32Array, size: number, rng: Rng): Canvas {
  // Dark navy panel, a lighter grid, one magenta bar, bright cyan digit.
  const cv = new Canvas(size);
  cv.fill(jitterColour([0.07, 0.1, 0.28], 0.02, rng));
  const g = Math.max(4, Math.round(size / 4));
  const [uPx, uPy, uBx, uBh] = rng.uniform(4);
  const px = Math.floor(uPx * g);
  const py = Math.floor(uPy * g);
  const grid: RGB = [0.2, 0.28, 0.5];
  const barW = Math.max(2, Math.round(size / 6));
  const barX = Math.floor(uBx * (size - barW));
  const barTop = size - Math.round(size * (0.25 + 0.3 * uBh));
  const digit = jitterColour([0.25, 0.95, 0.95], 0.04, rng);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if ((x - px) % g === 0 || (y - py) % g === 0) cv.blend(i, grid, 1);
      if (x >= barX && x < barX + barW && y >= barTop) cv.blend(i, [0.85, 0.2, 0.6], 0.7);
      cv.blend(i, digit, m[i] * 1.3);
    }
  }
  return cv;
}

function stylePainting(m: Float32Array, size: number, rng: Rng): Canvas {
  // Warm ochre canvas with low-frequency colour variation, a soft crimson digit,
  // everything blurred, plus fine "brush" noise.
  const cv = new Canvas(size);
  const base = jitterColour([0.64, 0.47, 0.26], 0.03, rng);
  const fields = [smoothField(size, 5, rng), smoothField(size, 5, rng), smoothField(size, 5, rng)];
  for (let k = 0; k < 3; k++) for (let i = 0; i < size * size; i++) cv.c[k][i] = base[k] + 0.12 * fields[k][i];
  const soft = blur3(m, size);
  const ink = jitterColour([0.42, 0.08, 0.1], 0.04, rng);
  for (let i = 0; i < size * size; i++) cv.blend(i, ink, soft[i] * 1.4);
  const grain = rng.uniform(size * size);
  for (let k = 0; k < 3; k++) {
    const b = blur3(cv.c[k], size);
    for (let i = 0; i < size * size; i++) b[i] += (grain[i] * 2 - 1) * 0.03;
    cv.c[k] = b;
  }
  return cv;
}

function styleQuickdraw(m: Float32Array, size: number, rng: Rng): Canvas {
  // Black pen on pure white: the stroke is binarised (a narrow ramp keeps the edge anti-aliased).
  const cv = new Canvas(size);
  cv.fill([1, 1, 1]);
  const [u] = rng.uniform(1);
  const threshold = 0.3 + 0.15 * u; // stroke thickness jitter
  for (let i = 0; i < size * size; i++) cv.blend(i, [0.02, 0.02, 0.02], (m[i] - threshold) / 0.15);
  return cv;
}

function styleReal(m: Float32Array, size: number, rng: Rng): Canvas {
  // Photo-like: sky above a horizon, grass below, a grey digit lit from the
  // top-left with a drop shadow, sensor noise.
  const cv = new Canvas(size);
  const [uH] = rng.uniform(1);
  const horizon = size * (0.45 + 0.25 * uH);
  const sky = jitterColour([0.5, 0.72, 0.96], 0.04, rng);
  const ground = jitterColour([0.34, 0.55, 0.22], 0.04, rng);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if (y < horizon) {
        const t = y / horizon;
        for (let k = 0; k < 3; k++) cv.c[k][i] = sky[k] + (0.96 - sky[k]) * 0.4 * t;
      } else {
        const t = (y - horizon) / Math.max(1, size - horizon);
        for (let k = 0; k < 3; k++) cv.c[k][i] = ground[k] * (1 - 0.35 * t);
      }
    }
  }
  const off = Math.max(1, Math.round(size / 24));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const shadow = x >= off && y >= off ? m[(y - off) * size + (x - off)] : 0;
      cv.blend(i, [0.05, 0.05, 0.05], shadow * 0.45);
      const g = 0.95 - (0.4 * (x + y)) / (2 * size);
      cv.blend(i, [g, g, g * 0.97], m[i] * 1.3);
    }
  }
  const noise = rng.normal(3 * size * size, 0.035);
  for (let k = 0; k < 3; k++) for (let i = 0; i < size * size; i++) cv.c[k][i] += noise[k * size * size + i];
  return cv;
}

function styleSketch(m: Float32Array, size: number, rng: Rng): Canvas {
  // Yellowish paper with grain; only the digit's outline, in pencil grey.
  const cv = new Canvas(size);
  const paper = jitterColour([0.88, 0.82, 0.66], 0.02, rng);
  const grain = rng.normal(size * size, 0.03);
  for (let k = 0; k < 3; k++) for (let i = 0; i < size * size; i++) cv.c[k][i] = paper[k] + grain[i];
  const edges = sobel(m, size);
  for (let i = 0; i < size * size; i++) cv.blend(i, [0.22, 0.22, 0.25], Math.min(1, edges[i] * 1.2) * 0.9);
  return cv;
}

const STYLES: ReadonlyArray<(m: Float32Array, size: number, rng: Rng) => Canvas> = [
  styleClipart,
  styleInfograph,
  stylePainting,
  styleQuickdraw,
  styleReal,
  styleSketch,
];

/**
 * Render one mini-DomainNet image: `digit` (784 values in [0, 1], row-major
 * 28×28, as stored by the `mnist` package) under `domain`, with jitter drawn
 * from `rng`. Returns interleaved RGB bytes, `size·size·3`, row-major.
 */
export function renderMiniDomainNetImage(
  digit: ArrayLike<number>,
  domain: MiniDomain | number,
  rng: Rng,
  size = 32,
): Uint8Array {
  checkSize(size);
  const id = domainId(domain);
  const placed = placeDigit(transformDigit(digit, id), size, rng);
  const cv = STYLES[id](placed, size, rng);
  const [uB] = rng.uniform(1);
  const brightness = 0.94 + 0.12 * uB;
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    for (let k = 0; k < 3; k++) {
      const v = cv.c[k][i] * brightness;
      out[i * 3 + k] = Math.round(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
    }
  }
  return out;
}
