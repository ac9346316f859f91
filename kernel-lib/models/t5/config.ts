/**
 * T5 v1.1 backbone configuration (kernel-lib/docs/reference-code.md#t5-backbone): the sizes of
 * `google/t5-v1_1-base` and small presets for tests and the mini profile,
 * plus a validating reader of Hugging Face `config.json` files.
 */

export interface T5Config {
  /** C: model width (`d_model`). */
  dModel: number;
  /** Per-head key/value width (`d_kv`). */
  dKv: number;
  /** Feed-forward inner width (`d_ff`). */
  dFf: number;
  /** Attention heads (`num_heads`). */
  numHeads: number;
  /** Encoder blocks (`num_layers`). */
  numLayers: number;
  /** Decoder blocks (`num_decoder_layers`). */
  numDecoderLayers: number;
  /** V: vocabulary size (`vocab_size`; 32128 for the T5 SentencePiece model). */
  vocabSize: number;
  /** Relative-position buckets (`relative_attention_num_buckets`). Default 32. */
  relativeAttentionNumBuckets: number;
  /** Relative positions ≥ this share the last bucket (`relative_attention_max_distance`). Default 128. */
  relativeAttentionMaxDistance: number;
  /** Dropout rate in training (`dropout_rate`). Default 0.1. */
  dropoutRate: number;
  /** RMSNorm epsilon (`layer_norm_epsilon`). Default 1e-6. */
  layerNormEps: number;
  /** Feed-forward kind (`feed_forward_proj`); only T5 v1.1's gated GELU is implemented. */
  feedForwardProj: 'gated-gelu';
}

const DEFAULTS = {
  relativeAttentionNumBuckets: 32,
  relativeAttentionMaxDistance: 128,
  dropoutRate: 0.1,
  layerNormEps: 1e-6,
  feedForwardProj: 'gated-gelu' as const,
};

/** Named configurations. */
export const T5_PRESETS: Record<string, T5Config> = {
  /** google/t5-v1_1-base (the paper's backbone). */
  't5-v1_1-base': {
    dModel: 768,
    dKv: 64,
    dFf: 2048,
    numHeads: 12,
    numLayers: 12,
    numDecoderLayers: 12,
    vocabSize: 32128,
    ...DEFAULTS,
  },
  /** Tiny model for the mini profile: byte tokenizer (256 bytes + pad/eos/unk/spare = 260). */
  't5-tiny': {
    dModel: 64,
    dKv: 16,
    dFf: 128,
    numHeads: 4,
    numLayers: 2,
    numDecoderLayers: 2,
    vocabSize: 260,
    ...DEFAULTS,
  },
  /** Smallest useful model, for unit tests against the float64 oracle. */
  't5-test': {
    dModel: 16,
    dKv: 4,
    dFf: 24,
    numHeads: 2,
    numLayers: 2,
    numDecoderLayers: 2,
    vocabSize: 40,
    ...DEFAULTS,
  },
};

/** A preset by name (a copy), or an Error listing the names. */
export function t5Preset(name: string): T5Config {
  const p = T5_PRESETS[name];
  if (!p) throw new Error(`T5 preset '${name}': unknown; expected one of ${Object.keys(T5_PRESETS).join(', ')}`);
  return { ...p };
}

