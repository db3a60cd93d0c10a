/**
 * What every training method is made of: the two heads' outputs, the per-batch context, the
 * AvgKMethod interface, and the building blocks the methods share (output checks, one-hot targets
 * on a device, EPR's regulariser). The methods themselves are in ./methods/, one file each.
 */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { logSoftmax } from '../autograd/ops/softmax.js';
import { sigmoid } from '../autograd/ops/elementwise.js';
import { shapeStr } from '../tensor/shape.js';
import { hostToDevice } from '../tensor/alloc.js';
import type { Device } from '../backend/device.js';
import type { TwoHeadModel } from './model.js';

/** The two heads' logits for a batch: softmax head a and multi-label head z, both [B, C]. */
export interface HeadOutputs {
  softmax: Tensor;
  multilabel: Tensor;
  /**
   * The multi-label logits recomputed on detached backbone features: same values as `multilabel`,
   * but a loss on them trains only the multi-label head (two-head's `headGrad: 'full'`).
   * Computed on demand; absent for outputs that do not come from a TwoHeadModel.
   */
  multilabelHeadOnly?: () => Tensor;
}

export interface LossContext {
  labels: Int32Array;
  /** Indices of the batch's samples in the training split (ROLE keeps a row per sample). */
  indices: Int32Array;
  /** The epoch (0-based) and the number of epochs, for methods with schedules (fit sets them). */
  epoch?: number;
  epochs?: number;
  /** The batch's inputs on the model's device (fit sets it; two-head's EMA teacher runs on them). */
  input?: Tensor;
}

export interface AvgKMethod {
  readonly name: string;
  /** The head whose scores are calibrated and thresholded at test time. */
  readonly scoreHead: 'softmax' | 'multilabel';
  /** True when one trained model serves every K (the K only enters at calibration). */
  readonly kIndependent: boolean;
  /** Options as used (defaults filled in), for reports and checkpoints. */
  readonly options: Record<string, unknown>;
  loss(out: HeadOutputs, ctx: LossContext): Tensor;
  /**
   * Called by fit before the first step with the model it trains (two-head's EMA teacher averages
   * its weights). Binding the same model again keeps the method's state.
   */
  bind?(model: TwoHeadModel): void;
  /** Called after the model's optimiser step (ROLE updates its label estimates here). */
  afterStep?(lr: number): void;
  /** Extra training state to checkpoint (ROLE's label-estimate matrix and its optimiser). */
  stateDict?(): Record<string, Float32Array>;
  loadStateDict?(state: Record<string, Float32Array>): void;
  /** Moves the method's own tensors (ROLE's label estimates) to the model's device. */
  to?(device: Device): void;
}

/** Checks both heads are [B, C] for the batch's B labels in [0, C); returns B. */
export function checkOutputs(name: string, out: HeadOutputs, ctx: LossContext, c: number): number {
  const b = ctx.labels.length;
  for (const [head, t] of [['softmax', out.softmax], ['multilabel', out.multilabel]] as const) {
    if (t.ndim !== 2 || t.shape[0] !== b || t.shape[1] !== c) {
      throw new Error(`${name} loss: ${head} logits have shape ${shapeStr(t.shape)}, expected [${b}, ${c}]`);
    }
  }
  for (let i = 0; i < b; i++) {
    const y = ctx.labels[i]!;
    if (!(y >= 0 && y < c)) throw new Error(`${name} loss: label ${y} at row ${i} is out of range [0, ${c})`);
  }
  return b;
}

/** [B, C] targets: `on` at each sample's label, `off` elsewhere, as a tensor on `device`. */
export function oneHotOn(device: Device, labels: Int32Array, c: number, on = 1, off = 0): Tensor {
  const t = new Float32Array(labels.length * c).fill(off);
  for (let i = 0; i < labels.length; i++) t[i * c + labels[i]!] = on;
  return new Tensor(hostToDevice(device, t), [labels.length, c]);
}

/** EPR's regulariser ((1/B) Σᵢⱼ σ(z)ᵢⱼ − k̂)² / C². */
export function expectedPositiveReg(z: Tensor, k: number): Tensor {
  const [b, c] = z.shape as [number, number];
  return sigmoid(z).sum().div(b).sub(k).pow(2).div(c * c);
}

/**
 * Scores that the method thresholds, as a [B, C] tensor on the model's device: log-softmax of the
 * softmax head (monotone in the probabilities, without underflow ties) or the multi-label logits
 * (monotone in σ).
 */
export function methodScores(method: Pick<AvgKMethod, 'scoreHead'>, out: HeadOutputs): Tensor {
  return noGrad(() => (method.scoreHead === 'softmax' ? logSoftmax(out.softmax) : out.multilabel));
}
