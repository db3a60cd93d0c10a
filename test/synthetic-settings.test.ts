/**
 * The harder synthetic settings (src/data/synthetic.ts): class-specific covariances, the
 * bijective warp x = φ(z) and few-shot tail classes. Each keeps an exact posterior; the neutral
 * values leave the data bit-identical.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bayesCalibration } from './helpers/expect.js';
import {
  generateSynthetic,
  loadDataset,
  Rng,
  syntheticModel,
  syntheticPosterior,
  syntheticUnwarp,
  syntheticWarp,
  type Dataset,
  type SyntheticOptions,
} from '../src/data/index.js';
import { isLongTailed, parseCompareConfig, validateCompareConfig } from '../src/train/config.js';

function hash(a: ArrayBufferView): string {
  return createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}

function expectSameData(a: Dataset, b: Dataset): void {
  for (const s of ['train', 'val', 'test'] as const) {
    expect(hash(a[s].x)).toBe(hash(b[s].x));
    expect(hash(a[s].y)).toBe(hash(b[s].y));
    expect(hash(a.posterior![s]!)).toBe(hash(b.posterior![s]!));
  }
}

/** Independent float64 posterior: log π_c + log N(x; μ_c, diag σ_c²) with every constant, normalised. */
function directPosterior(means: Float64Array, sds: Float64Array, priors: ArrayLike<number>, x: ArrayLike<number>, d: number): number[] {
  const C = priors.length;
  const logp = Array.from({ length: C }, (_, c) => {
    let v = Math.log(priors[c]);
    for (let k = 0; k < d; k++) {
      const s = sds[c * d + k];
      const t = (x[k] - means[c * d + k]) / s;
      v += -0.5 * t * t - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
    }
    return v;
  });
  const m = Math.max(...logp);
  const z = logp.reduce((a, v) => a + Math.exp(v - m), 0);
  return logp.map((v) => Math.exp(v - m) / z);
}

/**
 * Test accuracy of a linear softmax model (multinomial logistic regression, full-batch gradient
 * descent in float64 on the training split) and the Bayes accuracy E[max η] of the test split.
 */
function linearVsBayes(ds: Dataset, iters = 200, lr = 0.5): { linear: number; bayes: number } {
  const { x, y, n } = ds.train;
  const d = x.length / n;
  const C = ds.numClasses;
  const D = d + 1;
  const W = new Float64Array(C * D);
  const g = new Float64Array(C * D);
  const p = new Float64Array(C);
  const scores = (v: Float32Array, i: number): void => {
    for (let c = 0; c < C; c++) {
      let a = W[c * D + d];
      for (let k = 0; k < d; k++) a += W[c * D + k] * v[i * d + k];
      p[c] = a;
    }
  };
  for (let it = 0; it < iters; it++) {
    g.fill(0);
    for (let i = 0; i < n; i++) {
      scores(x, i);
      const m = Math.max(...p);
      let z = 0;
      for (let c = 0; c < C; c++) z += p[c] = Math.exp(p[c] - m);
      for (let c = 0; c < C; c++) {
        const r = p[c] / z - (c === y[i] ? 1 : 0);
        for (let k = 0; k < d; k++) g[c * D + k] += r * x[i * d + k];
        g[c * D + d] += r;
      }
    }
    for (let t = 0; t < W.length; t++) W[t] -= (lr / n) * g[t];
  }
  let hits = 0;
  for (let i = 0; i < ds.test.n; i++) {
    scores(ds.test.x, i);
    let b = 0;
    for (let c = 1; c < C; c++) if (p[c] > p[b]) b = c;
    hits += b === ds.test.y[i] ? 1 : 0;
  }
  return { linear: hits / ds.test.n, bayes: bayesCalibration(ds, 'test').meanMax };
}

const base: Partial<SyntheticOptions> = { numClasses: 10, numSuperclasses: 2, dim: 6, sepSuper: 2, sepClass: 1, nTrain: 3000, nVal: 200, nTest: 20000, seed: 5 };

