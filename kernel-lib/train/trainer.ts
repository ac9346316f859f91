/**
 * One trainer for both settings (ResNet-DomainNet and T5-GLUE).
 *
 * The setting supplies a `TrainerTask` (parameters, loss of a batch, state to
 * checkpoint, evaluation) and a `BatchSource` that can start at any step; the
 * trainer owns the loop: learning-rate schedule, gradient clipping, Adam(W)
 * with parameter groups, logging to `metrics.jsonl`, evaluation every
 * `evalEvery` steps with the best checkpoint kept by validation score,
 * atomic checkpoints, resume, NaN/Inf detection, cooperative stop
 * (AbortSignal), and the final test evaluation with the best checkpoint.
 *
 * Run folder:
 *   config.json            the fully resolved configuration (written by the caller via `config`)
 *   metrics.jsonl          one JSON line per log step and per evaluation
 *   checkpoints/last.safetensors   model state + optimizer moments + step/rng (resume)
 *   checkpoints/best.safetensors   model state at the best validation score
 *   results.json           final validation and test metrics of the best checkpoint, or
 *                          {status: 'diverged', step, lr, last_checkpoint} for a run stopped by a non-finite loss
 *
 * Nothing in a run folder is deleted: a folder that already holds a run is
 * refused unless the run is resumed (`resume`) or moved aside (`fresh`), see
 * run-folder.ts.
 *
 * A resumed run (`resume: true`) continues from last.safetensors and ends
 * with the same metrics as an uninterrupted run with the same seed: the
 * generator state, optimizer moments, model state (incl. BatchNorm running
 * statistics) and the data position (a function of the step) are restored.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type RngState } from '../util/rng';
import { Optimizer, type OptimizerConfig, type OptimizerParam } from './optimizer';
import { Progress, type ProgressOptions } from './progress';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { writeFileAtomic } from '../io/atomic';
import { parseJson, readJsonLines } from '../util/json';
import { wasmMemoryError, webGpuError, webGpuFault } from '../backend';
import { packForRead, readPacked, type PackedRead } from '../backend/host-read';
import { openRunFolder } from './run-folder';

export interface StepContext {
  /** 0-based index of the optimizer step being computed. */
  step: number;
  /** The run's generator (training randomness). */
  rng: Rng;
}

export interface EvalResult {
  /** Model-selection score: higher is better (e.g. accuracy, GLUE average). */
  score: number;
  metrics: Record<string, number | Record<string, number>>;
}

export interface TrainerTask<B> {
  /** Trainable parameters with learning-rate multipliers. */
  params(): OptimizerParam[];
  /** All state a checkpoint must hold (trainable and non-trainable, e.g. BN running stats), by name. */
  stateVariables(): Map<string, tf.Variable>;
  /** Total loss of a batch (runs inside tf.variableGrads) and scalars to log. */
  loss(batch: B, ctx: StepContext): { loss: tf.Scalar; logs?: Record<string, tf.Scalar> };
  /** Called after each optimizer step, outside the gradient tape (e.g. deferred BN updates). */
  afterStep?(ctx: StepContext): void;
  /** Evaluate the current model on a split. */
  evaluate(split: 'valid' | 'test', opts: { signal?: AbortSignal }): Promise<EvalResult>;
}

export interface BatchSource<B> {
  /** Iterate batches from global step `startStep` on (deterministic in the step). */
  iterate(startStep: number): AsyncIterator<B>;
  /** Release workers/files. */
  close?(): Promise<void> | void;
  /** Optional: release a batch's tensors after its step. */
  disposeBatch?(batch: B): void;
}

export interface TrainerOptions {
  runDir: string;
  maxSteps: number;
  /** Evaluate (validation) and checkpoint every this many steps. */
  evalEvery: number;
  /** Log a metrics line every this many steps. Default 50. */
  logEvery?: number;
  optimizer: OptimizerConfig;
  /** Learning rate at a 0-based step (default constant optimizer.lr). */
  lrSchedule?: (step: number) => number;
  seed: number;
  /**
   * Continue the run in `runDir` (from checkpoints/last.safetensors, or from step 0 when
   * the run there wrote no checkpoint yet); refused when there is none. 'if-any': continue
   * a run that is there, else start one. Without it, a folder holding a run is refused.
   */
  resume?: boolean | 'if-any';
  /** Move a run already in `runDir` aside (`<runDir>.old-<timestamp>`) and start over. */
  fresh?: boolean;
  /** Stop cooperatively (within one step), leaving a valid checkpoint. */
  signal?: AbortSignal;
  progress?: ProgressOptions;
  /** The resolved configuration to write as config.json. */
  config?: unknown;
  /** Skip the final test evaluation. */
  skipTest?: boolean;
}

