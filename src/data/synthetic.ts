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
 * Random streams: master = new Rng(seed); model, train, val, test, image-map and few-shot
 * generators are master.fork() in that order (the class σ and the warp use two forks of the
 * model stream taken after the priors), so e.g. changing nTrain does not change the val/test samples,
 * and turning `image` on/off does not change any vector or label.
 *
 * Harder variants (all off by default; absent ⇒ bit-identical data):
 *   covariance 'isotropic' | 'diagonal': x | y ~ N(μ_y, diag(σ_y²)) with σ_{y} (one per class) or
 *     σ_{y,k} (one per class and dimension) log-uniform in sigmaRange = [lo, hi] (from the model
 *     stream), so log η_j(x) = log π_j − Σ_k [(x_k − μ_jk)² / (2σ_jk²) + log σ_jk] + const is
 *     quadratic in x; `sigma` is not used then.
 *   warp {beta, layers}: the observed vector is x = φ(z), z the Gaussian-mixture sample above,
 *     φ = h_L ∘ … ∘ h_1, h_l(u) = R_lᵀ g_l(R_l u), R_l seeded rotations, g_l(t)_k = t_k +
 *     beta·tanh(t_k − b_lk) with offsets b_lk ~ N(0, sepSuper²). g_l is strictly increasing for
 *     beta > −1 (g' ≥ min(1, 1 + beta)) and onto, so φ is a smooth bijection; the Jacobian of
 *     φ⁻¹ is common to all classes and cancels, hence η(x) = η(φ⁻¹(x)) = η(z): the posterior
 *     is that of the float32 latent z (x is φ(z) rounded to float32).
 *   fewShot {classes: m, perClass: [lo, hi]}: the m classes of largest Zipf rank (smallest
 *     prior) keep n_c ~ U{lo..hi} of their training samples (uniform subsample, order kept; all
 *     if fewer). Val/test are untouched. As in transforms.applyLongTail, the training posterior
 *     uses the training split's prior π_c·kept_c/available_c; val/test use π.
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

/** Covariance of x | y: 'shared' σ²I (default), or per class: σ_y²I or diag(σ_y1², …, σ_yd²). */
export type SyntheticCovariance = 'shared' | 'isotropic' | 'diagonal';

/** x = φ(z): `layers` (default 2) rotated elementwise maps t + beta·tanh(t − b); beta > −1. */
export interface SyntheticWarpOptions {
  beta: number;
  layers?: number;
}

/** The `classes` smallest-prior classes keep U{lo..hi} training samples (perClass default [2, 10]). */
export interface SyntheticFewShotOptions {
  classes: number;
  perClass?: [number, number];
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
  /**
   * Covariance of x | y (default 'shared': σ²I). 'isotropic' / 'diagonal' draw σ_y or σ_{y,k}
   * log-uniform in `sigmaRange`; log η is then quadratic in x, so a softmax-linear model is
   * misspecified. `sigma` must be absent then.
   */
  covariance?: SyntheticCovariance;
  /** [lo, hi], 0 < lo ≤ hi: range of the class standard deviations; required for (only for) covariance 'isotropic' / 'diagonal' */
  sigmaRange?: [number, number];
  /**
   * Observe x = φ(z) for a seeded smooth bijection φ of the Gaussian-mixture sample z (beta > −1,
   * layers integer in [0, 64], default 2). η(x) = η(z) exactly. null / absent / layers 0: no warp.
   */
  warp?: SyntheticWarpOptions | null;
  /**
   * The `classes` (integer in [0, C − 1]) smallest-prior classes keep exactly n_c ~ U{lo..hi}
   * training samples (perClass integers 1 ≤ lo ≤ hi, default [2, 10]; all of them if fewer were
   * drawn, listed in meta.fewShot.classesShort). Only the training split changes: val and test
   * keep the generator's prior π (the Zipf law), the training posterior uses the training prior.
   * null / absent / classes 0: no few-shot classes.
   */
  fewShot?: SyntheticFewShotOptions | null;
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
  /** C × d class standard deviations; null for the shared σ */
  scales: Float64Array | null;
  /** the map φ of the warp option; null when off */
  warp: SyntheticWarp | null;
}

export interface SyntheticWarp {
  beta: number;
  /** per layer: R_l (d × d orthogonal, row-major) */
  rotations: Float64Array[];
  /** per layer: offsets b_l (d) */
  offsets: Float64Array[];
}

/** The names of the harder-variant options (allowed dataset keys besides SYNTHETIC_DEFAULTS and image). */
export const SYNTHETIC_EXTRA_KEYS = ['covariance', 'sigmaRange', 'warp', 'fewShot'] as const;

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
  validateExtras(o, opts);
  return o;
}

