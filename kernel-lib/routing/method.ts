/**
 * The method interface: every routing method is one file in ./methods that
 * exports one `RoutingMethod`, registered in ./registry under its friendly
 * name and the reference code's `routing_estimator` name.
 *
 * Experts are data (./experts), methods are policy: a method decides how the
 * block's experts are combined for a batch — merge (SMEAR, skills, AdaMix at
 * eval), index (tag, hash, top-k, ST-Gumbel, REINFORCE, AdaMix in training),
 * output-mix (ensemble, DSelect-k), token-mix (Soft MoE) or dense (one adapter).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng';
import type { Experts } from './experts';
import type { RouteResult, Router } from './router';
import type { AuxLoss, RoutingBlockConfig, RoutingDraws, RoutingKind, RoutingRecord } from './types';

/** A block configuration with every default filled in. */
export type ResolvedBlockConfig = Required<Omit<RoutingBlockConfig, 'tagToExpert' | 'init' | 'name'>> & {
  tagToExpert: number[];
  name: string;
};

/** The per-call context after validation. */
export interface ResolvedContext {
  training: boolean;
  rng?: Rng;
  tags?: Int32Array; // [B], each in [0, T)
  hash?: Int32Array; // [B], each in [0, N)
  temperature: number;
  batch: number;
  /** Given training draws (validated sizes), replacing `rng` for those choices. */
  draws?: RoutingDraws;
}

/** What a method sees of its block. */
export interface BlockParts {
  config: ResolvedBlockConfig;
  experts: Experts;
  router: Router;
  /** The method's own parameters, by name (see `createParams`). */
  own: Record<string, tf.Variable>;
  /**
   * The softmax router on this call's router input, with expert dropout in
   * training (and the input LayerNorm skipped under load balancing, as the reference).
   */
  route(): RouteResult;
}

export interface MixResult {
  mixture: tf.Tensor3D; // u [B,S,C]
  record: RoutingRecord;
  aux: AuxLoss[];
}

/** An auxiliary loss a method adds to training. */
export interface AuxLossInfo {
  name: string;
  /** 'block': returned by each block's forward; 'model': computed once per step from records (see the method file). */
  scope: 'block' | 'model';
  description: string;
}

/** A named configuration of a method (e.g. "SMEAR 2×" = twice the experts). */
export interface MethodConfiguration {
  label: string;
  description: string;
  /** Sizes from the setting's defaults (N experts, bottleneck d). */
  resolve(base: { numExperts: number; bottleneck: number }): { numExperts: number; bottleneck: number };
}

/** The plain configuration: the setting's N and d. */
export const SAME_SIZE = (base: { numExperts: number; bottleneck: number }) => ({ ...base });
/** The "2×" configuration: twice the experts. */
export const TWICE_EXPERTS = (base: { numExperts: number; bottleneck: number }) => ({
  numExperts: 2 * base.numExperts,
  bottleneck: base.bottleneck,
});

export interface RoutingMethod {
  /** Friendly name (registry key), e.g. 'smear'. */
  name: string;
  /** The reference code's `routing_estimator` ('None' for the single adapter). */
  referenceName: string;
  /** The paper's name for the method. */
  title: string;
  kind: RoutingKind;
  /** Reads the softmax router (so expert dropout and `record.probs` apply). */
  usesRouter: boolean;
  /** Needs tag ids (task/domain) per example. */
  needsTags?: boolean;
  /** Needs hash ids per example. */
  needsHash?: boolean;
  /** Routes from its own block input even where the model passes `ctx.routerInput` (DSelect-k in T5: kernel-lib/docs/reference-code.md#t5-router-input). */
  ownRouterInput?: boolean;
  /** Uses the router input LayerNorm without the softmax router (DSelect-k). */
  usesRouterInputNorm?: boolean;
  auxLosses: AuxLossInfo[];
  /** Default expert dropout (0.1 for SMEAR and Top-k as the reference's READMEs run them: kernel-lib/docs/reference-code.md#expert-dropout). */
  defaultExpertDropout: number;
  /** Named configurations (1× compute, 1× parameters, 2×). */
  configurations: MethodConfiguration[];
  description: string;
  /** The random choices of a training forward (each one a `RoutingContext.draws` field `smear step` reads from its input). */
  trainingDraws?: (keyof RoutingDraws)[];
  /** Forward passes per training step (AdaMix: 2, with independent draws). Default 1. */
  trainingPasses?: number;
  /** Learning-rate multipliers of own parameters (skills: ×10). */
  lrScale?: Record<string, number>;
  /** Validate method-specific configuration; throw an Error naming the option. */
  validate?(cfg: ResolvedBlockConfig): void;
  /** Create the method's own parameters. */
  createParams?(cfg: ResolvedBlockConfig, rng: Rng): Record<string, tf.Variable>;
  /** Combine the experts for x [B,S,C]; `routerInput()` gives v [B,C] lazily. */
  mix(x: tf.Tensor3D, routerInput: () => tf.Tensor2D, ctx: ResolvedContext, parts: BlockParts): MixResult;
}
