/**
 * The two-head loss (Garcin et al. 2023; see docs/method.md): cross-entropy on the softmax head
 * plus μ · BCE of the multi-label head on per-batch pseudo-labels from the detached softmax.
 */
import { noGrad } from '../../autograd/grad-mode.js';
import { softmax } from '../../autograd/ops/softmax.js';
import { affine, ge, maximum } from '../../autograd/ops/elementwise.js';
import { kthLargest } from '../../autograd/ops/select.js';
import type { Tensor } from '../../tensor/tensor.js';
import { softmaxCrossEntropy, sigmoidBce, type BceReduction } from '../../autograd/ops/loss.js';
import { pseudoLabelTargets, type PseudoLabelVariant } from '../pseudo-labels.js';
import { checkOutputs, oneHotOn } from '../method.js';
import type { MethodDef } from './registry-types.js';
import { ParameterEma } from '../../optim/ema.js';
import type { TwoHeadModel } from '../model.js';

/**
 * μ at an epoch: 0 during the `warmup` epochs (cross-entropy only), then ramped linearly over
 * `muRamp` epochs (μ·1/muRamp, μ·2/muRamp, …) up to μ. Without an epoch (a direct call), μ.
 */
export function muAt(mu: number, warmup: number, muRamp: number, epoch: number | undefined): number {
  if (epoch === undefined) return mu;
  if (epoch < warmup) return 0;
  return muRamp > 0 ? mu * Math.min(1, (epoch - warmup + 1) / muRamp) : mu;
}