function checkObjectKeys(v: unknown, field: string, allowed: string[], shape: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, `must be an object ${shape} or null`, v);
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (obj[k] !== undefined && !allowed.includes(k)) fail(`${field}.${k}`, `unknown option (allowed: ${allowed.join(', ')})`, obj[k]);
  return obj;
}

function validateExtras(o: SyntheticOptions, given: Partial<SyntheticOptions>): void {
  const cov = o.covariance;
  if (cov !== undefined && cov !== 'shared' && cov !== 'isotropic' && cov !== 'diagonal') fail('covariance', 'must be "shared", "isotropic" or "diagonal"', cov);
  const perClass = cov === 'isotropic' || cov === 'diagonal';
  if (!perClass) {
    if (o.sigmaRange !== undefined) fail('sigmaRange', 'is only used with covariance "isotropic" or "diagonal"', o.sigmaRange);
  } else {
    const r = o.sigmaRange as unknown;
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0) || r[0] > r[1]) {
      fail('sigmaRange', `must be [lo, hi] with 0 < lo ≤ hi (class standard deviations) for covariance "${cov}"`, r);
    }
    if (given.sigma !== undefined) fail('sigma', `is not used with covariance "${cov}" (the class σ come from sigmaRange); remove it`, given.sigma);
  }
  if (o.warp !== undefined && o.warp !== null) {
    const w = checkObjectKeys(o.warp, 'warp', ['beta', 'layers'], '{beta, layers?}');
    if (typeof w.beta !== 'number' || !Number.isFinite(w.beta) || w.beta <= -1) fail('warp.beta', 'must be a finite number > −1 (so that t + beta·tanh(t) is invertible)', w.beta);
    if (w.layers !== undefined && (typeof w.layers !== 'number' || !Number.isInteger(w.layers) || w.layers < 0 || w.layers > 64)) fail('warp.layers', 'must be an integer in [0, 64]', w.layers);
  }
  if (o.fewShot !== undefined && o.fewShot !== null) {
    const f = checkObjectKeys(o.fewShot, 'fewShot', ['classes', 'perClass'], '{classes, perClass?}');
    if (typeof f.classes !== 'number' || !Number.isInteger(f.classes) || f.classes < 0 || f.classes >= o.numClasses) fail('fewShot.classes', `must be an integer in [0, ${o.numClasses - 1}]`, f.classes);
    const pc = f.perClass;
    if (pc !== undefined && (!Array.isArray(pc) || pc.length !== 2 || !pc.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1) || pc[0] > pc[1])) {
      fail('fewShot.perClass', 'must be [lo, hi], integers with 1 ≤ lo ≤ hi', pc);
    }
  }
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
  // drawn after everything above, so the shared-σ model is unchanged
  const scaleRng = rng.fork();
  const warpRng = rng.fork();
  let scales: Float64Array | null = null;
  if (o.covariance === 'isotropic' || o.covariance === 'diagonal') {
    const [lo, hi] = o.sigmaRange!;
    const logRatio = Math.log(hi / lo);
    scales = new Float64Array(C * d);
    for (let j = 0; j < C; j++) {
      if (o.covariance === 'isotropic') scales.fill(lo * Math.exp(logRatio * scaleRng.next()), j * d, (j + 1) * d);
      else for (let k = 0; k < d; k++) scales[j * d + k] = lo * Math.exp(logRatio * scaleRng.next());
    }
  }
  let warp: SyntheticWarp | null = null;
  const layers = o.warp ? (o.warp.layers ?? 2) : 0;
  if (layers > 0) {
    const rotations: Float64Array[] = [];
    const offsets: Float64Array[] = [];
    for (let l = 0; l < layers; l++) {
      const R = new Float64Array(d * d);
      warpRng.fillNormal(R);
      gramSchmidt(R, d, d);
      rotations.push(R);
      offsets.push(warpRng.fillNormal(new Float64Array(d), 0, o.sepSuper) as Float64Array);
    }
    warp = { beta: o.warp!.beta, rotations, offsets };
  }
  return { numClasses: C, numSuperclasses: S, dim: d, sigma: o.sigma, centres, means, priors, ranks, superclassOf, scales, warp };
}

/** x = φ(z) (n × d, double) for the latent vectors z (n × d) under the model's warp (identity if none). */
export function syntheticWarp(model: SyntheticModel, z: ArrayLike<number>, n: number): Float64Array {
  return applyWarp(model, z, n, false);
}

/** z = φ⁻¹(x) (n × d, double): each g inverted by safeguarded Newton to full double precision. */
export function syntheticUnwarp(model: SyntheticModel, x: ArrayLike<number>, n: number): Float64Array {
  return applyWarp(model, x, n, true);
}

