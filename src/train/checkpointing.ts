/**
 * Training checkpoints: the glue between the training loop (fit.ts) and the checkpoint file format
 * (io/checkpoint.ts). One `.safetensors` file holds everything needed to continue a run exactly
 * or to use its model:
 *
 * Tensors (all float32):
 *   model.<name>          weights and buffers (batch-norm running statistics) at the resume point
 *                          (the last step trained, not the best epoch's weights)
 *   best.<name>           the best epoch's weights (TrainState.bestState), when kept
 *   optim.<param>.<slot>  optimiser buffers (SGD `momentum`, Adam `m`, `v`, `step`)
 *   method.<key>          the method's own state (ROLE's label estimates and their Adam buffers)
 *
 * Meta (JSON, under "avgk"; see CheckpointMeta in io/checkpoint.ts):
 *   kind: 'avgk-train', status ('complete' | 'interrupted'), config (the caller's run config),
 *   epoch, step, optimizer {name, hyper, stepCount}, rng (global generator state), trainState
 *   (TrainState without bestState), hasBest, calibrations (per head, per K), thresholds (the
 *   scored head's λ per K), classNames, metrics, plus format/library versions stamped by io.
 *
 * Restoring the model, optimiser, method, global RNG and TrainState and calling fit() with
 * `resume` continues bit-for-bit (test/checkpoint-resume.test.ts).
 */
import { CheckpointError } from '../errors.js';
import { FLOAT32_MAX } from '../avgk/methods/index.js';
import type { TwoHeadModel } from '../avgk/model.js';
import type { AvgKMethod } from '../avgk/losses.js';
import type { Calibration } from '../avgk/calibrate.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import { globalGenerator } from '../tensor/random.js';
import { loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.js';
import type { SafeTensor, TensorMap } from '../io/safetensors.js';
import type { EpochInfo, TrainState } from './fit.js';

export type StateDict = Record<string, { shape: number[]; data: Float32Array }>;

export const TRAIN_CHECKPOINT_KIND = 'avgk-train';

/** TrainState as stored in JSON: no bestState, non-finite numbers as null. */
export interface StoredTrainState {
  epoch: number;
  batch: number;
  step: number;
  epochLossSum: number;
  bestScore: number | null;
  bestEpoch: number;
  history: unknown[];
}

export interface TrainCheckpointMeta {
  kind: typeof TRAIN_CHECKPOINT_KIND;
  /** 'complete': training finished (model.* = last weights, best.* = selected weights); 'interrupted': resumable mid-run. */
  status: 'complete' | 'interrupted';
  config: Record<string, unknown>;
  epoch: number;
  step: number;
  optimizer: { name: string; hyper: Record<string, number | boolean>; stepCount: number };
  rng: number[];
  trainState: StoredTrainState;
  hasBest: boolean;
  /** Calibrations on validation, per head ('method': the method's scored head, 'softmax': the softmax head). */
  calibrations: Record<string, Calibration[]>;
  /** λ of the method's head per K, e.g. {"2": 0.137}. */
  thresholds: Record<string, number>;
  classNames: string[];
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface SaveTrainingOptions {
  model: TwoHeadModel;
  optimizer: Optimizer;
  method: AvgKMethod;
  state: TrainState;
  config: Record<string, unknown>;
  classNames: string[];
  status: 'complete' | 'interrupted';
  /** The weights of the resume point (default: the model's current weights). */
  modelState?: StateDict;
  calibrations?: Record<string, Calibration[]>;
  metrics?: Record<string, unknown>;
  /** Extra meta fields. */
  extra?: Record<string, unknown>;
}

/** JSON-safe deep copy: non-finite numbers become null. */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = jsonSafe(x);
    return out;
  }
  return v;
}

function f32(shape: readonly number[], data: Float32Array): SafeTensor {
  return { dtype: 'F32', shape: [...shape], data };
}

/** Parameter names of the optimiser's parameters, matched by identity with the model's. */
function optimizerParamNames(model: TwoHeadModel, optimizer: Optimizer): string[] {
  const byTensor = new Map(model.namedParameters().map(([name, t]) => [t, name] as const));
  return optimizer.params.map((p, i) => {
    const name = byTensor.get(p);
    if (name === undefined) throw new Error(`checkpoint: optimiser parameter ${i} is not a parameter of the model`);
    return name;
  });
}

