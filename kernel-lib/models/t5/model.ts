/**
 * T5 v1.1 (encoder–decoder) with the reference's 60 routing blocks
 * (kernel-lib/docs/reference-code.md#t5-backbone, #t5-routing-blocks; the reference's
 * `hyperformer/hyperformer/third_party/models/modeling_t5_v1_1.py`
 * on transformers 3.5).
 *
 * Backbone (frozen except the RMSNorm gains):
 *   RMSNorm(x)   = x · rsqrt(mean_C(x²) + eps) · w            T5LayerNorm: no mean subtraction, no bias, eps 1e-6
 *   Attention    = softmax(q kᵀ + bias) v, then o              NO 1/sqrt(d_kv) scaling (folded into T5's init)
 *   bias         = relative-position bias [H,Tq,Tk] + mask   table `relative_attention_bias` [buckets,H] lives in
 *                                                             block 0 and is shared by the stack; buckets as HF
 *                                                             (bidirectional in the encoder, causal in the decoder)
 *   FFN          = wo( gelu_new(wi_0 x) ⊙ wi_1 x )            gelu_new: tanh approximation
 *   logits       = lm_head( d_model^-0.5 · final_norm(h) )     untied lm_head, see the rescale note in `decode`
 *
 * Each sublayer (encoder: self-attention, FF; decoder: self-attention,
 * cross-attention, FF) owns one RoutingBlock (post LayerNorm, eps 1e-5):
 *   y  = Sublayer(RMSNorm(h));   y' = y + LN_post(mixture(y));   h ← h + Dropout(y')
 * Router index (the hash column): encoder block k → 2k, 2k+1; decoder block k →
 * 2·L_enc + 3k + {0,1,2} (24 + 3k + … for the base config).
 * Router input v (kernel-lib/docs/reference-code.md#t5-router-input): encoder blocks: the mean over ALL positions of the
 * block's own sublayer output y (padding included; `maskedRouterMean` masks it);
 * decoder blocks: the mean over source positions of the FINAL encoder output
 * (after the final RMSNorm and dropout; masked likewise when asked), constant
 * over decoding steps. DSelect-k always uses its own block mean (in cached
 * generation: the current token only), as the reference.
 *
 * Dropout (training, rate `dropoutRate`), exactly where HF/reference T5 applies it,
 * drawn from `ctx.rng` in this order (module order):
 *   1. on the token embeddings, at the start of each stack;
 *   2. on the attention probabilities (after softmax), in every attention;
 *   3. in the FFN, on gelu_new(wi_0 x) ⊙ wi_1 x before `wo`;
 *   4. on each sublayer's output y' (after the routing block) before the residual add;
 *   5. on the output of each stack's final RMSNorm.
 * A routing block draws its own randomness (expert dropout, sampling) from the same
 * generator right after its sublayer's attention/FFN draws and before (4).
 *
 * Masks: the encoder self-attention and the decoder cross-attention mask padding
 * keys (`attentionMask`, adding −1e4 resp. −1e9 as transformers 3.5 does in fp32);
 * decoder self-attention is causal only: decoder padding is not masked (reference).
 *
 * transformers-3.5 quirk (kernel-lib/docs/reference-code.md#cross-attention-position-bias): decoder block 0's cross-attention owns a
 * relative-position table (`decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight`,
 * bidirectional buckets, shared by all decoder layers' cross-attention). A checkpoint
 * with that key gets it; otherwise option `crossAttentionBias`: 'none' (no bias, as
 * modern HF T5) or 'random' (a seeded, frozen N(0, std²) table; see
 * `crossAttentionBiasStd` for the choice of std).
 *
 * Memory: frozen weights enter matmuls through `frozenMatMul` (customGrad), so a
 * taped forward (tf.variableGrads) keeps no copies of them; each sublayer runs in
 * its own tidy. On wasm (a 4 GB heap) the base model still needs ~3.3 GB before
 * activations (weights plus XNNPACK's packed copies for the forward and the
 * transposed backward products), which bounds training to a few hundred tokens per
 * step there; the tiny presets train comfortably.
 *
 * Layouts: Linear weights are stored [in,out] (torch's are [out,in]; the state
 * dict in ./weights speaks torch's). Legend: B batch · S source length · T target
 * length · C d_model · H heads · K d_kv · F d_ff · V vocabulary.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../backend/gradients';
import { Rng } from '../../util/rng';
import { hostValuesOf } from '../../backend/host-read';
import { RoutingBlock } from '../../routing/block';
import { getMethod } from '../../routing/registry';
import { positionMean } from '../../routing/ops';
import type { AuxLoss, RoutingBlockConfig, RoutingRecord } from '../../routing/types';
import { resolveT5Config, type T5Config } from './config';
import {
  DECODER_START_TOKEN_ID,
  EOS_TOKEN_ID,
  PAD_TOKEN_ID,
  SELF_MASK_VALUE,
  CROSS_MASK_VALUE,
  RTE_TASK_ID,
  MNLI_TASK_ID,
  CROSS_TABLE_KEY,
  type T5RoutingConfig,
  type RoutedT5Options,
  type T5Inputs,
  type T5Context,
  type T5Output,
  type T5EncoderOutput,
  type GenerateOptions,
  type GenerateOutput,
  type TrainableParam,
  type SublayerKind,
  type T5Sublayer,
  type AttentionWeights,
  type FfWeights,
  type EncoderBlock,
  type DecoderBlock,
} from './types';
import {
  relativePositionBuckets,
  rmsNorm,
  geluNew,
  frozenMatMul,
  shapeStr,
  toIds2D,
  batchOf,
  dropout,
  frozenGather,
  type Ids2D,
  type Prepared,
  type Drop,
  type RouteOut,
  type DecoderCache,
} from './layers';

export * from './types';

let modelCounter = 0;
export { relativePositionBucket, relativePositionBuckets, rmsNorm, geluNewReference, geluNew, frozenMatMul } from './layers';

// ------------------------------------------------------------------ model

export class RoutedT5 {
  readonly config: T5Config;
  /** Friendly routing method name (e.g. 'smear'). */
  readonly method: string;
  readonly routingConfig: T5RoutingConfig & { numExperts: number; bottleneck: number };
  readonly options: Required<Pick<RoutedT5Options, 'maskedRouterMean' | 'sameRteMnliInEncoder' | 'crossAttentionBias' | 'seed'>> & {
    crossAttentionBiasStd: number;
  };
  /** shared.weight [V,C] (the tied encoder/decoder embeddings). Frozen. */
  readonly shared: tf.Variable;
  readonly encoderBlocks: EncoderBlock[] = [];
  readonly decoderBlocks: DecoderBlock[] = [];
  /** encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets,H]. */
  readonly encoderRelBias: tf.Variable;
  /** decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets,H]. */
  readonly decoderRelBias: tf.Variable;
  /** decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight [buckets,H], when present (frozen). */
  crossRelBias?: tf.Variable;
  /** Where the cross-attention table came from. */
  crossAttentionBiasSource: 'none' | 'random' | 'checkpoint';
  readonly encoderFinalNorm: tf.Variable;
  readonly decoderFinalNorm: tf.Variable;
  /** lm_head [C,V] (in×out). Frozen. */
  readonly lmHead: tf.Variable;
  /** Every routing insertion point, in router order. */
  readonly sublayers: T5Sublayer[] = [];
  readonly id: string;

  constructor(opts: RoutedT5Options) {
    if (opts == null || typeof opts !== 'object') throw new Error('RoutedT5: expected an options object');
    if (opts.routing == null || typeof opts.routing.method !== 'string') {
      throw new Error("RoutedT5: option routing.method is required (e.g. { routing: { method: 'smear' } })");
    }
    const cfg = resolveT5Config(opts.config);
    this.config = cfg;
    const method = getMethod(opts.routing.method);
    this.method = method.name;
    for (const k of ['postLayerNorm', 'tagToExpert', 'maskedMean', 'width', 'name', 'init'] as const) {
      if ((opts.routing as Record<string, unknown>)[k] !== undefined) {
        const instead = k === 'maskedMean' ? ' (use the model option maskedRouterMean)' : k === 'tagToExpert' ? ' (use sameRteMnliInEncoder)' : '';
        throw new Error(`RoutedT5: option routing.${k} is set by the model${instead}`);
      }
    }
    const numExperts = opts.routing.numExperts ?? (method.kind === 'dense' ? 1 : 8);
    const bottleneck = opts.routing.bottleneck ?? Math.max(1, Math.floor(cfg.dModel / 32));
    this.routingConfig = {
      ...opts.routing,
      numExperts,
      bottleneck,
      // Tags are GLUE tasks: skills routing has a T×N matrix with T = 8 by default; tag
      // routing maps task → expert (default T = N); other methods ignore tags (T = N).
      numTags: opts.routing.numTags ?? (method.name === 'skills' ? 8 : numExperts),
    };
    const crossAttentionBias = opts.crossAttentionBias ?? 'none';
    if (crossAttentionBias !== 'none' && crossAttentionBias !== 'random') {
      throw new Error(`RoutedT5: option crossAttentionBias: expected 'none' or 'random', got ${JSON.stringify(crossAttentionBias)}`);
    }
    const crossStd = opts.crossAttentionBiasStd ?? 1;
    if (!(typeof crossStd === 'number' && crossStd > 0 && Number.isFinite(crossStd))) {
      throw new Error(`RoutedT5: option crossAttentionBiasStd: expected a positive number, got ${crossStd}`);
    }
    const seed = opts.seed ?? 42;
    if (!Number.isFinite(seed)) throw new Error(`RoutedT5: option seed: expected a number, got ${seed}`);
    const backboneInit = opts.backboneInit ?? 'random';
    if (backboneInit !== 'random' && backboneInit !== 'zeros') {
      throw new Error(`RoutedT5: option backboneInit: expected 'random' or 'zeros', got ${JSON.stringify(backboneInit)}`);
    }
    this.options = {
      maskedRouterMean: opts.maskedRouterMean ?? false,
      sameRteMnliInEncoder: opts.sameRteMnliInEncoder ?? false,
      crossAttentionBias,
      crossAttentionBiasStd: crossStd,
      seed,
    };
    let encTagMap: number[] | undefined;
    let tagMap: number[] | undefined;
    if (method.name === 'skills') {
      // Skills routing indexes its T×N matrix by task and never reads tagToExpert, but the
      // block validates that map against N: give a placeholder when T > N.
      tagMap = Array.from({ length: this.routingConfig.numTags! }, (_, t) => t % numExperts);
    }
    if (this.options.sameRteMnliInEncoder) {
      if (method.name !== 'tag') throw new Error(`RoutedT5: option sameRteMnliInEncoder applies to tag routing only, not '${method.name}'`);
      const t = this.routingConfig.numTags!;
      if (t <= MNLI_TASK_ID || numExperts <= MNLI_TASK_ID) {
        throw new Error(`RoutedT5: option sameRteMnliInEncoder needs numTags and numExperts > ${MNLI_TASK_ID} (MNLI is task 5), got ${t} and ${numExperts}`);
      }
      encTagMap = Array.from({ length: t }, (_, i) => (i === RTE_TASK_ID ? MNLI_TASK_ID : i));
    }

    this.id = `t5_${modelCounter++}`;
    // Two streams, so the routing blocks' initialisation depends on the seed only
    // (not on backboneInit): a checkpoint loaded over a 'zeros' backbone gets the
    // same fresh routing blocks as a randomly initialised model with that seed.
    const rng = new Rng(seed); // routing blocks (one fork per block, router order)
    const bbRng = new Rng(seed + 104729); // backbone
    const { dModel: c, dKv: kd, dFf: f, numHeads: h, vocabSize: vocab, relativeAttentionNumBuckets: nb } = cfg;
    const inner = h * kd;
    const vname = (n: string) => `${this.id}/${n}`;
    const frozen = (shape: number[], std: number, name: string): tf.Variable => {
      const size = shape.reduce((a, b) => a * b, 1);
      const init = backboneInit === 'zeros' ? tf.zeros(shape) : tf.tensor(bbRng.normal(size, std), shape, 'float32');
      const variable = tf.variable(init, false, vname(name));
      init.dispose(); // the variable holds its own reference to the data
      return variable;
    };
    const gain = (name: string) => tf.variable(tf.ones([c]), true, vname(name));
    // HF T5 initialisation (factor 1): embeddings N(0,1); q N(0,(C·K)^-1); k,v N(0,1/C);
    // o N(0,1/(H·K)); wi N(0,1/C); wo N(0,1/F); relative bias N(0,1/C); lm_head N(0,1).
    const attn = (p: string): AttentionWeights => ({
      q: frozen([c, inner], (c * kd) ** -0.5, `${p}.q.weight`),
      k: frozen([c, inner], c ** -0.5, `${p}.k.weight`),
      v: frozen([c, inner], c ** -0.5, `${p}.v.weight`),
      o: frozen([inner, c], inner ** -0.5, `${p}.o.weight`),
    });
    const ff = (p: string): FfWeights => ({
      wi0: frozen([c, f], c ** -0.5, `${p}.wi_0.weight`),
      wi1: frozen([c, f], c ** -0.5, `${p}.wi_1.weight`),
      wo: frozen([f, c], f ** -0.5, `${p}.wo.weight`),
    });
    const routingBase: RoutingBlockConfig = { ...this.routingConfig, width: c, postLayerNorm: true, maskedMean: this.options.maskedRouterMean };
    const sub = (stack: 'encoder' | 'decoder', block: number, layer: number, kind: SublayerKind, tagMap?: number[]): T5Sublayer => {
      const prefix = `${stack}.block.${block}.layer.${layer}`;
      const s: T5Sublayer = {
        index: this.sublayers.length,
        stack,
        block,
        kind,
        prefix,
        norm: gain(`${prefix}.layer_norm.weight`),
        routing: new RoutingBlock({ ...routingBase, tagToExpert: tagMap, init: rng.fork(), name: vname(`${prefix}.adapter_controller`) }),
      };
      this.sublayers.push(s);
      return s;
    };

    this.shared = frozen([vocab, c], 1, 'shared.weight');
    this.encoderRelBias = frozen([nb, h], c ** -0.5, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    for (let i = 0; i < cfg.numLayers; i++) {
      const p = `encoder.block.${i}`;
      this.encoderBlocks.push({
        attn: attn(`${p}.layer.0.SelfAttention`),
        ff: ff(`${p}.layer.1.DenseReluDense`),
        sublayers: [sub('encoder', i, 0, 'self', encTagMap ?? tagMap), sub('encoder', i, 1, 'ff', encTagMap ?? tagMap)],
      });
    }
    this.encoderFinalNorm = gain('encoder.final_layer_norm.weight');
    this.decoderRelBias = frozen([nb, h], c ** -0.5, 'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    for (let i = 0; i < cfg.numDecoderLayers; i++) {
      const p = `decoder.block.${i}`;
      this.decoderBlocks.push({
        attn: attn(`${p}.layer.0.SelfAttention`),
        cross: attn(`${p}.layer.1.EncDecAttention`),
        ff: ff(`${p}.layer.2.DenseReluDense`),
        sublayers: [sub('decoder', i, 0, 'self', tagMap), sub('decoder', i, 1, 'cross', tagMap), sub('decoder', i, 2, 'ff', tagMap)],
      });
    }
    this.decoderFinalNorm = gain('decoder.final_layer_norm.weight');
    this.lmHead = frozen([c, vocab], 1, 'lm_head.weight');
    this.crossAttentionBiasSource = 'none';
    if (crossAttentionBias === 'random') {
      // Its own generator, so the other parameters do not depend on this option.
      const r = new Rng(seed + 7919);
      this.crossRelBias = tf.variable(tf.tensor2d(r.normal(nb * h, crossStd), [nb, h]), false, vname(CROSS_TABLE_KEY));
      this.crossAttentionBiasSource = 'random';
    }
  }

  /** Number of routing blocks: 2·L_enc + 3·L_dec (60 for the base config). */
  get numRoutingBlocks(): number {
    return this.sublayers.length;
  }

  /**
   * Install a cross-attention relative-position table [buckets,H] (frozen), e.g.
   * from a transformers-3.5-era checkpoint; replaces any existing one.
   */
  setCrossAttentionTable(values: tf.Tensor2D, source: 'checkpoint' | 'random' = 'checkpoint'): void {
    const want = [this.config.relativeAttentionNumBuckets, this.config.numHeads];
    if (values.rank !== 2 || values.shape[0] !== want[0] || values.shape[1] !== want[1]) {
      throw new Error(`RoutedT5: ${CROSS_TABLE_KEY}: expected shape ${shapeStr(want)}, got ${shapeStr(values.shape)}`);
    }
    if (this.crossRelBias) this.crossRelBias.assign(values);
    else this.crossRelBias = tf.variable(values, false, `${this.id}/${CROSS_TABLE_KEY}`);
    this.crossAttentionBiasSource = source;
  }

  /** Remove the cross-attention table (modern HF T5 behaviour). */
  removeCrossAttentionTable(): void {
    this.crossRelBias?.dispose();
    this.crossRelBias = undefined;
    this.crossAttentionBiasSource = 'none';
  }

  // ---------------------------------------------------------------- parameters

  /**
   * What the optimizer trains (kernel-lib/docs/reference-code.md#t5-backbone): every routing parameter the method
   * uses (`encoder.block.0.layer.0.adapter_controller.experts.down`, …, with the
   * method's learning-rate scale) and every T5 RMSNorm gain
   * (`encoder.block.0.layer.0.layer_norm.weight`, …, `decoder.final_layer_norm.weight`).
   */
  trainableParams(): TrainableParam[] {
    const out: TrainableParam[] = [];
    for (const s of this.sublayers) {
      out.push({ name: `${s.prefix}.layer_norm.weight`, variable: s.norm, lrScale: 1 });
      for (const p of s.routing.namedParams()) {
        if (p.used) out.push({ name: `${s.prefix}.adapter_controller.${p.name}`, variable: p.variable, lrScale: p.lrScale });
      }
      if (s.stack === 'encoder' && s.index === 2 * this.config.numLayers - 1) {
        out.push({ name: 'encoder.final_layer_norm.weight', variable: this.encoderFinalNorm, lrScale: 1 });
      }
    }
    out.push({ name: 'decoder.final_layer_norm.weight', variable: this.decoderFinalNorm, lrScale: 1 });
    return out;
  }

  /** Every variable by HF name (backbone, torch-free layout [in,out]) and routing name (`….adapter_controller.<our name>`). */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    out.set('shared.weight', this.shared);
    const attn = (p: string, a: AttentionWeights) => {
      out.set(`${p}.q.weight`, a.q);
      out.set(`${p}.k.weight`, a.k);
      out.set(`${p}.v.weight`, a.v);
      out.set(`${p}.o.weight`, a.o);
    };
    const ff = (p: string, w: FfWeights) => {
      out.set(`${p}.wi_0.weight`, w.wi0);
      out.set(`${p}.wi_1.weight`, w.wi1);
      out.set(`${p}.wo.weight`, w.wo);
    };
    const subl = (s: T5Sublayer) => {
      out.set(`${s.prefix}.layer_norm.weight`, s.norm);
      for (const [k, v] of s.routing.params) out.set(`${s.prefix}.adapter_controller.${k}`, v);
    };
    this.encoderBlocks.forEach((b, i) => {
      attn(`encoder.block.${i}.layer.0.SelfAttention`, b.attn);
      if (i === 0) out.set('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', this.encoderRelBias);
      ff(`encoder.block.${i}.layer.1.DenseReluDense`, b.ff);
      b.sublayers.forEach(subl);
    });
    out.set('encoder.final_layer_norm.weight', this.encoderFinalNorm);
    this.decoderBlocks.forEach((b, i) => {
      attn(`decoder.block.${i}.layer.0.SelfAttention`, b.attn);
      if (i === 0) out.set('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', this.decoderRelBias);
      attn(`decoder.block.${i}.layer.1.EncDecAttention`, b.cross);
      if (i === 0 && this.crossRelBias) out.set(CROSS_TABLE_KEY, this.crossRelBias);
      ff(`decoder.block.${i}.layer.2.DenseReluDense`, b.ff);
      b.sublayers.forEach(subl);
    });
    out.set('decoder.final_layer_norm.weight', this.decoderFinalNorm);
    out.set('lm_head.weight', this.lmHead);
    return out;
  }

  /** Number of trainable parameters (default) or of all parameters. */
  parameterCount(which: 'trainable' | 'all' = 'trainable'): number {
    if (which === 'trainable') return this.trainableParams().reduce((s, p) => s + p.variable.size, 0);
    let n = 0;
    for (const v of this.variables().values()) n += v.size;
    return n;
  }

  // ---------------------------------------------------------------- inputs

  private prepare(inputs: T5Inputs, needDecoder: boolean, what: string): Prepared {
    if (inputs == null || typeof inputs !== 'object') throw new Error(`${what}: expected an inputs object`);
    if (inputs.inputIds == null) throw new Error(`${what}: inputs.inputIds is required ([B,S] token ids)`);
    const bGiven = inputs.batchSize;
    if (bGiven !== undefined && !(Number.isInteger(bGiven) && bGiven >= 1)) {
      throw new Error(`${what}: inputs.batchSize: expected a positive integer, got ${bGiven}`);
    }
    const b = batchOf(inputs.inputIds) ?? batchOf(inputs.attentionMask) ?? batchOf(inputs.decoderInputIds) ?? bGiven;
    const v = this.config.vocabSize;
    const ids = toIds2D(inputs.inputIds, `${what}: inputs.inputIds`, b, 'ids', v);
    const mask = inputs.attentionMask != null
      ? toIds2D(inputs.attentionMask, `${what}: inputs.attentionMask`, ids.rows, 'mask', v)
      : { data: new Int32Array(ids.data.length).fill(1), rows: ids.rows, cols: ids.cols };
    if (mask.cols !== ids.cols) {
      throw new Error(`${what}: inputs.attentionMask: expected shape [${ids.rows},${ids.cols}] like inputIds, got [${mask.rows},${mask.cols}]`);
    }
    const out: Prepared = { b: ids.rows, ids, mask };
    if (needDecoder) {
      if (inputs.decoderInputIds == null) throw new Error(`${what}: inputs.decoderInputIds is required ([B,T] ids, starting with ${DECODER_START_TOKEN_ID})`);
      out.dec = toIds2D(inputs.decoderInputIds, `${what}: inputs.decoderInputIds`, ids.rows, 'ids', v);
    }
    if (inputs.taskIds != null) {
      const t = inputs.taskIds;
      if (t.length !== out.b) throw new Error(`${what}: inputs.taskIds: expected ${out.b} ids (one per example), got ${t.length}`);
      out.taskIds = Int32Array.from(t);
    } else if (getMethod(this.method).needsTags) {
      throw new Error(`${what}: inputs.taskIds is required by '${this.method}' routing (one task id per example, [${out.b}])`);
    }
    if (inputs.hashIds != null) {
      const raw = inputs.hashIds instanceof tf.Tensor ? hostValuesOf(inputs.hashIds, `${what}: inputs.hashIds`) : inputs.hashIds;
      const r = raw.length / out.b;
      const need = this.numRoutingBlocks;
      if (inputs.hashIds instanceof tf.Tensor && (inputs.hashIds.rank !== 2 || inputs.hashIds.shape[0] !== out.b)) {
        throw new Error(`${what}: inputs.hashIds: expected shape [${out.b},R] with R >= ${need}, got ${shapeStr(inputs.hashIds.shape)}`);
      }
      if (!Number.isInteger(r) || r < need) {
        throw new Error(`${what}: inputs.hashIds: expected [B,R] row-major with B = ${out.b} and R >= ${need} (one column per routing block), got ${raw.length} values`);
      }
      out.hashCols = [];
      for (let k = 0; k < need; k++) {
        const col = new Int32Array(out.b);
        for (let i = 0; i < out.b; i++) col[i] = raw[i * r + k];
        out.hashCols.push(col);
      }
    } else if (getMethod(this.method).needsHash) {
      throw new Error(`${what}: inputs.hashIds is required by hash routing ([B,R] with R >= ${this.numRoutingBlocks})`);
    }
    return out;
  }

  private checkCtx(ctx: T5Context, what: string): void {
    if (ctx == null || typeof ctx.training !== 'boolean') throw new Error(`${what}: ctx.training (boolean) is required`);
    if (ctx.training && this.config.dropoutRate > 0 && !ctx.disableDropout && !ctx.rng) {
      throw new Error(`${what}: ctx.rng is required in training (dropout ${this.config.dropoutRate}); pass { training: true, rng: new Rng(seed) }`);
    }
  }

  // ---------------------------------------------------------------- building blocks

  private embed(ids: tf.Tensor2D): tf.Tensor3D {
    const [b, l] = ids.shape;
    return tf.reshape(frozenGather(this.shared as tf.Tensor2D, tf.reshape(ids, [b * l])), [b, l, this.config.dModel]) as tf.Tensor3D;
  }

  /** [B,L,C] → [B·H,L,K] through a projection [C,H·K]. */
  private heads(x: tf.Tensor3D, w: tf.Variable): tf.Tensor3D {
    const [b, l, c] = x.shape;
    const { numHeads: h, dKv: k } = this.config;
    const p = frozenMatMul(tf.reshape(x, [b * l, c]) as tf.Tensor2D, w as tf.Tensor2D); // [B·L,H·K]
    return tf.reshape(tf.transpose(tf.reshape(p, [b, l, h, k]), [0, 2, 1, 3]), [b * h, l, k]) as tf.Tensor3D;
  }

  /** softmax(q kᵀ + bias) v then o: q [B·H,Tq,K], k/v [B·H,Tk,K], bias broadcastable to [B,H,Tq,Tk] → [B,Tq,C]. */
  private attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor | null, o: tf.Variable, b: number, drop: Drop): tf.Tensor3D {
    const { numHeads: h, dKv: kd, dModel: c } = this.config;
    const tq = q.shape[1];
    const tk = k.shape[1];
    let scores: tf.Tensor = tf.reshape(tf.matMul(q, k, false, true), [b, h, tq, tk]); // no 1/sqrt(K) (T5)
    if (bias) scores = tf.add(scores, bias);
    let w = tf.softmax(scores); // [B,H,Tq,Tk]
    w = dropout(w, drop);
    const ctxv = tf.matMul(tf.reshape(w, [b * h, tq, tk]) as tf.Tensor3D, v); // [B·H,Tq,K]
    const merged = tf.reshape(tf.transpose(tf.reshape(ctxv, [b, h, tq, kd]), [0, 2, 1, 3]), [b * tq, h * kd]);
    return tf.reshape(frozenMatMul(merged as tf.Tensor2D, o as tf.Tensor2D), [b, tq, c]) as tf.Tensor3D;
  }

  /** gated-GELU FFN on x [B,L,C] → [B,L,C] with dropout before wo. */
  private feedForward(x: tf.Tensor3D, w: FfWeights, drop: Drop): tf.Tensor3D {
    const [b, l, c] = x.shape;
    const x2 = tf.reshape(x, [b * l, c]) as tf.Tensor2D;
    const g = tf.mul(geluNew(frozenMatMul(x2, w.wi0 as tf.Tensor2D)), frozenMatMul(x2, w.wi1 as tf.Tensor2D)); // [B·L,F]
    return tf.reshape(frozenMatMul(dropout(g, drop) as tf.Tensor2D, w.wo as tf.Tensor2D), [b, l, c]) as tf.Tensor3D;
  }

  /** Relative-position bias [1,H,Tq,Tk] from a table [buckets,H]. */
  private positionBias(table: tf.Variable, qStart: number, qLen: number, kLen: number, bidirectional: boolean): tf.Tensor4D {
    const { relativeAttentionNumBuckets: nb, relativeAttentionMaxDistance: md, numHeads: h } = this.config;
    const buckets = relativePositionBuckets(qStart, qLen, kLen, bidirectional, nb, md);
    const vals = tf.gather(table, tf.tensor1d(buckets, 'int32')); // [Tq·Tk,H]
    return tf.reshape(tf.transpose(vals), [1, h, qLen, kLen]) as tf.Tensor4D;
  }

  /** Additive key mask [B,1,1,S] from a 0/1 mask. */
  private keyMask(mask: tf.Tensor2D, value: number): tf.Tensor4D {
    const [b, s] = mask.shape;
    return tf.reshape(tf.mul(tf.sub(1, mask), value), [b, 1, 1, s]) as tf.Tensor4D;
  }

  /** y' = routing(y); h + Dropout(y'), with the block's record and aux losses. */
  private route(
    s: T5Sublayer,
    y: tf.Tensor3D,
    h: tf.Tensor3D,
    p: { prep: Prepared; ctx: T5Context; drop: Drop; routerInput?: tf.Tensor2D; mask?: tf.Tensor2D },
  ): RouteOut {
    const out = s.routing.forward(y, {
      training: p.ctx.training,
      rng: p.ctx.rng,
      temperature: p.ctx.temperature,
      tags: p.prep.taskIds,
      hash: p.prep.hashCols?.[s.index],
      routerInput: p.routerInput,
      mask: p.mask,
      draws: p.ctx.draws?.(s.index),
    });
    return { h: tf.add(h, dropout(out.y, p.drop)) as tf.Tensor3D, record: out.record, aux: out.aux };
  }

  /**
   * Run one sublayer in its own tidy: only the new residual stream, the record
   * and the aux losses survive it (plus what the tape keeps for the backward
   * pass), so a taped forward does not hold every intermediate until its end.
   */
  private collect(out: RouteOut, records: RoutingRecord[], aux: AuxLoss[]): tf.Tensor3D {
    records.push(out.record);
    aux.push(...out.aux);
    return out.h;
  }

  private sublayer(records: RoutingRecord[], aux: AuxLoss[], fn: () => RouteOut): tf.Tensor3D {
    const out = tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as RouteOut;
    records.push(out.record);
    aux.push(...out.aux);
    return out.h;
  }

  // ---------------------------------------------------------------- encoder

  private encodePrepared(prep: Prepared, ctx: T5Context): T5EncoderOutput {
    const cfg = this.config;
    const drop: Drop = { training: ctx.training, rate: ctx.disableDropout ? 0 : cfg.dropoutRate, rng: ctx.rng };
    const { b } = prep;
    const s = prep.ids.cols;
    const ids = tf.tensor2d(prep.ids.data, [b, s], 'int32');
    const mask = tf.tensor2d(Float32Array.from(prep.mask.data), [b, s]);
    const records: RoutingRecord[] = [];
    const aux: AuxLoss[] = [];
    let h = dropout(this.embed(ids), drop); // (1)
    // Position bias + padding mask, computed once and shared by every layer (as HF's layer 0 does).
    const bias = tf.add(this.positionBias(this.encoderRelBias, 0, s, s, true), this.keyMask(mask, SELF_MASK_VALUE)); // [B,H,S,S]
    const rp = { prep, ctx, drop, mask };
    for (const blk of this.encoderBlocks) {
      const [sa, ffl] = blk.sublayers;
      h = this.sublayer(records, aux, () => {
        const x = rmsNorm(h, sa.norm, cfg.layerNormEps);
        const y = this.attend(this.heads(x, blk.attn.q), this.heads(x, blk.attn.k), this.heads(x, blk.attn.v), bias, blk.attn.o, b, drop);
        return this.route(sa, y, h, rp);
      });
      h = this.sublayer(records, aux, () => this.route(ffl, this.feedForward(rmsNorm(h, ffl.norm, cfg.layerNormEps), blk.ff, drop), h, rp));
    }
    const hidden = dropout(rmsNorm(h, this.encoderFinalNorm, cfg.layerNormEps), drop); // (5)
    const routerInput = positionMean(hidden, this.options.maskedRouterMean ? mask : undefined); // [B,C]
    return { hidden, routerInput, records, aux };
  }

  /**
   * Run the encoder: final output E [B,S,C], the decoder routers' input
   * mean(E) [B,C], the encoder blocks' records and aux losses.
   */
  encode(inputs: T5Inputs, ctx: T5Context = { training: false }): T5EncoderOutput {
    this.checkCtx(ctx, 'RoutedT5.encode');
    const prep = this.prepare(inputs, false, 'RoutedT5.encode');
    return tf.tidy(() => this.encodePrepared(prep, ctx) as unknown as tf.TensorContainer) as unknown as T5EncoderOutput;
  }

  // ---------------------------------------------------------------- decoder

  /** Final decoder states → logits [B,T,V]. */
  private head(h: tf.Tensor3D, drop: Drop): tf.Tensor3D {
    const cfg = this.config;
    const [b, t, c] = h.shape;
    let out = dropout(rmsNorm(h, this.decoderFinalNorm, cfg.layerNormEps), drop); // (5)
    // Rescale before the untied lm_head (kernel-lib/docs/reference-code.md#t5-backbone): the reference's custom T5
    // (modeling_t5_v1_1.py) ALWAYS multiplies by d_model^-0.5 here, following
    // Mesh TensorFlow's tied-embedding convention; HF's v1.1 omits it because
    // tie_word_embeddings=false. Kept for fidelity: the trainable final RMSNorm
    // gain absorbs the scale during fine-tuning.
    out = tf.mul(out, cfg.dModel ** -0.5);
    return tf.reshape(frozenMatMul(tf.reshape(out, [b * t, c]) as tf.Tensor2D, this.lmHead as tf.Tensor2D), [b, t, cfg.vocabSize]) as tf.Tensor3D;
  }

  /** Decoder over a full prefix (teacher forcing). */
  private decodeFull(prep: Prepared, dec: Ids2D, enc: T5EncoderOutput, ctx: T5Context): T5Output {
    const cfg = this.config;
    const drop: Drop = { training: ctx.training, rate: ctx.disableDropout ? 0 : cfg.dropoutRate, rng: ctx.rng };
    const { b } = prep;
    const s = prep.ids.cols;
    const t = dec.cols;
    const ids = tf.tensor2d(dec.data, [b, t], 'int32');
    const srcMask = tf.tensor2d(Float32Array.from(prep.mask.data), [b, s]);
    const records: RoutingRecord[] = [];
    const aux: AuxLoss[] = [];
    let h = dropout(this.embed(ids), drop); // (1)
    // Causal self-attention bias (decoder padding is not masked: reference).
    const causal = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) causal[i * t + j] = SELF_MASK_VALUE;
    const selfBias = tf.add(this.positionBias(this.decoderRelBias, 0, t, t, false), tf.tensor4d(causal, [1, 1, t, t])); // [1,H,T,T]
    const crossMask = this.keyMask(srcMask, CROSS_MASK_VALUE); // [B,1,1,S]
    const crossBias = this.crossRelBias ? tf.add(this.positionBias(this.crossRelBias, 0, t, s, true), crossMask) : crossMask;
    const rp = { prep, ctx, drop, routerInput: enc.routerInput };
    for (const blk of this.decoderBlocks) {
      const [sa, ca, ffl] = blk.sublayers;
      h = this.sublayer(records, aux, () => {
        const x = rmsNorm(h, sa.norm, cfg.layerNormEps);
        const y = this.attend(this.heads(x, blk.attn.q), this.heads(x, blk.attn.k), this.heads(x, blk.attn.v), selfBias, blk.attn.o, b, drop);
        return this.route(sa, y, h, rp);
      });
      h = this.sublayer(records, aux, () => {
        const x = rmsNorm(h, ca.norm, cfg.layerNormEps);
        const y = this.attend(this.heads(x, blk.cross.q), this.heads(enc.hidden, blk.cross.k), this.heads(enc.hidden, blk.cross.v), crossBias, blk.cross.o, b, drop);
        return this.route(ca, y, h, rp);
      });
      h = this.sublayer(records, aux, () => this.route(ffl, this.feedForward(rmsNorm(h, ffl.norm, cfg.layerNormEps), blk.ff, drop), h, rp));
    }
    return { logits: this.head(h, drop), records, aux };
  }

  /**
   * Teacher-forced forward pass: logits [B,T,V], the routing records of all
   * blocks in router order, and their auxiliary losses. Callable inside
   * tf.variableGrads.
   */
  forward(inputs: T5Inputs, ctx: T5Context): T5Output {
    this.checkCtx(ctx, 'RoutedT5.forward');
    const prep = this.prepare(inputs, true, 'RoutedT5.forward');
    return tf.tidy(() => {
      const enc = this.encodePrepared(prep, ctx);
      const out = this.decodeFull(prep, prep.dec!, enc, ctx);
      return { logits: out.logits, records: [...enc.records, ...out.records], aux: [...enc.aux, ...out.aux] } as unknown as tf.TensorContainer;
    }) as unknown as T5Output;
  }

  /** One cached decoder step for token ids [B] at position `pos`; returns logits [B,V] and the grown cache. */
  private decodeStep(prep: Prepared, enc: T5EncoderOutput, srcMask: tf.Tensor2D, tokens: Int32Array, pos: number, cache: DecoderCache): tf.Tensor2D {
    const cfg = this.config;
    const drop: Drop = { training: false, rate: 0 };
    const { b } = prep;
    const s = prep.ids.cols;
    const ctx: T5Context = { training: false };
    const records: RoutingRecord[] = [];
    const aux: AuxLoss[] = [];
    let h = this.embed(tf.tensor2d(tokens, [b, 1], 'int32'));
    const selfBias = this.positionBias(this.decoderRelBias, pos, 1, pos + 1, false); // keys 0..pos: nothing to mask
    const crossMask = this.keyMask(srcMask, CROSS_MASK_VALUE);
    const crossBias = this.crossRelBias ? tf.add(this.positionBias(this.crossRelBias, pos, 1, s, true), crossMask) : crossMask;
    const rp = { prep, ctx, drop, routerInput: enc.routerInput };
    this.decoderBlocks.forEach((blk, l) => {
      const [sa, ca, ffl] = blk.sublayers;
      let x = rmsNorm(h, sa.norm, cfg.layerNormEps);
      const k = this.heads(x, blk.attn.k);
      const v = this.heads(x, blk.attn.v);
      const kAll = pos === 0 ? k : (tf.concat([cache.selfK[l], k], 1) as tf.Tensor3D);
      const vAll = pos === 0 ? v : (tf.concat([cache.selfV[l], v], 1) as tf.Tensor3D);
      cache.selfK[l] = tf.keep(kAll);
      cache.selfV[l] = tf.keep(vAll);
      let y = this.attend(this.heads(x, blk.attn.q), kAll, vAll, selfBias, blk.attn.o, b, drop);
      h = this.collect(this.route(sa, y, h, rp), records, aux);
      x = rmsNorm(h, ca.norm, cfg.layerNormEps);
      y = this.attend(this.heads(x, blk.cross.q), cache.crossK[l], cache.crossV[l], crossBias, blk.cross.o, b, drop);
      h = this.collect(this.route(ca, y, h, rp), records, aux);
      x = rmsNorm(h, ffl.norm, cfg.layerNormEps);
      h = this.collect(this.route(ffl, this.feedForward(x, blk.ff, drop), h, rp), records, aux);
    });
    return tf.reshape(this.head(h, drop), [b, cfg.vocabSize]) as tf.Tensor2D;
  }

  /**
   * Greedy decoding (evaluation mode): start token 0, argmax each step, pad 0
   * after EOS (1); stops when every sequence has produced EOS or after
   * `maxLength` tokens. Decoder routing uses the encoder mean (constant over
   * steps); with the cache, DSelect-k's own mean covers the current token only
   * (reference). `useCache: false` recomputes the decoder over the whole prefix.
   */
  async generate(inputs: T5Inputs, opts: GenerateOptions): Promise<GenerateOutput> {
    const what = 'RoutedT5.generate';
    if (opts == null || !Number.isInteger(opts.maxLength) || opts.maxLength < 1) {
      throw new Error(`${what}: option maxLength: expected a positive integer, got ${opts == null ? opts : opts.maxLength}`);
    }
    const prep = this.prepare(inputs, false, what);
    const { b } = prep;
    const s = prep.ids.cols;
    const useCache = opts.useCache ?? true;
    const enc = tf.tidy(() => this.encodePrepared(prep, { training: false }) as unknown as tf.TensorContainer) as unknown as T5EncoderOutput;
    const srcMask = tf.tensor2d(Float32Array.from(prep.mask.data), [b, s]);
    const cache: DecoderCache = { selfK: [], selfV: [], crossK: [], crossV: [] };
    const stepLogits: tf.Tensor2D[] = [];
    const generated: Int32Array[] = [];
    try {
      if (useCache) {
        tf.tidy(() => {
          for (const blk of this.decoderBlocks) {
            cache.crossK.push(tf.keep(this.heads(enc.hidden, blk.cross.k)));
            cache.crossV.push(tf.keep(this.heads(enc.hidden, blk.cross.v)));
          }
        });
      }
      const finished = new Uint8Array(b);
      let last = new Int32Array(b).fill(DECODER_START_TOKEN_ID);
      const prefix: number[][] = Array.from({ length: b }, () => [DECODER_START_TOKEN_ID]);
      for (let pos = 0; pos < opts.maxLength; pos++) {
        const logits = tf.tidy(() => {
          if (useCache) {
            const oldK = [...cache.selfK];
            const oldV = [...cache.selfV];
            const out = this.decodeStep(prep, enc, srcMask, last, pos, cache);
            for (const t of [...oldK, ...oldV]) t.dispose();
            return out;
          }
          const dec: Ids2D = { data: Int32Array.from(prefix.flat()), rows: b, cols: pos + 1 };
          const full = this.decodeFull(prep, dec, enc, { training: false });
          return tf.reshape(tf.slice(full.logits, [0, pos, 0], [b, 1, this.config.vocabSize]), [b, this.config.vocabSize]) as tf.Tensor2D;
        });
        // The one read per generated token (EOS detection needs it), asynchronous.
        const argmax = tf.argMax(logits, 1);
        const next = (await argmax.data()) as Int32Array;
        argmax.dispose();
        const tok = new Int32Array(b);
        for (let i = 0; i < b; i++) {
          tok[i] = finished[i] ? PAD_TOKEN_ID : next[i];
          if (tok[i] === EOS_TOKEN_ID) finished[i] = 1;
          prefix[i].push(tok[i]);
        }
        generated.push(tok);
        if (opts.returnLogits) stepLogits.push(logits);
        else logits.dispose();
        last = tok;
        if (finished.every((f) => f === 1)) break;
      }
      const l = generated.length;
      const sequences = new Int32Array(b * l);
      for (let p = 0; p < l; p++) for (let i = 0; i < b; i++) sequences[i * l + p] = generated[p][i];
      const result: GenerateOutput = { sequences, shape: [b, l] };
      if (opts.returnLogits) result.logits = tf.stack(stepLogits, 1) as tf.Tensor3D;
      return result;
    } finally {
      tf.dispose([...stepLogits, ...cache.selfK, ...cache.selfV, ...cache.crossK, ...cache.crossV, srcMask]);
      tf.dispose(enc as unknown as tf.TensorContainer);
    }
  }

  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}

