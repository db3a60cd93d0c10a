/**
 * Shaping ops. reshape, transpose, permute, expand, squeeze and slice are views (no copy) where
 * the layout allows; kernels that need dense data materialise them with the strided copy kernel.
 */
import { emptyF32On, emptyI32On, hostToDevice, zerosF32On } from '../../tensor/alloc.js';
import { Tensor, type Storage } from '../../tensor/tensor.js';
import { CudaStorage, cudaFromHost, cudaToHost } from '../../backend/cuda/index.js';
import type { Device, F32Storage } from '../../backend/device.js';
import { contiguousStrides, normAxis, numel, shapeStr, checkShape } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { deviceOfAll, kernelsFor } from './device.js';
import { sumToShape } from './elementwise.js';

/** A dense copy of any view (no graph), on the tensor's device. */
export function materialize(t: Tensor): Storage {
  const out: Storage = t.dtype === 'int32' ? emptyI32On(t.device, t.size) : emptyF32On(t.device, t.size);
  if (t.size === 0) return out;
  if (t.ndim === 0) {
    kernelsFor(t).copy(t.data as F32Storage, t.offset, [0], out as F32Storage, 0, [1], [1]);
    return out;
  }
  kernelsFor(t).copy(t.data as F32Storage, t.offset, t.strides, out as F32Storage, 0, contiguousStrides(t.shape), t.shape);
  return out;
}

/** x on another device (a copy; the gradient goes back to x's device). */
export function toDevice(x: Tensor, device: Device): Tensor {
  const dense = x.contiguousData();
  let data: Storage;
  if (dense instanceof CudaStorage) data = device === 'cuda' ? dense : (cudaToHost(dense) as Float32Array | Int32Array);
  else data = device === 'cpu' ? dense : cudaFromHost(dense);
  const out = new Tensor(data, x.shape);
  return record(out, 'to', [x], (g) => [toDevice(g, x.device)]);
}

function view(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(x.data, shape, strides, offset);
}

export function contiguous(x: Tensor): Tensor {
  const out = new Tensor(materialize(x), x.shape);
  return record(out, 'contiguous', [x], (g) => [g]);
}

export function clone(x: Tensor): Tensor {
  const out = new Tensor(materialize(x), x.shape);
  return record(out, 'clone', [x], (g) => [g]);
}

export function reshape(x: Tensor, shape: number[]): Tensor {
  const target = [...shape];
  const infer = target.indexOf(-1);
  if (infer !== target.lastIndexOf(-1)) throw new Error(`reshape: only one dimension can be -1, got ${shapeStr(shape)}`);
  if (infer >= 0) {
    const rest = numel(target.filter((_, i) => i !== infer));
    if (rest === 0 || x.size % rest !== 0) throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) into ${shapeStr(shape)}`);
    target[infer] = x.size / rest;
  }
  checkShape('reshape', target);
  if (numel(target) !== x.size) throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) into ${shapeStr(shape)}`);
  const out = x.isContiguous()
    ? view(x, target, contiguousStrides(target), x.offset)
    : new Tensor(materialize(x), target);
  return record(out, 'reshape', [x], (g) => [reshape(g, [...x.shape])]);
}

export function flatten(x: Tensor, startDim = 0): Tensor {
  const s = normAxis('flatten', startDim, x.ndim);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s))]);
}

