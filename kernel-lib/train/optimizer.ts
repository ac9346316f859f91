/**
 * Adam / AdamW with parameter groups, global-norm gradient clipping and a
 * serialisable state (so a resumed run continues bit-for-bit).
 *
 * Written out rather than using tf.train.adam because runs need (a) per-group
 * learning-rate multipliers (Latent Skills' skill matrices train at 10× the
 * learning rate), (b) the exact PyTorch update order, and (c) the moment
 * tensors in checkpoints.
 *
 * PyTorch Adam (ResNet setting, weight decay 0):        transformers 3.5 AdamW (T5 setting):
 *   m ← β1 m + (1−β1) g                                    same moments and bias correction, then
 *   v ← β2 v + (1−β2) g²                                   p ← p − lr·wd·p (decoupled; wd = 0 in the reference)
 *   p ← p − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
 * (transformers' AdamW folds the bias correction into the step size,
 *  lr·√(1−β2^t)/(1−β1^t) · m/(√v + ε); both forms are implemented as their libraries do.)
 */
import * as tf from '@tensorflow/tfjs-core';

export interface OptimizerParam {
  name: string;
  variable: tf.Variable;
  /** Learning-rate multiplier for this parameter (default 1). */
  lrScale?: number;
}

export interface OptimizerConfig {
  kind: 'adam' | 'adamw';
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this value (reference: 1.0). 0 = off. */
  clipNorm?: number;
}

export class Optimizer {
  readonly config: Required<OptimizerConfig>;
  readonly params: OptimizerParam[];
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();
  /** Number of updates applied. */
  t = 0;

  constructor(params: OptimizerParam[], config: OptimizerConfig) {
    if (!(config.lr >= 0)) throw new Error(`optimizer lr: expected a number >= 0, got ${config.lr}`);
    this.config = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipNorm: 0, ...config };
    const names = new Set<string>();
    for (const p of params) {
      if (names.has(p.name)) throw new Error(`optimizer: duplicate parameter name '${p.name}'`);
      names.add(p.name);
      this.m.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      this.v.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
    }
    this.params = params;
  }

  /**
   * Clip by global norm and apply one update. `grads` maps parameter names to
   * gradients; parameters without a gradient are left untouched (their moments
   * too, as in PyTorch where p.grad is None). `lr` overrides the base rate
   * (schedules). Returns the global gradient norm before clipping as a scalar
   * tensor (the caller disposes it, or calls this inside tf.tidy).
   *
   * Device-resident: the norm and the clip factor are tensor expressions, so a
   * step reads nothing back from the device.
   */
  step(grads: Map<string, tf.Tensor>, lr = this.config.lr): tf.Scalar {
    const { beta1, beta2, eps, weightDecay, clipNorm, kind } = this.config;
    this.t += 1;
    const t = this.t;
    const present = this.params.filter((p) => grads.has(p.name));
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    return tf.tidy(() => {
      const norm: tf.Scalar =
        present.length === 0 ? tf.scalar(0) : tf.sqrt(tf.addN(present.map((p) => tf.sum(tf.square(grads.get(p.name)!))))) as tf.Scalar;
      // torch.nn.utils.clip_grad_norm_: g ← g · c, c = min(1, max_norm / (norm + 1e-6)). The factor
      // is folded into the moments' scalars, (1−β1)·c and (1−β2)·c², so clipping costs no op per
      // parameter (small models are per-op bound); with c = 1 these are exactly (1−β1) and (1−β2).
      const c = clipNorm > 0 ? tf.minimum(1, tf.div(clipNorm, tf.add(norm, 1e-6))) : tf.scalar(1);
      const c1 = tf.mul(c, 1 - beta1);
      const c2 = tf.mul(tf.square(c), 1 - beta2);
      for (const p of present) {
        const g = grads.get(p.name)!;
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        const lrP = lr * (p.lrScale ?? 1);
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, c1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), c2));
        m.assign(mNew);
        v.assign(vNew);
        let update: tf.Tensor;
        if (kind === 'adam') {
          update = tf.mul(tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), eps)), lrP);
        } else {
          const stepSize = (lrP * Math.sqrt(bc2)) / bc1;
          update = tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), eps)), stepSize);
        }
        let next = tf.sub(p.variable, update);
        if (kind === 'adamw' && weightDecay > 0) next = tf.sub(next, tf.mul(p.variable, lrP * weightDecay));
        p.variable.assign(next);
      }
      return norm;
    });
  }

  /** Moments as named tensors (for checkpoints): `m.<name>`, `v.<name>`. */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const p of this.params) {
      out.set(`m.${p.name}`, this.m.get(p.name)!);
      out.set(`v.${p.name}`, this.v.get(p.name)!);
    }
    return out;
  }

  /** Restore moments and the step count saved by `stateTensors` / `t`. */
  loadState(tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>, t: number): void {
    for (const p of this.params) {
      for (const key of ['m', 'v'] as const) {
        const entry = tensors.get(`${key}.${p.name}`);
        if (!entry) throw new Error(`optimizer state: missing tensor '${key}.${p.name}'`);
        if (entry.shape.join(',') !== p.variable.shape.join(',')) {
          throw new Error(`optimizer state '${key}.${p.name}': expected shape [${p.variable.shape}], got [${entry.shape}]`);
        }
        (key === 'm' ? this.m : this.v).get(p.name)!.assign(tf.tensor(entry.data as Float32Array, entry.shape, 'float32'));
      }
    }
    this.t = t;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}

/** Linear warm-up from 0 to `lr` over `warmupSteps`, then constant (transformers' constant_with_warmup). */
export function constantWithWarmup(lr: number, warmupSteps: number): (step: number) => number {
  return (step) => (warmupSteps > 0 && step < warmupSteps ? (lr * step) / warmupSteps : lr);
}
