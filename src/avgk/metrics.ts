/**
 * Set-valued metrics: average-K accuracy (micro and macro), per frequency bucket of training
 * classes, top-K accuracy, the set-size histogram and the mean set size by true class.
 */
import type { PredictedSets } from './calibrate.js';
import { frequencyBuckets } from '../data/transforms.js';

export interface SetMetrics {
  /** (1/N) Σ 1[yᵢ ∈ S(xᵢ)] */
  avgKAccuracy: number;
  /** Mean over the classes present in the split of each class's average-K accuracy. */
  macroAvgKAccuracy: number;
  meanSetSize: number;
  /** Macro average-K accuracy over few / medium / many classes (by training frequency), when counts are given. */
  buckets?: { few: number | null; medium: number | null; many: number | null };
  /** histogram[s] = number of samples whose set has s labels */
  setSizeHistogram: number[];
  /** Per class (by true label): accuracy, mean set size, number of samples (NaN/0 for absent classes). */
  perClass: { accuracy: number[]; meanSetSize: number[]; count: number[] };
}

function checkLabels(op: string, labels: Int32Array, rows: number, cols: number): void {
  if (labels.length !== rows) throw new Error(`${op}: ${labels.length} labels for ${rows} samples`);
  for (let i = 0; i < rows; i++) {
    if (!(labels[i] >= 0 && labels[i] < cols)) throw new Error(`${op}: label ${labels[i]} at row ${i} is out of range [0, ${cols})`);
  }
}

function meanOf(values: number[]): number | null {
  const v = values.filter((x) => !Number.isNaN(x));
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

export function setMetrics(sets: PredictedSets, labels: Int32Array, trainClassCounts?: ArrayLike<number>): SetMetrics {
  const { rows, cols, mask, sizes } = sets;
  checkLabels('setMetrics', labels, rows, cols);
  const hits = new Float64Array(cols);
  const count = new Float64Array(cols);
  const sizeSum = new Float64Array(cols);
  let correct = 0;
  let total = 0;
  let maxSize = 0;
  for (let i = 0; i < rows; i++) {
    const y = labels[i];
    const hit = mask[i * cols + y];
    correct += hit;
    hits[y] += hit;
    count[y]++;
    sizeSum[y] += sizes[i];
    total += sizes[i];
    if (sizes[i] > maxSize) maxSize = sizes[i];
  }
  const histogram = new Array<number>(maxSize + 1).fill(0);
  for (let i = 0; i < rows; i++) histogram[sizes[i]]++;
  const accuracy = Array.from(hits, (h, c) => (count[c] > 0 ? h / count[c] : NaN));
  const out: SetMetrics = {
    avgKAccuracy: correct / rows,
    macroAvgKAccuracy: meanOf(accuracy) ?? NaN,
    meanSetSize: total / rows,
    setSizeHistogram: histogram,
    perClass: { accuracy, meanSetSize: Array.from(sizeSum, (s, c) => (count[c] > 0 ? s / count[c] : NaN)), count: Array.from(count) },
  };
  if (trainClassCounts) {
    if (trainClassCounts.length !== cols) throw new Error(`setMetrics: ${trainClassCounts.length} class counts for ${cols} classes`);
    const b = frequencyBuckets(trainClassCounts);
    out.buckets = {
      few: meanOf(b.few.map((c) => accuracy[c])),
      medium: meanOf(b.medium.map((c) => accuracy[c])),
      many: meanOf(b.many.map((c) => accuracy[c])),
    };
  }
  return out;
}

/**
 * Expected average-K accuracy of sets under a known posterior η (rows × cols, e.g. synthetic
 * data): (1/n) Σᵢ Σ_{j ∈ S(xᵢ)} η_j(xᵢ). Unlike the accuracy against sampled labels it has no
 * label noise, so two methods scored on the same inputs differ by their sets only.
 */
export function expectedAccuracy(sets: PredictedSets, posterior: Float32Array): number {
  const { rows, cols, mask } = sets;
  if (posterior.length !== rows * cols) throw new Error(`expectedAccuracy: posterior has ${posterior.length} values, expected ${rows}×${cols}`);
  let s = 0;
  for (let i = 0; i < rows * cols; i++) if (mask[i]) s += posterior[i];
  return s / rows;
}

/** Top-K accuracy for integer K: the true label is among the K largest scores of its row (ties broken by the lowest class index). */
export function topKAccuracy(scores: Float32Array, labels: Int32Array, rows: number, cols: number, k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > cols) throw new Error(`topKAccuracy: K must be an integer in [1, ${cols}], got ${k}`);
  if (scores.length !== rows * cols) throw new Error(`topKAccuracy: scores have ${scores.length} entries, expected ${rows}×${cols}`);
  checkLabels('topKAccuracy', labels, rows, cols);
  let correct = 0;
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const sy = scores[base + labels[i]];
    let better = 0;
    for (let j = 0; j < cols; j++) {
      const s = scores[base + j];
      if (s > sy || (s === sy && j < labels[i])) better++;
    }
    if (better < k) correct++;
  }
  return correct / rows;
}
