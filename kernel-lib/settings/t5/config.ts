/**
 * Configuration of a T5-GLUE run, with the two profiles:
 *   paper — the reference's configuration (kernel-lib/docs/reference-code.md#t5-optimisation): T5 v1.1 Base from a
 *           local Hugging Face folder (`--model`: config.json + model.safetensors,
 *           and its spiece.model / tokenizer.json unless `--tokenizer`), GLUE
 *           from a local folder (`--data`: GLUE TSV or HF parquet exports),
 *           AdamW 3e-4 with 2,000 warm-up steps then constant, clip 1.0,
 *           batch 128, 600,000 steps, evaluation every 5,000 steps on the
 *           validation splits (one random template per example), N = 8,
 *           d = 24, post-LayerNorm, label smoothing 0.1 summed over tokens,
 *           max length 128, tag routing with RTE → MNLI's expert in encoder
 *           blocks only (the README's Tag run), hash labels randint(8) per
 *           example × routing block per dataset, ST-Gumbel's T5 schedule,
 *           DSelect-k weight 0.1, REINFORCE α 0.01 β 5e-4 γ 0.01, skills ×10.
 *   mini  — 2 CPU cores, minutes: the generated mini-GLUE (data/mini-glue, the
 *           real GLUE TSV layout), the byte tokenizer, a tiny T5 pretrained
 *           here by span-corruption denoising (settings/t5/pretrain.ts, the role
 *           of C4 pretraining) then frozen.
 * `resolveT5RunConfig` fills defaults and validates; the resolved object is
 * written as the run's config.json.
 */
import * as path from 'path';
import { GumbelSchedule } from '../../routing/schedules';
import { hasOption, resolveTrainingOptions } from '../../routing/options';
import type { OptionValues } from '../../routing/method';
import type { GlueSplitMode } from '../../datasets/glue/splits';
import { checkProfile, defaultRunDir, REPO_ROOT, resolveMethodConfiguration, slug, topLevelDifferences, trainOptionName, type Profile, type QuickBudget } from '../common';


export interface T5RunConfig {
  setting: 't5';
  profile: Profile;
  /** Routing method (friendly or reference name). */
  method: string;
  /** Configuration label of the method (e.g. '1× parameters', 'SMEAR 2×'); default: its first. */
  configuration: string;
  /** N experts per block and bottleneck d (after the configuration is applied). */
  numExperts: number;
  bottleneck: number;
  /** Expert dropout (default: the method's, 0.1 for smear/topk). */
  expertDropout?: number;
  data: {
    /** GLUE root: the GLUE TSV distribution (RTE/, SST-2/, …) or HF parquet exports. */
    root: string;
    /** Hyperformer splits: 'spec' (the scheme's nominal sizes) or 'reference' (the reference's dropped last example per split). */
    splitMode: GlueSplitMode;
    /** Large tasks' validation rows taken from train (reference 1,000; mini-GLUE 100). */
    validationSize: number;
    /** data_seed: split permutations, hash labels (reference 42). */
    dataSeed: number;
    /** Multi-task sampler seed; epoch e uses seed + e (reference 0, independent of data_seed). */
    samplerSeed: number;
    /** Source truncation in tokens incl. EOS (reference 128). */
    maxInputLength: number;
    /** Target truncation in tokens incl. EOS (reference 128). */
    maxTargetLength: number;
  };
  model: {
    /** Local HF T5 folder or model.safetensors (paper: t5-v1_1-base). Mini: the pretrained backbone (filled in). */
    path?: string;
    /** Backbone preset when no path is given (mini: 't5-tiny', or a partial config on it). */
    preset: string;
    /** Backbone overrides on the preset (mini), e.g. { numLayers: 3 }. */
    overrides?: Record<string, number>;
    /** 'byte' (ByteTokenizer) or a local spiece.model / tokenizer.json / folder (default: the model folder). */
    tokenizer: string;
    /** Tag routing: RTE uses MNLI's expert in encoder blocks (README's task_routing_same_rte_mnli_onlyencoder). */
    sameRteMnliInEncoder: boolean;
    /** Padding-masked router means (false = reference: padding included). */
    maskedRouterMean: boolean;
    /** transformers-3.5 cross-attention table when the checkpoint lacks one (kernel-lib/docs/reference-code.md#cross-attention-position-bias): 'none' | 'random'. */
    crossAttentionBias: 'none' | 'random';
    /** Mini: span-corruption pretraining of the backbone (cached under data/mini-backbones/). */
    pretrain: { steps: number; batchSize: number; lr: number; length: number; noiseDensity: number; meanSpan: number };
  };
  train: {
    batchSize: number;
    evalBatchSize: number;
    maxSteps: number;
    evalEvery: number;
    logEvery: number;
    lr: number;
    warmupSteps: number;
    clipNorm: number;
    weightDecay: number;
    seed: number;
    /** Label smoothing ε (fairseq form; reference 0.1). */
    labelSmoothing: number;
    /** Validation examples per task per evaluation (0 = all). */
    maxValidExamples: number;
    /** Test examples per task, each under every template (0 = all). */
    maxTestExamples: number;
  };
  /**
   * The routing methods' training options (loss weights, learning-rate multipliers,
   * schedules), every registered method's with its default (see each method's `options`,
   * `smear methods`); the profiles set the values this setting's runs differ in.
   */
  losses: OptionValues;
  runDir: string;
  /** The reference adapter configuration file the run was configured from (`--reference-config`), when one was. */
  referenceConfig?: { file: string; notUsed: string[]; ignored: string[] };
}

