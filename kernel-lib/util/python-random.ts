/**
 * The pieces of CPython's `random` module that the reference's DomainNet fold
 * split uses (`random.seed(42)` once, then `random.shuffle(lines)` per domain:
 * kernel-lib/docs/reference-code.md#domainnet-folds), ported so that the TypeScript folds are the reference's folds.
 *
 * Faithful to CPython 3.11 (`Modules/_randommodule.c`, `Lib/random.py`):
 * - the generator is MT19937 (`genrand_uint32`);
 * - `seed(n)` for an int n calls `init_by_array` with the 32-bit words of
 *   abs(n), least significant first (a single 0 word when n = 0);
 * - `random()` = (a·2^26 + b) / 2^53 with a = u32 >>> 5, b = u32 >>> 6;
 * - `getrandbits(k)` takes words least significant first, the last (most
 *   significant) one shifted right by 32 − (k mod 32);
 * - `_randbelow_with_getrandbits(n)`: k = n.bit_length(), redraw
 *   getrandbits(k) until < n;
 * - `shuffle(x)`: for i from len−1 down to 1, j = _randbelow(i+1), swap.
 *
 * This is NOT the generator used for training randomness (see ./rng.ts); it
 * exists only to reproduce results that the reference obtained from Python.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** Largest seed accepted exactly: integers beyond 2^53 are not exact in a JS number. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

export class PythonRandom {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** Same as Python's `random.Random(seed)` / `random.seed(seed)` for an int `seed`. */
  constructor(seed: number | bigint) {
    this.seed(seed);
  }

  /** `random.seed(seed)` for an int (version 2 seeding of an int uses abs(seed)'s 32-bit words). */
  seed(seed: number | bigint): void {
    let n: bigint;
    if (typeof seed === 'bigint') {
      n = seed;
    } else {
      if (!Number.isInteger(seed)) {
        throw new Error(`PythonRandom: seed must be an integer (as in random.seed(42)); got ${seed}`);
      }
      if (Math.abs(seed) > MAX_EXACT) {
        throw new Error(`PythonRandom: seed ${seed} is beyond 2^53 and not exact as a number; pass it as a bigint`);
      }
      n = BigInt(seed);
    }
    if (n < 0n) n = -n;
    const key: number[] = [];
    while (n > 0n) {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.mti = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    const len = key.length;
    for (let k = N > len ? N : len; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.mti = N;
  }

  /** MT19937 `genrand_uint32`: the next 32-bit word, as a non-negative number. */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      if (this.mti === N + 1) this.initGenrand(5489);
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      const y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      this.mti = 0;
    }
    let y = mt[this.mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.random()`: a float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) * (1.0 / 9007199254740992);
  }

  /** `random.getrandbits(k)` for 0 ≤ k ≤ 53 (exact as a JS number). */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0) {
      throw new Error(`PythonRandom.getrandbits: k must be a non-negative integer; got ${k}`);
    }
    if (k > 53) {
      throw new Error(`PythonRandom.getrandbits: k = ${k} is not supported (at most 53 bits fit exactly in a number)`);
    }
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    // CPython fills words least significant first; the last word keeps its top (k − 32) bits.
    const low = this.nextUint32();
    const high = this.nextUint32() >>> (64 - k);
    return high * 4294967296 + low;
  }

  /** CPython's `_randbelow_with_getrandbits(n)`: uniform in [0, n), n a positive integer ≤ 2^53. */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > MAX_EXACT) {
      throw new Error(`PythonRandom.randbelow: n must be an integer in [1, 2^53); got ${n}`);
    }
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.shuffle(x)` (CPython 3.11), in place. */
  shuffle<T>(arr: T[]): void {
    for (let i = arr.length - 1; i >= 1; i--) {
      const j = this.randbelow(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
  }
}

/** Python's `int.bit_length()` for a positive integer ≤ 2^53. */
function bitLength(n: number): number {
  if (n < 4294967296) return 32 - Math.clz32(n);
  return 32 + bitLength(Math.floor(n / 4294967296));
}
