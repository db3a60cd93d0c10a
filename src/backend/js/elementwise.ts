/**
 * Elementwise kernels: unary ops and their backward, broadcast binary ops, strided copy.
 *
 * Every op is selected by a switch outside its loop; the loops themselves only index typed arrays.
 * Values are computed in double and rounded once when stored into the float32 output.
 */
import { Binary, Unary, type BinaryOp, type F32, type I32, type UnaryOp } from '../types.js';
import { checkIntegers, checkLength, checkSameLength, checkStrided, numel } from './check.js';

const MAX_DIMS = 8;

/** Numerically stable logistic function (no overflow of exp for large |z|). */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

// ------------------------------------------------------------------------------------------ unary

export function unary(op: UnaryOp, x: F32, out: F32, p: number, q: number): void {
  checkSameLength('unary', 'out', out, 'x', x);
  const n = x.length;
  switch (op) {
    case Unary.neg:
      for (let i = 0; i < n; i++) out[i] = -x[i]!;
      return;
    case Unary.exp:
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!);
      return;
    case Unary.log:
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]!);
      return;
    case Unary.sqrt:
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]!);
      return;
    case Unary.relu:
      // NaN propagates (NaN < 0 is false).
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = v < 0 ? 0 : v;
      }
      return;
    case Unary.sigmoid:
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        if (v >= 0) {
          out[i] = 1 / (1 + Math.exp(-v));
        } else {
          const e = Math.exp(v);
          out[i] = e / (1 + e);
        }
      }
      return;
    case Unary.tanh:
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]!);
      return;
    case Unary.abs:
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]!);
      return;
    case Unary.pow:
      if (p === 2) {
        for (let i = 0; i < n; i++) {
          const v = x[i]!;
          out[i] = v * v;
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = Math.pow(x[i]!, p);
      }
      return;
    case Unary.affine:
      for (let i = 0; i < n; i++) out[i] = p * x[i]! + q;
      return;
    case Unary.clamp: // NaN passes through (both compares are false)
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = v < p ? p : v > q ? q : v;
      }
      return;
    default:
      throw new Error(`unary: unknown op code ${String(op)}`);
  }
}

export function unaryBackward(op: UnaryOp, x: F32, y: F32, gy: F32, gx: F32, p: number, _q: number): void {
  const n = gy.length;
  checkSameLength('unaryBackward', 'gx', gx, 'gy', gy);
  switch (op) {
    case Unary.neg:
      for (let i = 0; i < n; i++) gx[i] = -gy[i]!;
      return;
    case Unary.exp: // d/dx e^x = y
      checkSameLength('unaryBackward', 'y', y, 'gy', gy);
      for (let i = 0; i < n; i++) gx[i] = gy[i]! * y[i]!;
      return;
    case Unary.log: // 1/x
      checkSameLength('unaryBackward', 'x', x, 'gy', gy);
      for (let i = 0; i < n; i++) gx[i] = gy[i]! / x[i]!;
      return;
    case Unary.sqrt: // 1/(2y)
      checkSameLength('unaryBackward', 'y', y, 'gy', gy);
      for (let i = 0; i < n; i++) gx[i] = gy[i]! / (2 * y[i]!);
      return;
    case Unary.relu: // 1 where x > 0, else 0 (also at x = 0)
      checkSameLength('unaryBackward', 'x', x, 'gy', gy);
      for (let i = 0; i < n; i++) gx[i] = x[i]! > 0 ? gy[i]! : 0;
      return;
    case Unary.sigmoid: // y(1-y)
      checkSameLength('unaryBackward', 'y', y, 'gy', gy);
      for (let i = 0; i < n; i++) {
        const s = y[i]!;
        gx[i] = gy[i]! * s * (1 - s);
      }
      return;
    case Unary.tanh: // 1 - y²
      checkSameLength('unaryBackward', 'y', y, 'gy', gy);
      for (let i = 0; i < n; i++) {
        const t = y[i]!;
        gx[i] = gy[i]! * (1 - t * t);
      }
      return;
    case Unary.abs: // sign(x), 0 at x = 0, NaN at NaN
      checkSameLength('unaryBackward', 'x', x, 'gy', gy);
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const g = gy[i]!;
        gx[i] = v > 0 ? g : v < 0 ? -g : v === 0 ? 0 : NaN;
      }
      return;
    case Unary.pow: // p x^(p-1); exactly 0 when p = 0 (PyTorch), even at x = 0
      checkSameLength('unaryBackward', 'x', x, 'gy', gy);
      if (p === 0) {
        gx.fill(0);
      } else if (p === 1) {
        for (let i = 0; i < n; i++) gx[i] = gy[i]!;
      } else if (p === 2) {
        for (let i = 0; i < n; i++) gx[i] = gy[i]! * 2 * x[i]!;
      } else {
        const pm1 = p - 1;
        for (let i = 0; i < n; i++) gx[i] = gy[i]! * p * Math.pow(x[i]!, pm1);
      }
      return;
    case Unary.affine: // p
      for (let i = 0; i < n; i++) gx[i] = gy[i]! * p;
      return;
    case Unary.clamp: // 1 inside [p, q] (bounds included, as PyTorch), else 0
      checkSameLength('unaryBackward', 'x', x, 'gy', gy);
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        gx[i] = v >= p && v <= _q ? gy[i]! : 0;
      }
      return;
    default:
      throw new Error(`unaryBackward: unknown op code ${String(op)}`);
  }
}

