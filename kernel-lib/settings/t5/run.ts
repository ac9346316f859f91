/**
 * Train and evaluate one method in the T5-GLUE setting: the entry point of
 * `smear train --setting t5`, the main job and the notebooks.
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../../backend';
import { writeFileAtomic } from '../../io/atomic';
import { RoutedT5 } from '../../models/t5/model';
import { getMethod } from '../../routing/registry';
import { blockOptionsOf, trainingOptionDefaults } from '../../routing/options';
import { loadRoutedT5 } from '../../models/t5/weights';
import { ByteTokenizer } from '../../tokenizers/byte';
import { loadT5Tokenizer } from '../../tokenizers/t5';
import type { Tokenizer } from '../../tokenizers/types';
import { generateMiniGlue } from '../../datasets/glue/mini';
import { saveRoutingStats, type RoutingStats } from '../../analysis/routing-stats';
import { Trainer, type TrainResult } from '../../train/trainer';
import { constantWithWarmup } from '../../train/optimizer';
import type { ProgressOptions } from '../../train/progress';
import { DEFAULT_MINI_GLUE_DIR, configDifferences, resolveT5RunConfig, type T5RunConfig, type T5RunOverrides } from './config';
import { EvalSets, Encoder, TrainBatches, loadGlueTasks, HASH_RANGE } from './data';
import { T5Task } from './task';
import { backboneConfig, ensureMiniT5Backbone } from './pretrain';
import { readJsonObject } from '../../util/json';
import { checkResumeConfiguration } from '../common';
import { checkRunFolder, prepareRunFolder, reportPrepared } from '../../train/run-folder';

export interface RunOptions {
  /**
   * Continue the run in the run folder (refused when there is none); 'if-any' (the
   * reproductions): continue one that is there, else start. Without it (and without
   * `fresh`), a run folder that already holds a run is refused, naming what is there.
   */
  resume?: boolean | 'if-any';
  /** Move a run already in the run folder aside (`<dir>.old-<timestamp>`) and start over. */
  fresh?: boolean;
  signal?: AbortSignal;
  progress?: ProgressOptions;
}

export interface T5RunResult {
  config: T5RunConfig;
  result: TrainResult;
  trainableParameters: number;
  routing?: RoutingStats;
}

/**
 * The schedule fields of a T5 run whose values depend on its step count
 * (train.maxSteps), which forbid extending a finished run with `--resume --steps N`:
 * none — constant_with_warmup warms up over train.warmupSteps steps, whatever the run's
 * length, and the methods' schedules count steps (e.g. the ST-Gumbel anneal,
 * losses.gumbel.period).
 */
export function stepCountFields(_cfg: T5RunConfig): string[] {
  return [];
}

/** Make sure the mini data set and backbone exist (generated on first use). */
export async function prepareMiniT5(cfg: T5RunConfig, quiet = false): Promise<T5RunConfig> {
  if (path.resolve(cfg.data.root) === DEFAULT_MINI_GLUE_DIR) {
    const r = generateMiniGlue(cfg.data.root);
    if (r.created && !quiet) process.stderr.write(`[smear] generated mini-GLUE in ${r.root}\n`);
  }
  if (cfg.model.path || cfg.model.pretrain.steps === 0) return cfg;
  return { ...cfg, model: { ...cfg.model, path: await ensureMiniT5Backbone(cfg, quiet) } };
}

export async function loadTokenizer(spec: string): Promise<Tokenizer> {
  if (spec === 'byte') return new ByteTokenizer();
  try {
    return await loadT5Tokenizer(spec);
  } catch (e) {
    throw new Error(`option tokenizer: ${(e as Error).message}`);
  }
}

/**
 * The routed model: the backbone from `model.path` (HF folder/file) or a random one from
 * the preset; the method's blocks get the run's training options they read (a run
 * folder's config.json that predates one: its default).
 */
export async function buildModel(cfg: T5RunConfig): Promise<RoutedT5> {
  const method = getMethod(cfg.method);
  const routing = {
    method: method.name,
    numExperts: cfg.numExperts,
    bottleneck: cfg.bottleneck,
    ...blockOptionsOf(method, { ...trainingOptionDefaults(), ...cfg.losses }),
    ...(cfg.expertDropout !== undefined ? { expertDropout: cfg.expertDropout } : {}),
  };
  const options = {
    seed: cfg.train.seed,
    sameRteMnliInEncoder: cfg.model.sameRteMnliInEncoder,
    maskedRouterMean: cfg.model.maskedRouterMean,
    crossAttentionBias: cfg.model.crossAttentionBias,
  };
  if (!cfg.model.path) return new RoutedT5({ config: backboneConfig(cfg), routing, ...options });
  if (!fs.existsSync(cfg.model.path)) throw new Error(`option model: ${cfg.model.path} does not exist (expected a Hugging Face T5 folder with config.json and model.safetensors)`);
  try {
    return await loadRoutedT5(cfg.model.path, { routing, ...options });
  } catch (e) {
    throw new Error(`option model: ${(e as Error).message}`);
  }
}

