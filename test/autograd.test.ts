/**
 * Property-based gradient checks (central finite differences) for every differentiable op, on
 * random shapes including broadcasting. Runs on the active backend.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  Tensor, Rng, tensor, add, sub, mul, div, neg, exp, log, sqrt, pow, abs, relu, sigmoid, tanh, maximum, minimum, clamp,
  sum, mean, max, matmul, concat, stack, gather, indexSelect, softmax, logSoftmax, softmaxCrossEntropy, sigmoidBce,
  conv2d, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm, dropout, noGrad, ones, zeros, nn, fromArray,
} from '../src/index.js';
import { gradcheck, randAway } from './helpers/gradcheck.js';

const RUNS = { numRuns: 12, seed: 42 };
const dim = fc.integer({ min: 1, max: 5 });
const shapeArb = fc.array(dim, { minLength: 1, maxLength: 3 });

/** A shape and a broadcast-compatible partner (some dims set to 1, some leading dims dropped). */
const broadcastPair = fc.tuple(shapeArb, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 })).map(([s, ones_, drop]) => {
  const other = s.map((d, i) => (ones_[i] ? 1 : d)).slice(Math.min(drop, s.length - 1));
  return [s, other] as const;
});

describe('elementwise gradients', () => {
  const binaries: [string, (a: Tensor, b: Tensor) => Tensor, boolean][] = [
    ['add', add, false], ['sub', sub, false], ['mul', mul, false], ['div', div, true], ['maximum', maximum, false], ['minimum', minimum, false],
  ];
  for (const [name, f, positiveB] of binaries) {
    it(`${name} with broadcasting`, () => {
      fc.assert(fc.property(broadcastPair, fc.boolean(), fc.integer(), ([sa, sb], swap, seed) => {
        const rng = new Rng(seed);
        const a = randAway([...sa], rng);
        const b = randAway([...sb], rng, 0.3, 1.5, positiveB);
        // maximum/minimum: keep the operands apart so no entry sits on the kink
        if (name === 'maximum' || name === 'minimum') (b.data as Float32Array).forEach((v, i, arr) => (arr[i] = v * 0.5 + (i % 2 ? 3 : -3)));
        if (swap && !positiveB) gradcheck(name, f, [b, a]);
        else gradcheck(name, f, [a, b]);
      }), RUNS);
    });
  }

  const unaries: [string, (x: Tensor) => Tensor, boolean][] = [
    ['neg', neg, false], ['exp', exp, false], ['log', log, true], ['sqrt', sqrt, true], ['relu', relu, false],
    ['sigmoid', sigmoid, false], ['tanh', tanh, false], ['abs', abs, false],
    ['pow 3', (x) => pow(x, 3), false], ['pow -1.5', (x) => pow(x, -1.5), true], ['pow 0.5', (x) => pow(x, 0.5), true],
    ['clamp', (x) => clamp(x, -0.5, 0.7), false], ['scalar add/mul/sub/div', (x) => x.add(2).mul(-3).sub(0.5).div(4), false],
  ];
  for (const [name, f, positive] of unaries) {
    it(name, () => {
      fc.assert(fc.property(shapeArb, fc.integer(), (s, seed) => {
        const x = randAway(s, new Rng(seed), 0.2, 1.5, positive);
        if (name === 'clamp') (x.data as Float32Array).forEach((v, i, arr) => (Math.abs(Math.abs(v) - 0.6) < 0.15 ? (arr[i] = v * 0.5) : 0));
        gradcheck(name, f, [x]);
      }), RUNS);
    });
  }
});