export interface TrainResult {
  status: 'completed' | 'aborted';
  step: number;
  best?: { step: number; score: number; metrics: EvalResult['metrics'] };
  test?: EvalResult;
  runDir: string;
  stepsPerSecond: number;
}

/** Thrown when the loss becomes NaN or Inf; the last good checkpoint is kept and results.json says 'diverged'. */
export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    readonly value: number,
    readonly checkpoint: string | null,
    readonly lr?: number,
    readonly checkpointStep?: number,
    readonly quantity: 'loss' | 'gradient norm' = 'loss',
  ) {
    super(
      `training stopped: the ${quantity} is ${value} at step ${step}${lr !== undefined ? ` (learning rate ${lr})` : ''}. ` +
        (checkpoint
          ? `The last good checkpoint is ${checkpoint}${checkpointStep !== undefined ? ` (step ${checkpointStep})` : ''}, kept. `
          : 'No checkpoint had been written yet. ') +
        'To train again with a lower learning rate: the same command with a smaller --lr and --fresh (the run folder is moved aside, not deleted).',
    );
    this.name = 'TrainingDivergedError';
  }
}

type Metadata = {
  step: string;
  optimizerT: string;
  rng: string;
  best: string;
  format: string;
};

/** Read tensors for a checkpoint, one `await data()` each (no packed copy: a checkpoint can be most of the device's memory). */
async function toRecord(vars: Map<string, tf.Tensor>, prefix: string) {
  const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, v] of vars) {
    out[`${prefix}${name}`] = { dtype: 'F32', shape: [...v.shape], data: (await v.data()) as Float32Array };
  }
  return out;
}

/** A step whose scalars (loss, gradient norm, logged values: one packed tensor) are being read. */
interface PendingStep {
  step: number;
  lr: number;
  keys: string[];
  values: Promise<Float32Array[]>;
}

export class Trainer<B> {
  constructor(private readonly task: TrainerTask<B>, private readonly data: BatchSource<B>, private readonly opts: TrainerOptions) {
    if (!(Number.isInteger(opts.maxSteps) && opts.maxSteps >= 1)) throw new Error(`option maxSteps: expected an integer >= 1, got ${opts.maxSteps}`);
    if (!(Number.isInteger(opts.evalEvery) && opts.evalEvery >= 1)) throw new Error(`option evalEvery: expected an integer >= 1, got ${opts.evalEvery}`);
  }

  get lastCheckpoint(): string {
    return path.join(this.opts.runDir, 'checkpoints', 'last.safetensors');
  }

  get bestCheckpoint(): string {
    return path.join(this.opts.runDir, 'checkpoints', 'best.safetensors');
  }

  private async saveCheckpoint(file: string, optimizer: Optimizer | null, meta: Partial<Metadata>): Promise<void> {
    const state = await toRecord(this.task.stateVariables(), 'state.');
    const optim = optimizer ? await toRecord(optimizer.stateTensors(), 'optim.') : {};
    await writeSafetensors(file, { ...state, ...optim }, { format: 'smear-ts-checkpoint-1', ...meta });
  }

  private async loadState(file: string, optimizer: Optimizer | null) {
    const { tensors, metadata } = await readSafetensors(file);
    const vars = this.task.stateVariables();
    for (const [name, v] of vars) {
      const t = tensors.get(`state.${name}`);
      if (!t) throw new Error(`checkpoint ${file}: missing tensor 'state.${name}'`);
      if (t.shape.join(',') !== v.shape.join(',')) {
        throw new Error(`checkpoint ${file}: tensor 'state.${name}' has shape [${t.shape}], the model expects [${v.shape}]`);
      }
      v.assign(tf.tensor(t.data as Float32Array, t.shape, v.dtype));
    }
    if (optimizer) {
      const optim = new Map<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>();
      for (const [k, t] of tensors) if (k.startsWith('optim.')) optim.set(k.slice('optim.'.length), t);
      optimizer.loadState(optim, Number(metadata.optimizerT ?? 0));
    }
    return metadata;
  }

  private appendMetrics(line: Record<string, unknown>): void {
    fs.appendFileSync(path.join(this.opts.runDir, 'metrics.jsonl'), `${JSON.stringify(line)}\n`);
  }