export type T5RunOverrides = Partial<Omit<T5RunConfig, 'data' | 'model' | 'train' | 'losses'>> & {
  data?: Partial<T5RunConfig['data']>;
  model?: Partial<T5RunConfig['model']>;
  train?: Partial<T5RunConfig['train']>;
  /** Training options to set (object values merged one level deep into the profile's). */
  losses?: OptionValues;
};

/** Where `npm start` generates mini-GLUE. */
export const DEFAULT_MINI_GLUE_DIR = path.join(REPO_ROOT, 'data', 'mini-glue');

/**
 * `smear reproduce --quick`: the mini profile at the budget it had before the
 * learning curves (kernel-lib/settings/t5/README.md), where the learned routers are
 * still near chance: a first look in a few minutes, not a result.
 */
export const QUICK_BUDGET: QuickBudget = { maxSteps: 320, evalEvery: 160 };

export const PROFILE_DEFAULTS: Record<Profile, Omit<T5RunConfig, 'method' | 'configuration' | 'runDir' | 'expertDropout'>> = {
  paper: {
    setting: 't5',
    profile: 'paper',
    numExperts: 8,
    bottleneck: 24,
    // splitMode 'reference': the reference code's n_obs = -1 drops the last example of every split
    // (datasets/glue/splits.ts); we follow the reference's data, not the scheme's nominal sizes. 'spec' is
    // one option away (--split-mode spec / data.splitMode).
    data: { root: '', splitMode: 'reference', validationSize: 1000, dataSeed: 42, samplerSeed: 0, maxInputLength: 128, maxTargetLength: 128 },
    model: {
      preset: 't5-v1_1-base',
      tokenizer: '',
      sameRteMnliInEncoder: true,
      maskedRouterMean: false,
      crossAttentionBias: 'none',
      pretrain: { steps: 0, batchSize: 0, lr: 0, length: 0, noiseDensity: 0, meanSpan: 0 },
    },
    train: {
      batchSize: 128,
      evalBatchSize: 128,
      maxSteps: 600000,
      evalEvery: 5000,
      logEvery: 50,
      lr: 3e-4,
      warmupSteps: 2000,
      clipNorm: 1,
      weightDecay: 0,
      seed: 42,
      labelSmoothing: 0.1,
      maxValidExamples: 0,
      maxTestExamples: 0,
    },
    // ST-Gumbel's temperature schedule as the reference's T5 code anneals it: τ0 10, min 0.5,
    // compounding rate 1e-6 every 5,000 steps (eval_steps).
    losses: { gumbel: { ...GumbelSchedule.T5 } },
  },
  mini: {
    setting: 't5',
    profile: 'mini',
    numExperts: 8,
    // d = 32 learns mini-GLUE's rules in fewer steps than 8 or 16 (scratch runs, tag: 61 vs 57 GLUE avg at 300 steps).
    bottleneck: 32,
    // Promptsource prompts are long: on mini-GLUE (every template) byte inputs incl. EOS have medians
    // 80–165 and a maximum of ~270 (RTE, STS-B). 192 cuts only the tails of the longest templates
    // (RTE 20%, STS-B 40%, QQP 20% of renderings): every sentence stays whole (checked in
    // test/datasets/glue-mini.test.ts), and steps are ~1.5× faster than at 320. Targets: the longest
    // answer is 'not entailment' (15 with EOS).
    data: { root: DEFAULT_MINI_GLUE_DIR, splitMode: 'spec', validationSize: 100, dataSeed: 42, samplerSeed: 0, maxInputLength: 192, maxTargetLength: 32 },
    model: {
      preset: 't5-tiny',
      tokenizer: 'byte',
      sameRteMnliInEncoder: true,
      maskedRouterMean: false,
      crossAttentionBias: 'none',
      pretrain: { steps: 600, batchSize: 32, lr: 2e-3, length: 96, noiseDensity: 0.15, meanSpan: 3 },
    },
    train: {
      // Batch 8 at 1e-2: more updates per second learn the rules sooner than batch 16 (scratch runs);
      // 3e-2 and 1.5e-2 were worse, batch 4 too.
      batchSize: 8,
      evalBatchSize: 50,
      // 3,700 steps: where the slowest of SMEAR, tag, Ensemble, dense (1× compute) and Top-k is within
      // 3 points of its own plateau (learning curves to 2,400 / 4,000 steps in kernel-lib/settings/t5/README.md).
      maxSteps: 3700,
      evalEvery: 370,
      logEvery: 20,
      lr: 1e-2,
      warmupSteps: 10,
      clipNorm: 1,
      weightDecay: 0,
      seed: 42,
      labelSmoothing: 0.1,
      maxValidExamples: 16,
      maxTestExamples: 16,
    },
    // ST-Gumbel: 10 → 0.5 by step 340, then 0.5 (same compounding rule: period 20, rate 1e-3).
    losses: { gumbel: { tau0: 10, minTemp: 0.5, rate: 1e-3, period: 20 } },
  },
};