function applyWarp(model: SyntheticModel, v: ArrayLike<number>, n: number, inverse: boolean): Float64Array {
  const d = model.dim;
  if (v.length !== n * d) throw new Error(`syntheticWarp: got ${v.length} values, expected ${n}×${d}`);
  const out = Float64Array.from(v);
  const w = model.warp;
  if (!w) return out;
  const L = w.rotations.length;
  const t = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const u = out.subarray(i * d, (i + 1) * d);
    for (let s = 0; s < L; s++) {
      const l = inverse ? L - 1 - s : s;
      const R = w.rotations[l];
      const b = w.offsets[l];
      for (let r = 0; r < d; r++) {
        let acc = 0;
        for (let k = 0; k < d; k++) acc += R[r * d + k] * u[k];
        t[r] = inverse ? invertG(acc, w.beta, b[r]) : acc + w.beta * Math.tanh(acc - b[r]);
      }
      // u = Rᵀ t
      for (let k = 0; k < d; k++) {
        let acc = 0;
        for (let r = 0; r < d; r++) acc += R[r * d + k] * t[r];
        u[k] = acc;
      }
    }
  }
  return out;
}

/** The t with t + beta·tanh(t − b) = y (beta > −1): Newton inside the bracket |t − y| ≤ |beta|, bisection fallback. */
function invertG(y: number, beta: number, b: number): number {
  let lo = y - Math.abs(beta);
  let hi = y + Math.abs(beta);
  let t = y - beta * Math.tanh(y - b);
  if (!(t >= lo && t <= hi)) t = y;
  for (let it = 0; it < 200; it++) {
    const th = Math.tanh(t - b);
    const f = t + beta * th - y;
    if (f === 0) return t;
    if (f > 0) hi = t;
    else lo = t;
    let next = t - f / (1 + beta * (1 - th * th));
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (next === t || hi - lo <= 4 * Number.EPSILON * Math.max(1, Math.abs(t))) return next;
    t = next;
  }
  return t;
}

/**
 * Exact posterior η (n × C, float32) of the latent vectors x (n × d) under the model, via
 * logsumexp in double. `priors` overrides the model's class priors (a split with its own prior).
 * With a warp, pass the latent z: η(φ(z)) = η(z).
 */
export function syntheticPosterior(model: SyntheticModel, x: ArrayLike<number>, n: number, priors: ArrayLike<number> = model.priors): Float32Array {
  const { numClasses: C, dim: d, means, scales } = model;
  if (x.length !== n * d) throw new Error(`syntheticPosterior: x has ${x.length} values, expected ${n}×${d}`);
  if (priors.length !== C) throw new Error(`syntheticPosterior: ${priors.length} priors, expected ${C}`);
  const logPi = Array.from(priors, (p) => Math.log(p));
  const inv2s2 = 1 / (2 * model.sigma * model.sigma);
  // per-class covariance: log σ terms and 1/(2σ²) per class and dimension
  let logDet: Float64Array | null = null;
  let inv2v: Float64Array | null = null;
  if (scales) {
    logDet = new Float64Array(C);
    inv2v = new Float64Array(C * d);
    for (let j = 0; j < C; j++) {
      for (let k = 0; k < d; k++) {
        const sd = scales[j * d + k];
        logDet[j] += Math.log(sd);
        inv2v[j * d + k] = 1 / (2 * sd * sd);
      }
    }
  }
  const out = new Float32Array(n * C);
  const s = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < C; j++) {
      let v: number;
      if (inv2v) {
        let q = 0;
        for (let k = 0; k < d; k++) {
          const t = x[i * d + k] - means[j * d + k];
          q += t * t * inv2v[j * d + k];
        }
        v = logPi[j] - q - logDet![j];
      } else {
        let dist = 0;
        for (let k = 0; k < d; k++) {
          const t = x[i * d + k] - means[j * d + k];
          dist += t * t;
        }
        v = logPi[j] - dist * inv2s2;
      }
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
  const { numClasses: C, dim: d, means, priors, sigma, scales } = model;
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
    if (scales) {
      rng.fillNormal(eps);
      for (let k = 0; k < d; k++) x[i * d + k] = means[lo * d + k] + scales[lo * d + k] * eps[k];
    } else {
      rng.fillNormal(eps, 0, sigma);
      for (let k = 0; k < d; k++) x[i * d + k] = means[lo * d + k] + eps[k];
    }
  }
  return { x, y };
}

/**
 * Few-shot subsample of a training split: the `classes` classes of largest rank keep
 * U{lo..hi} of their samples (uniform, order kept). Training prior π_c·kept_c/available_c.
 */