describe('reduction gradients', () => {
  const axesArb = shapeArb.chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.map((_, i) => i)), fc.boolean()));
  it('sum over axes (keepdim or not)', () => {
    fc.assert(fc.property(axesArb, fc.integer(), ([s, axes, keep], seed) => {
      gradcheck('sum', (x) => sum(x, axes.length ? axes : undefined, keep), [randAway(s, new Rng(seed))]);
    }), RUNS);
  });
  it('mean over axes', () => {
    fc.assert(fc.property(axesArb, fc.integer(), ([s, axes, keep], seed) => {
      gradcheck('mean', (x) => mean(x, axes.length ? axes : undefined, keep), [randAway(s, new Rng(seed))]);
    }), RUNS);
  });
  it('max over one axis and over all', () => {
    fc.assert(fc.property(shapeArb, fc.integer(), fc.boolean(), (s, seed, keep) => {
      const rng = new Rng(seed);
      // distinct values so the maximum is unique and stable under ±eps
      const n = s.reduce((a, b) => a * b, 1);
      const perm = rng.permutation(n);
      const x = new Tensor(Float32Array.from(perm, (v) => v * 0.1), s);
      const axis = rng.int(s.length);
      gradcheck('max axis', (t) => max(t, axis, keep), [x], { eps: 1e-3 });
      gradcheck('max all', (t) => max(t), [x], { eps: 1e-3 });
    }), RUNS);
  });
});

describe('matmul gradients', () => {
  it('2-D, with transposed views', () => {
    fc.assert(fc.property(dim, dim, dim, fc.boolean(), fc.boolean(), fc.integer(), (m, k, n, ta, tb, seed) => {
      const rng = new Rng(seed);
      const a = randAway(ta ? [k, m] : [m, k], rng);
      const b = randAway(tb ? [n, k] : [k, n], rng);
      gradcheck('matmul', (x, y) => matmul(ta ? x.transpose(0, 1) : x, tb ? y.transpose(0, 1) : y), [a, b]);
    }), RUNS);
  });
  it('batched with broadcast batch dimensions and 1-D operands', () => {
    fc.assert(fc.property(dim, dim, dim, dim, fc.integer(), (bt, m, k, n, seed) => {
      const rng = new Rng(seed);
      gradcheck('bmm', matmul, [randAway([bt, m, k], rng), randAway([bt, k, n], rng)]);
      gradcheck('bmm broadcast', matmul, [randAway([2, bt, m, k], rng), randAway([k, n], rng)]);
      gradcheck('bmm broadcast left', matmul, [randAway([m, k], rng), randAway([bt, 1, k, n], rng)]);
      gradcheck('vec', matmul, [randAway([k], rng), randAway([k, n], rng)]);
      gradcheck('matvec', matmul, [randAway([m, k], rng), randAway([k], rng)]);
    }), { numRuns: 6, seed: 7 });
  });
});

describe('shaping gradients', () => {
  it('reshape, transpose, permute, expand, slice, squeeze', () => {
    fc.assert(fc.property(dim, dim, dim, fc.integer(), (a, b, c, seed) => {
      const x = randAway([a, b, c], new Rng(seed));
      gradcheck('reshape', (t) => t.reshape([c, a * b]).mul(t.reshape([c, a * b])), [x]);
      gradcheck('transpose', (t) => t.transpose(0, 2).mul(randAway([c, b, a], new Rng(1))), [x]);
      gradcheck('permute', (t) => t.permute(1, 2, 0).contiguous().reshape([-1]), [x]);
      gradcheck('expand', (t) => t.slice(1, 0, 1).expand([a, 3, c]), [x]);
      gradcheck('slice', (t) => t.slice(1, Math.floor(b / 2), b).slice(2, -1), [x]);
      gradcheck('unsqueeze/squeeze', (t) => t.unsqueeze(1).squeeze(1).sum(0), [x]);
    }), RUNS);
  });
  it('concat and stack', () => {
    fc.assert(fc.property(dim, dim, dim, fc.integer({ min: 0, max: 1 }), fc.integer(), (a, b, c, axis, seed) => {
      const rng = new Rng(seed);
      const s1 = axis === 0 ? [a, c] : [c, a];
      const s2 = axis === 0 ? [b, c] : [c, b];
      gradcheck('concat', (x, y) => concat([x, y, x], axis), [randAway(s1, rng), randAway(s2, rng)]);
      gradcheck('stack', (x, y) => stack([x, y], 1), [randAway([a, c], rng), randAway([a, c], rng)]);
    }), RUNS);
  });
  it('gather and indexSelect (repeated indices accumulate)', () => {
    fc.assert(fc.property(dim, dim, fc.integer(), (rows, cols, seed) => {
      const rng = new Rng(seed);
      const idx = new Int32Array(rows * 2).map(() => rng.int(cols));
      const index = new Tensor(idx, [rows, 2]);
      gradcheck('gather', (x) => gather(x, 1, index), [randAway([rows, cols], rng)]);
      gradcheck('indexSelect', (x) => indexSelect(x, 1, [0, cols - 1, 0]), [randAway([rows, cols], rng)]);
    }), RUNS);
  });
});