/** Fill defaults for a profile, apply the method configuration, validate. */
export function resolveT5RunConfig(overrides: T5RunOverrides & { method: string }): T5RunConfig {
  const profile = checkProfile(overrides.profile ?? 'mini');
  const base = PROFILE_DEFAULTS[profile];
  const m = resolveMethodConfiguration(overrides.method, overrides.configuration, {
    numExperts: overrides.numExperts ?? base.numExperts,
    bottleneck: overrides.bottleneck ?? base.bottleneck,
  });
  const cfg: T5RunConfig = {
    ...base,
    method: m.method.name,
    configuration: m.configuration,
    numExperts: m.numExperts,
    bottleneck: m.bottleneck,
    ...(overrides.expertDropout !== undefined ? { expertDropout: overrides.expertDropout } : {}),
    data: { ...base.data, ...overrides.data },
    model: { ...base.model, ...overrides.model, pretrain: { ...base.model.pretrain, ...overrides.model?.pretrain } },
    train: { ...base.train, ...overrides.train },
    losses: resolveTrainingOptions(base.losses, overrides.losses),
    runDir: overrides.runDir ?? defaultRunDir('t5', profile, m),
    ...(overrides.referenceConfig ? { referenceConfig: overrides.referenceConfig } : {}),
  };
  // RTE on MNLI's expert (the README's Tag run) is a tag → expert map: only methods that have one take it.
  if (!hasOption(m.method, 'tagToExpert')) cfg.model.sameRteMnliInEncoder = false;
  if (!cfg.data.root) throw new Error(`option data: the ${profile} profile needs the GLUE folder (--data <folder>: GLUE TSV or HF parquet exports)`);
  if (profile === 'paper' && !cfg.model.path) {
    throw new Error('option model: the paper profile needs a local Hugging Face T5 v1.1 folder (--model <folder> with config.json and model.safetensors, e.g. google/t5-v1_1-base)');
  }
  if (!cfg.model.tokenizer) {
    if (!cfg.model.path) throw new Error("option tokenizer: give 'byte' or a local spiece.model / tokenizer.json (--tokenizer)");
    cfg.model.tokenizer = cfg.model.path;
  }
  if (cfg.data.splitMode !== 'spec' && cfg.data.splitMode !== 'reference') {
    throw new Error(`option data.splitMode: expected 'spec' or 'reference', got '${String(cfg.data.splitMode)}'`);
  }
  for (const k of ['maxInputLength', 'maxTargetLength', 'validationSize'] as const) {
    const v = cfg.data[k];
    if (!(Number.isInteger(v) && v >= 2)) throw new Error(`option data.${k}: expected an integer >= 2, got ${String(v)}`);
  }
  for (const [k, v] of Object.entries(cfg.train)) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`${trainOptionName(k)}: expected a number >= 0, got ${String(v)}`);
  }
  for (const k of ['batchSize', 'evalBatchSize', 'maxSteps', 'evalEvery', 'logEvery'] as const) {
    if (!(Number.isInteger(cfg.train[k]) && cfg.train[k] >= 1)) throw new Error(`${trainOptionName(k)}: expected an integer >= 1, got ${cfg.train[k]}`);
  }
  if (!(cfg.train.labelSmoothing < 1)) throw new Error(`option train.labelSmoothing: expected a number in [0, 1), got ${cfg.train.labelSmoothing}`);
  return cfg;
}

/**
 * The top-level configuration fields in which a run folder's saved config.json
 * differs from `cfg`, ignoring what is recorded but not chosen (backend,
 * backbone summary, split sizes, parameter count).
 */
export function configDifferences(saved: Record<string, unknown>, cfg: T5RunConfig): string[] {
  return topLevelDifferences(saved, cfg as unknown as Record<string, unknown>, (c) => {
    const { backend: _b, backbone: _bb, splits: _s, trainableParameters: _t, ...rest } = c;
    return rest;
  });
}

export { REPO_ROOT, slug, type Profile };
