/** `avgk compare`: the experiment runner end to end on a tiny config, and config validation. */
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/main.js';
import { validateCompareConfig, parseCompareConfig } from '../src/train/config.js';
import { runCompare, summarize, type BayesRecord, type CompareRecord, type ResultRecord } from '../src/train/compare.js';

const TINY = {
  dataset: { name: 'synthetic', numClasses: 8, numSuperclasses: 2, dim: 6, nTrain: 400, nVal: 200, nTest: 200, zipfAlpha: 1, seed: 2 },
  methods: ['softmax', { name: 'two-head', options: { mu: 0.5 } }],
  ks: [1.5, 2],
  seeds: [0, 1],
  model: { name: 'mlp', hidden: [16] },
  epochs: 2,
  batchSize: 50,
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  schedule: { name: 'cosine' },
};

function sink(): { stream: { write(s: string): boolean }; text: () => string } {
  let buf = '';
  return { stream: { write: (s: string) => ((buf += s), true) }, text: () => buf };
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `avgk compare ...args` in-process through the real CLI (src/cli/main.ts). */
async function cli(args: string[], cwd: string): Promise<CliRun> {
  const out = sink();
  const err = sink();
  const code = await runCli(['compare', ...args], { stdout: out.stream, stderr: err.stream, cwd, env: {} });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('avgk compare end to end (tiny synthetic config)', () => {
  let dir: string;
  let run: CliRun;
  let results: ResultRecord[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'avgk-compare-'));
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify(TINY));
    run = await cli(['--config', 'tiny.json', '--out', 'out'], dir);
    results = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')) as ResultRecord[];
  }, 60_000);

  it('exits 0, one progress line per trained model on stderr, the tables on stdout', () => {
    expect(run.code, run.stderr).toBe(0);
    // softmax: one model per seed (2); two-head: one per (K, seed) (4)
    const progress = run.stderr.split('\n').filter((l) => /^\[\d+\/6\] /.test(l));
    expect(progress).toHaveLength(6);
    expect(progress[0]).toMatch(/^\[1\/6\] softmax K=1\.5,2 seed=0: val .*; test .*%.* s$/);
    expect(run.stdout).toContain('## K = 1.5');
  });

  it('results.json holds one test record per (method, K, seed) and the Bayes optimum per K', () => {
    const recs = results.filter((r): r is CompareRecord => r.method !== 'bayes');
    const bayes = results.filter((r) => r.method === 'bayes');
    const key = (r: CompareRecord) => `${r.method}|${r.k}|${r.seed}`;
    const keys = recs.map(key).sort();
    const want: string[] = [];
    for (const m of ['softmax', 'two-head', 'two-head (softmax head)']) for (const k of [1.5, 2]) for (const s of [0, 1]) want.push(`${m}|${k}|${s}`);
    expect(keys).toEqual(want.sort());
    for (const r of recs) {
      for (const f of ['avgKAccuracy', 'macroAvgKAccuracy', 'valAvgKAccuracy'] as const) {
        expect(r[f]).toBeGreaterThanOrEqual(0);
        expect(r[f]).toBeLessThanOrEqual(1);
      }
      expect(Math.abs(r.meanSetSize - r.k)).toBeLessThan(0.6);
      expect(Math.abs(r.valMeanSetSize - r.k)).toBeLessThanOrEqual(1 / 200 + 1e-9); // calibrated on validation
      expect(r.trainSeconds).toBeGreaterThanOrEqual(0);
      expect(r.buckets).toBeDefined(); // zipfAlpha > 0: long-tailed training set
      expect(r.topKAccuracy === null).toBe(!Number.isInteger(r.k));
    }
    // K-independent softmax: one model per seed serves both K
    for (const s of [0, 1]) {
      const sm = recs.filter((r) => r.method === 'softmax' && r.seed === s);
      expect(new Set(sm.map((r) => `${r.trainSeconds}|${r.bestEpoch}`)).size).toBe(1);
    }
    expect(recs.find((r) => r.method === 'two-head')!.options).toMatchObject({ mu: 0.5, k: expect.any(Number) });
    expect(bayes.map((b) => b.k)).toEqual([1.5, 2]);
    for (const b of bayes as BayesRecord[]) {
      expect(b.seed).toBeNull();
      expect(b.avgKAccuracy).toBeGreaterThan(0);
      expect(b.avgKAccuracy).toBeLessThanOrEqual(1);
      // λ from the validation posterior: the test set size is near K, not exactly K
      expect(Math.abs(b.meanSetSize - b.k)).toBeLessThan(0.3);
      // the oracle (λ from the test posterior) is the best any global threshold can do in expectation at size K
      // (each extra label past K·n adds at most 1/n to the expected accuracy)
      expect(b.expectedAccuracy).toBeLessThanOrEqual(b.oracleExpectedAccuracy + Math.max(0, b.meanSetSize - b.k) + 1e-9);
      expect(b.expectedAccuracy).toBeGreaterThan(b.oracleExpectedAccuracy - 0.05);
      // every method is scored by its expected accuracy too
      for (const r of recs.filter((q) => q.k === b.k)) {
        expect(r.expectedAccuracy).toBeGreaterThan(0);
        expect(r.expectedAccuracy!).toBeLessThanOrEqual(1);
      }
    }
    expect(bayes[1].avgKAccuracy).toBeGreaterThanOrEqual(bayes[0].avgKAccuracy);
  });

  it('results.md: a table per K with mean ± std over seeds and the Bayes row; run.json and report.html', () => {
    const md = readFileSync(join(dir, 'out', 'results.md'), 'utf8');
    expect(md).toContain('## K = 1.5');
    expect(md).toContain('## K = 2');
    expect(md).toMatch(/\| Bayes optimum \| \d+\.\d\d \|/);
    // avg-K acc, expected acc, macro avg-K acc, set size
    expect(md).toMatch(/\| softmax \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \| \d\.\d{3} ± \d\.\d{3} \|/);
    // paired differences against softmax, with the verdict on the expected accuracy
    expect(md).toContain('Paired differences, method − softmax on the same seeds');
    expect(md).toMatch(/\| two-head \| [+−]\d+\.\d\d \[[+−]\d+\.\d\d, [+−]\d+\.\d\d\] \| [+−]\d+\.\d\d \[.*\] \| (no difference|higher than softmax|lower than softmax) \| 2 \|/);
    expect(md).toMatch(/\| two-head \| /);
    expect(md).toContain('few (%)');
    expect(md).toContain('top-2 acc (%)');
    // the md numbers are the mean of the json records
    const recs = results.filter((r): r is CompareRecord => r.method !== 'bayes');
    const row = summarize(recs).find((s) => s.method === 'softmax' && s.k === 2)!;
    expect(md).toContain(`| softmax | ${(100 * row.mean.avgKAccuracy).toFixed(2)} ± ${(100 * row.std.avgKAccuracy).toFixed(2)} |`);
    const info = JSON.parse(readFileSync(join(dir, 'out', 'run.json'), 'utf8'));
    expect(info).toMatchObject({ done: true, interrupted: false, models: 6, dataset: { numClasses: 8, posteriorKnown: true, longTailed: true } });
    expect(existsSync(join(dir, 'out', 'report.html'))).toBe(true);
  });

  it('--resume reuses every finished cell; the records are unchanged', async () => {
    const again = await cli(['--config', 'tiny.json', '--out', 'out', '--resume'], dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/6 of 6 models already trained/);
    expect(again.stderr.split('\n').filter((l) => /^\[\d+\/6\] /.test(l))).toHaveLength(0);
    const r2 = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8'));
    expect(r2).toEqual(results);
  });

  it('an interrupted run keeps its finished cells and a resumed run completes them deterministically', async () => {
    const cfg = validateCompareConfig({ ...TINY, seeds: [0], methods: ['softmax', 'epr'], ks: [1.5, 2] });
    const out = join(dir, 'interrupted');
    // stop a few steps into the 2nd model (after the progress line of the 1st)
    let firstDone = false;
    let steps = 0;
    const stop = () => firstDone && ++steps > 4;
    const log = (line: string) => {
      if (line.startsWith('[1/3]')) firstDone = true;
    };
    const first = await runCompare(cfg, { outDir: out, shouldStop: stop, log, report: false });
    expect(first.interrupted).toBe(true);
    expect(first.trained).toBe(1);
    expect(first.records.map((r) => r.method)).toEqual(['softmax', 'softmax']);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({ done: false, interrupted: true });
    const second = await runCompare(cfg, { outDir: out, resume: true, report: false });
    expect(second.interrupted).toBe(false);
    expect([second.trained, second.reused]).toEqual([2, 1]);
    const fresh = await runCompare(cfg, { report: false });
    const strip = (rs: CompareRecord[]) => rs.map(({ trainSeconds: _t, ...r }) => r);
    expect(strip(second.records)).toEqual(strip(fresh.records));
  });
});