/** Everything to save, as tensors and meta (exposed for tests and in-memory use). */
export function buildTrainingCheckpoint(o: SaveTrainingOptions): { tensors: TensorMap; meta: TrainCheckpointMeta } {
  const tensors = Object.create(null) as TensorMap;
  const weights = o.modelState ?? o.model.stateDict();
  for (const [name, t] of Object.entries(weights)) tensors[`model.${name}`] = f32(t.shape, t.data);
  const best = o.state.bestState;
  if (best) for (const [name, t] of Object.entries(best)) tensors[`best.${name}`] = f32(t.shape, t.data);
  const opt = o.optimizer.stateDict();
  const names = optimizerParamNames(o.model, o.optimizer);
  opt.slots.forEach((slots, i) => {
    for (const [slot, data] of Object.entries(slots)) {
      const shape = slot === 'step' ? [data.length] : o.optimizer.params[i].shape;
      tensors[`optim.${names[i]}.${slot}`] = f32(data.length === o.optimizer.params[i].size ? shape : [data.length], Float32Array.from(data));
    }
  });
  const ms = o.method.stateDict?.() ?? {};
  for (const [key, data] of Object.entries(ms)) tensors[`method.${key}`] = f32([data.length], Float32Array.from(data));
  const s = o.state;
  const calibrations = o.calibrations ?? {};
  const thresholds: Record<string, number> = {};
  for (const c of calibrations.method ?? []) thresholds[String(c.k)] = c.threshold;
  const meta: TrainCheckpointMeta = {
    ...(o.extra ?? {}),
    kind: TRAIN_CHECKPOINT_KIND,
    status: o.status,
    config: o.config,
    epoch: s.epoch,
    step: s.step,
    optimizer: { name: opt.name, hyper: opt.hyper, stepCount: opt.stepCount },
    rng: globalGenerator().getState(),
    trainState: jsonSafe({
      epoch: s.epoch,
      batch: s.batch,
      step: s.step,
      epochLossSum: s.epochLossSum,
      bestScore: s.bestScore,
      bestEpoch: s.bestEpoch,
      history: s.history,
    }) as StoredTrainState,
    hasBest: best !== null,
    calibrations: jsonSafe(calibrations) as Record<string, Calibration[]>,
    thresholds,
    classNames: o.classNames,
    ...(o.metrics ? { metrics: jsonSafe(o.metrics) as Record<string, unknown> } : {}),
  };
  return { tensors, meta };
}

/** Save a training checkpoint atomically to `path` (`.safetensors` is added unless present). */
export async function saveTrainingCheckpoint(path: string, o: SaveTrainingOptions): Promise<string> {
  return saveCheckpoint(path, buildTrainingCheckpoint(o));
}

export type TrainingCheckpoint = LoadedCheckpoint<TrainCheckpointMeta>;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Check that a loaded checkpoint is a training checkpoint with the fields restore needs.
 * Errors read `checkpoint <file>: <problem>`.
 */
