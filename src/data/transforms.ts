/**
 * Dataset transforms. All are pure: they never mutate their input and return a new Dataset
 * (arrays that a transform does not change are shared with the input). Training-only
 * transforms never touch val/test. Every transform appends a record to `meta.transforms`.
 */
import { Rng } from './rng.js';
import { countClasses, sampleSize, type Dataset, type Split } from './types.js';

type TransformRecord = Record<string, unknown> & { type: string };

function withTransform(ds: Dataset, rec: TransformRecord, patch: Partial<Dataset>): Dataset {
  const prev = Array.isArray(ds.meta.transforms) ? (ds.meta.transforms as unknown[]) : [];
  return { ...ds, ...patch, meta: { ...ds.meta, transforms: [...prev, rec] } };
}

function checkSeed(seed: unknown, field: string): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new Error(`${field}: must be an integer, got ${String(seed)}`);
  return seed;
}

/** Copies of x/y restricted to `indices` (in that order). */
export function subsetSplit(split: Split, sampleShape: readonly number[], indices: ArrayLike<number>): Split {
  const d = sampleSize(sampleShape);
  const n = indices.length;
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    x.set(split.x.subarray(i * d, (i + 1) * d), k * d);
    y[k] = split.y[i];
  }
  return { x, y, n };
}

function subsetRows(a: Float32Array, width: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * width);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    out.set(a.subarray(i * width, (i + 1) * width), k * width);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Block label noise

/** Start and width of the block that holds class `y` (the last block may be partial). */
function blockOf(y: number, blockSize: number, numClasses: number): [number, number] {
  const start = y - (y % blockSize);
  return [start, Math.min(blockSize, numClasses - start)];
}

/** Which splits a transform changes: the training split only (default), or val and test too. */
export type TransformSplits = 'train' | 'all';

