/**
 * REINFORCE with a learned baseline [reinf_bl_routing] (kernel-lib/docs/reference-code.md#reinforce).
 *
 * Training, per block:
 *   a_b ~ Categorical(softmax(logits_b))          u_b = f_{a_b}(x_b)   (no scaling)
 *   baseline_b = (stopgrad(x̂_b) W1 + b1) W2 + b2   (linear, no nonlinearity; h = C/8)
 * Eval: a_b = argmax R(v_b).
 *
 * Losses, once per step over all L blocks (`reinforceLosses`), with ℓ_b the
 * per-example task loss (T5: label-smoothed loss summed over target tokens;
 * ResNet: cross-entropy):
 *   A_{b,l}  = ℓ_b − baseline_{b,l}
 *   L_policy = mean_{b,l}[ log(π_{b,l,a} + 1e-20) · stopgrad(A_{b,l}) ]
 *   L_ent    = mean_{b,l}[ −Σ_n π log(π + 1e-20) ]    (added with +β: entropy is penalised, as the reference)
 *   L_value  = mean_{b,l} Huber_{δ=1}(stopgrad(ℓ_b) − baseline_{b,l})   (reaches the baseline only)
 *   L = L_task + α L_policy + β L_ent + γ L_value,  α = 0.01, β = 5e-4, γ = 0.01
 */
import * as tf from '@tensorflow/tfjs-core';
import { SAME_SIZE, type RoutingMethod } from '../method';
import { oneHotF, rowDot, stopGradient } from '../ops';
import { requireRng } from '../router';
import type { AuxLoss, RoutingRecord } from '../types';

declare module '../types' {
  interface RoutingBlockConfig {
    /** REINFORCE: baseline reduction factor (h = C / factor). Default 8. */
    baselineReduction?: number;
  }
  interface RoutingDraws {
    /** REINFORCE: the sampled expert per example [B]. */
    action?: Int32Array;
  }
}

/** The reference's REINFORCE weights (reinf_bl_routing.json; CV Config.py). */
export const REINFORCE_DEFAULTS = { policyWeight: 0.01, entropyWeight: 5e-4, valueWeight: 0.01, huberDelta: 1 };

/** The loss weights a run configures (its `losses.reinforce`). */
const WEIGHT_KEYS = ['policyWeight', 'entropyWeight', 'valueWeight'] as const;

/** The REINFORCE baseline module: `multi_baselines` in the T5 code, `multi_router_baselines` in the ResNet code. */
const baselineModule = (code: string) => (code === 't5' ? 'multi_baselines' : 'multi_router_baselines');

