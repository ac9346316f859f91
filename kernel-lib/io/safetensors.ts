/**
 * The safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes]  N, unsigned little-endian 64-bit: the header's byte length
 *   [N bytes]  UTF-8 JSON: { "__metadata__"?: {str: str}, name: { dtype, shape, data_offsets: [begin, end] } }
 *              (the writer pads it with spaces so that N is a multiple of 8)
 *   [rest]     the byte buffer: each tensor's row-major little-endian data at
 *              [begin, end) relative to the start of the buffer
 *
 * Reading converts to the three typed arrays tfjs uses: F32/F16/BF16/F64 →
 * Float32Array, I32/I64 → Int32Array (int64 values must fit in int32, else an
 * Error names the tensor and the value), U8/BOOL → Uint8Array. The header is
 * validated strictly (as the Rust reference does): known dtype, integer shape,
 * offsets inside the buffer and matching dtype·shape, tensors laid out without
 * gaps or overlaps and covering the buffer exactly.
 *
 * Writing is deterministic (tensors sorted by name, `__metadata__` first, data
 * in the same order) and atomic (temp file + fsync + rename, see ./atomic).
 */
import { promises as fsp } from 'fs';
import * as os from 'os';
import { writeFileAtomic } from './atomic';

/** Element size in bytes of every dtype the format defines. */
export const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Dtypes this module reads (others are rejected with an Error naming the tensor). */
export const READABLE_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL'] as const;
/** Dtypes this module writes. */
export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';
const WRITABLE = new Set<string>(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL']);

/** Largest header accepted (the Rust implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface LoadedTensor {
  /** The dtype stored in the file (e.g. 'BF16'); `data` holds it converted. */
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface SafetensorsContents {
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string>;
}

export interface TensorToWrite {
  dtype: WritableDtype;
  shape: number[];
  /** Row-major values; floats for F32/F16/BF16/F64, integers for I64/I32/U8, 0/1 for BOOL. */
  data: ArrayLike<number>;
}

const LE = os.endianness() === 'LE';

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ------------------------------------------------------------------ half floats

/** IEEE binary16 bits → number. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** number → IEEE binary16 bits (round to nearest even; overflow → ±Inf; NaN kept). */
export function numberToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // implicit 1
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return h;
}

