/**
 * Row-wise softmax / log-softmax and the fused losses (softmax cross-entropy with label smoothing,
 * sigmoid binary cross-entropy with logits). All sums in double; every row is shifted by its max.
 */
import type { F32, I32 } from '../types.js';
import { checkLength, checkSameLength, checkSizes } from './check.js';

function rowMax(x: F32, base: number, cols: number): number {
  let mx = -Infinity;
  for (let j = 0; j < cols; j++) {
    const v = x[base + j]!;
    if (v > mx || v !== v) mx = v; // a NaN makes the whole row NaN
  }
  return mx;
}

export function softmax(x: F32, out: F32, rows: number, cols: number, log: boolean): void {
  const op = 'softmax';
  checkSizes(op, { rows, cols });
  const d = `rows=${rows} cols=${cols}`;
  checkLength(op, 'x', x, rows * cols, d);
  checkLength(op, 'out', out, rows * cols, d);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const mx = rowMax(x, base, cols);
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += Math.exp(x[base + j]! - mx);
      const shift = mx + Math.log(s);
      for (let j = 0; j < cols; j++) out[base + j] = x[base + j]! - shift;
    } else {
      // exp is recomputed rather than stored in out and rescaled: one rounding per entry instead
      // of two (this backend is the oracle), and out may alias x.
      for (let j = 0; j < cols; j++) s += Math.exp(x[base + j]! - mx);
      const inv = 1 / s;
      for (let j = 0; j < cols; j++) out[base + j] = Math.exp(x[base + j]! - mx) * inv;
    }
  }
}

export function softmaxBackward(y: F32, gy: F32, gx: F32, rows: number, cols: number, log: boolean): void {
  const op = 'softmaxBackward';
  checkSizes(op, { rows, cols });
  const d = `rows=${rows} cols=${cols}`;
  checkLength(op, 'y', y, rows * cols, d);
  checkLength(op, 'gy', gy, rows * cols, d);
  checkLength(op, 'gx', gx, rows * cols, d);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += gy[base + j]!;
      for (let j = 0; j < cols; j++) gx[base + j] = gy[base + j]! - Math.exp(y[base + j]!) * s;
    } else {
      for (let j = 0; j < cols; j++) s += gy[base + j]! * y[base + j]!;
      for (let j = 0; j < cols; j++) gx[base + j] = y[base + j]! * (gy[base + j]! - s);
    }
  }
}

/**
 * loss_i = -(1-ε) log p_i[y_i] - (ε/cols) Σ_j log p_i[j], with log p_i[j] = x_ij - lse_i; returns
 * Σ_i loss_i. grad_ij = p_ij - ε/cols - (1-ε)[j = y_i]. Labels are validated before anything is
 * written.
 */
export function softmaxCrossEntropy(
  logits: F32, labels: I32, rows: number, cols: number, smoothing: number, grad: F32 | null,
): number {
  const op = 'softmaxCrossEntropy';
  checkSizes(op, { rows, cols });
  const d = `rows=${rows} cols=${cols}`;
  checkLength(op, 'logits', logits, rows * cols, d);
  checkLength(op, 'labels', labels, rows, d);
  if (grad !== null) checkLength(op, 'grad', grad, rows * cols, d);
  if (!(smoothing >= 0 && smoothing <= 1)) {
    throw new Error(`${op}: label smoothing must be in [0, 1], got ${smoothing}`);
  }
  for (let r = 0; r < rows; r++) {
    const l = labels[r]!;
    if (!Number.isInteger(l) || l < 0 || l >= cols) {
      throw new Error(`${op}: label ${l} at row ${r} is not an integer in [0, ${cols})`);
    }
  }
  const onTarget = 1 - smoothing;
  const uniform = smoothing / cols;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const label = labels[r]!;
    const mx = rowMax(logits, base, cols);
    let s = 0;
    let sx = 0;
    for (let j = 0; j < cols; j++) {
      const v = logits[base + j]!;
      s += Math.exp(v - mx);
      sx += v;
    }
    const lse = mx + Math.log(s);
    let loss = -onTarget * (logits[base + label]! - lse);
    if (smoothing !== 0) loss -= smoothing * (sx / cols - lse);
    total += loss;
    if (grad !== null) {
      for (let j = 0; j < cols; j++) grad[base + j] = Math.exp(logits[base + j]! - lse) - uniform;
      grad[base + label] = Math.exp(logits[base + label]! - lse) - uniform - onTarget;
    }
  }
  return total;
}

/**
 * loss_i = w_i (max(z,0) - z t + log1p(exp(-|z|))), returns Σ loss_i; grad_i = w_i (σ(z_i) - t_i).
 * Finite for every finite z (exp only ever sees -|z| ≤ 0).
 */
export function sigmoidBce(logits: F32, targets: F32, weights: F32 | null, grad: F32 | null): number {
  const op = 'sigmoidBce';
  checkSameLength(op, 'targets', targets, 'logits', logits);
  if (weights !== null) checkSameLength(op, 'weights', weights, 'logits', logits);
  if (grad !== null) checkSameLength(op, 'grad', grad, 'logits', logits);
  const n = logits.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i]!;
    const t = targets[i]!;
    const w = weights === null ? 1 : weights[i]!;
    const e = Math.exp(-Math.abs(z)); // in (0, 1]
    total += w * ((z > 0 ? z : 0) - z * t + Math.log1p(e));
    if (grad !== null) {
      const sig = z >= 0 ? 1 / (1 + e) : e / (1 + e);
      grad[i] = w * (sig - t);
    }
  }
  return total;
}
