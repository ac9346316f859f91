/**
 * Train and evaluate one method in the ResNet-DomainNet setting: the one
 * entry point the CLI (`smear train --setting resnet`), the main job and the
 * notebooks call.
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../../backend';
import { readSafetensors } from '../../io/safetensors';
import { writeFileAtomic } from '../../io/atomic';
import { RoutedResNet } from '../../models/resnet/resnet';
import { loadDomainNetSplit } from '../../datasets/domainnet/reader';
import { DOMAINS } from '../../datasets/domainnet/layout';
import { generateMiniDomainNet, DEFAULT_MINI_DOMAINNET_DIR } from '../../datasets/mini-domainnet/generate';
import { saveRoutingStats, type RoutingStats } from '../../analysis/routing-stats';
import { Trainer, type TrainResult } from '../../train/trainer';
import type { ProgressOptions } from '../../train/progress';
import { configDifferences, resNetModelConfig, resolveResNetConfig, type ResNetRunConfig, type ResNetRunOverrides } from './config';
import { EvalBatches, TrainBatches, formatSkip, unreadableEvalExamples, unreadableEvalError, type EvalSkipPolicy } from './data';
import { ResNetTask } from './task';
import { ensureMiniBackbone } from './pretrain';
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

export interface ResNetRunResult {
  config: ResNetRunConfig;
  result: TrainResult;
  trainableParameters: number;
  routing?: RoutingStats;
}

/**
 * The schedule fields of a ResNet run whose values depend on its step count
 * (train.maxSteps), which forbid extending a finished run with `--resume --steps N`:
 * none — the learning rate is constant and the methods' schedules count steps
 * (e.g. the ST-Gumbel anneal, losses.gumbel.period), not a fraction of the run.
 */
export function stepCountFields(_cfg: ResNetRunConfig): string[] {
  return [];
}

/** Make sure the mini data set and backbone exist (generated on first use). */
export async function prepareMini(cfg: ResNetRunConfig, quiet = false): Promise<ResNetRunConfig> {
  // The embedded data set is generated on first use in its default folder; a folder the
  // user points at (--data) is used as it is.
  if (path.resolve(cfg.data.root) === DEFAULT_MINI_DOMAINNET_DIR) {
    const data = await generateMiniDomainNet(cfg.data.root, { size: cfg.data.imageSize });
    if (data.created && !quiet) process.stderr.write(`[smear] generated the mini DomainNet in ${data.root}\n`);
  }
  const weights = cfg.model.weights ?? (await ensureMiniBackbone(cfg, quiet));
  return { ...cfg, model: { ...cfg.model, weights } };
}