  /** Keep only metric lines up to `step` (a resumed run rewrites what came after its checkpoint). */
  private async truncateMetrics(step: number): Promise<void> {
    const file = path.join(this.opts.runDir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return;
    // A half-written last line (a run killed while appending) is dropped; any other bad line names file:line.
    const kept = readJsonLines<{ step: number }>(file, { partialLastLine: true }).filter((l) => l.step <= step);
    await writeFileAtomic(file, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
  }

  async run(): Promise<TrainResult> {
    const o = this.opts;
    // Refuses a folder holding a run unless resumed or moved aside (fresh); creates it; removes stale .tmp files.
    const folder = openRunFolder(o.runDir, { resume: o.resume, fresh: o.fresh, maxSteps: o.maxSteps });
    if (o.config !== undefined) await writeFileAtomic(path.join(o.runDir, 'config.json'), `${JSON.stringify(o.config, null, 2)}\n`);
    const params = this.task.params();
    const optimizer = new Optimizer(params, o.optimizer);
    const rng = new Rng(o.seed);
    const schedule = o.lrSchedule ?? (() => o.optimizer.lr);
    const logEvery = o.logEvery ?? 50;
    let step = 0;
    let best: TrainResult['best'];
    /** Step of the last checkpoint written or loaded (for the divergence message). */
    let savedStep: number | undefined;

    if (folder.resume && fs.existsSync(this.lastCheckpoint)) {
      const meta = await this.loadState(this.lastCheckpoint, optimizer);
      step = Number(meta.step);
      savedStep = step;
      rng.setState(parseJson<RngState>(meta.rng, `${this.lastCheckpoint} (metadata rng)`));
      best = meta.best ? parseJson<TrainResult['best']>(meta.best, `${this.lastCheckpoint} (metadata best)`) : undefined;
      await this.truncateMetrics(step);
      process.stderr.write(`[smear] resuming ${o.runDir} from step ${step}\n`);
    } else if (folder.resume) {
      // The run there stopped before its first checkpoint: its metric lines are recomputed from step 0.
      await this.truncateMetrics(0);
      process.stderr.write(`[smear] resuming ${o.runDir} from step 0 (the run there wrote no checkpoint yet)\n`);
    }

    const progress = new Progress(o.maxSteps, { label: path.basename(o.runDir), ...o.progress });
    const varList = params.map((p) => p.variable);
    const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
    const iter = this.data.iterate(step);
    const t0 = Date.now();
    const step0 = step;
    let windowStart = Date.now();
    let windowSteps = 0;
    let status: TrainResult['status'] = 'completed';
    progress.start(step);

    const meta = (): Partial<Metadata> => ({
      step: String(step),
      optimizerT: String(optimizer.t),
      rng: JSON.stringify(rng.getState()),
      best: best ? JSON.stringify(best) : '',
    });

    // One device read per step, pipelined: step s's scalars (loss, gradient norm and the
    // task's logged values, packed into one tensor) are read while step s+1 is queued, so a
    // GPU never waits for the host between steps. Nothing inside a step reads the device.
    let pending: PendingStep | undefined;
    let lastLoss = NaN;
    let queued = -1; // the latest step queued on the device
    /** A GPU fault (device lost, WebGPU error) or a wasm heap exhaustion, as an error naming the step and the checkpoint kept. */
    const stopped = (e: unknown): Error | undefined => {
      const what = `training step ${queued}`;
      const fault = webGpuFault();
      if (fault) {
        const ck = fs.existsSync(this.lastCheckpoint) ? ` The last good checkpoint is ${this.lastCheckpoint}.` : ' No checkpoint had been written yet.';
        return new Error(`training stopped at step ${queued}: ${fault}.${ck}`);
      }
      return e === undefined ? undefined : wasmMemoryError(e, what) ?? webGpuError(e, what);
    };
    const settle = async (): Promise<void> => {
      if (!pending) return;
      const p = pending;
      pending = undefined;
      let arrays: Float32Array[];
      try {
        arrays = await p.values;
      } catch (e) {
        throw stopped(e) ?? e;
      }
      const fault = stopped(undefined);
      if (fault) throw fault;
      const [loss, ...rest] = p.keys.map((_, i) => arrays[i][0]);
      // A finite loss with a non-finite gradient norm still makes the update non-finite.
      const gradNorm = rest[rest.length - 1];
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        const kept = fs.existsSync(this.lastCheckpoint);
        const [value, quantity] = Number.isFinite(loss) ? [gradNorm, 'gradient norm' as const] : [loss, 'loss' as const];
        throw new TrainingDivergedError(p.step, value, kept ? this.lastCheckpoint : null, p.lr, kept ? savedStep : undefined, quantity);
      }
      lastLoss = loss;
      const done = p.step + 1;
      if (done % logEvery === 0 || done === o.maxSteps) {
        const logs = Object.fromEntries(p.keys.slice(1).map((k, i) => [k, rest[i]]));
        const now = Date.now();
        this.appendMetrics({ step: done, split: 'train', loss, lr: p.lr, ...logs, steps_per_s: windowSteps / Math.max(1e-9, (now - windowStart) / 1000) });
        windowStart = now;
        windowSteps = 0;
      }
    };

    try {
      while (step < o.maxSteps) {
        if (o.signal?.aborted) {
          status = 'aborted';
          break;
        }
        const next = await iter.next();
        if (next.done) throw new Error(`the batch source ended at step ${step} before maxSteps ${o.maxSteps}`);
        const batch = next.value;
        const ctx: StepContext = { step, rng };
        const lr = schedule(step);
        let keys: string[] = [];
        queued = step;
        let packed: PackedRead;
        try {
          packed = tf.tidy(() => {
            let logTensors: Record<string, tf.Scalar> = {};
            const { value, grads } = tf.variableGrads(() => {
              const r = this.task.loss(batch, ctx);
              // Kept past variableGrads' own tidy; packed below, then released by this tidy.
              logTensors = Object.fromEntries(Object.entries(r.logs ?? {}).map(([k, t]) => [k, tf.keep(t)]));
              return r.loss;
            }, varList);
            const byName = new Map<string, tf.Tensor>();
            for (const [vn, g] of Object.entries(grads)) byName.set(nameOf.get(vn) ?? vn, g);
            // A non-finite loss is caught when this step's scalars are read (settle); the
            // update it produced is never checkpointed, the run stops there.
            const norm = optimizer.step(byName, lr);
            keys = ['loss', ...Object.keys(logTensors), 'grad_norm'];
            const pack = packForRead([value, ...Object.values(logTensors), norm]);
            tf.dispose(Object.values(logTensors));
            return pack as unknown as tf.TensorContainer;
          }) as unknown as PackedRead;
        } catch (e) {
          throw stopped(e) ?? e;
        }
        this.data.disposeBatch?.(batch);
        this.task.afterStep?.(ctx);
        const values = readPacked(packed);
        values.catch(() => undefined); // awaited in settle; never an unhandled rejection meanwhile
        await settle(); // the previous step's scalars, read while this step runs
        pending = { step, lr, keys, values };
        step += 1;
        windowSteps += 1;
        progress.update(step, Number.isFinite(lastLoss) ? lastLoss : undefined); // the loss shown is the last one read (one step behind)
        if (step % o.evalEvery === 0 || step === o.maxSteps) {
          await settle();
          progress.update(step, lastLoss, 'eval', 'evaluating');
          const ev = await this.task.evaluate('valid', { signal: o.signal });
          this.appendMetrics({ step, split: 'valid', score: ev.score, ...ev.metrics });
          if (!best || ev.score > best.score) {
            best = { step, score: ev.score, metrics: ev.metrics };
            await this.saveCheckpoint(this.bestCheckpoint, null, meta());
          }
          await this.saveCheckpoint(this.lastCheckpoint, optimizer, meta());
          savedStep = step;
        }
      }
      await settle();
      if (status === 'aborted') {
        await this.saveCheckpoint(this.lastCheckpoint, optimizer, meta());
      }
    } catch (e) {
      if (e instanceof TrainingDivergedError) {
        const diverged = { status: 'diverged', step: e.step, lr: e.lr ?? null, [e.quantity === 'loss' ? 'loss' : 'grad_norm']: String(e.value), last_checkpoint: e.checkpoint, last_checkpoint_step: e.checkpointStep ?? null };
        await writeFileAtomic(path.join(o.runDir, 'results.json'), `${JSON.stringify(diverged, null, 2)}\n`);
      }
      throw e;
    } finally {
      if (pending) await pending.values.catch(() => undefined);
      progress.stop();
      await this.data.close?.();
    }

    const seconds = (Date.now() - t0) / 1000;
    const result: TrainResult = { status, step, best, runDir: o.runDir, stepsPerSecond: (step - step0) / Math.max(seconds, 1e-9) };
    if (status === 'completed' && !o.skipTest) {
      if (fs.existsSync(this.bestCheckpoint)) await this.loadState(this.bestCheckpoint, null);
      result.test = await this.task.evaluate('test', { signal: o.signal });
      const results = { best_step: best?.step, valid: best?.metrics, valid_score: best?.score, test: result.test.metrics, test_score: result.test.score, steps: step, steps_per_s_last_session: result.stepsPerSecond };
      await writeFileAtomic(path.join(o.runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    }
    optimizer.dispose();
    return result;
  }
}
