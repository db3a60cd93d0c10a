/**
 * The Tensor: a storage on a device plus a strided view (shape, strides, offset), and the autograd
 * fields (requiresGrad, grad, and the node that produced it). Ops live in src/autograd/ops/; the
 * methods here are thin, PyTorch-style entry points to them.
 *
 * Storage: a Float32Array / Int32Array on the CPU (zero-copy, the kernels read it directly), or a
 * CudaStorage on the GPU. Moving between devices is explicit (`to`, `cpu`, `cuda`), and so is
 * reading GPU data back (`dataSync`, `toArray`, `item`): ops never copy behind the user's back, and
 * an op given tensors on two devices is an error naming both.
 */
import { contiguousStrides, numel, shapeStr, checkShape, type Shape } from './shape.js';
import { CudaStorage, cudaFromHost, cudaToHost, keepBlock } from '../backend/cuda/index.js';
import { parseDevice, type Device } from '../backend/device.js';
import type { Node } from '../autograd/engine.js';
import { backward as runBackward } from '../autograd/engine.js';
import * as E from '../autograd/ops/elementwise.js';
import * as R from '../autograd/ops/reduce.js';
import * as S from '../autograd/ops/shaping.js';
import * as M from '../autograd/ops/matmul.js';
import * as X from '../autograd/ops/softmax.js';

export type DType = 'float32' | 'int32';
export type HostStorage = Float32Array | Int32Array;
export type Storage = HostStorage | CudaStorage;
export type TensorLike = Tensor | number;
export type { Device };

export class Tensor {
  /** The storage (see the file comment). Reassigned only in place on leaves: `moveStorage_`, `swapStorage_`. */
  readonly data: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** Whether gradients flow to this tensor. Set on leaves by the user, on op outputs by the tape. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  /** The op that produced this tensor (null for leaves and for tensors built under noGrad). */
  node: Node | null = null;

  constructor(data: Storage, shape: Shape, strides?: readonly number[], offset = 0) {
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = data instanceof Int32Array || (data instanceof CudaStorage && data.dtype === 'int32') ? 'int32' : 'float32';
  }

  /** 'cpu' or 'cuda'. */
  get device(): Device {
    return this.data instanceof CudaStorage ? 'cuda' : 'cpu';
  }

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  get isLeaf(): boolean {
    return this.node === null;
  }

