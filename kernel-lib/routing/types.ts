/**
 * The routing library's vocabulary: block configuration, the per-call
 * context, the routing record and auxiliary losses, and the method interface.
 *
 * Dimension legend (used in shape comments throughout kernel-lib/routing):
 *   B batch · S positions (tokens, or H·W) · C width · d bottleneck
 *   N experts · T tags (tasks/domains) · m DSelect-k binary selectors
 *   h REINFORCE baseline width (C / 8) · P Soft-MoE slots per expert
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng';

/** How a method combines experts (kernel-lib/docs/reference-code.md#method-kinds). */
export type RoutingKind = 'merge' | 'index' | 'output-mix' | 'token-mix' | 'dense';

/** Integer ids given per example: a plain array or an int32 tensor. */
export type IdsLike = ArrayLike<number> | tf.Tensor1D;

/** Options that configure one routing block. Every field has a documented default. */
export interface RoutingBlockConfig {
  /** Routing method: friendly name (`smear`) or reference name (`parameter_averaging_routing`). */
  method: string;
  /** C: width of the block input (model dim or channels). */
  width: number;
  /** N: number of experts. Default 8. Methods of kind 'dense' use 1. */
  numExperts?: number;
  /** d: expert bottleneck width. Default 24 (T5 768/32); ResNet uses 32. */
  bottleneck?: number;
  /**
   * Expert dropout rate in training (kernel-lib/docs/reference-code.md#expert-dropout). Default: the method's own
   * (0.1 for smear and topk, as the reference README runs them; else 0).
   */
  expertDropout?: number;
  /** Apply LayerNorm(C) to the mixture before the residual (T5: true; ResNet: false). Default false. */
  postLayerNorm?: boolean;
  /** Use a padding-masked mean for the router input when `ctx.mask` is given. Default false (reference: plain mean). */
  maskedMean?: boolean;
  /** T: number of tags (tasks or domains), for tag and skills routing. Default N. */
  numTags?: number;
  /** Tag routing: tag → expert map (e.g. RTE → MNLI's expert in T5 encoder blocks). Default identity. */
  tagToExpert?: number[];
  /** Top-k: k. Default 1 (the reference implements k = 1 only). */
  topK?: number;
  /** Top-k: add the Switch load-balancing loss (reference quirk: skips the router input LayerNorm). Default false. */
  loadBalancing?: boolean;
  /** Top-k: load-balancing loss weight. Default 0.01 when loadBalancing is on. */
  loadBalancingWeight?: number;
  /** DSelect-k: regulariser weight (README 0.1). Default 0.1. */
  dselectWeight?: number;
  /** DSelect-k smooth-step γ. Default 1. */
  smoothStepGamma?: number;
  /** Soft MoE: slots per expert P. Default 1. */
  slotsPerExpert?: number;
  /** REINFORCE: baseline reduction factor (h = C / factor). Default 8. */
  baselineReduction?: number;
  /** Router / expert initialisation scale (std of N(0, s²)). Default 0.01. */
  initScale?: number;
  /** Seed or generator for parameter initialisation. Default seed 42. */
  init?: number | Rng;
  /** Name prefix for the block's variables (unique per model). Default `block<k>`. */
  name?: string;
}

/** Per-call inputs besides the activations. */
export interface RoutingContext {
  /** Training mode: expert dropout, sampling, noise. Default false. */
  training?: boolean;
  /** The generator for training-time randomness. Required when training uses randomness. */
  rng?: Rng;
  /** Tag (task/domain) id per example [B]; tag and skills routing. */
  tags?: IdsLike;
  /** Hash-routing expert id per example [B] for this block. */
  hash?: IdsLike;
  /** Router input override [B,C] (T5 decoder blocks: the encoder output mean). */
  routerInput?: tf.Tensor2D;
  /** Padding mask [B,S] (1 = real token), used when the block has `maskedMean`. */
  mask?: tf.Tensor2D;
  /** ST-Gumbel temperature τ for this step. Default τ0 = 10. */
  temperature?: number;
  /**
   * Training randomness given instead of drawn from `rng` (`smear step`, tests against
   * another implementation). Each field present replaces that draw; absent fields are
   * drawn as usual. Default: none.
   */
  draws?: RoutingDraws;
}

/** Values for the random choices of one block's training forward (see RoutingContext.draws). */
export interface RoutingDraws {
  /** ST-Gumbel: the Gumbel noise g [B·N] (row-major [B,N]) added to the logits. */
  gumbel?: Float32Array;
  /** REINFORCE: the sampled expert per example [B]. */
  action?: Int32Array;
  /** AdaMix: the random down-projection expert per example [B]. */
  adamixDown?: Int32Array;
  /** AdaMix: the random up-projection expert per example [B]. */
  adamixUp?: Int32Array;
  /** Latent Skills: the uniforms U [T·N] (row-major [T,N], before torch's clamp_probs) of the relaxed Bernoulli. */
  skillsUniform?: Float32Array;
}

/** Draws per routing block index (router order), for a model's forward. */
export type DrawsForBlock = (block: number) => RoutingDraws | undefined;

/**
 * What `smear step` adds to a training step's context: the draws of each forward
 * pass (index 0; AdaMix's second pass 1) and the backbone's dropout switched off.
 * The settings' task losses read it; the trainer never sets it.
 */
export interface StepInjection {
  draws?: DrawsForBlock[];
  disableDropout?: boolean;
}

/** What routing decided for a batch (the analysis reads these, no hooks). */
export interface RoutingRecord {
  /** Router probabilities R(v) [B,N] (after expert dropout in training), where the method has a router. */
  probs?: tf.Tensor2D;
  /** Router logits [B,N] (after the dropout mask in training). */
  logits?: tf.Tensor2D;
  /** Chosen expert per example [B] (int32) for discrete methods; [B,k] for top-k with k > 1. */
  index?: tf.Tensor;
  /** The weights actually used to combine experts [B,N] (merge weights, mixing weights, one-hot·scale). */
  weights?: tf.Tensor2D;
  /** AdaMix training: the random up-projection expert [B] (index holds the down-projection expert). */
  upIndex?: tf.Tensor1D;
  /** Soft MoE: combine weights averaged over positions [B,N]. */
  slotWeights?: tf.Tensor2D;
  /** REINFORCE training: log π(a) [B] and baseline value [B], for `reinforceLosses`. */
  logProbAction?: tf.Tensor1D;
  baseline?: tf.Tensor1D;
}

/** An auxiliary loss term: add `weight · value` to the training loss. */
export interface AuxLoss {
  name: string;
  value: tf.Scalar;
  weight: number;
}

/** The result of one routing block. */
export interface RoutingOutput {
  /** Block output: x + post(u) (shape of x, [B,S,C]). */
  y: tf.Tensor3D;
  /** The expert mixture u [B,S,C] before any post-norm and residual. */
  mixture: tf.Tensor3D;
  record: RoutingRecord;
  aux: AuxLoss[];
}