describe('config validation: one line naming the field', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['K above the number of classes', { ks: [1.5, 12] }, /^config\.ks\[1\]: K must be in \(0, 8\) for 8 classes, got 12$/],
    ['K below 1 with two-head', { ks: [0.5] }, /^config\.ks\[0\]: K must be ≥ 1 for method "two-head"/],
    ['unknown method', { methods: ['softmax', 'an', 'foo'] }, /^config\.methods\[2\]: unknown method "foo" \(expected softmax, two-head, an, wan, an-ls, epr, role\)$/],
    ['unknown method in an object', { methods: [{ name: 'bar' }] }, /^config\.methods\[0\]\.name: unknown method "bar"/],
    ['option of another method', { methods: [{ name: 'an', options: { mu: 0.3 } }] }, /^config\.methods\[0\]\.options\.mu: an takes no options$/],
    ['bad option value', { methods: [{ name: 'two-head', options: { reduction: 'sum' } }] }, /^config\.methods\[0\]\.options\.reduction: must be one of "batchmean", "mean", got "sum"$/],
    ['duplicate method', { methods: ['softmax', 'softmax'] }, /^config\.methods\[1\]: duplicate method "softmax"/],
    ['unknown top-level key', { epoch: 3 }, /^config\.epoch: unknown key/],
    ['bad dataset option', { dataset: { name: 'fashion-mnist', labelNoise: { p: 1.5, blockSize: 2 } } }, /^config\.dataset\.labelNoise\.p: must be a number in \[0, 1\]/],
    ['unknown dataset', { dataset: { name: 'imagenet' } }, /^config\.dataset\.name: unknown dataset "imagenet"/],
    ['bad synthetic option', { dataset: { name: 'synthetic', numClasses: 10, numSuperclasses: 3 } }, /^config\.dataset\.numSuperclasses: must divide numClasses/],
    ['bad model', { model: { name: 'vgg' } }, /^config\.model\.name: unknown model "vgg"/],
    ['bad epochs', { epochs: 0 }, /^config\.epochs: must be an integer in \[1, 100000\], got 0$/],
    ['bad lr', { optimizer: { name: 'sgd', lr: -1 } }, /^config\.optimizer\.lr: must be a number > 0, got -1$/],
    ['adam with momentum', { optimizer: { name: 'adam', lr: 0.001, momentum: 0.9 } }, /^config\.optimizer\.momentum: unknown key/],
    ['bad schedule', { schedule: { name: 'linear' } }, /^config\.schedule\.name: unknown schedule "linear"/],
    ['bad seeds', { seeds: [0, 0] }, /^config\.seeds\[1\]: duplicate seed 0$/],
    ['cnn on vectors', { model: { name: 'cnn' } }, /^config\.model\.name: model "cnn" needs image inputs/],
  ];
  for (const [what, patch, re] of bad) {
    it(what, () => {
      expect(() => validateCompareConfig({ ...TINY, ...patch })).toThrow(re);
    });
  }

  it('defaults and method labels', () => {
    const cfg = validateCompareConfig({ ...TINY, seeds: undefined, schedule: undefined, methods: ['softmax', { name: 'two-head', options: { mu: 0.3 } }, { name: 'two-head', options: { mu: 1 } }, { name: 'two-head', label: 'th' }] });
    expect(cfg.seeds).toEqual([0]);
    expect(cfg.schedule).toEqual({ name: 'constant' });
    expect(cfg.methods.map((m) => m.label)).toEqual(['softmax', 'two-head(mu=0.3)', 'two-head(mu=1)', 'th']);
    expect(() => parseCompareConfig('{"dataset": ', 'x.json')).toThrow(/^config: x\.json is not valid JSON/);
  });

  it('the CLI prints a bad config as one line on stderr and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'avgk-compare-bad-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...TINY, ks: [1.5, 12] }));
    const r = await cli(['--config', 'bad.json', '--out', 'out'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('avgk: error: config.ks[1]: K must be in (0, 8) for 8 classes, got 12\n');
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const missing = await cli(['--config', 'nope.json', '--out', 'out'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('avgk: error: --config nope.json: no such file\n');
    writeFileSync(join(dir, 'junk.json'), '{ not json');
    const junk = await cli(['--config', 'junk.json', '--out', 'out'], dir);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/^avgk: error: config: junk\.json is not valid JSON \(.*\)\n$/);
  });
});