// ------------------------------------------------------------------------- strided iteration

interface Coalesced {
  shape: number[];
  strides: number[][];
}

/**
 * Simplifies an iteration space: drops size-1 dimensions and merges adjacent dimensions that are
 * contiguous with each other in every operand. The result has at least one dimension.
 */
function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Coalesced {
  const k = strides.length;
  const sh: number[] = [];
  const st: number[][] = [];
  for (let j = 0; j < k; j++) st.push([]);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = sh.length - 1;
    let merge = last >= 0;
    for (let j = 0; j < k && merge; j++) {
      if (st[j]![last]! !== strides[j]![d]! * shape[d]!) merge = false;
    }
    if (merge) {
      sh[last] = sh[last]! * shape[d]!;
      for (let j = 0; j < k; j++) st[j]![last] = strides[j]![d]!;
    } else {
      sh.push(shape[d]!);
      for (let j = 0; j < k; j++) st[j]!.push(strides[j]![d]!);
    }
  }
  if (sh.length === 0) {
    sh.push(1);
    for (let j = 0; j < k; j++) st[j]!.push(0);
  }
  return { shape: sh, strides: st };
}

function checkShape(op: string, shape: readonly number[], stridesByName: Record<string, readonly number[]>): void {
  if (shape.length > MAX_DIMS) throw new Error(`${op}: at most ${MAX_DIMS} dimensions, got ${shape.length}`);
  for (let d = 0; d < shape.length; d++) {
    const s = shape[d]!;
    if (!Number.isInteger(s) || s < 0) throw new Error(`${op}: shape[${d}] must be a non-negative integer, got ${s}`);
  }
  for (const name in stridesByName) {
    const st = stridesByName[name]!;
    if (st.length !== shape.length) {
      throw new Error(`${op}: ${name} has ${st.length} entries, needs ${shape.length} (the rank of shape [${shape.join(', ')}])`);
    }
    for (let d = 0; d < st.length; d++) {
      if (!Number.isInteger(st[d])) throw new Error(`${op}: ${name}[${d}] must be an integer, got ${st[d]}`);
    }
  }
}

// ------------------------------------------------------------------------------------------ binary

/** One innermost row of a binary op: `len` elements, a and b strided, out contiguous. */
function binaryRow(
  op: BinaryOp, a: F32, ai: number, as: number, b: F32, bi: number, bs: number, out: F32, oi: number, len: number,
): void {
  const end = oi + len;
  switch (op) {
    case Binary.add:
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! + b[bi]!;
      return;
    case Binary.sub:
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! - b[bi]!;
      return;
    case Binary.mul:
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! * b[bi]!;
      return;
    case Binary.div:
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! / b[bi]!;
      return;
    case Binary.max: // NaN in either operand propagates
      for (; oi < end; oi++, ai += as, bi += bs) {
        const u = a[ai]!;
        const v = b[bi]!;
        out[oi] = u > v || u !== u ? u : v;
      }
      return;
    case Binary.min:
      for (; oi < end; oi++, ai += as, bi += bs) {
        const u = a[ai]!;
        const v = b[bi]!;
        out[oi] = u < v || u !== u ? u : v;
      }
      return;
    case Binary.ge:
      for (; oi < end; oi++, ai += as, bi += bs) out[oi] = a[ai]! >= b[bi]! ? 1 : 0;
      return;
    default:
      throw new Error(`binary: unknown op code ${String(op)}`);
  }
}

