/**
 * Experts are data: N stacked bottleneck adapters (kernel-lib/docs/reference-code.md#experts).
 *
 *   f_n(x) = swish(x · W_down[n] + b_down[n]) · W_up[n]      (no up-projection bias)
 *
 * Legend: B batch · S positions · C width · d bottleneck · N experts.
 *
 * The ways methods combine them live here as four primitives:
 *   merge(Pd, Pu)        per-example weights  W̄_b = Σ_n P[b,n] W[n]   (SMEAR, skills, index methods via one-hot)
 *   applyMerged(x, W̄)    u_b = swish(x_b W̄_down,b + b̄_b) W̄_up,b       (batched matmuls)
 *   applyMixed(x, P)     u_b = Σ_n P[b,n] f_n(x_b)                     (ensemble, DSelect-k: every expert runs)
 *   applyShared(x, …)    one adapter for the whole batch               (dense, AdaMix at eval)
 * Discrete methods reuse merge with one-hot rows: exactly the selected
 * expert's weights, no gather (whose gradient the wasm backend lacks) and
 * exactly zero gradient for the other experts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { swish } from './ops';
import type { Rng } from '../util/rng';

export interface MergedAdapter {
  down: tf.Tensor3D; // [B,C,d]
  bias: tf.Tensor2D; // [B,d]
  up: tf.Tensor3D; // [B,d,C]
}

export class Experts {
  readonly n: number;
  readonly c: number;
  readonly d: number;
  readonly down: tf.Variable; // [N,C,d]  ~ N(0, s²)
  readonly downBias: tf.Variable; // [N,d]  = 0
  readonly up: tf.Variable; // [N,d,C]  ~ N(0, s²)

  constructor(n: number, c: number, d: number, rng: Rng, initScale: number, name: string) {
    this.n = n;
    this.c = c;
    this.d = d;
    this.down = tf.variable(tf.tensor3d(rng.normal(n * c * d, initScale), [n, c, d]), true, `${name}/experts.down`);
    this.downBias = tf.variable(tf.zeros([n, d]), true, `${name}/experts.downBias`);
    this.up = tf.variable(tf.tensor3d(rng.normal(n * d * c, initScale), [n, d, c]), true, `${name}/experts.up`);
  }

  /** Per-example merged adapters: W̄_b = Σ_n P[b,n]·W[n] as one matmul per tensor, batched as the reference does (kernel-lib/docs/reference-code.md#smear). */
  merge(pDown: tf.Tensor2D, pUp: tf.Tensor2D = pDown): MergedAdapter {
    const { n, c, d } = this;
    return tf.tidy(() => {
      const b = pDown.shape[0];
      const down = tf.reshape(tf.matMul(pDown, tf.reshape(this.down, [n, c * d])), [b, c, d]) as tf.Tensor3D; // [B,C,d]
      const bias = tf.matMul(pDown, this.downBias) as tf.Tensor2D; // [B,d]
      const up = tf.reshape(tf.matMul(pUp, tf.reshape(this.up, [n, d * c])), [b, d, c]) as tf.Tensor3D; // [B,d,C]
      return { down, bias, up };
    });
  }

  /** u_b = swish(x_b · W̄_down,b + b̄_b) · W̄_up,b for x [B,S,C] → [B,S,C]. */
  applyMerged(x: tf.Tensor3D, m: MergedAdapter): tf.Tensor3D {
    return tf.tidy(() => {
      const z = swish(tf.add(tf.matMul(x, m.down), tf.expandDims(m.bias, 1))); // [B,S,d]
      return tf.matMul(z, m.up) as tf.Tensor3D; // [B,S,C]
    });
  }

  /**
   * u_b = Σ_n P[b,n] · f_n(x_b) with every expert evaluated (N× the expert compute).
   * Because W_up is linear and has no bias, Σ_n P_n (z_n W_up,n) = [P_1 z_1 … P_N z_N] · [W_up,1; …; W_up,N],
   * so the N experts run as two wide matmuls: [B·S,C]·[C,N·d] and [B·S,N·d]·[N·d,C].
   */
  applyMixed(x: tf.Tensor3D, p: tf.Tensor2D): tf.Tensor3D {
    const { n, c, d } = this;
    return tf.tidy(() => {
      const [b, s] = x.shape;
      const x2 = tf.reshape(x, [b * s, c]); // [B·S,C]
      const downCat = tf.reshape(tf.transpose(this.down, [1, 0, 2]), [c, n * d]); // [C,N·d]
      const h = tf.add(tf.matMul(x2, downCat), tf.reshape(this.downBias, [n * d])); // [B·S,N·d]
      const z = tf.reshape(swish(h), [b, s, n, d]); // [B,S,N,d]
      const zw = tf.mul(z, tf.reshape(p, [b, 1, n, 1])); // P_n z_n
      const u = tf.matMul(tf.reshape(zw, [b * s, n * d]), tf.reshape(this.up, [n * d, c])); // [B·S,C]
      return tf.reshape(u, [b, s, c]) as tf.Tensor3D;
    });
  }

  /** One adapter (down [C,d], bias [d], up [d,C]) for every example: x [B,S,C] → [B,S,C]. */
  static applyShared(x: tf.Tensor3D, down: tf.Tensor2D, bias: tf.Tensor1D, up: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, s, c] = x.shape;
      const x2 = tf.reshape(x, [b * s, c]); // 2-D matmuls: the fast path on every backend
      const z = swish(tf.add(tf.matMul(x2, down), bias)); // [B·S,d]
      return tf.reshape(tf.matMul(z, up), [b, s, c]) as tf.Tensor3D;
    });
  }

  /** Expert n applied to its own rows: xs [N,R,C] → [N,R,C] (Soft MoE slots). */
  applyPerExpert(xs: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const z = swish(tf.add(tf.matMul(xs, this.down), tf.expandDims(this.downBias, 1))); // [N,R,d]
      return tf.matMul(z, this.up) as tf.Tensor3D; // [N,R,C]
    });
  }

  variables(): [string, tf.Variable][] {
    return [
      ['experts.down', this.down],
      ['experts.downBias', this.downBias],
      ['experts.up', this.up],
    ];
  }
}
