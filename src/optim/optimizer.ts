/**
 * Optimisers with PyTorch semantics: zeroGrad() / step(). The update of each parameter is one
 * fused backend kernel (sgdStep / adamStep). State is saved by name for exact resumption.
 */
import type { Tensor } from '../tensor/tensor.js';
import { kernelsOn, deviceOf, type F32Storage } from '../backend/device.js';
import { CudaStorage, cudaFromHost, cudaToHost, keepBlock } from '../backend/cuda/index.js';
import { shapeStr } from '../tensor/shape.js';

export interface OptimizerState {
  name: string;
  hyper: Record<string, number | boolean>;
  stepCount: number;
  /** per-parameter slots (index of the parameter → slot name → values) */
  slots: Record<string, Float32Array>[];
}

export abstract class Optimizer {
  /** The learning rate used by the next step (schedules write it). */
  lr: number;
  stepCount = 0;
  /** Per-parameter state on the parameter's device (moved with it). */
  protected readonly slots: Record<string, F32Storage>[];

  constructor(readonly params: Tensor[], lr: number) {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`${this.constructor.name}: learning rate must be a finite number ≥ 0, got ${lr}`);
    for (const p of params) {
      if (!p.requiresGrad || p.dtype !== 'float32' || !p.isContiguous() || p.offset !== 0) {
        throw new Error(`${this.constructor.name}: parameters must be dense float32 leaves with requiresGrad (got ${p.toString()})`);
      }
    }
    this.lr = lr;
    this.slots = params.map(() => ({}));
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** One update of every parameter that has a gradient (on the parameter's device). */
  step(): void {
    this.stepCount++;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      if (p.grad === null) continue;
      if (p.grad.device !== p.device) throw new Error(`${this.constructor.name}.step: the gradient of parameter ${i} is on ${p.grad.device}, the parameter on ${p.device}`);
      const g = p.grad.contiguousData();
      if (g.length !== p.size || p.grad.dtype !== 'float32') throw new Error(`${this.constructor.name}.step: gradient ${shapeStr(p.grad.shape)} does not match parameter ${shapeStr(p.shape)}`);
      this.update(i, p.data as F32Storage, g as F32Storage);
    }
  }

  /** The named state of parameter i, zero at first, on the parameter's device. */
  protected slot(i: number, name: string): F32Storage {
    const s = this.slots[i]!;
    const p = this.params[i]!;
    let v = s[name];
    if (v !== undefined && deviceOf(v) !== p.device) v = s[name] = onDevice(p.device === 'cuda', hostCopy(v));
    return (s[name] ??= onDevice(p.device === 'cuda', new Float32Array(p.size)));
  }

  protected kernels(i: number) {
    return kernelsOn(this.params[i]!.device);
  }

  protected abstract update(i: number, param: F32Storage, grad: F32Storage): void;
  abstract hyper(): Record<string, number | boolean>;

  /** The state with host copies of the slots (whatever the device). */
  stateDict(): OptimizerState {
    const slots = this.slots.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Float32Array.from(hostCopy(v))])));
    return { name: this.constructor.name, hyper: this.hyper(), stepCount: this.stepCount, slots };
  }

  loadStateDict(state: OptimizerState): void {
    if (state.name !== this.constructor.name) throw new Error(`${this.constructor.name}.loadStateDict: state is for ${state.name}`);
    if (state.slots.length !== this.params.length) throw new Error(`${this.constructor.name}.loadStateDict: state has ${state.slots.length} parameters, optimiser has ${this.params.length}`);
    this.stepCount = state.stepCount;
    if (typeof state.hyper.lr === 'number') this.lr = state.hyper.lr;
    state.slots.forEach((s, i) => {
      for (const [k, v] of Object.entries(s)) {
        if (v.length !== this.params[i]!.size) throw new Error(`${this.constructor.name}.loadStateDict: slot ${k} of parameter ${i} has ${v.length} values, expected ${this.params[i]!.size}`);
        this.slots[i]![k] = onDevice(this.params[i]!.device === 'cuda', Float32Array.from(v));
      }
    });
  }
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: Tensor[], opts: { lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new Error(`SGD: momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`SGD: weightDecay must be ≥ 0, got ${this.weightDecay}`);
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: nesterov needs momentum > 0');
  }

  protected update(i: number, param: F32Storage, grad: F32Storage): void {
    const first = this.slots[i]!.momentum === undefined;
    const buf = this.momentum > 0 ? this.slot(i, 'momentum') : param instanceof CudaStorage ? null : new Float32Array(0);
    this.kernels(i).sgdStep(param, grad, buf as F32Storage, this.lr, this.momentum, this.weightDecay, this.nesterov, first);
  }

  hyper(): Record<string, number | boolean> {
    return { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov };
  }
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  private readonly steps: number[];

  constructor(params: Tensor[], opts: { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number; decoupled?: boolean }) {
    super(params, opts.lr);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.decoupled = opts.decoupled ?? false;
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) throw new Error(`Adam: betas must be in [0, 1), got ${this.beta1}, ${this.beta2}`);
    this.steps = params.map(() => 0);
  }

  protected update(i: number, param: F32Storage, grad: F32Storage): void {
    const step = ++this.steps[i]!;
    this.kernels(i).adamStep(param, grad, this.slot(i, 'm'), this.slot(i, 'v'), this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, step, this.decoupled);
  }

  hyper(): Record<string, number | boolean> {
    return { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, decoupled: this.decoupled };
  }

  override stateDict(): OptimizerState {
    const s = super.stateDict();
    s.slots.forEach((slot, i) => (slot.step = Float32Array.of(this.steps[i])));
    return s;
  }

  override loadStateDict(state: OptimizerState): void {
    const copy = { ...state, slots: state.slots.map((s) => ({ ...s })) };
    copy.slots.forEach((slot, i) => {
      this.steps[i] = slot.step ? slot.step[0] : 0;
      delete slot.step;
    });
    super.loadStateDict(copy);
  }
}

function hostCopy(v: F32Storage): Float32Array {
  return v instanceof CudaStorage ? (cudaToHost(v) as Float32Array) : v;
}

/** Host values as optimiser state on the device (kept out of memory scopes). */
function onDevice(cuda: boolean, host: Float32Array): F32Storage {
  if (!cuda) return host;
  const s = cudaFromHost(host);
  keepBlock(s.block);
  return s;
}