describe('one pipeline under train and compare', () => {
  it('the same RunSpec gives bit-identical weights through avgk train and a one-cell compare', async () => {
    const { readTrainingCheckpoint, bestWeights } = await import('../src/train/checkpointing.js');
    const { runSpecOf } = await import('../src/cli/runtime.js');
    const { specToConfig } = await import('../src/train/spec.js');
    const { buildRun, weightsHash } = await import('../src/train/pipeline.js');
    const { loadDataset } = await import('../src/data/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'avgk-pipeline-'));
    const data = JSON.stringify({ name: 'synthetic', numClasses: 5, numSuperclasses: 1, dim: 6, nTrain: 200, nVal: 80, nTest: 80 });
    for (const method of ['two-head', 'role', 'softmax']) {
      const out = join(dir, method);
      const quiet = { stdout: { write: () => true }, stderr: { write: () => true }, cwd: dir };
      const code = await runCli(['train', '--dataset-config', data, '--loss', method, '--k', '2', '--hidden', '8', '--epochs', '2', '--batch-size', '32', '--seed', '3', '--no-report', '--quiet', '--out', out], quiet as never);
      expect(code).toBe(0);
      const ckpt = await readTrainingCheckpoint(join(out, 'checkpoint.safetensors'));
      const spec = runSpecOf(ckpt.meta.config)!;
      expect(spec.method.name).toBe(method);
      const ds = loadDataset(spec.dataset as unknown as Record<string, unknown>);
      const { model } = buildRun(spec, ds);
      model.loadStateDict(bestWeights(ckpt));
      const result = await runCompare(specToConfig(spec), { dataset: ds });
      const hashes = new Set(result.records.filter((r) => r.head === (method === 'softmax' ? 'softmax' : 'multilabel')).map((r) => r.weightsHash));
      expect([...hashes], method).toEqual([weightsHash(model)]);
    }
  }, 120_000);
});
