/**
 * Per-channel statistics over channels-last tensors (the last axis is C; every
 * other axis is reduced), for BatchNorm. On wasm
 * each call is one sweep in the kernels of wasm-fills/channel-ops.ts; on other
 * backends the same values come from tf ops (two-pass variance, centred sums,
 * so float32 arithmetic loses nothing to cancellation). No gradients: callers
 * use them inside a tf.customGrad.
 *
 * Shapes: x, a, b [..., C]; per-channel arguments and results [C].
 */
import * as tf from '@tensorflow/tfjs-core';
import { CHANNEL_MOMENTS, CHANNEL_SUMS } from './wasm-fills/channel-ops';

const onWasm = (t: tf.Tensor): boolean => tf.getBackend() === 'wasm' && t.dtype === 'float32';
const leadingAxes = (t: tf.Tensor): number[] => Array.from({ length: t.rank - 1 }, (_, i) => i);

/** μ = mean x and σ² = mean (x − μ)² (biased) per channel. */
export function channelMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (onWasm(x)) {
    const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as unknown as tf.Tensor1D[];
    return { mean, variance };
  }
  return tf.tidy(() => {
    const axes = leadingAxes(x);
    const mean = tf.mean(x, axes) as tf.Tensor1D;
    return { mean, variance: tf.mean(tf.square(tf.sub(x, mean)), axes) as tf.Tensor1D };
  });
}

/** Σ a and Σ a·(b − sb) per channel. */
export function channelSums(a: tf.Tensor, b: tf.Tensor, sb: tf.Tensor1D): { sumA: tf.Tensor1D; sumAB: tf.Tensor1D } {
  if (onWasm(a)) {
    const [sumA, sumAB] = tf.engine().runKernel(CHANNEL_SUMS, { a, b, sb }) as unknown as tf.Tensor1D[];
    return { sumA, sumAB };
  }
  return tf.tidy(() => {
    const axes = leadingAxes(a);
    return { sumA: tf.sum(a, axes) as tf.Tensor1D, sumAB: tf.sum(tf.mul(a, tf.sub(b, sb)), axes) as tf.Tensor1D };
  });
}
