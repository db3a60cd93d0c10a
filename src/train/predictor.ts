/**
 * A trained model ready to predict sets, loaded from a checkpoint without its training data:
 *
 *   const p = await loadPredictor('runs/X/checkpoint.safetensors');
 *   const { sets, names } = p.predictSets(images, { k: 2 });   // images: raw pixels (Uint8Array or [0,1] floats)
 *
 * The checkpoint carries what prediction needs: the run's RunSpec (to rebuild the model), the
 * selected weights, the input preprocessing (sample shape and the per-channel standardisation fitted
 * on the training split), the class names, and the thresholds calibrated on validation per K.
 */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../tensor/scope.js';
import { hostToDevice } from '../tensor/alloc.js';
import { parseDevice, type Device } from '../backend/device.js';
import { buildModel, type TwoHeadModel } from '../avgk/model.js';
import { methodDef, methodScores } from '../avgk/losses.js';
import { predictSets as thresholdSets, type Calibration } from '../avgk/calibrate.js';
import { channelLayout } from '../data/transforms.js';
import type { Dataset } from '../data/types.js';
import { bestWeights, readTrainingCheckpoint, type TrainingCheckpoint } from './checkpointing.js';
import { runSpecFromCheckpoint, type RunSpec } from './spec.js';
import { AvgkError } from '../errors.js';

/** How raw inputs become model inputs: pixels scaled to [0, 1], then standardised per channel. */
export interface Preprocessing {
  /** Shape of one sample as the model takes it, e.g. [1, 28, 28] (CHW) or [d]. */
  sampleShape: number[];
  /** Per-channel mean and standard deviation of the training split (null: inputs are used as given). */
  normalize: { mean: number[]; std: number[] } | null;
}

/** The preprocessing of a loaded dataset (its normalize transform, if any). */
export function preprocessingOf(ds: Dataset): Preprocessing {
  const transforms = Array.isArray(ds.meta.transforms) ? (ds.meta.transforms as { type?: string; mean?: number[]; std?: number[] }[]) : [];
  const norm = transforms.find((t) => t.type === 'normalize');
  return { sampleShape: [...ds.sampleShape], normalize: norm?.mean && norm.std ? { mean: [...norm.mean], std: [...norm.std] } : null };
}

export interface SetPrediction {
  k: number;
  /** Per sample: the labels in its set, ascending. */
  sets: number[][];
  /** Per sample: the class names of its set. */
  names: string[][];
  /** Per sample: the score of each label of its set (same order), on the thresholded head's scale. */
  setScores: number[][];
  /** Every score, n × C row-major (log-softmax or multi-label logits: see `scoreHead`). */
  scores: Float32Array;
  threshold: number;
}

export class Predictor {
  constructor(
    readonly model: TwoHeadModel,
    /** The training method's name and the head its sets threshold. */
    readonly method: { name: string; scoreHead: 'softmax' | 'multilabel' },
    readonly preprocessing: Preprocessing,
    readonly classNames: string[],
    /** Thresholds calibrated on validation, per K. */
    readonly calibrations: Calibration[],
    /** The run that trained the model. */
    readonly spec: RunSpec,
  ) {}

  /** The K values this checkpoint was calibrated for. */
  get ks(): number[] {
    return this.calibrations.map((c) => c.k);
  }

  /** Moves the model to a device (returns this). */
  to(device: Device | 'cuda:0'): this {
    this.model.to(parseDevice('Predictor.to', device));
    return this;
  }

