/** Reductions over axes: sum, mean, max (and argmax), each with its backward. */
import { emptyF32On, emptyI32On } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import type { F32Storage, I32Storage } from '../../backend/device.js';
import { kernelsFor } from './device.js';
import { normAxis, numel } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { affine } from './elementwise.js';
import { expand } from './shaping.js';

function normAxes(op: string, x: Tensor, axes?: number | number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, x.ndim)))];
  return out.sort((a, b) => a - b);
}

function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function dropAxes(shape: readonly number[], axes: number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all when omitted) of a float32 tensor, without recording. */
export function sumRaw(x: Tensor, axes: number[]): F32Storage {
  const be = kernelsFor(x);
  let data = x.f32('sum');
  let shape = [...x.shape];
  for (let j = axes.length - 1; j >= 0; j--) {
    const a = axes[j];
    const outer = numel(shape.slice(0, a));
    const mid = shape[a];
    const inner = numel(shape.slice(a + 1));
    const out = emptyF32On(x.device, outer * inner);
    be.reduceSum(data, out, outer, mid, inner);
    data = out;
    shape[a] = 1;
  }
  return data;
}

export function sum(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes('sum', x, axes);
  const keep = keptShape(x.shape, ax);
  const out = new Tensor(sumRaw(x, ax), keepdim ? keep : dropAxes(x.shape, ax));
  return record(out, 'sum', [x], (g) => [expand(g.reshape(keep), [...x.shape])]);
}

export function mean(x: Tensor, axes?: number | number[], keepdim = false): Tensor {
  const ax = normAxes('mean', x, axes);
  let n = 1;
  for (const a of ax) n *= x.shape[a];
  if (n === 0) throw new Error(`mean: cannot average over an empty dimension (shape [${x.shape.join(', ')}])`);
  return affine(sum(x, ax, keepdim), 1 / n, 0);
}

function maxRaw(x: Tensor, axis: number): { values: F32Storage; argmax: I32Storage; outer: number; mid: number; inner: number } {
  const outer = numel(x.shape.slice(0, axis));
  const mid = x.shape[axis];
  const inner = numel(x.shape.slice(axis + 1));
  if (mid === 0) throw new Error(`max: cannot reduce over an empty dimension ${axis} of shape [${x.shape.join(', ')}]`);
  const values = emptyF32On(x.device, outer * inner);
  const argmax = emptyI32On(x.device, outer * inner);
  kernelsFor(x).reduceMax(x.f32('max'), values, argmax, outer, mid, inner);
  return { values, argmax, outer, mid, inner };
}

/** Max over one axis (over all elements when omitted). The gradient goes to the first maximum. */
export function max(x: Tensor, axis?: number, keepdim = false): Tensor {
  if (axis === undefined) {
    const flat = x.reshape([x.size]);
    const m = max(flat, 0, false);
    return keepdim ? m.reshape(x.shape.map(() => 1)) : m;
  }
  const a = normAxis('max', axis, x.ndim);
  const { values, argmax, outer, mid, inner } = maxRaw(x, a);
  const out = new Tensor(values, keepdim ? keptShape(x.shape, [a]) : dropAxes(x.shape, [a]));
  return record(out, 'max', [x], (g) => {
    const gx = emptyF32On(x.device, x.size);
    kernelsFor(x).reduceMaxBackward(g.f32('max backward'), argmax, gx, outer, mid, inner);
    return [new Tensor(gx, x.shape)];
  });
}

/** Index of the first maximum along `axis` (int32, no gradient). */
export function argmax(x: Tensor, axis: number): Tensor {
  const a = normAxis('argmax', axis, x.ndim);
  return new Tensor(maxRaw(x, a).argmax, dropAxes(x.shape, [a]));
}