describe('softmax and fused losses', () => {
  it('softmax and logSoftmax over any axis', () => {
    fc.assert(fc.property(shapeArb, fc.integer(), (s, seed) => {
      const rng = new Rng(seed);
      const axis = rng.int(s.length);
      gradcheck('softmax', (x) => softmax(x, axis), [randAway(s, rng)]);
      gradcheck('logSoftmax', (x) => logSoftmax(x, axis), [randAway(s, rng)]);
    }), RUNS);
  });
  it('softmaxCrossEntropy with and without label smoothing', () => {
    fc.assert(fc.property(dim, fc.integer({ min: 2, max: 7 }), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.integer(), (b, c, eps, seed) => {
      const rng = new Rng(seed);
      const y = new Int32Array(b).map(() => rng.int(c));
      gradcheck('softmaxCE', (x) => softmaxCrossEntropy(x, y, { smoothing: eps }), [randAway([b, c], rng, 0, 3)]);
    }), RUNS);
  });
  it('softmaxCrossEntropy matches -mean(logSoftmax[y]) with smoothing', () => {
    const x = tensor([[1, 2, 0.5], [-1, 0, 3]]);
    const y = new Int32Array([1, 2]);
    const eps = 0.1;
    const ls = logSoftmax(x).toArray() as number[][];
    const expected = -ls.reduce((s, row, i) => s + (1 - eps) * row[y[i]] + (eps / 3) * row.reduce((a, v) => a + v, 0), 0) / 2;
    expect(softmaxCrossEntropy(x, y, { smoothing: eps }).item()).toBeCloseTo(expected, 5);
  });
  it('sigmoidBce with soft targets, weights and each reduction', () => {
    fc.assert(fc.property(shapeArb, fc.constantFrom('mean', 'sum', 'batchmean'), fc.integer(), (s, reduction, seed) => {
      const rng = new Rng(seed);
      const n = s.reduce((a, b) => a * b, 1);
      const t = new Float32Array(n).map(() => rng.next());
      const w = new Float32Array(n).map(() => 0.5 + rng.next());
      gradcheck('sigmoidBce', (z) => sigmoidBce(z, t, { weights: w, reduction: reduction as 'mean' }), [randAway(s, rng, 0, 4)]);
    }), RUNS);
  });
  it('sigmoidBce is finite and exact for |logit| up to 1e4', () => {
    const z = tensor([1e4, -1e4, 1e4, -1e4]).setRequiresGrad(true);
    const t = new Float32Array([1, 0, 0, 1]);
    const loss = sigmoidBce(z, t, { reduction: 'sum' });
    expect(loss.item()).toBeCloseTo(2e4, 0);
    loss.backward();
    z.grad!.toFlatArray().forEach((g, i) => expect(Math.abs(g - [0, 0, 1, -1][i])).toBeLessThan(1e-30));
  });
});

