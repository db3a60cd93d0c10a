/**
 * The training loop: seeded shuffling, one optimiser step per mini-batch, and after every epoch an
 * evaluation on the validation split with average-K calibration; the best model by validation
 * average-K accuracy is kept (the Pl@ntNet-300K recipe). Deterministic: the same seed gives the
 * same weights, and a run resumed from a TrainState continues exactly (mid-epoch included).
 */
import { Tensor } from '../tensor/tensor.js';
import { DivergenceError, UsageError } from '../errors.js';
import { Rng } from '../data/rng.js';
import type { Dataset } from '../data/types.js';
import { randomCropFlip } from '../data/transforms.js';
import type { TwoHeadModel } from '../avgk/model.js';
import type { AvgKMethod } from '../avgk/losses.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import type { Calibration } from '../avgk/calibrate.js';
import { scoreSplitTensor, calibrateAll, evaluateScores } from './evaluate.js';
import { tidy } from '../tensor/scope.js';
import { hostToDevice } from '../tensor/alloc.js';
import { parseDevice, type Device } from '../backend/device.js';

export interface StepInfo {
  epoch: number;
  /** Batch index within the epoch and number of batches per epoch. */
  batch: number;
  batches: number;
  step: number;
  loss: number;
  lr: number;
  /** Seconds since the epoch started (excluding evaluation). */
  elapsed: number;
  samplesSeen: number;
}

export interface EpochInfo {
  epoch: number;
  trainLoss: number;
  lr: number;
  /** Validation average-K accuracy and mean set size per K (calibrated on validation itself). */
  val: { k: number; avgKAccuracy: number; meanSetSize: number }[];
  /** Mean of val average-K accuracy over the K values: the model-selection score. */
  valScore: number;
  seconds: number;
  imagesPerS: number;
}

type StateDict = Record<string, { shape: number[]; data: Float32Array }>;

/** Everything needed to continue a run exactly. */
export interface TrainState {
  /** Epoch in progress (0-based) and the next batch within it. */
  epoch: number;
  batch: number;
  step: number;
  /** Running sum of the epoch's losses so far (for the epoch's mean). */
  epochLossSum: number;
  bestScore: number;
  bestEpoch: number;
  bestState: StateDict | null;
  history: EpochInfo[];
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** K values used for validation and model selection. */
  ks: number[];
  seed: number;
  schedule?: Schedule;
  /** Random crop + flip (for 32×32 images). */
  augment?: boolean;
  evalBatchSize?: number;
  /** Keep the best epoch's weights (default true); otherwise keep the last. */
  keepBest?: boolean;
  onStep?: (info: StepInfo) => void;
  onEpoch?: (info: EpochInfo) => void;
  /** Polled after each step: true stops training after that step (e.g. on Ctrl-C). */
  shouldStop?: () => boolean;
  /** Continue from a saved state (the model, optimiser and method must be restored by the caller). */
  resume?: TrainState;
  /**
   * Where to train: 'cpu' or 'cuda'. The model (and the method's own state) move there first;
   * default: where the model is. Batches are copied to the device one at a time.
   */
  device?: Device;
}

export interface FitResult {
  history: EpochInfo[];
  /** True when shouldStop() ended training early; `state` then continues the run. */
  interrupted: boolean;
  state: TrainState;
  bestEpoch: number;
  /** Calibrations on validation of the final (best) model, one per K. */
  calibrations: Calibration[];
}

export function initialTrainState(): TrainState {
  return { epoch: 0, batch: 0, step: 0, epochLossSum: 0, bestScore: -Infinity, bestEpoch: -1, bestState: null, history: [] };
}

function allFinite(t: Tensor): boolean {
  return (t.dataSync() as Float32Array).every((x) => Number.isFinite(x));
}

