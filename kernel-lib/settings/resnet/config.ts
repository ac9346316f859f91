/**
 * Configuration of a ResNet-DomainNet run, with the two profiles:
 *   paper — the reference's configuration (kernel-lib/docs/reference-code.md#resnet-training): ResNet18 from
 *           ImageNet weights, 224 px, batch 128, Adam 1e-3, 100,000 steps,
 *           clip 1.0, evaluation every 1,000 steps, N = 6, d = 32.
 *   mini  — 2 CPU cores, minutes: the embedded mini DomainNet (MNIST digits in
 *           six domains, 32 px), a narrow ResNet18 pretrained on the pooled mini
 *           data then frozen (the role ImageNet pretraining plays in the paper).
 * Every field is documented; `resolveResNetConfig` fills defaults and
 * validates, and the resolved object is written as the run's config.json.
 */
import * as path from 'path';
import { blockOptionsOf, resolveTrainingOptions, trainingOptionDefaults } from '../../routing/options';
import { getMethod } from '../../routing/registry';
import type { OptionValues } from '../../routing/method';
import type { ResNetConfig } from '../../models/resnet/resnet';
import { DOMAINS } from '../../datasets/domainnet/layout';
import { checkProfile, defaultRunDir, REPO_ROOT, resolveMethodConfiguration, slug, topLevelDifferences, trainOptionName, type Profile, type QuickBudget } from '../common';

export interface ResNetRunConfig {
  setting: 'resnet';
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
    /** DomainNet root (folders + list files). */
    root: string;
    /** Training/eval crop size (paper 224). */
    imageSize: number;
    /** Eval resize of the shorter side (paper 256). */
    resize: number;
    numClasses: number;
    /** Decoding worker threads. */
    workers: number;
    /** RandomResizedCrop area range (torchvision default [0.08, 1]). */
    cropScale: [number, number];
    /**
     * Evaluate without validation/test images that cannot be read (they are counted and named
     * in results.json, results.md and the log). Unset (the default): such an image stops the
     * run before training, naming its file and list line. Recorded only when true.
     */
    skipBadEvalImages?: boolean;
  };
  model: {
    widths: [number, number, number, number];
    stem: 'imagenet' | 'small';
    /** torchvision ResNet18 weights (safetensors) for the backbone. */
    weights?: string;
    /** Keep backbone BatchNorm running statistics fixed (reference: they keep updating). */
    freezeBackboneBnStats: boolean;
    /** Mini profile without weights: pretraining of the backbone on the pooled mini data (cached under data/mini-backbones/). */
    pretrain: { steps: number; batchSize: number; lr: number };
  };
  train: {
    batchSize: number;
    evalBatchSize: number;
    maxSteps: number;
    evalEvery: number;
    logEvery: number;
    lr: number;
    clipNorm: number;
    seed: number;
    /** Cap on validation examples per evaluation (0 = all). */
    maxEvalExamples: number;
  };
  /**
   * The routing methods' training options (loss weights, learning-rate multipliers,
   * schedules), every registered method's with its default (see each method's `options`,
   * `smear methods`); the profiles set the values this setting's runs differ in.
   */
  losses: OptionValues;
  runDir: string;
}

export type ResNetRunOverrides = Partial<Omit<ResNetRunConfig, 'data' | 'model' | 'train' | 'losses'>> & {
  data?: Partial<ResNetRunConfig['data']>;
  model?: Partial<ResNetRunConfig['model']>;
  train?: Partial<ResNetRunConfig['train']>;
  /** Training options to set (object values merged one level deep into the profile's). */
  losses?: OptionValues;
};


/**
 * `smear reproduce --quick`: the mini profile at the budget it had before the
 * learning curves (kernel-lib/settings/resnet/README.md), where the learned routers
 * have not finished learning: a first look in a few minutes, not a result.
 */
export const QUICK_BUDGET: QuickBudget = { maxSteps: 200, evalEvery: 100 };

export const PROFILE_DEFAULTS: Record<Profile, Omit<ResNetRunConfig, 'method' | 'configuration' | 'runDir' | 'expertDropout'>> = {
  paper: {
    setting: 'resnet',
    profile: 'paper',
    numExperts: 6,
    bottleneck: 32,
    data: { root: '', imageSize: 224, resize: 256, numClasses: 345, workers: 8, cropScale: [0.08, 1] },
    model: { widths: [64, 128, 256, 512], stem: 'imagenet', freezeBackboneBnStats: false, pretrain: { steps: 0, batchSize: 0, lr: 0 } },
    train: { batchSize: 128, evalBatchSize: 128, maxSteps: 100000, evalEvery: 1000, logEvery: 50, lr: 1e-3, clipNorm: 1, seed: 42, maxEvalExamples: 0 },
    // ST-Gumbel's temperature schedule as the reference's ResNet code anneals it: τ0 10, min 0.5,
    // compounding rate 1e-4 every 1,000 steps (eval_every).
    losses: { gumbel: { tau0: 10, minTemp: 0.5, rate: 1e-4, period: 1000 } },
  },
  mini: {
    setting: 'resnet',
    profile: 'mini',
    numExperts: 6,
    bottleneck: 16,
    data: { root: path.join(REPO_ROOT, 'data', 'mini-domainnet'), imageSize: 32, resize: 32, numClasses: 10, workers: 1, cropScale: [0.6, 1] },
    model: { widths: [32, 64, 128, 256], stem: 'imagenet', freezeBackboneBnStats: false, pretrain: { steps: 400, batchSize: 64, lr: 2e-3 } },
    // 2,400 steps: where the slowest of SMEAR, tag, Ensemble, dense (1× compute) and Top-k is within 3
    // points of its own plateau (learning curves to 3,200 steps in kernel-lib/settings/resnet/README.md).
    train: { batchSize: 32, evalBatchSize: 100, maxSteps: 2400, evalEvery: 300, logEvery: 20, lr: 3e-3, clipNorm: 1, seed: 42, maxEvalExamples: 0 },
    // ST-Gumbel: 10 → 0.5 by step 120, then 0.5 (same compounding rule, faster period).
    losses: { gumbel: { tau0: 10, minTemp: 0.5, rate: 1e-2, period: 20 } },
  },
};

