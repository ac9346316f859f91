/**
 * Run folders are the user's work: nothing in one is deleted or overwritten
 * without being asked.
 *
 * `checkRunFolder` (no side effects) decides how a run may start in a folder:
 *   - an empty or missing folder (or one holding only a config.json): a new run;
 *   - a folder holding a run (metrics.jsonl, checkpoints/, results.json): refused,
 *     naming what is there (steps done, finished, stopped or diverged) and the
 *     two ways on — `--resume` to continue it, `--fresh` to start over, which
 *     moves the old folder aside as `<dir>.old-<timestamp>` (never deletes it);
 *   - `--resume` with nothing to resume: refused, saying so (starting a new run
 *     is the same command without `--resume`); `resume: 'if-any'` (the
 *     reproductions) resumes what is there and starts otherwise;
 *   - `--resume --steps N`: N below the steps done is refused; N above a
 *     finished run extends it (the finished run's results.json is kept as
 *     results.step-<N>.json), unless a schedule field depends on the step count,
 *     which is then named.
 * `prepareRunFolder` then moves an old run aside (fresh), creates the folder
 * without Node's recursive mkdir (which never returns under /proc), checks that
 * it is writable, and removes partial files left by a killed atomic write.
 * The folder's location is not part of a run: a moved folder resumes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { removeStaleTmpFiles } from '../io/atomic';
import { checkDirCreatable, makeDir } from '../io/dirs';

const DEFAULT_WHAT = 'option runDir (--run-dir)';

export type RunStatus = 'finished' | 'stopped' | 'diverged';

export interface RunFolderState {
  dir: string;
  exists: boolean;
  /** metrics.jsonl, a checkpoint or results.json is there (a config.json alone is not a run yet). */
  holdsRun: boolean;
  status?: RunStatus;
  /** Steps done: the last checkpoint's step (what a resume continues from), else results.json's, else 0. */
  stepsDone: number;
  /** Step of checkpoints/last.safetensors, null without one. */
  checkpointStep: number | null;
  /** train.maxSteps of the folder's config.json. */
  plannedSteps?: number;
  /** results.json's `steps` (finished) or `step` (diverged). */
  resultsStep?: number;
  /** The step and learning rate at which the run diverged. */
  diverged?: { step: number; lr?: number };
}

/** How a run starts in its folder (see the module comment). */
export interface RunFolderOptions {
  /** Continue the run there; 'if-any': continue it when there is one, else start one. */
  resume?: boolean | 'if-any';
  /** Move a run that is there aside (`<dir>.old-<timestamp>`) and start over. */
  fresh?: boolean;
  /** The steps the run is to reach (train.maxSteps). */
  maxSteps?: number;
  /** Schedule fields whose value depends on the step count (they forbid extending a run). */
  stepCountFields?: string[];
  /** The option that names the folder, for messages (default "option runDir (--run-dir)"). */
  what?: string;
}

export interface RunFolderPlan {
  dir: string;
  state: RunFolderState;
  /** Continue from the folder's checkpoint (or its step 0, when a run there wrote none yet). */
  resume: boolean;
  /** Move the folder's run aside first. */
  moveAside: boolean;
  /** The finished (or diverged) run's results.json is kept under another name before training on. */
  keepResults: boolean;
}

export interface PreparedRunFolder extends RunFolderPlan {
  /** Where the old folder went (fresh). */
  movedTo?: string;
  /** Partial files of killed atomic writes that were removed. */
  removedTmp: string[];
  /** Where a finished run's results.json was kept (extension). */
  keptResults?: string;
}

