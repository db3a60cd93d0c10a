/** `avgk compare`: the experiment runner end to end on a tiny config, and config validation. */
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../src/cli/main.js';
import { validateCompareConfig, parseCompareConfig } from '../src/train/config.js';
import { runCompare, summarize, type BayesRecord, type CompareRecord, type ResultRecord } from '../src/train/compare.js';
import { tempDir } from './helpers/tmp.js';

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
    dir = tempDir('avgk-compare-');
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
    // the report shows each seed, not only mean ± std
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
    expect(html).toContain('<h3>Average-K accuracy of each seed (test)</h3>');
    expect(html).toContain('<h3>K = 2: average-K accuracy (%) per seed</h3>');
    expect(html).toContain('<th class="num" scope="col">seed 1</th>');
    const seedRow = new RegExp(`<tr><td>softmax</td>${'<td class="num">\\d+\\.\\d\\d</td>'.repeat(4)}</tr>`);
    expect(html).toMatch(seedRow);
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
    ['bad per-method lr', { methods: [{ name: 'an', optimizer: { lr: 0 } }] }, /^config\.methods\[0\]\.optimizer\.lr: must be a number > 0, got 0$/],
    ['per-method optimizer not an object', { methods: [{ name: 'an', optimizer: 'adam' }] }, /^config\.methods\[0\]\.optimizer: must be an object/],
    ['tune without a search', { tune: { seeds: [0] } }, /^config\.tune: give lr and\/or options to search$/],
    ['tune option no method has', { tune: { seeds: [0], options: { gamma: [1] } } }, /^config\.tune\.options\.gamma: no method of config\.methods has an option "gamma"$/],
    ['tune option value out of range', { tune: { seeds: [0], options: { mu: [0.3, -1] } } }, /^config\.tune\.options\.mu: must be .*got -1/],
    ['tune repeated lr', { tune: { seeds: [0], lr: [0.1, 0.1] } }, /^config\.tune\.lr: has a repeated value/],
    ['tune seeds', { tune: { seeds: [], lr: [0.1] } }, /^config\.tune\.seeds: must be a non-empty array/],
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
    const dir = tempDir('avgk-compare-bad-');
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

