/**
 * T5 layer functions: relative position buckets, RMSNorm, gelu_new, dropout
 * from the model's generator, frozen-weight matmul/gather that keep the tape
 * from cloning frozen weights, input validation (split from ./model.ts).
 * Legend: B batch · S source length · T target length · C d_model · H heads · K d_kv.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../backend/gradients';
import type { Rng } from '../../util/rng';
import { hostValuesOf } from '../../backend/host-read';
import type { AuxLoss, RoutingRecord } from '../../routing/types';
import type { IdsInput } from './types';

/**
 * HF T5's `_relative_position_bucket` for one relative position
 * (memory position − query position). Bidirectional: half the buckets for
 * keys after the query; causal: positive positions (future keys) map to 0.
 * Half of the remaining buckets are exact, the rest logarithmic up to
 * `maxDistance`. The logarithm is evaluated in float32 as torch does.
 */
export function relativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets = 32, maxDistance = 128): number {
  let ret = 0;
  let n = -relativePosition;
  let nb = numBuckets;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (n < 0) ret += nb;
    n = Math.abs(n);
  } else {
    n = Math.max(n, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return ret + n;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(n / maxExact))) / Math.log(maxDistance / maxExact));
  const large = maxExact + Math.trunc(f(ratio * (nb - maxExact)));
  return ret + Math.min(large, nb - 1);
}

/** Buckets [Tq·Tk] for query positions qStart..qStart+Tq−1 and key positions 0..Tk−1. */
export function relativePositionBuckets(
  qStart: number,
  qLen: number,
  kLen: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): Int32Array {
  const out = new Int32Array(qLen * kLen);
  for (let i = 0; i < qLen; i++) {
    for (let j = 0; j < kLen; j++) out[i * kLen + j] = relativePositionBucket(j - (qStart + i), bidirectional, numBuckets, maxDistance);
  }
  return out;
}

/** T5LayerNorm: x · rsqrt(mean(x²) + eps) · w over the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor, eps: number): T {
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight) as T);
}

/** gelu_new: 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))), as plain differentiable ops. */
export function geluNewReference<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner))) as T;
  });
}

const geluNewOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  (args[1] as tf.GradSaveFunc)([x]);
  return {
    value: geluNewReference(x),
    // d/dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·sqrt(2/π)·(1 + 3·0.044715·x²),  t = tanh(sqrt(2/π)·(x + 0.044715·x³))
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const xs = saved[0];
        const x2 = tf.square(xs);
        const a = Math.sqrt(2 / Math.PI);
        const t = tf.tanh(tf.mul(a, tf.mul(xs, tf.add(1, tf.mul(0.044715, x2)))));
        const d1 = tf.mul(0.5, tf.add(1, t));
        const d2 = tf.mul(tf.mul(tf.mul(0.5 * a, xs), tf.sub(1, tf.square(t))), tf.add(1, tf.mul(3 * 0.044715, x2)));
        return tf.mul(dy as tf.Tensor, tf.add(d1, d2));
      }),
  };
});

/**
 * gelu_new (tanh approximation), with a hand-written gradient that keeps only x
 * on the tape (the op chain would keep ~6 tensors of x's size).
 */
export function geluNew<T extends tf.Tensor>(x: T): T {
  return geluNewOp(x) as T;
}

// ------------------------------------------------------------------ helpers


