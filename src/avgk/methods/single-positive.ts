/**
 * Single-positive multi-label baselines (Cole et al. 2021) on the multi-label head: AN ("assume
 * negative"), WAN (negatives down-weighted by 1/(C−1)) and AN-LS (AN with label smoothing).
 */
import { sigmoidBce } from '../../autograd/ops/loss.js';
import { checkOutputs, oneHotOn } from '../method.js';
import type { MethodDef } from './registry-types.js';

function assumeNegative<N extends 'an' | 'wan' | 'an-ls'>(name: N, summary: string, options: MethodDef['options']): MethodDef<N> {
  return {
    name,
    summary,
    scoreHead: 'multilabel',
    extraHeads: [],
    kIndependent: true,
    options,
    minK: () => 0,
    create({ numClasses: c, options: o }) {
      const eps = name === 'an-ls' ? (o.smoothing as number) : 0;
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
    },
  };
}

export const anMethod = assumeNegative('an', 'BCE with every unobserved label negative', {});
export const wanMethod = assumeNegative('wan', 'AN with the negatives weighted 1/(C−1)', {});
export const anLsMethod = assumeNegative('an-ls', 'AN with label smoothing', {
  smoothing: { type: 'number', default: 0.1, min: 0, max: 1, maxExclusive: true, doc: 'label smoothing ε of the BCE targets' },
});
