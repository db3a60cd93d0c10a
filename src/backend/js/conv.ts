/**
 * 2-D convolution on NCHW data with OIHW weights, through im2col + gemm.
 *
 * For one image, the column matrix `cols` is [c*kh*kw, oh*ow]: row (ci, i, j), column (oy, ox)
 * holds x[ci, oy*s - pad + i, ox*s - pad + j] (0 outside the image). Then
 *   forward:          out_n [o, oh*ow]       = W [o, ckk] · cols_n
 *   input gradient:   gcols [ckk, oh*ow]     = Wᵀ · gy_n, then col2im (scatter-add) into gx_n
 *   weight gradient:  gW [o, ckk]           += gy_n · cols_nᵀ   (summed over the batch)
 * A 1×1 kernel with stride 1 and no padding needs no im2col: cols_n is x_n itself.
 */
import type { ConvGeom, F32 } from '../types.js';
import { checkLength, checkSizes } from './check.js';
import { gemm } from './gemm.js';

function describe(g: ConvGeom): string {
  return `n=${g.n} c=${g.c} h=${g.h} w=${g.w} o=${g.o} kh=${g.kh} kw=${g.kw} stride=${g.stride} pad=${g.pad} oh=${g.oh} ow=${g.ow}`;
}

/** Validates the geometry (sizes and output size formula) and returns its description. */
function checkGeom(op: string, g: ConvGeom): string {
  checkSizes(op, { n: g.n, c: g.c, h: g.h, w: g.w, o: g.o, kh: g.kh, kw: g.kw, pad: g.pad, oh: g.oh, ow: g.ow });
  const d = describe(g);
  if (!Number.isInteger(g.stride) || g.stride < 1) throw new Error(`${op}: stride must be a positive integer (${d})`);
  if (g.kh < 1 || g.kw < 1) throw new Error(`${op}: kernel must be at least 1×1 (${d})`);
  const eh = Math.floor((g.h + 2 * g.pad - g.kh) / g.stride) + 1;
  const ew = Math.floor((g.w + 2 * g.pad - g.kw) / g.stride) + 1;
  if (g.oh !== eh || g.ow !== ew || eh < 1 || ew < 1) {
    throw new Error(`${op}: output size ${g.oh}×${g.ow} does not match the geometry, expected ${eh}×${ew} (${d})`);
  }
  return d;
}

function isPointwise(g: ConvGeom): boolean {
  return g.kh === 1 && g.kw === 1 && g.stride === 1 && g.pad === 0;
}

/** cols[(ci*kh + i)*kw + j][oy*ow + ox] = x[xOff + ci*h*w + iy*w + ix], 0 in the padding. */
function im2col(x: F32, xOff: number, cols: F32, g: ConvGeom): void {
  const { c, h, w, kh, kw, stride, pad, oh, ow } = g;
  const ohw = oh * ow;
  let row = 0;
  for (let ci = 0; ci < c; ci++) {
    const plane = xOff + ci * h * w;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++, row += ohw) {
        // Valid output columns for this j: 0 ≤ ox*stride - pad + j < w.
        const oxLo = Math.min(ow, Math.max(0, Math.ceil((pad - j) / stride)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 + pad - j) / stride) + 1));
        for (let oy = 0; oy < oh; oy++) {
          const dst = row + oy * ow;
          const iy = oy * stride - pad + i;
          if (iy < 0 || iy >= h) {
            cols.fill(0, dst, dst + ow);
            continue;
          }
          const src = plane + iy * w - pad + j;
          for (let ox = 0; ox < oxLo; ox++) cols[dst + ox] = 0;
          if (stride === 1) {
            for (let ox = oxLo; ox < oxHi; ox++) cols[dst + ox] = x[src + ox]!;
          } else {
            for (let ox = oxLo; ox < oxHi; ox++) cols[dst + ox] = x[src + ox * stride]!;
          }
          for (let ox = oxHi; ox < ow; ox++) cols[dst + ox] = 0;
        }
      }
    }
  }
}

/** Adjoint of im2col: acc[ci*h*w + iy*w + ix] += cols[...] over every (i, j, oy, ox) that reads it. */
function col2im(cols: F32, acc: Float64Array, g: ConvGeom): void {
  const { c, h, w, kh, kw, stride, pad, oh, ow } = g;
  const ohw = oh * ow;
  let row = 0;
  for (let ci = 0; ci < c; ci++) {
    const plane = ci * h * w;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++, row += ohw) {
        const oxLo = Math.min(ow, Math.max(0, Math.ceil((pad - j) / stride)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 + pad - j) / stride) + 1));
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * stride - pad + i;
          if (iy < 0 || iy >= h) continue;
          const src = row + oy * ow;
          const dst = plane + iy * w - pad + j;
          for (let ox = oxLo; ox < oxHi; ox++) acc[dst + ox * stride]! += cols[src + ox]!;
        }
      }
    }
  }
}

