/**
 * 2-D max and average pooling on NCHW data (square window k, stride, zero/-∞ padding).
 *
 * Output (oy, ox) covers input rows oy*stride - pad + [0, k) and columns ox*stride - pad + [0, k),
 * clipped to the image. Max pooling treats padding as -∞ (so it never wins: only in-image cells can
 * be the argmax; a window made only of padding gives -∞ and argmax -1, which the backward skips).
 * Average pooling divides by k*k whatever the padding (count_include_pad = true).
 */
import type { F32, I32, PoolGeom } from '../types.js';
import { checkLength, checkSizes } from './check.js';

function checkGeom(op: string, g: PoolGeom): string {
  checkSizes(op, { n: g.n, c: g.c, h: g.h, w: g.w, k: g.k, pad: g.pad, oh: g.oh, ow: g.ow });
  const d = `n=${g.n} c=${g.c} h=${g.h} w=${g.w} k=${g.k} stride=${g.stride} pad=${g.pad} oh=${g.oh} ow=${g.ow}`;
  if (!Number.isInteger(g.stride) || g.stride < 1) throw new Error(`${op}: stride must be a positive integer (${d})`);
  if (g.k < 1) throw new Error(`${op}: window must be at least 1×1 (${d})`);
  const eh = Math.floor((g.h + 2 * g.pad - g.k) / g.stride) + 1;
  const ew = Math.floor((g.w + 2 * g.pad - g.k) / g.stride) + 1;
  if (g.oh !== eh || g.ow !== ew || eh < 1 || ew < 1) {
    throw new Error(`${op}: output size ${g.oh}×${g.ow} does not match the geometry, expected ${eh}×${ew} (${d})`);
  }
  return d;
}

export function maxPool2dForward(x: F32, out: F32, argmax: I32, g: PoolGeom): void {
  const op = 'maxPool2dForward';
  const d = checkGeom(op, g);
  const { h, w, k, stride, pad, oh, ow } = g;
  const planes = g.n * g.c;
  checkLength(op, 'x', x, planes * h * w, d);
  checkLength(op, 'out', out, planes * oh * ow, d);
  checkLength(op, 'argmax', argmax, planes * oh * ow, d);
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < ow; ox++, o++) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        let best = -Infinity;
        let bi = -1;
        scan: for (let y = y0; y < y1; y++) {
          const row = y * w;
          for (let xx = x0; xx < x1; xx++) {
            const v = x[base + row + xx]!;
            if (v > best || bi < 0) {
              best = v;
              bi = row + xx;
            }
            if (v !== v) {
              // NaN is the maximum: the first one wins and ends the scan.
              best = v;
              bi = row + xx;
              break scan;
            }
          }
        }
        out[o] = best;
        argmax[o] = bi;
      }
    }
  }
}

export function maxPool2dBackward(gy: F32, argmax: I32, gx: F32, g: PoolGeom): void {
  const op = 'maxPool2dBackward';
  const d = checkGeom(op, g);
  const hw = g.h * g.w;
  const ohw = g.oh * g.ow;
  const planes = g.n * g.c;
  checkLength(op, 'gy', gy, planes * ohw, d);
  checkLength(op, 'argmax', argmax, planes * ohw, d);
  checkLength(op, 'gx', gx, planes * hw, d);
  gx.fill(0);
  for (let pl = 0, o = 0; pl < planes; pl++) {
    const base = pl * hw;
    for (let i = 0; i < ohw; i++, o++) {
      const a = argmax[o]!;
      if (a >= 0 && a < hw) gx[base + a]! += gy[o]!;
    }
  }
}

export function avgPool2dForward(x: F32, out: F32, g: PoolGeom): void {
  const op = 'avgPool2dForward';
  const d = checkGeom(op, g);
  const { h, w, k, stride, pad, oh, ow } = g;
  const planes = g.n * g.c;
  checkLength(op, 'x', x, planes * h * w, d);
  checkLength(op, 'out', out, planes * oh * ow, d);
  const inv = 1 / (k * k);
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < ow; ox++, o++) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        let s = 0;
        for (let y = y0; y < y1; y++) {
          const row = base + y * w;
          for (let xx = x0; xx < x1; xx++) s += x[row + xx]!;
        }
        out[o] = s * inv;
      }
    }
  }
}

export function avgPool2dBackward(gy: F32, gx: F32, g: PoolGeom): void {
  const op = 'avgPool2dBackward';
  const d = checkGeom(op, g);
  const { h, w, k, stride, pad, oh, ow } = g;
  const hw = h * w;
  const planes = g.n * g.c;
  checkLength(op, 'gy', gy, planes * oh * ow, d);
  checkLength(op, 'gx', gx, planes * hw, d);
  const inv = 1 / (k * k);
  const acc = new Float64Array(hw);
  let o = 0;
  for (let pl = 0; pl < planes; pl++) {
    acc.fill(0);
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(0, oy * stride - pad);
      const y1 = Math.min(h, oy * stride - pad + k);
      for (let ox = 0; ox < ow; ox++, o++) {
        const x0 = Math.max(0, ox * stride - pad);
        const x1 = Math.min(w, ox * stride - pad + k);
        const gv = gy[o]! * inv;
        for (let y = y0; y < y1; y++) {
          const row = y * w;
          for (let xx = x0; xx < x1; xx++) acc[row + xx]! += gv;
        }
      }
    }
    const base = pl * hw;
    for (let i = 0; i < hw; i++) gx[base + i] = acc[i]!;
  }
}