describe('layer gradients', () => {
  const convArb = fc.record({
    n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), o: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 3, max: 6 }), w: fc.integer({ min: 3, max: 6 }), k: fc.constantFrom(1, 2, 3),
    stride: fc.constantFrom(1, 2), pad: fc.constantFrom(0, 1), bias: fc.boolean(), seed: fc.integer(),
  });
  it('conv2d (stride, padding, bias)', () => {
    fc.assert(fc.property(convArb, (p) => {
      const rng = new Rng(p.seed);
      const x = randAway([p.n, p.c, p.h, p.w], rng);
      const w = randAway([p.o, p.c, p.k, p.k], rng);
      const inputs = p.bias ? [x, w, randAway([p.o], rng)] : [x, w];
      gradcheck('conv2d', (a, b, bias) => conv2d(a, b, bias ?? null, { stride: p.stride, padding: p.pad }), inputs);
    }), RUNS);
  });
  it('max and average pooling', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 7 }), fc.constantFrom([2, 2, 0], [3, 2, 1], [3, 1, 1], [2, 1, 0]), fc.integer(), (h, [k, s, p], seed) => {
      const rng = new Rng(seed);
      if (h + 2 * p < k) return;
      const n = 2 * 3 * h * h;
      const perm = rng.permutation(n);
      const x = new Tensor(Float32Array.from(perm, (v) => v * 0.05 - 1), [2, 3, h, h]);
      gradcheck('maxPool2d', (t) => maxPool2d(t, k, s, p), [x], { eps: 1e-3 });
      gradcheck('avgPool2d', (t) => avgPool2d(t, k, s, p), [x]);
      gradcheck('globalAvgPool2d', globalAvgPool2d, [x]);
    }), RUNS);
  });
  it('batch norm in training and eval mode, 2-D and 4-D', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean(), fc.integer(), (n, c, spatial, training, seed) => {
      const rng = new Rng(seed);
      const shape = spatial ? [n, c, 2, 3] : [n, c];
      const state = () => ({ runningMean: Float32Array.from({ length: c }, () => rng.normal() * 0.1), runningVar: Float32Array.from({ length: c }, () => 0.5 + rng.next()) });
      const st = state();
      const fixed = { runningMean: Float32Array.from(st.runningMean), runningVar: Float32Array.from(st.runningVar) };
      gradcheck('batchNorm', (x, g, b) => batchNorm(x, g, b, { runningMean: Float32Array.from(fixed.runningMean), runningVar: Float32Array.from(fixed.runningVar) }, { training }),
        [randAway(shape, rng), randAway([c], rng, 0.5, 1.5, true), randAway([c], rng)], { rtol: 3e-2, atol: 5e-3 });
    }), RUNS);
  });
  // The fused batch norm + ReLU must be relu(batchNorm(...)) exactly: the same float operations in
  // the same order, forward and backward (so no tolerance), on every backend.
  it('batchNorm with relu: true equals relu(batchNorm(...)), values and gradients bit for bit', () => {
    for (const training of [true, false]) {
      for (const shape of [[4, 3, 5, 5], [6, 2]]) {
        const c = shape[1]!;
        const run = (fused: boolean) => {
          const rng = new Rng(shape.length * 10 + (training ? 1 : 0));
          const x = fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape, { requiresGrad: true });
          const g = fromArray(Float32Array.from({ length: c }, (_, i) => 0.5 + 0.25 * i), [c], { requiresGrad: true });
          const b = fromArray(Float32Array.from({ length: c }, (_, i) => 0.1 * i - 0.1), [c], { requiresGrad: true });
          const state = { runningMean: new Float32Array(c).fill(0.1), runningVar: new Float32Array(c).fill(0.8) };
          const y = fused ? batchNorm(x, g, b, state, { training, relu: true }) : relu(batchNorm(x, g, b, state, { training }));
          const w = new Tensor(Float32Array.from({ length: y.size }, (_, i) => Math.sin(i)), shape);
          sum(mul(y, w)).backward();
          return [y.toFlatArray(), x.grad!.toFlatArray(), g.grad!.toFlatArray(), b.grad!.toFlatArray(), Array.from(state.runningMean), Array.from(state.runningVar)];
        };
        const want = run(false);
        const got = run(true);
        expect(got, `training=${training} shape=${shape}`).toEqual(want);
        expect(got[0]!.some((v) => v === 0) && got[0]!.some((v) => v > 0)).toBe(true); // both ReLU sides occur
      }
    }
  });
  it('Sequential runs a plain BatchNorm → ReLU pair fused, with the same results', () => {
    const make = () => {
      const conv = new nn.Conv2d(2, 3, 3, { padding: 1, rng: new Rng(5) });
      return [conv, new nn.BatchNorm2d(3), new nn.ReLU()] as const;
    };
    const x = new Tensor(Float32Array.from({ length: 2 * 2 * 6 * 6 }, (_, i) => Math.cos(i * 0.7)), [2, 2, 6, 6]);
    const [c1, b1, r1] = make();
    const seq = new nn.Sequential(c1, b1, r1);
    const ySeq = seq.forward(x);
    expect(ySeq.node?.op).toBe('batchNormRelu');
    sum(mul(ySeq, ySeq)).backward();
    const [c2, b2, r2] = make();
    const yStep = r2.forward(b2.forward(c2.forward(x)));
    expect(yStep.node?.op).toBe('relu');
    sum(mul(yStep, yStep)).backward();
    expect(ySeq.toFlatArray()).toEqual(yStep.toFlatArray());
    expect(c1.weight.grad!.toFlatArray()).toEqual(c2.weight.grad!.toFlatArray());
    expect(b1.weight.grad!.toFlatArray()).toEqual(b2.weight.grad!.toFlatArray());
    expect(b1.runningVar.toFlatArray()).toEqual(b2.runningVar.toFlatArray());
    // a ReLU subclass (it may override forward) is left alone
    class LoudReLU extends nn.ReLU {}
    const y3 = new nn.Sequential(new nn.BatchNorm2d(2), new LoudReLU()).forward(x);
    expect(y3.node?.op).toBe('relu');
  });
  it('dropout (fixed mask per seed)', () => {
    const x = randAway([4, 5], new Rng(3));
    gradcheck('dropout', (t) => dropout(t, 0.3, true, new Rng(99)), [x]);
    const y = dropout(ones([1000]), 0.3, true, new Rng(1)).toFlatArray();
    const kept = y.filter((v) => v !== 0);
    expect(kept.length / 1000).toBeGreaterThan(0.6);
    expect(kept.length / 1000).toBeLessThan(0.8);
    expect(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6)).toBe(true);
    expect(dropout(ones([10]), 0.3, false, new Rng(1)).toFlatArray()).toEqual(new Array(10).fill(1));
  });
});