/** The shuffled order of the training set in a given epoch (a pure function of seed and epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new Rng(seed * 1_000_003 + epoch * 7919 + 17).permutation(n);
}

function checkFitOptions(o: FitOptions, ds: Dataset): void {
  const intAtLeast = (name: string, v: number, lo: number): void => {
    if (!Number.isInteger(v) || v < lo) throw new UsageError(`fit: ${name} must be an integer ≥ ${lo}, got ${v}`);
  };
  intAtLeast('epochs', o.epochs, 1);
  intAtLeast('batchSize', o.batchSize, 1);
  if (!Number.isInteger(o.seed)) throw new UsageError(`fit: seed must be an integer, got ${o.seed}`);
  if (!Array.isArray(o.ks) || o.ks.length === 0) throw new UsageError('fit: ks must list at least one K');
  for (const k of o.ks) {
    if (typeof k !== 'number' || !(k > 0 && k < ds.numClasses)) throw new UsageError(`fit: K must be in (0, ${ds.numClasses}) for ${ds.numClasses} classes, got ${k}`);
  }
  if (ds.train.n === 0 || ds.val.n === 0) throw new UsageError(`fit: the training and validation splits must be non-empty (got ${ds.train.n} and ${ds.val.n})`);
}

/** What the step generator yields: after every optimiser step, and after every epoch's validation. */
export type FitEvent = { kind: 'step'; info: StepInfo; lastOfEpoch: boolean } | { kind: 'epoch'; info: EpochInfo };

/**
 * The training loop as a generator: it yields after every optimiser step and after every epoch's
 * validation, with `state` always consistent, so a driver can stop at any yield and resume later
 * from `state` bit-exactly (fit and fitAsync below are the two drivers). It returns the result
 * once every epoch has run. `state` is updated in place.
 */
export function* fitSteps(
  model: TwoHeadModel, method: AvgKMethod, optimizer: Optimizer, ds: Dataset, opts: FitOptions, state: TrainState,
): Generator<FitEvent, FitResult, void> {
  checkFitOptions(opts, ds);
  if (opts.device !== undefined) model.to(parseDevice('fit', opts.device));
  const device = model.device;
  method.to?.(device);
  method.bind?.(model);
  const shape = ds.sampleShape;
  const d = shape.reduce((a, b) => a * b, 1);
  const n = ds.train.n;
  const batches = Math.ceil(n / opts.batchSize);
  const keepBest = opts.keepBest ?? true;
  model.train();

  while (state.epoch < opts.epochs) {
    const epoch = state.epoch;
    const lr = opts.schedule ? opts.schedule.lrAt(epoch) : optimizer.lr;
    optimizer.lr = lr;
    const order = epochOrder(n, opts.seed, epoch);
    let trainSeconds = 0;
    let seen = 0;
    for (let b = state.batch; b < batches; b++) {
      const t0 = performance.now();
      const start = b * opts.batchSize;
      const bs = Math.min(opts.batchSize, n - start);
      const idx = order.subarray(start, start + bs);
      let xb: Float32Array = new Float32Array(bs * d);
      const yb = new Int32Array(bs);
      for (let i = 0; i < bs; i++) {
        const s = idx[i]!;
        xb.set(ds.train.x.subarray(s * d, (s + 1) * d), i * d);
        yb[i] = ds.train.y[s]!;
      }
      if (opts.augment) {
        // one generator per (epoch, batch): a resumed run draws the same crops
        const rng = new Rng(opts.seed * 131 + epoch * 100_003 + b);
        xb = randomCropFlip(xb, [bs, ...shape], rng, new Float32Array(xb.length));
      }
      // one memory scope per step: on the GPU the step's activations and gradients are freed here
      const lv = tidy(() => {
        const input = new Tensor(hostToDevice(device, xb), [bs, ...shape]);
        const out = model.forward(input);
        let loss: Tensor;
        try {
          loss = method.loss(out, { labels: yb, indices: Int32Array.from(idx), epoch, epochs: opts.epochs, input });
        } catch (e) {
          // non-finite outputs fail inside a loss (e.g. two-head's pseudo-label selection): say why
          if (!allFinite(out.softmax) || !allFinite(out.multilabel)) {
            throw new DivergenceError(`fit: the model's outputs are not finite at epoch ${epoch + 1}, batch ${b + 1} (training diverged; lower the learning rate?)`, { cause: e });
          }
          throw e;
        }
        const v = loss.item();
        if (!Number.isFinite(v)) throw new DivergenceError(`fit: the loss became ${v} at epoch ${epoch + 1}, batch ${b + 1} (training diverged; lower the learning rate?)`);
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();
        method.afterStep?.(lr);
        return v;
      });
      state.step++;
      state.batch = b + 1;
      state.epochLossSum += lv;
      seen += bs;
      trainSeconds += (performance.now() - t0) / 1000;
      const info: StepInfo = { epoch, batch: b, batches, step: state.step, loss: lv, lr, elapsed: trainSeconds, samplesSeen: seen };
      opts.onStep?.(info);
      yield { kind: 'step', info, lastOfEpoch: b + 1 === batches };
    }
    // End of epoch: validate with calibration at every K.
    const val = tidy(() => {
      const valScores = scoreSplitTensor(model, method, ds.val, shape, opts.evalBatchSize);
      const host = valScores.dataSync() as Float32Array;
      const bad = host.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) {
        throw new DivergenceError(`fit: after epoch ${epoch + 1} the validation scores are not finite (${host[bad]} for sample ${Math.floor(bad / ds.numClasses)}): training diverged; lower the learning rate?`);
      }
      const cals = calibrateAll(valScores, ds.numClasses, opts.ks, opts.seed);
      return cals.map((cal) => {
        const e = evaluateScores(host, ds.val.y, ds.numClasses, cal);
        return { k: cal.k, avgKAccuracy: e.avgKAccuracy, meanSetSize: e.meanSetSize };
      });
    });
    const valScore = val.reduce((s, v) => s + v.avgKAccuracy, 0) / val.length;
    const info: EpochInfo = { epoch, trainLoss: state.epochLossSum / batches, lr, val, valScore, seconds: trainSeconds, imagesPerS: seen / trainSeconds };
    state.history.push(info);
    if (!keepBest || valScore > state.bestScore) {
      state.bestScore = valScore;
      state.bestEpoch = epoch;
      state.bestState = keepBest ? model.stateDict() : null;
    }
    state.epoch++;
    state.batch = 0;
    state.epochLossSum = 0;
    opts.onEpoch?.(info);
    yield { kind: 'epoch', info };
  }

  if (keepBest && state.bestState) model.loadStateDict(state.bestState);
  const calibrations = tidy(() => calibrateAll(scoreSplitTensor(model, method, ds.val, shape, opts.evalBatchSize), ds.numClasses, opts.ks, opts.seed));
  return { history: state.history, interrupted: false, state, bestEpoch: state.bestEpoch, calibrations };
}