/** number → bfloat16 bits (round to nearest even on the float32 bits; NaN kept quiet). */
export function numberToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** bfloat16 bits → number. */
export function bf16BitsToNumber(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

// ------------------------------------------------------------------ reading

function fail(label: string, msg: string): never {
  throw new Error(`safetensors ${label}: ${msg}`);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function decode(label: string, name: string, dtype: string, bytes: Uint8Array, n: number): LoadedTensor['data'] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // An aligned copy (Uint8Array.prototype.slice: a Buffer's own slice() would share memory).
  const copy = (): ArrayBuffer => Uint8Array.prototype.slice.call(bytes).buffer;
  switch (dtype) {
    case 'F32': {
      if (LE) return new Float32Array(copy());
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'I32': {
      if (LE) return new Int32Array(copy());
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = view.getInt32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        if (hi !== lo >> 31) {
          const v = view.getBigInt64(8 * i, true);
          fail(label, `tensor '${name}': int64 value ${v} at index ${i} does not fit in int32 (range [-2^31, 2^31-1])`);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'U8':
      return new Uint8Array(bytes);
    case 'BOOL': {
      const out = new Uint8Array(bytes);
      for (let i = 0; i < n; i++) {
        if (out[i] > 1) fail(label, `tensor '${name}': BOOL value ${out[i]} at index ${i} (expected 0 or 1)`);
      }
      return out;
    }
    default:
      return fail(
        label,
        `tensor '${name}': dtype ${dtype} is valid safetensors but not supported here (readable: ${READABLE_DTYPES.join(', ')})`,
      );
  }
}

/** Parse safetensors bytes (`label` names the source in errors, e.g. the file path). */
export function parseSafetensors(bytes: Uint8Array, label = '<buffer>'): SafetensorsContents {
  if (bytes.byteLength < 8) fail(label, `file is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(label, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) {
    fail(label, `header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  const headerText = Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8');
  if (!headerText.startsWith('{')) fail(label, `header does not start with '{' (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    fail(label, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(label, 'header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(label, '__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(label, `__metadata__['${k}'] is ${typeof v}, expected a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(label, `tensor '${name}': entry is not an object`);
    const info = raw as Record<string, unknown>;
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZES)) {
      fail(label, `tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_SIZES).join(', ')})`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(label, `tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt)) {
      fail(label, `tensor '${name}': data_offsets ${JSON.stringify(offs)} is not [begin, end] with non-negative integers`);
    }
    const [begin, end] = offs as number[];
    if (begin > end) fail(label, `tensor '${name}': data_offsets [${begin}, ${end}] has begin > end`);
    if (end > dataLen) {
      fail(label, `tensor '${name}': data_offsets [${begin}, ${end}] run past the data buffer (${dataLen} bytes; file truncated?)`);
    }
    const expected = numel(shape as number[]) * DTYPE_SIZES[dtype];
    if (end - begin !== expected) {
      fail(
        label,
        `tensor '${name}': data_offsets [${begin}, ${end}] span ${end - begin} bytes, but dtype ${dtype} × shape [${shape}] needs ${expected}`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Layout: sorted by begin, each tensor starts where the previous ends, the last ends at the buffer's end.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = '';
  for (const e of byOffset) {
    if (e.begin < pos) fail(label, `tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev}' (ends at ${pos})`);
    if (e.begin > pos) fail(label, `tensor '${e.name}': data_offsets start at ${e.begin}, leaving a gap after byte ${pos}`);
    pos = e.end;
    prev = e.name;
  }
  if (pos !== dataLen) fail(label, `tensors cover ${pos} bytes of the ${dataLen}-byte data buffer (trailing bytes or wrong header)`);
  const tensors = new Map<string, LoadedTensor>();
  for (const e of entries) {
    const slice = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(label, e.name, e.dtype, slice, numel(e.shape)) });
  }
  return { tensors, metadata };
}

/** Read a .safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new Error(`safetensors ${path}: cannot read: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, path);
}

// ------------------------------------------------------------------ writing

function encode(name: string, t: TensorToWrite): Uint8Array {
  const n = numel(t.shape);
  const size = DTYPE_SIZES[t.dtype];
  const out = new Uint8Array(n * size);
  const view = new DataView(out.buffer);
  const d = t.data;
  const intCheck = (i: number, lo: number, hi: number): number => {
    const v = d[i];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new Error(`writeSafetensors: tensor '${name}': value ${v} at index ${i} is not a ${t.dtype} value (integer in [${lo}, ${hi}])`);
    }
    return v;
  };
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, d[i], true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, d[i], true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, numberToF16Bits(d[i]), true);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, numberToBf16Bits(d[i]), true);
      break;
    case 'I32':
      for (let i = 0; i < n; i++) view.setInt32(4 * i, intCheck(i, -(2 ** 31), 2 ** 31 - 1), true);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) view.setBigInt64(8 * i, BigInt(intCheck(i, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)), true);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = intCheck(i, 0, 255);
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = intCheck(i, 0, 1);
      break;
  }
  return out;
}

/**
 * Serialise tensors to safetensors chunks (header length, header, data):
 * deterministic (sorted names), header padded with spaces to a multiple of 8.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array[] {
  const names = Object.keys(tensors).sort();
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata['${k}'] is ${typeof v}, expected a string`);
    }
    const sorted = Object.keys(metadata)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__":{${sorted.join(',')}}`);
  }
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === '' || name === '__metadata__') throw new Error(`writeSafetensors: invalid tensor name '${name}'`);
    if (t == null || typeof t !== 'object') throw new Error(`writeSafetensors: tensor '${name}': expected { dtype, shape, data }`);
    if (!WRITABLE.has(t.dtype)) {
      throw new Error(`writeSafetensors: tensor '${name}': dtype ${String(t.dtype)} not writable (expected one of ${[...WRITABLE].join(', ')})`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) {
      throw new Error(`writeSafetensors: tensor '${name}': shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    if (t.data == null || typeof t.data.length !== 'number' || t.data.length !== numel(t.shape)) {
      throw new Error(
        `writeSafetensors: tensor '${name}': shape [${t.shape}] needs ${numel(t.shape)} values, got ${t.data == null ? 'no data' : t.data.length}`,
      );
    }
    const bytes = encode(name, t);
    datas.push(bytes);
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes.byteLength}]}`,
    );
    offset += bytes.byteLength;
  }
  let header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (header.byteLength % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(header.byteLength), true);
  return [len, header, ...datas];
}

/** Write tensors (and optional string metadata) to a .safetensors file, atomically. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  const chunks = encodeSafetensors(tensors, metadata);
  await writeFileAtomic(path, chunks);
}

/** The first float tensor holding NaN or ±Inf, with where (host arrays only: nothing is read from a device). */
export function firstNonFinite(
  tensors: Map<string, { data: ArrayLike<number>; shape: number[] }>,
): { key: string; index: number; value: number; shape: number[] } | undefined {
  for (const [key, t] of tensors) {
    const d = t.data;
    if (!(d instanceof Float32Array || d instanceof Float64Array)) continue;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return { key, index: i, value: d[i], shape: t.shape };
  }
  return undefined;
}
