/**
 * Kernel fills for the wasm backend (registered by `initBackend`, right after
 * `require('@tensorflow/tfjs-backend-wasm')` and before `tf.setBackend('wasm')`).
 *
 * tfjs-backend-wasm 4.22 lacks some kernels training needs and runs others on a
 * naive loop; each file here documents one fill and its measured speed-up:
 *   batch-mat-mul.ts         BatchMatMul (replaces the original: batched / transposed cases on XNNPACK)
 *   conv2d-backprop.ts       Conv2DBackpropFilter (missing), Conv2DBackpropInput (replaces the naive one:
 *                            conv2d-backprop-as-conv.ts where it can, else im2col)
 *   depthwise-backprop.ts    DepthwiseConv2dNativeBackpropFilter / Input (missing)
 *   unsorted-segment-sum.ts  UnsortedSegmentSum (missing; the gradient of tf.gather)
 *   einsum.ts                Einsum (missing; built from other wasm kernels)
 *   identity.ts              Identity, same-dtype Cast (replace the copying ones: share the data, count a reference)
 *   channel-ops.ts           SmearChannelMoments / SmearChannelSums (new kernels: one-sweep BatchNorm statistics)
 *
 * Idempotent: a second call (or a second copy of this module) changes nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulFill, setOriginalBatchMatMul } from './batch-mat-mul';
import { conv2DBackpropFilterFill, conv2DBackpropInputFill, setOriginalConv2DBackpropInput } from './conv2d-backprop';
import { depthwiseBackpropFilterFill, depthwiseBackpropInputFill } from './depthwise-backprop';
import { unsortedSegmentSumFill } from './unsorted-segment-sum';
import { einsumFill } from './einsum';
import { castFill, identityFill, setOriginalCast, setOriginalIdentity } from './identity';
import { CHANNEL_MOMENTS, CHANNEL_SUMS, channelMomentsKernel, channelSumsKernel } from './channel-ops';
import { KernelArgs } from './wasm-util';

const FILL_MARK = '__smearWasmFill';

type Fill = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

function isFill(config: tf.KernelConfig | undefined): boolean {
  return config != null && (config.kernelFunc as unknown as Record<string, unknown>)[FILL_MARK] === true;
}

/** Register `fill` for `kernelName` on wasm; returns the config it replaced, if any. */
function install(kernelName: string, fill: Fill): tf.KernelConfig | undefined {
  const existing = tf.getKernel(kernelName, 'wasm');
  if (isFill(existing)) return undefined;
  const kernelFunc = ((args: unknown) => fill(args as KernelArgs)) as unknown as tf.KernelFunc;
  (kernelFunc as unknown as Record<string, unknown>)[FILL_MARK] = true;
  if (existing) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  return existing;
}

/** Kernel names the fills cover (for tests and diagnostics). */
export const WASM_FILLED_KERNELS: readonly string[] = [
  'BatchMatMul',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'Einsum',
  'Identity',
  'Cast',
  CHANNEL_MOMENTS,
  CHANNEL_SUMS,
];

let registered = false;

export function registerWasmFills(): void {
  if (registered) return;
  registered = true;

  // Replacements: each fill gets the original kernel (its fallback for cases it leaves alone).
  const replace = (name: string, fill: Fill, keepOriginal: (config: tf.KernelConfig) => void): void => {
    const original = tf.getKernel(name, 'wasm');
    if (original && !isFill(original)) keepOriginal(original);
    install(name, fill);
  };
  replace('BatchMatMul', batchMatMulFill, setOriginalBatchMatMul);
  replace('Conv2DBackpropInput', conv2DBackpropInputFill, setOriginalConv2DBackpropInput);
  replace('Identity', identityFill, setOriginalIdentity);
  replace('Cast', castFill, setOriginalCast);
  install('Conv2DBackpropFilter', conv2DBackpropFilterFill);
  install(CHANNEL_MOMENTS, channelMomentsKernel);
  install(CHANNEL_SUMS, channelSumsKernel);

  // Only where the wasm backend has none (these fills are plain JS loops).
  const ifMissing = (name: string, fill: Fill): void => {
    if (!tf.getKernel(name, 'wasm')) install(name, fill);
  };
  ifMissing('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilterFill);
  ifMissing('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInputFill);
  ifMissing('UnsortedSegmentSum', unsortedSegmentSumFill);
  ifMissing('Einsum', einsumFill);
}
