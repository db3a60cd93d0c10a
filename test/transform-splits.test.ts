/**
 * Label noise over explicit class groups (labelNoise.blocks) and transforms applied to val/test
 * too (labelNoise.splits / longTail.splits = 'all'), on synthetic data whose posterior is known.
 */
import { describe, expect, it } from 'vitest';
import { bayesCalibration } from './helpers/expect.js';
import { readFileSync } from 'node:fs';
import { applyBlockLabelNoise, blockLabelNoise, countClasses, FASHION_MNIST_CLASSES, loadDataset, longTailCounts, Rng, type Dataset } from '../src/data/index.js';
import { resultsMarkdown } from '../src/train/compare.js';
import { isLongTailed, parseCompareConfig, validateCompareConfig } from '../src/train/config.js';

/** |accuracy of argmax η − mean max η| in binomial standard errors (small when η is the posterior of the labels). */
function calibrationZ(ds: Dataset, split: 'train' | 'val' | 'test'): number {
  const { acc, meanMax, se } = bayesCalibration(ds, split);
  return Math.abs(acc - meanMax) / se;
}

/** Mean −log η_y(x) of a split (lower for the posterior of the labels than for a misfit). */
function nll(ds: Dataset, split: 'train' | 'val' | 'test', eta = ds.posterior![split]!): number {
  const C = ds.numClasses;
  const { n, y } = ds[split];
  let s = 0;
  for (let i = 0; i < n; i++) s -= Math.log(Math.max(eta[i * C + y[i]], 1e-30));
  return s / n;
}