/** Fill defaults for a profile, apply the method configuration, validate. */
export function resolveResNetConfig(overrides: ResNetRunOverrides & { method: string }): ResNetRunConfig {
  const profile = checkProfile(overrides.profile ?? 'mini');
  const base = PROFILE_DEFAULTS[profile];
  const m = resolveMethodConfiguration(overrides.method, overrides.configuration, {
    numExperts: overrides.numExperts ?? base.numExperts,
    bottleneck: overrides.bottleneck ?? base.bottleneck,
  });
  const cfg: ResNetRunConfig = {
    ...base,
    method: m.method.name,
    configuration: m.configuration,
    numExperts: m.numExperts,
    bottleneck: m.bottleneck,
    ...(overrides.expertDropout !== undefined ? { expertDropout: overrides.expertDropout } : {}),
    data: { ...base.data, ...overrides.data },
    model: { ...base.model, ...overrides.model },
    train: { ...base.train, ...overrides.train },
    losses: resolveTrainingOptions(base.losses, overrides.losses),
    runDir: overrides.runDir ?? defaultRunDir('resnet', profile, m),
  };
  if (cfg.data.skipBadEvalImages !== undefined && typeof cfg.data.skipBadEvalImages !== 'boolean') {
    throw new Error(`option data.skipBadEvalImages (--skip-bad-eval-images): expected true or false, got ${JSON.stringify(cfg.data.skipBadEvalImages)}`);
  }
  // Recorded only when asked for, so that configurations written before the option existed compare equal.
  if (!cfg.data.skipBadEvalImages) delete cfg.data.skipBadEvalImages;
  if (!cfg.data.root) throw new Error(`option data: the ${profile} profile needs the DomainNet root (--data <folder>)`);
  if (profile === 'paper' && !cfg.model.weights) {
    throw new Error('option weights: the paper profile needs torchvision ResNet18 ImageNet weights as safetensors (--weights resnet18.safetensors; see README)');
  }
  for (const [k, v] of Object.entries(cfg.train)) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`${trainOptionName(k)}: expected a number >= 0, got ${String(v)}`);
  }
  for (const k of ['batchSize', 'evalBatchSize', 'maxSteps', 'evalEvery', 'logEvery'] as const) {
    if (!(Number.isInteger(cfg.train[k]) && cfg.train[k] >= 1)) throw new Error(`${trainOptionName(k)}: expected an integer >= 1, got ${cfg.train[k]}`);
  }
  return cfg;
}


/**
 * The model of a run configuration (also a run folder's config.json, which may predate
 * a training option: its default then applies): the method's blocks get the run's
 * training options they read, and methods that read tags the six domains.
 */
export function resNetModelConfig(cfg: Pick<ResNetRunConfig, 'method' | 'numExperts' | 'bottleneck' | 'expertDropout' | 'data' | 'model' | 'train' | 'losses'>): ResNetConfig {
  const method = getMethod(cfg.method);
  return {
    numClasses: cfg.data.numClasses,
    widths: cfg.model.widths,
    stem: cfg.model.stem,
    routing: {
      method: method.name,
      numExperts: cfg.numExperts,
      bottleneck: cfg.bottleneck,
      ...blockOptionsOf(method, { ...trainingOptionDefaults(), ...cfg.losses }),
      // Tags are the six domains (tag routing needs N >= 6 or a tagToExpert map).
      ...(method.needsTags ? { numTags: DOMAINS.length } : {}),
      ...(cfg.expertDropout !== undefined ? { expertDropout: cfg.expertDropout } : {}),
    },
    freezeBackbone: true,
    freezeBackboneBnStats: cfg.model.freezeBackboneBnStats,
    seed: cfg.train?.seed ?? 42,
  };
}

/**
 * The top-level configuration fields in which a run folder's saved config.json
 * differs from `cfg`, ignoring what is recorded but not chosen (backend,
 * split sizes, parameter count, the resolved mini backbone path).
 */
export function configDifferences(saved: Record<string, unknown>, cfg: ResNetRunConfig): string[] {
  return topLevelDifferences(saved, cfg as unknown as Record<string, unknown>, (c) => {
    const { backend: _b, splits: _s, trainableParameters: _t, model, ...rest } = c;
    const { weights: _w, ...m } = (model ?? {}) as Record<string, unknown>;
    return { ...rest, model: m };
  });
}

export { REPO_ROOT, slug, type Profile };