export function conv2dForward(x: F32, w: F32, bias: F32 | null, out: F32, g: ConvGeom): void {
  const op = 'conv2dForward';
  const d = checkGeom(op, g);
  const ckk = g.c * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  checkLength(op, 'x', x, g.n * g.c * g.h * g.w, d);
  checkLength(op, 'w', w, g.o * ckk, d);
  if (bias !== null) checkLength(op, 'bias', bias, g.o, d);
  checkLength(op, 'out', out, g.n * g.o * ohw, d);
  const pointwise = isPointwise(g);
  const cols = pointwise ? null : new Float32Array(ckk * ohw);
  const chw = g.c * g.h * g.w;
  for (let b = 0; b < g.n; b++) {
    const outOff = b * g.o * ohw;
    if (cols === null) {
      gemm(1, g.o, ohw, ckk, 1, w, 0, ckk, 1, 0, x, b * chw, ohw, 1, 0, 0, out, outOff, ohw, 0);
    } else {
      im2col(x, b * chw, cols, g);
      gemm(1, g.o, ohw, ckk, 1, w, 0, ckk, 1, 0, cols, 0, ohw, 1, 0, 0, out, outOff, ohw, 0);
    }
    if (bias !== null) {
      for (let o = 0; o < g.o; o++) {
        const bo = bias[o]!;
        const base = outOff + o * ohw;
        for (let i = 0; i < ohw; i++) out[base + i]! += bo;
      }
    }
  }
}

export function conv2dBackwardInput(gy: F32, w: F32, gx: F32, g: ConvGeom): void {
  const op = 'conv2dBackwardInput';
  const d = checkGeom(op, g);
  const ckk = g.c * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  const chw = g.c * g.h * g.w;
  checkLength(op, 'gy', gy, g.n * g.o * ohw, d);
  checkLength(op, 'w', w, g.o * ckk, d);
  checkLength(op, 'gx', gx, g.n * chw, d);
  if (isPointwise(g)) {
    // gx_n [c, hw] = Wᵀ [c, o] · gy_n [o, hw]
    for (let b = 0; b < g.n; b++) {
      gemm(1, g.c, ohw, g.o, 1, w, 0, 1, ckk, 0, gy, b * g.o * ohw, ohw, 1, 0, 0, gx, b * chw, ohw, 0);
    }
    return;
  }
  const gcols = new Float32Array(ckk * ohw);
  const acc = new Float64Array(chw);
  for (let b = 0; b < g.n; b++) {
    gemm(1, ckk, ohw, g.o, 1, w, 0, 1, ckk, 0, gy, b * g.o * ohw, ohw, 1, 0, 0, gcols, 0, ohw, 0);
    acc.fill(0);
    col2im(gcols, acc, g);
    const base = b * chw;
    for (let i = 0; i < chw; i++) gx[base + i] = acc[i]!;
  }
}

export function conv2dBackwardWeight(x: F32, gy: F32, gw: F32, g: ConvGeom): void {
  const op = 'conv2dBackwardWeight';
  const d = checkGeom(op, g);
  const ckk = g.c * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  const chw = g.c * g.h * g.w;
  checkLength(op, 'x', x, g.n * chw, d);
  checkLength(op, 'gy', gy, g.n * g.o * ohw, d);
  checkLength(op, 'gw', gw, g.o * ckk, d);
  if (g.n === 0) {
    gw.fill(0);
    return;
  }
  const pointwise = isPointwise(g);
  const cols = pointwise ? null : new Float32Array(ckk * ohw);
  for (let b = 0; b < g.n; b++) {
    // gW [o, ckk] (+)= gy_n [o, ohw] · cols_nᵀ [ohw, ckk]; B = colsᵀ has row stride 1, column stride ohw.
    const src = cols === null ? x : cols;
    const srcOff = cols === null ? b * chw : 0;
    if (cols !== null) im2col(x, b * chw, cols, g);
    gemm(1, g.o, ckk, ohw, 1, gy, b * g.o * ohw, ohw, 1, 0, src, srcOff, 1, ohw, 0, b === 0 ? 0 : 1, gw, 0, ckk, 0);
  }
}