function same(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

const syn = { name: 'synthetic', numClasses: 10, numSuperclasses: 2, dim: 6, sepSuper: 2, sepClass: 1, nTrain: 20000, nVal: 5000, nTest: 20000, seed: 3 };
const blocks = [[0, 2, 4, 6]];

describe('labelNoise.blocks', () => {
  const clean = loadDataset(syn);
  const ds = loadDataset({ ...syn, labelNoise: { p: 0.6, blocks } });

  it('resamples labels only within the block, at rate p, and leaves the other classes alone', () => {
    const { y } = ds.train;
    let inBlock = 0;
    let moved = 0;
    let wrong = 0;
    for (let i = 0; i < y.length; i++) {
      const c = clean.train.y[i];
      if (blocks[0].includes(c)) {
        inBlock++;
        if (!blocks[0].includes(y[i])) wrong++;
        if (y[i] !== c) moved++;
      } else if (y[i] !== c) wrong++;
    }
    expect(wrong).toBe(0);
    // a resampled label changes with probability 3/4
    const rate = moved / inBlock;
    expect(Math.abs(rate - 0.6 * 0.75)).toBeLessThan(4 * Math.sqrt((0.45 * 0.55) / inBlock));
    expect(same(ds.val.y, clean.val.y)).toBe(true);
    expect(same(ds.posterior!.test!, clean.posterior!.test!)).toBe(true);
    const rec = (ds.meta.transforms as Record<string, unknown>[])[0];
    expect(rec).toMatchObject({ type: 'blockLabelNoise', p: 0.6, blocks });
    expect(rec).not.toHaveProperty('blockSize');
  });

  it('the training posterior is that of the noisy labels', () => {
    expect(calibrationZ(ds, 'train')).toBeLessThan(3);
    // the clean posterior is not: the noise moved mass within the block
    expect(calibrationZ({ ...ds, posterior: clean.posterior }, 'train')).toBeGreaterThan(3);
  });

  it('without blocks the draws are those of blockLabelNoise (consecutive blocks)', () => {
    const a = applyBlockLabelNoise(clean, { p: 0.4, blockSize: 3, seed: 9 });
    expect(Array.from(a.train.y)).toEqual(Array.from(blockLabelNoise(clean.train.y, 10, 0.4, 3, new Rng(9)).y));
    // the same groups given explicitly (class 9, alone in its block of 3, in none): the same labels
    const b = applyBlockLabelNoise(clean, { p: 0.4, blockSize: 3, seed: 9, blocks: [[0, 1, 2], [3, 4, 5], [6, 7, 8]] });
    expect(Array.from(b.train.y)).toEqual(Array.from(a.train.y));
  });
});

describe('splits "all"', () => {
  it('labelNoise: val and test get the noise and its posterior; train is as with "train"', () => {
    const onTrain = loadDataset({ ...syn, labelNoise: { p: 0.6, blocks } });
    const all = loadDataset({ ...syn, labelNoise: { p: 0.6, blocks, splits: 'all' } });
    const clean = loadDataset(syn);
    expect(Array.from(all.train.y)).toEqual(Array.from(onTrain.train.y));
    for (const s of ['val', 'test'] as const) {
      let moved = 0;
      for (let i = 0; i < all[s].n; i++) moved += all[s].y[i] !== clean[s].y[i] ? 1 : 0;
      expect(moved).toBeGreaterThan(0);
      expect(same(all[s].x, clean[s].x)).toBe(true);
      expect(calibrationZ(all, s)).toBeLessThan(3);
    }
    expect(calibrationZ({ ...all, posterior: clean.posterior }, 'test')).toBeGreaterThan(3);
    expect((all.meta.transforms as Record<string, unknown>[])[0]).toMatchObject({ splits: 'all' });
  });

  it('longTail: val and test follow the training Zipf shape; their posteriors get the prior shift', () => {
    const onTrain = loadDataset({ ...syn, longTail: { alpha: 1 } });
    const all = loadDataset({ ...syn, longTail: { alpha: 1, splits: 'all' } });
    const clean = loadDataset(syn);
    expect(Array.from(all.train.y)).toEqual(Array.from(onTrain.train.y));
    expect(Array.from(all.classCounts)).toEqual(Array.from(onTrain.classCounts));
    const rec = (all.meta.transforms as { ranks: number[]; valCounts: number[]; testCounts: number[] }[])[0];
    for (const s of ['val', 'test'] as const) {
      const m = Math.min(...Array.from(countClasses(clean[s].y, 10)));
      const expected = Array.from(longTailCounts(rec.ranks, m, 1));
      expect(Array.from(countClasses(all[s].y, 10))).toEqual(expected);
      expect(rec[`${s}Counts`]).toEqual(expected);
      expect(calibrationZ(all, s)).toBeLessThan(3);
    }
    // the balanced-prior posterior does not fit the long-tailed test labels
    const C = 10;
    const idx: number[] = [];
    // rows of the clean test split kept by the transform: match by the first coordinate
    const firstCoord = new Map<number, number>();
    for (let i = 0; i < clean.test.n; i++) firstCoord.set(clean.test.x[i * 6], i);
    for (let i = 0; i < all.test.n; i++) idx.push(firstCoord.get(all.test.x[i * 6])!);
    const stale = new Float32Array(all.test.n * C);
    idx.forEach((j, i) => stale.set(clean.posterior!.test!.subarray(j * C, (j + 1) * C), i * C));
    expect(nll(all, 'test', stale) - nll(all, 'test')).toBeGreaterThan(0.05);
    expect(same(onTrain.test.y, clean.test.y) && onTrain.test.n === clean.test.n).toBe(true);
  });
});

describe('validation', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ labelNoise: { p: 0.3, blocks: [[0, 2, 4, 6]], blockSize: 2 } }, /^dataset\.labelNoise\.blockSize: not used with blocks .* got 2$/],
    [{ labelNoise: { p: 0.3, blocks: [[0, 10]] } }, /^dataset\.labelNoise\.blocks: must be a non-empty array of disjoint class lists, each of ≥ 2 integers in \[0, 9\], got \[\[0,10\]\]$/],
    [{ labelNoise: { p: 0.3, blocks: [[0, 2], [2, 4]] } }, /^dataset\.labelNoise\.blocks: .* got \[\[0,2\],\[2,4\]\]$/],
    [{ labelNoise: { p: 0.3, blocks: [[3]] } }, /^dataset\.labelNoise\.blocks: .* got \[\[3\]\]$/],
    [{ labelNoise: { p: 0.3, blocks: [] } }, /^dataset\.labelNoise\.blocks: .* got \[\]$/],
    [{ labelNoise: { p: 0.3, splits: 'test' } }, /^dataset\.labelNoise\.splits: must be "train" or "all", got "test"$/],
    [{ longTail: { alpha: 1, splits: ['val'] } }, /^dataset\.longTail\.splits: must be "train" or "all", got \["val"\]$/],
  ];

  it('rejects bad values with one message naming the field and the value', () => {
    for (const [spec, re] of bad) expect(() => loadDataset({ ...syn, nTrain: 10, ...spec }), JSON.stringify(spec)).toThrow(re);
  });

  it('a Fashion-MNIST config with blocks and splits validates (10 classes)', () => {
    const cfg = (dataset: Record<string, unknown>) => ({ dataset: { name: 'fashion-mnist', ...dataset }, methods: ['softmax'], ks: [2], model: { name: 'mlp' }, epochs: 1, batchSize: 8, optimizer: { name: 'sgd', lr: 0.1 } });
    const ok = validateCompareConfig(cfg({ labelNoise: { p: 0.3, blocks: [[0, 2, 4, 6]], splits: 'all' }, longTail: { alpha: 1, splits: 'all' } }));
    expect(ok.dataset).toMatchObject({ labelNoise: { blocks: [[0, 2, 4, 6]] }, longTail: { splits: 'all' } });
    expect(() => validateCompareConfig(cfg({ labelNoise: { p: 0.3, blocks: [[0, 12]] } }))).toThrow(/^config\.dataset\.labelNoise\.blocks: .*\[0, 9\], got \[\[0,12\]\]$/);
  });
});