export const reinforce: RoutingMethod = {
  name: 'reinforce',
  referenceName: 'reinf_bl_routing',
  title: 'REINFORCE',
  kind: 'index',
  usesRouter: true,
  auxLosses: [
    { name: 'policy', scope: 'model', description: 'α·mean log π(a)·(ℓ − baseline), α = 0.01 (reinforceLosses)' },
    { name: 'entropy', scope: 'model', description: 'β·mean router entropy, β = 5e-4, added as the reference (reinforceLosses)' },
    { name: 'value', scope: 'model', description: 'γ·mean Huber(ℓ − baseline), γ = 0.01 (reinforceLosses)' },
  ],
  defaultExpertDropout: 0,
  trainingDraws: [{ field: 'action', input: 'reinforce_action', dtype: 'int32', shape: 'B', values: 'expert', description: 'the sampled expert' }],
  configurations: [{ label: 'REINFORCE', description: 'score-function gradient with a learned linear baseline', resolve: SAME_SIZE }],
  description: 'sample an expert; train the router with REINFORCE and a learned baseline',
  options: {
    baselineReduction: {
      default: 8,
      description: 'h = C / factor, the baseline’s hidden width (reference bl_reduction_factor)',
      check(r: number) {
        if (!(typeof r === 'number' && Number.isInteger(r) && r >= 1)) throw new Error(`option baselineReduction: expected an integer >= 1, got ${String(r)}`);
      },
    },
    reinforce: {
      default: { policyWeight: REINFORCE_DEFAULTS.policyWeight, entropyWeight: REINFORCE_DEFAULTS.entropyWeight, valueWeight: REINFORCE_DEFAULTS.valueWeight },
      scope: 'training',
      description: 'the weights α (policy), β (entropy), γ (value) of the step-level losses',
      check(w: Record<string, unknown>, name) {
        if (w === null || typeof w !== 'object') throw new Error(`option ${name}: expected { policyWeight, entropyWeight, valueWeight }, got ${JSON.stringify(w)}`);
        for (const [k, v] of Object.entries(w)) {
          if (!(WEIGHT_KEYS as readonly string[]).includes(k)) throw new Error(`option ${name}.${k}: unknown field; expected ${WEIGHT_KEYS.join(', ')}`);
          if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`option ${name}.${k}: expected a number >= 0, got ${JSON.stringify(v)}`);
        }
      },
    },
  },
  // Once per step over every block's record, with ℓ_b the per-example task loss (logged as reinforce_policy, …).
  stepLosses: ({ records, perExampleLoss, options }) =>
    reinforceLosses(records, perExampleLoss, options.reinforce as Partial<typeof REINFORCE_DEFAULTS>).map((t) => ({ ...t, name: `reinforce_${t.name}` })),
  referenceParams: {
    'baseline.w1': { name: (code) => `${baselineModule(code)}.down_samplers_weights`, shape: (s) => [1, ...s] }, // [C,h] → [1,C,h]
    'baseline.b1': { name: (code) => `${baselineModule(code)}.down_samplers_bias`, shape: (s) => [1, ...s] }, // [h] → [1,h]
    'baseline.w2': { name: (code) => `${baselineModule(code)}.up_samplers_weights`, shape: (s) => [1, ...s] }, // [h,1] → [1,h,1]
    'baseline.b2': { name: (code) => `${baselineModule(code)}.up_samplers_bias`, shape: (s) => [1, ...s] }, // [1] → [1,1]
  },
  // The reduction factor r with h = floor(C / r) in every block, from the baselines' [1,C,h] shapes.
  optionsFromReference(t) {
    const hs: [number, number][] = [];
    for (let k = 0; k < t.blocks; k++) {
      const s = t.shape(k, 'baseline.w1', 3, 'the REINFORCE baseline width');
      hs.push([s[1], s[2]]);
    }
    const maxC = Math.max(...hs.map(([c]) => c));
    let r = 0;
    for (let cand = 1; cand <= maxC && !r; cand++) if (hs.every(([c, h]) => Math.floor(c / cand) === h)) r = cand;
    if (!r) t.fail(`REINFORCE baseline widths ${JSON.stringify(hs)} ([C,h] per block) fit no reduction factor h = floor(C/r)`);
    return { baselineReduction: r };
  },
  referenceArguments: {
    keys: ['bl_reduction_factor', 'policy_weight', 'policy_entropy_weight', 'value_function_weight'],
    read(args) {
      return {
        routing: { baselineReduction: args.num('bl_reduction_factor', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1') ?? 8 },
        losses: {
          reinforce: {
            policyWeight: args.num('policy_weight', (v) => v >= 0, 'a number >= 0') ?? 0.01,
            entropyWeight: args.num('policy_entropy_weight', (v) => v >= 0, 'a number >= 0') ?? 0.01, // training_args.py default
            valueWeight: args.num('value_function_weight', (v) => v >= 0, 'a number >= 0') ?? 0.01,
          },
        },
      };
    },
  },
  createParams(cfg, rng) {
    const c = cfg.width;
    const h = Math.floor(c / cfg.baselineReduction);
    if (h < 1) {
      throw new Error(`method 'reinforce': width ${c} / baselineReduction ${cfg.baselineReduction} leaves no baseline units`);
    }
    const s = cfg.initScale;
    return {
      'baseline.w1': tf.variable(tf.tensor2d(rng.normal(c * h, s), [c, h]), true, `${cfg.name}/baseline.w1`),
      'baseline.b1': tf.variable(tf.zeros([h]), true, `${cfg.name}/baseline.b1`),
      'baseline.w2': tf.variable(tf.tensor2d(rng.normal(h, s), [h, 1]), true, `${cfg.name}/baseline.w2`),
      'baseline.b2': tf.variable(tf.zeros([1]), true, `${cfg.name}/baseline.b2`),
    };
  },
  mix(x, _v, ctx, { config, experts, route, own }) {
    const { xhat, logits, probs } = route(); // [B,N]
    const n = config.numExperts;
    if (!ctx.training) {
      const index = tf.argMax(stopGradient(probs), 1) as tf.Tensor1D;
      const oh = oneHotF(index, n);
      return { mixture: experts.applyMerged(x, experts.merge(oh)), record: { probs, logits, index, weights: oh }, aux: [] };
    }
    const [b] = probs.shape;
    let index: tf.Tensor1D;
    if (ctx.draws?.action) {
      index = tf.tensor1d(ctx.draws.action, 'int32'); // given samples (smear step)
    } else {
      const u = tf.tensor2d(requireRng(ctx.rng, 'REINFORCE sampling').uniform(b), [b, 1]); // [B,1]
      // Inverse CDF of softmax(logits) (Categorical(logits=…) in the reference): a = #{n : cumsum_n ≤ u}.
      // (1 − step(cdf − u)) = 1[cdf ≤ u]; built from ops with (zero) gradients so the tape can pass through.
      const cdf = tf.cumsum(tf.softmax(stopGradient(logits)), 1); // [B,N]
      const count = tf.sum(tf.sub(1, tf.step(tf.sub(cdf, u))), 1); // [B]
      index = tf.cast(tf.minimum(count, n - 1), 'int32') as tf.Tensor1D; // [B]
    }
    const oh = oneHotF(index, n); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(oh)); // f_a(x)
    const logProbAction = tf.log(tf.add(rowDot(probs, oh), 1e-20)) as tf.Tensor1D; // [B]
    const hidden = tf.add(tf.matMul(stopGradient(xhat), own['baseline.w1']), own['baseline.b1']); // [B,h]
    const baseline = tf.reshape(tf.add(tf.matMul(hidden, own['baseline.w2']), own['baseline.b2']), [b]) as tf.Tensor1D; // [B]
    return { mixture, record: { probs, logits, index, weights: oh, logProbAction, baseline }, aux: [] };
  },
};

