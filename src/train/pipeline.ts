/**
 * The one path from a RunSpec to results, shared by `avgk train`, `eval`, `predict` and `compare`:
 * build (model, method, optimiser and schedule, deterministically from the seed) → fit →
 * calibrate on validation → evaluate each reported head at each K.
 */
import zlib from 'node:zlib';
import { Rng } from '../data/rng.js';
import type { Dataset, SplitName } from '../data/types.js';
import { manualSeed } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { buildModel, type TwoHeadModel } from '../avgk/model.js';
import { createMethod, methodDef, type AvgKMethod } from '../avgk/losses.js';
import type { Calibration } from '../avgk/calibrate.js';
import { SGD, Adam, type Optimizer } from '../optim/optimizer.js';
import { CosineSchedule, StepSchedule, ConstantSchedule, type Schedule } from '../optim/schedule.js';
import type { FitOptions } from './fit.js';
import { calibrateAll, evaluateScores, scoreSplit, type SplitEvaluation } from './evaluate.js';
import { trainK, type RunSpec } from './spec.js';

export interface RunObjects {
  model: TwoHeadModel;
  method: AvgKMethod;
  optimizer: Optimizer;
  schedule: Schedule;
}

/** The seed of a method's own random state (ROLE's label estimates) for a run seed. */
export function methodSeed(seed: number): number {
  return seed * 7919 + 0x701e;
}

export function makeOptimizer(spec: Pick<RunSpec, 'optimizer'>, params: Tensor[]): Optimizer {
  const o = spec.optimizer;
  if (o.name === 'adam') return new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
  return new SGD(params, { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov && o.momentum > 0, weightDecay: o.weightDecay });
}

export function makeSchedule(spec: Pick<RunSpec, 'optimizer' | 'schedule' | 'epochs'>): Schedule {
  const lr = spec.optimizer.lr;
  const s = spec.schedule;
  switch (s.name) {
    case 'cosine':
      return new CosineSchedule(lr, spec.epochs, { minLr: s.minLr, warmup: s.warmup });
    case 'step':
      return new StepSchedule(lr, { milestones: s.milestones, stepSize: s.stepSize, gamma: s.gamma });
    case 'constant':
      return new ConstantSchedule(lr);
  }
}

/**
 * Builds a run's objects: the global generator is reseeded with spec.seed, then initialises the
 * weights, so the same spec and dataset always give the same starting point.
 */
export function buildRun(spec: RunSpec, ds: Dataset): RunObjects {
  manualSeed(spec.seed);
  const model = buildModel(spec.model, ds.sampleShape, ds.numClasses);
  const method = createMethod(spec.method.name, {
    ...spec.method.options,
    k: trainK(spec),
    numClasses: ds.numClasses,
    numTrain: ds.train.n,
    rng: new Rng(methodSeed(spec.seed)),
  });
  return { model, method, optimizer: makeOptimizer(spec, [...model.parameters()]), schedule: makeSchedule(spec) };
}

/** The fit() options of a run (progress callbacks and resumption are the caller's). */
export function fitOptions(spec: RunSpec, schedule: Schedule): FitOptions {
  return {
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    ks: spec.ks,
    seed: spec.seed,
    schedule,
    augment: spec.augment,
    evalBatchSize: spec.evalBatchSize,
    device: spec.device,
  };
}

/** A head whose thresholded sets are reported: the method's own, or an extra one (two-head's softmax head). */
export interface HeadResult {
  head: 'softmax' | 'multilabel';
  /** True for the method's own head, false for an extra head reported as a baseline of the same model. */
  primary: boolean;
  calibrations: Calibration[];
  /** Per K: metrics on the validation split (its own calibration) and on each evaluated split. */
  val: SplitEvaluation[];
  splits: Partial<Record<SplitName, SplitEvaluation[]>>;
  /** Scores per split (n × C, host), for charts. */
  scores: Partial<Record<SplitName | 'val', Float32Array>>;
}

/** The heads a method's results report: its own first, then the registry's extra heads. */
export function reportedHeads(method: Pick<AvgKMethod, 'name' | 'scoreHead'>): { head: 'softmax' | 'multilabel'; primary: boolean }[] {
  const def = methodDef(method.name);
  return [
    { head: method.scoreHead, primary: true },
    ...def.extraHeads.filter((h) => h !== method.scoreHead).map((h) => ({ head: h, primary: false })),
  ];
}

/**
 * Calibrates every reported head on validation at each K of spec.ks and evaluates the sets on
 * `splits`. Calibrations given per head (`calibrations.primary` for the method's head, e.g. fit's
 * or a checkpoint's; `calibrations.extra` for the extra head) are used instead when they cover
 * every K; then the validation split is scored only when `valMetrics` asks for its metrics.
 */
export function evaluateRun(
  model: TwoHeadModel, method: AvgKMethod, spec: RunSpec, ds: Dataset,
  opts: {
    splits?: SplitName[];
    calibrations?: Calibration[] | { primary?: Calibration[]; extra?: Calibration[] };
    classCounts?: boolean;
    valMetrics?: boolean;
  } = {},
): HeadResult[] {
  const splits = opts.splits ?? ['test'];
  const c = ds.numClasses;
  const counts = opts.classCounts ? ds.classCounts : undefined;
  const given = Array.isArray(opts.calibrations) ? { primary: opts.calibrations } : (opts.calibrations ?? {});
  const covers = (cals: Calibration[] | undefined): cals is Calibration[] =>
    cals !== undefined && spec.ks.every((k) => cals.some((cal) => cal.k === k));
  return reportedHeads(method).map(({ head, primary }) => {
    const scorer = { scoreHead: head };
    const stored = primary ? given.primary : given.extra;
    let valScores: Float32Array | null = null;
    const val = (): Float32Array => (valScores ??= scoreSplit(model, scorer, ds.val, ds.sampleShape, spec.evalBatchSize));
    const cals = covers(stored) ? spec.ks.map((k) => stored.find((cal) => cal.k === k)!) : calibrateAll(val(), c, spec.ks, spec.seed);
    const r: HeadResult = { head, primary, calibrations: cals, val: [], splits: {}, scores: {} };
    if (opts.valMetrics ?? true) {
      r.val = cals.map((cal) => evaluateScores(val(), ds.val.y, c, cal, undefined, ds.posterior?.val));
      r.scores.val = val();
    }
    for (const s of splits) {
      const sc = s === 'val' ? val() : scoreSplit(model, scorer, ds[s], ds.sampleShape, spec.evalBatchSize);
      r.scores[s] = sc;
      r.splits[s] = cals.map((cal) => evaluateScores(sc, ds[s].y, c, cal, counts, ds.posterior?.[s]));
    }
    return r;
  });
}

/** CRC-32 (hex) of a model's weights and buffers in state-dict order: a fingerprint of a trained model. */
export function weightsHash(model: TwoHeadModel): string {
  let crc = 0;
  for (const [, t] of Object.entries(model.stateDict())) {
    crc = zlib.crc32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), crc);
  }
  return crc.toString(16).padStart(8, '0');
}
