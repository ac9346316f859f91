/**
 * T5 model constants and the types of its inputs, outputs, options and layers
 * (split from ./model.ts; re-exported there).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { RoutingBlock } from '../../routing/block';
import type { AuxLoss, DrawsForBlock, RoutingBlockConfig, RoutingRecord } from '../../routing/types';
import type { T5Config } from './config';
import type { Rng } from '../../util/rng';

// ------------------------------------------------------------------ constants

/** Decoder start token (= pad), EOS and pad ids of the T5 vocabulary. */
export const DECODER_START_TOKEN_ID = 0;
export const EOS_TOKEN_ID = 1;
export const PAD_TOKEN_ID = 0;
/** LayerNorm eps of the routing blocks' LN_post (torch.nn.LayerNorm default). */
export const POST_LN_EPS = 1e-5;
/** Additive mask values of transformers 3.5 in fp32: self-attention (extended mask) and cross-attention (inverted mask). */
export const SELF_MASK_VALUE = -1e4;
export const CROSS_MASK_VALUE = -1e9;
/** GLUE task order of the reference (`tasks`): rte=0 … mnli=5 …; tag routing's RTE→MNLI sharing uses these. */
export const RTE_TASK_ID = 0;
export const MNLI_TASK_ID = 5;
/** HF name of the transformers-3.5 cross-attention relative-position table. */
export const CROSS_TABLE_KEY = 'decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight';

// ------------------------------------------------------------------ public types

/** Routing options shared by the blocks (RoutingBlockConfig without what the model sets itself). */
export type T5RoutingConfig = Omit<RoutingBlockConfig, 'width' | 'name' | 'init' | 'postLayerNorm' | 'tagToExpert' | 'maskedMean'>;

export interface RoutedT5Options {
  /** Backbone: a preset name ('t5-v1_1-base', 't5-tiny', 't5-test'), a config, or a partial config on a `preset`. */
  config: string | (Partial<T5Config> & { preset?: string });
  /** Routing method and sizes; numExperts default 8, bottleneck default d_model/32 (24 for base), numTags default 8 (tag routing: numExperts). */
  routing: T5RoutingConfig;
  /** Padding-masked means for the router inputs (encoder own means and the decoder's encoder mean). Default false (reference). */
  maskedRouterMean?: boolean;
  /** Tag routing: RTE (task 0) uses MNLI's expert (5) in encoder blocks only (the README's Tag run). Default false. */
  sameRteMnliInEncoder?: boolean;
  /** Cross-attention relative-position table when no checkpoint provides one. Default 'none'. */
  crossAttentionBias?: 'none' | 'random';
  /**
   * Std of the 'random' cross-attention table. Default 1: torch's nn.Embedding
   * init N(0, 1). transformers 3.5's `_init_weights` would give
   * N(0, (factor·d_model^-0.5)²) (factor = initializer_factor = 1), but only to
   * modules that are instances of transformers' own `T5Attention`; the
   * reference's custom modeling_t5_v1_1.py defines its own `T5Attention`
   * class, so that branch never runs for it and the missing table keeps
   * nn.Embedding's default. Pass `d_model ** -0.5` for the `_init_weights` value.
   */
  crossAttentionBiasStd?: number;
  /** Backbone initialisation: 'random' (HF T5 init formulas, seeded) or 'zeros' (to be loaded). Default 'random'. */
  backboneInit?: 'random' | 'zeros';
  /** Seed of every initialisation. Default 42. */
  seed?: number;
}

/** Token ids or a 0/1 mask, [B,L]: a tensor, nested arrays, or a flat row-major array (with `batchSize`). */
export type IdsInput = tf.Tensor2D | number[][] | Int32Array | Float32Array | number[];

export interface T5Inputs {
  /** Source token ids [B,S]. */
  inputIds: IdsInput;
  /** Source mask [B,S], 1 = token, 0 = padding. Default all ones. */
  attentionMask?: IdsInput;
  /** Decoder input ids [B,T] (start token 0 then the shifted labels). Required by `forward`. */
  decoderInputIds?: IdsInput;
  /** B, needed only when every id input is a flat array. */
  batchSize?: number;
  /** Task id per example [B] (tag and skills routing). */
  taskIds?: Int32Array | number[];
  /** Hash labels [B,R] row-major (R ≥ number of routing blocks); block k reads column k. */
  hashIds?: Int32Array | number[] | tf.Tensor2D;
}

export interface T5Context {
  training: boolean;
  /** Required in training when dropout or the routing method draws randomness. */
  rng?: Rng;
  /** ST-Gumbel temperature. */
  temperature?: number;
  /** Training without the backbone's dropout (`smear step`). Default false. */
  disableDropout?: boolean;
  /** Given routing draws per routing block (router order), instead of drawing them from `rng`. */
  draws?: DrawsForBlock;
}

export interface T5Output {
  /** [B,T,V]. */
  logits: tf.Tensor3D;
  /** One record per routing block, in router order (encoder 0..2L_enc−1, then decoder). */
  records: RoutingRecord[];
  /** Block auxiliary losses (add weight·value). */
  aux: AuxLoss[];
}

export interface T5EncoderOutput {
  /** Final encoder output E [B,S,C] (after the final RMSNorm and dropout). */
  hidden: tf.Tensor3D;
  /** The decoder routers' input: mean of E over source positions [B,C]. */
  routerInput: tf.Tensor2D;
  /** Records of the encoder routing blocks (router order). */
  records: RoutingRecord[];
  aux: AuxLoss[];
}

export interface GenerateOptions {
  /** Maximum number of generated tokens (the decoder start token not counted). */
  maxLength: number;
  /** Incremental decoding with a key/value cache. Default true; false recomputes the decoder over the prefix each step. */
  useCache?: boolean;
  /** Also return each step's logits [B,L,V]. Default false. */
  returnLogits?: boolean;
}

export interface GenerateOutput {
  /** Generated ids [B·L] row-major (start token excluded; pad 0 after EOS). */
  sequences: Int32Array;
  shape: [number, number];
  /** Per-step logits [B,L,V] when `returnLogits`. */
  logits?: tf.Tensor3D;
}

export interface TrainableParam {
  name: string;
  variable: tf.Variable;
  lrScale: number;
}

export type SublayerKind = 'self' | 'cross' | 'ff';

/** One routing insertion point. */
export interface T5Sublayer {
  /** Router index (hash column). */
  index: number;
  stack: 'encoder' | 'decoder';
  block: number;
  kind: SublayerKind;
  /** HF module prefix, e.g. `decoder.block.3.layer.1`. */
  prefix: string;
  /** RMSNorm gain [C] (`${prefix}.layer_norm.weight`), trainable. */
  norm: tf.Variable;
  routing: RoutingBlock;
}

export interface AttentionWeights {
  q: tf.Variable; // [C,H·K]
  k: tf.Variable; // [C,H·K]
  v: tf.Variable; // [C,H·K]
  o: tf.Variable; // [H·K,C]
}

export interface FfWeights {
  wi0: tf.Variable; // [C,F]
  wi1: tf.Variable; // [C,F]
  wo: tf.Variable; // [F,C]
}

export interface EncoderBlock {
  attn: AttentionWeights;
  ff: FfWeights;
  sublayers: [T5Sublayer, T5Sublayer];
}

export interface DecoderBlock {
  attn: AttentionWeights;
  cross: AttentionWeights;
  ff: FfWeights;
  sublayers: [T5Sublayer, T5Sublayer, T5Sublayer];
}

// ------------------------------------------------------------------ functions

