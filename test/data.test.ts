import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBlockLabelNoise,
  applyLongTail,
  applyNormalize,
  bayesAverageK,
  bayesTopK,
  blockLabelNoise,
  CacheError,
  computeChannelStats,
  countClasses,
  encodeIdx,
  fashionMnistRaw,
  mnistRaw,
  readImageCache,
  FASHION_MNIST_CLASSES,
  frequencyBuckets,
  generateSynthetic,
  loadCifar10,
  loadCifar100,
  loadDataset,
  loadFashionMnist,
  loadMnist,
  longTailCounts,
  oracleAverageKSets,
  parseIdx,
  randomCropFlip,
  readCifarBinary,
  readIdx,
  resolveCacheDir,
  Rng,
  syntheticImageMatrix,
  writeIdx,
  type Dataset,
} from '../src/data/index.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'avgk-data-test-'));
const cacheDir = path.join(tmpRoot, 'cache');

afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

/** Runs fn with AVGK_CACHE_DIR set to `dir` (unset when undefined), restored afterwards. */
function withCacheEnv<T>(dir: string | undefined, fn: () => T): T {
  const saved = process.env.AVGK_CACHE_DIR;
  if (dir === undefined) delete process.env.AVGK_CACHE_DIR;
  else process.env.AVGK_CACHE_DIR = dir;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.AVGK_CACHE_DIR;
    else process.env.AVGK_CACHE_DIR = saved;
  }
}

const hash = (a: Float32Array | Int32Array | Uint8Array) => crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    if (a[i] < lo) lo = a[i];
    if (a[i] > hi) hi = a[i];
  }
  return [lo, hi];
}
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

