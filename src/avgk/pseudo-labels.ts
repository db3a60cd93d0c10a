/**
 * Pseudo-labels of the two-head loss (Garcin et al. 2023; see docs/method.md), per batch and
 * without gradient. O(B·C) through the threshold-search kernel: no sort.
 */
import { kthLargest } from '../autograd/ops/select.js';
import { Tensor } from '../tensor/tensor.js';
import { hostToDevice, zerosF32On } from '../tensor/alloc.js';
import { kernelsOn, type F32Storage } from '../backend/device.js';
import { shapeStr } from '../tensor/shape.js';

export type PseudoLabelVariant = 'true-plus-topk' | 'batch-topk';

function checkK(op: string, k: number, cols: number, min: number): void {
  if (typeof k !== 'number' || !Number.isFinite(k) || k < min || k >= cols) {
    throw new Error(`${op}: K must be a number in [${min}, ${cols}) for ${cols} classes, got ${k}`);
  }
}

/**
 * Mark the m entries of `probs` with the largest values among those allowed by `mask` (ties broken
 * by the lowest flat index) by setting `targets` to 1 there.
 */
function markTop(probs: Float32Array, mask: Uint8Array | null, m: number, targets: Float32Array): void {
  if (m <= 0) return;
  const lambda = kthLargest(probs, m, mask);
  let taken = 0;
  for (let i = 0; i < probs.length; i++) {
    if ((mask === null || mask[i] !== 0) && probs[i] > lambda) {
      targets[i] = 1;
      taken++;
    }
  }
  for (let i = 0; i < probs.length && taken < m; i++) {
    if ((mask === null || mask[i] !== 0) && probs[i] === lambda) {
      targets[i] = 1;
      taken++;
    }
  }
}

/**
 * Targets Ỹ (B×C, 0/1) for the multi-label head.
 *  - 'true-plus-topk' (the paper's rule, our reading): Ỹ[i, yᵢ] = 1, plus the m = round((K−1)·B)
 *    highest entries of P among the B·(C−1) others. The batch holds B + m ≈ K·B positives.
 *  - 'batch-topk': the round(K·B) highest entries of P in the whole batch, true labels not forced.
 * `probs` are the detached softmax probabilities (B×C, row-major).
 */
export function pseudoLabels(
  probs: Float32Array, labels: Int32Array, rows: number, cols: number, k: number,
  variant: PseudoLabelVariant = 'true-plus-topk',
): Float32Array {
  const op = 'pseudoLabels';
  if (probs.length !== rows * cols) throw new Error(`${op}: probs has ${probs.length} entries, expected ${rows}×${cols}`);
  if (labels.length !== rows) throw new Error(`${op}: ${labels.length} labels for ${rows} rows`);
  const targets = new Float32Array(rows * cols);
  if (variant === 'batch-topk') {
    checkK(op, k, cols, 0);
    markTop(probs, null, Math.round(k * rows), targets);
    return targets;
  }
  if (variant !== 'true-plus-topk') throw new Error(`${op}: unknown variant "${String(variant)}" (expected true-plus-topk or batch-topk)`);
  checkK(op, k, cols, 1);
  const mask = new Uint8Array(rows * cols).fill(1);
  for (let i = 0; i < rows; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < cols)) throw new Error(`${op}: label ${y} at row ${i} is out of range [0, ${cols})`);
    targets[i * cols + y] = 1;
    mask[i * cols + y] = 0;
  }
  markTop(probs, mask, Math.round((k - 1) * rows), targets);
  return targets;
}

/**
 * `pseudoLabels` on the probabilities' device, as a [B, C] tensor: the same targets, computed by
 * the threshold-search kernels there (on the GPU nothing is read back; the true labels and the
 * mask that excludes them are copied to the device).
 */
export function pseudoLabelTargets(probs: Tensor, labels: Int32Array, k: number, variant: PseudoLabelVariant = 'true-plus-topk'): Tensor {
  const op = 'pseudoLabels';
  if (probs.ndim !== 2 || probs.dtype !== 'float32') throw new Error(`${op}: expected float32 probabilities [B, C], got ${probs.dtype} ${shapeStr(probs.shape)}`);
  const [rows, cols] = probs.shape as [number, number];
  if (labels.length !== rows) throw new Error(`${op}: ${labels.length} labels for ${rows} rows`);
  const device = probs.device;
  const be = kernelsOn(device);
  const p = probs.f32(op);
  const targets = zerosF32On(device, rows * cols);
  if (variant === 'batch-topk') {
    checkK(op, k, cols, 0);
    be.markTop(p, Math.round(k * rows), null, targets);
    return new Tensor(targets, [rows, cols]);
  }
  if (variant !== 'true-plus-topk') throw new Error(`${op}: unknown variant "${String(variant)}" (expected true-plus-topk or batch-topk)`);
  checkK(op, k, cols, 1);
  const mask = new Uint8Array(rows * cols).fill(1);
  const at = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < cols)) throw new Error(`${op}: label ${y} at row ${i} is out of range [0, ${cols})`);
    at[i] = i * cols + y;
    mask[i * cols + y] = 0;
  }
  be.putValue(targets as F32Storage, hostToDevice(device, at), 1);
  be.markTop(p, Math.round((k - 1) * rows), hostToDevice(device, mask), targets);
  return new Tensor(targets, [rows, cols]);
}
