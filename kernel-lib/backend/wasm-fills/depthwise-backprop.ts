/**
 * DepthwiseConv2dNativeBackpropFilter / DepthwiseConv2dNativeBackpropInput:
 * missing from tfjs-backend-wasm 4.22, so tf.grad of a depthwiseConv2d throws
 * on wasm. Plain JS loops over the wasm heap (depthwise convs do little work
 * per output: KH*KW*CI*CM multiply-adds per pixel), NHWC, any stride /
 * padding / dilation that backend_util.computeConv2DInfo accepts. Filter sums
 * accumulate in float64. No speed-up to report: there was no kernel before
 * (the only alternative is switching the whole model to the cpu backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelArgs, asWasm, f32, zerosOutput } from './wasm-util';

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function info(kernel: string, xShape: number[], filterShape: number[], attrs: DepthwiseAttrs, dtypes: tf.DataType[]) {
  if (dtypes.some((d) => d !== 'float32')) {
    throw new Error(`${kernel} (wasm fill): only float32 is supported, got ${dtypes.join(', ')}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

export function depthwiseBackpropFilterFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: number[] };
  const c = info('DepthwiseConv2dNativeBackpropFilter', x.shape, attrs.filterShape, attrs, [x.dtype, dy.dtype]);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = c;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const CM = CO / CI;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  const acc = new Float64Array(KH * KW * CI * CM);
  const out = zerosOutput(backend, [KH, KW, CI, CM]);
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh - pt + kh * dh;
        if (ih < 0 || ih >= H) continue;
        for (let ow = 0; ow < OW; ow++) {
          const dyBase = ((b * OH + oh) * OW + ow) * CO;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pl + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((b * H + ih) * W + iw) * CI;
            const fBase = (kh * KW + kw) * CI * CM;
            for (let ci = 0; ci < CI; ci++) {
              const xval = xv[xBase + ci];
              for (let m = 0; m < CM; m++) acc[fBase + ci * CM + m] += xval * dyv[dyBase + ci * CM + m];
            }
          }
        }
      }
    }
  }
  f32(backend, out).set(acc);
  return out;
}

export function depthwiseBackpropInputFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: number[] };
  const c = info('DepthwiseConv2dNativeBackpropInput', attrs.inputShape, filter.shape, attrs, [dy.dtype, filter.dtype]);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = c;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const CM = CO / CI;
  const pt = c.padInfo.top;
  const pl = c.padInfo.left;
  const out = zerosOutput(backend, [B, H, W, CI]);
  const dxv = f32(backend, out);
  const fv = f32(backend, filter);
  const dyv = f32(backend, dy);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh - pt + kh * dh;
        if (ih < 0 || ih >= H) continue;
        for (let ow = 0; ow < OW; ow++) {
          const dyBase = ((b * OH + oh) * OW + ow) * CO;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pl + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((b * H + ih) * W + iw) * CI;
            const fBase = (kh * KW + kw) * CI * CM;
            for (let ci = 0; ci < CI; ci++) {
              let s = 0;
              for (let m = 0; m < CM; m++) s += dyv[dyBase + ci * CM + m] * fv[fBase + ci * CM + m];
              dxv[xBase + ci] += s;
            }
          }
        }
      }
    }
  }
  return out;
}