// ---------------------------------------------------------------------------------------------
describe('Rng', () => {
  it('is deterministic per seed and restores its state from JSON', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 100 }, () => a.nextUint32());
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(xs);
    expect(new Rng(43).nextUint32()).not.toBe(xs[0]);
    const st = JSON.parse(JSON.stringify(a.getState())) as number[];
    const after = [a.next(), a.normal(), a.int(17)];
    const c = Rng.fromState(st);
    expect([c.next(), c.normal(), c.int(17)]).toEqual(after);
    b.setState(st);
    expect(b.next()).toBe(after[0]);
  });

  it('draws in range (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, n) => {
        const r = new Rng(seed);
        for (let i = 0; i < 20; i++) {
          const u = r.next();
          const k = r.int(n);
          if (!(u >= 0 && u < 1) || !Number.isInteger(k) || k < 0 || k >= n) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });

  it('shuffles to a permutation and has sane moments', () => {
    const r = new Rng(7);
    const p = r.permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const arr = [1, 2, 3, 4, 5];
    expect(r.shuffle(arr).slice().sort()).toEqual([1, 2, 3, 4, 5]);
    const N = 50000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    for (let i = 0; i < N; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
      u += r.next();
    }
    expect(Math.abs(s / N)).toBeLessThan(0.02);
    expect(Math.abs(s2 / N - 1)).toBeLessThan(0.03);
    expect(Math.abs(u / N - 0.5)).toBeLessThan(0.005);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(() => r.setState([0, 0, 0, 0])).toThrow();
    expect(() => new Rng(Number.NaN)).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
describe('Fashion-MNIST (default cache dir, built on first use)', () => {
  let first: Dataset;

  it('resolves the cache dir: AVGK_CACHE_DIR, else $XDG_CACHE_HOME/avgk, else ~/.cache/avgk; never the package', () => {
    const savedXdg = process.env.XDG_CACHE_HOME;
    const setXdg = (v: string | undefined) => {
      if (v === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = v;
    };
    try {
      setXdg(path.join(tmpRoot, 'xdg'));
      expect(withCacheEnv(cacheDir, () => resolveCacheDir())).toBe(path.resolve(cacheDir));
      expect(resolveCacheDir('/some/where')).toBe(path.resolve('/some/where'));
      expect(withCacheEnv(undefined, () => resolveCacheDir())).toBe(path.join(tmpRoot, 'xdg', 'avgk'));
      // a relative XDG_CACHE_HOME is invalid by the XDG spec and ignored
      setXdg('relative/xdg');
      expect(withCacheEnv(undefined, () => resolveCacheDir())).toBe(path.join(os.homedir(), '.cache', 'avgk'));
      setXdg(undefined);
      expect(withCacheEnv(undefined, () => resolveCacheDir())).toBe(path.join(os.homedir(), '.cache', 'avgk'));
    } finally {
      setXdg(savedXdg);
    }
  });

  it('loads the documented split (building the cache if needed)', () => {
    first = withCacheEnv(undefined, () => loadFashionMnist({ seed: 1 }));
    const cache = first.meta.cache as { status: string; file: string; ms: number };
    expect(['hit', 'built', 'rebuilt']).toContain(cache.status);
    console.log(`fashion-mnist first load: cache ${cache.status} in ${cache.ms.toFixed(0)} ms, total ${(first.meta.loadMs as number).toFixed(0)} ms`);
    expect([first.train.n, first.val.n, first.test.n]).toEqual([50000, 10000, 10000]);
    expect(first.sampleShape).toEqual([1, 28, 28]);
    expect(first.train.x.length).toBe(50000 * 784);
    expect(first.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(first.classNames[0]).toBe('T-shirt/top');
    const [lo, hi] = range(first.train.x);
    expect(lo).toBe(0);
    expect(hi).toBe(1);
    expect(sum(first.classCounts)).toBe(50000);
    const tv = countClasses(first.val.y, 10);
    for (let c = 0; c < 10; c++) expect(first.classCounts[c] + tv[c]).toBe(6000);
    expect(Array.from(countClasses(first.test.y, 10))).toEqual(new Array(10).fill(1000));
  });

  it('reuses the cache, is deterministic per seed, and keeps the test set fixed', () => {
    const t0 = performance.now();
    const again = withCacheEnv(undefined, () => loadFashionMnist({ seed: 1, limit: 500 }));
    const ms = performance.now() - t0;
    const cache = again.meta.cache as { status: string; ms: number };
    expect(cache.status).toBe('hit');
    console.log(`fashion-mnist second load: cache read ${cache.ms.toFixed(0)} ms, load (limit 500) ${ms.toFixed(0)} ms`);
    expect(again.train.n).toBe(500);
    // limit = first N of the same split
    expect(hash(again.train.x)).toBe(hash(first.train.x.subarray(0, 500 * 784)));
    expect(hash(again.val.x)).toBe(hash(first.val.x));
    expect(hash(again.val.y)).toBe(hash(first.val.y));
    const other = withCacheEnv(undefined, () => loadFashionMnist({ seed: 2, limit: 1000 }));
    expect(other.train.n).toBe(1000);
    expect(hash(other.val.x)).not.toBe(hash(first.val.x));
    expect(hash(other.test.x)).toBe(hash(first.test.x));
    expect(hash(other.test.y)).toBe(hash(first.test.y));
  });

  it('detects a corrupted cache (copy in a temp AVGK_CACHE_DIR) and reports it clearly', () => {
    const src = (first.meta.cache as { file: string }).file;
    const dir = path.join(tmpRoot, 'fashion-corrupt');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, path.basename(src));
    fs.copyFileSync(src, file);
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 5_000_000);
    b[0] ^= 0xff;
    fs.writeSync(fd, b, 0, 1, 5_000_000);
    fs.closeSync(fd);
    withCacheEnv(dir, () => {
      expect(() => fashionMnistRaw({ rebuildCache: false })).toThrow(CacheError);
      expect(() => loadFashionMnist({ rebuildCache: false })).toThrow(/fashion-mnist-v1\.bin: payload checksum mismatch/);
    });
    fs.truncateSync(file, 54_000_000);
    expect(() => fashionMnistRaw({ cacheDir: dir, rebuildCache: false })).toThrow(/truncated: 54000000 bytes, expected 54950096/);
    // (the rebuild path is exercised on the smaller MNIST cache below)
  });

  it('normalises with training statistics', () => {
    const ds = withCacheEnv(undefined, () => loadFashionMnist({ seed: 3, limit: 5000, normalize: true }));
    const st = computeChannelStats(ds.train, ds.sampleShape);
    expect(Math.abs(st.mean[0])).toBeLessThan(1e-4);
    expect(Math.abs(st.std[0] - 1)).toBeLessThan(1e-4);
  });
});

// ---------------------------------------------------------------------------------------------
describe('MNIST (temp cache dir: build, hit, rebuild)', () => {
  it('loads the package digits with the documented split; corrupt/truncated caches are rebuilt', () => {
    const ds = withCacheEnv(cacheDir, () => loadMnist({ seed: 5 }));
    const cache = ds.meta.cache as { status: string; file: string };
    expect(cache.status).toBe('built');
    expect(path.dirname(cache.file)).toBe(path.resolve(cacheDir));
    expect([ds.train.n, ds.val.n, ds.test.n]).toEqual([7000, 1000, 2000]);
    expect(sum(ds.classCounts)).toBe(7000);
    const [lo, hi] = range(ds.train.x);
    expect(lo).toBe(0);
    expect(hi).toBe(1);
    const all = new Int32Array(10);
    for (const s of [ds.train, ds.val, ds.test]) countClasses(s.y, 10).forEach((v, c) => (all[c] += v));
    expect(Array.from(all)).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    const again = loadMnist({ seed: 5, cacheDir });
    expect((again.meta.cache as { status: string }).status).toBe('hit');
    expect(hash(again.train.x)).toBe(hash(ds.train.x));
    // corrupted / truncated caches are detected and rebuilt
    const file = cache.file;
    const bytes = fs.readFileSync(file);
    bytes[3_000_000] ^= 1;
    fs.writeFileSync(file, bytes);
    expect(() => mnistRaw({ cacheDir, rebuildCache: false })).toThrow(/checksum mismatch/);
    const fixed = mnistRaw({ cacheDir });
    expect(fixed.status).toBe('rebuilt');
    expect(fixed.problem).toMatch(/checksum/);
    fs.truncateSync(file, 1000);
    expect(() => mnistRaw({ cacheDir, rebuildCache: false })).toThrow(/truncated: 1000 bytes, expected 7850096/);
    fs.writeFileSync(file, 'garbage');
    expect(() => readImageCache(file)).toThrow(/truncated/);
    expect(mnistRaw({ cacheDir }).status).toBe('rebuilt');
    expect(fs.readdirSync(cacheDir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const other = loadMnist({ seed: 6, cacheDir });
    expect((other.meta.cache as { status: string }).status).toBe('hit');
    expect(hash(other.test.x)).toBe(hash(ds.test.x));
    expect(hash(other.train.y)).not.toBe(hash(ds.train.y));
    expect(hash(loadMnist({ seed: 5, cacheDir }).train.x)).toBe(hash(ds.train.x));
  });
});

// ---------------------------------------------------------------------------------------------
function cifarRecords(n: number, labelBytes: 1 | 2, rng: Rng): { bytes: Uint8Array; labels: number[][] } {
  const rec = labelBytes + 3072;
  const bytes = new Uint8Array(n * rec);
  const labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const off = i * rec;
    if (labelBytes === 2) {
      const fine = rng.int(100);
      const coarse = Math.floor(fine / 5);
      bytes[off] = coarse;
      bytes[off + 1] = fine;
      labels.push([coarse, fine]);
    } else {
      bytes[off] = rng.int(10);
      labels.push([bytes[off]]);
    }
    for (let t = 0; t < 3072; t++) bytes[off + labelBytes + t] = rng.int(256);
  }
  return { bytes, labels };
}

describe('CIFAR binary', () => {
  const dir = path.join(tmpRoot, 'cifar-100-binary');
  const rng = new Rng(11);
  const train = cifarRecords(60, 2, rng);
  const test = cifarRecords(20, 2, rng);
  beforeAll(() => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'train.bin'), train.bytes);
    fs.writeFileSync(path.join(dir, 'test.bin'), test.bytes);
    fs.writeFileSync(path.join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `fine${i}`).join('\n') + '\n');
  });

  it('reads records exactly', () => {
    const r = readCifarBinary(path.join(dir, 'test.bin'), { labelBytes: 2 });
    expect(r.n).toBe(20);
    expect(Array.from(r.coarse!)).toEqual(test.labels.map((l) => l[0]));
    expect(Array.from(r.labels)).toEqual(test.labels.map((l) => l[1]));
    expect(Array.from(r.pixels.subarray(3072 * 3, 3072 * 4))).toEqual(Array.from(test.bytes.subarray(3 * 3074 + 2, 4 * 3074)));
  });

  it('loads CIFAR-100 with the seeded split (parent dir works too)', () => {
    const ds = loadCifar100(tmpRoot, { seed: 3, valSize: 10 });
    expect([ds.train.n, ds.val.n, ds.test.n]).toEqual([50, 10, 20]);
    expect(ds.sampleShape).toEqual([3, 32, 32]);
    expect(ds.numClasses).toBe(100);
    expect(ds.classNames[7]).toBe('fine7');
    // test order = file order; pixels /255 in CHW
    expect(Array.from(ds.test.y)).toEqual(test.labels.map((l) => l[1]));
    expect(ds.test.x[5 * 3072 + 1024 + 33]).toBeCloseTo(test.bytes[5 * 3074 + 2 + 1024 + 33] / 255, 6);
    const coarse = loadCifar100(dir, { seed: 3, valSize: 10, label: 'coarse' });
    expect(coarse.numClasses).toBe(20);
    expect(coarse.classNames[0]).toBe('coarse_0');
    const same = loadDataset({ name: 'cifar100', dir, seed: 3, valSize: 10 });
    expect(hash(same.train.x)).toBe(hash(ds.train.x));
    expect(sum(ds.classCounts)).toBe(50);
  });

  it('reports missing and truncated files with names and sizes', () => {
    const bad = path.join(tmpRoot, 'bad');
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'train.bin'), train.bytes.subarray(0, 3074 * 3 + 100));
    expect(() => loadCifar100(bad)).toThrow(/missing file .*test\.bin/);
    fs.writeFileSync(path.join(bad, 'test.bin'), test.bytes);
    let msg = '';
    try {
      loadCifar100(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(path.join(bad, 'train.bin'));
    expect(msg).toContain(`${3074 * 3 + 100} bytes`);
    expect(msg).toContain('3074-byte record');
  });

  it('loads CIFAR-10 batches', () => {
    const d10 = path.join(tmpRoot, 'cifar-10-batches-bin');
    fs.mkdirSync(d10, { recursive: true });
    const r = new Rng(4);
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(d10, `data_batch_${b}.bin`), cifarRecords(4, 1, r).bytes);
    const t = cifarRecords(6, 1, r);
    fs.writeFileSync(path.join(d10, 'test_batch.bin'), t.bytes);
    const ds = loadCifar10(tmpRoot, { valSize: 5 });
    expect([ds.train.n, ds.val.n, ds.test.n]).toEqual([15, 5, 6]);
    expect(Array.from(ds.test.y)).toEqual(t.labels.map((l) => l[0]));
  });
});