function positiveInt(where: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`${where}: ${key}: expected a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Fill defaults and validate (throws an Error naming the field). Accepts a
 * preset name, a partial config on top of a `preset` key, or a full config.
 */
export function resolveT5Config(config: string | (Partial<T5Config> & { preset?: string })): T5Config {
  if (typeof config === 'string') return t5Preset(config);
  if (config == null || typeof config !== 'object') throw new Error('T5 config: expected a preset name or a configuration object');
  const { preset, ...rest } = config;
  const base: Partial<T5Config> = preset ? t5Preset(preset) : { ...DEFAULTS };
  const c = { ...base, ...rest } as Partial<T5Config>;
  const where = 'T5 config';
  for (const k of ['dModel', 'dKv', 'dFf', 'numHeads', 'numLayers', 'numDecoderLayers', 'vocabSize', 'relativeAttentionNumBuckets', 'relativeAttentionMaxDistance'] as const) {
    positiveInt(where, k, c[k]);
  }
  if (c.relativeAttentionNumBuckets! < 4 || c.relativeAttentionNumBuckets! % 2 !== 0) {
    throw new Error(`${where}: relativeAttentionNumBuckets: expected an even integer >= 4, got ${c.relativeAttentionNumBuckets}`);
  }
  if (typeof c.dropoutRate !== 'number' || !(c.dropoutRate >= 0 && c.dropoutRate < 1)) {
    throw new Error(`${where}: dropoutRate: expected a number in [0, 1), got ${JSON.stringify(c.dropoutRate)}`);
  }
  if (typeof c.layerNormEps !== 'number' || !(c.layerNormEps > 0)) {
    throw new Error(`${where}: layerNormEps: expected a positive number, got ${JSON.stringify(c.layerNormEps)}`);
  }
  if (c.feedForwardProj !== 'gated-gelu') {
    throw new Error(`${where}: feedForwardProj: only 'gated-gelu' (T5 v1.1) is implemented, got ${JSON.stringify(c.feedForwardProj)}`);
  }
  return c as T5Config;
}

/**
 * Read a Hugging Face T5 `config.json` object. `num_decoder_layers` defaults
 * to `num_layers` (as HF does); the bucket count, max distance, dropout and
 * epsilon default to HF's defaults. `feed_forward_proj` must be 'gated-gelu'
 * (T5 v1.1); a missing value is rejected because HF's default ('relu') is the
 * original T5, which this port does not implement.
 */
export function fromHuggingFaceConfig(json: unknown): T5Config {
  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error('T5 config.json: expected a JSON object');
  }
  const j = json as Record<string, unknown>;
  const where = 'T5 config.json';
  for (const key of ['d_model', 'd_kv', 'd_ff', 'num_heads', 'num_layers', 'vocab_size']) {
    if (!(key in j)) throw new Error(`${where}: missing key '${key}'`);
  }
  const ff = j.feed_forward_proj;
  if (ff !== 'gated-gelu') {
    throw new Error(
      `${where}: feed_forward_proj: expected 'gated-gelu' (T5 v1.1), got ${JSON.stringify(ff)}` +
        (ff === undefined ? " (HF's default 'relu' is the original T5, not implemented)" : ''),
    );
  }
  const num = (key: string, fallback?: number): unknown => (j[key] === undefined || j[key] === null ? fallback : j[key]);
  const cfg: T5Config = {
    dModel: positiveInt(where, 'd_model', j.d_model),
    dKv: positiveInt(where, 'd_kv', j.d_kv),
    dFf: positiveInt(where, 'd_ff', j.d_ff),
    numHeads: positiveInt(where, 'num_heads', j.num_heads),
    numLayers: positiveInt(where, 'num_layers', j.num_layers),
    numDecoderLayers: positiveInt(where, 'num_decoder_layers', num('num_decoder_layers', j.num_layers as number)),
    vocabSize: positiveInt(where, 'vocab_size', j.vocab_size),
    relativeAttentionNumBuckets: positiveInt(where, 'relative_attention_num_buckets', num('relative_attention_num_buckets', 32)),
    relativeAttentionMaxDistance: positiveInt(where, 'relative_attention_max_distance', num('relative_attention_max_distance', 128)),
    dropoutRate: num('dropout_rate', 0.1) as number,
    layerNormEps: num('layer_norm_epsilon', 1e-6) as number,
    feedForwardProj: 'gated-gelu',
  };
  try {
    return resolveT5Config(cfg);
  } catch (e) {
    throw new Error((e as Error).message.replace('T5 config', where));
  }
}

/** The HF `config.json` object for a config (for saving a model folder). */
export function toHuggingFaceConfig(c: T5Config): Record<string, unknown> {
  return {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    d_model: c.dModel,
    d_kv: c.dKv,
    d_ff: c.dFf,
    num_heads: c.numHeads,
    num_layers: c.numLayers,
    num_decoder_layers: c.numDecoderLayers,
    vocab_size: c.vocabSize,
    relative_attention_num_buckets: c.relativeAttentionNumBuckets,
    relative_attention_max_distance: c.relativeAttentionMaxDistance,
    dropout_rate: c.dropoutRate,
    layer_norm_epsilon: c.layerNormEps,
    feed_forward_proj: c.feedForwardProj,
    tie_word_embeddings: false,
    decoder_start_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 0,
  };
}
