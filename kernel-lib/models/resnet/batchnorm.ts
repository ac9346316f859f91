/**
 * BatchNorm over the channels of NHWC tensors with PyTorch's BatchNorm2d semantics
 * (eps 1e-5, momentum 0.1), written from primitives (mean, sub, mul, rsqrt) with
 * a hand-written gradient in training mode (batchNormTrain): tf.batchNorm's
 * gradient needs a scale on wasm and goes through Tile.
 *
 *   training:  μ = mean_{B,H,W} x,  σ² = mean_{B,H,W} (x − μ)²         (biased, used to normalise)
 *              y = (x − μ) · rsqrt(σ² + eps) · weight + bias
 *              running_mean ← (1 − m)·running_mean + m·μ
 *              running_var  ← (1 − m)·running_var  + m·σ²·n/(n − 1)    (unbiased, n = B·H·W)
 *              num_batches_tracked ← num_batches_tracked + 1
 *   eval:      y = (x − running_mean) · rsqrt(running_var + eps) · weight + bias
 *
 * Running statistics are updated immediately, inside `apply`, by
 * `Variable.assign` of values computed from the batch statistics. The update
 * tensors are not used by the output, so a gradient tape (tf.variableGrads)
 * that records them prunes them; the running-stat variables are
 * non-trainable. A forward run twice in one step (AdaMix) updates twice, as
 * PyTorch does.
 *
 * `freezeStats` makes training-mode calls behave like eval (running statistics
 * used and left unchanged): PyTorch's `bn.eval()` inside a training model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelMoments, channelSums } from '../../backend/channel-ops';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface BatchNormOptions {
  /** Number of channels C (the last axis of NHWC inputs). */
  channels: number;
  /** Unique variable-name prefix, e.g. `resnet0/layer1.0.bn1`. */
  name: string;
  /** Whether weight and bias are trainable variables. Default true. */
  trainable?: boolean;
  /** Use (and keep) running statistics even in training mode. Default false. */
  freezeStats?: boolean;
  eps?: number;
  momentum?: number;
}

/**
 * Training-mode normalisation (batch statistics over every axis but the last)
 * as one tape node with a hand-written gradient. Autodiff of the primitives
 * records ~40 full-size passes per BN (mean's gradient alone builds ones,
 * multiplies and divides; on wasm every reduction over leading axes also
 * transposes the tensor); here the statistics are one read-only sweep each
 * (backend/channel-ops.ts: JavaScript kernels on wasm, tf ops elsewhere) and
 * the maps a few elementwise ops:
 *   forward   μ, σ² = moments of x                       (one sweep)
 *             r = (σ² + eps)^-½,  k = w·r
 *             y = x·k + (b − μ·k)
 *   backward  db = Σ dy,  g = Σ dy·(x − μ)                (one sweep)
 *             dw = g·r
 *             dx = (dy − db/n)·k − (x − μ)·(k·r²·g/n)
 *             (the usual (k/n)(n·dy − Σdy − x̂·Σ dy·x̂) with x̂ = (x − μ)·r)
 * `onStats(μ, σ²)` runs inside the forward (for the running statistics).
 */
export function batchNormTrain(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor,
  eps: number,
  onStats?: (mean: tf.Tensor, variance: tf.Tensor) => void,
): tf.Tensor {
  const n = x.size / x.shape[x.rank - 1];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, w, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = channelMoments(xIn); // [C], [C] (biased)
    const r = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor1D; // [C]
    const k = tf.mul(r, w) as tf.Tensor1D; // [C]
    onStats?.(mean, variance);
    save([xIn, mean, r, k]);
    return {
      // x·k + (b − μ·k): PyTorch's CPU BatchNorm computes the output this way (alpha/beta in
      // batch_norm_cpu_transform_input), one sweep fewer than (x − μ)·k + b.
      value: tf.add(tf.mul(xIn, k), tf.sub(b, tf.mul(mean, k))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, sr, sk] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const { sumA: db, sumAB: g } = channelSums(dy, sx, sm); // Σ dy, Σ dy·(x − μ)
        const dw = tf.mul(g, sr); // Σ dy·x̂
        const c2 = tf.mul(sk, tf.mul(tf.square(sr), tf.div(g, n))); // k·r²·g/n
        const dx = tf.sub(tf.mul(tf.sub(dy, tf.div(db, n)), sk), tf.mul(tf.sub(sx, sm), c2));
        return [dx, dw, db];
      },
    };
  });
  return f(x, weight, bias);
}

export class BatchNorm {
  readonly channels: number;
  readonly name: string;
  readonly eps: number;
  readonly momentum: number;
  freezeStats: boolean;
  readonly weight: tf.Variable; // [C] = 1
  readonly bias: tf.Variable; // [C] = 0
  readonly runningMean: tf.Variable; // [C] = 0, non-trainable
  readonly runningVar: tf.Variable; // [C] = 1, non-trainable
  /** PyTorch's num_batches_tracked (int64 in checkpoints). */
  numBatchesTracked = 0;

  constructor(opts: BatchNormOptions) {
    const c = opts.channels;
    if (!Number.isInteger(c) || c < 1) throw new Error(`BatchNorm ${opts.name}: channels must be a positive integer, got ${c}`);
    this.channels = c;
    this.name = opts.name;
    this.eps = opts.eps ?? BN_EPS;
    this.momentum = opts.momentum ?? BN_MOMENTUM;
    this.freezeStats = opts.freezeStats ?? false;
    const trainable = opts.trainable ?? true;
    this.weight = tf.variable(tf.ones([c]), trainable, `${opts.name}.weight`);
    this.bias = tf.variable(tf.zeros([c]), trainable, `${opts.name}.bias`);
    this.runningMean = tf.variable(tf.zeros([c]), false, `${opts.name}.running_mean`);
    this.runningVar = tf.variable(tf.ones([c]), false, `${opts.name}.running_var`);
  }

  /** Normalise x [B,H,W,C] (any rank with channels last); in training, update the running statistics. */
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    const c = this.channels;
    if (x.shape[x.rank - 1] !== c) {
      throw new Error(`BatchNorm ${this.name}: input shape [${x.shape}]: expected ${c} channels on the last axis`);
    }
    if (!training || this.freezeStats) {
      // y = x·scale + shift with scale = w·rsqrt(rv + eps), shift = b − rm·scale (all [C]).
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, this.eps)));
      const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale));
      return tf.add(tf.mul(x, scale), shift);
    }
    const n = x.size / c;
    if (n < 2) {
      throw new Error(`BatchNorm ${this.name}: expected more than 1 value per channel when training, got input shape [${x.shape}]`);
    }
    return batchNormTrain(x, this.weight, this.bias, this.eps, (mean, variance) => {
      // Running statistics (never read by y).
      const m = this.momentum;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, (m * n) / (n - 1))));
      this.numBatchesTracked += 1;
    });
  }

  variables(): [string, tf.Variable][] {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
      ['running_mean', this.runningMean],
      ['running_var', this.runningVar],
    ];
  }

  dispose(): void {
    for (const [, v] of this.variables()) v.dispose();
  }
}
