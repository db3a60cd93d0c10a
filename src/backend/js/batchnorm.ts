/**
 * Batch normalisation over x viewed as [n, c, hw], per channel c. Statistics in double.
 *
 * training:  mean = Σx / N, var = Σ(x - mean)² / N (biased, two-pass), N = n*hw; both written out.
 * eval:      mean/var are read (running statistics).
 * out = (x - mean) * invstd * gamma + beta, invstd = 1 / sqrt(var + eps); with the fused ReLU
 * (relu = true) out = max(0, that), and the backward first gates gy by the forward output y (gy where
 * y > 0, else 0: relu's own backward).
 * Backward (xhat = (x - mean) * invstd, sums over the channel's N entries):
 *   training: gx = gamma * invstd / N * (N*gy - Σgy - xhat * Σ(gy*xhat))
 *   eval:     gx = gy * gamma * invstd
 *   ggamma = Σ gy*xhat, gbeta = Σ gy (both modes).
 */
import type { F32 } from '../types.js';
import { checkLength, checkSizes } from './check.js';

function checkBn(op: string, n: number, c: number, hw: number, eps: number, x: F32): string {
  checkSizes(op, { n, c, hw });
  const d = `n=${n} c=${c} hw=${hw}`;
  if (!(eps >= 0)) throw new Error(`${op}: eps must be ≥ 0, got ${eps}`);
  checkLength(op, 'x', x, n * c * hw, d);
  return d;
}

export function batchNormForward(
  x: F32, gamma: F32, beta: F32, out: F32, mean: F32, variance: F32,
  n: number, c: number, hw: number, eps: number, training: boolean, relu: boolean,
): void {
  const op = 'batchNormForward';
  const d = checkBn(op, n, c, hw, eps, x);
  checkLength(op, 'gamma', gamma, c, d);
  checkLength(op, 'beta', beta, c, d);
  checkLength(op, 'out', out, n * c * hw, d);
  checkLength(op, 'mean', mean, c, d);
  checkLength(op, 'variance', variance, c, d);
  const count = n * hw;
  if (training && count === 0 && c > 0) {
    throw new Error(`${op}: training needs at least one value per channel (${d})`);
  }
  const chw = c * hw;
  for (let ch = 0; ch < c; ch++) {
    let mu: number;
    let vr: number;
    if (training) {
      let s = 0;
      for (let b = 0; b < n; b++) {
        const base = b * chw + ch * hw;
        for (let i = 0; i < hw; i++) s += x[base + i]!;
      }
      mu = s / count;
      let ss = 0;
      for (let b = 0; b < n; b++) {
        const base = b * chw + ch * hw;
        for (let i = 0; i < hw; i++) {
          const dv = x[base + i]! - mu;
          ss += dv * dv;
        }
      }
      vr = ss / count;
      mean[ch] = mu;
      variance[ch] = vr;
    } else {
      mu = mean[ch]!;
      vr = variance[ch]!;
    }
    const scale = gamma[ch]! / Math.sqrt(vr + eps);
    const shift = beta[ch]!;
    for (let b = 0; b < n; b++) {
      const base = b * chw + ch * hw;
      if (relu) {
        for (let i = 0; i < hw; i++) {
          const v = Math.fround((x[base + i]! - mu) * scale + shift);
          out[base + i] = v < 0 ? 0 : v; // NaN propagates
        }
      } else {
        for (let i = 0; i < hw; i++) out[base + i] = (x[base + i]! - mu) * scale + shift;
      }
    }
  }
}

export function batchNormBackward(
  x: F32, gy: F32, gamma: F32, mean: F32, variance: F32,
  gx: F32, ggamma: F32, gbeta: F32,
  n: number, c: number, hw: number, eps: number, training: boolean, y: F32 | null,
): void {
  const op = 'batchNormBackward';
  const d = checkBn(op, n, c, hw, eps, x);
  checkLength(op, 'gy', gy, n * c * hw, d);
  if (y !== null) checkLength(op, 'y', y, n * c * hw, d);
  // the gradient as the batch norm sees it (through the fused ReLU when y is given)
  const g = (i: number): number => (y === null || y[i]! > 0 ? gy[i]! : 0);
  checkLength(op, 'gamma', gamma, c, d);
  checkLength(op, 'mean', mean, c, d);
  checkLength(op, 'variance', variance, c, d);
  checkLength(op, 'gx', gx, n * c * hw, d);
  checkLength(op, 'ggamma', ggamma, c, d);
  checkLength(op, 'gbeta', gbeta, c, d);
  const count = n * hw;
  const chw = c * hw;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch]!;
    const invstd = 1 / Math.sqrt(variance[ch]! + eps);
    let sgy = 0;
    let sgyx = 0;
    for (let b = 0; b < n; b++) {
      const base = b * chw + ch * hw;
      for (let i = 0; i < hw; i++) {
        const gi = g(base + i);
        sgy += gi;
        sgyx += gi * (x[base + i]! - mu) * invstd;
      }
    }
    ggamma[ch] = sgyx;
    gbeta[ch] = sgy;
    const gm = gamma[ch]!;
    if (training) {
      const k = (gm * invstd) / count;
      for (let b = 0; b < n; b++) {
        const base = b * chw + ch * hw;
        for (let i = 0; i < hw; i++) {
          const xhat = (x[base + i]! - mu) * invstd;
          gx[base + i] = k * (count * g(base + i) - sgy - xhat * sgyx);
        }
      }
    } else {
      const k = gm * invstd;
      for (let b = 0; b < n; b++) {
        const base = b * chw + ch * hw;
        for (let i = 0; i < hw; i++) gx[base + i] = g(base + i) * k;
      }
    }
  }
}
