/**
 * Conv2DBackpropFilter (missing from tfjs-backend-wasm 4.22, so tf.grad of a
 * conv2d filter throws on wasm) and Conv2DBackpropInput (present, but a naive
 * loop several times slower than the forward XNNPACK conv).
 *
 * Conv2DBackpropInput runs as forward XNNPACK convs of dy with (sub-)filters
 * of the rotated filter (conv2d-backprop-as-conv.ts), as fast as the forward
 * conv, whenever no phase needs dy cropped (every conv of ResNet18).
 * Otherwise both kernels are im2col + XNNPACK matmul, NHWC, any stride,
 * 'same' / 'valid' /
 * explicit padding (geometry from backend_util.computeConv2DInfo), dilation 1
 * (what tfjs's conv2d gradient supports), processed in chunks of examples so
 * the column buffer stays below ~convTuning.chunkElems floats:
 *   dW[Kc,CO] = colsT[Kc,R] · dy[R,CO]   (colsT written transposed by the JS
 *                                         im2col, so no separate transpose)
 *   dcols[R,Kc] = dy[R,CO] · W^T[CO,Kc]  then col2im-accumulate into dx
 * with Kc = KH*KW*CI and R = examples*OH*OW.
 *
 * Measured (2-core x86, Node 20, wasm SIMD, 1 thread; `node --import tsx
 * bench/wasm-kernels.bench.ts`):
 *   [32,56,56,64] 3x3 64->64 s1 same: forward conv2d 253 ms (yardstick);
 *     BackpropInput 3164 ms -> 246 ms (12.8x; im2col + col2im was 412 ms);
 *     BackpropFilter missing -> 397 ms
 *   [32,28,28,128] 3x3 128->128 s2 same: forward 60 ms;
 *     BackpropInput 799 ms -> 82 ms (9.7x, im2col); BackpropFilter missing -> 92 ms
 */
import * as tf from '@tensorflow/tfjs-core';
import { backpropInputAsConv } from './conv2d-backprop-as-conv';
import {
  KernelArgs,
  WasmBackend,
  asWasm,
  f32At,
  offsetOf,
  registerAlias,
  releaseAlias,
  transposeLast2,
  xnnMatMul,
  zerosOutput,
} from './wasm-util';

/** Upper bound on the column buffer per chunk (floats); tests lower it to exercise chunking. */
export const convTuning = { chunkElems: 4 * 1024 * 1024 };

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;
let originalInput: KernelFunc | undefined;
let originalInputSetup: ((backend: tf.KernelBackend) => void) | undefined;
const setUp = new WeakSet<object>();

export function setOriginalConv2DBackpropInput(config: tf.KernelConfig): void {
  originalInput = config.kernelFunc as unknown as KernelFunc;
  originalInputSetup = config.setupFunc as ((backend: tf.KernelBackend) => void) | undefined;
}

