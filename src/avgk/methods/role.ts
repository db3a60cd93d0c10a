/**
 * ROLE (Cole et al. 2021): a learnable N×C matrix g of label-estimate logits, one row per training
 * sample, trained jointly with the classifier f by Adam at lrMultiplier × the model's learning rate.
 */
import { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../autograd/grad-mode.js';
import { sigmoid } from '../../autograd/ops/elementwise.js';
import { indexSelect } from '../../autograd/ops/shaping.js';
import { sigmoidBce } from '../../autograd/ops/loss.js';
import { Adam } from '../../optim/optimizer.js';
import { hostToDevice } from '../../tensor/alloc.js';
import { kernelsOn, type F32Storage } from '../../backend/device.js';
import { checkOutputs, expectedPositiveReg, oneHotOn, type AvgKMethod } from '../method.js';
import type { CreateArgs, MethodDef } from './registry-types.js';

export const roleMethod: MethodDef<'role'> = {
  name: 'role',
  summary: 'jointly learnt label estimates per training sample (ROLE)',
  scoreHead: 'multilabel',
  extraHeads: [],
  kIndependent: false,
  options: {
    lrMultiplier: { type: 'number', default: 10, min: 0, minExclusive: true, doc: "learning rate of the label estimates, × the model's" },
  },
  minK: () => 0,
  create: createRole,
};

/**
 * ROLE (Cole et al. 2021): a learnable N×C matrix g of label-estimate logits, one row per training
 * sample, trained jointly with the classifier f by Adam at lrMultiplier × the model's learning rate.
 * Loss = ½(pos_f + pos_g) + ½[BCE(f, σ(g)ᵀ) + BCE(g, σ(f)ᵀ)] + ½(R(f) + R(g)), with ᵀ = detached.
 */
function createRole({ k, numClasses: c, numTrain: n, rng, options }: CreateArgs): AvgKMethod {
  if (!Number.isInteger(n) || n < 1) throw new Error(`role: numTrain (the training split size) must be a positive integer, got ${n}`);
  const lrMult = options.lrMultiplier as number;
  const logit = (p: number): number => Math.log(p / (1 - p));
  // Unobserved entries: uniform in [-logit(0.6), logit(0.6)]; observed positives are set on first use.
  const init = new Float32Array(n * c);
  const bound = logit(0.6);
  for (let i = 0; i < init.length; i++) init[i] = -bound + 2 * bound * rng.next();
  const seen = new Uint8Array(n);
  const g = new Tensor(init, [n, c]).setRequiresGrad(true);
  const opt = new Adam([g], { lr: 0 });
  return {
    name: 'role', scoreHead: 'multilabel', kIndependent: false, options: { k, lrMultiplier: lrMult },
    loss(out, ctx) {
      const b = checkOutputs('role', out, ctx, c);
      const first: number[] = [];
      for (let i = 0; i < b; i++) {
        const idx = ctx.indices[i]!;
        if (!(idx >= 0 && idx < n)) throw new Error(`role loss: sample index ${idx} is out of range [0, ${n})`);
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

