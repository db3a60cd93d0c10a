/**
 * The average-K objectives, pseudo-labels, calibration and metrics against hand-computed
 * formulas (docs/method.md), finite differences and brute-force definitions.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Tensor, Rng, sigmoidBce, fromArray } from '../src/index.js';
import { createMethod, METHOD_NAMES, type AvgKMethod, type HeadOutputs, type MethodOptions } from '../src/avgk/losses.js';
import { pseudoLabels } from '../src/avgk/pseudo-labels.js';
import { calibrateThreshold, predictSets, type PredictedSets } from '../src/avgk/calibrate.js';
import { setMetrics, topKAccuracy } from '../src/avgk/metrics.js';
import { gradcheck } from './helpers/gradcheck.js';
import { buildModel } from '../src/avgk/model.js';
import { manualSeed } from '../src/tensor/random.js';

// ---------------------------------------------------------------------------------------------
// helpers (double precision)

const sig = (x: number): number => 1 / (1 + Math.exp(-x));
const logSig = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
/** BCE of logit x with target t: −t log σ(x) − (1−t) log(1−σ(x)). */
const bce = (x: number, t: number): number => -t * logSig(x) - (1 - t) * logSig(-x);
const logit = (p: number): number => Math.log(p / (1 - p));

function randLogits(b: number, c: number, rng: Rng, scale = 2): Float32Array {
  const a = new Float32Array(b * c);
  for (let i = 0; i < a.length; i++) a[i] = scale * (2 * rng.next() - 1);
  return a;
}

function randLabels(b: number, c: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: b }, () => rng.int(c));
}