export function validateTrainingCheckpoint(ckpt: LoadedCheckpoint<Record<string, unknown>>): TrainingCheckpoint {
  const m = ckpt.meta as Record<string, unknown>;
  const fail = (msg: string): Error => new CheckpointError(`checkpoint ${ckpt.path}: ${msg}`);
  const corrupt = (field: string, what: string, v: unknown): Error => fail(`corrupt metadata: ${field} must be ${what}, got ${show(v)}`);
  const count = (v: unknown, field: string, lo = 0): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo) throw corrupt(field, `an integer ≥ ${lo}`, v);
    return v;
  };
  /** A finite number, or null where jsonSafe stored a non-finite one. */
  const numOrNull = (v: unknown, field: string): void => {
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw corrupt(field, 'a number', v);
  };
  if (m.kind !== TRAIN_CHECKPOINT_KIND) throw fail(`not a training checkpoint (kind is ${JSON.stringify(m.kind)}, expected "${TRAIN_CHECKPOINT_KIND}")`);
  if (m.status !== 'complete' && m.status !== 'interrupted') throw fail(`corrupt metadata: status is ${JSON.stringify(m.status)}`);
  if (!isObj(m.config)) throw fail('corrupt metadata: config is missing');
  if (m.epoch !== undefined) count(m.epoch, 'epoch');
  if (m.step !== undefined) count(m.step, 'step');
  const ts = m.trainState;
  if (!isObj(ts)) throw fail('corrupt metadata: trainState is missing');
  for (const k of ['epoch', 'batch', 'step'] as const) count(ts[k], `trainState.${k}`);
  count(ts.bestEpoch, 'trainState.bestEpoch', -1);
  if ((ts.bestEpoch as number) >= (ts.epoch as number)) throw corrupt('trainState.bestEpoch', `below trainState.epoch (${ts.epoch as number})`, ts.bestEpoch);
  if (typeof ts.epochLossSum !== 'number' || !Number.isFinite(ts.epochLossSum)) throw corrupt('trainState.epochLossSum', 'a number', ts.epochLossSum);
  numOrNull(ts.bestScore, 'trainState.bestScore');
  if (!Array.isArray(ts.history)) throw corrupt('trainState.history', 'an array', ts.history);
  // one entry per finished epoch, as fit() records them
  if (ts.history.length !== ts.epoch) throw corrupt('trainState.history', `one entry per finished epoch (${ts.epoch as number})`, `${ts.history.length} entries`);
  ts.history.forEach((h: unknown, i: number) => {
    const f = `trainState.history[${i}]`;
    if (!isObj(h)) throw corrupt(f, 'an object', h);
    if (h.epoch !== i) throw corrupt(`${f}.epoch`, String(i), h.epoch);
    for (const k of ['trainLoss', 'lr', 'valScore', 'seconds', 'imagesPerS'] as const) numOrNull(h[k], `${f}.${k}`);
    if (!Array.isArray(h.val)) throw corrupt(`${f}.val`, 'an array', h.val);
    h.val.forEach((v: unknown, j: number) => {
      if (!isObj(v)) throw corrupt(`${f}.val[${j}]`, 'an object', v);
      for (const k of ['k', 'avgKAccuracy', 'meanSetSize'] as const) numOrNull(v[k], `${f}.val[${j}].${k}`);
    });
  });
  const opt = m.optimizer;
  if (!isObj(opt) || typeof opt.name !== 'string' || !isObj(opt.hyper)) throw fail('corrupt metadata: optimizer is missing or malformed');
  count(opt.stepCount, 'optimizer.stepCount');
  for (const [k, v] of Object.entries(opt.hyper)) {
    if (typeof v === 'boolean') continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > FLOAT32_MAX) throw corrupt(`optimizer.hyper.${k}`, 'a float32 number or a boolean', v);
  }
  if (!Array.isArray(m.rng) || m.rng.length !== 4 || !m.rng.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 32)) {
    throw fail('corrupt metadata: rng is not four uint32 values');
  }
  if (typeof m.hasBest !== 'boolean') throw corrupt('hasBest', 'true or false', m.hasBest);
  if (!Array.isArray(m.classNames) || !m.classNames.every((x) => typeof x === 'string')) throw fail('corrupt metadata: classNames is not a list of strings');
  if (!isObj(m.calibrations)) throw fail('corrupt metadata: calibrations is missing');
  for (const [head, cals] of Object.entries(m.calibrations)) {
    if (!Array.isArray(cals) || !cals.every((c) => isObj(c) && typeof c.k === 'number' && typeof c.threshold === 'number' && typeof c.n === 'number')) {
      throw fail(`corrupt metadata: calibrations.${head} is malformed`);
    }
    for (const c of cals as Record<string, unknown>[]) if (c.tieShare === null) c.tieShare = NaN; // stored by jsonSafe
  }
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    if (t.dtype !== 'F32') throw fail(`tensor ${name} has dtype ${t.dtype}, expected F32`);
  }
  if (!Object.keys(ckpt.tensors).some((k) => k.startsWith('model.'))) throw fail('no model weights (model.* tensors)');
  return ckpt as unknown as TrainingCheckpoint;
}

/** Load and validate a training checkpoint (errors read `checkpoint <file>: <problem>`). */
export async function readTrainingCheckpoint(path: string): Promise<TrainingCheckpoint> {
  return validateTrainingCheckpoint(await loadCheckpoint<Record<string, unknown>>(path));
}

function stateDictWithPrefix(ckpt: TrainingCheckpoint, prefix: string): StateDict {
  const out: StateDict = {};
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = { shape: [...t.shape], data: t.data as Float32Array };
  }
  return out;
}