function checkSplits(v: unknown, field: string): TransformSplits {
  if (v === undefined) return 'train';
  if (v !== 'train' && v !== 'all') throw new Error(`${field}: must be "train" or "all", got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The noise groups: consecutive blocks of `blockSize` classes (the last one may be partial), or
 * the explicit `blocks`. groupOf[c] is the index of the group of class c, −1 for none.
 */
function noiseGroups(numClasses: number, blockSize: number, blocks: readonly (readonly number[])[] | undefined): { groups: number[][]; groupOf: Int32Array } {
  const groupOf = new Int32Array(numClasses).fill(-1);
  const groups: number[][] = [];
  if (blocks === undefined) {
    for (let start = 0; start < numClasses; start += blockSize) groups.push(Array.from({ length: Math.min(blockSize, numClasses - start) }, (_, t) => start + t));
  } else {
    for (const b of blocks) {
      if (!Array.isArray(b) || b.length < 2) throw new Error(`labelNoise.blocks: each block must list at least 2 classes, got ${JSON.stringify(b)}`);
      for (const c of b) {
        if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`labelNoise.blocks: class ${JSON.stringify(c)} is not an integer in [0, ${numClasses - 1}]`);
        if (groupOf[c] >= 0) throw new Error(`labelNoise.blocks: class ${c} is listed more than once, got ${JSON.stringify(blocks)}`);
        groupOf[c] = groups.length;
      }
      groups.push([...b]);
    }
  }
  groups.forEach((g, i) => {
    for (const c of g) groupOf[c] = i;
  });
  return { groups, groupOf };
}

function groupLabelNoise(y: Int32Array, groups: number[][], groupOf: Int32Array, p: number, rng: Rng): { y: Int32Array; resampled: Uint8Array; changed: number } {
  const out = new Int32Array(y.length);
  const resampled = new Uint8Array(y.length);
  let changed = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    const g = groupOf[v];
    if (rng.next() < p && g >= 0) {
      const group = groups[g];
      const nv = group[rng.int(group.length)];
      resampled[i] = 1;
      out[i] = nv;
      if (nv !== v) changed++;
    } else {
      out[i] = v;
    }
  }
  return { y: out, resampled, changed };
}

/**
 * Block label noise (Garcin et al., noised-topk): with probability p, a label y is replaced by
 * y − (y mod b) + U{0..b−1}, i.e. a uniform label from its block of b consecutive classes.
 * The draw may return the original label, so the expected fraction of labels that actually
 * change is p·(b−1)/b. When C is not a multiple of b, the last block holds C mod b classes
 * and the uniform draw is over that block only.
 * Draw order per sample: one uniform for the coin, then (if noisy) one int for the new label.
 */
export function blockLabelNoise(
  y: Int32Array,
  numClasses: number,
  p: number,
  blockSize: number,
  rng: Rng,
): { y: Int32Array; resampled: Uint8Array; changed: number } {
  if (!(p >= 0 && p <= 1)) throw new Error(`labelNoise.p: must be in [0, 1], got ${p}`);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`labelNoise.blockSize: must be a positive integer, got ${blockSize}`);
  const { groups, groupOf } = noiseGroups(numClasses, blockSize, undefined);
  return groupLabelNoise(y, groups, groupOf, p, rng);
}

export interface LabelNoiseOptions {
  p: number;
  blockSize: number;
  seed: number;
  /**
   * Explicit disjoint groups of ≥ 2 classes used instead of the consecutive blocks of
   * `blockSize` (e.g. Fashion-MNIST [[0, 2, 4, 6]]: T-shirt, pullover, coat, shirt). A noisy
   * label is uniform over its group; classes in no group keep their labels. Same draw order.
   */
  blocks?: number[][];
  /**
   * 'train' (default): val/test keep clean labels and posteriors. 'all': val and test get the
   * same noise (independent draws), so they follow the noisy training distribution.
   */
  splits?: TransformSplits;
}

/** The posterior of the noisy label: η̃_k = (1−p)·η_k + p·(1/|G|)·Σ_{j∈G} η_j for k in group G, η_k outside the groups. */
function noisyPosterior(eta: Float32Array, n: number, C: number, groups: number[][], p: number): Float32Array {
  const out = Float32Array.from(eta);
  for (let i = 0; i < n; i++) {
    for (const g of groups) {
      let s = 0;
      for (const j of g) s += eta[i * C + j];
      const share = (p * s) / g.length;
      for (const j of g) out[i * C + j] = (1 - p) * eta[i * C + j] + share;
    }
  }
  return out;
}

/**
 * Applies block label noise to the training labels (and with splits 'all' to val/test);
 * recomputes classCounts. A known posterior of a changed split is replaced by the posterior of
 * the noisy label (noisyPosterior). Random streams: train uses Rng(seed); with 'all', val and
 * test use two forks of it taken after the training draws. Unchanged splits stay as they are.
 */
export function applyBlockLabelNoise(ds: Dataset, opts: LabelNoiseOptions): Dataset {
  const seed = checkSeed(opts.seed, 'labelNoise.seed');
  const { p, blockSize, blocks } = opts;
  const splits = checkSplits(opts.splits, 'labelNoise.splits');
  if (!(p >= 0 && p <= 1)) throw new Error(`labelNoise.p: must be in [0, 1], got ${p}`);
  if (blocks === undefined && (!Number.isInteger(blockSize) || blockSize < 1)) throw new Error(`labelNoise.blockSize: must be a positive integer, got ${blockSize}`);
  if (blocks !== undefined && !Array.isArray(blocks)) throw new Error(`labelNoise.blocks: must be an array of class lists, got ${JSON.stringify(blocks)}`);
  const C = ds.numClasses;
  const { groups, groupOf } = noiseGroups(C, blockSize, blocks);
  const rng = new Rng(seed);
  const names = splits === 'all' ? (['train', 'val', 'test'] as const) : (['train'] as const);
  const patch: Partial<Dataset> = {};
  const posterior = ds.posterior ? { ...ds.posterior } : undefined;
  const counts: Record<string, { resampled: number; changed: number }> = {};
  for (const name of names) {
    const split = ds[name];
    const res = groupLabelNoise(split.y, groups, groupOf, p, name === 'train' ? rng : rng.fork());
    patch[name] = { x: split.x, y: res.y, n: split.n };
    counts[name] = { resampled: res.resampled.reduce((a, b) => a + b, 0), changed: res.changed };
    const eta = posterior?.[name];
    if (posterior && eta) posterior[name] = noisyPosterior(eta, split.n, C, groups, p);
  }
  const rec: TransformRecord = { type: 'blockLabelNoise', p, ...(blocks ? { blocks: groups } : { blockSize }), seed, resampled: counts.train.resampled, changed: counts.train.changed };
  if (splits === 'all') Object.assign(rec, { splits, val: counts.val, test: counts.test });
  return withTransform(ds, rec, { ...patch, classCounts: countClasses(patch.train!.y, C), ...(posterior ? { posterior } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Zipf priors / long tail

/** Seeded rank assignment: ranks[c] ∈ {1..C}, a uniformly random permutation. */
export function seededRanks(numClasses: number, rng: Rng): Int32Array {
  const perm = rng.permutation(numClasses);
  const ranks = new Int32Array(numClasses);
  for (let r = 0; r < numClasses; r++) ranks[perm[r]] = r + 1;
  return ranks;
}

/** Zipf priors π_c ∝ rank_c^(−α), normalised (α = 0 gives uniform priors). */
export function zipfPriors(ranks: ArrayLike<number>, alpha: number): Float64Array {
  const pi = new Float64Array(ranks.length);
  let s = 0;
  for (let c = 0; c < ranks.length; c++) s += pi[c] = Math.pow(ranks[c], -alpha);
  for (let c = 0; c < ranks.length; c++) pi[c] /= s;
  return pi;
}

/** Long-tail target counts: n_c = max(1, round(nMax · rank_c^(−α))). */
export function longTailCounts(ranks: ArrayLike<number>, nMax: number, alpha: number): Int32Array {
  const out = new Int32Array(ranks.length);
  for (let c = 0; c < ranks.length; c++) out[c] = Math.max(1, Math.round(nMax * Math.pow(ranks[c], -alpha)));
  return out;
}

export interface LongTailOptions {
  /** Zipf exponent α ≥ 0. */
  alpha: number;
  seed: number;
  /** Count of the rank-1 class; default: the smallest training class count (so every target is reachable). */
  nMax?: number;
  /**
   * 'train' (default): val/test untouched. 'all': val and test are subsampled with the same
   * ranks and α, the rank-1 class keeping as many samples as the split's smallest class, so
   * they follow the long-tailed training distribution (as in Pl@ntNet-300K).
   */
  splits?: TransformSplits;
}

/**
 * Keeps min(target_c, available_c) samples of each class of `split` (uniform, seeded, original
 * order) and adjusts a known posterior for the prior shift: η'_c ∝ η_c · kept_c / available_c.
 */
function longTailSubsample(
  split: Split,
  eta: Float32Array | undefined,
  sampleShape: readonly number[],
  C: number,
  target: Int32Array,
  rng: Rng,
): { split: Split; eta: Float32Array | undefined; kept: Int32Array } {
  const avail = countClasses(split.y, C);
  const byClass: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < split.n; i++) byClass[split.y[i]].push(i);
  const keep = new Uint8Array(split.n);
  const kept = new Int32Array(C);
  for (let c = 0; c < C; c++) {
    const idx = rng.shuffle(byClass[c].slice());
    const k = Math.min(target[c], idx.length);
    kept[c] = k;
    for (let t = 0; t < k; t++) keep[idx[t]] = 1;
  }
  const indices: number[] = [];
  for (let i = 0; i < split.n; i++) if (keep[i]) indices.push(i);
  const out = subsetSplit(split, sampleShape, indices);
  let etaOut: Float32Array | undefined;
  if (eta) {
    etaOut = subsetRows(eta, C, indices);
    const ratio = new Float64Array(C);
    for (let c = 0; c < C; c++) ratio[c] = avail[c] > 0 ? kept[c] / avail[c] : 0;
    for (let i = 0; i < indices.length; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += etaOut[i * C + c] * ratio[c];
      for (let c = 0; c < C; c++) etaOut[i * C + c] = s > 0 ? (etaOut[i * C + c] * ratio[c]) / s : 0;
    }
  }
  return { split: out, eta: etaOut, kept };
}

/** The smallest non-zero class count of `y` (Infinity when empty). */
function smallestClass(y: Int32Array, C: number): number {
  const counts = countClasses(y, C);
  let m = Infinity;
  for (let c = 0; c < C; c++) if (counts[c] > 0) m = Math.min(m, counts[c]);
  return m;
}

/**
 * Long-tail subsampling of the training split: the class with (seeded, random) rank r keeps
 * n_c = max(1, round(nMax·r^(−α))) samples, chosen uniformly at random (seeded); kept samples
 * keep their original order. If a class has fewer samples than n_c, all are kept (recorded in
 * meta). A known training posterior is subset and adjusted for the prior shift:
 * η'_c ∝ η_c · (kept_c / available_c). Val/test are untouched unless splits is 'all' (see
 * LongTailOptions.splits; they use two forks of the stream taken after the training draws).
 */
export function applyLongTail(ds: Dataset, opts: LongTailOptions): Dataset {
  const seed = checkSeed(opts.seed, 'longTail.seed');
  const alpha = opts.alpha;
  if (!(typeof alpha === 'number' && alpha >= 0 && Number.isFinite(alpha))) throw new Error(`longTail.alpha: must be a finite number ≥ 0, got ${String(alpha)}`);
  const splits = checkSplits(opts.splits, 'longTail.splits');
  const C = ds.numClasses;
  let nMax = opts.nMax;
  if (nMax === undefined) {
    nMax = smallestClass(ds.train.y, C);
    if (!Number.isFinite(nMax)) throw new Error('longTail: the training split is empty');
  } else if (!Number.isInteger(nMax) || nMax < 1) {
    throw new Error(`longTail.nMax: must be a positive integer, got ${String(nMax)}`);
  }
  const rng = new Rng(seed);
  const ranks = seededRanks(C, rng);
  const target = longTailCounts(ranks, nMax, alpha);
  const tr = longTailSubsample(ds.train, ds.posterior?.train, ds.sampleShape, C, target, rng);
  const patch: Partial<Dataset> = { train: tr.split, classCounts: countClasses(tr.split.y, C) };
  const posterior = ds.posterior ? { ...ds.posterior } : undefined;
  if (posterior && tr.eta) posterior.train = tr.eta;
  const short: number[] = [];
  for (let c = 0; c < C; c++) if (tr.kept[c] < target[c]) short.push(c);
  const rec: TransformRecord = { type: 'longTail', alpha, seed, nMax, ranks: Array.from(ranks), targetCounts: Array.from(target), classesShort: short };
  if (splits === 'all') {
    rec.splits = splits;
    for (const name of ['val', 'test'] as const) {
      const split = ds[name];
      const m = smallestClass(split.y, C);
      const splitRng = rng.fork();
      if (!Number.isFinite(m)) continue;
      const r = longTailSubsample(split, ds.posterior?.[name], ds.sampleShape, C, longTailCounts(ranks, m, alpha), splitRng);
      patch[name] = r.split;
      if (posterior && r.eta) posterior[name] = r.eta;
      rec[`${name}Counts`] = Array.from(r.kept);
    }
  }
  return withTransform(ds, rec, { ...patch, ...(posterior ? { posterior } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Normalisation

export interface ChannelStats {
  mean: number[];
  std: number[];
}

/**
 * Channel layout used for normalisation: [C, H, W] → C channels of H·W values; [d] → each of
 * the d features is its own channel; any other shape → one channel.
 */
export function channelLayout(sampleShape: readonly number[]): { channels: number; inner: number } {
  if (sampleShape.length === 3) return { channels: sampleShape[0], inner: sampleShape[1] * sampleShape[2] };
  if (sampleShape.length === 1) return { channels: sampleShape[0], inner: 1 };
  return { channels: 1, inner: sampleSize(sampleShape) };
}

/** Per-channel mean and (population) standard deviation, in double precision. */
export function computeChannelStats(split: Split, sampleShape: readonly number[]): ChannelStats {
  const { channels, inner } = channelLayout(sampleShape);
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const d = channels * inner;
  // two-pass for accuracy: mean first, then centred squares
  for (let i = 0; i < split.n; i++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      const base = i * d + c * inner;
      for (let k = 0; k < inner; k++) s += split.x[base + k];
      sum[c] += s;
    }
  }
  const cnt = split.n * inner;
  const mean = Array.from(sum, (s) => (cnt > 0 ? s / cnt : 0));
  for (let i = 0; i < split.n; i++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      const base = i * d + c * inner;
      const m = mean[c];
      for (let k = 0; k < inner; k++) {
        const t = split.x[base + k] - m;
        s += t * t;
      }
      sq[c] += s;
    }
  }
  const std = Array.from(sq, (s) => (cnt > 0 ? Math.sqrt(s / cnt) : 1));
  return { mean, std };
}

/** (x − mean_c) / std_c; a std below 1e-12 is treated as 1. Returns a new Split. */
export function normalizeSplit(split: Split, sampleShape: readonly number[], stats: ChannelStats): Split {
  const { channels, inner } = channelLayout(sampleShape);
  if (stats.mean.length !== channels || stats.std.length !== channels) {
    throw new Error(`normalize: stats have ${stats.mean.length} channels, the data has ${channels}`);
  }
  const d = channels * inner;
  const x = new Float32Array(split.x.length);
  const inv = stats.std.map((s) => (s > 1e-12 ? 1 / s : 1));
  for (let i = 0; i < split.n; i++) {
    for (let c = 0; c < channels; c++) {
      const base = i * d + c * inner;
      const m = stats.mean[c];
      const f = inv[c];
      for (let k = 0; k < inner; k++) x[base + k] = (split.x[base + k] - m) * f;
    }
  }
  return { x, y: split.y, n: split.n };
}

/**
 * Normalises all splits with per-channel statistics computed on the training split (or the
 * given `stats`). The stats are stored in meta.normalization. A known posterior is unchanged
 * (the map is affine and invertible).
 */
export function applyNormalize(ds: Dataset, stats?: ChannelStats): Dataset {
  const st = stats ?? computeChannelStats(ds.train, ds.sampleShape);
  return withTransform(
    ds,
    { type: 'normalize', mean: st.mean, std: st.std, fittedOn: stats ? 'given' : 'train' },
    {
      train: normalizeSplit(ds.train, ds.sampleShape, st),
      val: normalizeSplit(ds.val, ds.sampleShape, st),
      test: normalizeSplit(ds.test, ds.sampleShape, st),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Augmentation

export interface CropFlipOptions {
  /** Zero padding on each side (default 4). */
  pad?: number;
  /** Horizontal flip with probability 1/2 (default true). */
  flip?: boolean;
  /** Value of the padding (default 0, which is the mean after normalisation). */
  fill?: number;
}

/**
 * Random crop with padding and random horizontal flip for a CHW batch of shape [B, C, H, W]
 * (the standard CIFAR augmentation with pad 4). Writes into `out` (same length as `batch`,
 * must not alias it) and returns it. Per image it draws dy, dx ∈ {0..2·pad} then (if flip) one
 * int(2), so the result is a deterministic function of the Rng state.
 */
export function randomCropFlip(
  batch: Float32Array,
  shape: readonly number[],
  rng: Rng,
  out: Float32Array,
  opts: CropFlipOptions = {},
): Float32Array {
  if (shape.length !== 4) throw new Error(`randomCropFlip: shape must be [B, C, H, W], got [${shape.join(', ')}]`);
  const [B, C, H, W] = shape;
  const size = B * C * H * W;
  if (batch.length < size) throw new Error(`randomCropFlip: batch has ${batch.length} values, shape needs ${size}`);
  if (out.length < size) throw new Error(`randomCropFlip: out has ${out.length} values, shape needs ${size}`);
  if (out === batch) throw new Error('randomCropFlip: out must not alias the input batch');
  const pad = opts.pad ?? 4;
  const doFlip = opts.flip ?? true;
  const fill = opts.fill ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`randomCropFlip: pad must be a non-negative integer, got ${pad}`);
  const HW = H * W;
  for (let b = 0; b < B; b++) {
    const dy = rng.int(2 * pad + 1) - pad;
    const dx = rng.int(2 * pad + 1) - pad;
    const flip = doFlip ? rng.int(2) === 1 : false;
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * HW;
      for (let i = 0; i < H; i++) {
        const si = i + dy;
        const rowOut = base + i * W;
        if (si < 0 || si >= H) {
          out.fill(fill, rowOut, rowOut + W);
          continue;
        }
        const rowIn = base + si * W;
        for (let j = 0; j < W; j++) {
          const sj = (flip ? W - 1 - j : j) + dx;
          out[rowOut + j] = sj < 0 || sj >= W ? fill : batch[rowIn + sj];
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Frequency buckets

export type Bucket = 'few' | 'medium' | 'many';

export interface FrequencyBuckets {
  few: number[];
  medium: number[];
  many: number[];
  /** bucket of each class */
  bucketOf: Bucket[];
}

/**
 * Few / medium / many split of classes by training count, by terciles of the class ranking:
 * classes are ranked by count ascending, tied classes share their average rank (0-based), and
 * with q = (avgRank + 0.5)/C a class is "few" if q < 1/3, "many" if q > 2/3, else "medium".
 * Works for any C and any count distribution; tied counts always land in the same bucket
 * (a perfectly balanced dataset is all "medium"). C = 10 distinct counts → 3 / 4 / 3.
 */
export function frequencyBuckets(classCounts: ArrayLike<number>): FrequencyBuckets {
  const C = classCounts.length;
  const order = Array.from({ length: C }, (_, c) => c).sort((a, b) => classCounts[a] - classCounts[b] || a - b);
  const avgRank = new Float64Array(C);
  for (let s = 0; s < C; ) {
    let e = s;
    while (e + 1 < C && classCounts[order[e + 1]] === classCounts[order[s]]) e++;
    const r = (s + e) / 2;
    for (let k = s; k <= e; k++) avgRank[order[k]] = r;
    s = e + 1;
  }
  const res: FrequencyBuckets = { few: [], medium: [], many: [], bucketOf: new Array<Bucket>(C) };
  for (let c = 0; c < C; c++) {
    const q = (avgRank[c] + 0.5) / C;
    const b: Bucket = q < 1 / 3 ? 'few' : q > 2 / 3 ? 'many' : 'medium';
    res.bucketOf[c] = b;
    res[b].push(c);
  }
  return res;
}