function softmaxRows(a: ArrayLike<number>, b: number, c: number): Float64Array {
  const p = new Float64Array(b * c);
  for (let i = 0; i < b; i++) {
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, a[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(a[i * c + j] - mx);
    for (let j = 0; j < c; j++) p[i * c + j] = Math.exp(a[i * c + j] - mx) / s;
  }
  return p;
}

function ceRef(a: ArrayLike<number>, y: Int32Array, b: number, c: number): number {
  const p = softmaxRows(a, b, c);
  let s = 0;
  for (let i = 0; i < b; i++) s -= Math.log(p[i * c + y[i]]);
  return s / b;
}

/** ((1/B) Σ σ(z) − K)² / C² */
function eprRegRef(z: ArrayLike<number>, b: number, c: number, k: number): number {
  let s = 0;
  for (let i = 0; i < b * c; i++) s += sig(z[i]);
  return (s / b - k) ** 2 / (c * c);
}

function outputs(a: Float32Array, z: Float32Array, b: number, c: number): HeadOutputs {
  return { softmax: new Tensor(Float32Array.from(a), [b, c]), multilabel: new Tensor(Float32Array.from(z), [b, c]) };
}

function lossValue(m: AvgKMethod, a: Float32Array, z: Float32Array, y: Int32Array, b: number, c: number, indices?: Int32Array): number {
  return m.loss(outputs(a, z, b, c), { labels: y, indices: indices ?? Int32Array.from({ length: b }, (_, i) => i) }).item();
}

/** Top m entries of `p` among `allowed` by (value desc, flat index asc): brute force. */
function bruteTop(p: ArrayLike<number>, allowed: (i: number) => boolean, m: number): Set<number> {
  const idx = Array.from({ length: p.length }, (_, i) => i).filter(allowed);
  idx.sort((u, v) => p[v] - p[u] || u - v);
  return new Set(idx.slice(0, m));
}

/**
 * Softmax logits whose log-probabilities over the whole batch are pairwise ≥ `gap` apart, so that a
 * perturbation of one logit by ±eps < gap/2 (which moves every log-probability by at most eps)
 * cannot reorder them: the pseudo-labels are locally constant.
 */
function separatedLogits(b: number, c: number, rng: Rng, gap = 0.05): Float32Array {
  for (let attempt = 0; attempt < 100_000; attempt++) {
    const a = randLogits(b, c, rng, 4);
    const lp = Array.from(softmaxRows(a, b, c), Math.log).sort((u, v) => u - v);
    let ok = true;
    for (let i = 1; i < lp.length && ok; i++) if (lp[i] - lp[i - 1] < gap) ok = false;
    if (ok) return a;
  }
  throw new Error('separatedLogits: no sample found');
}

const B = 4;
const C = 5;
const K = 2;

function make(name: string, extra: Partial<MethodOptions> = {}): AvgKMethod {
  // bare logits have no head to train apart: two-head's formula tests use the loss as written
  const asWritten = name === 'two-head' ? { headGrad: 'mu' } : {};
  return createMethod(name, { k: K, numClasses: C, numTrain: 16, rng: new Rng(3), ...asWritten, ...extra });
}

// ---------------------------------------------------------------------------------------------
// values

describe('loss values against the formulas of docs/method.md', () => {
  const rng = new Rng(11);
  const a = randLogits(B, C, rng);
  const z = randLogits(B, C, rng);
  const y = randLabels(B, C, rng);

  it('softmax: mean cross-entropy of the softmax head; ignores the multi-label head', () => {
    const m = make('softmax');
    expect(m.kIndependent).toBe(true);
    expect(m.scoreHead).toBe('softmax');
    expect(lossValue(m, a, z, y, B, C)).toBeCloseTo(ceRef(a, y, B, C), 5);
    expect(lossValue(m, a, randLogits(B, C, new Rng(99)), y, B, C)).toBeCloseTo(ceRef(a, y, B, C), 5);
  });

  it('AN: mean over the B·C entries of BCE with one-hot targets', () => {
    let s = 0;
    for (let i = 0; i < B; i++) for (let j = 0; j < C; j++) s += bce(z[i * C + j], j === y[i] ? 1 : 0);
    const m = make('an');
    expect(m.kIndependent).toBe(true);
    expect(m.scoreHead).toBe('multilabel');
    expect(lossValue(m, a, z, y, B, C)).toBeCloseTo(s / (B * C), 5);
  });

  it('WAN: negative terms weighted by γ = 1/(C−1), sum divided by B·C', () => {
    let s = 0;
    for (let i = 0; i < B; i++) for (let j = 0; j < C; j++) s += j === y[i] ? bce(z[i * C + j], 1) : bce(z[i * C + j], 0) / (C - 1);
    const m = make('wan');
    expect(m.options.gamma).toBeCloseTo(1 / (C - 1), 12);
    expect(lossValue(m, a, z, y, B, C)).toBeCloseTo(s / (B * C), 5);
  });

  it('AN-LS: targets 0.9 for the observed label and 0.1 for the others', () => {
    let s = 0;
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < C; j++) {
        const x = z[i * C + j];
        s += j === y[i] ? 0.9 * -logSig(x) + 0.1 * -logSig(-x) : 0.1 * -logSig(x) + 0.9 * -logSig(-x);
      }
    }
    expect(lossValue(make('an-ls'), a, z, y, B, C)).toBeCloseTo(s / (B * C), 5);
    expect(make('an-ls').options.smoothing).toBe(0.1);
  });

  it('EPR: observed-positive term (÷ B·C) + ((1/B)Σσ(z) − K)²/C²', () => {
    for (const k of [1, 2, 3.5]) {
      let pos = 0;
      for (let i = 0; i < B; i++) pos += -logSig(z[i * C + y[i]]);
      const want = pos / (B * C) + eprRegRef(z, B, C, k);
      const m = createMethod('epr', { k, numClasses: C });
      expect(m.kIndependent).toBe(false);
      expect(lossValue(m, a, z, y, B, C)).toBeCloseTo(want, 5);
    }
  });

  it('two-head: CE + μ·BCE on the pseudo-labels, for each reduction, weights and variant', () => {
    const a2 = separatedLogits(B, C, new Rng(5));
    const probs = Float32Array.from(softmaxRows(a2, B, C));
    for (const variant of ['true-plus-topk', 'batch-topk'] as const) {
      for (const reduction of ['batchmean', 'mean'] as const) {
        for (const [mu, wPos, wNeg] of [[1, 1, 1], [0.3, 1, 1], [1, 2, 0.5]]) {
          const t = pseudoLabels(probs, y, B, C, K, variant);
          let s = 0;
          for (let e = 0; e < B * C; e++) s += (t[e] === 1 ? wPos : wNeg) * bce(z[e], t[e]);
          const want = ceRef(a2, y, B, C) + mu * s / (reduction === 'batchmean' ? B : B * C);
          const m = make('two-head', { mu, wPos, wNeg, reduction, variant });
          expect(m.options).toMatchObject({ mu, wPos, wNeg, reduction, variant, k: K });
          expect(lossValue(m, a2, z, y, B, C), `${variant}/${reduction}/μ=${mu}`).toBeCloseTo(want, 4);
        }
      }
    }
  });

  it('two-head schedules: warm-up epochs are cross-entropy only, then μ ramps linearly', () => {
    const a2 = separatedLogits(B, C, new Rng(5));
    const probs = Float32Array.from(softmaxRows(a2, B, C));
    const t = pseudoLabels(probs, y, B, C, K);
    let s = 0;
    for (let e = 0; e < B * C; e++) s += bce(z[e], t[e]);
    const ce = ceRef(a2, y, B, C);
    const m = make('two-head', { mu: 0.6, warmup: 2, muRamp: 3 });
    const at = (epoch: number) => m.loss(outputs(a2, z, B, C), { labels: y, indices: Int32Array.from({ length: B }, (_, i) => i), epoch, epochs: 10 }).item();
    for (const [epoch, mu] of [[0, 0], [1, 0], [2, 0.2], [3, 0.4], [4, 0.6], [9, 0.6]]) expect(at(epoch), `epoch ${epoch}`).toBeCloseTo(ce + (mu * s) / B, 4);
    // a direct call without an epoch uses μ
    expect(lossValue(m, a2, z, y, B, C)).toBeCloseTo(ce + (0.6 * s) / B, 4);
    expect(() => make('two-head', { warmup: 1.5 })).toThrow(/warmup: must be a whole number, got 1\.5/);
  });

  it("two-head headGrad 'full': the head gets the full BCE gradient, the backbone μ·BCE, the loss CE + BCE", () => {
    const x = fromArray(randLogits(B, 6, new Rng(31)), [B, 6]);
    const grads = (opts: Partial<MethodOptions>) => {
      manualSeed(5);
      const model = buildModel({ name: 'mlp', hidden: [8] }, [6], C);
      const loss = make('two-head', opts).loss(model.forward(x), { labels: y, indices: Int32Array.from({ length: B }, (_, i) => i), epoch: 0, epochs: 1 });
      loss.backward();
      const g = (t: { grad: Tensor | null }) => Array.from(t.grad!.dataSync() as Float32Array);
      return { loss: loss.item(), head: g(model.multilabelHead.weight), headBias: g(model.multilabelHead.bias!), backbone: [...model.backbone.parameters()].flatMap(g), soft: g(model.softmaxHead.weight) };
    };
    const full = grads({ mu: 0.3, headGrad: 'full' });
    const asLoss = grads({ mu: 0.3 });
    const muOne = grads({ mu: 1 });
    const close = (u: number[], v: number[]) => u.forEach((e, i) => expect(e, `entry ${i}`).toBeCloseTo(v[i]!, 5));
    close(full.head, muOne.head);
    close(full.headBias, muOne.headBias);
    close(full.backbone, asLoss.backbone);
    close(full.soft, asLoss.soft);
    expect(full.loss).toBeCloseTo(muOne.loss, 5);
    // and the option matters: μ·BCE trains the head 0.3× as fast
    expect(Math.abs(asLoss.head[0]! - full.head[0]!)).toBeGreaterThan(1e-4);
    expect(() => make('two-head', { headGrad: 'half' })).toThrow(/headGrad/);
    // the default trains the head at the full rate; bare logits cannot, and say so
    expect(createMethod('two-head', { k: K, numClasses: C }).options.headGrad).toBe('full');
    expect(() => createMethod('two-head', { k: K, numClasses: C, mu: 0.3 }).loss(outputs(a, z, B, C), { labels: y, indices: Int32Array.from({ length: B }, (_, i) => i) }))
      .toThrow(/headGrad 'full' needs outputs of a TwoHeadModel/);
  });

  it("two-head source 'prev-epoch': the first epoch uses each batch's threshold, later ones the previous epoch's mean", () => {
    const rng2 = new Rng(21);
    const batches = [0, 1, 2].map(() => ({ a: separatedLogits(B, C, rng2), y: randLabels(B, C, rng2) }));
    const m = make('two-head', { source: 'prev-epoch', mu: 1 });
    const loss = (i: number, epoch: number) => m.loss(outputs(batches[i]!.a, z, B, C), { labels: batches[i]!.y, indices: Int32Array.from({ length: B }, (_, j) => j), epoch, epochs: 3 }).item();
    const batchRule = make('two-head', { mu: 1 });
    // epoch 0: identical to the batch rule; remember each batch's threshold (the (K−1)·B-th largest non-true probability)
    const lambdas: number[] = [];
    for (let i = 0; i < 3; i++) {
      expect(loss(i, 0)).toBeCloseTo(lossValue(batchRule, batches[i]!.a, z, batches[i]!.y, B, C), 5);
      const p = softmaxRows(batches[i]!.a, B, C);
      const others = Array.from(p).filter((_, e) => e % C !== batches[i]!.y[Math.floor(e / C)]).sort((u, v) => v - u);
      lambdas.push(others[Math.round((K - 1) * B) - 1]!);
    }
    const lambda = Math.fround(lambdas.reduce((u, v) => Math.fround(u + v), 0) / 3);
    // epoch 1: targets = 1[p ≥ λ̄] ∪ the true labels
    const p = softmaxRows(batches[0]!.a, B, C);
    let s = 0;
    for (let e = 0; e < B * C; e++) s += bce(z[e], p[e] >= lambda || batches[0]!.y[Math.floor(e / C)] === e % C ? 1 : 0);
    expect(loss(0, 1)).toBeCloseTo(ceRef(batches[0]!.a, batches[0]!.y, B, C) + s / B, 4);
    // the threshold state checkpoints and restores exactly
    const state = m.stateDict!();
    const m2 = make('two-head', { source: 'prev-epoch', mu: 1 });
    m2.loadStateDict!(state);
    expect(m2.loss(outputs(batches[1]!.a, z, B, C), { labels: batches[1]!.y, indices: Int32Array.from({ length: B }, (_, j) => j), epoch: 1, epochs: 3 }).item()).toBe(loss(1, 1));
  });

  it('ROLE: initialisation, loss formula, and the label estimator steps at 10× the learning rate', () => {
    const n = 6;
    const m = createMethod('role', { k: K, numClasses: C, numTrain: n, rng: new Rng(7) });
    expect(m.kIndependent).toBe(false);
    const g0 = m.stateDict!()['role.g'];
    expect(g0.length).toBe(n * C);
    const bound = logit(0.6);
    for (const v of g0) expect(Math.abs(v)).toBeLessThanOrEqual(bound + 1e-6);
    // uniform on [−logit(0.6), logit(0.6)]: spread over the interval
    expect(Math.max(...g0) - Math.min(...g0)).toBeGreaterThan(bound);

    const idx = Int32Array.from([4, 1, 3, 0]);
    const f = randLogits(B, C, new Rng(8));
    const loss = m.loss(outputs(a, f, B, C), { labels: y, indices: idx });
    const g = m.stateDict!()['role.g'];
    // observed positives are set to logit(0.995) on first use, the rest keep their initial values
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < C; j++) {
        const at = idx[i] * C + j;
        if (j === y[i]) expect(g[at]).toBeCloseTo(logit(0.995), 5);
        else expect(g[at]).toBe(g0[at]);
      }
    }
    // hand-computed: ½(pos_f + pos_g) + ½[BCE(f, σ(g)) + BCE(g, σ(f))] + ½(R(f) + R(g))
    const gb = new Float64Array(B * C);
    for (let i = 0; i < B; i++) for (let j = 0; j < C; j++) gb[i * C + j] = g[idx[i] * C + j];
    let posF = 0;
    let posG = 0;
    let crossF = 0;
    let crossG = 0;
    for (let i = 0; i < B; i++) {
      posF += -logSig(f[i * C + y[i]]);
      posG += -logSig(gb[i * C + y[i]]);
      for (let j = 0; j < C; j++) {
        const e = i * C + j;
        crossF += bce(f[e], sig(gb[e]));
        crossG += bce(gb[e], sig(f[e]));
      }
    }
    const bc = B * C;
    const want = 0.5 * (posF / bc + posG / bc) + 0.5 * (crossF / bc + crossG / bc) + 0.5 * (eprRegRef(f, B, C, K) + eprRegRef(gb, B, C, K));
    expect(loss.item()).toBeCloseTo(want, 5);

    // afterStep: Adam on g at 10 × lr. Adam's first step moves every entry with a non-zero
    // gradient by ≈ its learning rate (m̂/√v̂ = ±1), so |Δg| ≈ 10·lr for the batch's rows.
    loss.backward();
    const before = Float32Array.from(m.stateDict!()['role.g']);
    const lr = 0.003;
    m.afterStep!(lr);
    const after = m.stateDict!()['role.g'];
    let moved = 0;
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < C; j++) {
        const d = Math.abs(after[r * C + j] - before[r * C + j]);
        if (idx.includes(r)) {
          expect(d).toBeCloseTo(10 * lr, 4);
          moved++;
        } else expect(d).toBe(0); // rows not in the batch have zero gradient
      }
    }
    expect(moved).toBe(B * C);
    // the multiplier is an option
    const m5 = createMethod('role', { k: K, numClasses: C, numTrain: n, rng: new Rng(7), lrMultiplier: 5 });
    const l5 = m5.loss(outputs(a, f, B, C), { labels: y, indices: idx });
    l5.backward();
    const b5 = Float32Array.from(m5.stateDict!()['role.g']);
    m5.afterStep!(lr);
    expect(Math.abs(m5.stateDict!()['role.g'][idx[0] * C] - b5[idx[0] * C])).toBeCloseTo(5 * lr, 4);
  });

  it('every method is K-(in)dependent as documented and names its score head', () => {
    const expected: Record<string, [boolean, string]> = {
      softmax: [true, 'softmax'], 'two-head': [false, 'multilabel'], an: [true, 'multilabel'], wan: [true, 'multilabel'],
      'an-ls': [true, 'multilabel'], epr: [false, 'multilabel'], role: [false, 'multilabel'],
    };
    expect([...METHOD_NAMES].sort()).toEqual(Object.keys(expected).sort());
    for (const name of METHOD_NAMES) {
      const m = make(name);
      expect([m.kIndependent, m.scoreHead], name).toEqual(expected[name]);
    }
  });

  it('bad inputs are errors naming the problem', () => {
    expect(() => createMethod('foo', { k: 2, numClasses: 5 })).toThrow(/unknown method "foo"/);
    expect(() => createMethod('two-head', { k: 0.5, numClasses: 5 })).toThrow(/K must be in \[1, 5\)/);
    expect(() => createMethod('epr', { k: 5, numClasses: 5 })).toThrow(/K must be/);
    expect(() => createMethod('role', { k: 2, numClasses: 5, rng: new Rng(1) })).toThrow(/numTrain/);
    const m = make('an');
    expect(() => m.loss(outputs(a, z, B, C), { labels: Int32Array.from([0, 1, 2]), indices: new Int32Array(3) })).toThrow(/shape/);
    expect(() => m.loss(outputs(a, z, B, C), { labels: Int32Array.from([0, 1, 2, 9]), indices: new Int32Array(4) })).toThrow(/out of range/);
  });
});

