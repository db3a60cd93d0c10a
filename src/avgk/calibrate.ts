/**
 * Average-K calibration: one global threshold λ on held-out scores so that the mean set size is K,
 * and set prediction with it. O(N·C) through the threshold-search kernel.
 *
 * Tie rule (docs/method.md): with m = round(K·N), λ is the m-th largest score; every entry
 * strictly above λ is in its set, and a deterministic, seeded share q = (m − #above) / #equal of the
 * entries equal to λ is included too. On the calibration split exactly m entries are selected, so
 * the mean set size there is K within 1/(2N).
 */
import { kthLargest } from '../autograd/ops/select.js';
import { Rng } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { kernelsOn } from '../backend/device.js';
import type { CudaStorage } from '../backend/cuda/index.js';

export interface Calibration {
  k: number;
  threshold: number;
  /** Share of the entries equal to the threshold that are included (1 when there is no tie). */
  tieShare: number;
  /** Seed of the deterministic tie selection. */
  seed: number;
  /** Number of calibration samples. */
  n: number;
}

export interface PredictedSets {
  rows: number;
  cols: number;
  /** rows×cols membership, 1 when the label is in the sample's set. */
  mask: Uint8Array;
  /** Set size per sample. */
  sizes: Int32Array;
}

function checkScores(op: string, scores: Float32Array, rows: number, cols: number): void {
  if (!(scores instanceof Float32Array)) throw new Error(`${op}: scores must be a Float32Array`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 2 || scores.length !== rows * cols) {
    throw new Error(`${op}: scores have ${scores.length} entries, expected rows×cols = ${rows}×${cols} with rows ≥ 1 and cols ≥ 2`);
  }
}

/**
 * scores: a [rows, cols] host array, or a tensor on any device: on the GPU the threshold search and
 * the counts run there, and only the threshold and two counts are read back.
 */
export function calibrateThreshold(scores: Float32Array | Tensor, rows: number, cols: number, k: number, opts: { seed?: number } = {}): Calibration {
  const op = 'calibrateThreshold';
  if (scores instanceof Tensor) {
    if (scores.dtype !== 'float32' || scores.size !== rows * cols || rows < 1 || cols < 2) {
      throw new Error(`${op}: scores ${scores.toString()} do not hold rows×cols = ${rows}×${cols} values with rows ≥ 1 and cols ≥ 2`);
    }
  } else {
    checkScores(op, scores, rows, cols);
  }
  if (typeof k !== 'number' || !Number.isFinite(k) || k <= 0 || k >= cols) {
    throw new Error(`${op}: K must be in (0, ${cols}) for ${cols} classes, got ${k}`);
  }
  const m = Math.min(rows * cols, Math.max(1, Math.round(k * rows)));
  if (scores instanceof Tensor && scores.device !== 'cpu') {
    const be = kernelsOn(scores.device);
    const x = scores.f32(op);
    const t = be.selectKth(x, m, null) as CudaStorage;
    const threshold = new Tensor(t, []).item();
    if (Number.isNaN(threshold)) throw new Error(`${op}: the scores contain NaN (NaN values cannot be ranked)`);
    const [above, equal] = be.countAboveEqual(x, t);
    return { k, threshold, tieShare: (m - above) / equal, seed: opts.seed ?? 0, n: rows };
  }
  const host = scores instanceof Tensor ? (scores.dataSync() as Float32Array) : scores;
  const threshold = kthLargest(host, m); // throws on NaN scores
  let above = 0;
  let equal = 0;
  for (let i = 0; i < host.length; i++) {
    const s = host[i]!;
    if (s > threshold) above++;
    else if (s === threshold) equal++;
  }
  return { k, threshold, tieShare: (m - above) / equal, seed: opts.seed ?? 0, n: rows };
}

/**
 * Sets {j : s_j > λ} plus the calibrated share of ties. The tie entries (in row-major order) are
 * included by a seeded low-discrepancy rule: tie t is in when ⌊(t+1)q + φ⌋ > ⌊tq + φ⌋, with φ
 * drawn from the seed, so exactly round-down(#ties·q + φ) ties are included, spread evenly.
 */
export function predictSets(scores: Float32Array, rows: number, cols: number, cal: Calibration): PredictedSets {
  const op = 'predictSets';
  checkScores(op, scores, rows, cols);
  const mask = new Uint8Array(rows * cols);
  const sizes = new Int32Array(rows);
  const lambda = cal.threshold;
  const q = cal.tieShare;
  const phi = new Rng(cal.seed).next();
  let t = 0;
  for (let i = 0; i < rows; i++) {
    let size = 0;
    for (let j = 0, at = i * cols; j < cols; j++, at++) {
      const s = scores[at];
      if (Number.isNaN(s)) throw new Error(`${op}: score at row ${i}, column ${j} is NaN`);
      let inSet = s > lambda;
      if (s === lambda) {
        inSet = Math.floor((t + 1) * q + phi) > Math.floor(t * q + phi);
        t++;
      }
      if (inSet) {
        mask[at] = 1;
        size++;
      }
    }
    sizes[i] = size;
  }
  return { rows, cols, mask, sizes };
}
