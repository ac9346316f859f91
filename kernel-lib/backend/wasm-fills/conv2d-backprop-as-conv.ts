/**
 * Conv2DBackpropInput as forward XNNPACK convolutions (used by
 * conv2d-backprop.ts before its im2col path): as fast as the forward conv.
 *
 * Per spatial axis (H shown; W alike), with stride s and top padding pt:
 *   dx[ih] = Σ_{oh,kh : oh·s − pt + kh = ih} dy[oh] · W[kh]
 * Split the rows of dx by phase p = ih mod s (ih = p + s·i, i < Hp = ⌈(H − p)/s⌉).
 * Only taps kh = r + s·m (r = (p + pt) mod s, m < M = ⌈(KH − r)/s⌉) reach
 * phase p, from oh = i + c − m with c = (p + pt − r)/s, so
 *   dx_p[i] = Σ_{m'} dy[i + c − (M − 1) + m'] · V[m'],   V[m'] = W[r + s·(M − 1 − m')]
 * a stride-1 convolution of dy with the flipped sub-filter V (channel axes
 * swapped: V is [M_h, M_w, CO, CI]), padded by M − 1 − c on top and so that
 * exactly Hp rows come out at the bottom. Stride 1 is one phase: the whole
 * filter rotated by 180°. A phase without taps (M = 0, e.g. the odd rows of a
 * 1×1 stride-2 conv) stays zero; phases are interleaved into dx by row copies.
 * Returns undefined when a phase would need negative padding (dy cropped):
 * the caller then uses im2col.
 *
 * The sub-filters are cached per filter tensor: a frozen backbone's filters
 * are the same tensors every step, and rebuilding them (plus the XNNPACK
 * operator packed on their ids) costs more than the conv itself for small
 * maps (measured: ResNet18 layer4 at 64 px, [32,2,2,512] 3×3: 45 ms uncached
 * vs 20 ms for the forward conv). tfjs tensors are immutable (a variable's
 * assign gives it a new data id; Identity shares data, see identity.ts), so a
 * data id names fixed contents. Entries whose filter was disposed are freed
 * at the next call, which also drops their XNNPACK operators.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WasmBackend, offsetOf, runWasmKernel, transposeLast2, zerosOutput } from './wasm-util';

interface Phase {
  /** first tap r and tap count M */
  r: number;
  M: number;
  /** rows of this phase and the stride-1 conv's paddings */
  n: number;
  padBefore: number;
  padAfter: number;
}

/** The phase-p geometry of one axis; null: no rows or no taps (stays zero); 'crop': unsupported. */
function phaseOf(p: number, s: number, pad: number, K: number, inSize: number, outSize: number): Phase | null | 'crop' {
  const n = Math.ceil((inSize - p) / s);
  const r = (((p + pad) % s) + s) % s;
  const M = r < K ? Math.ceil((K - r) / s) : 0;
  if (n <= 0 || M === 0) return null;
  const c = (p + pad - r) / s;
  const padBefore = M - 1 - c;
  const padAfter = n + M - 1 - outSize - padBefore;
  if (padBefore < 0 || padAfter < 0) return 'crop';
  return { r, M, n, padBefore, padAfter };
}

export function backpropInputAsConv(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo | undefined {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = info;
  const rows: (Phase | null)[] = [];
  const cols: (Phase | null)[] = [];
  for (let p = 0; p < sh; p++) {
    const ph = phaseOf(p, sh, info.padInfo.top, KH, H, OH);
    if (ph === 'crop') return undefined;
    rows.push(ph);
  }
  for (let q = 0; q < sw; q++) {
    const ph = phaseOf(q, sw, info.padInfo.left, KW, W, OW);
    if (ph === 'crop') return undefined;
    cols.push(ph);
  }
  const conv = (ph: Phase, pw: Phase) =>
    runWasmKernel('Conv2D', backend, { x: dy, filter: subFilter(backend, filter, info, ph, pw) }, {
      strides: [1, 1],
      pad: [[0, 0], [ph.padBefore, ph.padAfter], [pw.padBefore, pw.padAfter], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    } as unknown as tf.NamedAttrMap); // [B, ph.n, pw.n, CI]
  if (sh === 1 && sw === 1) return conv(rows[0] as Phase, cols[0] as Phase);

  const dx = zerosOutput(backend, [B, H, W, CI]);
  const rowBytes = CI * 4;
  for (let p = 0; p < sh; p++) {
    for (let q = 0; q < sw; q++) {
      const ph = rows[p];
      const pw = cols[q];
      if (!ph || !pw) continue;
      const part = conv(ph, pw);
      try {
        const heap = backend.wasm.HEAPU8; // after the allocation above
        const src0 = offsetOf(backend, part);
        const dst0 = offsetOf(backend, dx);
        for (let b = 0, src = src0; b < B; b++) {
          for (let i = 0; i < ph.n; i++) {
            let dst = dst0 + ((b * H + p + sh * i) * W + q) * rowBytes;
            for (let j = 0; j < pw.n; j++, src += rowBytes, dst += sw * rowBytes) heap.copyWithin(dst, src, src + rowBytes);
          }
        }
      } finally {
        backend.disposeData(part.dataId);
      }
    }
  }
  return dx;
}

type CacheEntry = { key: string; sub: tf.TensorInfo };
const subFilterCache = new WeakMap<WasmBackend, Map<object, CacheEntry[]>>();

/** V[m', n', co, ci] = W[rh + sh·(Mh − 1 − m'), rw + sw·(Mw − 1 − n'), ci, co], cached per filter. */
function subFilter(backend: WasmBackend, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, ph: Phase, pw: Phase): tf.TensorInfo {
  const { filterHeight: KH, filterWidth: KW, inChannels: CI, outChannels: CO, strideHeight: sh, strideWidth: sw } = info;
  let cache = subFilterCache.get(backend);
  if (!cache) subFilterCache.set(backend, (cache = new Map()));
  sweep(backend, cache);
  const key = [KH, KW, CI, CO, sh, sw, ph.r, ph.M, pw.r, pw.M].join(',');
  const entries = cache.get(filter.dataId) ?? [];
  const hit = entries.find((e) => e.key === key);
  if (hit) return hit.sub;

  const t = transposeLast2(backend, filter, KH * KW, CI, CO); // [KH*KW, CO, CI]
  try {
    const sub = backend.makeOutput([ph.M, pw.M, CO, CI], 'float32');
    const heap = backend.wasm.HEAPU8;
    const src = offsetOf(backend, t);
    const dst = offsetOf(backend, sub);
    const bytes = CO * CI * 4;
    for (let m = 0; m < ph.M; m++) {
      const kh = ph.r + sh * (ph.M - 1 - m);
      for (let n = 0; n < pw.M; n++) {
        const kw = pw.r + sw * (pw.M - 1 - n);
        const from = src + (kh * KW + kw) * bytes;
        heap.copyWithin(dst + (m * pw.M + n) * bytes, from, from + bytes);
      }
    }
    entries.push({ key, sub });
    cache.set(filter.dataId, entries);
    return sub;
  } finally {
    backend.disposeData(t.dataId);
  }
}

function sweep(backend: WasmBackend, cache: Map<object, CacheEntry[]>): void {
  for (const [id, entries] of cache) {
    if (backend.dataIdMap.has(id)) continue;
    for (const e of entries) backend.disposeData(e.sub.dataId);
    cache.delete(id);
  }
}
