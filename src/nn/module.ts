/**
 * Module: PyTorch-style containers of parameters. Parameters are float32 leaf tensors with
 * requiresGrad; sub-modules and parameters are discovered from the module's own properties, so a
 * layer only assigns them in its constructor. Buffers (e.g. batch-norm running statistics) are
 * registered explicitly and saved with the parameters in the state dict.
 */
import { Tensor, type Device } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import { parseDevice } from '../backend/device.js';
import { CudaStorage, cudaUpload } from '../backend/cuda/index.js';

export abstract class Module {
  training = true;
  private readonly _buffers = new Map<string, Tensor>();

  abstract forward(...inputs: Tensor[]): unknown;

  /** Named child modules (own properties that are modules or arrays of modules). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) value.forEach((v, i) => v instanceof Module && out.push([`${key}.${i}`, v]));
    }
    return out;
  }

  /** Own parameters: own properties holding tensors that require grad. */
  private ownParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Tensor && value.requiresGrad) out.push([key, value]);
    }
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = this.ownParameters().map(([k, t]) => [prefix + k, t]);
    for (const [name, child] of this.namedChildren()) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** A named state tensor saved with the parameters (no gradient), e.g. running statistics. */
  protected registerBuffer(name: string, data: Float32Array): Tensor {
    const t = new Tensor(data, [data.length]);
    this._buffers.set(name, t);
    return t;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this._buffers].map(([k, b]) => [prefix + k, b]);
    for (const [name, child] of this.namedChildren()) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /**
   * Moves every parameter and buffer to `device` in place (PyTorch's `module.to`): the tensors
   * keep their identity, so an optimiser built before still updates them. Returns this.
   */
  to(device: Device | 'cuda:0'): this {
    const d = parseDevice(`${this.constructor.name}.to`, device);
    for (const [, p] of this.namedParameters()) p.moveStorage_(d);
    for (const [, b] of this.namedBuffers()) b.moveStorage_(d);
    return this;
  }

  /** The device of the parameters ('cpu' for a module without any). */
  get device(): Device {
    const p = this.parameters()[0];
    return p ? p.device : 'cpu';
  }

  /** Set training mode recursively (dropout, batch norm). */
  train(on = true): this {
    this.training = on;
    for (const [, child] of this.namedChildren()) child.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** Parameters and buffers by name, as float32 arrays with shapes (host copies, whatever the device). */
  stateDict(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const copy = (t: Tensor) => (t.device === 'cpu' ? Float32Array.from(t.dataSync() as Float32Array) : (t.dataSync() as Float32Array));
    for (const [name, p] of this.namedParameters()) out[name] = { shape: [...p.shape], data: copy(p) };
    for (const [name, b] of this.namedBuffers()) out[name] = { shape: [...b.shape], data: copy(b) };
    return out;
  }

  /** Copy values into the parameters and buffers, in place. Every entry must be present and match. */
  loadStateDict(state: Record<string, { shape: readonly number[]; data: Float32Array }>): void {
    const expected = new Set<string>();
    for (const [name, p] of this.namedParameters()) {
      expected.add(name);
      const s = state[name];
      if (!s) throw new Error(`loadStateDict: missing parameter "${name}" ${shapeStr(p.shape)}`);
      if (s.data.length !== p.size || s.shape.length !== p.ndim || s.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`loadStateDict: parameter "${name}" has shape ${shapeStr(s.shape)} but the model expects ${shapeStr(p.shape)}`);
      }
      if (!p.isContiguous() || p.offset !== 0) throw new Error(`loadStateDict: parameter "${name}" is not a dense tensor`);
      writeInto(p, s.data);
    }
    for (const [name, b] of this.namedBuffers()) {
      expected.add(name);
      const s = state[name];
      if (!s) throw new Error(`loadStateDict: missing buffer "${name}" [${b.size}]`);
      if (s.data.length !== b.size) throw new Error(`loadStateDict: buffer "${name}" has ${s.data.length} values but the model expects ${b.size}`);
      writeInto(b, s.data);
    }
    const extra = Object.keys(state).filter((k) => !expected.has(k));
    if (extra.length > 0) throw new Error(`loadStateDict: unexpected entries ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`);
  }
}

/** Copies host values into a dense tensor's storage on its device, in place. */
function writeInto(t: Tensor, values: Float32Array): void {
  if (t.data instanceof CudaStorage) cudaUpload(t.data.subarray(t.offset, t.offset + t.size), values);
  else (t.data as Float32Array).set(values, t.offset);
}
