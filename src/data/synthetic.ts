/**
 * Synthetic data with a known posterior: class-conditional Gaussians with superclass structure
 * and Zipf class priors, optionally rendered to images by a fixed injective linear map.
 *
 * Model (all randomness from `seed`):
 *   superclass s of class j: s(j) = floor(j / (C/S))  (consecutive blocks of C/S classes, so
 *     block label noise with b = C/S stays inside a superclass);
 *   superclass centres c_s ~ N(0, sepSuper² I_d);  class means μ_j = c_{s(j)} + N(0, sepClass² I_d);
 *   priors π_j ∝ rank_j^(−zipfAlpha), ranks a seeded random permutation of 1..C;
 *   y ~ Categorical(π),  x | y ~ N(μ_y, σ² I_d).
 * Exact posterior (shared isotropic covariance ⇒ softmax of linear scores):
 *   log η_j(x) = log π_j − ‖x − μ_j‖² / (2σ²) + const,
 * evaluated in double precision with logsumexp on the stored float32 vector x, then stored as
 * float32 (n × C) in `posterior.{train,val,test}`.
 *
 * Random streams: master = new Rng(seed); model, train, val, test and image-map generators are
 * master.fork() in that order, so e.g. changing nTrain does not change the val/test samples,
 * and turning `image` on/off does not change any vector or label.
 *
 * Images: with `image = {size, channels}` the d-vector is mapped to x_img = Q x with
 * Q (P × d, P = channels·size²) having orthonormal columns, so x = Qᵀ x_img and the posterior
 * is unchanged (up to float32 rounding of the pixels). basis 'smooth' (default): the first d
 * 2-D DCT-II basis images (lowest frequencies first, channels interleaved), mixed by a seeded
 * random d × d rotation; 'random': Gram–Schmidt of a seeded Gaussian P × d matrix.
 * sampleShape becomes [channels, size, size]; pixel values are centred near 0, not in [0, 1].
 */
import { Rng } from './rng.js';
import { seededRanks, zipfPriors } from './transforms.js';
import { countClasses, type Dataset } from './types.js';

export interface SyntheticImageOptions {
  size: 28 | 32;
  channels: 1 | 3;
  basis?: 'smooth' | 'random';
}

export interface SyntheticOptions {
  numClasses: number;
  numSuperclasses: number;
  dim: number;
  sepSuper: number;
  sepClass: number;
  sigma: number;
  zipfAlpha: number;
  nTrain: number;
  nVal: number;
  nTest: number;
  seed: number;
  image?: SyntheticImageOptions;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  numClasses: 20,
  numSuperclasses: 4,
  dim: 16,
  sepSuper: 4,
  sepClass: 1,
  sigma: 1,
  zipfAlpha: 0,
  nTrain: 10000,
  nVal: 2000,
  nTest: 2000,
  seed: 0,
};

export interface SyntheticModel {
  numClasses: number;
  numSuperclasses: number;
  dim: number;
  sigma: number;
  /** S × d */
  centres: Float64Array;
  /** C × d */
  means: Float64Array;
  priors: Float64Array;
  /** rank (1..C) of each class in the Zipf law */
  ranks: Int32Array;
  superclassOf: Int32Array;
}

function fail(field: string, msg: string, v: unknown): never {
  throw new Error(`dataset.${field}: ${msg}, got ${JSON.stringify(v) ?? String(v)}`);
}