describe('neutral values keep the data bit-identical', () => {
  it('equals the data generated without the new options', () => {
    const ref = generateSynthetic(base);
    for (const neutral of [
      { covariance: 'shared' as const },
      { warp: null },
      { warp: { beta: 1, layers: 0 } },
      { fewShot: null },
      { fewShot: { classes: 0, perClass: [2, 10] as [number, number] } },
      { covariance: 'shared' as const, warp: null, fewShot: null },
    ]) {
      const ds = generateSynthetic({ ...base, ...neutral });
      expectSameData(ds, ref);
      expect(Array.from(ds.classCounts)).toEqual(Array.from(ref.classCounts));
    }
    expect(ref.meta.options).not.toHaveProperty('covariance');
  });

  it('reproduces the data generated before the options existed', () => {
    // hashes computed with the generator as of d7f9fbe, before covariance / warp / fewShot
    const ds = generateSynthetic({ numClasses: 100, numSuperclasses: 20, dim: 8, sepSuper: 1.5, sepClass: 0.3, zipfAlpha: 1, nTrain: 3000, nVal: 500, nTest: 1000, seed: 3 });
    expect([hash(ds.train.x), hash(ds.train.y), hash(ds.posterior!.train!)]).toEqual(['077ffbffa6a05897', '3d827f9d1640d703', 'fee536c1c6120b0c']);
    expect([hash(ds.test.x), hash(ds.test.y), hash(ds.posterior!.test!)]).toEqual(['5da67f7a78b364c5', 'a0e75675c24b912a', '0b41a28524a197b8']);
  });
});

describe('class-specific covariances', () => {
  for (const covariance of ['isotropic', 'diagonal'] as const) {
    const opts = { ...base, covariance, sigmaRange: [0.5, 2] as [number, number] };
    const ds = generateSynthetic(opts);
    const model = syntheticModel(opts);
    const { dim: d, numClasses: C } = model;

    it(`${covariance}: σ in sigmaRange, the same draws as meta.classSigmas, and the samples have them`, () => {
      const sd = model.scales!;
      expect(sd.length).toBe(C * d);
      for (const v of sd) expect(v >= 0.5 && v <= 2).toBe(true);
      const meta = ds.meta.classSigmas as number[];
      if (covariance === 'isotropic') {
        for (let c = 0; c < C; c++) for (let k = 0; k < d; k++) expect(sd[c * d + k]).toBe(sd[c * d]);
        expect(meta).toEqual(Array.from({ length: C }, (_, c) => sd[c * d]));
      } else expect(meta).toEqual(Array.from(sd));
      expect(new Set(Array.from(sd)).size).toBeGreaterThan(C / 2);
      expect(ds.meta.options).not.toHaveProperty('sigma');
      // per class: the mean of ((x − μ)/σ)² over dimensions and samples is 1 (SE √(2/m))
      const { x, y, n } = ds.test;
      for (let c = 0; c < C; c++) {
        let s = 0;
        let m = 0;
        for (let i = 0; i < n; i++) {
          if (y[i] !== c) continue;
          for (let k = 0; k < d; k++) s += ((x[i * d + k] - model.means[c * d + k]) / sd[c * d + k]) ** 2;
          m += d;
        }
        expect(Math.abs(s / m - 1)).toBeLessThan(4 * Math.sqrt(2 / m));
      }
    });

    it(`${covariance}: the stored posterior equals an independent float64 derivation`, () => {
      let err = 0;
      for (const split of ['train', 'test'] as const) {
        const eta = ds.posterior![split]!;
        for (let i = 0; i < 50; i++) {
          const p = directPosterior(model.means, model.scales!, model.priors, ds[split].x.subarray(i * d, (i + 1) * d), d);
          for (let c = 0; c < C; c++) err = Math.max(err, Math.abs(p[c] - eta[i * C + c]));
        }
      }
      expect(err).toBeLessThan(1e-6);
    });

    it(`${covariance}: E[max η] matches the accuracy of argmax η (3 SE)`, () => {
      const { acc, meanMax, se } = bayesCalibration(ds, 'test');
      expect(Math.abs(acc - meanMax)).toBeLessThan(3 * se);
      // the shared-σ posterior of the same vectors is not the posterior of these labels
      const wrong = syntheticPosterior({ ...model, scales: null, sigma: 1 }, ds.test.x, ds.test.n);
      const w = bayesCalibration({ ...ds, posterior: { test: wrong } }, 'test');
      expect(Math.abs(w.acc - w.meanMax)).toBeGreaterThan(3 * w.se);
    });
  }
});