describe('per-method optimisers and tuning on validation', () => {
  it("a method's optimizer merges over the config's (or replaces it) and reaches its runs", async () => {
    const { cellSpecs } = await import('../src/train/spec.js');
    const cfg = validateCompareConfig({
      ...TINY,
      methods: ['softmax', { name: 'an', optimizer: { lr: 0.5 } }, { name: 'wan', optimizer: { name: 'adam', lr: 0.001 } }, { name: 'an', optimizer: { lr: 0.1 } }],
    });
    expect(cfg.methods[1]!.optimizer).toEqual({ name: 'sgd', lr: 0.5, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
    expect(cfg.methods[2]!.optimizer).toEqual({ name: 'adam', lr: 0.001, momentum: 0, nesterov: false, weightDecay: 0 });
    expect(cfg.methods.map((m) => m.label)).toEqual(['softmax', 'an(lr=0.5)', 'wan', 'an(lr=0.1)']);
    const lrs = new Map(cellSpecs(cfg).map((s) => [s.method.label, s.optimizer.lr]));
    expect([...lrs]).toEqual([['softmax', 0.05], ['an(lr=0.5)', 0.5], ['wan', 0.001], ['an(lr=0.1)', 0.1]]);
  });

  it('the tuning grid covers what the config leaves free, and the choice is the best validation score', async () => {
    const { tuningConfig, chooseTuning, applyTuning } = await import('../src/train/compare.js');
    const cfg = validateCompareConfig({
      ...TINY,
      methods: ['softmax', { name: 'two-head', options: { reduction: 'mean' } }, { name: 'an', optimizer: { lr: 0.3 } }],
      tune: { seeds: [5], epochs: 1, lr: [0.01, 0.1], options: { mu: [0.3, 1] } },
    });
    const grid = tuningConfig(cfg)!;
    // softmax: 2 lr; two-head: 2 lr × 2 mu; an: its lr is fixed and it has no mu → not searched
    expect(grid.points.map((p) => p.label)).toEqual([
      'softmax [lr=0.01]', 'softmax [lr=0.1]',
      'two-head [lr=0.01, mu=0.3]', 'two-head [lr=0.01, mu=1]', 'two-head [lr=0.1, mu=0.3]', 'two-head [lr=0.1, mu=1]',
    ]);
    expect(grid.config).toMatchObject({ seeds: [5], epochs: 1 });
    expect(grid.config.tune).toBeUndefined();
    expect(grid.config.methods[3]).toMatchObject({ options: { reduction: 'mean', mu: 1 }, optimizer: { lr: 0.01, momentum: 0.9 } });
    const rec = (method: string, v: number) => ({ method, valAvgKAccuracy: v }) as CompareRecord;
    const choices = chooseTuning(grid.points, [
      rec('softmax [lr=0.01]', 0.5), rec('softmax [lr=0.1]', 0.7), rec('softmax [lr=0.1]', 0.6),
      rec('two-head [lr=0.01, mu=0.3]', 0.8), rec('two-head [lr=0.01, mu=1]', 0.6), rec('two-head [lr=0.1, mu=0.3]', 0.79), rec('two-head [lr=0.1, mu=1]', 0.1),
      rec('two-head [lr=0.1, mu=1] (softmax head)', 0.99),
    ]);
    expect(choices.map((c) => c.chosen.label)).toEqual(['softmax [lr=0.1]', 'two-head [lr=0.01, mu=0.3]']);
    expect(choices[0]!.grid[0]!.valAvgKAccuracy).toBe(0.5);
    expect(choices[0]!.grid[1]!.valAvgKAccuracy).toBeCloseTo(0.65, 12);
    const final = applyTuning(cfg, choices);
    expect(final.tune).toBeUndefined();
    expect(final.methods.map((m) => [m.label, m.optimizer?.lr ?? final.optimizer.lr, m.options.mu])).toEqual([
      ['softmax', 0.1, undefined], ['two-head', 0.01, 0.3], ['an', 0.3, undefined],
    ]);
  });

  it('avgk compare with config.tune searches on validation only, then runs the test cells with the choices', async () => {
    const dir = tempDir('avgk-tune-');
    writeFileSync(join(dir, 'tune.json'), JSON.stringify({ ...TINY, methods: ['softmax', 'two-head'], seeds: [0], ks: [2], epochs: 1, tune: { seeds: [1], lr: [0.001, 0.05], options: { mu: [0.3] } } }));
    const r = await cli(['--config', 'tune.json', '--out', 'out'], dir);
    expect(r.code, r.stderr).toBe(0);
    // a tuning line scores validation once (no "val …; val …")
    expect(r.stdout + r.stderr).toMatch(/\] softmax \[lr=0\.001\] K=2 seed=1: val \d+\.\d+% \(size \d\.\d\d\); best epoch 1\/1;/);
    const tuning = JSON.parse(readFileSync(join(dir, 'out', 'tuning', 'tuning.json'), 'utf8'));
    expect(tuning.choices.map((c: { method: string }) => c.method)).toEqual(['softmax', 'two-head']);
    const tmd = readFileSync(join(dir, 'out', 'tuning', 'results.md'), 'utf8');
    expect(tmd).toContain('VALIDATION split');
    expect(tmd).not.toContain('Bayes');
    const run = JSON.parse(readFileSync(join(dir, 'out', 'run.json'), 'utf8'));
    for (const c of tuning.choices) {
      const m = run.config.methods.find((x: { label: string }) => x.label === c.method);
      expect(m.optimizer.lr).toBe(c.chosen.lr);
    }
    // the tuning records score validation: their numbers are the validation ones
    const tres = JSON.parse(readFileSync(join(dir, 'out', 'tuning', 'results.json'), 'utf8')) as CompareRecord[];
    for (const t of tres.filter((x) => !x.method.endsWith('(softmax head)'))) expect(t.avgKAccuracy).toBeCloseTo(t.valAvgKAccuracy, 12);
    expect(readFileSync(join(dir, 'out', 'results.md'), 'utf8')).toMatch(/Tuned on validation .*softmax \[lr=0\.\d+\]; two-head \[lr=0\.\d+, mu=0\.3\]/);
  }, 60_000);
});

describe('training that diverges', () => {
  it('a diverging tuning point is left out of the choice; a diverging test cell fails naming it', async () => {
    const dir = tempDir('avgk-diverge-');
    const base = { ...TINY, methods: ['softmax'], seeds: [0], ks: [2], epochs: 1 };
    writeFileSync(join(dir, 'tune.json'), JSON.stringify({ ...base, tune: { seeds: [1], lr: [1e6, 0.05] } }));
    const r = await cli(['--config', 'tune.json', '--out', 'out'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/softmax \[lr=1000000\] K=2 seed=1: diverged, left out of the choice \(fit: the loss became/);
    const tuning = JSON.parse(readFileSync(join(dir, 'out', 'tuning', 'tuning.json'), 'utf8'));
    expect(tuning.choices[0].chosen.lr).toBe(0.05);
    expect(tuning.choices[0].grid[0]).toMatchObject({ valAvgKAccuracy: null, diverged: true });
    expect(readFileSync(join(dir, 'out', 'tuning', 'tuning.md'), 'utf8')).toMatch(/\| \[lr=1000000\] \| diverged \| 0 \|/);
    // a method with no point left fails before any test cell, and names the method
    writeFileSync(join(dir, 'all.json'), JSON.stringify({ ...base, methods: ['softmax', 'two-head'], tune: { seeds: [1], lr: [1e6, 1e7] } }));
    const all = await cli(['--config', 'all.json', '--out', 'all'], dir);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/tuning: every grid point of softmax, two-head diverged on validation \(lr 1000000, 10000000; see tuning\/tuning\.md\): give smaller learning rates/);
    expect(existsSync(join(dir, 'all', 'tuning', 'tuning.md'))).toBe(true);
    expect(existsSync(join(dir, 'all', 'results.json'))).toBe(false);
    // without tuning, the diverging cell is the run's one error
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...base, optimizer: { ...TINY.optimizer, lr: 1e6 } }));
    const bad = await cli(['--config', 'bad.json', '--out', 'bad'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/softmax K=2 seed=0: fit: the loss became .* \(training diverged; lower the learning rate\?\)/);
  }, 60_000);
});

describe('one pipeline under train and compare', () => {
  it('the same RunSpec gives bit-identical weights through avgk train and a one-cell compare', async () => {
    const { readTrainingCheckpoint, bestWeights } = await import('../src/train/checkpointing.js');
    const { runSpecOf } = await import('../src/cli/runtime.js');
    const { specToConfig } = await import('../src/train/spec.js');
    const { buildRun, weightsHash } = await import('../src/train/pipeline.js');
    const { loadDataset } = await import('../src/data/index.js');
    const dir = tempDir('avgk-pipeline-');
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
