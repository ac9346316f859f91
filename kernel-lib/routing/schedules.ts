/**
 * ST-Gumbel temperature schedule, as the reference anneals it
 * (kernel-lib/docs/reference-code.md#gumbel-temperature):
 * τ starts at τ0 = 10 and, whenever (step + 1) % period == 0, becomes
 *   τ ← max(τ · exp(−rate · step), minTemp)
 * — compounding (τ is multiplied by exp(−r·step) each time, not reset to
 * τ0·exp(−r·step)). T5: rate 1e-6, period 5,000 (eval_steps); ResNet: rate
 * 1e-4, period 1,000 (eval_every).
 */
export interface GumbelScheduleOptions {
  tau0?: number;
  minTemp?: number;
  rate?: number;
  period?: number;
}

export class GumbelSchedule {
  readonly tau0: number;
  readonly minTemp: number;
  readonly rate: number;
  readonly period: number;

  static readonly T5 = { tau0: 10, minTemp: 0.5, rate: 1e-6, period: 5000 };
  static readonly RESNET = { tau0: 10, minTemp: 0.5, rate: 1e-4, period: 1000 };

  constructor(opts: GumbelScheduleOptions = GumbelSchedule.RESNET) {
    this.tau0 = opts.tau0 ?? 10;
    this.minTemp = opts.minTemp ?? 0.5;
    this.rate = opts.rate ?? 1e-4;
    this.period = opts.period ?? 1000;
    if (!(this.period >= 1 && Number.isInteger(this.period))) throw new Error(`GumbelSchedule: period must be an integer >= 1, got ${this.period}`);
    if (!(this.tau0 > 0 && this.minTemp > 0)) throw new Error('GumbelSchedule: tau0 and minTemp must be positive');
  }

  /** τ in force during training step `step` (0-based): after every anneal at steps < step. */
  temperatureAt(step: number): number {
    let tau = this.tau0;
    for (let s = this.period - 1; s < step; s += this.period) {
      tau = Math.max(tau * Math.exp(-this.rate * s), this.minTemp);
    }
    return tau;
  }
}
