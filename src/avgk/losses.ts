/**
 * Average-K training objectives (see docs/average-k.md):
 *  - softmax:  cross-entropy on the softmax head (the baseline: threshold the softmax);
 *  - two-head: cross-entropy + μ · BCE of the multi-label head on per-batch pseudo-labels;
 *  - an, wan, an-ls, epr, role: single-positive multi-label baselines (Cole et al. 2021) on the
 *    multi-label head.
 * Every method produces a scalar loss tensor with autograd, and says which head's scores are
 * thresholded at test time.
 */
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { softmaxCrossEntropy, sigmoidBce, type BceReduction } from '../autograd/ops/loss.js';
import { softmax, logSoftmax } from '../autograd/ops/softmax.js';
import { sigmoid } from '../autograd/ops/elementwise.js';
import { indexSelect } from '../autograd/ops/shaping.js';
import { affine } from '../autograd/ops/elementwise.js';
import { pseudoLabelTargets, type PseudoLabelVariant } from './pseudo-labels.js';
import { Adam } from '../optim/optimizer.js';
import { shapeStr } from '../tensor/shape.js';
import { hostToDevice } from '../tensor/alloc.js';
import { kernelsOn, type Device, type F32Storage } from '../backend/device.js';
import type { Rng } from '../data/rng.js';