/** A state that continues from `resume` (copied: the caller's object is not changed). */
function startState(opts: FitOptions): TrainState {
  return opts.resume ? { ...opts.resume, history: [...opts.resume.history] } : initialTrainState();
}

function interruptedResult(state: TrainState): FitResult {
  return { history: state.history, interrupted: true, state, bestEpoch: state.bestEpoch, calibrations: [] };
}

/** May a driver stop at this event? Not between an epoch's last step and its validation. */
function canStop(e: FitEvent): boolean {
  return e.kind === 'epoch' || !e.lastOfEpoch;
}

/**
 * Trains synchronously (see fitSteps). `shouldStop` is polled after every step and every epoch:
 * true ends training there with `interrupted: true` and a `state` to resume from.
 */
export function fit(model: TwoHeadModel, method: AvgKMethod, optimizer: Optimizer, ds: Dataset, opts: FitOptions): FitResult {
  const state = startState(opts);
  const gen = fitSteps(model, method, optimizer, ds, opts, state);
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    if (canStop(r.value) && opts.shouldStop?.() && state.epoch < opts.epochs) return interruptedResult(state);
  }
}

/**
 * Trains without blocking the event loop for more than `yieldEveryMs` (default 50) at a time, so
 * that signal handlers, progress timers and other work run during training. Stops like fit() when
 * `shouldStop()` turns true or `signal` is aborted (after the current step).
 */
export async function fitAsync(
  model: TwoHeadModel, method: AvgKMethod, optimizer: Optimizer, ds: Dataset,
  opts: FitOptions & { signal?: AbortSignal; yieldEveryMs?: number },
): Promise<FitResult> {
  const state = startState(opts);
  const gen = fitSteps(model, method, optimizer, ds, opts, state);
  const every = opts.yieldEveryMs ?? 50;
  let last = performance.now();
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    if (performance.now() - last >= every) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      last = performance.now();
    }
    const stop = opts.signal?.aborted === true || opts.shouldStop?.() === true;
    if (stop && canStop(r.value) && state.epoch < opts.epochs) return interruptedResult(state);
  }
}