describe('warp x = φ(z)', () => {
  const opts = { ...base, warp: { beta: 2, layers: 3 } };
  const ds = generateSynthetic(opts);
  const ref = generateSynthetic(base);
  const model = syntheticModel(opts);
  const d = model.dim;
  const C = model.numClasses;

  it('φ is a bijection: φ⁻¹(φ(z)) = z and φ(φ⁻¹(x)) = x, and φ is far from the identity', () => {
    const r = new Rng(11);
    const n = 500;
    const z = new Float64Array(n * d);
    r.fillNormal(z, 0, 4);
    for (let k = 0; k < 5 * d; k++) z[k] *= 25; // some far-out points
    const x = syntheticWarp(model, z, n);
    const back = syntheticUnwarp(model, x, n);
    const again = syntheticWarp(model, syntheticUnwarp(model, z, n), n);
    let e1 = 0;
    let e2 = 0;
    let moved = 0;
    for (let t = 0; t < n * d; t++) {
      e1 = Math.max(e1, Math.abs(back[t] - z[t]) / Math.max(1, Math.abs(z[t])));
      e2 = Math.max(e2, Math.abs(again[t] - z[t]) / Math.max(1, Math.abs(z[t])));
      moved = Math.max(moved, Math.abs(x[t] - z[t]));
    }
    expect(e1).toBeLessThan(1e-12);
    expect(e2).toBeLessThan(1e-12);
    expect(moved).toBeGreaterThan(1);
    // strictly increasing along every direction (so injective): finite differences along a line
    const dir = new Float64Array(d).fill(1 / Math.sqrt(d));
    const line = new Float64Array(201 * d);
    for (let i = 0; i <= 200; i++) for (let k = 0; k < d; k++) line[i * d + k] = (i - 100) * 0.05 * dir[k];
    const img = syntheticWarp(model, line, 201);
    for (let i = 1; i <= 200; i++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += (img[i * d + k] - img[(i - 1) * d + k]) * dir[k];
      expect(dot).toBeGreaterThan(0);
    }
  });

  it('the latent is the unwarped data, so labels and posterior are those of z', () => {
    expect(hash(ds.train.y)).toBe(hash(ref.train.y));
    expect(hash(ds.posterior!.test!)).toBe(hash(ref.posterior!.test!));
    const z = syntheticUnwarp(model, ds.test.x, ds.test.n);
    let err = 0;
    for (let t = 0; t < z.length; t++) err = Math.max(err, Math.abs(z[t] - ref.test.x[t]));
    expect(err).toBeLessThan(1e-4);
    // η(x) = η(φ⁻¹(x)), recomputed from the stored float32 x
    const n = 200;
    const eta = syntheticPosterior(model, z.subarray(0, n * d), n);
    let pe = 0;
    let naive = 0;
    const direct = syntheticPosterior(model, ds.test.x.subarray(0, n * d), n);
    for (let t = 0; t < n * C; t++) {
      pe = Math.max(pe, Math.abs(eta[t] - ds.posterior!.test![t]));
      naive = Math.max(naive, Math.abs(direct[t] - ds.posterior!.test![t]));
    }
    expect(pe).toBeLessThan(1e-4);
    expect(naive).toBeGreaterThan(0.1); // the warp matters: the unwarped formula on x is wrong
    expect(String(ds.meta.posteriorNote)).toMatch(/latent/);
  });

  it('E[max η] matches the accuracy of argmax η (3 SE), also with per-class covariances', () => {
    for (const o of [opts, { ...opts, covariance: 'diagonal' as const, sigmaRange: [0.6, 1.6] as [number, number] }]) {
      const { acc, meanMax, se } = bayesCalibration(generateSynthetic(o), 'test');
      expect(Math.abs(acc - meanMax)).toBeLessThan(3 * se);
    }
  });

  it('renders warped vectors to images with the same posterior', () => {
    const small = { ...opts, nTrain: 50, nVal: 10, nTest: 20 };
    const img = generateSynthetic({ ...small, image: { size: 28, channels: 1 } });
    expect(img.sampleShape).toEqual([1, 28, 28]);
    expect(hash(img.posterior!.test!)).toBe(hash(generateSynthetic(small).posterior!.test!));
  });
});