export const twoHeadMethod: MethodDef<'two-head'> = {
  name: 'two-head',
  summary: 'cross-entropy + μ·BCE of a multi-label head on per-batch pseudo-labels',
  scoreHead: 'multilabel',
  extraHeads: ['softmax'],
  kIndependent: false,
  options: {
    mu: { type: 'number', default: 0.3, min: 0, doc: 'weight μ of the multi-label BCE' },
    wPos: { type: 'number', default: 1, min: 0, doc: 'weight of the BCE terms of positive pseudo-labels' },
    wNeg: { type: 'number', default: 1, min: 0, doc: 'weight of the BCE terms of negative pseudo-labels' },
    reduction: { type: 'enum', default: 'batchmean', choices: ['batchmean', 'mean'], doc: 'BCE reduction: per-sample sum averaged over the batch, or mean over entries' },
    variant: { type: 'enum', default: 'true-plus-topk', choices: ['true-plus-topk', 'batch-topk'], doc: 'pseudo-labels: the true label plus the batch top (K-1)·B, or the batch top K·B' },
    warmup: { type: 'number', default: 0, min: 0, max: 1000, integer: true, doc: 'epochs of cross-entropy only before the BCE term starts' },
    muRamp: { type: 'number', default: 0, min: 0, max: 1000, integer: true, doc: 'epochs over which μ rises linearly to its value after the warm-up (0: at once)' },
    headGrad: {
      type: 'enum', default: 'full', choices: ['mu', 'full'],
      doc: "what trains the multi-label head's own weights: μ·BCE, as the loss says, or the full BCE (μ then scales only the gradient into the shared backbone)",
    },
    source: {
      type: 'enum', default: 'batch', choices: ['batch', 'prev-epoch', 'ema'],
      doc: "pseudo-labels: each batch's own top-K·B; or 1[p ≥ λ] at the mean batch threshold λ of the previous epoch (the first epoch uses the batch's); or the batch's top-K·B of the softmax of an EMA of the model's weights (eval mode)",
    },
    emaDecay: {
      type: 'number', default: 0.99, min: 0, max: 1, maxExclusive: true,
      doc: "with source 'ema': weight of the old average per step, θ̄ ← d·θ̄ + (1 − d)·θ (horizon about 1/(1 − d) steps)",
    },
  },
  minK: (o) => (o.variant === 'batch-topk' ? 0 : 1),
  create({ k, numClasses: c, options }) {
    const mu = options.mu as number;
    const wPos = options.wPos as number;
    const wNeg = options.wNeg as number;
    const reduction = options.reduction as BceReduction;
    const variant = options.variant as PseudoLabelVariant;
    const warmup = options.warmup as number;
    const muRamp = options.muRamp as number;
    const source = options.source as 'batch' | 'prev-epoch' | 'ema';
    const emaDecay = options.emaDecay as number;
    const headGrad = options.headGrad as 'mu' | 'full';
    // prev-epoch: the running mean of this epoch's batch thresholds, and the previous epoch's
    let epochSeen = -1;
    let lambdaSum = 0;
    let lambdaCount = 0;
    let prevLambda = NaN;
    // ema: the teacher's averaged weights, and values loaded before a model was bound
    let teacher: ParameterEma | null = null;
    let pendingEma: Record<string, Float32Array> | null = null;
    const batchThreshold = (p: Tensor, labels: Int32Array): number => {
      const [rows] = p.shape as [number, number];
      if (variant === 'batch-topk') return kthLargest(p, Math.max(1, Math.round(k * rows)));
      const m = Math.round((k - 1) * rows);
      if (m < 1) return Infinity;
      const mask = new Uint8Array(rows * c).fill(1);
      for (let i = 0; i < rows; i++) mask[i * c + labels[i]!] = 0;
      return kthLargest(p, m, mask);
    };
    return {
      name: 'two-head', scoreHead: 'multilabel', kIndependent: false,
      options: { k, mu, wPos, wNeg, reduction, variant, warmup, muRamp, source, emaDecay, headGrad },
      loss(out, ctx) {
        checkOutputs('two-head', out, ctx, c);
        const ce = softmaxCrossEntropy(out.softmax, ctx.labels);
        const m = muAt(mu, warmup, muRamp, ctx.epoch);
        if (m === 0 && warmup > 0) return ce;
        // on the logits' device: the pseudo-labels never leave the GPU
        const targets = noGrad(() => {
          if (source === 'ema') {
            if (!teacher || !ctx.input) throw new Error("two-head loss: source 'ema' needs the model (method.bind) and the batch inputs (ctx.input); fit provides both");
            const input = ctx.input;
            const model = teacher.module as TwoHeadModel;
            const pt = teacher.run(() => softmax(model.forward(input).softmax));
            return pseudoLabelTargets(pt, ctx.labels, k, variant);
          }
          const p = softmax(out.softmax);
          if (source === 'batch') return pseudoLabelTargets(p, ctx.labels, k, variant);
          const epoch = ctx.epoch ?? 0;
          // float32 arithmetic: the state checkpoints exactly, so a resumed run is bit-identical
          if (epoch !== epochSeen) {
            if (lambdaCount > 0) prevLambda = Math.fround(lambdaSum / lambdaCount);
            epochSeen = epoch;
            lambdaSum = 0;
            lambdaCount = 0;
          }
          const lb = batchThreshold(p, ctx.labels);
          if (Number.isFinite(lb)) {
            lambdaSum = Math.fround(lambdaSum + lb);
            lambdaCount++;
          }
          if (Number.isNaN(prevLambda)) return pseudoLabelTargets(p, ctx.labels, k, variant);
          const t = ge(p, prevLambda);
          return variant === 'batch-topk' ? t : maximum(t, oneHotOn(p.device, ctx.labels, c));
        });
        const weights = wPos !== 1 || wNeg !== 1 ? noGrad(() => affine(targets, wPos - wNeg, wNeg)) : null;
        const bce = sigmoidBce(out.multilabel, targets, { weights, reduction });
        const loss = m === 1 ? ce.add(bce) : ce.add(bce.mul(m));
        if (headGrad === 'mu' || m >= 1 || m === 0) return loss;
        // headGrad 'full': (1 − μ)·BCE on the same logits over detached features tops the head's
        // own gradient up to the full BCE; the backbone still gets μ·BCE
        if (!out.multilabelHeadOnly) throw new Error("two-head loss: headGrad 'full' needs outputs of a TwoHeadModel (multilabelHeadOnly is missing)");
        return loss.add(sigmoidBce(out.multilabelHeadOnly(), targets, { weights, reduction }).mul(1 - m));
      },
      ...(source === 'ema'
        ? {
            bind(model: TwoHeadModel) {
              if (teacher?.module === model) return;
              const t = new ParameterEma(model, emaDecay);
              if (pendingEma) t.loadStateDict(pendingEma);
              teacher = t;
              pendingEma = null;
            },
            afterStep: () => teacher?.update(),
            stateDict(): Record<string, Float32Array> {
              const s = teacher ? teacher.stateDict() : pendingEma;
              if (!s) throw new Error("two-head: source 'ema' has no teacher state before a model is bound (method.bind)");
              return Object.fromEntries(Object.entries(s).map(([name, v]) => [`two-head.ema.${name}`, v]));
            },
            loadStateDict(state: Record<string, Float32Array>) {
              const prefix = 'two-head.ema.';
              const other = Object.keys(state).filter((key) => !key.startsWith(prefix));
              if (other.length > 0) throw new Error(`two-head: unexpected state entries ${other.slice(0, 5).join(', ')} (source 'ema' keeps two-head.ema.*)`);
              const s = Object.fromEntries(Object.entries(state).map(([key, v]) => [key.slice(prefix.length), v]));
              if (Object.keys(s).length === 0) throw new Error('two-head: the checkpoint lacks the EMA teacher state (two-head.ema.*)');
              if (teacher) teacher.loadStateDict(s);
              else pendingEma = s;
            },
          }
        : {}),
      ...(source === 'prev-epoch'
        ? {
            stateDict: () => ({ 'two-head.lambda': Float32Array.from([epochSeen, lambdaSum, lambdaCount, prevLambda]) }),
            loadStateDict(state: Record<string, Float32Array>) {
              const v = state['two-head.lambda'];
              if (!v || v.length !== 4) throw new Error('two-head: the checkpoint lacks the pseudo-label threshold state (two-head.lambda)');
              [epochSeen, lambdaSum, lambdaCount, prevLambda] = [v[0]!, v[1]!, v[2]!, v[3]!];
            },
          }
        : {}),
    };
  },
};
