/**
 * An exponential moving average of a module's parameters (the "mean teacher" of Tarvainen &
 * Valpola 2017; torch.optim.swa_utils.AveragedModel with an EMA). After every `update()`:
 *
 *   θ̄ ← decay · θ̄ + (1 − decay) · θ        (θ̄ starts as a copy of θ)
 *
 * `run(fn)` evaluates fn with θ̄ in the module's place, in eval mode and without gradients, then
 * puts θ back: the storages are swapped, not copied, so a graph built on θ before stays valid.
 * Buffers (batch-norm running statistics) are not averaged: the module's own are used.
 */
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { kernelsOn, type F32Storage } from '../backend/device.js';
import { shapeStr } from '../tensor/shape.js';

export class ParameterEma {
  private readonly params: [string, Tensor][];
  /** θ̄, one dense leaf per parameter, on the parameter's device. */
  private readonly averaged: Tensor[];

  /**
   * @param module the module whose parameters are averaged (its parameter set must not change)
   * @param decay  weight of the old average per update, in [0, 1)
   */
  constructor(readonly module: Module, readonly decay: number) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`ParameterEma: decay must be in [0, 1), got ${decay}`);
    this.params = module.namedParameters();
    if (this.params.length === 0) throw new Error('ParameterEma: the module has no parameters');
    this.averaged = this.params.map(([, p]) => leafCopy(p.dataSync() as Float32Array, p));
  }

  /** θ̄ ← decay·θ̄ + (1 − decay)·θ, on the parameters' device. */
  update(): void {
    this.params.forEach(([, p], i) => kernelsOn(p.device).axpby(p.data as F32Storage, this.averagedAt(i).data as F32Storage, this.decay, 1 - this.decay));
  }

  /** fn() with θ̄ in the module, in eval mode, under noGrad; the module is restored even if fn throws. */
  run<T>(fn: () => T): T {
    const wasTraining = this.module.training;
    this.swap();
    this.module.eval();
    try {
      return noGrad(fn);
    } finally {
      this.swap();
      this.module.train(wasTraining);
    }
  }

  /** θ̄ by parameter name (host copies). */
  stateDict(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    this.params.forEach(([name], i) => (out[name] = Float32Array.from(this.averaged[i]!.dataSync() as Float32Array)));
    return out;
  }

  /** Sets θ̄ from `stateDict()` values; every parameter must be present with its size. */
  loadStateDict(state: Record<string, Float32Array>): void {
    const known = new Set(this.params.map(([name]) => name));
    const extra = Object.keys(state).filter((k) => !known.has(k));
    if (extra.length > 0) throw new Error(`ParameterEma.loadStateDict: unexpected entries ${extra.slice(0, 5).join(', ')}`);
    const next = this.params.map(([name, p]) => {
      const v = state[name];
      if (!v) throw new Error(`ParameterEma.loadStateDict: missing parameter "${name}" ${shapeStr(p.shape)}`);
      if (v.length !== p.size) throw new Error(`ParameterEma.loadStateDict: parameter "${name}" has ${v.length} values, expected ${p.size} ${shapeStr(p.shape)}`);
      return v;
    });
    // all checked before any is written
    next.forEach((v, i) => {
      this.averaged[i]!.dispose();
      this.averaged[i] = leafCopy(v, this.params[i]![1]);
    });
  }

  /** θ̄ of parameter i, moved first to where the parameter is (θ̄ follows a module that moved). */
  private averagedAt(i: number): Tensor {
    const a = this.averaged[i]!;
    const device = this.params[i]![1].device;
    if (a.device !== device) a.moveStorage_(device);
    return a;
  }

  private swap(): void {
    this.params.forEach(([, p], i) => p.swapStorage_(this.averagedAt(i)));
  }
}

/** A dense leaf holding a copy of `values`, shaped and placed like `like`. */
function leafCopy(values: Float32Array, like: Tensor): Tensor {
  const t = new Tensor(Float32Array.from(values), like.shape);
  t.moveStorage_(like.device);
  return t;
}
