/** Reductions over the middle axis of x viewed as [outer, mid, inner]. */
import type { F32, I32 } from '../types.js';
import { checkLength, checkSizes } from './check.js';

function checkReduce(op: string, x: F32, out: F32, outer: number, mid: number, inner: number): string {
  checkSizes(op, { outer, mid, inner });
  const detail = `outer=${outer} mid=${mid} inner=${inner}`;
  checkLength(op, 'x', x, outer * mid * inner, detail);
  checkLength(op, 'out', out, outer * inner, detail);
  return detail;
}

/** out[o*inner + i] = Σ_m x[(o*mid + m)*inner + i], accumulated in double. */
export function reduceSum(x: F32, out: F32, outer: number, mid: number, inner: number): void {
  checkReduce('reduceSum', x, out, outer, mid, inner);
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * mid;
      for (let m = 0; m < mid; m++) s += x[base + m]!;
      out[o] = s;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let base = o * mid * inner;
    for (let m = 0; m < mid; m++, base += inner) {
      for (let i = 0; i < inner; i++) acc[i]! += x[base + i]!;
    }
    const ob = o * inner;
    for (let i = 0; i < inner; i++) out[ob + i] = acc[i]!;
  }
}

/**
 * Max over the middle axis; argmax = the m of the first maximum. NaN counts as larger than
 * everything, so the first NaN wins and propagates.
 */
export function reduceMax(x: F32, out: F32, argmax: I32, outer: number, mid: number, inner: number): void {
  const detail = checkReduce('reduceMax', x, out, outer, mid, inner);
  checkLength('reduceMax', 'argmax', argmax, outer * inner, detail);
  if (outer * inner === 0) return;
  if (mid === 0) throw new Error(`reduceMax: cannot take the max over an empty axis (${detail})`);
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const base = o * mid;
      let best = x[base]!;
      let bi = 0;
      if (best === best) {
        for (let m = 1; m < mid; m++) {
          const v = x[base + m]!;
          if (v > best) {
            best = v;
            bi = m;
          } else if (v !== v) {
            best = v;
            bi = m;
            break;
          }
        }
      }
      out[o] = best;
      argmax[o] = bi;
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    const ob = o * inner;
    let base = o * mid * inner;
    for (let i = 0; i < inner; i++) {
      out[ob + i] = x[base + i]!;
      argmax[ob + i] = 0;
    }
    base += inner;
    for (let m = 1; m < mid; m++, base += inner) {
      for (let i = 0; i < inner; i++) {
        const v = x[base + i]!;
        const best = out[ob + i]!;
        // Strictly larger replaces; a NaN replaces unless a NaN is already held (first NaN wins).
        if (v > best || (v !== v && best === best)) {
          out[ob + i] = v;
          argmax[ob + i] = m;
        }
      }
    }
  }
}

export function reduceMaxBackward(gy: F32, argmax: I32, gx: F32, outer: number, mid: number, inner: number): void {
  const op = 'reduceMaxBackward';
  checkLength(op, 'gy', gy, outer * inner, `outer=${outer} inner=${inner}`);
  checkLength(op, 'argmax', argmax, outer * inner, `outer=${outer} inner=${inner}`);
  checkLength(op, 'gx', gx, outer * mid * inner, `outer=${outer} mid=${mid} inner=${inner}`);
  gx.fill(0);
  for (let r = 0; r < argmax.length; r++) {
    const o = Math.floor(r / inner);
    const i = r - o * inner;
    const m = argmax[r]!;
    if (!(m >= 0 && m < mid)) throw new Error(`${op}: argmax ${m} at ${r} is out of range [0, ${mid})`);
    gx[(o * mid + m) * inner + i] = gy[r]!;
  }
}
