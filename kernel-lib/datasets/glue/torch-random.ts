/**
 * PyTorch's CPU generator and `torch.randperm` on CPU, ported so that the GLUE
 * splits are the reference's splits (Hyperformer: `torch.randperm(n,
 * generator=torch.Generator().manual_seed(42))`, kernel-lib/docs/reference-code.md#glue-splits).
 *
 * What was read (PyTorch sources, via the code search; torch 1.7 is the
 * reference's version):
 * - aten/src/ATen/core/MT19937RNGEngine.h: `at::mt19937` is the reference
 *   MT19937 (mt19937ar-cok). Seeding (`init_with_uint32`) is Matsumoto &
 *   Nishimura's `init_genrand(seed & 0xffffffff)`:
 *   state[0] = seed, state[j] = 1812433253·(state[j-1] ^ (state[j-1] >>> 30)) + j,
 *   NOT `init_by_array` (which CPython's `random.seed` uses). Output is the
 *   usual twist + tempering.
 * - aten/src/ATen/CPUGeneratorImpl.cpp: `manual_seed(s)` → `set_current_seed`
 *   → `engine_ = mt19937(s)`; `random()` returns one 32-bit engine output;
 *   `random64()` = (first << 32) | second (not used by randperm here).
 * - aten/src/ATen/native/TensorFactories.cpp `randperm_cpu`: fill r[i] = i,
 *   then for i in 0..n-2: z = generator->random() % (n - i); swap(r[i], r[i+z]).
 *   This is the same in the torch 1.6/1.7-era source (CPUGeneratorImpl*,
 *   `c10::optional<Generator>`) and in current sources, where it is kept as the
 *   path "for small n" (n < 2^32 / 20 ≈ 214.7M); larger n switch to a
 *   different algorithm. Every GLUE split is far below that bound, so one
 *   algorithm covers all versions we care about; n ≥ 2^32/20 is refused.
 *
 * Verification without torch: the engine is checked against MT19937's
 * published values (seed 5489: first output 3499211612, 10000th 4123659995)
 * and against numpy's legacy `RandomState(42)` (which also seeds an int with
 * init_genrand) raw 32-bit outputs; the permutations in the tests were made by
 * running randperm_cpu's loop in Python over numpy's raw outputs. No torch is
 * installed here; torchRandperm(10, seed) also reproduces permutations that
 * public code records from real PyTorch CPU runs for seeds 0, 1, 42, 2^32+1 and
 * 2^53-1 (test/datasets/glue-splits.test.ts).
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UMASK = 0x80000000;
const LMASK = 0x7fffffff;

/** `at::mt19937` — MT19937 seeded with init_genrand, exactly as PyTorch's CPU generator. */
export class TorchMT19937 {
  private readonly state = new Uint32Array(N);
  private left = 1;
  private next = 0;
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
      throw new Error(`TorchMT19937: seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seed = seed;
    // seed & 0xffffffff (uint64 → uint32 truncation)
    this.state[0] = seed % 2 ** 32 >>> 0;
    for (let j = 1; j < N; j++) {
      const prev = this.state[j - 1];
      this.state[j] = (Math.imul(1812433253, (prev ^ (prev >>> 30)) >>> 0) + j) >>> 0;
    }
    this.left = 1;
    this.next = 0;
  }

  private twist(u: number, v: number): number {
    const mix = ((u & UMASK) | (v & LMASK)) >>> 0;
    return ((mix >>> 1) ^ (v & 1 ? MATRIX_A : 0)) >>> 0;
  }

  private nextState(): void {
    const s = this.state;
    this.left = N;
    this.next = 0;
    let p = 0;
    for (let j = N - M + 1; --j; p++) s[p] = (s[p + M] ^ this.twist(s[p], s[p + 1])) >>> 0;
    for (let j = M; --j; p++) s[p] = (s[p + M - N] ^ this.twist(s[p], s[p + 1])) >>> 0;
    s[p] = (s[p + M - N] ^ this.twist(s[p], s[0])) >>> 0;
  }

  /** One 32-bit output (`CPUGeneratorImpl::random()`). */
  random(): number {
    if (--this.left === 0) this.nextState();
    let y = this.state[this.next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `CPUGeneratorImpl::random64()` as a bigint: (first << 32) | second. */
  random64(): bigint {
    const hi = this.random();
    const lo = this.random();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
}

/** Largest n handled by the algorithm above (torch switches algorithm at n ≥ 2^32/20). */
export const RANDPERM_SMALL_N_LIMIT = Math.floor(0xffffffff / 20);

/**
 * `torch.randperm(n, generator=g)` on CPU. With a fresh generator per call this
 * is `torch.randperm(n, generator=torch.Generator().manual_seed(seed))`.
 */
export function torchRandperm(n: number, generator: TorchMT19937 | number = 42): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`torchRandperm: n must be a non-negative integer, got ${n}`);
  if (n >= RANDPERM_SMALL_N_LIMIT) {
    throw new Error(`torchRandperm: n = ${n} ≥ ${RANDPERM_SMALL_N_LIMIT}; torch uses a different algorithm there, not ported`);
  }
  const g = typeof generator === 'number' ? new TorchMT19937(generator) : generator;
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  for (let i = 0; i < n - 1; i++) {
    const z = g.random() % (n - i);
    const sav = r[i];
    r[i] = r[z + i];
    r[z + i] = sav;
  }
  return r;
}
