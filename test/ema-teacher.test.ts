/**
 * ParameterEma (the averaged "teacher" weights) against a float64 recomputation, and two-head's
 * `source: 'ema'` pseudo-labels against the batch rule applied to a separately built teacher model.
 */
import { describe, it, expect } from 'vitest';
import { Tensor, Rng, fromArray } from '../src/index.js';
import { ParameterEma, SGD } from '../src/optim/index.js';
import { buildModel, type TwoHeadModel } from '../src/avgk/model.js';
import { createMethod } from '../src/avgk/losses.js';
import { pseudoLabels } from '../src/avgk/pseudo-labels.js';
import { sigmoidBce, softmaxCrossEntropy } from '../src/autograd/ops/loss.js';
import { softmax } from '../src/autograd/ops/softmax.js';
import { noGrad } from '../src/autograd/grad-mode.js';
import { manualSeed } from '../src/tensor/random.js';
import { loadDataset } from '../src/data/index.js';
import { fit } from '../src/train/fit.js';

const B = 6;
const D = 5;
const C = 4;

function model(seed: number, dropout?: number): TwoHeadModel {
  manualSeed(seed);
  return buildModel({ name: 'mlp', hidden: [8], dropout }, [D], C);
}

function batch(seed: number): { x: Tensor; y: Int32Array } {
  const rng = new Rng(seed);
  return { x: fromArray(Float32Array.from({ length: B * D }, () => 2 * rng.next() - 1), [B, D]), y: Int32Array.from({ length: B }, () => rng.int(C)) };
}

const host = (t: Tensor): number[] => Array.from(t.dataSync() as Float32Array);

/** One SGD step of cross-entropy on the softmax head. */
function step(m: TwoHeadModel, opt: SGD, seed: number): void {
  const { x, y } = batch(seed);
  opt.zeroGrad();
  softmaxCrossEntropy(m.forward(x).softmax, y).backward();
  opt.step();
}

describe('Tensor.swapStorage_', () => {
  it('exchanges the storages of two dense leaves, and refuses mismatched or non-leaf tensors', () => {
    const a = fromArray([1, 2, 3, 4], [2, 2]);
    const b = fromArray([5, 6, 7, 8], [2, 2]);
    const da = a.data;
    a.swapStorage_(b);
    expect(host(a)).toEqual([5, 6, 7, 8]);
    expect(host(b)).toEqual([1, 2, 3, 4]);
    expect(b.data).toBe(da);
    expect(() => a.swapStorage_(fromArray([1, 2, 3, 4], [4]))).toThrow(/swapStorage_: .* differ in shape, dtype or device/);
    expect(() => a.swapStorage_(fromArray([1, 2, 3, 4], [2, 2], { dtype: 'int32' }))).toThrow(/differ in shape, dtype or device/);
    const leaf = fromArray([1, 2, 3, 4], [2, 2], { requiresGrad: true });
    expect(() => a.swapStorage_(leaf.mul(2))).toThrow(/swapStorage_: only dense leaf tensors can swap storages/);
    expect(() => a.swapStorage_(b.transpose(0, 1))).toThrow(/only dense leaf tensors/);
    expect(host(a)).toEqual([5, 6, 7, 8]);
  });
});