describe('autograd engine', () => {
  it('a 10,000-op chain backpropagates (iterative sort, no recursion limit)', () => {
    const x = tensor([0.5]).setRequiresGrad(true);
    let y = x;
    for (let i = 0; i < 10000; i++) y = y.mul(1.0001).add(0);
    y.sum().backward();
    expect(x.grad!.item()).toBeCloseTo(1.0001 ** 10000, 2);
  });
  it('accumulates into leaves across backward calls and through shared inputs', () => {
    const x = tensor([1, 2, 3]).setRequiresGrad(true);
    x.mul(x).sum().backward();
    expect(x.grad!.toFlatArray()).toEqual([2, 4, 6]);
    x.sum().backward();
    expect(x.grad!.toFlatArray()).toEqual([3, 5, 7]);
  });
  it('noGrad builds no graph; detach cuts the graph', () => {
    const x = tensor([1, 2]).setRequiresGrad(true);
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(() => y.sum().backward()).toThrow(/does not require grad/);
    const z = x.detach().mul(x).sum();
    z.backward();
    expect(x.grad!.toFlatArray()).toEqual([1, 2]);
    expect(noGrad(() => 5)).toBe(5);
  });
  it('backward of a non-scalar needs a gradient of the same shape', () => {
    const x = tensor([1, 2]).setRequiresGrad(true);
    expect(() => x.mul(2).backward()).toThrow(/non-scalar/);
    expect(() => x.mul(2).backward(zeros([3]))).toThrow(/does not match/);
  });
});