// ---------------------------------------------------------------------------------------------
// gradients

describe('loss gradients by central finite differences (both heads)', () => {
  const gopts = { eps: 1e-2, atol: 5e-4, rtol: 2e-2, maxEntries: 40 };

  function checkMethod(name: string, build: () => AvgKMethod, a: Float32Array, z: Float32Array, y: Int32Array, b: number, c: number, indices?: Int32Array): void {
    const m = build();
    const ctx = { labels: y, indices: indices ?? Int32Array.from({ length: b }, (_, i) => i) };
    const uses = { softmax: m.name === 'softmax' || m.name === 'two-head', multilabel: m.name !== 'softmax' };
    const ta = new Tensor(Float32Array.from(a), [b, c]);
    const tz = new Tensor(Float32Array.from(z), [b, c]);
    if (uses.softmax && uses.multilabel) {
      gradcheck(name, (sa, sz) => m.loss({ softmax: sa, multilabel: sz }, ctx), [ta, tz], gopts);
    } else if (uses.softmax) {
      gradcheck(name, (sa) => m.loss({ softmax: sa, multilabel: tz }, ctx), [ta], gopts);
    } else {
      gradcheck(name, (sz) => m.loss({ softmax: ta, multilabel: sz }, ctx), [tz], gopts);
    }
    // the head a method does not use receives no gradient
    const la = new Tensor(Float32Array.from(a), [b, c]).setRequiresGrad(true);
    const lz = new Tensor(Float32Array.from(z), [b, c]).setRequiresGrad(true);
    build().loss({ softmax: la, multilabel: lz }, ctx).backward();
    for (const [head, t] of [['softmax', la], ['multilabel', lz]] as const) {
      if (uses[head]) continue;
      const g = t.grad ? t.grad.toFlatArray() : [];
      expect(g.every((v) => v === 0), `${name}: ${head} head gradient`).toBe(true);
    }
  }

  for (const name of ['softmax', 'an', 'wan', 'an-ls', 'epr']) {
    it(name, () => {
      for (let seed = 0; seed < 4; seed++) {
        const rng = new Rng(100 + seed);
        const b = 3 + (seed % 2);
        const c = 4 + seed;
        const k = 1 + 0.5 * seed;
        const a = randLogits(b, c, rng);
        const z = randLogits(b, c, rng);
        const y = randLabels(b, c, rng);
        checkMethod(`${name} seed ${seed}`, () => createMethod(name, { k, numClasses: c }), a, z, y, b, c);
      }
    });
  }

  it('role: gradient w.r.t. f = derivative of the loss with the detached targets σ(g), σ(f) held fixed; g steps against its own', () => {
    // ROLE detaches σ(g) in BCE(f, σ(g)) and σ(f) in BCE(g, σ(f)): the autograd gradient is the
    // derivative with those targets held constant, so the reference is computed that way, in double.
    for (let seed = 0; seed < 4; seed++) {
      const rng = new Rng(300 + seed);
      const b = 3 + (seed % 2);
      const c = 4 + seed;
      const k = 1 + 0.5 * seed;
      const n = 8;
      const a = randLogits(b, c, rng);
      const f = randLogits(b, c, rng);
      const y = randLabels(b, c, rng);
      const idx = Int32Array.from(new Rng(seed).permutation(n).subarray(0, b));
      const m = createMethod('role', { k, numClasses: c, numTrain: n, rng: new Rng(seed) });
      const lf = new Tensor(Float32Array.from(f), [b, c]).setRequiresGrad(true);
      const la = new Tensor(Float32Array.from(a), [b, c]).setRequiresGrad(true);
      const loss = m.loss({ softmax: la, multilabel: lf }, { labels: y, indices: idx });
      const g = m.stateDict!()['role.g'];
      const gb = Float64Array.from({ length: b * c }, (_, e) => g[idx[Math.floor(e / c)] * c + (e % c)]);
      const sgFixed = Array.from(gb, sig);
      const sfFixed = Array.from(f, sig);
      const bc = b * c;
      // the parts that depend on f (σ(g) fixed) and on g (σ(f) fixed)
      const partF = (x: ArrayLike<number>): number => {
        let s = 0;
        for (let i = 0; i < b; i++) s += -logSig(x[i * c + y[i]]);
        for (let e = 0; e < bc; e++) s += bce(x[e], sgFixed[e]);
        return 0.5 * (s / bc) + 0.5 * eprRegRef(x, b, c, k);
      };
      const partG = (x: ArrayLike<number>): number => {
        let s = 0;
        for (let i = 0; i < b; i++) s += -logSig(x[i * c + y[i]]);
        for (let e = 0; e < bc; e++) s += bce(x[e], sfFixed[e]);
        return 0.5 * (s / bc) + 0.5 * eprRegRef(x, b, c, k);
      };
      expect(loss.item()).toBeCloseTo(partF(f) + partG(gb), 5);
      loss.backward();
      const grad = lf.grad!.dataSync();
      const h = 1e-4;
      const fdOf = (fn: (x: ArrayLike<number>) => number, x0: ArrayLike<number>, e: number): number => {
        const xp = Float64Array.from(x0);
        xp[e] += h;
        const up = fn(xp);
        xp[e] -= 2 * h;
        return (up - fn(xp)) / (2 * h);
      };
      for (let e = 0; e < bc; e++) expect(grad[e], `f entry ${e}`).toBeCloseTo(fdOf(partF, f, e), 4);
      expect(la.grad === null || la.grad.toFlatArray().every((v) => v === 0)).toBe(true);
      // g: Adam's first step moves each entry by lr·10 against the sign of its gradient
      const before = Float32Array.from(g);
      m.afterStep!(0.001);
      const after = m.stateDict!()['role.g'];
      for (let e = 0; e < bc; e++) {
        const at = idx[Math.floor(e / c)] * c + (e % c);
        const dg = fdOf(partG, gb, e);
        if (Math.abs(dg) > 1e-5) expect(Math.sign(after[at] - before[at]), `g entry ${e}`).toBe(-Math.sign(dg));
      }
    }
  });

  const variants = [
    { variant: 'true-plus-topk', reduction: 'batchmean' },
    { variant: 'true-plus-topk', reduction: 'mean' },
    { variant: 'batch-topk', reduction: 'batchmean' },
    { variant: 'batch-topk', reduction: 'mean' },
  ] as const;
  for (const v of variants) {
    it(`two-head ${v.variant} / ${v.reduction} (pseudo-labels locally constant)`, () => {
      for (let seed = 0; seed < 3; seed++) {
        const rng = new Rng(200 + seed);
        const b = 3;
        const c = 4 + seed;
        const k = 1.5 + seed * 0.5;
        const a = separatedLogits(b, c, rng);
        const z = randLogits(b, c, rng);
        const y = randLabels(b, c, rng);
        // precondition: no ±eps perturbation of any softmax logit changes the pseudo-labels
        const base = pseudoLabels(Float32Array.from(softmaxRows(a, b, c)), y, b, c, k, v.variant);
        for (let e = 0; e < a.length; e++) {
          for (const d of [-gopts.eps, gopts.eps]) {
            const ap = Float32Array.from(a);
            ap[e] += d;
            expect(Array.from(pseudoLabels(Float32Array.from(softmaxRows(ap, b, c)), y, b, c, k, v.variant))).toEqual(Array.from(base));
          }
        }
        const opts = { mu: seed === 0 ? 1 : 0.3, wPos: 1 + seed, wNeg: 1 / (1 + seed), headGrad: 'mu', ...v };
        checkMethod(`two-head ${JSON.stringify(opts)}`, () => createMethod('two-head', { k, numClasses: c, ...opts }), a, z, y, b, c);
      }
    });
  }

  it('two-head BCE part with fixed pseudo-labels (any logits)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom('batchmean' as const, 'mean' as const), (seed, reduction) => {
      const rng = new Rng(seed);
      const b = 2 + rng.int(3);
      const c = 3 + rng.int(4);
      const a = randLogits(b, c, rng, 3);
      const z = randLogits(b, c, rng, 3);
      const y = randLabels(b, c, rng);
      const t = pseudoLabels(Float32Array.from(softmaxRows(a, b, c)), y, b, c, 1 + rng.next() * (c - 1.01));
      const w = t.map((v) => (v === 1 ? 1.5 : 0.7));
      gradcheck('two-head BCE', (sz) => sigmoidBce(sz, new Tensor(t, [b, c]), { weights: w, reduction }), [new Tensor(z, [b, c])], gopts);
    }), { numRuns: 15 });
  });
});