/** Fills defaults and validates; errors name the field (dataset.<field>). */
export function resolveSyntheticOptions(opts: Partial<SyntheticOptions>): SyntheticOptions {
  const o: SyntheticOptions = { ...SYNTHETIC_DEFAULTS, ...opts };
  const int = (f: keyof SyntheticOptions, lo: number) => {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo) fail(f, `must be an integer ≥ ${lo}`, v);
  };
  const num = (f: keyof SyntheticOptions, lo: number, strict: boolean) => {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || (strict ? v <= lo : v < lo)) fail(f, `must be a finite number ${strict ? '>' : '≥'} ${lo}`, v);
  };
  int('numClasses', 2);
  int('numSuperclasses', 1);
  int('dim', 1);
  if (o.numClasses % o.numSuperclasses !== 0) fail('numSuperclasses', `must divide numClasses (${o.numClasses})`, o.numSuperclasses);
  num('sepSuper', 0, false);
  num('sepClass', 0, false);
  num('sigma', 0, true);
  num('zipfAlpha', 0, false);
  int('nTrain', 1);
  int('nVal', 0);
  int('nTest', 0);
  if (typeof o.seed !== 'number' || !Number.isInteger(o.seed)) fail('seed', 'must be an integer', o.seed);
  if (o.image !== undefined) {
    const im = o.image;
    if (typeof im !== 'object' || im === null) fail('image', 'must be an object {size, channels, basis?}', im);
    if (im.size !== 28 && im.size !== 32) fail('image.size', 'must be 28 or 32', im.size);
    if (im.channels !== 1 && im.channels !== 3) fail('image.channels', 'must be 1 or 3', im.channels);
    if (im.basis !== undefined && im.basis !== 'smooth' && im.basis !== 'random') fail('image.basis', 'must be "smooth" or "random"', im.basis);
    const P = im.size * im.size * im.channels;
    if (o.dim > P) fail('dim', `must be ≤ ${P} (pixels of the image) for an injective map`, o.dim);
    for (const k of Object.keys(im)) if (!['size', 'channels', 'basis'].includes(k)) fail(`image.${k}`, 'unknown option', (im as unknown as Record<string, unknown>)[k]);
  }
  return o;
}

/** The Gaussian mixture of `generateSynthetic` (deterministic given the options' seed). */
export function syntheticModel(opts: Partial<SyntheticOptions>): SyntheticModel {
  const o = resolveSyntheticOptions(opts);
  return buildModel(o, new Rng(o.seed).fork());
}

function buildModel(o: SyntheticOptions, rng: Rng): SyntheticModel {
  const { numClasses: C, numSuperclasses: S, dim: d } = o;
  const centres = new Float64Array(S * d);
  rng.fillNormal(centres, 0, o.sepSuper);
  const per = C / S;
  const superclassOf = new Int32Array(C);
  const means = new Float64Array(C * d);
  const noise = new Float64Array(d);
  for (let j = 0; j < C; j++) {
    const s = Math.floor(j / per);
    superclassOf[j] = s;
    rng.fillNormal(noise, 0, o.sepClass);
    for (let k = 0; k < d; k++) means[j * d + k] = centres[s * d + k] + noise[k];
  }
  const ranks = seededRanks(C, rng);
  const priors = zipfPriors(ranks, o.zipfAlpha);
  return { numClasses: C, numSuperclasses: S, dim: d, sigma: o.sigma, centres, means, priors, ranks, superclassOf };
}

/** Exact posterior η (n × C, float32) of the vectors x (n × d) under the model, via logsumexp in double. */
export function syntheticPosterior(model: SyntheticModel, x: ArrayLike<number>, n: number): Float32Array {
  const { numClasses: C, dim: d, means, priors } = model;
  if (x.length !== n * d) throw new Error(`syntheticPosterior: x has ${x.length} values, expected ${n}×${d}`);
  const logPi = Array.from(priors, (p) => Math.log(p));
  const inv2s2 = 1 / (2 * model.sigma * model.sigma);
  const out = new Float32Array(n * C);
  const s = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < C; j++) {
      let dist = 0;
      for (let k = 0; k < d; k++) {
        const t = x[i * d + k] - means[j * d + k];
        dist += t * t;
      }
      const v = logPi[j] - dist * inv2s2;
      s[j] = v;
      if (v > mx) mx = v;
    }
    let z = 0;
    for (let j = 0; j < C; j++) z += Math.exp(s[j] - mx);
    const lz = mx + Math.log(z);
    for (let j = 0; j < C; j++) out[i * C + j] = Math.exp(s[j] - lz);
  }
  return out;
}

function gramSchmidt(Q: Float64Array, rows: number, cols: number): void {
  // modified Gram–Schmidt with one re-orthogonalisation pass, in place, column-wise on row-major Q
  for (let k = 0; k < cols; k++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let l = 0; l < k; l++) {
        let dot = 0;
        for (let r = 0; r < rows; r++) dot += Q[r * cols + k] * Q[r * cols + l];
        for (let r = 0; r < rows; r++) Q[r * cols + k] -= dot * Q[r * cols + l];
      }
    }
    let nrm = 0;
    for (let r = 0; r < rows; r++) nrm += Q[r * cols + k] * Q[r * cols + k];
    nrm = Math.sqrt(nrm);
    if (nrm < 1e-10) throw new Error('syntheticImageMap: degenerate random matrix');
    for (let r = 0; r < rows; r++) Q[r * cols + k] /= nrm;
  }
}

