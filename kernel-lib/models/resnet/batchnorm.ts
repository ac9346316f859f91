/**
 * BatchNorm over the channels of NHWC tensors with PyTorch's BatchNorm2d semantics
 * (eps 1e-5, momentum 0.1), written from primitives (mean, sub, mul, rsqrt):
 * tf.batchNorm's gradient needs a scale on wasm and goes through Tile.
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
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
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
    const mean = tf.mean(x, axes); // [C]
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), axes); // [C], biased
    const y = tf.add(tf.mul(xc, tf.mul(tf.rsqrt(tf.add(variance, this.eps)), this.weight)), this.bias);
    // Running statistics (never read by y; the tape ignores them).
    const m = this.momentum;
    const newMean = tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m));
    const newVar = tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, (m * n) / (n - 1)));
    this.runningMean.assign(newMean);
    this.runningVar.assign(newVar);
    this.numBatchesTracked += 1;
    return y;
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
