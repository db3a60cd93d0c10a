/** Learning-rate schedules: call step() once per epoch (or per iteration), after optimizer.step(). */
import type { Optimizer } from './optimizer.js';

export interface Schedule {
  /** The learning rate for epoch `epoch` (0-based). */
  lrAt(epoch: number): number;
}

/** lr × gamma^(number of milestones ≤ epoch) (PyTorch's MultiStepLR; a single stepSize gives StepLR). */
export class StepSchedule implements Schedule {
  constructor(readonly baseLr: number, readonly opts: { milestones?: number[]; stepSize?: number; gamma?: number }) {
    if (!opts.milestones && !opts.stepSize) throw new Error('StepSchedule: give milestones or stepSize');
    if (opts.stepSize !== undefined && !(Number.isInteger(opts.stepSize) && opts.stepSize > 0)) throw new Error(`StepSchedule: stepSize must be a positive integer, got ${opts.stepSize}`);
  }
  lrAt(epoch: number): number {
    const gamma = this.opts.gamma ?? 0.1;
    const k = this.opts.milestones ? this.opts.milestones.filter((m) => m <= epoch).length : Math.floor(epoch / this.opts.stepSize!);
    return this.baseLr * gamma ** k;
  }
}

/** Cosine annealing from baseLr to minLr over `total` epochs (optionally after a linear warm-up). */
export class CosineSchedule implements Schedule {
  constructor(readonly baseLr: number, readonly total: number, readonly opts: { minLr?: number; warmup?: number } = {}) {
    if (!(Number.isInteger(total) && total > 0)) throw new Error(`CosineSchedule: total must be a positive integer, got ${total}`);
  }
  lrAt(epoch: number): number {
    const min = this.opts.minLr ?? 0;
    const warm = this.opts.warmup ?? 0;
    if (epoch < warm) return this.baseLr * (epoch + 1) / (warm + 1);
    const t = Math.min(1, (epoch - warm) / Math.max(1, this.total - warm));
    return min + (this.baseLr - min) * 0.5 * (1 + Math.cos(Math.PI * t));
  }
}

export class ConstantSchedule implements Schedule {
  constructor(readonly baseLr: number) {}
  lrAt(): number {
    return this.baseLr;
  }
}

/** Set the optimiser's learning rate for an epoch. */
export function applySchedule(opt: Optimizer, schedule: Schedule, epoch: number): void {
  opt.lr = schedule.lrAt(epoch);
}
