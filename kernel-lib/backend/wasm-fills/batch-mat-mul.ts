/**
 * BatchMatMul fill for the wasm backend.
 *
 * Why: tfjs-backend-wasm 4.22's C kernel (batch_mat_mul_impl.cc) uses XNNPACK
 * only for [1,M,K]@[1,K,N] without transposes; every other case (batch > 1 on
 * either side, transposeA/transposeB — i.e. every matmul gradient — and even
 * [B,S,C]@[C,d]) runs a naive blocked loop at ~2 GFLOP/s.
 *
 * What: same semantics as the original kernel (float32 only, tf.matMul batch
 * broadcasting, same errors), but
 *   - b with batch 1 and no transposes: a is viewed as [1, batch*M, K] and the
 *     original kernel runs once on its XNNPACK path (keeps its weight cache);
 *   - otherwise one XNNPACK call per output batch element on alias ids that
 *     point into slices of the operands and of the output (see wasm-util.ts);
 *   - transposes: operands are made contiguous with the wasm Transpose kernel,
 *     choosing between op(A)·op(B) and (op(B)^T·op(A)^T)^T by the number of
 *     elements transposed plus those XNNPACK packs as weights (e.g. for
 *     dx = dz·W^T only the small W is transposed; for dW = x^T·dz both plans
 *     move x once, which bounds that case);
 *   - tiny products (M*N*K < SMALL_MNK) with plain broadcasting go to the
 *     original kernel, whose loop beats per-call XNNPACK set-up there.
 *
 * Measured (2-core x86, Node 20, wasm SIMD, 1 thread; `node --import tsx
 * bench/wasm-kernels.bench.ts`, median of 5, original -> fill):
 *   [32,128,768]@[32,768,24]      68 ms -> 7.8 ms (8.7x)   SMEAR forward
 *   [32,128,24]@[32,768,24]^T     73 ms -> 9.5 ms (7.7x)   its grad wrt x
 *   [32,128,768]^T@[32,128,24]    73 ms -> 11.7 ms (6.2x)  its grad wrt W
 *   [32,128,768]@[768,24]         68 ms -> 5.3 ms (12.7x)
 *   [4096,768]^T@[4096,24]        68 ms -> 26 ms (2.6x)    dense dW (bound by transposing x)
 *   [4096,24]@[768,24]^T          72 ms -> 5.9 ms (12.2x)  dense dx
 *   [4096,768]@[768,24]           unchanged (5.2 ms, already XNNPACK)
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  KernelArgs,
  WasmBackend,
  asWasm,
  offsetOf,
  registerAlias,
  releaseAlias,
  transposeLast2,
  viewAs,
  xnnMatMul,
  zerosOutput,
} from './wasm-util';

/** Below this M*N*K per batch element the original kernel is used (when broadcasting is simple). */
export const SMALL_MNK = 16 * 1024;

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

let original: KernelFunc | undefined;
let originalSetup: ((backend: tf.KernelBackend) => void) | undefined;
const setUpBackends = new WeakSet<object>();

/** Called by index.ts with the kernel config that tfjs-backend-wasm registered. */
export function setOriginalBatchMatMul(config: tf.KernelConfig): void {
  original = config.kernelFunc as unknown as KernelFunc;
  originalSetup = config.setupFunc as ((backend: tf.KernelBackend) => void) | undefined;
}

/** The original tfjs-backend-wasm BatchMatMul kernel (its cwrap set up lazily). */
export function originalBatchMatMul(args: KernelArgs): tf.TensorInfo {
  if (!original) throw new Error('wasm-fills: original BatchMatMul kernel not recorded');
  ensureOriginalSetup(args.backend);
  return original(args);
}

/** Run the original kernel's setupFunc once per backend (the engine only calls ours). */
export function ensureOriginalSetup(backend: WasmBackend): void {
  if (originalSetup && !setUpBackends.has(backend)) {
    originalSetup(backend as unknown as tf.KernelBackend);
    setUpBackends.add(backend);
  }
}

/** Flat batch index into each operand for every output batch element (tf.matMul broadcasting). */
function batchIndexMaps(aOuter: number[], bOuter: number[], outOuter: number[]): [Int32Array, Int32Array] {
  const nOut = tf.util.sizeFromShape(outOuter);
  const map = (dims: number[]): Int32Array => {
    const idx = new Int32Array(nOut);
    const r = outOuter.length;
    const off = r - dims.length;
    const strides = new Array<number>(dims.length);
    let s = 1;
    for (let d = dims.length - 1; d >= 0; d--) {
      strides[d] = s;
      s *= dims[d];
    }
    for (let o = 0; o < nOut; o++) {
      let rem = o;
      let flat = 0;
      for (let d = r - 1; d >= 0; d--) {
        const i = rem % outOuter[d];
        rem = Math.floor(rem / outOuter[d]);
        const dd = d - off;
        if (dd >= 0 && dims[dd] !== 1) flat += i * strides[dd];
      }
      idx[o] = flat;
    }
    return idx;
  };
  return [map(aOuter), map(bOuter)];
}