export function binary(
  op: BinaryOp,
  a: F32, aOffset: number, aStrides: readonly number[],
  b: F32, bOffset: number, bStrides: readonly number[],
  out: F32, shape: readonly number[],
): void {
  checkShape('binary', shape, { aStrides, bStrides });
  checkIntegers('binary', { aOffset, bOffset });
  const total = numel(shape);
  const detail = `shape [${shape.join(', ')}]`;
  checkLength('binary', 'out', out, total, detail);
  checkStrided('binary', 'a', a, aOffset, shape, aStrides, `${detail}, offset ${aOffset}, strides [${aStrides.join(', ')}]`);
  checkStrided('binary', 'b', b, bOffset, shape, bStrides, `${detail}, offset ${bOffset}, strides [${bStrides.join(', ')}]`);
  if (op < Binary.add || op > Binary.ge) throw new Error(`binary: unknown op code ${String(op)}`);
  if (total === 0) return;

  const outStrides = contiguousStrides(shape);
  const { shape: sh, strides: [aS, bS] } = coalesce(shape, [aStrides, bStrides, outStrides]) as {
    shape: number[];
    strides: [number[], number[], number[]];
  };
  const nd = sh.length;
  const inner = sh[nd - 1]!;
  const ais = aS[nd - 1]!;
  const bis = bS[nd - 1]!;
  const rows = total / inner;
  const idx = new Int32Array(nd);
  let ao = aOffset;
  let bo = bOffset;
  for (let r = 0, oo = 0; r < rows; r++, oo += inner) {
    binaryRow(op, a, ao, ais, b, bo, bis, out, oo, inner);
    for (let d = nd - 2; d >= 0; d--) {
      ao += aS[d]!;
      bo += bS[d]!;
      if (++idx[d]! < sh[d]!) break;
      ao -= aS[d]! * sh[d]!;
      bo -= bS[d]! * sh[d]!;
      idx[d] = 0;
    }
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d]!;
  }
  return st;
}

// ------------------------------------------------------------------------------------------- copy

export function copy<T extends F32 | I32>(
  x: T, xOffset: number, xStrides: readonly number[],
  out: T, outOffset: number, outStrides: readonly number[],
  shape: readonly number[],
): void {
  checkShape('copy', shape, { xStrides, outStrides });
  checkIntegers('copy', { xOffset, outOffset });
  if (x instanceof Float32Array !== out instanceof Float32Array) {
    throw new Error(`copy: x (${x.constructor.name}) and out (${out.constructor.name}) must have the same type`);
  }
  const detail = `shape [${shape.join(', ')}]`;
  checkStrided('copy', 'x', x, xOffset, shape, xStrides, `${detail}, offset ${xOffset}, strides [${xStrides.join(', ')}]`);
  checkStrided('copy', 'out', out, outOffset, shape, outStrides, `${detail}, offset ${outOffset}, strides [${outStrides.join(', ')}]`);
  const total = numel(shape);
  if (total === 0) return;

  const { shape: sh, strides: [xS, oS] } = coalesce(shape, [xStrides, outStrides]) as {
    shape: number[];
    strides: [number[], number[]];
  };
  const nd = sh.length;
  const inner = sh[nd - 1]!;
  const xis = xS[nd - 1]!;
  const ois = oS[nd - 1]!;
  const rows = total / inner;
  // Whole contiguous rows go through TypedArray.set (memmove semantics) when they are long enough.
  const bulk = xis === 1 && ois === 1 && inner >= 32;
  // Both views typed as one array type for the element loop (same element kind by the check above).
  const src = x as unknown as Float32Array;
  const dst = out as unknown as Float32Array;
  const idx = new Int32Array(nd);
  let xo = xOffset;
  let oo = outOffset;
  for (let r = 0; r < rows; r++) {
    if (bulk) {
      dst.set(src.subarray(xo, xo + inner), oo);
    } else {
      for (let i = 0, xi = xo, oi = oo; i < inner; i++, xi += xis, oi += ois) dst[oi] = src[xi]!;
    }
    for (let d = nd - 2; d >= 0; d--) {
      xo += xS[d]!;
      oo += oS[d]!;
      if (++idx[d]! < sh[d]!) break;
      xo -= xS[d]! * sh[d]!;
      oo -= oS[d]! * sh[d]!;
      idx[d] = 0;
    }
  }
}

