/**
 * Kernel interrupts as an AbortSignal, so that a training loop started in a
 * cell stops cooperatively (within one step, with a valid checkpoint).
 *
 * How tslab delivers an interrupt (tslab 1.0.22): the kernel spec has no
 * interrupt_mode, so Jupyter uses "signal" — jupyter_client sends SIGINT to
 * the kernel's process group. tslab's main.js handles it with
 * `process.on("SIGINT", () => executor.interrupt())`, which rejects the
 * promise the running cell is raced against: the cell ends at once with
 * "Interrupted asynchronously", while the cell's async work (a training
 * loop) keeps running in the background. Synchronous code is stopped by
 * `vm.runInThisContext(…, { breakOnSigint: true })`.
 *
 * `cellSignal()` puts a dispatcher in front of tslab's handler: the first
 * interrupt while the cell that created the signal is running aborts the
 * signal and is NOT passed to tslab, so the cell keeps running until the
 * loop has stopped after its current step and written its checkpoint; the
 * notebook helpers then raise an error that ends the cell (and stops "Run
 * all"). A second interrupt goes to tslab as usual (the cell ends at once).
 * Interrupts in other cells reach tslab unchanged.
 *
 * Found the hard way: a SIGINT listener added during a cell's synchronous
 * part (under vm's breakOnSigint) leaves Node's default action installed,
 * and the next interrupt kills the kernel; `cellSignal` installs its
 * dispatcher on the next tick, after that part.
 */
import { currentCellToken } from './display';

interface Entry {
  controller: AbortController;
  cell: unknown;
}

let entries: Entry[] = [];
let originals: ((...a: unknown[]) => void)[] | null = null;

function dispatch(signal: string): void {
  const cell = currentCellToken();
  const live = entries.filter((e) => !e.controller.signal.aborted && e.cell === cell);
  entries = entries.filter((e) => !e.controller.signal.aborted && e.cell === cell);
  if (live.length > 0) {
    process.stderr.write('\n[smear] interrupt: stopping after the current step (a checkpoint is written; interrupt again to stop at once)\n');
    for (const e of live) e.controller.abort(new Error('interrupted'));
    return;
  }
  if (originals && originals.length > 0) {
    for (const f of originals) f(signal);
  } else {
    process.exit(130);
  }
}

function install(): void {
  if (originals) return;
  originals = (process.listeners('SIGINT') as ((...a: unknown[]) => void)[]).filter((f) => f !== dispatch);
  // Add first, then remove: the listener count never drops to 0, so Node keeps its signal handler.
  process.on('SIGINT', dispatch);
  for (const f of originals) process.removeListener('SIGINT', f);
}

/**
 * An AbortSignal aborted by the next interrupt of the kernel (Jupyter's
 * interrupt button, `jupyter_client`'s `interrupt_kernel()`, Ctrl-C outside
 * a kernel) while the current cell runs. Pass it to `trainResNet`/`trainT5`
 * (or the notebook helpers) as `signal`.
 */
export function cellSignal(): AbortSignal {
  // Not now: a cell's synchronous part runs under vm's breakOnSigint, which takes tslab's
  // SIGINT listeners away for its duration and, when it ends, puts Node's default SIGINT
  // action back over any signal handler created meanwhile — a listener added now would
  // leave the kernel to be killed by the next interrupt. After the synchronous part, tslab's
  // listeners are back and a listener added then keeps working.
  process.nextTick(install);
  const controller = new AbortController();
  entries.push({ controller, cell: currentCellToken() });
  return controller.signal;
}

/** Remove the dispatcher and give SIGINT back to tslab (or Node's default). */
export function releaseInterrupts(): void {
  if (!originals) return;
  process.removeListener('SIGINT', dispatch);
  for (const f of originals) process.on('SIGINT', f);
  originals = null;
  entries = [];
}

/** The error notebooks raise after an interrupted run stopped with its checkpoint. */
export class InterruptedRunError extends Error {
  constructor(readonly runDir: string, readonly step: number) {
    super(`interrupted at step ${step}; the checkpoint is ${runDir}/checkpoints/last.safetensors — rerun the cell to resume`);
    this.name = 'Interrupted';
  }
}