/**
 * The fixed injective map of the image rendering: Q (P × d, row-major, P = channels·size²)
 * with orthonormal columns. Pixel index p = (c·size + h)·size + w (CHW).
 */
export function syntheticImageMap(dim: number, image: SyntheticImageOptions, rng: Rng): Float64Array {
  const H = image.size;
  const W = image.size;
  const Cc = image.channels;
  const P = Cc * H * W;
  if (dim > P) throw new Error(`syntheticImageMap: dim ${dim} > ${P} pixels`);
  const basis = image.basis ?? 'smooth';
  if (basis === 'random') {
    const Q = new Float64Array(P * dim);
    rng.fillNormal(Q);
    gramSchmidt(Q, P, dim);
    return Q;
  }
  const { B, R } = smoothFactors(dim, image, rng);
  const Q = new Float64Array(P * dim);
  for (let p = 0; p < P; p++) {
    for (let l = 0; l < dim; l++) {
      const b = B[p * dim + l];
      if (b === 0) continue;
      for (let k = 0; k < dim; k++) Q[p * dim + k] += b * R[l * dim + k];
    }
  }
  return Q;
}

/**
 * The exact map Q (P × d, row-major) that `generateSynthetic(opts)` uses to render images
 * (opts.image required): x_img = Q x and x = Qᵀ x_img.
 */
export function syntheticImageMatrix(opts: Partial<SyntheticOptions>): Float64Array {
  const o = resolveSyntheticOptions(opts);
  if (!o.image) throw new Error('dataset.image: syntheticImageMatrix needs image options');
  const master = new Rng(o.seed);
  for (let i = 0; i < 4; i++) master.fork(); // model, train, val, test streams
  return syntheticImageMap(o.dim, o.image, master.fork());
}

/** DCT frequencies (u, v) and channel of each of the first `dim` smooth basis images. */
function smoothFrequencies(dim: number, image: SyntheticImageOptions): { u: number; v: number; c: number }[] {
  const H = image.size;
  const W = image.size;
  const freqs: [number, number][] = [];
  for (let u = 0; u < H; u++) for (let v = 0; v < W; v++) freqs.push([u, v]);
  freqs.sort((a, b) => a[0] + a[1] - (b[0] + b[1]) || a[0] - b[0]);
  return Array.from({ length: dim }, (_, k) => {
    const [u, v] = freqs[Math.floor(k / image.channels)];
    return { u, v, c: k % image.channels };
  });
}

/** 1-D orthonormal DCT-II basis: table[u·n + i]. */
function dctTable(n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let u = 0; u < n; u++) {
    for (let i = 0; i < n; i++) t[u * n + i] = u === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n) * Math.cos((Math.PI * (2 * i + 1) * u) / (2 * n));
  }
  return t;
}

/** Smooth map factors: B (P × d, the DCT basis images) and the seeded rotation R (d × d); Q = B R. */
function smoothFactors(dim: number, image: SyntheticImageOptions, rng: Rng): { B: Float64Array; R: Float64Array } {
  const H = image.size;
  const W = image.size;
  const P = image.channels * H * W;
  const tab = dctTable(H);
  const fr = smoothFrequencies(dim, image);
  const B = new Float64Array(P * dim);
  for (let k = 0; k < dim; k++) {
    const { u, v, c } = fr[k];
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) B[((c * H + h) * W + w) * dim + k] = tab[u * H + h] * tab[v * W + w];
    }
  }
  // random rotation R (d × d) so every column mixes several patterns
  const R = new Float64Array(dim * dim);
  rng.fillNormal(R);
  gramSchmidt(R, dim, dim);
  return { B, R };
}

/**
 * Renders vectors (n × d) to images (n × P) with the smooth map, using its structure:
 * z = R x, then per channel image = Σ_u a_u(h) · (Σ_{k: u_k = u} z_k b_{v_k}(w)), which costs
 * O(d·W + #u·H·W) per channel instead of O(P·d). Same result as Q x up to rounding.
 */