/**
 * Huber loss (torch.nn.HuberLoss, δ): ½a² for |a| ≤ δ, δ(|a| − ½δ) beyond. Written as
 * ½q² + δ(|a| − q) with q = min(|a|, δ), which is the same function, so no comparison
 * op (tfjs has no gradient for those) sits on the gradient tape.
 */
function huber(a: tf.Tensor, delta: number): tf.Tensor {
  const abs = tf.abs(a);
  const q = tf.minimum(abs, delta);
  return tf.add(tf.mul(0.5, tf.square(q)), tf.mul(delta, tf.sub(abs, q)));
}

/**
 * The REINFORCE losses for one training step from the records of every
 * REINFORCE block (kernel-lib/docs/reference-code.md#reinforce). `perExampleLoss` [B] is the task loss per
 * example; it is detached here. Returns weighted terms ready to add.
 */
export function reinforceLosses(
  records: RoutingRecord[],
  perExampleLoss: tf.Tensor1D,
  weights: Partial<typeof REINFORCE_DEFAULTS> = {},
): AuxLoss[] {
  const w = { ...REINFORCE_DEFAULTS, ...weights };
  const used = records.filter((r) => r.logProbAction && r.baseline && r.probs);
  if (used.length === 0) {
    throw new Error('reinforceLosses: no REINFORCE records (need training-mode records with logProbAction, baseline, probs)');
  }
  for (const r of used) {
    if (r.baseline!.shape[0] !== perExampleLoss.shape[0]) {
      throw new Error(
        `reinforceLosses: perExampleLoss has ${perExampleLoss.shape[0]} examples, the records have ${r.baseline!.shape[0]}`,
      );
    }
  }
  return tf.tidy(() => {
    const loss = stopGradient(perExampleLoss); // [B]
    const logp = tf.stack(used.map((r) => r.logProbAction!)); // [L,B]
    const base = tf.stack(used.map((r) => r.baseline!)); // [L,B]
    const adv = tf.sub(loss, base); // A = ℓ − b  [L,B]
    const policy = tf.mean(tf.mul(logp, stopGradient(adv))) as tf.Scalar;
    const entropy = tf.mean(
      tf.stack(used.map((r) => tf.neg(tf.sum(tf.mul(r.probs!, tf.log(tf.add(r.probs!, 1e-20))), 1)))),
    ) as tf.Scalar; // mean over (l, b)
    const value = tf.mean(huber(tf.sub(loss, base), w.huberDelta)) as tf.Scalar;
    return [
      { name: 'policy', value: policy, weight: w.policyWeight },
      { name: 'entropy', value: entropy, weight: w.entropyWeight },
      { name: 'value', value, weight: w.valueWeight },
    ];
  });
}
