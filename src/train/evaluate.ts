/** Scoring, calibration and metrics of a trained two-head model on a split. */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../tensor/scope.js';
import { emptyF32On, hostToDevice } from '../tensor/alloc.js';
import { kernelsOn, type F32Storage } from '../backend/device.js';
import type { TwoHeadModel } from '../avgk/model.js';
import { methodScores, type AvgKMethod } from '../avgk/losses.js';
import { calibrateThreshold, predictSets, type Calibration } from '../avgk/calibrate.js';
import { expectedAccuracy, setMetrics, topKAccuracy, type SetMetrics } from '../avgk/metrics.js';
import type { Split } from '../data/types.js';

/**
 * The method's scores (N×C) for every sample of a split, in eval mode, without gradients, as a
 * tensor on the model's device (batches are copied there one at a time).
 */
export function scoreSplitTensor(
  model: TwoHeadModel, method: Pick<AvgKMethod, 'scoreHead'>, split: Split, sampleShape: readonly number[], batchSize = 512,
): Tensor {
  if (split.n === 0) throw new Error('scoreSplit: the split is empty');
  const d = sampleShape.reduce((a, b) => a * b, 1);
  const device = model.device;
  const be = kernelsOn(device);
  const c = model.numClasses;
  const wasTraining = model.training;
  model.eval();
  try {
    const out = emptyF32On(device, split.n * c);
    noGrad(() => {
      for (let start = 0; start < split.n; start += batchSize) {
        const b = Math.min(batchSize, split.n - start);
        tidy(() => {
          const x = new Tensor(hostToDevice(device, split.x.subarray(start * d, (start + b) * d)), [b, ...sampleShape]);
          const s = methodScores(method, model.forward(x));
          be.copy(s.f32('scores'), 0, [1], out, start * c, [1], [b * c]);
        });
      }
    });
    return new Tensor(out as F32Storage, [split.n, c]);
  } finally {
    model.train(wasTraining);
  }
}

/** scoreSplitTensor's scores as a host array (read back once). */
export function scoreSplit(model: TwoHeadModel, method: Pick<AvgKMethod, 'scoreHead'>, split: Split, sampleShape: readonly number[], batchSize = 512): Float32Array {
  return scoreSplitTensor(model, method, split, sampleShape, batchSize).dataSync() as Float32Array;
}

export interface SplitEvaluation extends SetMetrics {
  k: number;
  /** Top-K accuracy when K is an integer. */
  topKAccuracy: number | null;
  /** Expected accuracy under the split's known posterior (synthetic data), else absent. */
  expectedAccuracy?: number;
}

/** Metrics of the sets predicted with `cal` on a split whose scores are given (read back once from a device). */
export function evaluateScores(scores: Float32Array | Tensor, labels: Int32Array, numClasses: number, cal: Calibration, trainClassCounts?: ArrayLike<number>, posterior?: Float32Array): SplitEvaluation {
  const host = scores instanceof Tensor ? (scores.dataSync() as Float32Array) : scores;
  const n = labels.length;
  const sets = predictSets(host, n, numClasses, cal);
  const m = setMetrics(sets, labels, trainClassCounts);
  const e: SplitEvaluation = { ...m, k: cal.k, topKAccuracy: Number.isInteger(cal.k) ? topKAccuracy(host, labels, n, numClasses, cal.k) : null };
  if (posterior) e.expectedAccuracy = expectedAccuracy(sets, posterior);
  return e;
}

/** Calibrate on validation scores for each K (on the scores' device). */
export function calibrateAll(valScores: Float32Array | Tensor, numClasses: number, ks: readonly number[], seed = 0): Calibration[] {
  const size = valScores instanceof Tensor ? valScores.size : valScores.length;
  const n = size / numClasses;
  return ks.map((k) => calibrateThreshold(valScores, n, numClasses, k, { seed }));
}