export async function trainT5(overrides: T5RunOverrides & { method: string }, opts: RunOptions = {}): Promise<T5RunResult> {
  const tStart = Date.now();
  let cfg = resolveT5RunConfig(overrides);
  const quiet = opts.progress?.mode === 'none';
  // Before anything is prepared: a folder holding a run is refused unless resumed or moved aside.
  const folder = checkRunFolder(cfg.runDir, { resume: opts.resume, fresh: opts.fresh, maxSteps: cfg.train.maxSteps, stepCountFields: stepCountFields(cfg) });
  const backend = await initBackend();
  if (cfg.profile === 'mini') cfg = await prepareMiniT5(cfg, quiet);
  const savedConfig = path.join(cfg.runDir, 'config.json');
  if (folder.resume && fs.existsSync(savedConfig)) checkResumeConfiguration(savedConfig, readJsonObject(savedConfig), cfg, configDifferences);
  if (!fs.existsSync(cfg.data.root)) throw new Error(`option data: ${cfg.data.root} does not exist (expected a GLUE folder: GLUE TSV or HF parquet exports)`);
  const tokenizer = await loadTokenizer(cfg.model.tokenizer);
  const warnings: string[] = [];
  const tasks = await loadGlueTasks(cfg, (m) => warnings.push(m));
  if (!quiet) for (const w of warnings) process.stderr.write(`[smear] ${w}\n`);
  const model = await buildModel(cfg);
  try {
    if (tokenizer.vocabSize > model.config.vocabSize) {
      throw new Error(`option tokenizer: it produces ids up to ${tokenizer.vocabSize - 1}, but the model's vocabulary has ${model.config.vocabSize} entries (option model)`);
    }
    if (getMethod(cfg.method).needsHash && cfg.numExperts < HASH_RANGE) {
      throw new Error(`method '${cfg.method}': the T5 setting draws hash labels randint(${HASH_RANGE}) as the reference; numExperts must be >= ${HASH_RANGE}, got ${cfg.numExperts}`);
    }
    const hashColumns = model.numRoutingBlocks;
    const encoder = new Encoder(tokenizer, cfg.data.maxInputLength, cfg.data.maxTargetLength);
    const evalEncoder = new Encoder(tokenizer, cfg.data.maxInputLength, cfg.data.maxTargetLength);
    const evalSets = new EvalSets(tasks, evalEncoder, {
      seed: cfg.train.seed,
      dataSeed: cfg.data.dataSeed,
      hashColumns,
      maxValidExamples: cfg.train.maxValidExamples,
      maxTestExamples: cfg.train.maxTestExamples,
    });
    const task = new T5Task(model, cfg, evalSets, tokenizer);
    const batches = new TrainBatches(tasks, encoder, {
      batchSize: cfg.train.batchSize,
      samplerSeed: cfg.data.samplerSeed,
      seed: cfg.train.seed,
      dataSeed: cfg.data.dataSeed,
      hashColumns,
    });
    const trainableParameters = model.parameterCount('trainable');
    const splits = Object.fromEntries(tasks.map((t) => [t.task, { train: t.train.length, validation: t.validation.length, test: t.test.length }]));
    reportPrepared(prepareRunFolder(folder));
    const result = await new Trainer(task, batches, {
      runDir: cfg.runDir,
      maxSteps: cfg.train.maxSteps,
      evalEvery: cfg.train.evalEvery,
      logEvery: cfg.train.logEvery,
      // transformers 3.5 AdamW (β 0.9/0.999, ε 1e-8, weight decay 0), constant_w_warmup.
      optimizer: { kind: 'adamw', lr: cfg.train.lr, clipNorm: cfg.train.clipNorm, weightDecay: cfg.train.weightDecay },
      lrSchedule: constantWithWarmup(cfg.train.lr, cfg.train.warmupSteps),
      seed: cfg.train.seed,
      resume: folder.resume,
      signal: opts.signal,
      progress: { label: `t5 ${cfg.method}${cfg.configuration === cfg.method ? '' : ` (${cfg.configuration})`}`, ...opts.progress },
      config: {
        ...cfg,
        backend: { name: backend.name, package: backend.package, versions: backend.versions },
        backbone: { config: model.config, crossAttentionBias: model.crossAttentionBiasSource },
        splits,
        trainableParameters,
      },
    }).run();
    const truncation = {
      train_inputs: { truncated: encoder.sourceStats.truncated, total: encoder.sourceStats.total, longest: encoder.sourceStats.longest },
      eval_inputs: { truncated: evalEncoder.sourceStats.truncated, total: evalEncoder.sourceStats.total, longest: evalEncoder.sourceStats.longest },
      targets: { truncated: encoder.targetStats.truncated + evalEncoder.targetStats.truncated },
    };
    if (!quiet) {
      for (const [st, where] of [
        [encoder.sourceStats, 'T5 training inputs'],
        [evalEncoder.sourceStats, 'T5 evaluation inputs'],
      ] as const) {
        const line = st.summary(where, cfg.data.maxInputLength);
        if (line) process.stderr.write(`[smear] ${line}\n`);
      }
    }
    const routing = task.routing.test;
    if (routing) await saveRoutingStats(path.join(cfg.runDir, 'routing-test.json'), routing);
    if (result.status === 'completed') {
      const file = path.join(cfg.runDir, 'results.json');
      const results = readJsonObject(file);
      await writeFileAtomic(
        file,
        `${JSON.stringify({ method: cfg.method, configuration: cfg.configuration, ...results, trainable_parameters: trainableParameters, truncation, seconds: (Date.now() - tStart) / 1000 }, null, 2)}\n`,
      );
    }
    return { config: cfg, result, trainableParameters, routing };
  } finally {
    model.dispose();
  }
}
