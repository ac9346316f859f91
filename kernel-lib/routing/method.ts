/**
 * The method interface: every routing method is one file in ./methods that
 * exports one `RoutingMethod`, registered in ./registry under its friendly
 * name and the reference code's `routing_estimator` name (or from outside the
 * library with `registerMethod`).
 *
 * Experts are data (./experts), methods are policy: a method decides how the
 * block's experts are combined for a batch — merge (SMEAR, skills, AdaMix at
 * eval), index (tag, hash, top-k, ST-Gumbel, REINFORCE, AdaMix in training),
 * output-mix (ensemble, DSelect-k), token-mix (Soft MoE) or dense (one adapter).
 *
 * A method declares everything that is particular to it, so that the models,
 * settings, trainer and command line never ask which method they run:
 *   - its options: block options (fields of RoutingBlockConfig, added to that
 *     interface by the method's file) and training options (a run
 *     configuration's `losses` section), each with its default, description and
 *     check (`options`);
 *   - the per-example ids it reads (`needsTags` with `tagCount`, `needsHash`)
 *     and a fixed expert count (`fixedExperts`);
 *   - what a training step adds beyond its blocks' own auxiliary losses:
 *     losses over all blocks or a second pass (`stepLosses`), the per-step
 *     routing context (`stepContext`), the forward passes a step costs
 *     (`trainingPasses`) and the random draws `smear step` may give
 *     (`trainingDraws`);
 *   - its parameters: creation (`createParams`), learning-rate multipliers
 *     (`lrScale`), which block parameters it never reads (`unusedParams`, the
 *     router flags), their reference state-dict names (`referenceParams`), the
 *     options their reference shapes imply (`optionsFromReference`);
 *   - how the reference's T5 adapter configuration files set it (`referenceArguments`);
 *   - the paper's claims about it that `smear analyze` checks (`claims`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng';
import type { Experts } from './experts';
import type { RouteResult, Router } from './router';
import type { AuxLoss, RoutingBlockConfig, RoutingContext, RoutingDraws, RoutingKind, RoutingRecord } from './types';

/** A block configuration with every default filled in (every registered method's block options too). */
export type ResolvedBlockConfig = Required<Omit<RoutingBlockConfig, 'init' | 'name'>> & {
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
   * training (and the input LayerNorm skipped where `skipsRouterInputNorm` says so).
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
  /** 'block': returned by each block's forward; 'model': computed once per step by `stepLosses`. */
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

/** Option values by key: a run configuration's `losses` section, or a method's block options. */
export type OptionValues = Record<string, unknown>;

/**
 * One option of a method. Object values (e.g. a schedule `{ tau0, rate, … }`)
 * are merged with the default one level deep, so a partial value sets only the
 * fields it names.
 */
export interface MethodOption<T = unknown> {
  /** The default, or a function of the block's resolved configuration (block options only). */
  default: T | ((cfg: ResolvedBlockConfig) => T);
  description: string;
  /**
   * Where the option is set:
   *   'block'    — a RoutingBlockConfig field, read by the method's blocks (the default);
   *   'training' — an entry of a run configuration's `losses` section, read by the
   *                method's step hooks (`stepLosses`, `stepContext`);
   *   'both'     — a training option that the run also passes to each of its blocks
   *                (a loss weight the blocks apply, a learning-rate multiplier).
   */
  scope?: 'block' | 'training' | 'both';
  /**
   * Throw an Error naming the option (`option <name>: expected …, got …`) for an
   * invalid value. `name` is the key (block options) or `losses.<key>` (training
   * options); `cfg` is the block's resolved configuration where there is one.
   */
  check?(value: T, name: string, cfg?: ResolvedBlockConfig): void;
}

/** What a setting's training task gives a method's `stepLosses`, once per training step. */
export interface StepInput {
  /** The routing records of the step's forward pass, one per routing block in router order. */
  records: RoutingRecord[];
  /** ℓ_b [B]: each example's task loss in that pass (its gradient path intact: the hook detaches what it must). */
  perExampleLoss: tf.Tensor1D;
  /**
   * The pass's output log-probabilities as rows [R,K]: R = B for a classifier, B·T target
   * positions (padding included) for a sequence model; K classes or vocabulary entries.
   */
  logProbs: tf.Tensor2D;
  /**
   * Run the model's training forward again on the same batch with fresh draws and
   * return its log-probabilities, laid out as `logProbs`. `pass` (≥ 1) says which given
   * draws (`smear step`'s `….pass2`) it uses.
   */
  forwardAgain(pass: number): tf.Tensor2D;
  /** The run's training options (its configuration's `losses`), defaults filled in. */
  options: OptionValues;
}

/** The per-step routing context a method needs from the training loop. */
export type StepContext = Pick<RoutingContext, 'temperature'>;

/**
 * One random choice of a training forward that `RoutingContext.draws` may give
 * instead of drawing it from `ctx.rng` (`smear step` reads it from its input as
 * `<input>.<block>`, and `<input>.<block>.pass2` for a second pass).
 */
export interface DrawSpec {
  /** The `RoutingDraws` field (declared by the method's file). */
  field: keyof RoutingDraws & string;
  /** smear step's input tensor name (before `.<block>`). */
  input: string;
  /** int32: expert indices (int64 in the input file); float32: noise or uniforms. */
  dtype: 'int32' | 'float32';
  /** [B] per example, [B,N] per example and expert, [T,N] per tag and expert. */
  shape: 'B' | 'B,N' | 'T,N';
  /** 'expert': an index in [0, N); 'finite': any finite number; 'unit': a number in [0, 1]. */
  values: 'expert' | 'finite' | 'unit';
  description: string;
}

/** The reference implementation's two code bases, whose state-dict names differ in places. */
export type ReferenceCode = 'resnet' | 't5';

/** One routing parameter in the reference's state dict (relative to `adapter_controller.`). */
export interface ReferenceParam {
  name: string | ((code: ReferenceCode) => string);
  /** The reference layout of ours (pure reshapes); default: the same shape. */
  shape?(ours: number[], cfg: ResolvedBlockConfig): number[];
}

/** A checkpoint's routing tensors by our parameter names, for `optionsFromReference`. */
export interface ReferenceShapes {
  /** Routing blocks in the file. */
  blocks: number;
  /** The reference shape of parameter `ours` of block k (rank checked); throws naming the tensor and `what` when it is missing. */
  shape(k: number, ours: string, rank: number, what: string): number[];
  /** Stop with an error about the file. */
  fail(message: string): never;
}

/** The reference's T5 adapter configuration file as a method reads it (settings/t5/reference-config.ts). */
export interface ReferenceArguments {
  /** The file's routing_estimator, as written (for messages). */
  estimator: unknown;
  /** A numeric argument (undefined when absent or null); an error naming the key when it fails `check`. */
  num(key: string, check: (v: number) => boolean, want: string): number | undefined;
  /** A boolean argument (false when absent or null). */
  flag(key: string): boolean;
  /** Stop with an error about the file. */
  fail(message: string): never;
}

/** How the reference's hyperformer arguments (the T5 adapter configuration files) set a method. */
export interface ReferenceConfigReader {
  /** The arguments it reads (honoured keys of the files). */
  keys: readonly string[];
  /**
   * Arguments that only methods reading them may set: for any other method, a value
   * other than `neutral` is refused with `refusal(value, estimator)`.
   */
  exclusive?: Readonly<Record<string, { neutral: unknown; refusal(value: unknown, estimator: unknown): string }>>;
  /** Its block options (`routing`) and training options (`losses`) from the file. */
  read?(args: ReferenceArguments): { routing?: Partial<RoutingBlockConfig>; losses?: OptionValues };
}

/** A claim the paper makes about a method, checked against finished runs (`smear analyze`). */
export type PaperClaim =
  | { kind: 'above'; other: string; what: string } // scores above `other`
  | { kind: 'near'; other: string } // within a few points of `other`
  | { kind: 'cheaper'; other: string }; // trains faster (steps/s) than `other`

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
  /**
   * How many tags T a model gives the method's blocks by default: 'experts' (the
   * default) T = N, one expert per tag; 'data' T = the data's number of tags (the
   * model's: 6 DomainNet domains, 8 GLUE tasks), whatever N.
   */
  tagCount?: 'experts' | 'data';
  /** Needs hash ids per example. */
  needsHash?: boolean;
  /** The method has exactly this many experts (the single adapter: 1); also the default N of its blocks. */
  fixedExperts?: number;
  /** Routes from its own block input even where the model passes `ctx.routerInput` (DSelect-k in T5: kernel-lib/docs/reference-code.md#t5-router-input). */
  ownRouterInput?: boolean;
  /** Uses the router input LayerNorm without the softmax router (DSelect-k). */
  usesRouterInputNorm?: boolean;
  /** Skips the router's input LayerNorm with this configuration (Top-k with load balancing, a reference quirk). */
  skipsRouterInputNorm?(cfg: ResolvedBlockConfig): boolean;
  /** Own parameters that exist (as in reference checkpoints) but that the method never reads. */
  unusedParams?: readonly string[];
  auxLosses: AuxLossInfo[];
  /** Default expert dropout (0.1 for SMEAR and Top-k as the reference's READMEs run them: kernel-lib/docs/reference-code.md#expert-dropout). */
  defaultExpertDropout: number;
  /** Named configurations (1× compute, 1× parameters, 2×). */
  configurations: MethodConfiguration[];
  description: string;
  /** Its options, by key (block options are fields of RoutingBlockConfig that the method's file adds). */
  options?: Readonly<Record<string, MethodOption<any>>>;
  /** The random choices of a training forward (each one a `RoutingContext.draws` field `smear step` reads from its input). */
  trainingDraws?: readonly DrawSpec[];
  /** Forward passes per training step (AdaMix: 2, with independent draws): what a step costs. Default 1. */
  trainingPasses?: number;
  /** The routing context of training step `step` (ST-Gumbel: its temperature). */
  stepContext?(step: number, options: OptionValues): StepContext;
  /** Step-level loss terms over every block or another pass (REINFORCE, AdaMix): each added as weight · value and logged under its name. */
  stepLosses?(input: StepInput): AuxLoss[];
  /** Learning-rate multipliers of own parameters by name (skills: ×10). */
  lrScale?(cfg: ResolvedBlockConfig): Record<string, number>;
  /** Validate method-specific configuration; throw an Error naming the option. */
  validate?(cfg: ResolvedBlockConfig): void;
  /** Create the method's own parameters. */
  createParams?(cfg: ResolvedBlockConfig, rng: Rng): Record<string, tf.Variable>;
  /**
   * Reference state-dict names of its own parameters, and overrides of the shared
   * ones (null: the reference has no such tensor, e.g. a router weight it replaces).
   */
  referenceParams?: Readonly<Record<string, ReferenceParam | null>>;
  /** Block options that its reference tensors' shapes imply (a checkpoint without smear metadata). */
  optionsFromReference?(tensors: ReferenceShapes): Partial<RoutingBlockConfig>;
  /** How the reference's T5 adapter configuration files set it. */
  referenceArguments?: ReferenceConfigReader;
  /** The paper's claims about it. */
  claims?: readonly PaperClaim[];
  /** Combine the experts for x [B,S,C]; `routerInput()` gives v [B,C] lazily. */
  mix(x: tf.Tensor3D, routerInput: () => tf.Tensor2D, ctx: ResolvedContext, parts: BlockParts): MixResult;
}
