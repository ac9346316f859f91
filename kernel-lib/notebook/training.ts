/**
 * Training from a notebook cell: the method set of a setting, one run after
 * another, with a live plot of training loss and validation score that is
 * updated in place, finished runs reused, and cooperative interrupts
 * (`cellSignal`): an interrupted run stops after its current step with a
 * checkpoint, the cell ends with `InterruptedRunError`, and rerunning the
 * cell resumes it.
 */
import * as path from 'path';
import { trainingCurves, type CurveSeries } from '../analysis/figures';
import { loadRun, readCurves, runLabel, type RunSummary } from '../analysis/runs';
import type { ProgressEvent } from '../train/progress';
import { resolveResNetConfig, type ResNetRunOverrides } from '../settings/resnet/config';
import { reproduceResNet } from '../settings/resnet/reproduce';
import { resolveT5RunConfig, type T5RunOverrides } from '../settings/t5/config';
import { reproduceT5 } from '../settings/t5/reproduce';
import { getMethod } from '../routing/registry';
import { slug } from '../settings/resnet/config';
import { LiveDisplay } from './display';
import { cellSignal, InterruptedRunError } from './interrupt';
import type { MethodSpec } from './profile';

export interface TrainMethodsOptions {
  setting: 'resnet' | 't5';
  profile: 'mini' | 'paper';
  methods: MethodSpec[];
  overrides?: ResNetRunOverrides | T5RunOverrides;
  /** Folder of the run folders (default: the setting's own, runs/). */
  runsDir?: string;
  /** Prefix of run folder names under runsDir (default "<setting>-<profile>-"). */
  runPrefix?: string;
  /** Scratch folder for the reproduction's results.md. */
  resultsDir: string;
  /** Stop signal (default: `cellSignal()`, the kernel's interrupt). */
  signal?: AbortSignal;
  /** Minimum milliseconds between plot updates (default 1500). */
  updateEveryMs?: number;
  title?: string;
}

function runDirName(spec: MethodSpec): string {
  const m = getMethod(spec.method);
  const first = m.configurations[0].label;
  return `${m.name}${!spec.configuration || spec.configuration === first ? '' : `-${slug(spec.configuration)}`}`;
}

/**
 * Train (or reuse) each method; returns the finished runs. The live figure
 * shows every run of the set: finished ones from their metrics.jsonl, the
 * one in progress from its metrics plus the progress events.
 */
export async function trainMethods(opts: TrainMethodsOptions): Promise<RunSummary[]> {
  const signal = opts.signal ?? cellSignal();
  const live = new LiveDisplay(opts.updateEveryMs ?? 1500);
  const scoreName = opts.setting === 'resnet' ? 'accuracy' : 'score';
  const title = opts.title ?? (opts.setting === 'resnet' ? 'ResNet-DomainNet training' : 'T5-GLUE training');
  const series = new Map<string, CurveSeries>();
  const prefix = opts.runPrefix ?? `${opts.setting}-${opts.profile}-`;
  const runDirFor = opts.runsDir ? (m: MethodSpec) => path.join(opts.runsDir!, `${prefix}${runDirName(m)}`) : undefined;
  const figure = (final = false) => trainingCurves([...series.values()], { title: `${title}${final ? '' : ' (live)'}`, scoreName });
  const finished: RunSummary[] = [];
  for (const spec of opts.methods) {
    const overrides = { ...opts.overrides, profile: opts.profile, method: spec.method, configuration: spec.configuration };
    const runDir = runDirFor
      ? runDirFor(spec)
      : opts.setting === 'resnet'
        ? resolveResNetConfig(overrides as ResNetRunOverrides & { method: string }).runDir
        : resolveT5RunConfig(overrides as T5RunOverrides & { method: string }).runDir;
    const label = runLabel(getMethod(spec.method).name, spec.configuration ?? getMethod(spec.method).configurations[0].label);
    let events: { step: number; loss: number }[] = [];
    let lastStep = 0;
    const refresh = () => {
      const logged = readCurves(runDir, label);
      const first = events.length ? events[0].step : Infinity;
      series.set(label, { label, train: [...logged.train.filter((p) => p.step < first), ...events], valid: logged.valid });
    };
    const onProgress = (e: ProgressEvent) => {
      lastStep = e.step;
      if (e.phase === 'train' && typeof e.loss === 'number') {
        if (events.length && e.step <= events[events.length - 1].step) events = [];
        events.push({ step: e.step, loss: e.loss });
      }
      refresh();
      void live.updateFigure(figure());
    };
    refresh();
    await live.updateFigure(figure(), { force: true });
    const common = { profile: opts.profile, methods: [spec], outDir: opts.resultsDir, progress: { mode: 'none' as const, onProgress }, signal, ...(runDirFor ? { runDirFor } : {}) };
    if (opts.setting === 'resnet') await reproduceResNet({ ...common, overrides: opts.overrides as ResNetRunOverrides });
    else await reproduceT5({ ...common, overrides: opts.overrides as T5RunOverrides });
    refresh();
    if (signal.aborted) {
      await live.updateFigure(figure(true), { final: true });
      throw new InterruptedRunError(runDir, lastStep);
    }
    finished.push(loadRun(runDir));
  }
  await live.updateFigure(figure(true), { final: true });
  return finished;
}
