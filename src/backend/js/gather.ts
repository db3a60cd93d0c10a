/** Gathers and scatters by element index, fill and axpby: small kernels of the device-agnostic ops. */
import type { F32, I32 } from '../types.js';
import { checkSameLength } from './check.js';

function checkIndex(op: string, idx: I32, n: number): void {
  for (let k = 0; k < idx.length; k++) {
    const j = idx[k]!;
    if (!(j >= 0 && j < n)) throw new Error(`${op}: index ${j} at position ${k} is out of range [0, ${n})`);
  }
}

export function take(x: F32, idx: I32, out: F32): void {
  checkSameLength('take', 'out', out, 'idx', idx);
  checkIndex('take', idx, x.length);
  for (let k = 0; k < idx.length; k++) out[k] = x[idx[k]!]!;
}

export function putAdd(g: F32, idx: I32, gx: F32): void {
  checkSameLength('putAdd', 'g', g, 'idx', idx);
  checkIndex('putAdd', idx, gx.length);
  for (let k = 0; k < idx.length; k++) gx[idx[k]!] = gx[idx[k]!]! + g[k]!;
}

export function putValue(x: F32, idx: I32, value: number): void {
  checkIndex('putValue', idx, x.length);
  for (let k = 0; k < idx.length; k++) x[idx[k]!] = value;
}

export function fill(x: F32, value: number): void {
  x.fill(value);
}

export function axpby(x: F32, y: F32, a: number, b: number): void {
  checkSameLength('axpby', 'y', y, 'x', x);
  for (let i = 0; i < x.length; i++) y[i] = a * y[i]! + b * x[i]!;
}