function isIdentity(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}

/**
 * out[o] = Lop[idxL[o]] · Rop[idxR[o]] for o < idxL.length, where Lop is [M,K]
 * and Rop [K,N]; stored L is [bL,M,K] (or [bL,K,M] when lTrans), stored R is
 * [bR,K,N] (or [bR,N,K] when rTrans). Writes into `out` ([nOut,M,N]).
 */
function batchedProduct(
  backend: WasmBackend,
  l: tf.TensorInfo,
  lTrans: boolean,
  bL: number,
  r: tf.TensorInfo,
  rTrans: boolean,
  bR: number,
  idxL: Int32Array,
  idxR: Int32Array,
  M: number,
  K: number,
  N: number,
  out: tf.TensorInfo,
): void {
  const temps: tf.TensorInfo[] = [];
  try {
    let lc = l;
    if (lTrans) {
      lc = transposeLast2(backend, l, bL, K, M);
      temps.push(lc);
    }
    let rc = r;
    if (rTrans) {
      rc = transposeLast2(backend, r, bR, N, K);
      temps.push(rc);
    }
    const nOut = idxL.length;
    const lOff = offsetOf(backend, lc);
    const rOff = offsetOf(backend, rc);
    const oOff = offsetOf(backend, out);
    if (bR === 1 && bL === nOut && isIdentity(idxL)) {
      xnnMatMul(backend, lOff, nOut * M, K, rOff, N, oOff);
      return;
    }
    // Shared R (batch 1): keep one alias so XNNPACK packs it once.
    const sharedR = bR === 1 ? registerAlias(backend, rOff, K * N) : undefined;
    try {
      for (let o = 0; o < nOut; o++) {
        xnnMatMul(
          backend,
          lOff + idxL[o] * M * K * 4,
          M,
          K,
          rOff + idxR[o] * K * N * 4,
          N,
          oOff + o * M * N * 4,
          sharedR,
        );
      }
    } finally {
      if (sharedR !== undefined) releaseAlias(backend, sharedR);
    }
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

export function batchMatMulFill(rawArgs: KernelArgs): tf.TensorInfo {
  const backend = asWasm(rawArgs.backend);
  const args: KernelArgs = { ...rawArgs, backend };
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const tA = !!transposeA;
  const tB = !!transposeB;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`BatchMatMul for non non-float32 tensors not yet supported.`);
  }
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const innerA = tA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const innerB = tB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const M = tA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const N = tB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const bA = tf.util.sizeFromShape(aOuter);
  const bB = tf.util.sizeFromShape(bOuter);
  const outOuter = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const outShape = outOuter.concat([M, N]);
  tf.util.assert(
    innerA === innerB,
    () =>
      `Error in matMul: inner shapes (${innerA}) and (` +
      `${innerB}) of Tensors with shapes ${a.shape} and ` +
      `${b.shape} and transposeA=${tA}` +
      ` and transposeB=${tB} must match.`,
  );
  const K = innerA;
  const nOut = tf.util.sizeFromShape(outOuter);

  if (nOut * M * N === 0 || K === 0) return zerosOutput(backend, outShape);

  const simpleBroadcast = bA === bB || bA === 1 || bB === 1;
  if (simpleBroadcast && M * N * K < SMALL_MNK) return originalBatchMatMul(args);

  if (!tA && !tB && bB === 1) {
    // [batch, M, K] @ [K, N]: one XNNPACK call on the original kernel's fast path.
    const out = originalBatchMatMul({
      ...args,
      inputs: { a: viewAs(a, [nOut * M, K]), b: viewAs(b, [K, N]) },
      attrs: { transposeA: false, transposeB: false },
    });
    out.shape = outShape;
    return out;
  }

  const [idxA, idxB] = batchIndexMaps(aOuter, bOuter, outOuter);
  // Elements moved by transposes and XNNPACK weight packing for each plan.
  const aSize = bA * M * K;
  const bSize = bB * K * N;
  const direct = (tA ? aSize : 0) + (tB ? bSize : 0) + (bB === 1 ? K * N : nOut * K * N);
  const flipped = (tB ? 0 : bSize) + (tA ? 0 : aSize) + nOut * M * N + (bA === 1 ? K * M : nOut * K * M);

  if (direct <= flipped) {
    const out = backend.makeOutput([nOut, M, N], 'float32');
    try {
      batchedProduct(backend, a, tA, bA, b, tB, bB, idxA, idxB, M, K, N, out);
    } catch (e) {
      backend.disposeData(out.dataId);
      throw e;
    }
    out.shape = outShape;
    return out;
  }
  // C^T = op(B)^T · op(A)^T, then transpose back.
  const outT = backend.makeOutput([nOut, N, M], 'float32');
  try {
    batchedProduct(backend, b, !tB, bB, a, !tA, bA, idxB, idxA, N, K, M, outT);
    const out = transposeLast2(backend, outT, nOut, N, M);
    out.shape = outShape;
    return out;
  } finally {
    backend.disposeData(outT.dataId);
  }
}