  /**
   * Raw samples → model inputs (a new array): Uint8Array pixels are divided by 255, then each channel
   * is standardised with the training statistics.
   */
  preprocess(raw: Uint8Array | Float32Array): Float32Array {
    const { sampleShape, normalize } = this.preprocessing;
    const d = sampleShape.reduce((a, b) => a * b, 1);
    if (raw.length === 0 || raw.length % d !== 0) {
      throw new AvgkError('ERR_AVGK_USAGE', `Predictor.preprocess: ${raw.length} values are not a whole number of samples of shape [${sampleShape.join(', ')}] (${d} values each)`);
    }
    const x = raw instanceof Uint8Array ? Float32Array.from(raw, (v) => v / 255) : Float32Array.from(raw);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]!)) throw new AvgkError('ERR_AVGK_DATA', `Predictor.preprocess: value ${x[i]} at index ${i} (sample ${Math.floor(i / d)}) is not finite`);
    }
    if (normalize) {
      const { channels, inner } = channelLayout(sampleShape);
      for (let at = 0; at < x.length; at += d) {
        for (let c = 0; c < channels; c++) {
          const m = normalize.mean[c] ?? normalize.mean[0]!;
          const s = normalize.std[c] ?? normalize.std[0]!;
          for (let j = at + c * inner, e = j + inner; j < e; j++) x[j] = (x[j]! - m) / s;
        }
      }
    }
    return x;
  }

  /** Scores (n × C, host) of model-ready inputs: a tensor [n, ...sampleShape], or preprocessed values. */
  scores(x: Tensor | Float32Array, batchSize = 512): Float32Array {
    const shape = this.preprocessing.sampleShape;
    const d = shape.reduce((a, b) => a * b, 1);
    const host = x instanceof Tensor ? (x.dataSync() as Float32Array) : x;
    if (x instanceof Tensor && (x.ndim !== shape.length + 1 || x.shape.slice(1).some((v, i) => v !== shape[i]))) {
      throw new AvgkError('ERR_AVGK_USAGE', `Predictor: input ${x.toString()} does not have the model's sample shape [n, ${shape.join(', ')}]`);
    }
    const n = host.length / d;
    const c = this.model.numClasses;
    const out = new Float32Array(n * c);
    const device = this.model.device;
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      for (let s = 0; s < n; s += batchSize) {
        const b = Math.min(batchSize, n - s);
        noGrad(() => tidy(() => {
          const xb = new Tensor(hostToDevice(device, host.subarray(s * d, (s + b) * d)), [b, ...shape]);
          out.set(methodScores(this.method, this.model.forward(xb)).dataSync(), s * c);
        }));
      }
    } finally {
      this.model.train(wasTraining);
    }
    return out;
  }

  /**
   * Label sets at average size K for a batch: `x` is a model-ready tensor [n, ...sampleShape], or
   * raw samples (Uint8Array pixels, or floats in [0, 1]) that are preprocessed first. K must be one
   * the checkpoint was calibrated for (`ks`).
   */
  predictSets(x: Tensor | Uint8Array | Float32Array, opts: { k?: number } = {}): SetPrediction {
    const k = opts.k ?? this.calibrations[0]!.k;
    const cal = this.calibrations.find((c) => c.k === k);
    if (!cal) {
      throw new AvgkError('ERR_AVGK_USAGE', `Predictor.predictSets: K = ${k} was not calibrated for this model (calibrated: ${this.ks.join(', ')}); \`avgk eval --k ${k}\` calibrates it on the run's validation split`);
    }
    const scores = this.scores(x instanceof Tensor ? x : this.preprocess(x));
    const c = this.model.numClasses;
    const n = scores.length / c;
    const sets = thresholdSets(scores, n, c, cal);
    const out: SetPrediction = { k, sets: [], names: [], setScores: [], scores, threshold: cal.threshold };
    for (let i = 0; i < n; i++) {
      const labels: number[] = [];
      for (let j = 0; j < c; j++) if (sets.mask[i * c + j]) labels.push(j);
      out.sets.push(labels);
      out.names.push(labels.map((j) => this.classNames[j] ?? String(j)));
      out.setScores.push(labels.map((j) => scores[i * c + j]!));
    }
    return out;
  }
}

/**
 * A Predictor from a loaded training checkpoint (the selected weights, on the CPU).
 * opts.preprocessing replaces the stored one (checkpoints of earlier versions have none).
 */
export function predictorFromCheckpoint(ckpt: TrainingCheckpoint, opts: { preprocessing?: Preprocessing; calibrations?: Calibration[] } = {}): Predictor {
  const fail = (msg: string): never => {
    throw new AvgkError('ERR_AVGK_CHECKPOINT', `checkpoint ${ckpt.path}: ${msg}`);
  };
  const spec = runSpecFromCheckpoint(ckpt.meta.config) ?? fail('corrupt metadata: the run configuration is malformed');
  const pre = opts.preprocessing ?? (ckpt.meta.preprocessing as Preprocessing | undefined);
  if (!pre || !Array.isArray(pre.sampleShape)) fail('it carries no preprocessing metadata (written by an earlier avgk); use `avgk predict --checkpoint` on it, which reloads the dataset');
  const def = methodDef(spec.method.name);
  const classNames = ckpt.meta.classNames;
  const model = buildModel(spec.model, pre!.sampleShape, classNames.length);
  model.loadStateDict(bestWeights(ckpt));
  const cals = opts.calibrations ?? ckpt.meta.calibrations.method ?? [];
  if (cals.length === 0) fail('no calibrated thresholds (the run did not finish)');
  return new Predictor(model, { name: def.name, scoreHead: def.scoreHead }, pre!, classNames, cals, spec);
}

/**
 * Loads a trained model for prediction from a checkpoint written by `avgk train` (or
 * saveTrainingCheckpoint). opts.device moves it to 'cuda'.
 */
export async function loadPredictor(path: string, opts: { device?: Device } = {}): Promise<Predictor> {
  let ckpt: TrainingCheckpoint;
  try {
    ckpt = await readTrainingCheckpoint(path);
  } catch (e) {
    throw new AvgkError('ERR_AVGK_CHECKPOINT', (e as Error).message);
  }
  const p = predictorFromCheckpoint(ckpt);
  if (opts.device) p.to(opts.device);
  return p;
}