export async function trainResNet(overrides: ResNetRunOverrides & { method: string }, opts: RunOptions = {}): Promise<ResNetRunResult> {
  let cfg = resolveResNetConfig(overrides);
  // Before anything is prepared: a folder holding a run is refused unless resumed or moved aside.
  const folder = checkRunFolder(cfg.runDir, { resume: opts.resume, fresh: opts.fresh, maxSteps: cfg.train.maxSteps, stepCountFields: stepCountFields(cfg) });
  const backend = await initBackend();
  if (cfg.profile === 'mini') cfg = await prepareMini(cfg, opts.progress?.mode === 'none');
  const savedConfig = path.join(cfg.runDir, 'config.json');
  if (folder.resume && fs.existsSync(savedConfig)) checkResumeConfiguration(savedConfig, readJsonObject(savedConfig), cfg, configDifferences);
  const { numClasses } = cfg.data;
  const train = loadDomainNetSplit(cfg.data.root, 'train', { numClasses });
  let valid = loadDomainNetSplit(cfg.data.root, 'valid', { numClasses });
  let test = loadDomainNetSplit(cfg.data.root, 'test', { numClasses });
  const evalOpts = { batchSize: cfg.train.evalBatchSize, size: cfg.data.imageSize, resize: cfg.data.resize, seed: cfg.train.seed, workers: cfg.data.workers, numExperts: cfg.numExperts };
  // Evaluation sets are exact: every validation and test example is read once before training.
  const bad = await unreadableEvalExamples([{ split: 'valid', samples: valid }, { split: 'test', samples: test }], evalOpts);
  const evalSkips: Record<'valid' | 'test', EvalSkipPolicy> = { valid: { skip: !!cfg.data.skipBadEvalImages, skipped: new Map() }, test: { skip: !!cfg.data.skipBadEvalImages, skipped: new Map() } };
  if (bad.length > 0) {
    if (!cfg.data.skipBadEvalImages) throw unreadableEvalError(bad, 'nothing was trained');
    const out = new Set(bad.map((b) => b.skip.path));
    valid = valid.filter((s) => !out.has(s.path));
    test = test.filter((s) => !out.has(s.path));
    for (const b of bad) {
      evalSkips[b.split].skipped.set(b.skip.path, b.skip);
      process.stderr.write(`[smear] --skip-bad-eval-images: the ${b.split} set is used without ${formatSkip(b.skip)}\n`);
    }
  }
  const model = new RoutedResNet(resNetModelConfig(cfg));
  try {
    if (cfg.model.weights) {
      if (!fs.existsSync(cfg.model.weights)) throw new Error(`option weights: file not found: ${cfg.model.weights}`);
      const { tensors } = await readSafetensors(cfg.model.weights);
      model.loadTorchvision(tensors);
    }
    const task = new ResNetTask(model, cfg, { valid: () => new EvalBatches(valid, 'valid', evalOpts, evalSkips.valid), test: () => new EvalBatches(test, 'test', evalOpts, evalSkips.test) }, [...DOMAINS]);
    const batches = new TrainBatches(train, {
      batchSize: cfg.train.batchSize,
      size: cfg.data.imageSize,
      seed: cfg.train.seed,
      workers: cfg.data.workers,
      numExperts: cfg.numExperts,
      cropScale: cfg.data.cropScale,
    });
    const trainableParameters = model.parameterCount('trainable');
    reportPrepared(prepareRunFolder(folder));
    const startStep = folder.resume ? folder.state.checkpointStep ?? 0 : 0;
    const result = await new Trainer(task, batches, {
      runDir: cfg.runDir,
      maxSteps: cfg.train.maxSteps,
      evalEvery: cfg.train.evalEvery,
      logEvery: cfg.train.logEvery,
      optimizer: { kind: 'adam', lr: cfg.train.lr, clipNorm: cfg.train.clipNorm },
      seed: cfg.train.seed,
      resume: folder.resume,
      signal: opts.signal,
      progress: { label: `${cfg.method}${cfg.configuration === cfg.method ? '' : ` (${cfg.configuration})`}`, ...opts.progress },
      config: { ...cfg, backend: { name: backend.name, package: backend.package, versions: backend.versions }, splits: { train: train.length, valid: valid.length, test: test.length }, trainableParameters },
    }).run();
    if (batches.skippedImages > 0) process.stderr.write(`[smear] ${batches.skipped.size} unreadable training images were skipped (${batches.skippedImages} times); results.json names them\n`);
    const skippedImages = {
      train: { images: batches.skipped.size, skips: batches.skippedImages, since_step: startStep, list: [...batches.skipped.values()] },
      valid: { images: evalSkips.valid.skipped.size, list: [...evalSkips.valid.skipped.values()] },
      test: { images: evalSkips.test.skipped.size, list: [...evalSkips.test.skipped.values()] },
    };
    const routing = task.routing.test;
    if (routing) await saveRoutingStats(path.join(cfg.runDir, 'routing-test.json'), routing);
    if (result.status === 'completed') {
      const file = path.join(cfg.runDir, 'results.json');
      const results = readJsonObject(file);
      await writeFileAtomic(file, `${JSON.stringify({ method: cfg.method, configuration: cfg.configuration, ...results, trainable_parameters: trainableParameters, skipped_images: skippedImages }, null, 2)}\n`);
    }
    return { config: cfg, result, trainableParameters, routing };
  } finally {
    model.dispose();
  }
}