// ---------------------------------------------------------------------------------------------
// pseudo-labels

/** Probabilities as a flat array, possibly with many ties (values quantised to `levels`). */
const batchArb = fc
  .record({
    b: fc.integer({ min: 1, max: 12 }),
    c: fc.integer({ min: 2, max: 8 }),
    seed: fc.integer({ min: 0, max: 1e9 }),
    levels: fc.constantFrom(0, 2, 3, 5),
    kFrac: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  })
  .map(({ b, c, seed, levels, kFrac }) => {
    const rng = new Rng(seed);
    const probs = new Float32Array(b * c);
    for (let i = 0; i < probs.length; i++) {
      const u = rng.next();
      probs[i] = levels === 0 ? u : Math.floor(u * levels) / levels;
    }
    return { b, c, probs, labels: randLabels(b, c, rng), kFrac, rng };
  });

describe('pseudo-labels (src/avgk/pseudo-labels.ts)', () => {
  it("'true-plus-topk': round(K·B) positives = every true label + the highest other entries, ties by lowest flat index", () => {
    fc.assert(fc.property(batchArb, ({ b, c, probs, labels, kFrac }) => {
      const k = Math.min(1 + kFrac * (c - 1), c - 1e-6); // [1, C)
      const t = pseudoLabels(probs, labels, b, c, k);
      const count = t.reduce((s, v) => s + v, 0);
      expect(count).toBe(Math.round(k * b)); // = B + round((K−1)·B)
      expect(count).toBe(b + Math.round((k - 1) * b));
      for (let i = 0; i < b; i++) expect(t[i * c + labels[i]]).toBe(1);
      const isTrue = (e: number) => labels[Math.floor(e / c)] === e % c;
      const extra = bruteTop(probs, (e) => !isTrue(e), Math.round((k - 1) * b));
      for (let e = 0; e < b * c; e++) {
        if (!isTrue(e)) expect(t[e], `entry ${e}`).toBe(extra.has(e) ? 1 : 0);
        expect(t[e] === 0 || t[e] === 1).toBe(true);
      }
    }), { numRuns: 300 });
  });

  it("'batch-topk': exactly round(K·B) positives, the highest entries of the batch", () => {
    fc.assert(fc.property(batchArb, ({ b, c, probs, labels, kFrac }) => {
      const k = Math.max(1e-3, kFrac * (c - 1e-3)); // (0, C)
      const t = pseudoLabels(probs, labels, b, c, k, 'batch-topk');
      const m = Math.round(k * b);
      expect(t.reduce((s, v) => s + v, 0)).toBe(m);
      const top = bruteTop(probs, () => true, m);
      for (let e = 0; e < b * c; e++) expect(t[e]).toBe(top.has(e) ? 1 : 0);
    }), { numRuns: 300 });
  });

  it('permuting the batch permutes the targets (tie-free probabilities), for both variants', () => {
    fc.assert(fc.property(batchArb, fc.integer({ min: 0, max: 1e9 }), ({ b, c, labels, kFrac, rng }, pseed) => {
      // distinct probabilities (ties are broken by flat index, which a permutation changes)
      const perm0 = rng.permutation(b * c);
      const probs = Float32Array.from(perm0, (r) => (r + 1) / (b * c + 1));
      const perm = new Rng(pseed).permutation(b);
      const pp = new Float32Array(b * c);
      const pl = new Int32Array(b);
      for (let i = 0; i < b; i++) {
        pp.set(probs.subarray(perm[i] * c, (perm[i] + 1) * c), i * c);
        pl[i] = labels[perm[i]];
      }
      for (const variant of ['true-plus-topk', 'batch-topk'] as const) {
        const k = Math.min(1 + kFrac * (c - 1), c - 1e-6);
        const t = pseudoLabels(probs, labels, b, c, k, variant);
        const tp = pseudoLabels(pp, pl, b, c, k, variant);
        for (let i = 0; i < b; i++) expect(Array.from(tp.subarray(i * c, (i + 1) * c))).toEqual(Array.from(t.subarray(perm[i] * c, (perm[i] + 1) * c)));
      }
    }), { numRuns: 200 });
  });

  it('K = 1 gives the one-hot labels; bad K / labels / sizes are errors', () => {
    const probs = Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.4, 0.1]);
    expect(Array.from(pseudoLabels(probs, Int32Array.from([2, 0]), 2, 3, 1))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(Array.from(pseudoLabels(probs, Int32Array.from([2, 0]), 2, 3, 1.5))).toEqual([0, 1, 1, 1, 0, 0]);
    expect(() => pseudoLabels(probs, Int32Array.from([2, 0]), 2, 3, 0.5)).toThrow(/K must be/);
    expect(() => pseudoLabels(probs, Int32Array.from([2, 0]), 2, 3, 3)).toThrow(/K must be/);
    expect(() => pseudoLabels(probs, Int32Array.from([2, 0]), 2, 3, NaN)).toThrow(/K must be/);
    expect(() => pseudoLabels(probs, Int32Array.from([3, 0]), 2, 3, 2)).toThrow(/out of range/);
    expect(() => pseudoLabels(probs, Int32Array.from([2]), 2, 3, 2)).toThrow(/labels/);
    expect(() => pseudoLabels(probs.subarray(1), Int32Array.from([2, 0]), 2, 3, 2)).toThrow(/entries/);
  });
});

