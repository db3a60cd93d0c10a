/** Softmax thresholding's training: cross-entropy on the softmax head (the baseline). */
import { softmaxCrossEntropy } from '../../autograd/ops/loss.js';
import { checkOutputs } from '../method.js';
import type { MethodDef } from './registry-types.js';

export const softmaxMethod: MethodDef<'softmax'> = {
  name: 'softmax',
  summary: 'cross-entropy; sets threshold the softmax (the baseline)',
  scoreHead: 'softmax',
  extraHeads: [],
  kIndependent: true,
  options: {
    smoothing: { type: 'number', default: 0, min: 0, max: 1, maxExclusive: true, doc: 'label smoothing ε of the cross-entropy' },
  },
  minK: () => 0,
  create({ numClasses: c, options }) {
    const smoothing = options.smoothing as number;
    return {
      name: 'softmax', scoreHead: 'softmax', kIndependent: true, options: { smoothing },
      loss(out, ctx) {
        checkOutputs('softmax', out, ctx, c);
        return softmaxCrossEntropy(out.softmax, ctx.labels, { smoothing });
      },
    };
  },
};