describe('compare results', () => {
  it('the data line names the noise groups and the splits the transforms change', () => {
    const config = validateCompareConfig({
      dataset: { name: 'fashion-mnist', labelNoise: { p: 0.4, blocks: [[0, 2, 4, 6]], splits: 'all' }, longTail: { alpha: 1, splits: 'all' } },
      methods: ['softmax'],
      ks: [2],
      model: { name: 'cnn' },
      epochs: 1,
      batchSize: 8,
      optimizer: { name: 'sgd', lr: 0.1 },
    });
    const dataset = { name: 'fashion-mnist', numClasses: 10, train: 100, val: 10, test: 10, classCounts: [40, 20, 10, 8, 6, 5, 4, 3, 2, 2] };
    const line = (cfg: typeof config) => resultsMarkdown([], [], { config: cfg, dataset }).split('\n').find((l) => l.startsWith('- Data:'));
    expect(line(config)).toBe('- Data: fashion-mnist, 10 classes, 100 train / 10 val / 10 test samples; block label noise p = 0.4, classes {0, 2, 4, 6} on train, val and test; long-tailed training set (class counts 2–40), val/test long-tailed too.');
    const plain = validateCompareConfig({ ...config, dataset: { name: 'fashion-mnist', labelNoise: { p: 0.3, blockSize: 2 } } });
    expect(line(plain)).toBe('- Data: fashion-mnist, 10 classes, 100 train / 10 val / 10 test samples; block label noise p = 0.3, b = 2 on train.');
  });
});

describe('the Fashion-MNIST long-tail noisy configs', () => {
  it('validate, use the small CNN, and noise exactly the shirt-like classes; the iid one transforms val/test too', () => {
    for (const [file, splits] of [['fmnist-longtail-noisy.json', undefined], ['fmnist-longtail-noisy-iid.json', 'all']] as const) {
      const cfg = parseCompareConfig(readFileSync(new URL(`../experiments/${file}`, import.meta.url), 'utf8'));
      const ds = cfg.dataset;
      expect(ds.name).toBe('fashion-mnist');
      expect(cfg.model.name).toBe('cnn');
      expect(isLongTailed(ds)).toBe(true);
      expect(ds.labelNoise!.blocks!.map((b) => b.map((c) => FASHION_MNIST_CLASSES[c]).sort())).toEqual([['Coat', 'Pullover', 'Shirt', 'T-shirt/top']]);
      expect(ds.labelNoise!.splits).toBe(splits);
      expect(ds.longTail!.splits).toBe(splits);
      expect(ds.name === 'fashion-mnist' && ds.limit).toBeGreaterThan(0);
    }
  });
});