// ---------------------------------------------------------------------------------------------
// calibration

describe('calibration (src/avgk/calibrate.ts)', () => {
  it('the mean set size on the calibration split is K within 1/N, with many ties and fractional K', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 60 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 0, max: 1e9 }),
      fc.constantFrom(0, 1, 2, 3, 4, 7), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1000 }),
      (n, c, seed, levels, kFrac, calSeed) => {
        const rng = new Rng(seed);
        const scores = new Float32Array(n * c);
        for (let i = 0; i < scores.length; i++) scores[i] = levels === 0 ? rng.normal() : levels === 1 ? 0.25 : Math.floor(rng.next() * levels) / levels;
        const k = Math.min(c - 1e-6, Math.max(1e-6, kFrac * c));
        const cal = calibrateThreshold(scores, n, c, k, { seed: calSeed });
        const sets = predictSets(scores, n, c, cal);
        const total = sets.sizes.reduce((s, v) => s + v, 0);
        expect(Math.abs(total / n - k), `n=${n} c=${c} K=${k} levels=${levels}`).toBeLessThanOrEqual(1 / n + 1e-12);
        // sets are consistent with the threshold: everything above is in, everything below out
        for (let e = 0; e < scores.length; e++) {
          if (scores[e] > cal.threshold) expect(sets.mask[e]).toBe(1);
          if (scores[e] < cal.threshold) expect(sets.mask[e]).toBe(0);
        }
        // deterministic given the seed
        expect(Array.from(predictSets(scores, n, c, cal).mask)).toEqual(Array.from(sets.mask));
      },
    ), { numRuns: 400 });
  });

  it('NaN scores and K out of range are errors', () => {
    const s = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    const bad = Float32Array.from(s);
    bad[3] = NaN;
    expect(() => calibrateThreshold(bad, 2, 3, 1)).toThrow(/NaN/i);
    const cal = calibrateThreshold(s, 2, 3, 1);
    expect(() => predictSets(bad, 2, 3, cal)).toThrow(/NaN/);
    for (const k of [0, -1, 3, 4, NaN, Infinity]) expect(() => calibrateThreshold(s, 2, 3, k), `K=${k}`).toThrow(/K must be in \(0, 3\)/);
    expect(() => calibrateThreshold(s, 3, 3, 1)).toThrow(/entries/);
  });
});

