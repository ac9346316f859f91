/**
 * Shared plumbing for the wasm kernel fills: a typed view of the parts of
 * tfjs-backend-wasm's `BackendWasm` we use, raw XNNPACK matmul calls on heap
 * offsets (through ALIAS tensor ids registered on sub-ranges of existing
 * buffers), and calls to other wasm kernels.
 *
 * Why aliases: the C `BatchMatMul` export only takes XNNPACK's fast path
 * (fully-connected operator, ~26 GFLOP/s here) for shapes [1,M,K]@[1,K,N]
 * without transposes; anything else runs a naive blocked loop (~2 GFLOP/s).
 * Registering a fresh tensor id that points into a slice of a real tensor's
 * memory (`tfjs.registerTensor(id, size, offset)`) lets us issue one fast call
 * per batch element, writing straight into the output's slice. Aliases are
 * released with `tfjs.disposeData(id)` (which also drops the XNNPACK operator
 * cached on that id), never `_free`: the memory belongs to the real tensor.
 */
import * as tf from '@tensorflow/tfjs-core';

export type DataId = object;

export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

export interface EmscriptenModule {
  HEAPU8: Uint8Array;
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

/** The members of tfjs-backend-wasm's BackendWasm used by the fills. */
export interface WasmBackend {
  wasm: EmscriptenModule;
  dataIdNextNumber: number;
  dataIdMap: {
    get(dataId: DataId): WasmTensorData;
    has(dataId: DataId): boolean;
    numDataIds(): number;
  };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: WasmBackend;
  attrs?: tf.NamedAttrMap;
}

export function asWasm(backend: unknown): WasmBackend {
  const b = backend as WasmBackend;
  if (b == null || b.wasm == null || b.dataIdMap == null || typeof b.makeOutput !== 'function') {
    throw new Error('wasm-fills: kernel called with a backend that is not tfjs-backend-wasm');
  }
  return b;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** Float32 view of `size` elements at byte offset `off`; re-take after any allocation. */
export function f32At(backend: WasmBackend, off: number, size: number): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer, off, size);
}

export function f32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return f32At(backend, offsetOf(backend, t), tf.util.sizeFromShape(t.shape));
}

/** A new float32 output filled with zeros (makeOutput leaves the memory uninitialised). */
export function zerosOutput(backend: WasmBackend, shape: number[], dtype: tf.DataType = 'float32'): tf.TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  const size = tf.util.sizeFromShape(shape);
  if (size > 0) backend.wasm.HEAPU8.fill(0, offsetOf(backend, out), offsetOf(backend, out) + size * 4);
  return out;
}

/** Register an alias tensor id for `size` float32 elements at byte offset `off`. */
export function registerAlias(backend: WasmBackend, off: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, off);
  return id;
}

export function releaseAlias(backend: WasmBackend, id: number): void {
  backend.wasm.tfjs.disposeData(id);
}

type RawBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

const rawMatMuls = new WeakMap<object, RawBatchMatMul>();

/** The C export 'BatchMatMul' (same signature tfjs-backend-wasm 4.22 wraps). */
function rawBatchMatMul(backend: WasmBackend): RawBatchMatMul {
  let f = rawMatMuls.get(backend.wasm);
  if (!f) {
    f = backend.wasm.cwrap('BatchMatMul', null, [
      'number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number',
    ]) as unknown as RawBatchMatMul;
    rawMatMuls.set(backend.wasm, f);
  }
  return f;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/**
 * out[M,N] = L[M,K] · R[K,N] through XNNPACK, all row-major float32 at heap
 * offsets. `rId` may be an alias id the caller keeps registered across calls
 * (XNNPACK then packs R once); otherwise a fresh alias is used and released.
 * Requires M, K, N > 0.
 */
export function xnnMatMul(
  backend: WasmBackend,
  lOff: number,
  M: number,
  K: number,
  rOff: number,
  N: number,
  outOff: number,
  rId?: number,
): void {
  const f = rawBatchMatMul(backend);
  const aId = registerAlias(backend, lOff, M * K);
  const bId = rId ?? registerAlias(backend, rOff, K * N);
  const oId = registerAlias(backend, outOff, M * N);
  try {
    f(aId, shapeBytes([1, M, K]), 3, bId, shapeBytes([1, K, N]), 3, 0, 0, oId);
  } finally {
    releaseAlias(backend, aId);
    if (rId === undefined) releaseAlias(backend, bId);
    releaseAlias(backend, oId);
  }
}

/** Run another wasm kernel's kernelFunc directly (its output is ours to dispose). */
export function runWasmKernel(
  name: string,
  backend: WasmBackend,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm-fills: wasm kernel '${name}' is not registered`);
  return k.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as tf.TensorInfo;
}

/** Batched transpose of the last two dims: t viewed as [batch, rows, cols] -> new [batch, cols, rows]. */
export function transposeLast2(
  backend: WasmBackend,
  t: tf.TensorInfo,
  batch: number,
  rows: number,
  cols: number,
): tf.TensorInfo {
  const view: tf.TensorInfo = { dataId: t.dataId, shape: [batch, rows, cols], dtype: t.dtype };
  return runWasmKernel('Transpose', backend, { x: view }, { perm: [0, 2, 1] });
}

/** A TensorInfo that shares `t`'s data under another shape (no refcount change; never dispose it). */
export function viewAs(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}