describe('few-shot tail classes', () => {
  const fewShot = { classes: 4, perClass: [2, 10] as [number, number] };
  const opts = { ...base, nTrain: 20000, fewShot };
  const ds = generateSynthetic(opts);
  const ref = generateSynthetic({ ...base, nTrain: 20000 });
  const model = syntheticModel(opts);
  const C = model.numClasses;
  const meta = ds.meta.fewShot as { classes: number[]; targetCounts: number[]; counts: number[]; available: number[]; classesShort: number[]; trainPriors: number[] };

  it('the smallest-prior classes get the requested training counts; the rest and val/test are unchanged', () => {
    const r = generateSynthetic({ ...base, nTrain: 20000, zipfAlpha: 1, fewShot });
    const m = r.meta.fewShot as typeof meta;
    const ranks = r.meta.ranks as number[];
    expect(m.classes.map((c) => ranks[c]).sort((a, b) => a - b)).toEqual([7, 8, 9, 10]);
    for (const d of [ds, r]) {
      const mm = d.meta.fewShot as typeof meta;
      expect(mm.classes.length).toBe(4);
      expect(mm.classesShort).toEqual([]);
      mm.classes.forEach((c, t) => {
        expect(mm.targetCounts[t] >= 2 && mm.targetCounts[t] <= 10).toBe(true);
        expect(d.classCounts[c]).toBe(mm.targetCounts[t]);
        expect(mm.counts[t]).toBe(mm.targetCounts[t]);
      });
    }
    expect(new Set(meta.targetCounts).size).toBeGreaterThan(1);
    for (let c = 0; c < C; c++) if (!meta.classes.includes(c)) expect(ds.classCounts[c]).toBe(ref.classCounts[c]);
    expect(ds.train.n).toBe(20000 - meta.available.reduce((a, v) => a + v, 0) + meta.counts.reduce((a, v) => a + v, 0));
    for (const s of ['val', 'test'] as const) {
      expect(hash(ds[s].x)).toBe(hash(ref[s].x));
      expect(hash(ds.posterior![s]!)).toBe(hash(ref.posterior![s]!));
    }
    // the kept samples are a subsequence of the original training split
    let j = 0;
    for (let i = 0; i < ds.train.n; i++) {
      while (ref.train.y[j] !== ds.train.y[i] || ref.train.x[j * 6] !== ds.train.x[i * 6]) j++;
      j++;
    }
    expect(j).toBeLessThanOrEqual(ref.train.n);
    // a count above what is available keeps every sample and is recorded
    const tiny = generateSynthetic({ ...base, nTrain: 30, fewShot: { classes: 3, perClass: [9, 9] } });
    const tm = tiny.meta.fewShot as typeof meta;
    tm.classes.forEach((c, t) => expect(tiny.classCounts[c]).toBe(Math.min(9, tm.available[t])));
    expect(tm.classesShort.length).toBeGreaterThan(0);
  });

  it('the training posterior uses the training prior π_c·kept_c/available_c; val/test use π', () => {
    const pi = Array.from(model.priors);
    const expected = pi.map((p, c) => {
      const t = meta.classes.indexOf(c);
      return t < 0 ? p : (p * meta.counts[t]) / meta.available[t];
    });
    const z = expected.reduce((a, v) => a + v, 0);
    expected.forEach((v, c) => expect(meta.trainPriors[c]).toBeCloseTo(v / z, 14));
    const sd = new Float64Array(C * model.dim).fill(model.sigma);
    const eta = ds.posterior!.train!;
    let err = 0;
    for (let i = 0; i < 50; i++) {
      const p = directPosterior(model.means, sd, meta.trainPriors, ds.train.x.subarray(i * 6, (i + 1) * 6), 6);
      for (let c = 0; c < C; c++) err = Math.max(err, Math.abs(p[c] - eta[i * C + c]));
    }
    expect(err).toBeLessThan(1e-6);
  });

  it('E[max η] matches the accuracy of argmax η on train (its own prior) and test', () => {
    const all = generateSynthetic({ ...base, nTrain: 20000, fewShot: { classes: 6, perClass: [2, 10] }, covariance: 'isotropic', sigmaRange: [0.7, 1.4], warp: { beta: 1.5 } });
    for (const d of [ds, all]) {
      for (const split of ['train', 'test'] as const) {
        const { acc, meanMax, se } = bayesCalibration(d, split);
        expect(Math.abs(acc - meanMax)).toBeLessThan(3 * se);
      }
    }
    // the test-prior posterior of the training vectors is not the posterior of the training labels
    const six = generateSynthetic({ ...base, nTrain: 20000, fewShot: { classes: 6 } });
    const right = bayesCalibration(six, 'train');
    expect(Math.abs(right.acc - right.meanMax)).toBeLessThan(3 * right.se);
    const wrong = syntheticPosterior(model, six.train.x, six.train.n);
    const w = bayesCalibration({ ...six, posterior: { train: wrong } }, 'train');
    expect(Math.abs(w.acc - w.meanMax)).toBeGreaterThan(3 * w.se);
  });

  it('counts as long-tailed for the compare buckets', () => {
    expect(isLongTailed({ name: 'synthetic', fewShot: { classes: 2 } })).toBe(true);
    expect(isLongTailed({ name: 'synthetic', fewShot: { classes: 0 } })).toBe(false);
    expect(isLongTailed({ name: 'synthetic', fewShot: null })).toBe(false);
  });
});