describe('IDX', () => {
  it('round-trips all dtypes (property) and files, gzipped too', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 0, maxLength: 60 }), fc.constantFrom('uint8', 'int8', 'int16', 'int32', 'float32', 'float64'), (vals, dtype) => {
        const data =
          dtype === 'uint8' ? Uint8Array.from(vals, (v) => v & 255)
          : dtype === 'int8' ? Int8Array.from(vals, (v) => (v << 24) >> 24)
          : dtype === 'int16' ? Int16Array.from(vals)
          : dtype === 'int32' ? Int32Array.from(vals)
          : dtype === 'float32' ? Float32Array.from(vals, (v) => v / 7)
          : Float64Array.from(vals, (v) => v / 7);
        const back = parseIdx(encodeIdx({ shape: [vals.length], data }));
        return back.dtype === dtype && back.shape[0] === vals.length && Array.from(back.data).every((v, i) => v === data[i]);
      }),
      { numRuns: 100 },
    );
    const f = path.join(tmpRoot, 'imgs.idx3-ubyte');
    const data = Uint8Array.from({ length: 2 * 28 * 28 }, (_, i) => i % 256);
    writeIdx(f, { shape: [2, 28, 28], data });
    const back = readIdx(f);
    expect(back.shape).toEqual([2, 28, 28]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    const gz = path.join(tmpRoot, 'imgs.idx3-ubyte.gz');
    fs.writeFileSync(gz, gzipSync(fs.readFileSync(f)));
    expect(readIdx(gz).shape).toEqual([2, 28, 28]);
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 100));
    expect(() => readIdx(f)).toThrow(/size mismatch/);
    expect(() => readIdx(path.join(tmpRoot, 'nope'))).toThrow(/not found/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('synthetic generator and Bayes accuracies', () => {
  const opts = { numClasses: 20, numSuperclasses: 4, dim: 8, sepSuper: 5, sepClass: 0.7, sigma: 1, zipfAlpha: 1, nTrain: 40000, nVal: 500, nTest: 20000, seed: 9 };
  const ds = generateSynthetic(opts);
  const C = 20;

  it('has normalised posteriors and Zipf class frequencies', () => {
    for (const s of ['train', 'val', 'test'] as const) {
      const eta = ds.posterior![s]!;
      const n = ds[s].n;
      for (let i = 0; i < n; i++) {
        let t = 0;
        for (let j = 0; j < C; j++) t += eta[i * C + j];
        if (Math.abs(t - 1) > 1e-5) throw new Error(`row ${i} of ${s} sums to ${t}`);
      }
    }
    const pi = ds.meta.priors as number[];
    const ranks = ds.meta.ranks as number[];
    expect(Array.from(ranks).sort((a, b) => a - b)).toEqual(Array.from({ length: C }, (_, i) => i + 1));
    // π ∝ 1/rank
    const z = sum(Array.from({ length: C }, (_, r) => 1 / (r + 1)));
    for (let j = 0; j < C; j++) expect(pi[j]).toBeCloseTo(1 / ranks[j] / z, 12);
    const n = ds.train.n;
    const eta = ds.posterior!.train!;
    for (let j = 0; j < C; j++) {
      const se = Math.sqrt((pi[j] * (1 - pi[j])) / n);
      expect(Math.abs(ds.classCounts[j] / n - pi[j])).toBeLessThan(4.5 * se);
      // E[η_j(x)] = π_j
      let m = 0;
      for (let i = 0; i < n; i++) m += eta[i * C + j];
      expect(Math.abs(m / n - pi[j])).toBeLessThan(4.5 * se);
    }
  });

  it('is calibrated: labels behave like draws from η', () => {
    const eta = ds.posterior!.train!;
    const n = ds.train.n;
    // E[η_Y(X)] = E[Σ_j η_j(X)²]
    let a = 0;
    let b = 0;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const e = eta[i * C + ds.train.y[i]];
      a += e;
      v += e * e;
      let s = 0;
      for (let j = 0; j < C; j++) s += eta[i * C + j] ** 2;
      b += s;
    }
    const se = Math.sqrt((v / n - (a / n) ** 2) / n);
    expect(Math.abs(a / n - b / n)).toBeLessThan(4 * se);
  });

  it('Bayes average-K matches a Monte-Carlo estimate within 3 standard errors', () => {
    const eta = ds.posterior!.test!;
    const n = ds.test.n;
    for (const K of [1, 1.5, 3]) {
      const exact = bayesAverageK(eta, n, C, K);
      const { mask, meanSize } = oracleAverageKSets(eta, n, C, K, new Rng(1));
      expect(Math.abs(meanSize - K)).toBeLessThanOrEqual(1 / n);
      const se = Math.sqrt((exact * (1 - exact)) / n);
      // fresh labels y ~ η(x)
      const r = new Rng(123);
      let hits = 0;
      let hitsData = 0;
      for (let i = 0; i < n; i++) {
        const yi = r.categorical(eta.subarray(i * C, (i + 1) * C));
        hits += mask[i * C + yi];
        hitsData += mask[i * C + ds.test.y[i]];
      }
      expect(Math.abs(hits / n - exact)).toBeLessThan(3 * se);
      // the generator's own labels are also draws from η
      expect(Math.abs(hitsData / n - exact)).toBeLessThan(3 * se);
      if (Number.isInteger(K)) expect(exact).toBeGreaterThanOrEqual(bayesTopK(eta, n, C, K) - 1e-9);
    }
    expect(bayesAverageK(eta, n, C, C)).toBeCloseTo(1, 4);
    expect(bayesAverageK(eta, n, C, 2)).toBeGreaterThan(bayesAverageK(eta, n, C, 1));
  });

  it('computes the tie-randomised value on a hand example', () => {
    // two samples, three classes; K = 1.5 → 3 entries: 0.6, 0.5 and half of the tied 0.3s… here no tie
    const eta = Float32Array.from([0.6, 0.3, 0.1, 0.5, 0.25, 0.25]);
    expect(bayesAverageK(eta, 2, 3, 1)).toBeCloseTo((0.6 + 0.5) / 2, 6);
    expect(bayesAverageK(eta, 2, 3, 1.5)).toBeCloseTo((0.6 + 0.5 + 0.3) / 2, 6);
    // K = 2.5 → 5 entries: 0.6 0.5 0.3 + 2 of the tied 0.25 ... plus 0 of 0.1
    expect(bayesAverageK(eta, 2, 3, 2.5)).toBeCloseTo((0.6 + 0.5 + 0.3 + 0.25 + 0.25) / 2, 6);
    // K = 2.25 → 4.5 entries: 0.6 0.5 0.3 + 1.5 × 0.25
    expect(bayesAverageK(eta, 2, 3, 2.25)).toBeCloseTo((0.6 + 0.5 + 0.3 + 1.5 * 0.25) / 2, 6);
    const { mask, threshold } = oracleAverageKSets(eta, 2, 3, 2, new Rng(0));
    expect(threshold).toBeCloseTo(0.25, 6);
    expect(sum(mask)).toBe(4);
    expect(bayesTopK(eta, 2, 3, 1)).toBeCloseTo(0.55, 6);
    expect(() => bayesAverageK(eta, 2, 3, 0)).toThrow();
  });

  it('renders images by an injective map that leaves labels and posterior unchanged', () => {
    const small = { ...opts, nTrain: 300, nVal: 50, nTest: 50 };
    const vec = generateSynthetic(small);
    for (const image of [{ size: 28 as const, channels: 1 as const }, { size: 32 as const, channels: 3 as const, basis: 'random' as const }]) {
      const img = generateSynthetic({ ...small, image });
      const P = image.channels * image.size * image.size;
      expect(img.sampleShape).toEqual([image.channels, image.size, image.size]);
      expect(img.train.x.length).toBe(300 * P);
      expect(hash(img.train.y)).toBe(hash(vec.train.y));
      expect(hash(img.posterior!.test!)).toBe(hash(vec.posterior!.test!));
      const Q = syntheticImageMatrix({ ...small, image });
      // x = Qᵀ x_img recovers the vector data exactly (up to float32 rounding)
      let rec = 0;
      for (let i = 0; i < 20; i++) {
        for (let k = 0; k < 8; k++) {
          let s = 0;
          for (let p = 0; p < P; p++) s += Q[p * 8 + k] * img.train.x[i * P + p];
          rec = Math.max(rec, Math.abs(s - vec.train.x[i * 8 + k]));
        }
      }
      expect(rec).toBeLessThan(1e-4);
      let err = 0;
      for (let k = 0; k < 8; k++) {
        for (let l = 0; l < 8; l++) {
          let dot = 0;
          for (let p = 0; p < P; p++) dot += Q[p * 8 + k] * Q[p * 8 + l];
          err = Math.max(err, Math.abs(dot - (k === l ? 1 : 0)));
        }
      }
      expect(err).toBeLessThan(1e-10);
    }
    // determinism
    expect(hash(generateSynthetic(small).train.x)).toBe(hash(vec.train.x));
    expect(hash(generateSynthetic({ ...small, seed: 10 }).train.x)).not.toBe(hash(vec.train.x));
    // nTrain does not change val/test
    expect(hash(generateSynthetic({ ...small, nTrain: 100 }).test.x)).toBe(hash(vec.test.x));
  });
});