/** The step recorded in a checkpoint's metadata, reading only its header (null when unreadable). */
export function checkpointStep(file: string): number | null {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(8);
    if (fs.readSync(fd, head, 0, 8, 0) !== 8) return null;
    const n = Number(head.readBigUInt64LE(0));
    if (!(n > 0 && n < 100_000_000)) return null;
    const json = Buffer.alloc(n);
    if (fs.readSync(fd, json, 0, n, 8) !== n) return null;
    const meta = (JSON.parse(json.toString('utf8')) as { __metadata__?: { step?: string } }).__metadata__;
    const step = Number(meta?.step);
    return Number.isInteger(step) && step >= 0 ? step : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function readObject(file: string): Record<string, any> | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What a folder holds, as far as runs go (never throws on damaged files: they are described, not parsed strictly). */
export function inspectRunFolder(dir: string): RunFolderState {
  const exists = fs.existsSync(dir);
  const state: RunFolderState = { dir, exists, holdsRun: false, stepsDone: 0, checkpointStep: null };
  if (!exists) return state;
  const at = (f: string) => path.join(dir, f);
  const checkpoints = fs.existsSync(at('checkpoints')) && fs.statSync(at('checkpoints')).isDirectory() ? fs.readdirSync(at('checkpoints')).filter((f) => f.endsWith('.safetensors')) : [];
  const metrics = fs.existsSync(at('metrics.jsonl')) && fs.statSync(at('metrics.jsonl')).size > 0;
  const hasResults = fs.existsSync(at('results.json'));
  state.holdsRun = metrics || checkpoints.length > 0 || hasResults;
  const config = fs.existsSync(at('config.json')) ? readObject(at('config.json')) : undefined;
  const planned = Number(config?.train?.maxSteps);
  if (Number.isInteger(planned)) state.plannedSteps = planned;
  state.checkpointStep = fs.existsSync(at('checkpoints/last.safetensors')) ? checkpointStep(at('checkpoints/last.safetensors')) : null;
  const results = hasResults ? readObject(at('results.json')) : undefined;
  if (results?.status === 'diverged') {
    state.status = 'diverged';
    state.diverged = { step: Number(results.step), ...(typeof results.lr === 'number' ? { lr: results.lr } : {}) };
    state.resultsStep = Number(results.step);
  } else if (hasResults) {
    state.status = 'finished';
    if (Number.isInteger(Number(results?.steps))) state.resultsStep = Number(results!.steps);
  } else if (state.holdsRun) {
    state.status = 'stopped';
  }
  state.stepsDone = state.checkpointStep ?? (state.status === 'finished' ? state.resultsStep ?? 0 : 0);
  return state;
}

/** "6 of 6 steps done, finished (results.json)" and the like. */
export function describeRunFolder(s: RunFolderState): string {
  const of = s.plannedSteps !== undefined ? ` of ${s.plannedSteps}` : '';
  const ck = s.checkpointStep !== null ? `last checkpoint at step ${s.checkpointStep}` : 'no checkpoint yet';
  if (s.status === 'finished') return `${s.stepsDone}${of} steps done, finished (results.json)`;
  if (s.status === 'diverged') return `diverged at step ${s.diverged!.step}${s.diverged!.lr !== undefined ? ` (learning rate ${s.diverged!.lr})` : ''}, ${ck}`;
  return `${s.stepsDone}${of} steps done, not finished (${ck})`;
}

/** `<dir>.old-<UTC timestamp>` (with a counter if taken). */
export function asideName(dir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  let name = `${dir}.old-${stamp}`;
  for (let i = 2; fs.existsSync(name); i++) name = `${dir}.old-${stamp}-${i}`;
  return name;
}

/** Decide how a run starts in `dir`; throws (changing nothing) where it may not. */
export function checkRunFolder(dir: string, opts: RunFolderOptions = {}): RunFolderPlan {
  // Under /proc, a file, or an unwritable place: said now, before anything is prepared.
  checkDirCreatable(dir, opts.what ?? DEFAULT_WHAT);
  const state = inspectRunFolder(dir);
  const plan: RunFolderPlan = { dir, state, resume: false, moveAside: false, keepResults: false };
  if (opts.resume && opts.fresh) throw new Error('options --resume and --fresh: choose one (--resume continues the run folder\'s run, --fresh moves it aside and starts over)');
  if (opts.fresh) {
    plan.moveAside = state.holdsRun;
    return plan;
  }
  if (!opts.resume) {
    if (!state.holdsRun) return plan;
    throw new Error(
      `the run folder ${dir} already holds a run (${describeRunFolder(state)}); nothing was changed. ` +
        `To continue it, add --resume${state.status === 'finished' ? ' (with a larger --steps to train it longer)' : ''}; ` +
        `to start over, add --fresh (the folder is moved aside to ${path.basename(dir)}.old-<timestamp>, not deleted); ` +
        'or choose another --run-dir.',
    );
  }
  if (!state.holdsRun) {
    if (opts.resume === 'if-any') return plan;
    throw new Error(
      `--resume: there is nothing to resume in ${dir} (${state.exists ? 'it holds no run: no metrics.jsonl, checkpoint or results.json' : 'no such folder'}); ` +
        'nothing was started. To start a new run there, run the same command without --resume.',
    );
  }
  plan.resume = true;
  const target = opts.maxSteps;
  if (target !== undefined) {
    const done = state.status === 'diverged' ? state.checkpointStep ?? 0 : state.stepsDone;
    if (target < done) {
      throw new Error(`--resume --steps ${target}: the run in ${dir} has done ${done} steps (${describeRunFolder(state)}); give --steps ${done} or more, or --fresh to start over`);
    }
    const longer = target > (state.plannedSteps ?? done) || (state.status === 'finished' && target > done);
    if (longer && opts.stepCountFields && opts.stepCountFields.length > 0) {
      throw new Error(
        `--resume --steps ${target}: the run in ${dir} was planned for ${state.plannedSteps ?? done} steps and its schedule depends on the step count ` +
          `(${opts.stepCountFields.join(', ')}); it cannot be extended. Start a longer run with --fresh or another --run-dir`,
      );
    }
    // A finished run trained on (or a diverged one resumed): its results.json is kept, not overwritten.
    plan.keepResults = (state.status === 'finished' && target > done) || state.status === 'diverged';
  } else {
    plan.keepResults = state.status === 'diverged';
  }
  return plan;
}

function keepName(dir: string, base: string): string {
  let name = path.join(dir, `${base}.json`);
  for (let i = 2; fs.existsSync(name); i++) name = path.join(dir, `${base}-${i}.json`);
  return name;
}

/**
 * Carry a plan out: move the old run aside (fresh), create the folder and its
 * checkpoints/ (a clear error where it cannot be made or written, e.g. under
 * /proc), keep a finished run's results.json before it is trained on, and
 * remove partial files of killed atomic writes. `what` names the option in errors.
 */
export function prepareRunFolder(plan: RunFolderPlan, what = DEFAULT_WHAT): PreparedRunFolder {
  const out: PreparedRunFolder = { ...plan, removedTmp: [] };
  const { dir } = plan;
  if (plan.moveAside && fs.existsSync(dir)) {
    const aside = asideName(dir);
    try {
      fs.renameSync(dir, aside);
    } catch (e) {
      throw new Error(`--fresh: cannot move ${dir} aside to ${aside}: ${(e as Error).message}; nothing was changed`);
    }
    out.movedTo = aside;
  }
  makeDir(path.join(dir, 'checkpoints'), what);
  const probe = path.join(dir, `.smear-write-check-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    throw new Error(`${what}: cannot write in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (expected a writable folder)`);
  }
  for (const d of [dir, path.join(dir, 'checkpoints')]) out.removedTmp.push(...removeStaleTmpFiles(d));
  if (plan.keepResults && fs.existsSync(path.join(dir, 'results.json'))) {
    const s = plan.state;
    const kept = keepName(dir, s.status === 'diverged' ? `results.diverged-step-${s.diverged!.step}` : `results.step-${s.resultsStep ?? s.stepsDone}`);
    fs.renameSync(path.join(dir, 'results.json'), kept);
    out.keptResults = kept;
  }
  return out;
}

/** `checkRunFolder` then `prepareRunFolder`, with what was done said on stderr unless `quiet`. */
export function openRunFolder(dir: string, opts: RunFolderOptions & { quiet?: boolean } = {}): PreparedRunFolder {
  const prepared = prepareRunFolder(checkRunFolder(dir, opts), opts.what);
  if (!opts.quiet) reportPrepared(prepared);
  return prepared;
}

/** The stderr lines for what `prepareRunFolder` did. */
export function reportPrepared(p: PreparedRunFolder): void {
  const say = (s: string) => process.stderr.write(`[smear] ${s}\n`);
  if (p.movedTo) say(`--fresh: the earlier run (${describeRunFolder(p.state)}) was moved aside to ${p.movedTo}`);
  for (const f of p.removedTmp) say(`removed ${f}, a partial file left by an interrupted write`);
  if (p.keptResults) say(`the earlier results.json of ${p.dir} is kept as ${path.basename(p.keptResults)}`);
}