describe('all settings together', () => {
  it('η is a distribution (rows sum to 1) on every split', () => {
    const ds = generateSynthetic({ ...base, covariance: 'diagonal', sigmaRange: [0.5, 2], warp: { beta: 1.5 }, fewShot: { classes: 3 } });
    const C = ds.numClasses;
    for (const s of ['train', 'val', 'test'] as const) {
      const eta = ds.posterior![s]!;
      expect(eta.length).toBe(ds[s].n * C);
      let err = 0;
      let negative = 0;
      for (let i = 0; i < ds[s].n; i++) {
        let sum = 0;
        for (let c = 0; c < C; c++) {
          negative += eta[i * C + c] >= 0 ? 0 : 1;
          sum += eta[i * C + c];
        }
        err = Math.max(err, Math.abs(sum - 1));
      }
      expect(negative).toBe(0);
      expect(err).toBeLessThan(1e-5);
    }
  });

  it('a linear softmax model stays further from Bayes with class covariances or the warp than with the shared σ', () => {
    const small = { ...base, nTest: 5000 };
    const gap = (o: Partial<SyntheticOptions>): number => {
      const r = linearVsBayes(generateSynthetic({ ...small, ...o }));
      return r.bayes - r.linear;
    };
    const shared = gap({});
    const classSigma = gap({ covariance: 'isotropic', sigmaRange: [0.5, 2] });
    const warped = gap({ warp: { beta: 2, layers: 3 } });
    console.log(`linear-softmax gap to Bayes: shared σ ${shared.toFixed(3)}, class σ ${classSigma.toFixed(3)}, warp ${warped.toFixed(3)}`);
    expect(shared).toBeLessThan(0.06);
    expect(classSigma).toBeGreaterThan(shared + 0.05);
    expect(warped).toBeGreaterThan(shared + 0.05);
  });
});