export function permute(x: Tensor, dims: number[]): Tensor {
  if (dims.length !== x.ndim) throw new Error(`permute: expected ${x.ndim} dimensions for shape ${shapeStr(x.shape)}, got [${dims.join(', ')}]`);
  const d = dims.map((a) => normAxis('permute', a, x.ndim));
  if (new Set(d).size !== d.length) throw new Error(`permute: repeated dimension in [${dims.join(', ')}]`);
  const out = view(x, d.map((a) => x.shape[a]), d.map((a) => x.strides[a]), x.offset);
  const inverse = new Array<number>(d.length);
  d.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normAxis('transpose', d0, x.ndim);
  const b = normAxis('transpose', d1, x.ndim);
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Broadcast view to a larger shape (stride 0 on the broadcast dimensions). */
export function expand(x: Tensor, shape: number[]): Tensor {
  if (shape.length < x.ndim) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to fewer dimensions ${shapeStr(shape)}`);
  const lead = shape.length - x.ndim;
  const strides = new Array<number>(shape.length).fill(0);
  const target = [...shape];
  for (let i = 0; i < x.ndim; i++) {
    const want = target[i + lead] === -1 ? x.shape[i] : target[i + lead];
    target[i + lead] = want;
    if (x.shape[i] === want) strides[i + lead] = x.strides[i];
    else if (x.shape[i] !== 1) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  }
  checkShape('expand', target);
  const out = view(x, target, strides, x.offset);
  return record(out, 'expand', [x], (g) => [sumToShape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis('squeeze', axis, x.ndim);
  if (x.shape[a] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** x[..., start:end, ...] along one axis (a view). Negative indices count from the end. */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const a = normAxis('slice', axis, x.ndim);
  const n = x.shape[a];
  let s = start < 0 ? start + n : start;
  let e = end === undefined ? n : end < 0 ? end + n : end;
  if (!Number.isInteger(s) || !Number.isInteger(e)) throw new Error(`slice: start and end must be integers, got ${start} and ${end}`);
  s = Math.min(Math.max(s, 0), n);
  e = Math.min(Math.max(e, s), n);
  const shape = [...x.shape];
  shape[a] = e - s;
  const out = view(x, shape, x.strides, x.offset + s * x.strides[a]);
  return record(out, 'slice', [x], (g) => {
    const gx = zerosF32On(x.device, x.size);
    const gs = contiguousStrides(x.shape);
    if (g.size > 0) kernelsFor(x).copy(g.data as F32Storage, g.offset, g.strides, gx, s * gs[a]!, gs, g.shape);
    return [new Tensor(gx, x.shape)];
  });
}

/** Concatenate along an axis; all other dimensions must match. */
export function concat(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: expected at least one tensor');
  const first = tensors[0];
  const a = normAxis('concat', axis, first.ndim);
  let total = 0;
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.dtype !== first.dtype || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(`concat: shapes ${tensors.map((u) => `${u.dtype}${shapeStr(u.shape)}`).join(', ')} do not match outside axis ${a}`);
    }
    total += t.shape[a];
  }
  const device = deviceOfAll('concat', ...tensors);
  const shape = [...first.shape];
  shape[a] = total;
  const os = contiguousStrides(shape);
  const out: Storage = first.dtype === 'int32' ? emptyI32On(device, numel(shape)) : emptyF32On(device, numel(shape));
  let at = 0;
  for (const t of tensors) {
    if (t.size > 0) kernelsFor(t).copy(t.data as F32Storage, t.offset, t.strides, out as F32Storage, at * os[a]!, os, t.shape);
    at += t.shape[a]!;
  }
  const result = new Tensor(out, shape);
  return record(result, 'concat', tensors, (g) => {
    let pos = 0;
    return tensors.map((t) => {
      const part = slice(g, a, pos, pos + t.shape[a]);
      pos += t.shape[a];
      return part;
    });
  });
}

export function stack(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected at least one tensor');
  const a = normAxis('stack', axis, tensors[0].ndim + 1);
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** The index as host data (an index tensor on the GPU is read back: offsets are computed here). */
function indexData(op: string, index: Tensor | Int32Array | number[]): { data: Int32Array; shape: readonly number[] } {
  if (index instanceof Tensor) {
    if (index.dtype !== 'int32') throw new Error(`${op}: the index must be an int32 tensor, got ${index.dtype}`);
    return { data: index.dataSync() as Int32Array, shape: index.shape };
  }
  const data = index instanceof Int32Array ? index : Int32Array.from(index);
  return { data, shape: [data.length] };
}

/**
 * PyTorch's gather: out has the index's shape and out[..i_axis..] = x[..index[..]..] along `axis`.
 * The index must have x's number of dimensions and fit inside x on the other axes.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis('gather', axis, x.ndim);
  const { data: idx, shape } = indexData('gather', index);
  if (shape.length !== x.ndim || shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new Error(`gather: index of shape ${shapeStr(shape)} does not fit input ${shapeStr(x.shape)} along axis ${a}`);
  }
  const xStr = contiguousStrides(x.shape);
  const n = numel(shape);
  const outer = numel(shape.slice(0, a));
  const mid = shape[a];
  const inner = numel(shape.slice(a + 1));
  const innerX = numel(x.shape.slice(a + 1));
  const offsets = new Int32Array(n);
  const limit = x.shape[a];
  // Offsets into x: decompose the outer index over x's leading dims and the inner over trailing dims.
  for (let o = 0, k = 0; o < outer; o++) {
    let rem = o;
    let base = 0;
    for (let d = a - 1; d >= 0; d--) {
      base += (rem % shape[d]) * xStr[d];
      rem = Math.floor(rem / shape[d]);
    }
    for (let m = 0; m < mid; m++) {
      for (let i = 0; i < inner; i++, k++) {
        const j = idx[k];
        if (j < 0 || j >= limit) throw new Error(`gather: index ${j} is out of range for axis ${a} of size ${limit} (input ${shapeStr(x.shape)})`);
        let r = i;
        let off = 0;
        for (let d = x.ndim - 1; d > a; d--) {
          off += (r % shape[d]) * xStr[d];
          r = Math.floor(r / shape[d]);
        }
        offsets[k] = base + j * innerX + off;
      }
    }
  }
  return takeAt('gather', x, offsets, shape);
}

/** out (of `shape`) = the dense x at `offsets`; the backward scatter-adds. */
function takeAt(op: string, x: Tensor, offsets: Int32Array, shape: readonly number[]): Tensor {
  if (x.dtype === 'int32') {
    const xs = x.dataSync() as Int32Array;
    const out = new Int32Array(offsets.length);
    for (let k = 0; k < offsets.length; k++) out[k] = xs[offsets[k]!]!;
    return new Tensor(hostToDevice(x.device, out), shape);
  }
  const be = kernelsFor(x);
  const idx = hostToDevice(x.device, offsets);
  const out = emptyF32On(x.device, offsets.length);
  be.take(x.f32(op), idx, out);
  return record(new Tensor(out, shape), op, [x], (g) => {
    const gx = zerosF32On(x.device, x.size);
    be.putAdd(g.f32(`${op} backward`), idx, gx);
    return [new Tensor(gx, x.shape)];
  });
}

/** Select entries along an axis by a list of indices (torch.index_select). */
export function indexSelect(x: Tensor, axis: number, index: Tensor | Int32Array | number[]): Tensor {
  const a = normAxis('indexSelect', axis, x.ndim);
  const { data: idx, shape: ishape } = indexData('indexSelect', index);
  if (ishape.length !== 1) throw new Error(`indexSelect: the index must be 1-D, got shape ${shapeStr(ishape)}`);
  const outer = numel(x.shape.slice(0, a));
  const n = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  for (let k = 0; k < idx.length; k++) {
    if (!(idx[k] >= 0 && idx[k] < n)) throw new Error(`indexSelect: index ${idx[k]} is out of range for axis ${a} of size ${n} (input ${shapeStr(x.shape)})`);
  }
  const offsets = new Int32Array(outer * idx.length * inner);
  for (let o = 0, at = 0; o < outer; o++) {
    for (let k = 0; k < idx.length; k++) {
      const src = (o * n + idx[k]!) * inner;
      for (let i = 0; i < inner; i++) offsets[at++] = src + i;
    }
  }
  const shape = [...x.shape];
  shape[a] = idx.length;
  return takeAt('indexSelect', x, offsets, shape);
}
