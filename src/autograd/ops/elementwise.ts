/**
 * Elementwise ops: forward and backward side by side. Binary ops broadcast (NumPy rules) by
 * reading their operands through strides; their backward sums the gradient back to each shape.
 */
import { emptyF32On, hostToDevice } from '../../tensor/alloc.js';
import { Tensor, type TensorLike } from '../../tensor/tensor.js';
import { Unary, Binary, type UnaryOp, type BinaryOp } from '../../backend/index.js';
import type { Device } from '../../backend/device.js';
import { broadcastShapes, broadcastStrides, numel, sameShape, shapeStr } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { deviceOfAll, kernelsFor } from './device.js';
import { sum } from './reduce.js';

// ------------------------------------------------------------------------------------ unary

function unary(name: string, op: UnaryOp, x: Tensor, p = 0, q = 0): Tensor {
  const be = kernelsFor(x);
  const xd = x.f32(name);
  const yd = emptyF32On(x.device, xd.length);
  be.unary(op, xd, yd, p, q);
  const y = new Tensor(yd, x.shape);
  return record(y, name, [x], (g) => {
    deviceOfAll(`${name} backward`, x, g);
    const gx = emptyF32On(x.device, xd.length);
    be.unaryBackward(op, xd, yd, g.f32(name), gx, p, q);
    return [new Tensor(gx, x.shape)];
  });
}

export const neg = (x: Tensor): Tensor => unary('neg', Unary.neg, x);
export const exp = (x: Tensor): Tensor => unary('exp', Unary.exp, x);
export const log = (x: Tensor): Tensor => unary('log', Unary.log, x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', Unary.sqrt, x);
export const relu = (x: Tensor): Tensor => unary('relu', Unary.relu, x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', Unary.sigmoid, x);
export const tanh = (x: Tensor): Tensor => unary('tanh', Unary.tanh, x);
export const abs = (x: Tensor): Tensor => unary('abs', Unary.abs, x);

export function pow(x: Tensor, p: number): Tensor {
  if (typeof p !== 'number' || Number.isNaN(p)) throw new Error(`pow: the exponent must be a number, got ${String(p)}`);
  return unary('pow', Unary.pow, x, p);
}

/** a*x + b for scalars a and b, in one pass. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  return unary('affine', Unary.affine, x, a, b);
}

// ------------------------------------------------------------------------------------ binary

/** A tensor operand, or a number as a 0-d tensor on `device` (the other operand's). */
function asTensor(op: string, v: TensorLike, device: Device): Tensor {
  if (v instanceof Tensor) return v;
  if (typeof v === 'number') return new Tensor(hostToDevice(device, Float32Array.of(v)), []);
  throw new Error(`${op}: expected a Tensor or a number, got ${typeof v}`);
}

/** out = a (op) b with broadcasting, no graph. */
export function binaryRaw(name: string, op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`${name}: expected float32 tensors, got ${a.dtype} ${shapeStr(a.shape)} and ${b.dtype} ${shapeStr(b.shape)}`);
  }
  const device = deviceOfAll(name, a, b);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = emptyF32On(device, numel(shape));
  const ks = shape.length === 0 ? [1] : shape;
  const as = shape.length === 0 ? [0] : broadcastStrides(a.shape, a.strides, shape);
  const bs = shape.length === 0 ? [0] : broadcastStrides(b.shape, b.strides, shape);
  kernelsFor(a).binary(op, a.data as Float32Array, a.offset, as, b.data as Float32Array, b.offset, bs, out, ks);
  return new Tensor(out, shape);
}

/** Sum a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return sum(g, axes, true).reshape([...shape]);
}

function binary(name: string, op: BinaryOp, aIn: TensorLike, bIn: TensorLike, back: (g: Tensor, a: Tensor, b: Tensor) => [Tensor | null, Tensor | null]): Tensor {
  const device = aIn instanceof Tensor ? aIn.device : bIn instanceof Tensor ? bIn.device : 'cpu';
  const a = asTensor(name, aIn, device);
  const b = asTensor(name, bIn, device);
  const out = binaryRaw(name, op, a, b);
  return record(out, name, [a, b], (g) => {
    const [ga, gb] = back(g, a, b);
    return [ga && a.requiresGrad ? sumToShape(ga, a.shape) : null, gb && b.requiresGrad ? sumToShape(gb, b.shape) : null];
  });
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1, b);
  return binary('add', Binary.add, a, b, (g) => [g, g]);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1, -b);
  return binary('sub', Binary.sub, a, b, (g) => [g, neg(g)]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, b, 0);
  return binary('mul', Binary.mul, a, b, (g, x, y) => [mul(g, y), mul(g, x)]);
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return affine(a, 1 / b, 0);
  return binary('div', Binary.div, a, b, (g, x, y) => [div(g, y), neg(div(mul(g, x), mul(y, y)))]);
}

/** Elementwise maximum; the gradient goes to a where a ≥ b, else to b. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binary('maximum', Binary.max, a, b, (g, x, y) => {
    const mask = geMask(x, y);
    return [mul(g, mask), mul(g, rsub(1, mask))];
  });
}

/** Elementwise minimum; the gradient goes to a where a ≤ b, else to b. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binary('minimum', Binary.min, a, b, (g, x, y) => {
    const mask = geMask(y, x);
    return [mul(g, mask), mul(g, rsub(1, mask))];
  });
}

/** 1 where a ≥ b (broadcast), else 0. No gradient. */
function geMask(a: Tensor, b: Tensor): Tensor {
  return binaryRaw('compare', Binary.ge, a, b);
}

/** 1 where a ≥ b (broadcast; 0 where either is NaN), else 0, as float32. No gradient. */
export function ge(aIn: TensorLike, bIn: TensorLike): Tensor {
  const device = aIn instanceof Tensor ? aIn.device : bIn instanceof Tensor ? bIn.device : 'cpu';
  return geMask(asTensor('ge', aIn, device), asTensor('ge', bIn, device));
}

/** Clamp into [lo, hi]; the gradient is passed where lo < x < hi (and at the bounds, as PyTorch). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (typeof lo !== 'number' || typeof hi !== 'number' || Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) {
    throw new Error(`clamp: expected numbers lo ≤ hi, got ${String(lo)} and ${String(hi)}`);
  }
  return unary('clamp', Unary.clamp, x, lo, hi);
}

// scalar-first forms used by the ops above (e.g. 1 - mask)
export function rsub(a: number, b: Tensor): Tensor {
  return affine(b, -1, a);
}
