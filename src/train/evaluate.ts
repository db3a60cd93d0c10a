/** Scoring, calibration and metrics of a trained two-head model on a split. */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { TwoHeadModel } from '../avgk/model.js';
import { methodScores, type AvgKMethod } from '../avgk/losses.js';
import { calibrateThreshold, predictSets, type Calibration } from '../avgk/calibrate.js';
import { setMetrics, topKAccuracy, type SetMetrics } from '../avgk/metrics.js';
import type { Split } from '../data/types.js';

/** The method's scores (N×C) for every sample of a split, in eval mode, without gradients. */
export function scoreSplit(model: TwoHeadModel, method: Pick<AvgKMethod, 'scoreHead'>, split: Split, sampleShape: readonly number[], batchSize = 512): Float32Array {
  const d = sampleShape.reduce((a, b) => a * b, 1);
  const wasTraining = model.training;
  model.eval();
  try {
    let out: Float32Array | null = null;
    noGrad(() => {
      for (let start = 0; start < split.n; start += batchSize) {
        const b = Math.min(batchSize, split.n - start);
        const x = new Tensor(split.x.subarray(start * d, (start + b) * d), [b, ...sampleShape]);
        const s = methodScores(method, model.forward(x));
        if (out === null) out = new Float32Array(split.n * (s.length / b));
        out.set(s, start * (s.length / b));
      }
    });
    if (out === null) throw new Error('scoreSplit: the split is empty');
    return out;
  } finally {
    model.train(wasTraining);
  }
}

export interface SplitEvaluation extends SetMetrics {
  k: number;
  /** Top-K accuracy when K is an integer. */
  topKAccuracy: number | null;
}

/** Metrics of the sets predicted with `cal` on a split whose scores are given. */
export function evaluateScores(scores: Float32Array, labels: Int32Array, numClasses: number, cal: Calibration, trainClassCounts?: ArrayLike<number>): SplitEvaluation {
  const n = labels.length;
  const sets = predictSets(scores, n, numClasses, cal);
  const m = setMetrics(sets, labels, trainClassCounts);
  return { ...m, k: cal.k, topKAccuracy: Number.isInteger(cal.k) ? topKAccuracy(scores, labels, n, numClasses, cal.k) : null };
}

/** Calibrate on validation scores for each K. */
export function calibrateAll(valScores: Float32Array, numClasses: number, ks: readonly number[], seed = 0): Calibration[] {
  const n = valScores.length / numClasses;
  return ks.map((k) => calibrateThreshold(valScores, n, numClasses, k, { seed }));
}
