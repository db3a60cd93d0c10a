/**
 * Full training steps (forward, two-head loss, backward, SGD step) of the reference CNN and of the
 * CIFAR-style ResNet-18, in images/s, on synthetic data. The same workloads as the PyTorch peer
 * (torch_peer.py cnn / resnet18): SGD lr 0.05, momentum 0.9, Nesterov, weight decay 1e-4, K = 2.
 */
import { Tensor } from '../src/tensor/tensor.js';
import { randn, Rng } from '../src/tensor/random.js';
import { buildModel, type ModelSpec, type TwoHeadModel } from '../src/avgk/model.js';
import { createMethod, type AvgKMethod } from '../src/avgk/losses.js';
import { SGD } from '../src/optim/optimizer.js';
import type { BenchCase } from './harness.js';

export interface TrainWorkload {
  name: string;
  model: ModelSpec;
  sample: [number, number, number] | [number];
  classes: number;
  batch: number;
}

export interface TrainSetup {
  model: TwoHeadModel;
  method: AvgKMethod;
  opt: SGD;
  x: Tensor;
  labels: Int32Array;
  indices: Int32Array;
  step: () => number;
}

/** Builds a model, loss, optimiser and a fixed synthetic batch; step() runs one training step. */
export function makeTrainSetup(w: TrainWorkload, seed = 0): TrainSetup {
  const rng = new Rng(seed);
  const model = buildModel(w.model, w.sample, w.classes, { rng });
  model.train();
  const method = createMethod('two-head', { k: 2, numClasses: w.classes });
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  const x = randn([w.batch, ...w.sample], { rng });
  const labels = new Int32Array(w.batch);
  for (let i = 0; i < w.batch; i++) labels[i] = Math.floor(rng.next() * w.classes);
  const indices = Int32Array.from({ length: w.batch }, (_, i) => i);
  const step = (): number => {
    opt.zeroGrad();
    const out = model.forward(x);
    const loss = method.loss(out, { labels, indices });
    loss.backward();
    opt.step();
    return loss.item();
  };
  return { model, method, opt, x, labels, indices, step };
}

export function cnnWorkload(batch: number): TrainWorkload {
  return { name: 'train/cnn28-two-head', model: { name: 'cnn' }, sample: [1, 28, 28], classes: 10, batch };
}

export function resnetWorkload(batch: number): TrainWorkload {
  return { name: 'train/resnet18-cifar-two-head', model: { name: 'resnet18' }, sample: [3, 32, 32], classes: 100, batch };
}

export interface TrainPlan {
  cnnBatch: number;
  cnnIters: number;
  /** ResNet-18 cases: batch 32 (the default) and 128 (the batch of the peer README's example). */
  resnet: { batch: number; iters: number; warmup: number }[];
}

export function trainPlan(quick: boolean, resnetBatches?: number[]): TrainPlan {
  // big batches: fewer timed steps (PyTorch takes ~10 s per batch-128 step on one thread here)
  const resnet = (batches: number[]) =>
    batches.map((batch) => (quick ? { batch, iters: 2, warmup: 1 } : batch >= 96 ? { batch, iters: 3, warmup: 1 } : { batch, iters: 5, warmup: 2 }));
  return quick
    ? { cnnBatch: 32, cnnIters: 4, resnet: resnet(resnetBatches ?? [8]) }
    : { cnnBatch: 128, cnnIters: 15, resnet: resnet(resnetBatches ?? [32, 128]) };
}

function trainCase(w: TrainWorkload, iterations: number, warmup: number, timeMs: number): BenchCase {
  return {
    name: w.name,
    shape: `batch=${w.batch} ${w.sample.join('×')} C=${w.classes}`,
    images: w.batch,
    iterations,
    timeMs,
    warmup,
    extra: { batch: w.batch, classes: w.classes },
    setup: () => {
      const s = makeTrainSetup(w);
      return { fn: () => void s.step() };
    },
  };
}

export function trainCases(plan: TrainPlan): BenchCase[] {
  return [
    trainCase(cnnWorkload(plan.cnnBatch), plan.cnnIters, 2, 0),
    ...plan.resnet.map((r) => trainCase(resnetWorkload(r.batch), r.iters, r.warmup, 0)),
  ];
}