describe('validation', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ covariance: 'full' }, /^dataset\.covariance: must be "shared", "isotropic" or "diagonal", got "full"$/],
    [{ covariance: 'isotropic' }, /^dataset\.sigmaRange: must be \[lo, hi\] with 0 < lo ≤ hi .* got undefined$/],
    [{ covariance: 'diagonal', sigmaRange: [2, 1] }, /^dataset\.sigmaRange: .* got \[2,1\]$/],
    [{ covariance: 'diagonal', sigmaRange: [0, 1] }, /^dataset\.sigmaRange: .* got \[0,1\]$/],
    [{ sigmaRange: [0.5, 2] }, /^dataset\.sigmaRange: is only used with covariance "isotropic" or "diagonal", got \[0\.5,2\]$/],
    [{ covariance: 'isotropic', sigmaRange: [0.5, 2], sigma: 1 }, /^dataset\.sigma: is not used with covariance "isotropic" .* got 1$/],
    [{ warp: { beta: -1 } }, /^dataset\.warp\.beta: must be a finite number > −1 .* got -1$/],
    [{ warp: {} }, /^dataset\.warp\.beta: .* got undefined$/],
    [{ warp: { beta: 1, layers: 1.5 } }, /^dataset\.warp\.layers: must be an integer in \[0, 64\], got 1\.5$/],
    [{ warp: { beta: 1, depth: 2 } }, /^dataset\.warp\.depth: unknown option \(allowed: beta, layers\), got 2$/],
    [{ warp: 2 }, /^dataset\.warp: must be an object \{beta, layers\?\} or null, got 2$/],
    [{ fewShot: { classes: 20 } }, /^dataset\.fewShot\.classes: must be an integer in \[0, 19\], got 20$/],
    [{ fewShot: { classes: 2, perClass: [0, 3] } }, /^dataset\.fewShot\.perClass: must be \[lo, hi\], integers with 1 ≤ lo ≤ hi, got \[0,3\]$/],
    [{ fewShot: { classes: 2, perClass: [5, 3] } }, /^dataset\.fewShot\.perClass: .* got \[5,3\]$/],
    [{ fewShot: [2] }, /^dataset\.fewShot: must be an object \{classes, perClass\?\} or null, got \[2\]$/],
  ];

  it('rejects bad values with one message naming the field and the value', () => {
    for (const [spec, re] of bad) expect(() => loadDataset({ name: 'synthetic', nTrain: 10, nVal: 0, nTest: 0, ...spec }), JSON.stringify(spec)).toThrow(re);
  });

  it('prefixes the field with config. in a compare config', () => {
    const cfg = (dataset: Record<string, unknown>) => ({ dataset: { name: 'synthetic', ...dataset }, methods: ['softmax'], ks: [2], model: { name: 'mlp' }, epochs: 1, batchSize: 8, optimizer: { name: 'sgd', lr: 0.1 } });
    expect(() => validateCompareConfig(cfg({ fewShot: { classes: -1 } }))).toThrow(/^config\.dataset\.fewShot\.classes: must be an integer in \[0, 19\], got -1$/);
    expect(() => validateCompareConfig(cfg({ covariance: 'isotropic', sigmaRange: 'wide' }))).toThrow(/^config\.dataset\.sigmaRange: .* got "wide"$/);
    expect(() => validateCompareConfig(cfg({ warpp: {} }))).toThrow(/config\.dataset\.warpp: unknown option/);
    const ok = validateCompareConfig(cfg({ covariance: 'diagonal', sigmaRange: [0.5, 1], warp: { beta: 0.5 }, fewShot: { classes: 2 } }));
    expect(ok.dataset).toMatchObject({ covariance: 'diagonal', fewShot: { classes: 2 } });
  });

  it('the example config validates and uses all three options', () => {
    const cfg = parseCompareConfig(readFileSync(new URL('../experiments/synthetic-misspecified.json', import.meta.url), 'utf8'));
    expect(cfg.dataset).toMatchObject({ name: 'synthetic', covariance: 'isotropic', warp: { beta: 1.5 }, fewShot: { classes: 6, perClass: [2, 10] } });
    expect(isLongTailed(cfg.dataset)).toBe(true);
    expect(cfg.methods.map((m) => m.label)).toEqual(['softmax', 'two-head', 'an', 'wan', 'epr', 'role']);
    expect(cfg.seeds).toHaveLength(5);
  });
});