  /** Dense row-major layout starting anywhere in the storage. */
  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i];
    }
    return true;
  }

  /**
   * The elements as a dense storage of exactly `size` elements on the tensor's device, sharing
   * memory when the tensor is already contiguous (do not write into it unless you own the tensor).
   */
  contiguousData(): Storage {
    if (this.isContiguous()) {
      return this.offset === 0 && this.data.length === this.size ? this.data : this.data.subarray(this.offset, this.offset + this.size);
    }
    return S.materialize(this);
  }

  /** Float32 data, dense, on the tensor's device; throws for int32 tensors. */
  f32(op: string): Float32Array | CudaStorage {
    if (this.dtype !== 'float32') throw new Error(`${op}: expected a float32 tensor, got ${this.dtype} with shape ${shapeStr(this.shape)}`);
    return this.contiguousData() as Float32Array | CudaStorage;
  }

  /** Float32 data, dense, on the CPU: the storage itself for a CPU tensor, a copy read back from the GPU otherwise. */
  hostF32(op: string): Float32Array {
    if (this.dtype !== 'float32') throw new Error(`${op}: expected a float32 tensor, got ${this.dtype} with shape ${shapeStr(this.shape)}`);
    return this.dataSync() as Float32Array;
  }

  // ------------------------------------------------------------------ devices
  /**
   * This tensor on `device` ('cpu' or 'cuda'): itself when it is already there, else a copy
   * (gradients flow back through it, like PyTorch's `to`). Moving to 'cuda' without a usable GPU
   * throws a DeviceError that says why.
   */
  to(device: Device | 'cuda:0'): Tensor {
    const d = parseDevice('Tensor.to', device);
    if (d === this.device) return this;
    return S.toDevice(this, d);
  }

  /** The tensor on the CPU (PyTorch's `cpu()`). */
  cpu(): Tensor {
    return this.to('cpu');
  }

  /** The tensor on the GPU (PyTorch's `cuda()`). */
  cuda(): Tensor {
    return this.to('cuda');
  }

  /**
   * The elements as a dense typed array on the CPU (tfjs's `dataSync`): a view of the storage for a
   * contiguous CPU tensor, a copy read back from the GPU (waiting for its kernels) otherwise.
   */
  dataSync(): HostStorage {
    const d = this.contiguousData();
    return d instanceof CudaStorage ? (cudaToHost(d) as HostStorage) : d;
  }

  /** `dataSync()` as a promise, for code written against tfjs's `await t.data()`. */
  async dataAsync(): Promise<HostStorage> {
    return this.dataSync();
  }

  /**
   * Frees the device memory of this tensor's storage now instead of at garbage collection (other
   * tensors that view the same storage become unusable). A no-op on the CPU.
   */
  dispose(): void {
    if (this.data instanceof CudaStorage) this.data.block.dispose();
  }

  /** Whether `dispose()` freed this tensor's device memory. */
  get isDisposed(): boolean {
    return this.data instanceof CudaStorage && this.data.disposed;
  }

  /**
   * Replaces this leaf's storage by the same values on `device`, in place (Module.to: optimisers
   * and user code keep their references to the parameter). Device storages made here are kept
   * out of memory scopes (see tidy).
   */
  moveStorage_(device: Device): void {
    if (this.node !== null) throw new Error(`moveStorage_: only leaf tensors can move in place (${this.toString()})`);
    if (device === this.device) return;
    const host = this.dataSync();
    const next: Storage = device === 'cpu' ? host.slice() : cudaFromHost(host);
    if (next instanceof CudaStorage) keepBlock(next.block);
    (this as { data: Storage }).data = next;
    (this as { strides: readonly number[] }).strides = Object.freeze(contiguousStrides(this.shape));
    (this as { offset: number }).offset = 0;
    if (this.grad !== null) this.grad = null;
  }

  /**
   * Exchanges the storages of two dense leaves of the same shape, dtype and device, in place
   * (ParameterEma runs a module on its averaged weights this way, without copying them).
   */
  swapStorage_(other: Tensor): void {
    for (const t of [this, other]) {
      if (t.node !== null || !t.isContiguous() || t.offset !== 0) throw new Error(`swapStorage_: only dense leaf tensors can swap storages (${t.toString()})`);
    }
    if (this.dtype !== other.dtype || this.device !== other.device || this.size !== other.size || this.shape.some((d, i) => d !== other.shape[i]) || this.ndim !== other.ndim) {
      throw new Error(`swapStorage_: ${this.toString()} and ${other.toString()} differ in shape, dtype or device`);
    }
    const d = this.data;
    (this as { data: Storage }).data = other.data;
    (other as { data: Storage }).data = d;
  }

  // ------------------------------------------------------------------ autograd
  setRequiresGrad(on = true): this {
    if (on && this.dtype !== 'float32') throw new Error(`requiresGrad: only float32 tensors can require gradients (got ${this.dtype})`);
    this.requiresGrad = on;
    return this;
  }

  /** Reverse-mode sweep from this tensor. A non-scalar needs an explicit upstream gradient. */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }

  /** A tensor sharing the data but cut from the graph (PyTorch's detach()). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, this.strides, this.offset);
  }

  /** Drops the gradient (its device memory is freed at once on the GPU). */
  zeroGrad(): void {
    if (this.grad !== null && this.grad.data instanceof CudaStorage) this.grad.data.block.dispose();
    this.grad = null;
  }

  // ------------------------------------------------------------------ reading
  /** Elements as a plain (nested) JS array. */
  toArray(): unknown[] | number {
    const flat = Array.from(this.dataSync());
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, start: number): unknown[] => {
      const n = this.shape[dim];
      if (dim === this.ndim - 1) return flat.slice(start, start + n);
      const inner = numel(this.shape.slice(dim + 1));
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = build(dim + 1, start + i * inner);
      return out;
    };
    return build(0, 0);
  }

  /** Flat copy of the elements in row-major order. */
  toFlatArray(): number[] {
    return Array.from(this.dataSync());
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: expected a tensor with one element, got shape ${shapeStr(this.shape)}`);
    if (this.data instanceof CudaStorage) return this.dataSync()[0]!;
    return this.data[this.offset]!;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${shapeStr(this.shape)}${this.device === 'cpu' ? '' : `, ${this.device}`}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ------------------------------------------------------------------ elementwise
  add(other: TensorLike): Tensor { return E.add(this, other); }
  sub(other: TensorLike): Tensor { return E.sub(this, other); }
  mul(other: TensorLike): Tensor { return E.mul(this, other); }
  div(other: TensorLike): Tensor { return E.div(this, other); }
  neg(): Tensor { return E.neg(this); }
  exp(): Tensor { return E.exp(this); }
  log(): Tensor { return E.log(this); }
  sqrt(): Tensor { return E.sqrt(this); }
  pow(p: number): Tensor { return E.pow(this, p); }
  abs(): Tensor { return E.abs(this); }
  relu(): Tensor { return E.relu(this); }
  sigmoid(): Tensor { return E.sigmoid(this); }
  tanh(): Tensor { return E.tanh(this); }

  // ------------------------------------------------------------------ reductions
  sum(axes?: number | number[], keepdim = false): Tensor { return R.sum(this, axes, keepdim); }
  mean(axes?: number | number[], keepdim = false): Tensor { return R.mean(this, axes, keepdim); }
  max(axis?: number, keepdim = false): Tensor { return R.max(this, axis, keepdim); }
  argmax(axis: number): Tensor { return R.argmax(this, axis); }

  // ------------------------------------------------------------------ linear algebra
  matmul(other: Tensor): Tensor { return M.matmul(this, other); }

  // ------------------------------------------------------------------ shaping
  reshape(...shape: number[] | [number[]]): Tensor { return S.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [number[]]): Tensor { return S.reshape(this, flatArgs(shape)); }
  flatten(startDim = 0): Tensor { return S.flatten(this, startDim); }
  transpose(d0 = -2, d1 = -1): Tensor { return S.transpose(this, d0, d1); }
  get T(): Tensor { return S.transpose(this, -2, -1); }
  permute(...dims: number[] | [number[]]): Tensor { return S.permute(this, flatArgs(dims)); }
  expand(...shape: number[] | [number[]]): Tensor { return S.expand(this, flatArgs(shape)); }
  unsqueeze(axis: number): Tensor { return S.unsqueeze(this, axis); }
  squeeze(axis?: number): Tensor { return S.squeeze(this, axis); }
  slice(axis: number, start: number, end?: number): Tensor { return S.slice(this, axis, start, end); }
  gather(axis: number, index: Tensor): Tensor { return S.gather(this, axis, index); }
  indexSelect(axis: number, index: Tensor | Int32Array | number[]): Tensor { return S.indexSelect(this, axis, index); }
  contiguous(): Tensor { return this.isContiguous() ? this : S.contiguous(this); }
  clone(): Tensor { return S.clone(this); }

  // ------------------------------------------------------------------ softmax
  softmax(axis = -1): Tensor { return X.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return X.logSoftmax(this, axis); }
}

function flatArgs(args: number[] | [number[]]): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}

// -------------------------------------------------------------------- creation

export function tensor(values: number | ArrayLike<number> | unknown[], opts: { dtype?: DType; shape?: Shape; requiresGrad?: boolean; device?: Device } = {}): Tensor {
  let flat: number[];
  let shape: number[];
  if (typeof values === 'number') {
    flat = [values];
    shape = [];
  } else if (ArrayBuffer.isView(values)) {
    flat = Array.from(values as ArrayLike<number>);
    shape = [flat.length];
  } else {
    shape = [];
    let probe: unknown = values;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = probe[0];
    }
    flat = (values as unknown[]).flat(Infinity) as number[];
    if (flat.length !== numel(shape)) throw new Error(`tensor: ragged nested array (expected ${numel(shape)} elements for shape ${shapeStr(shape)}, got ${flat.length})`);
  }
  if (opts.shape) {
    checkShape('tensor', opts.shape);
    if (numel(opts.shape) !== flat.length) throw new Error(`tensor: ${flat.length} values cannot have shape ${shapeStr(opts.shape)}`);
    shape = [...opts.shape];
  }
  const dtype = opts.dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  let data: Storage;
  if (dtype === 'int32') {
    data = new Int32Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`tensor: int32 tensors need integer values, got ${String(v)} at flat index ${i}`);
      data[i] = v;
    }
  } else if (dtype === 'float32') {
    data = new Float32Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== 'number') throw new Error(`tensor: expected numbers, got ${typeof v} at flat index ${i}`);
      data[i] = v;
    }
  } else {
    throw new Error(`tensor: unknown dtype "${String(dtype)}" (expected float32 or int32)`);
  }
  return place(data, shape, opts);
}

/** A new tensor from host data, on opts.device (default 'cpu'). */
function place(data: HostStorage, shape: Shape, opts: { requiresGrad?: boolean; device?: Device }): Tensor {
  const device = opts.device === undefined ? 'cpu' : parseDevice('tensor', opts.device);
  const t = new Tensor(device === 'cpu' ? data : cudaFromHost(data), shape);
  if (opts.requiresGrad) t.setRequiresGrad(true);
  return t;
}

/** Wrap an existing typed array (no copy) with a shape. */
export function fromArray(data: HostStorage | number[], shape?: Shape, opts: { requiresGrad?: boolean; dtype?: DType; device?: Device } = {}): Tensor {
  let storage: HostStorage;
  if (Array.isArray(data)) storage = opts.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data);
  else if (data instanceof Float32Array || data instanceof Int32Array) storage = data;
  else throw new Error(`fromArray: expected a Float32Array, Int32Array or number[], got ${Object.prototype.toString.call(data)}`);
  const s = shape ?? [storage.length];
  checkShape('fromArray', s);
  if (numel(s) !== storage.length) throw new Error(`fromArray: ${storage.length} elements cannot have shape ${shapeStr(s)}`);
  return place(storage, s, opts);
}

export interface CreationOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** 'cpu' (default) or 'cuda'. */
  device?: Device;
}

export function full(shape: Shape, value: number, opts: CreationOptions = {}): Tensor {
  checkShape('full', shape);
  const n = numel(shape);
  const data = opts.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  if (value !== 0) data.fill(value);
  return place(data, shape, opts);
}

export function zeros(shape: Shape, opts: CreationOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: CreationOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device });
}

export function onesLike(t: Tensor): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device });
}

/** [start, end) with step, like torch.arange. Integer arguments give an int32 tensor by default. */
export function arange(start: number, end?: number, step = 1, opts: { dtype?: DType; device?: Device } = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be a non-zero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = opts.dtype ?? (Number.isInteger(start) && Number.isInteger(step) ? 'int32' : 'float32');
  const data = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return place(data, [n], { device: opts.device });
}
