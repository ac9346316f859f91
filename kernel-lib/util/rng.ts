/**
 * One seeded random generator for everything random in smear-ts: parameter
 * initialisation, expert dropout, Gumbel noise, REINFORCE sampling, AdaMix's
 * random experts, the skills' relaxed Bernoulli, hash labels.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna), seeded through splitmix32. The
 * state is four uint32 words, so a run can save it in a checkpoint and resume
 * with exactly the same stream (`getState` / `setState`).
 *
 * Uniform floats are multiples of 2^-24 in [0, 1 - 2^-24]: exactly
 * representable in float32, so a value drawn here means the same thing in the
 * float32 tfjs code and in a float64 reference (tests rely on that).
 */

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s: Uint32Array;

  constructor(seed = 42) {
    if (!Number.isFinite(seed)) {
      throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    }
    const sm = splitmix32(Math.floor(seed) ^ Math.floor(seed / 2 ** 32));
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** One uniform number in [0, 1 - 2^-24], a multiple of 2^-24. */
  next(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** `n` uniforms in [0, 1), exactly representable in float32. */
  uniform(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next();
    return out;
  }

  /** `n` integers uniform in {0, …, max-1}, as floor(u·max) of `uniform`. */
  uniformInt(n: number, max: number): Int32Array {
    if (!(Number.isInteger(max) && max >= 1)) {
      throw new Error(`Rng.uniformInt: max must be an integer >= 1, got ${max}`);
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * max);
    return out;
  }

  /** `n` normal draws with the given mean and standard deviation (Box–Muller, float64 inside). */
  normal(n: number, std = 1, mean = 0): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      // 53-bit uniforms in (0, 1] so log() is finite.
      const u1 = (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11) + 1) / 2 ** 53;
      const u2 = (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  /** `n` uniforms in [lo, hi). */
  uniformRange(n: number, lo: number, hi: number): Float32Array {
    const out = this.uniform(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * out[i];
    return out;
  }

  /** A new generator whose stream is independent of this one's continuation. */
  fork(): Rng {
    const child = new Rng(0);
    child.s = new Uint32Array([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32()]);
    if (child.s.every((v) => v === 0)) child.s[0] = 1;
    return child;
  }

  getState(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  setState(state: RngState): void {
    if (!Array.isArray(state) || state.length !== 4 || state.every((v) => v === 0)) {
      throw new Error(`Rng.setState: expected four uint32 words, not all zero, got ${JSON.stringify(state)}`);
    }
    this.s = new Uint32Array(state);
  }
}