describe('ParameterEma', () => {
  it('follows θ̄ ← d·θ̄ + (1 − d)·θ from a copy of θ, per parameter', () => {
    const m = model(1);
    const opt = new SGD(m.parameters(), { lr: 0.5 });
    const d = 0.7;
    const ema = new ParameterEma(m, d);
    const ref = new Map(m.namedParameters().map(([n, p]) => [n, host(p)]));
    for (let s = 0; s < 3; s++) {
      step(m, opt, 10 + s);
      ema.update();
      for (const [n, p] of m.namedParameters()) ref.set(n, ref.get(n)!.map((a, i) => d * a + (1 - d) * host(p)[i]!));
    }
    const got = ema.stateDict();
    expect(Object.keys(got).sort()).toEqual([...ref.keys()].sort());
    for (const [n, want] of ref) want.forEach((w, i) => expect(got[n]![i], `${n}[${i}]`).toBeCloseTo(w, 6));
    // and it moved away from the current weights (the test can fail)
    const [n0, p0] = m.namedParameters()[0]!;
    expect(host(p0).some((v, i) => Math.abs(v - got[n0]![i]!) > 1e-4)).toBe(true);
  });

  it('run() evaluates the averaged weights in eval mode and restores the module, also on a throw', () => {
    const m = model(2, 0.5);
    const opt = new SGD(m.parameters(), { lr: 0.5 });
    const ema = new ParameterEma(m, 0.5);
    for (let s = 0; s < 2; s++) {
      step(m, opt, 20 + s);
      ema.update();
    }
    const { x, y } = batch(3);
    // the teacher's output equals a model holding θ̄, in eval mode (dropout off)
    const twin = model(99, 0.5);
    twin.loadStateDict(Object.fromEntries(Object.entries(m.stateDict()).map(([n, v]) => [n, { shape: v.shape, data: ema.stateDict()[n] ?? v.data }])));
    twin.eval();
    const want = host(noGrad(() => twin.forward(x).softmax));
    const before = m.stateDict();
    const out = ema.run(() => m.forward(x).softmax);
    host(out).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    expect(out.requiresGrad).toBe(false);
    expect(m.training).toBe(true);
    for (const [n, v] of Object.entries(m.stateDict())) expect(Array.from(v.data), n).toEqual(Array.from(before[n]!.data));
    expect(() => ema.run(() => { throw new Error('boom'); })).toThrow('boom');
    expect(m.training).toBe(true);
    for (const [n, v] of Object.entries(m.stateDict())) expect(Array.from(v.data), n).toEqual(Array.from(before[n]!.data));
    // a graph built on θ before run() still differentiates θ
    m.eval();
    const grads = () => m.parameters().map((p) => (p.grad ? host(p.grad) : []));
    m.zeroGrad();
    softmaxCrossEntropy(m.forward(x).softmax, y).backward();
    const plain = grads();
    m.zeroGrad();
    const loss = softmaxCrossEntropy(m.forward(x).softmax, y);
    ema.run(() => m.forward(x));
    loss.backward();
    expect(grads()).toEqual(plain);
  });

  it('rejects a bad decay and state that does not fit, before writing', () => {
    const m = model(4);
    expect(() => new ParameterEma(m, 1)).toThrow(/decay must be in \[0, 1\), got 1/);
    expect(() => new ParameterEma(m, -0.1)).toThrow(/decay must be in \[0, 1\)/);
    expect(() => new ParameterEma(m, NaN)).toThrow(/decay/);
    const ema = new ParameterEma(m, 0.9);
    const s = ema.stateDict();
    const name = Object.keys(s)[0]!;
    expect(() => ema.loadStateDict({ ...s, [name]: new Float32Array(3) })).toThrow(new RegExp(`parameter "${name.replace('.', '\\.')}" has 3 values`));
    const { [name]: _, ...missing } = s;
    expect(() => ema.loadStateDict(missing)).toThrow(/missing parameter/);
    expect(() => ema.loadStateDict({ ...s, bogus: new Float32Array(1) })).toThrow(/unexpected entries bogus/);
    expect(ema.stateDict()).toEqual(s);
  });
});

