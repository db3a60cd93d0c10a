/**
 * The two-head loss (Garcin et al. 2023; see docs/method.md): cross-entropy on the softmax head
 * plus μ · BCE of the multi-label head on per-batch pseudo-labels from the detached softmax.
 */
import { noGrad } from '../../autograd/grad-mode.js';
import { softmax } from '../../autograd/ops/softmax.js';
import { affine } from '../../autograd/ops/elementwise.js';
import { softmaxCrossEntropy, sigmoidBce, type BceReduction } from '../../autograd/ops/loss.js';
import { pseudoLabelTargets, type PseudoLabelVariant } from '../pseudo-labels.js';
import { checkOutputs } from '../method.js';
import type { MethodDef } from './registry-types.js';

export const twoHeadMethod: MethodDef<'two-head'> = {
  name: 'two-head',
  summary: 'cross-entropy + μ·BCE of a multi-label head on per-batch pseudo-labels',
  scoreHead: 'multilabel',
  extraHeads: ['softmax'],
  kIndependent: false,
  options: {
    mu: { type: 'number', default: 1, min: 0, doc: 'weight μ of the multi-label BCE' },
    wPos: { type: 'number', default: 1, min: 0, doc: 'weight of the BCE terms of positive pseudo-labels' },
    wNeg: { type: 'number', default: 1, min: 0, doc: 'weight of the BCE terms of negative pseudo-labels' },
    reduction: { type: 'enum', default: 'batchmean', choices: ['batchmean', 'mean'], doc: 'BCE reduction: per-sample sum averaged over the batch, or mean over entries' },
    variant: { type: 'enum', default: 'true-plus-topk', choices: ['true-plus-topk', 'batch-topk'], doc: 'pseudo-labels: the true label plus the batch top (K-1)·B, or the batch top K·B' },
  },
  minK: (o) => (o.variant === 'batch-topk' ? 0 : 1),
  create({ k, numClasses: c, options }) {
    const mu = options.mu as number;
    const wPos = options.wPos as number;
    const wNeg = options.wNeg as number;
    const reduction = options.reduction as BceReduction;
    const variant = options.variant as PseudoLabelVariant;
    return {
      name: 'two-head', scoreHead: 'multilabel', kIndependent: false, options: { k, mu, wPos, wNeg, reduction, variant },
      loss(out, ctx) {
        checkOutputs('two-head', out, ctx, c);
        const ce = softmaxCrossEntropy(out.softmax, ctx.labels);
        // on the logits' device: the pseudo-labels never leave the GPU
        const targets = noGrad(() => pseudoLabelTargets(softmax(out.softmax), ctx.labels, k, variant));
        const weights = wPos !== 1 || wNeg !== 1 ? noGrad(() => affine(targets, wPos - wNeg, wNeg)) : null;
        const bce = sigmoidBce(out.multilabel, targets, { weights, reduction });
        return mu === 1 ? ce.add(bce) : ce.add(bce.mul(mu));
      },
    };
  },
};