function renderSmooth(x: Float32Array, n: number, dim: number, image: SyntheticImageOptions, R: Float64Array): Float32Array {
  const H = image.size;
  const W = image.size;
  const Cc = image.channels;
  const P = Cc * H * W;
  const tab = dctTable(H);
  const fr = smoothFrequencies(dim, image);
  const us = Array.from(new Set(fr.map((f) => f.u))).sort((a, b) => a - b);
  const uIndex = new Map(us.map((u, i) => [u, i]));
  const out = new Float32Array(n * P);
  const z = new Float64Array(dim);
  const rows = new Float64Array(Cc * us.length * W);
  const used = new Uint8Array(Cc * us.length);
  const img = new Float64Array(H * W);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < dim; l++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += R[l * dim + k] * x[i * dim + k];
      z[l] = s;
    }
    rows.fill(0);
    used.fill(0);
    for (let l = 0; l < dim; l++) {
      const { u, v, c } = fr[l];
      const r = c * us.length + uIndex.get(u)!;
      used[r] = 1;
      const zl = z[l];
      const base = r * W;
      for (let w = 0; w < W; w++) rows[base + w] += zl * tab[v * W + w];
    }
    for (let c = 0; c < Cc; c++) {
      img.fill(0);
      for (let ui = 0; ui < us.length; ui++) {
        const r = c * us.length + ui;
        if (!used[r]) continue;
        const u = us[ui];
        for (let h = 0; h < H; h++) {
          const a = tab[u * H + h];
          const ob = h * W;
          for (let w = 0; w < W; w++) img[ob + w] += a * rows[r * W + w];
        }
      }
      out.set(img, i * P + c * H * W);
    }
  }
  return out;
}

function sampleSplit(model: SyntheticModel, n: number, rng: Rng): { x: Float32Array; y: Int32Array } {
  const { numClasses: C, dim: d, means, priors, sigma } = model;
  const cum = new Float64Array(C);
  let acc = 0;
  for (let j = 0; j < C; j++) cum[j] = acc += priors[j];
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  const eps = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const u = rng.next() * acc;
    let lo = 0;
    let hi = C - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    y[i] = lo;
    rng.fillNormal(eps, 0, sigma);
    for (let k = 0; k < d; k++) x[i * d + k] = means[lo * d + k] + eps[k];
  }
  return { x, y };
}

function render(x: Float32Array, n: number, d: number, Q: Float64Array, P: number): Float32Array {
  const out = new Float32Array(n * P);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < P; p++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += Q[p * d + k] * x[i * d + k];
      out[i * P + p] = s;
    }
  }
  return out;
}