describe("two-head source 'ema'", () => {
  const mk = (decay = 0.6) => createMethod('two-head', { k: 2, numClasses: C, mu: 1, source: 'ema', emaDecay: decay });

  it('takes the batch top-K·B pseudo-labels from the teacher, not from the model being trained', () => {
    const m = model(5);
    const method = mk();
    method.bind!(m);
    const opt = new SGD(m.parameters(), { lr: 1 });
    const twin = model(5);
    const teacherRef = twin.namedParameters().map(([, p]) => host(p));
    for (let s = 0; s < 3; s++) {
      const { x, y } = batch(30 + s);
      opt.zeroGrad();
      method.loss(m.forward(x), { labels: y, indices: new Int32Array(B), input: x }).backward();
      opt.step();
      method.afterStep!(1);
      m.parameters().forEach((p, i) => (teacherRef[i] = teacherRef[i]!.map((a, j) => 0.6 * a + 0.4 * host(p)[j]!)));
    }
    twin.parameters().forEach((p, i) => (p.data as Float32Array).set(teacherRef[i]!));
    const { x, y } = batch(40);
    const out = m.forward(x);
    const pt = host(noGrad(() => softmax(twin.forward(x).softmax)));
    const ps = host(noGrad(() => softmax(out.softmax)));
    const targetsOf = (p: number[]) => pseudoLabels(Float32Array.from(p), y, B, C, 2);
    const lossWith = (t: Float32Array) => softmaxCrossEntropy(out.softmax, y).add(sigmoidBce(out.multilabel, fromArray(t, [B, C]), { reduction: 'batchmean' })).item();
    const got = method.loss(out, { labels: y, indices: new Int32Array(B), input: x }).item();
    expect(got).toBeCloseTo(lossWith(targetsOf(pt)), 5);
    // the student's own pseudo-labels differ here, so the source matters
    expect(Array.from(targetsOf(ps))).not.toEqual(Array.from(targetsOf(pt)));
    expect(Math.abs(got - lossWith(targetsOf(ps)))).toBeGreaterThan(1e-4);
  });

  it('needs a bound model and the batch inputs, and says so', () => {
    const m = model(6);
    const { x, y } = batch(50);
    const method = mk();
    expect(() => method.loss(m.forward(x), { labels: y, indices: new Int32Array(B), input: x })).toThrow(/source 'ema' needs the model \(method\.bind\)/);
    method.bind!(m);
    expect(() => method.loss(m.forward(x), { labels: y, indices: new Int32Array(B) })).toThrow(/batch inputs \(ctx\.input\)/);
    expect(() => createMethod('two-head', { k: 2, numClasses: C, source: 'ema', emaDecay: 1 })).toThrow(/emaDecay/);
  });

  it('checkpoints the teacher by name; a restored method continues with the same teacher', () => {
    const m = model(7);
    const method = mk(0.5);
    method.bind!(m);
    const opt = new SGD(m.parameters(), { lr: 1 });
    const { x, y } = batch(60);
    for (let s = 0; s < 2; s++) {
      opt.zeroGrad();
      method.loss(m.forward(x), { labels: y, indices: new Int32Array(B), input: x }).backward();
      opt.step();
      method.afterStep!(1);
    }
    const state = method.stateDict!();
    expect(Object.keys(state).every((k) => k.startsWith('two-head.ema.'))).toBe(true);
    expect(Object.keys(state).length).toBe(m.parameters().length);
    // loaded before binding (as a resume does), checked at bind
    const again = mk(0.5);
    again.loadStateDict!(state);
    again.bind!(m);
    expect(again.stateDict!()).toEqual(state);
    const fresh = mk(0.5);
    fresh.bind!(m);
    expect(fresh.stateDict!()).not.toEqual(state);
    // the same teacher gives the same loss
    expect(again.loss(m.forward(x), { labels: y, indices: new Int32Array(B), input: x }).item()).toBe(method.loss(m.forward(x), { labels: y, indices: new Int32Array(B), input: x }).item());
    // binding the same model again keeps the teacher
    method.bind!(m);
    expect(method.stateDict!()).toEqual(state);
    expect(() => mk().loadStateDict!({})).toThrow(/lacks the EMA teacher state/);
    expect(() => mk().loadStateDict!({ 'role.g': new Float32Array(1) })).toThrow(/unexpected state entries role\.g/);
    const bad = mk();
    bad.loadStateDict!({ ...state, [Object.keys(state)[0]!]: new Float32Array(2) });
    expect(() => bad.bind!(m)).toThrow(/has 2 values/);
  });

  it('trains through fit', () => {
    const ds = loadDataset({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 4, nTrain: 300, nVal: 120, nTest: 10, seed: 2, normalize: true });
    manualSeed(3);
    const net = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses);
    const method = createMethod('two-head', { k: 2, numClasses: ds.numClasses, source: 'ema', emaDecay: 0.9 });
    const res = fit(net, method, new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 }), ds, { epochs: 3, batchSize: 32, ks: [2], seed: 1 });
    expect(res.history).toHaveLength(3);
    expect(res.history[2]!.trainLoss).toBeLessThan(res.history[0]!.trainLoss);
    expect(res.history[2]!.valScore).toBeGreaterThan(0.5);
  });
});