/** The weights at the resume point (`model.*`). */
export function resumeWeights(ckpt: TrainingCheckpoint): StateDict {
  return stateDictWithPrefix(ckpt, 'model.');
}

/** The weights to use for evaluation and prediction: the best epoch's when kept, else the last. */
export function bestWeights(ckpt: TrainingCheckpoint): StateDict {
  return ckpt.meta.hasBest ? stateDictWithPrefix(ckpt, 'best.') : resumeWeights(ckpt);
}

/** Load weights into a model, with errors that name the checkpoint (wrong sizes, missing tensors). */
export function loadWeights(ckpt: TrainingCheckpoint, model: TwoHeadModel, weights: StateDict): void {
  try {
    model.loadStateDict(weights);
  } catch (e) {
    throw new Error(`checkpoint ${ckpt.path}: the weights do not fit the model (${(e as Error).message})`, { cause: e });
  }
}

/**
 * Restore model (resume-point weights), optimiser buffers and step count, method state and the
 * global RNG, and return the TrainState to pass to fit() as `resume`.
 */
export function restoreTraining(ckpt: TrainingCheckpoint, target: { model: TwoHeadModel; optimizer: Optimizer; method: AvgKMethod }): TrainState {
  const { model, optimizer, method } = target;
  const fail = (msg: string, cause?: unknown): Error => new CheckpointError(`checkpoint ${ckpt.path}: ${msg}`, cause === undefined ? undefined : { cause });
  const meta = ckpt.meta;
  loadWeights(ckpt, model, resumeWeights(ckpt));
  let bestState: StateDict | null = null;
  if (meta.hasBest) {
    bestState = {};
    for (const [name, t] of Object.entries(bestWeights(ckpt))) bestState[name] = { shape: [...t.shape], data: Float32Array.from(t.data) };
    // check the best weights fit the model too (on a scratch copy of the current state)
    const expect = model.stateDict();
    for (const [name, t] of Object.entries(expect)) {
      const b = bestState[name];
      if (!b || b.data.length !== t.data.length) throw fail(`best weights: "${name}" is missing or has the wrong size`);
    }
    if (Object.keys(bestState).length !== Object.keys(expect).length) throw fail('best weights have unexpected entries');
  }
  // optimiser
  if (meta.optimizer.name !== optimizer.constructor.name) throw fail(`the optimiser is ${meta.optimizer.name}, not ${optimizer.constructor.name}`);
  const names = optimizerParamNames(model, optimizer);
  const slots: Record<string, Float32Array>[] = names.map(() => ({}));
  const index = new Map(names.map((n, i) => [n, i] as const));
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    if (!name.startsWith('optim.')) continue;
    const rest = name.slice(6);
    const dot = rest.lastIndexOf('.');
    const i = index.get(rest.slice(0, dot));
    if (dot <= 0 || i === undefined) throw fail(`optimiser buffer ${name} belongs to no parameter of the model`);
    slots[i][rest.slice(dot + 1)] = Float32Array.from(t.data as Float32Array);
  }
  const state: OptimizerState = { name: meta.optimizer.name, hyper: meta.optimizer.hyper, stepCount: meta.optimizer.stepCount, slots };
  try {
    optimizer.loadStateDict(state);
  } catch (e) {
    throw fail(`optimiser state does not fit (${(e as Error).message})`, e);
  }
  // method (ROLE)
  const ms: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(ckpt.tensors)) if (name.startsWith('method.')) ms[name.slice(7)] = Float32Array.from(t.data as Float32Array);
  if (method.loadStateDict) {
    try {
      // a method whose state refers to the model (two-head's EMA teacher) checks it against it now
      method.bind?.(model);
      method.loadStateDict(ms);
    } catch (e) {
      throw fail(`method state does not fit (${(e as Error).message})`, e);
    }
  } else if (Object.keys(ms).length > 0) {
    throw fail(`holds state for a method with state, but "${method.name}" has none`);
  }
  globalGenerator().setState(meta.rng);
  const ts = meta.trainState;
  return {
    epoch: ts.epoch,
    batch: ts.batch,
    step: ts.step,
    epochLossSum: ts.epochLossSum,
    bestScore: ts.bestScore === null ? -Infinity : ts.bestScore,
    bestEpoch: ts.bestEpoch,
    bestState,
    history: ts.history as EpochInfo[],
  };
}
