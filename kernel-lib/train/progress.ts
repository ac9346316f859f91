/**
 * Progress reporting for long runs: a cli-progress bar (loss, steps/s, ETA)
 * on an interactive terminal, a line every few seconds otherwise, and the
 * same events to a callback (notebooks).
 */
import * as cliProgress from 'cli-progress';

export interface ProgressEvent {
  step: number; // steps done
  total: number;
  loss?: number;
  stepsPerSecond: number;
  etaSeconds: number;
  phase: 'train' | 'eval' | 'done';
  message?: string;
}

export type ProgressCallback = (e: ProgressEvent) => void;

export interface ProgressOptions {
  /** 'bar' (TTY), 'lines', 'none', or 'auto' (bar on a TTY, lines otherwise). Default 'auto'. */
  mode?: 'auto' | 'bar' | 'lines' | 'none';
  label?: string;
  onProgress?: ProgressCallback;
  /** Seconds between lines in 'lines' mode. Default 10. */
  lineInterval?: number;
}

export class Progress {
  private bar?: cliProgress.SingleBar;
  private readonly mode: 'bar' | 'lines' | 'none';
  private lastLine = 0;
  private t0 = Date.now();
  private startStep = 0;

  constructor(private readonly total: number, private readonly opts: ProgressOptions = {}) {
    const m = opts.mode ?? 'auto';
    this.mode = m === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : m;
  }

  start(startStep: number): void {
    this.startStep = startStep;
    this.t0 = Date.now();
    if (this.mode === 'bar') {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${this.opts.label ?? 'train'} [{bar}] {value}/{total} | loss {loss} | {sps} steps/s | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, startStep, { loss: '-', sps: '-' });
    }
  }

  update(step: number, loss?: number, phase: ProgressEvent['phase'] = 'train', message?: string): void {
    const elapsed = (Date.now() - this.t0) / 1000;
    const done = step - this.startStep;
    const sps = elapsed > 0 ? done / elapsed : 0;
    const eta = sps > 0 ? (this.total - step) / sps : Infinity;
    const event: ProgressEvent = { step, total: this.total, loss, stepsPerSecond: sps, etaSeconds: eta, phase, message };
    this.opts.onProgress?.(event);
    if (this.mode === 'bar' && this.bar) {
      this.bar.update(step, { loss: loss === undefined ? '-' : loss.toFixed(4), sps: sps.toFixed(2) });
    } else if (this.mode === 'lines') {
      const now = Date.now();
      if (phase !== 'train' || now - this.lastLine > (this.opts.lineInterval ?? 10) * 1000 || step === this.total) {
        this.lastLine = now;
        const etaText = Number.isFinite(eta) ? `${Math.round(eta)} s` : '?';
        process.stderr.write(
          `[${this.opts.label ?? 'train'}] ${phase} step ${step}/${this.total}` +
            `${loss === undefined ? '' : ` loss ${loss.toFixed(4)}`} ${sps.toFixed(2)} steps/s ETA ${etaText}${message ? ` ${message}` : ''}\n`,
        );
      }
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
