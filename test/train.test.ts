/** End to end through the library API: an MLP trained with SGD, determinism, model selection. */
import { describe, it, expect } from 'vitest';
import { Tensor, nn, optim, manualSeed, softmaxCrossEntropy, noGrad, Rng, buildModel, createMethod, fit } from '../src/index.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { scoreSplit, evaluateScores } from '../src/train/evaluate.js';

/** Two interleaved spirals-like toy problem: 3 classes on rings, not linearly separable. */
function rings(n: number, rng: Rng): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const r = 1 + c + 0.15 * rng.normal();
    const a = 2 * Math.PI * rng.next();
    x[2 * i] = r * Math.cos(a);
    x[2 * i + 1] = r * Math.sin(a);
    y[i] = c;
  }
  return { x, y };
}

describe('training through the library API', () => {
  it('a small MLP trained with SGD separates three rings (≥ 95% accuracy)', () => {
    manualSeed(0);
    const rng = new Rng(0);
    const train = rings(1500, rng);
    const test = rings(600, rng);
    const model = new nn.Sequential(new nn.Linear(2, 32), new nn.ReLU(), new nn.Linear(32, 32), new nn.ReLU(), new nn.Linear(32, 3));
    const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    for (let epoch = 0; epoch < 30; epoch++) {
      const order = rng.permutation(1500);
      for (let s = 0; s < 1500; s += 50) {
        const idx = order.subarray(s, s + 50);
        const xb = new Float32Array(100);
        const yb = new Int32Array(50);
        idx.forEach((j, i) => { xb[2 * i] = train.x[2 * j]; xb[2 * i + 1] = train.x[2 * j + 1]; yb[i] = train.y[j]; });
        const loss = softmaxCrossEntropy(model.forward(new Tensor(xb, [50, 2])), yb);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      }
    }
    const pred = noGrad(() => model.forward(new Tensor(test.x, [600, 2])).argmax(1)).toFlatArray();
    const acc = pred.filter((p, i) => p === test.y[i]).length / 600;
    expect(acc).toBeGreaterThanOrEqual(0.95);
  });

  it('fit() is deterministic and keeps the best model by validation accuracy', () => {
    const ds = generateSynthetic({ numClasses: 6, numSuperclasses: 2, dim: 8, nTrain: 600, nVal: 300, nTest: 300, seed: 3 });
    const run = () => {
      manualSeed(5);
      const model = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, 6);
      const method = createMethod('two-head', { k: 2, numClasses: 6 });
      const opt = new optim.SGD(model.parameters(), { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
      const r = fit(model, method, opt, ds, { epochs: 3, batchSize: 32, ks: [2], seed: 1 });
      return { model, method, r };
    };
    const a = run();
    const b = run();
    const pa = a.model.parameters().map((p) => p.toFlatArray());
    const pb = b.model.parameters().map((p) => p.toFlatArray());
    expect(pa).toEqual(pb);
    expect(a.r.history).toHaveLength(3);
    const best = Math.max(...a.r.history.map((h) => h.valScore));
    expect(a.r.history[a.r.bestEpoch].valScore).toBe(best);
    // calibrated on validation: the mean set size there is K within 1/N
    const val = evaluateScores(scoreSplit(a.model, a.method, ds.val, ds.sampleShape), ds.val.y, 6, a.r.calibrations[0]);
    expect(Math.abs(val.meanSetSize - 2)).toBeLessThanOrEqual(1 / ds.val.n);
    const test = evaluateScores(scoreSplit(a.model, a.method, ds.test, ds.sampleShape), ds.test.y, 6, a.r.calibrations[0]);
    expect(test.avgKAccuracy).toBeGreaterThan(0.5);
  });
});

describe('fit on a model that has diverged', () => {
  it('non-finite outputs that break a loss are a DivergenceError naming the epoch and batch', () => {
    const ds = generateSynthetic({ numClasses: 4, numSuperclasses: 1, dim: 6, nTrain: 64, nVal: 32, nTest: 32, seed: 1 });
    manualSeed(0);
    const model = buildModel({ name: 'mlp', hidden: [8] }, ds.sampleShape, ds.numClasses);
    // a NaN weight: every output is NaN, and two-head's pseudo-label selection refuses NaN
    (model.softmaxHead.weight.dataSync() as Float32Array)[0] = NaN;
    const method = createMethod('two-head', { k: 2, numClasses: ds.numClasses });
    const opt = new optim.SGD(model.parameters(), { lr: 0.05 });
    let err: unknown;
    try {
      fit(model, method, opt, ds, { epochs: 1, batchSize: 32, ks: [2], seed: 0 });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_AVGK_DIVERGED');
    expect((err as Error).message).toMatch(/^fit: the model's outputs are not finite at epoch 1, batch 1 \(training diverged; lower the learning rate\?\)$/);
  });
});

describe('fit when the validation scores stop being finite', () => {
  it('is a DivergenceError naming the epoch and the first bad sample, before calibration', () => {
    const ds = generateSynthetic({ numClasses: 4, numSuperclasses: 1, dim: 6, nTrain: 64, nVal: 32, nTest: 32, seed: 1 });
    ds.val.x[3 * 6] = NaN; // sample 3's scores become NaN; training itself stays finite
    manualSeed(0);
    const model = buildModel({ name: 'mlp', hidden: [8] }, ds.sampleShape, ds.numClasses);
    const opt = new optim.SGD(model.parameters(), { lr: 0.05 });
    let err: unknown;
    try {
      fit(model, createMethod('softmax', { k: 2, numClasses: ds.numClasses }), opt, ds, { epochs: 1, batchSize: 32, ks: [2], seed: 0 });
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_AVGK_DIVERGED');
    expect((err as Error).message).toMatch(/^fit: after epoch 1 the validation scores are not finite \(NaN for sample 3\)/);
  });
});
