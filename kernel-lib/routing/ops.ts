/**
 * Small differentiable building blocks shared by the routing code, written
 * with tfjs ops that have gradients on every backend (no einsum, no topk on
 * the gradient path, no gather: one-hot matmuls instead).
 *
 * Legend: B batch · S positions · C width · N experts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../backend/gradients';

/** swish(t) = t · sigmoid(t) (= SiLU), the adapters' hard-coded activation (kernel-lib/docs/reference-code.md#experts). */
export function swish<T extends tf.Tensor>(t: T): T {
  return tf.mul(t, tf.sigmoid(t));
}

/**
 * LayerNorm over `axis` with biased variance, as torch.nn.LayerNorm:
 * (x − mean)/sqrt(var + eps) · gain + bias. `gain`/`bias` broadcast against x.
 */
export function layerNorm<T extends tf.Tensor>(x: T, gain: tf.Tensor, bias: tf.Tensor, eps: number, axis = -1): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, axis, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gain), bias) as T;
  });
}

/**
 * Identity in the forward pass, zero gradient (PyTorch's `.detach()`):
 * tfjs has no stop-gradient op, so it is a customGrad.
 */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = (() => {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
  }));
  return <T extends tf.Tensor>(x: T) => f(x) as T;
})();

/** One-hot float32 [B,N] from int ids [B] (no gradient needed, no gather). */
export function oneHotF(ids: tf.Tensor1D, n: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(ids, 'int32'), n), 'float32') as tf.Tensor2D);
}

/** Mean over positions of x [B,S,C] → [B,C]; with a mask [B,S], the masked mean Σ mask·x / Σ mask. */
export function positionMean(x: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    if (!mask) return tf.mean(x, 1) as tf.Tensor2D;
    const m = tf.expandDims(tf.cast(mask, 'float32'), 2); // [B,S,1]
    const num = tf.sum(tf.mul(x, m), 1); // [B,C]
    const den = tf.maximum(tf.sum(m, 1), 1e-9); // [B,1]
    return tf.div(num, den) as tf.Tensor2D;
  });
}

/** Row-wise sum of a [B,N] tensor with weights [B,N] → [B] (e.g. p_k = Σ_n p_n · onehot_n). */
export function rowDot(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(a, b), 1) as tf.Tensor1D;
}
