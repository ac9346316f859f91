/**
 * Training several runs at once, one child process each (train-worker.ts),
 * for the reproductions of both settings (`smear reproduce`, `npm start`).
 * The wasm backend computes on one thread, so on a machine with several cores
 * a second process uses the second core: the mini method sets train about
 * twice as fast on 2 cores. Each run is deterministic on its own, so the
 * results equal those of training in one process (tested per setting).
 *
 * Runs start longest first (AdaMix runs two forward passes per step), so the
 * lanes end together. An abort (Ctrl-C) is passed on: every child stops after
 * its current step with a checkpoint, as in the CLI; a failing run stops the
 * others and its error is re-thrown with the method's label.
 */
import { fork, type ChildProcess } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { getMethod } from '../routing/registry';
import type { MethodSpec, Profile } from './common';
import { REPO_ROOT, methodLabel } from './common';

export type WorkerSetting = 'resnet' | 't5';

export interface WorkerJob {
  setting: WorkerSetting;
  /** For messages, e.g. 'dense (1× parameters)'. */
  label: string;
  /** The run's overrides as trainResNet / trainT5 take them, with its folder. */
  overrides: { method: string; runDir: string } & Record<string, unknown>;
  /** Continue the folder's partial run ('if-any': when there is one). */
  resume: boolean | 'if-any';
  /** Move a run of another configuration (or one --force retrains) aside first. */
  fresh: boolean;
  steps: number;
  /** Set to true when the run ended with status 'completed'. */
  completed?: boolean;
}

/** Parent → child and child → parent messages of train-worker.ts. */
export type WorkerRequest = { type: 'train'; setting: WorkerSetting; overrides: WorkerJob['overrides']; resume: boolean | 'if-any'; fresh: boolean } | { type: 'abort' };
export type WorkerReply = { type: 'done'; status: string } | { type: 'error'; message: string; stack?: string };

/**
 * The number of training processes `workers` asks for: an integer ≥ 1, or
 * 'auto' — min(2, available cores) for the mini profile, 1 for the paper
 * profile (whose runs are long and may use a native multi-threaded backend).
 * Undefined means 1 (one after another in the calling process).
 */
export function resolveWorkers(workers: number | 'auto' | undefined, profile: Profile): number {
  if (workers === undefined) return 1;
  if (workers === 'auto') return profile === 'mini' ? Math.max(1, Math.min(2, os.availableParallelism())) : 1;
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`option workers: expected an integer >= 1, got ${String(workers)}`);
  return workers;
}

const WORKER_FILE = path.join(__dirname, 'train-worker.ts');

/** Train `jobs` in up to `workers` child processes; resolves when all have ended (no new starts after an abort or error). */
export async function trainInWorkers(jobs: WorkerJob[], workers: number, signal?: AbortSignal): Promise<void> {
  // A step costs the method's forward passes (AdaMix: 2).
  const cost = (j: WorkerJob) => (getMethod(j.overrides.method).trainingPasses ?? 1) * j.steps;
  const queue = [...jobs].sort((a, b) => cost(b) - cost(a));
  const running = new Set<ChildProcess>();
  let failure: Error | null = null;
  const abortAll = () => {
    for (const c of running) if (c.connected) c.send({ type: 'abort' } satisfies WorkerRequest);
  };
  signal?.addEventListener('abort', abortAll, { once: true });
  const tag = (j: WorkerJob) => `[smear] ${j.setting === 't5' ? 't5 ' : ''}${j.label}`;
  const runOne = (job: WorkerJob) =>
    new Promise<void>((resolve) => {
      const t0 = Date.now();
      process.stderr.write(`${tag(job)}: training ${job.steps} steps → ${path.relative(REPO_ROOT, job.overrides.runDir)} (worker process)\n`);
      const child = fork(WORKER_FILE, [], { execArgv: ['--require', require.resolve('tsx/cjs')], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      running.add(child);
      let reply: WorkerReply | null = null;
      child.on('message', (m: WorkerReply) => {
        reply = m;
      });
      child.on('exit', (code) => {
        running.delete(child);
        const r = reply as WorkerReply | null;
        if (r?.type === 'done') {
          job.completed = r.status === 'completed';
          if (job.completed) process.stderr.write(`${tag(job)}: finished in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        } else if (!failure && !signal?.aborted) {
          failure = new Error(`${job.setting} ${job.label}: ${r?.type === 'error' ? r.message : `the training process exited with code ${code}`}`);
          abortAll();
        }
        resolve();
      });
      child.send({ type: 'train', setting: job.setting, overrides: job.overrides, resume: job.resume, fresh: job.fresh } satisfies WorkerRequest);
    });
  const lane = async () => {
    while (queue.length && !failure && !signal?.aborted) await runOne(queue.shift()!);
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, lane));
  signal?.removeEventListener('abort', abortAll);
  if (failure) throw failure;
}

/** One method of a reproduction: its run folder and whether it is already done. */
export interface RunPlan<O> {
  spec: MethodSpec;
  overrides: O & { method: string };
  runDir: string;
  steps: number;
  /** The folder's config.json matches: resume a partial run. */
  same: boolean;
  /** Finished earlier with this configuration (results.json): reused, not trained. */
  reused: boolean;
  /** Finished in this invocation, or reused. */
  completed: boolean;
}

/**
 * How a reproduction starts a run in its folder: a folder of the same configuration is
 * continued (or started, when it holds no run yet); any other run there (another
 * configuration, or --force) is moved aside as `<dir>.old-<timestamp>`, never deleted.
 */
export function runFolderMode(plan: { same: boolean }): { resume: 'if-any' | false; fresh: boolean } {
  return plan.same ? { resume: 'if-any', fresh: false } : { resume: false, fresh: true };
}

/**
 * Train the plans not reused: in up to `workers` child processes, or (1 worker)
 * one after another through `trainHere`, stopping at the first run that does
 * not complete. Sets each plan's `completed`; returns the processes used.
 */
export async function trainPlans<O>(
  setting: WorkerSetting,
  plans: RunPlan<O>[],
  workers: number,
  trainHere: (plan: RunPlan<O>) => Promise<string>,
  signal?: AbortSignal,
): Promise<number> {
  const toTrain = plans.filter((p) => !p.reused);
  if (workers > 1 && toTrain.length > 1) {
    const jobs: WorkerJob[] = toTrain.map((p) => ({
      setting,
      label: methodLabel(p.spec),
      overrides: { ...(p.overrides as Record<string, unknown>), method: p.overrides.method, runDir: p.runDir },
      ...runFolderMode(p),
      steps: p.steps,
    }));
    await trainInWorkers(jobs, workers, signal);
    toTrain.forEach((p, i) => (p.completed = !!jobs[i].completed));
    return workers;
  }
  for (const plan of toTrain) {
    if (signal?.aborted) break;
    process.stderr.write(`[smear] ${setting === 't5' ? 't5 ' : ''}${methodLabel(plan.spec)}: training ${plan.steps} steps → ${path.relative(REPO_ROOT, plan.runDir)}\n`);
    plan.completed = (await trainHere(plan)) === 'completed';
    if (!plan.completed) break;
  }
  return 1;
}