export const METHOD_NAMES = ['softmax', 'two-head', 'an', 'wan', 'an-ls', 'epr', 'role'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** The two heads' logits for a batch: softmax head a and multi-label head z, both [B, C]. */
export interface HeadOutputs {
  softmax: Tensor;
  multilabel: Tensor;
}

export interface LossContext {
  labels: Int32Array;
  /** Indices of the batch's samples in the training split (ROLE keeps a row per sample). */
  indices: Int32Array;
}

export interface AvgKMethod {
  readonly name: MethodName;
  /** The head whose scores are calibrated and thresholded at test time. */
  readonly scoreHead: 'softmax' | 'multilabel';
  /** True when one trained model serves every K (the K only enters at calibration). */
  readonly kIndependent: boolean;
  /** Options as given, for reports and checkpoints. */
  readonly options: Record<string, unknown>;
  loss(out: HeadOutputs, ctx: LossContext): Tensor;
  /** Called after the model's optimiser step (ROLE updates its label estimates here). */
  afterStep?(lr: number): void;
  /** Extra training state to checkpoint (ROLE's label-estimate matrix and its optimiser). */
  stateDict?(): Record<string, Float32Array>;
  loadStateDict?(state: Record<string, Float32Array>): void;
  /** Moves the method's own tensors (ROLE's label estimates) to the model's device. */
  to?(device: Device): void;
}

export interface MethodOptions {
  /** Target average set size (used by two-head, EPR and ROLE; the others are K-independent). */
  k: number;
  numClasses: number;
  /** Size of the training split (ROLE). */
  numTrain?: number;
  /** two-head: weight μ of the multi-label loss (default 1). */
  mu?: number;
  /** two-head: weights of positive / negative BCE terms (default 1, 1). */
  wPos?: number;
  wNeg?: number;
  /** two-head: reduction of the BCE, 'batchmean' = per-sample sum averaged over the batch (default), or 'mean' over entries. */
  reduction?: BceReduction;
  /** two-head: pseudo-label rule (default 'true-plus-topk'). */
  variant?: PseudoLabelVariant;
  /** an-ls: label smoothing coefficient (default 0.1). */
  smoothing?: number;
  /** role: learning rate of the label estimator is lrMultiplier × the model's (default 10). */
  lrMultiplier?: number;
  rng?: Rng;
}

function checkOutputs(name: string, out: HeadOutputs, ctx: LossContext, c: number): number {
  const b = ctx.labels.length;
  for (const [head, t] of [['softmax', out.softmax], ['multilabel', out.multilabel]] as const) {
    if (t.ndim !== 2 || t.shape[0] !== b || t.shape[1] !== c) {
      throw new Error(`${name} loss: ${head} logits have shape ${shapeStr(t.shape)}, expected [${b}, ${c}]`);
    }
  }
  for (let i = 0; i < b; i++) {
    const y = ctx.labels[i];
    if (!(y >= 0 && y < c)) throw new Error(`${name} loss: label ${y} at row ${i} is out of range [0, ${c})`);
  }
  return b;
}

function oneHot(labels: Int32Array, c: number, on = 1, off = 0): Float32Array {
  const t = new Float32Array(labels.length * c).fill(off);
  for (let i = 0; i < labels.length; i++) t[i * c + labels[i]!] = on;
  return t;
}

/** oneHot as a [B, C] tensor on `device`. */
function oneHotOn(device: Device, labels: Int32Array, c: number, on = 1, off = 0): Tensor {
  return new Tensor(hostToDevice(device, oneHot(labels, c, on, off)), [labels.length, c]);
}

/** EPR's regulariser ((1/B) Σᵢⱼ σ(z)ᵢⱼ − k̂)² / C². */
function expectedPositiveReg(z: Tensor, k: number): Tensor {
  const [b, c] = z.shape;
  return sigmoid(z).sum().div(b).sub(k).pow(2).div(c * c);
}

function checkK(name: string, k: number, c: number, min: number): void {
  if (typeof k !== 'number' || !Number.isFinite(k) || k < min || k >= c) {
    throw new Error(`${name}: K must be in [${min}, ${c}) for ${c} classes, got ${k}`);
  }
}

export function createMethod(name: string, opts: MethodOptions): AvgKMethod {
  const c = opts.numClasses;
  if (!Number.isInteger(c) || c < 2) throw new Error(`createMethod: numClasses must be an integer ≥ 2, got ${c}`);
  const k = opts.k;
  switch (name) {
    case 'softmax':
      checkK(name, k, c, 0);
      return {
        name, scoreHead: 'softmax', kIndependent: true, options: { smoothing: opts.smoothing ?? 0 },
        loss(out, ctx) {
          checkOutputs(name, out, ctx, c);
          return softmaxCrossEntropy(out.softmax, ctx.labels, { smoothing: opts.smoothing ?? 0 });
        },
      };
    case 'two-head': {
      checkK(name, k, c, opts.variant === 'batch-topk' ? 0 : 1);
      const mu = opts.mu ?? 1;
      const wPos = opts.wPos ?? 1;
      const wNeg = opts.wNeg ?? 1;
      const reduction = opts.reduction ?? 'batchmean';
      const variant = opts.variant ?? 'true-plus-topk';
      if (!(mu >= 0) || !(wPos >= 0) || !(wNeg >= 0)) throw new Error(`two-head: mu, wPos and wNeg must be ≥ 0, got ${mu}, ${wPos}, ${wNeg}`);
      return {
        name, scoreHead: 'multilabel', kIndependent: false, options: { k, mu, wPos, wNeg, reduction, variant },
        loss(out, ctx) {
          checkOutputs(name, out, ctx, c);
          const ce = softmaxCrossEntropy(out.softmax, ctx.labels);
          // on the logits' device: the pseudo-labels never leave the GPU
          const targets = noGrad(() => pseudoLabelTargets(softmax(out.softmax), ctx.labels, k, variant));
          const weights = wPos !== 1 || wNeg !== 1 ? noGrad(() => affine(targets, wPos - wNeg, wNeg)) : null;
          const bce = sigmoidBce(out.multilabel, targets, { weights, reduction });
          return mu === 1 ? ce.add(bce) : ce.add(bce.mul(mu));
        },
      };
    }
    case 'an':
    case 'wan':
    case 'an-ls': {
      checkK(name, k, c, 0);
      const eps = name === 'an-ls' ? (opts.smoothing ?? 0.1) : 0;
      const gamma = name === 'wan' ? 1 / (c - 1) : 1;
      return {
        name, scoreHead: 'multilabel', kIndependent: true, options: name === 'an-ls' ? { smoothing: eps } : name === 'wan' ? { gamma } : {},
        loss(out, ctx) {
          checkOutputs(name, out, ctx, c);
          const d = out.multilabel.device;
          const targets = oneHotOn(d, ctx.labels, c, 1 - eps, eps);
          const weights = gamma === 1 ? null : oneHotOn(d, ctx.labels, c, 1, gamma);
          return sigmoidBce(out.multilabel, targets, { weights, reduction: 'mean' });
        },
      };
    }
    case 'epr':
      checkK(name, k, c, 0);
      return {
        name, scoreHead: 'multilabel', kIndependent: false, options: { k },
        loss(out, ctx) {
          checkOutputs(name, out, ctx, c);
          const y = oneHotOn(out.multilabel.device, ctx.labels, c);
          const pos = sigmoidBce(out.multilabel, y, { weights: y, reduction: 'mean' });
          return pos.add(expectedPositiveReg(out.multilabel, k));
        },
      };
    case 'role':
      checkK(name, k, c, 0);
      return createRole(opts);
    default:
      throw new Error(`unknown method "${name}" (expected one of ${METHOD_NAMES.join(', ')})`);
  }
}

/**
 * ROLE (Cole et al. 2021): a learnable N×C matrix g of label-estimate logits, one row per training
 * sample, trained jointly with the classifier f by Adam at lrMultiplier × the model's learning rate.
 * Loss = ½(pos_f + pos_g) + ½[BCE(f, σ(g)ᵀ) + BCE(g, σ(f)ᵀ)] + ½(R(f) + R(g)), with ᵀ = detached.
 */
function createRole(opts: MethodOptions): AvgKMethod {
  const c = opts.numClasses;
  const n = opts.numTrain;
  const k = opts.k;
  if (!Number.isInteger(n) || (n as number) < 1) throw new Error(`role: numTrain (the training split size) must be a positive integer, got ${n}`);
  if (!opts.rng) throw new Error('role: an rng is required to initialise the label estimates');
  const rng = opts.rng;
  const lrMult = opts.lrMultiplier ?? 10;
  const logit = (p: number): number => Math.log(p / (1 - p));
  // Unobserved entries: uniform in [-logit(0.6), logit(0.6)]; observed positives are set on first use.
  const init = new Float32Array((n as number) * c);
  const bound = logit(0.6);
  for (let i = 0; i < init.length; i++) init[i] = -bound + 2 * bound * rng.next();
  const seen = new Uint8Array(n as number);
  const g = new Tensor(init, [n as number, c]).setRequiresGrad(true);
  const opt = new Adam([g], { lr: 0 });
  return {
    name: 'role', scoreHead: 'multilabel', kIndependent: false, options: { k, lrMultiplier: lrMult },
    loss(out, ctx) {
      const b = checkOutputs('role', out, ctx, c);
      const first: number[] = [];
      for (let i = 0; i < b; i++) {
        const idx = ctx.indices[i]!;
        if (!(idx >= 0 && idx < (n as number))) throw new Error(`role loss: sample index ${idx} is out of range [0, ${n})`);
        if (!seen[idx]) {
          seen[idx] = 1;
          first.push(idx * c + ctx.labels[i]!);
        }
      }
      // observed positives, set on first use (in place on g's device)
      if (first.length > 0) kernelsOn(g.device).putValue(g.data as F32Storage, hostToDevice(g.device, Int32Array.from(first)), logit(0.995));
      const f = out.multilabel;
      const gb = indexSelect(g, 0, ctx.indices);
      const posT = oneHotOn(f.device, ctx.labels, c);
      const posF = sigmoidBce(f, posT, { weights: posT, reduction: 'mean' });
      const posG = sigmoidBce(gb, posT, { weights: posT, reduction: 'mean' });
      const [sg, sf] = noGrad(() => [sigmoid(gb), sigmoid(f)]);
      const crossF = sigmoidBce(f, sg, { reduction: 'mean' });
      const crossG = sigmoidBce(gb, sf, { reduction: 'mean' });
      const reg = expectedPositiveReg(f, k).add(expectedPositiveReg(gb, k));
      return posF.add(posG).add(crossF).add(crossG).add(reg).mul(0.5);
    },
    afterStep(lr: number) {
      opt.lr = lr * lrMult;
      opt.step();
      opt.zeroGrad();
    },
    to(device) {
      g.moveStorage_(device);
    },
    stateDict() {
      const s = opt.stateDict();
      return { 'role.g': Float32Array.from(g.dataSync() as Float32Array), 'role.seen': Float32Array.from(seen), 'role.m': s.slots[0]!.m ?? new Float32Array(0), 'role.v': s.slots[0]!.v ?? new Float32Array(0), 'role.step': s.slots[0]!.step ?? Float32Array.of(0) };
    },
    loadStateDict(state) {
      if (!state['role.g'] || state['role.g'].length !== g.size) throw new Error(`role: checkpoint label estimates do not match ${n}×${c}`);
      const device = g.device;
      g.moveStorage_('cpu');
      (g.data as Float32Array).set(state['role.g']);
      g.moveStorage_(device);
      seen.set(state['role.seen']);
      const slots: Record<string, Float32Array> = { step: state['role.step'] };
      if (state['role.m'].length) slots.m = state['role.m'];
      if (state['role.v'].length) slots.v = state['role.v'];
      opt.loadStateDict({ name: 'Adam', hyper: opt.hyper(), stepCount: state['role.step'][0]!, slots: [slots] });
    },
  };
}

/**
 * Scores that the method thresholds, as a [B, C] tensor on the model's device: log-softmax of the
 * softmax head (monotone in the probabilities, without underflow ties) or the multi-label logits
 * (monotone in σ).
 */
export function methodScores(method: Pick<AvgKMethod, 'scoreHead'>, out: HeadOutputs): Tensor {
  return noGrad(() => (method.scoreHead === 'softmax' ? logSoftmax(out.softmax) : out.multilabel));
}