/** The original tfjs-backend-wasm Conv2DBackpropInput (for benchmarks). */
export function originalConv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  if (!originalInput) throw new Error('wasm-fills: original Conv2DBackpropInput kernel not recorded');
  if (originalInputSetup && !setUp.has(args.backend)) {
    originalInputSetup(args.backend as unknown as tf.KernelBackend);
    setUp.add(args.backend);
  }
  return originalInput(args);
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function checkFormat(kernel: string, attrs: ConvAttrs, dtypes: tf.DataType[]): void {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm fill): only dataFormat NHWC is supported, got ${attrs.dataFormat}`);
  }
  if (dtypes.some((d) => d !== 'float32')) {
    throw new Error(`${kernel} (wasm fill): only float32 is supported, got ${dtypes.join(', ')}`);
  }
}

function convInfoFor(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error(`${kernel} (wasm fill): dilations > 1 are not supported`);
  }
  return info;
}

function examplesPerChunk(info: tf.backend_util.Conv2DInfo): number {
  const kc = info.filterHeight * info.filterWidth * info.inChannels;
  const perExample = kc * info.outHeight * info.outWidth;
  return Math.max(1, Math.min(info.batchSize, Math.floor(convTuning.chunkElems / Math.max(1, perExample))));
}

export function conv2DBackpropFilterFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
  checkFormat('Conv2DBackpropFilter', attrs, [x.dtype, dy.dtype]);
  const info = convInfoFor('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs);
  const { batchSize, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const CO = info.outChannels;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const filterShape = [KH, KW, CI, CO];
  const Kc = KH * KW * CI;
  const P = OH * OW;
  const dw = zerosOutput(backend, filterShape);
  if (batchSize * P * Kc * CO === 0) return dw;

  const nb = examplesPerChunk(info);
  const single = nb >= batchSize;
  const cols = backend.makeOutput([Kc, nb * P], 'float32');
  const part = single ? undefined : backend.makeOutput([Kc, CO], 'float32');
  try {
    const xOff = offsetOf(backend, x);
    const dyOff = offsetOf(backend, dy);
    const colsOff = offsetOf(backend, cols);
    const dwOff = offsetOf(backend, dw);
    for (let b0 = 0; b0 < batchSize; b0 += nb) {
      const nbc = Math.min(nb, batchSize - b0);
      const R = nbc * P;
      // colsT[k, r] with k = (kh*KW + kw)*CI + ci, r = (b*OH + oh)*OW + ow.
      const xv = f32At(backend, xOff + b0 * H * W * CI * 4, nbc * H * W * CI);
      const cv = f32At(backend, colsOff, Kc * R);
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const rowBase = (kh * KW + kw) * CI * R;
          let r = 0;
          for (let b = 0; b < nbc; b++) {
            const xb = b * H * W * CI;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * sh - pt + kh;
              const rowOk = ih >= 0 && ih < H;
              for (let ow = 0; ow < OW; ow++, r++) {
                const iw = ow * sw - pl + kw;
                if (rowOk && iw >= 0 && iw < W) {
                  let src = xb + (ih * W + iw) * CI;
                  let dst = rowBase + r;
                  for (let ci = 0; ci < CI; ci++, dst += R) cv[dst] = xv[src++];
                } else {
                  let dst = rowBase + r;
                  for (let ci = 0; ci < CI; ci++, dst += R) cv[dst] = 0;
                }
              }
            }
          }
        }
      }
      const target = single ? dwOff : offsetOf(backend, part as tf.TensorInfo);
      xnnMatMul(backend, colsOff, Kc, R, dyOff + b0 * P * CO * 4, CO, target);
      if (!single) {
        const acc = f32At(backend, dwOff, Kc * CO);
        const pv = f32At(backend, target, Kc * CO);
        for (let i = 0; i < Kc * CO; i++) acc[i] += pv[i];
      }
    }
  } catch (e) {
    backend.disposeData(dw.dataId);
    throw e;
  } finally {
    backend.disposeData(cols.dataId);
    if (part) backend.disposeData(part.dataId);
  }
  return dw;
}

export function conv2DBackpropInputFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
  checkFormat('Conv2DBackpropInput', attrs, [dy.dtype, filter.dtype]);
  const info = convInfoFor('Conv2DBackpropInput', attrs.inputShape, filter.shape, attrs);
  const { batchSize, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const CO = info.outChannels;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const Kc = KH * KW * CI;
  const P = OH * OW;
  const dx = zerosOutput(backend, [batchSize, H, W, CI]);
  if (batchSize * P * Kc * CO === 0) return dx;

  const viaConv = backpropInputAsConv(backend, dy, filter, info);
  if (viaConv) {
    backend.disposeData(dx.dataId);
    return viaConv;
  }

  const nb = examplesPerChunk(info);
  const temps: tf.TensorInfo[] = [];
  let wtId: number | undefined;
  try {
    const wt = transposeLast2(backend, filter, 1, Kc, CO); // [CO, Kc]
    temps.push(wt);
    const dcols = backend.makeOutput([nb * P, Kc], 'float32');
    temps.push(dcols);
    const wtOff = offsetOf(backend, wt);
    wtId = registerAlias(backend, wtOff, CO * Kc); // kept: XNNPACK packs W^T once
    const dyOff = offsetOf(backend, dy);
    const dcOff = offsetOf(backend, dcols);
    const dxOff = offsetOf(backend, dx);
    for (let b0 = 0; b0 < batchSize; b0 += nb) {
      const nbc = Math.min(nb, batchSize - b0);
      const R = nbc * P;
      xnnMatMul(backend, dyOff + b0 * P * CO * 4, R, CO, wtOff, Kc, dcOff, wtId);
      const dv = f32At(backend, dcOff, R * Kc);
      const xv = f32At(backend, dxOff + b0 * H * W * CI * 4, nbc * H * W * CI);
      let r = 0;
      for (let b = 0; b < nbc; b++) {
        const xb = b * H * W * CI;
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++, r++) {
            const rb = r * Kc;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - pt + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pl + kw;
                if (iw < 0 || iw >= W) continue;
                let dst = xb + (ih * W + iw) * CI;
                let src = rb + (kh * KW + kw) * CI;
                for (let ci = 0; ci < CI; ci++) xv[dst++] += dv[src++];
              }
            }
          }
        }
      }
    }
  } catch (e) {
    backend.disposeData(dx.dataId);
    throw e;
  } finally {
    if (wtId !== undefined) releaseAlias(backend, wtId);
    for (const t of temps) backend.disposeData(t.dataId);
  }
  return dx;
}

export type { WasmBackend };