function fewShotSubsample(
  model: SyntheticModel,
  y: Int32Array,
  fs: SyntheticFewShotOptions,
  rng: Rng,
): { keep: number[]; trainPriors: Float64Array; meta: Record<string, unknown> } {
  const C = model.numClasses;
  const [lo, hi] = fs.perClass ?? [2, 10];
  const byRank = Array.from({ length: C }, (_, j) => j).sort((a, b) => model.ranks[b] - model.ranks[a]);
  const classes = byRank.slice(0, fs.classes).sort((a, b) => a - b);
  const target = new Map<number, number>();
  for (const c of classes) target.set(c, lo + rng.int(hi - lo + 1));
  const byClass = new Map<number, number[]>(classes.map((c) => [c, []]));
  for (let i = 0; i < y.length; i++) byClass.get(y[i])?.push(i);
  const drop = new Uint8Array(y.length);
  const trainPriors = Float64Array.from(model.priors);
  const counts: number[] = [];
  const available: number[] = [];
  const short: number[] = [];
  for (const c of classes) {
    const idx = byClass.get(c)!;
    const k = Math.min(target.get(c)!, idx.length);
    rng.shuffle(idx);
    for (let t = k; t < idx.length; t++) drop[idx[t]] = 1;
    trainPriors[c] *= idx.length > 0 ? k / idx.length : 0;
    counts.push(k);
    available.push(idx.length);
    if (k < target.get(c)!) short.push(c);
  }
  let z = 0;
  for (let c = 0; c < C; c++) z += trainPriors[c];
  for (let c = 0; c < C; c++) trainPriors[c] /= z;
  const keep: number[] = [];
  for (let i = 0; i < y.length; i++) if (!drop[i]) keep.push(i);
  return {
    keep,
    trainPriors,
    meta: { classes, targetCounts: classes.map((c) => target.get(c)), counts, available, classesShort: short, trainPriors: Array.from(trainPriors) },
  };
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
  const fewShotRng = master.fork();
  const model = buildModel(o, modelRng);
  const sizes = { train: o.nTrain, val: o.nVal, test: o.nTest };
  const smooth = o.image !== undefined && (o.image.basis ?? 'smooth') === 'smooth';
  // the same rng draws as syntheticImageMap: smooth → R only; random → the Gaussian P × d matrix
  const R = smooth ? smoothFactors(o.dim, o.image!, imageRng).R : null;
  const Q = o.image && !smooth ? syntheticImageMap(o.dim, o.image, imageRng) : null;
  const P = o.image ? o.image.channels * o.image.size * o.image.size : o.dim;
  const splits = {} as Record<'train' | 'val' | 'test', { x: Float32Array; y: Int32Array; n: number }>;
  const posterior = {} as Record<'train' | 'val' | 'test', Float32Array>;
  let fewShotMeta: Record<string, unknown> | null = null;
  for (const name of ['train', 'val', 'test'] as const) {
    let n = sizes[name];
    let { x, y } = sampleSplit(model, n, rngs[name]);
    let priors: ArrayLike<number> = model.priors;
    if (name === 'train' && o.fewShot && o.fewShot.classes > 0) {
      const fs = fewShotSubsample(model, y, o.fewShot, fewShotRng);
      const d = o.dim;
      const xk = new Float32Array(fs.keep.length * d);
      const yk = new Int32Array(fs.keep.length);
      fs.keep.forEach((i, t) => {
        xk.set(x.subarray(i * d, (i + 1) * d), t * d);
        yk[t] = y[i];
      });
      ({ x, y, n } = { x: xk, y: yk, n: fs.keep.length });
      priors = fs.trainPriors;
      fewShotMeta = fs.meta;
    }
    posterior[name] = syntheticPosterior(model, x, n, priors);
    if (model.warp) x = Float32Array.from(syntheticWarp(model, x, n));
    const xs = R ? renderSmooth(x, n, o.dim, o.image!, R) : Q ? render(x, n, o.dim, Q, P) : x;
    splits[name] = { x: xs, y, n };
  }
  const C = o.numClasses;
  const { image, ...scalarOpts } = o;
  if (model.scales) delete (scalarOpts as Partial<SyntheticOptions>).sigma;
  const extraMeta: Record<string, unknown> = {};
  if (model.scales) extraMeta.classSigmas = o.covariance === 'isotropic' ? Array.from({ length: C }, (_, j) => model.scales![j * o.dim]) : Array.from(model.scales);
  if (fewShotMeta) extraMeta.fewShot = fewShotMeta;
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
      posteriorNote: model.warp
        ? 'exact η of the float32 latent z, equal to η of x = φ(z) (φ a bijection; x rounded to float32, before any image rendering), double-precision logsumexp, stored as float32'
        : 'exact η of the float32 vector x (before any image rendering), double-precision logsumexp, stored as float32',
      ...extraMeta,
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