// ---------------------------------------------------------------------------------------------
// metrics

/** Few / medium / many by terciles of the classes ranked by training count (ties share their average rank). */
function bruteBuckets(counts: number[]): ('few' | 'medium' | 'many')[] {
  const c = counts.length;
  return counts.map((n) => {
    const below = counts.filter((m) => m < n).length;
    const equal = counts.filter((m) => m === n).length;
    const avgRank = below + (equal - 1) / 2;
    const q = (avgRank + 0.5) / c;
    return q < 1 / 3 ? 'few' : q > 2 / 3 ? 'many' : 'medium';
  });
}

describe('metrics against brute-force definitions', () => {
  it('micro / macro average-K accuracy, buckets, histogram and per-class mean set size', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 0, max: 1e9 }), (n, c, seed) => {
      const rng = new Rng(seed);
      const mask = Uint8Array.from({ length: n * c }, () => (rng.next() < 0.35 ? 1 : 0));
      const sizes = Int32Array.from({ length: n }, (_, i) => mask.subarray(i * c, (i + 1) * c).reduce((s, v) => s + v, 0));
      const sets: PredictedSets = { rows: n, cols: c, mask, sizes };
      const labels = Int32Array.from({ length: n }, () => rng.int(Math.max(1, c - 1))); // the last class may be absent
      const counts = Array.from({ length: c }, () => rng.int(4) * 10);
      const m = setMetrics(sets, labels, counts);
      const hit = (i: number) => mask[i * c + labels[i]] === 1;
      let micro = 0;
      for (let i = 0; i < n; i++) micro += hit(i) ? 1 : 0;
      expect(m.avgKAccuracy).toBeCloseTo(micro / n, 12);
      const perClass: number[] = [];
      for (let j = 0; j < c; j++) {
        const rows = [...Array(n).keys()].filter((i) => labels[i] === j);
        expect(m.perClass.count[j]).toBe(rows.length);
        if (rows.length === 0) {
          expect(m.perClass.accuracy[j]).toBeNaN();
          expect(m.perClass.meanSetSize[j]).toBeNaN();
          continue;
        }
        const acc = rows.filter(hit).length / rows.length;
        perClass[j] = acc;
        expect(m.perClass.accuracy[j]).toBeCloseTo(acc, 12);
        expect(m.perClass.meanSetSize[j]).toBeCloseTo(rows.reduce((s, i) => s + sizes[i], 0) / rows.length, 12);
      }
      const present = perClass.filter((v) => v !== undefined);
      expect(m.macroAvgKAccuracy).toBeCloseTo(present.reduce((s, v) => s + v, 0) / present.length, 12);
      expect(m.meanSetSize).toBeCloseTo(sizes.reduce((s, v) => s + v, 0) / n, 12);
      const hist = new Array(Math.max(...sizes) + 1).fill(0);
      for (const s of sizes) hist[s]++;
      expect(m.setSizeHistogram).toEqual(hist);
      const bucketOf = bruteBuckets(counts);
      for (const b of ['few', 'medium', 'many'] as const) {
        const accs = perClass.filter((v, j) => v !== undefined && bucketOf[j] === b);
        const want = accs.length ? accs.reduce((s, v) => s + v, 0) / accs.length : null;
        if (want === null) expect(m.buckets![b]).toBeNull();
        else expect(m.buckets![b]).toBeCloseTo(want, 12);
      }
    }), { numRuns: 300 });
  });

  it('top-K accuracy: the true label among the K best of its row, ties broken by the lowest class index', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 1e9 }), (n, c, seed) => {
      const rng = new Rng(seed);
      const scores = Float32Array.from({ length: n * c }, () => Math.floor(rng.next() * 4)); // many ties
      const labels = randLabels(n, c, rng);
      const k = 1 + rng.int(c);
      let correct = 0;
      for (let i = 0; i < n; i++) {
        const row = Array.from(scores.subarray(i * c, (i + 1) * c));
        const y = labels[i];
        // rank of y when the row is sorted by (score desc, class index asc), i.e. the top-K set
        // chosen with the same tie rule as the pseudo-labels
        const order = row.map((_, j) => j).sort((u, v) => row[v] - row[u] || u - v);
        const rank = order.indexOf(y);
        if (rank < k) correct++;
      }
      expect(topKAccuracy(scores, labels, n, c, k)).toBeCloseTo(correct / n, 12);
    }), { numRuns: 300 });
  });
});