/** Generates the synthetic Dataset, with the exact posterior of every split. */
export function generateSynthetic(opts: Partial<SyntheticOptions> = {}): Dataset {
  const t0 = performance.now();
  const o = resolveSyntheticOptions(opts);
  const master = new Rng(o.seed);
  const modelRng = master.fork();
  const rngs = { train: master.fork(), val: master.fork(), test: master.fork() };
  const imageRng = master.fork();
  const model = buildModel(o, modelRng);
  const sizes = { train: o.nTrain, val: o.nVal, test: o.nTest };
  const smooth = o.image !== undefined && (o.image.basis ?? 'smooth') === 'smooth';
  // the same rng draws as syntheticImageMap: smooth → R only; random → the Gaussian P × d matrix
  const R = smooth ? smoothFactors(o.dim, o.image!, imageRng).R : null;
  const Q = o.image && !smooth ? syntheticImageMap(o.dim, o.image, imageRng) : null;
  const P = o.image ? o.image.channels * o.image.size * o.image.size : o.dim;
  const splits = {} as Record<'train' | 'val' | 'test', { x: Float32Array; y: Int32Array; n: number }>;
  const posterior = {} as Record<'train' | 'val' | 'test', Float32Array>;
  for (const name of ['train', 'val', 'test'] as const) {
    const n = sizes[name];
    const { x, y } = sampleSplit(model, n, rngs[name]);
    posterior[name] = syntheticPosterior(model, x, n);
    const xs = R ? renderSmooth(x, n, o.dim, o.image!, R) : Q ? render(x, n, o.dim, Q, P) : x;
    splits[name] = { x: xs, y, n };
  }
  const C = o.numClasses;
  const { image, ...scalarOpts } = o;
  return {
    name: 'synthetic',
    sampleShape: o.image ? [o.image.channels, o.image.size, o.image.size] : [o.dim],
    numClasses: C,
    classNames: Array.from({ length: C }, (_, j) => `s${model.superclassOf[j]}c${j}`),
    train: splits.train,
    val: splits.val,
    test: splits.test,
    classCounts: countClasses(splits.train.y, C),
    posterior,
    meta: {
      seed: o.seed,
      options: { ...scalarOpts, image: image ? { basis: 'smooth', ...image } : null },
      sizes,
      priors: Array.from(model.priors),
      ranks: Array.from(model.ranks),
      superclassOf: Array.from(model.superclassOf),
      posteriorNote: 'exact η of the float32 vector x (before any image rendering), double-precision logsumexp, stored as float32',
      transforms: [],
      loadMs: performance.now() - t0,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Bayes-optimal accuracies under a known posterior

function checkPosterior(posterior: Float32Array, n: number, C: number, fn: string): void {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(C) || C < 1) throw new Error(`${fn}: bad n=${n} or C=${C}`);
  if (posterior.length !== n * C) throw new Error(`${fn}: posterior has ${posterior.length} values, expected ${n}×${C}`);
}

/**
 * Bayes-optimal average-K accuracy: the *expected* accuracy (under the posterior, not against
 * sampled labels) of the sets {j : η_ij > λ} plus a randomised share of the entries equal to
 * λ, where the single global λ makes the mean set size exactly K:
 *   acc = (1/n) [ Σ_{η_ij > λ} η_ij + (K·n − #{η_ij > λ})·λ ],
 * i.e. the sum of the K·n largest entries of η (the last one fractionally) divided by n.
 * Requires 0 < K ≤ C.
 */
export function bayesAverageK(posterior: Float32Array, n: number, C: number, K: number): number {
  checkPosterior(posterior, n, C, 'bayesAverageK');
  if (!(K > 0 && K <= C)) throw new Error(`bayesAverageK: K must be in (0, ${C}], got ${K}`);
  const sorted = Float32Array.from(posterior).sort(); // ascending
  const N = sorted.length;
  const m = Math.min(K * n, N);
  const full = Math.floor(m);
  let s = 0;
  for (let t = 0; t < full; t++) s += sorted[N - 1 - t];
  if (full < N) s += (m - full) * sorted[N - 1 - full];
  return s / n;
}

/** Bayes-optimal top-K accuracy: (1/n) Σ_i (sum of the K largest η_ij). K integer in [1, C]. */
export function bayesTopK(posterior: Float32Array, n: number, C: number, K: number): number {
  checkPosterior(posterior, n, C, 'bayesTopK');
  if (!Number.isInteger(K) || K < 1 || K > C) throw new Error(`bayesTopK: K must be an integer in [1, ${C}], got ${K}`);
  const row = new Float32Array(C);
  let total = 0;
  for (let i = 0; i < n; i++) {
    row.set(posterior.subarray(i * C, (i + 1) * C));
    row.sort();
    for (let t = 0; t < K; t++) total += row[C - 1 - t];
  }
  return total / n;
}

/**
 * The oracle average-K sets behind `bayesAverageK`: mask (n × C, 1 = in the set) with every
 * entry > λ included and, among the entries equal to λ, floor(r) chosen uniformly at random
 * plus one more with probability frac(r), r = K·n − #{> λ}; E[mean size] = K exactly.
 */
export function oracleAverageKSets(
  posterior: Float32Array,
  n: number,
  C: number,
  K: number,
  rng: Rng,
): { mask: Uint8Array; threshold: number; meanSize: number } {
  checkPosterior(posterior, n, C, 'oracleAverageKSets');
  if (!(K > 0 && K <= C)) throw new Error(`oracleAverageKSets: K must be in (0, ${C}], got ${K}`);
  const N = n * C;
  const sorted = Float32Array.from(posterior).sort();
  const m = Math.min(K * n, N);
  const lambda = sorted[N - Math.ceil(m)];
  const mask = new Uint8Array(N);
  let above = 0;
  const ties: number[] = [];
  for (let t = 0; t < N; t++) {
    if (posterior[t] > lambda) {
      mask[t] = 1;
      above++;
    } else if (posterior[t] === lambda) ties.push(t);
  }
  const r = m - above;
  let take = Math.floor(r + 1e-9);
  if (rng.next() < r - take) take++;
  take = Math.min(take, ties.length);
  rng.shuffle(ties);
  for (let t = 0; t < take; t++) mask[ties[t]] = 1;
  return { mask, threshold: lambda, meanSize: (above + take) / n };
}