export function shapeStr(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

export interface Ids2D {
  data: Int32Array;
  rows: number;
  cols: number;
}

export function isFlat(x: unknown): x is Int32Array | Float32Array | number[] {
  return x instanceof Int32Array || x instanceof Float32Array || (Array.isArray(x) && (x.length === 0 || !Array.isArray(x[0])));
}

/** Convert an id/mask input to row-major data, validating values. */
export function toIds2D(x: IdsInput, what: string, batch: number | undefined, kind: 'ids' | 'mask', vocab: number): Ids2D {
  let data: Int32Array;
  let rows: number;
  let cols: number;
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new Error(`${what}: expected shape [B,L], got ${shapeStr(x.shape)}`);
    [rows, cols] = x.shape;
    const vals = hostValuesOf(x, what);
    data = new Int32Array(vals.length);
    for (let i = 0; i < vals.length; i++) {
      if (!Number.isInteger(vals[i])) throw new Error(`${what}[${i}]: expected an integer, got ${vals[i]}`);
      data[i] = vals[i];
    }
  } else if (Array.isArray(x) && x.length > 0 && Array.isArray(x[0])) {
    const nested = x as number[][];
    rows = nested.length;
    cols = nested[0].length;
    data = new Int32Array(rows * cols);
    nested.forEach((row, r) => {
      if (!Array.isArray(row) || row.length !== cols) {
        throw new Error(`${what}: expected a rectangular [B,L] array; row ${r} has ${Array.isArray(row) ? row.length : 'no'} entries, row 0 has ${cols}`);
      }
      row.forEach((v, c) => {
        if (!Number.isInteger(v)) throw new Error(`${what}[${r}][${c}]: expected an integer, got ${v}`);
        data[r * cols + c] = v;
      });
    });
  } else if (isFlat(x)) {
    if (batch === undefined) {
      throw new Error(`${what}: a flat array needs inputs.batchSize (or pass a tf.Tensor2D / number[][] of shape [B,L])`);
    }
    if (x.length % batch !== 0) throw new Error(`${what}: ${x.length} values do not form [${batch},L] rows`);
    rows = batch;
    cols = x.length / batch;
    data = new Int32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isInteger(x[i])) throw new Error(`${what}[${i}]: expected an integer, got ${x[i]}`);
      data[i] = x[i];
    }
  } else {
    throw new Error(`${what}: expected a tf.Tensor2D, number[][] or a flat Int32Array, got ${typeof x}`);
  }
  if (rows < 1 || cols < 1) throw new Error(`${what}: empty input, shape [${rows},${cols}]`);
  if (batch !== undefined && rows !== batch) throw new Error(`${what}: expected ${batch} rows (batch size), got ${rows}`);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (kind === 'ids' ? v < 0 || v >= vocab : v !== 0 && v !== 1) {
      throw new Error(
        `${what}[${Math.floor(i / cols)}][${i % cols}]: expected ${kind === 'ids' ? `a token id in [0, ${vocab})` : '0 or 1'}, got ${v}`,
      );
    }
  }
  return { data, rows, cols };
}

export function batchOf(x: IdsInput | undefined): number | undefined {
  if (x instanceof tf.Tensor) return x.rank >= 1 ? x.shape[0] : undefined;
  if (Array.isArray(x) && x.length > 0 && Array.isArray(x[0])) return x.length;
  return undefined;
}

export interface Prepared {
  b: number;
  ids: Ids2D;
  mask: Ids2D;
  dec?: Ids2D;
  taskIds?: Int32Array;
  /** Hash column per router index. */
  hashCols?: Int32Array[];
}

/** Draw-and-apply dropout from the model's randomness contract. */
export interface Drop {
  training: boolean;
  rate: number;
  rng?: Rng;
}

export function dropout<T extends tf.Tensor>(x: T, d: Drop): T {
  if (!d.training || d.rate === 0) return x;
  if (!d.rng) throw new Error('ctx.rng: T5 dropout in training mode needs a seeded generator; pass { training: true, rng: new Rng(seed) }');
  const u = d.rng.uniform(x.size);
  const scale = 1 / (1 - d.rate);
  const m = new Float32Array(x.size);
  for (let i = 0; i < m.length; i++) m[i] = u[i] < d.rate ? 0 : scale;
  const mask = tf.tensor(m, x.shape, 'float32');
  // x·mask with only the mask on the tape (tf.mul would keep x too).
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (args[1] as tf.GradSaveFunc)([mask]);
    return { value: tf.mul(args[0] as tf.Tensor, mask), gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.mul(dy as tf.Tensor, saved[0]) };
  });
  return f(x) as T;
}

/**
 * x [M,K] · W [K,N] for a FROZEN weight W. Same value as tf.matMul, but as a
 * customGrad: the tape keeps neither W nor x (tfjs's engine otherwise clones every
 * saved kernel input, and on wasm a clone is a copy: one extra copy of every T5
 * weight per taped forward, ~1 GB for the base model). Gradient: dx = dy · Wᵀ.
 */
export function frozenMatMul(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.matMul(dy as tf.Tensor2D, w, false, true),
  }));
  return f(x) as tf.Tensor2D;
}

/** Rows of a FROZEN table [V,C] (embedding lookup) without the tape cloning the table; no gradient. */
export function frozenGather(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.gather(table, args[0] as tf.Tensor1D),
    gradFunc: () => tf.zerosLike(args[0] as tf.Tensor),
  }));
  return f(ids) as tf.Tensor2D;
}

export interface RouteOut {
  h: tf.Tensor3D;
  record: RoutingRecord;
  aux: AuxLoss[];
}

/** Per-layer decoder key/value cache (self-attention grows; cross-attention fixed). */
export interface DecoderCache {
  selfK: tf.Tensor3D[]; // [B·H,t,K]
  selfV: tf.Tensor3D[];
  crossK: tf.Tensor3D[]; // [B·H,S,K]
  crossV: tf.Tensor3D[];
}

