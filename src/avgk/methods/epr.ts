/** EPR (Cole et al. 2021): BCE on the observed positive plus the expected-positive regulariser. */
import { sigmoidBce } from '../../autograd/ops/loss.js';
import { checkOutputs, expectedPositiveReg, oneHotOn } from '../method.js';
import type { MethodDef } from './registry-types.js';

export const eprMethod: MethodDef<'epr'> = {
  name: 'epr',
  summary: 'BCE on the observed positive + (expected positives per sample − K)²',
  scoreHead: 'multilabel',
  extraHeads: [],
  kIndependent: false,
  options: {},
  minK: () => 0,
  create({ k, numClasses: c }) {
    return {
      name: 'epr', scoreHead: 'multilabel', kIndependent: false, options: { k },
      loss(out, ctx) {
        checkOutputs('epr', out, ctx, c);
        const y = oneHotOn(out.multilabel.device, ctx.labels, c);
        const pos = sigmoidBce(out.multilabel, y, { weights: y, reduction: 'mean' });
        return pos.add(expectedPositiveReg(out.multilabel, k));
      },
    };
  },
};