// ---------------------------------------------------------------------------------------------
function balanced(C: number, perClass: number, shape: number[], seed: number): Dataset {
  const r = new Rng(seed);
  const d = shape.reduce((a, b) => a * b, 1);
  const mk = (n: number) => {
    const y = Int32Array.from({ length: n }, (_, i) => i % C);
    r.shuffle(y);
    const x = new Float32Array(n * d);
    for (let i = 0; i < x.length; i++) x[i] = r.next() * 3 + (i % d) * 0.1;
    return { x, y, n };
  };
  const train = mk(C * perClass);
  return { name: 'toy', sampleShape: shape, numClasses: C, classNames: [], train, val: mk(C * 2), test: mk(C * 2), classCounts: countClasses(train.y, C), meta: {} };
}

describe('transforms', () => {
  it('block label noise: rate ≈ p, labels stay in their block, only train changes', () => {
    const ds = balanced(100, 500, [2], 1);
    const p = 0.4;
    const noisy = applyBlockLabelNoise(ds, { p, blockSize: 5, seed: 3 });
    const n = ds.train.n;
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const a = ds.train.y[i];
      const b = noisy.train.y[i];
      if (a !== b) changed++;
      expect(Math.floor(a / 5)).toBe(Math.floor(b / 5));
    }
    const q = (p * 4) / 5;
    expect(Math.abs(changed / n - q)).toBeLessThan(4 * Math.sqrt((q * (1 - q)) / n));
    const rec = (noisy.meta.transforms as { resampled: number }[])[0];
    expect(Math.abs(rec.resampled / n - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    expect(noisy.val).toBe(ds.val);
    expect(noisy.test).toBe(ds.test);
    expect(Array.from(noisy.classCounts)).toEqual(Array.from(countClasses(noisy.train.y, 100)));
    expect(ds.train.y).not.toBe(noisy.train.y);
    // determinism
    expect(hash(applyBlockLabelNoise(ds, { p, blockSize: 5, seed: 3 }).train.y)).toBe(hash(noisy.train.y));
  });

  it('block label noise property (partial last block too)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (C, b, p, seed) => {
        const r = new Rng(seed);
        const y = Int32Array.from({ length: 200 }, () => r.int(C));
        const out = blockLabelNoise(y, C, p, b, new Rng(seed)).y;
        return out.every((v, i) => v >= 0 && v < C && Math.floor(v / b) === Math.floor(y[i] / b));
      }),
      { numRuns: 200 },
    );
  });

  it('noise on a synthetic dataset keeps posterior rows normalised', () => {
    const ds = loadDataset({ name: 'synthetic', numClasses: 10, numSuperclasses: 2, nTrain: 500, nVal: 10, nTest: 10, labelNoise: { p: 0.5 } });
    const eta = ds.posterior!.train!;
    for (let i = 0; i < 500; i++) expect(sum(eta.subarray(i * 10, i * 10 + 10))).toBeCloseTo(1, 5);
  });

  it('long-tail subsampling follows Zipf', () => {
    const ds = balanced(20, 200, [3], 2);
    const lt = applyLongTail(ds, { alpha: 1.2, seed: 5 });
    const rec = (lt.meta.transforms as { ranks: number[]; targetCounts: number[] }[])[0];
    const expected = longTailCounts(rec.ranks, 200, 1.2);
    expect(Array.from(lt.classCounts)).toEqual(Array.from(expected));
    for (let c = 0; c < 20; c++) expect(lt.classCounts[c]).toBe(Math.max(1, Math.round(200 * rec.ranks[c] ** -1.2)));
    expect(Math.max(...lt.classCounts)).toBe(200);
    expect(lt.train.n).toBe(sum(expected));
    expect(lt.val).toBe(ds.val);
    const b = frequencyBuckets(lt.classCounts);
    expect(b.few.length + b.medium.length + b.many.length).toBe(20);
    expect(Math.min(...b.many.map((c) => lt.classCounts[c]))).toBeGreaterThan(Math.max(...b.few.map((c) => lt.classCounts[c])));
  });

  it('normalisation gives mean 0 / std 1 per channel on train', () => {
    const ds = balanced(5, 40, [3, 4, 4], 3);
    const nd = applyNormalize(ds);
    const st = computeChannelStats(nd.train, nd.sampleShape);
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(st.mean[c])).toBeLessThan(1e-5);
      expect(Math.abs(st.std[c] - 1)).toBeLessThan(1e-5);
    }
    expect(nd.val.x).not.toBe(ds.val.x);
    expect(nd.val.y).toBe(ds.val.y);
  });

  it('random crop + flip: shape, determinism, and each output is a padded shifted (flipped) input', () => {
    const B = 3;
    const Cc = 3;
    const H = 32;
    const W = 32;
    const batch = new Float32Array(B * Cc * H * W);
    new Rng(1).fillNormal(batch);
    const out1 = randomCropFlip(batch, [B, Cc, H, W], new Rng(8), new Float32Array(batch.length));
    const out2 = randomCropFlip(batch, [B, Cc, H, W], new Rng(8), new Float32Array(batch.length));
    expect(hash(out1)).toBe(hash(out2));
    expect(out1.length).toBe(batch.length);
    const id = randomCropFlip(batch, [B, Cc, H, W], new Rng(8), new Float32Array(batch.length), { pad: 0, flip: false });
    expect(hash(id)).toBe(hash(batch));
    const HW = H * W;
    for (let b = 0; b < B; b++) {
      let found = 0;
      for (let dy = -4; dy <= 4; dy++)
        for (let dx = -4; dx <= 4; dx++)
          for (const flip of [false, true]) {
            let ok = true;
            for (let c = 0; c < Cc && ok; c++)
              for (let i = 0; i < H && ok; i++)
                for (let j = 0; j < W && ok; j++) {
                  const si = i + dy;
                  const sj = (flip ? W - 1 - j : j) + dx;
                  const v = si < 0 || si >= H || sj < 0 || sj >= W ? 0 : batch[(b * Cc + c) * HW + si * W + sj];
                  if (out1[(b * Cc + c) * HW + i * W + j] !== v) ok = false;
                }
            if (ok) found++;
          }
      expect(found).toBe(1);
    }
    expect(() => randomCropFlip(batch, [B, Cc, H, W], new Rng(1), batch)).toThrow(/alias/);
  });

  it('frequency buckets: terciles, ties share a bucket', () => {
    const b = frequencyBuckets([5, 1, 9, 3, 7, 2, 8, 4, 6, 10]);
    expect([b.few.length, b.medium.length, b.many.length]).toEqual([3, 4, 3]);
    expect(b.few.sort((x, y) => x - y)).toEqual([1, 3, 5]);
    expect(frequencyBuckets([50, 50, 50]).medium).toEqual([0, 1, 2]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 40 }), (counts) => {
        const r = frequencyBuckets(counts);
        const order = { few: 0, medium: 1, many: 2 };
        for (let a = 0; a < counts.length; a++)
          for (let c = 0; c < counts.length; c++) {
            if (counts[a] === counts[c] && r.bucketOf[a] !== r.bucketOf[c]) return false;
            if (counts[a] < counts[c] && order[r.bucketOf[a]] > order[r.bucketOf[c]]) return false;
          }
        return r.few.length + r.medium.length + r.many.length === counts.length;
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('registry', () => {
  it('rejects bad specs naming the field', () => {
    expect(() => loadDataset({ name: 'foo' })).toThrow('dataset.name: unknown dataset "foo" (expected fashion-mnist, mnist, cifar100, cifar10, synthetic)');
    expect(() => loadDataset({ name: 'synthetic', nClasses: 3 })).toThrow(/dataset\.nClasses: unknown option/);
    expect(() => loadDataset({ name: 'synthetic', numClasses: 10, numSuperclasses: 3 })).toThrow(/dataset\.numSuperclasses: must divide/);
    expect(() => loadDataset({ name: 'synthetic', sigma: 0 })).toThrow(/dataset\.sigma/);
    expect(() => loadDataset({ name: 'synthetic', dim: 900, image: { size: 28, channels: 1 } })).toThrow(/dataset\.dim/);
    expect(() => loadDataset({ name: 'synthetic', image: { size: 30, channels: 1 } })).toThrow(/dataset\.image\.size/);
    expect(() => loadDataset({ name: 'mnist', valSize: -1 })).toThrow(/dataset\.valSize/);
    expect(() => loadDataset({ name: 'mnist', limit: 1e9 })).toThrow(/dataset\.limit/);
    expect(() => loadDataset({ name: 'cifar100' })).toThrow(/dataset\.dir/);
    expect(() => loadDataset({ name: 'cifar100', dir: '/x', label: 'mid' })).toThrow(/dataset\.label/);
    expect(() => loadDataset({ name: 'synthetic', labelNoise: { p: 2 } })).toThrow(/dataset\.labelNoise\.p/);
    expect(() => loadDataset({ name: 'synthetic', longTail: { alpha: -1 } })).toThrow(/dataset\.longTail\.alpha/);
    expect(() => loadDataset({ name: 'synthetic', seed: 1.5 })).toThrow(/dataset\.seed/);
    expect(() => loadDataset({ name: 'synthetic', normalize: 'yes' })).toThrow(/dataset\.normalize/);
    expect(() => loadDataset(null as unknown as Record<string, unknown>)).toThrow(/dataset:/);
  });

  it('runs the transform pipeline in order', () => {
    const ds = loadDataset({ name: 'synthetic', seed: 4, numClasses: 10, numSuperclasses: 2, nTrain: 2000, nVal: 100, nTest: 100, longTail: { alpha: 1 }, labelNoise: { p: 0.3 }, normalize: true });
    expect((ds.meta.transforms as { type: string }[]).map((t) => t.type)).toEqual(['longTail', 'blockLabelNoise', 'normalize']);
    expect(sum(ds.classCounts)).toBe(ds.train.n);
    expect(ds.posterior!.train!.length).toBe(ds.train.n * 10);
    const m = loadDataset({ name: 'mnist', seed: 1, limit: 100, normalize: true, cacheDir });
    expect(m.train.n).toBe(100);
  });
});
