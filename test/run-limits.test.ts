/**
 * Run configurations are validated before anything is loaded, allocated or written: float32
 * ranges, size limits, a memory estimate, non-empty validation and test splits, and the same
 * checks on configurations read from checkpoints.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.js';
import { expectUsage } from './helpers/expect.js';
import { estimateRunMemory, validateCompareConfig } from '../src/train/config.js';
import { storedRunSpec, validateRunSpec, type RunSpec } from '../src/train/spec.js';
import { methodDef, optionError } from '../src/avgk/methods/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'avgk-limits-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DATA = { name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 200, nVal: 60, nTest: 60 };
const CONFIG = {
  dataset: DATA,
  methods: ['softmax', 'two-head'],
  ks: [2],
  seeds: [0],
  model: { name: 'mlp', hidden: [16] },
  epochs: 1,
  batchSize: 32,
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  schedule: { name: 'cosine' },
};

const SPEC: RunSpec = {
  dataset: { ...DATA, seed: 0 } as RunSpec['dataset'],
  model: { name: 'mlp', hidden: [16] },
  method: { name: 'two-head', options: {}, label: 'two-head' },
  ks: [2],
  seed: 0,
  epochs: 1,
  batchSize: 32,
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  schedule: { name: 'cosine' },
  augment: false,
};

const cli = (argv: string[]) => runCliCaptured(argv, { cwd: tmp, env: {} });

describe('float32 ranges', () => {
  it('method options beyond float32 are refused by the registry', () => {
    const mu = methodDef('two-head').options.mu!;
    expect(optionError(mu, 1e39)).toMatch(/must be within the float32 range \(\|x\| ≤ 3\.4028235e\+38\), got 1e\+39/);
    expect(optionError(mu, 3e38)).toBeNull();
  });

  it.each([
    [{ optimizer: { ...CONFIG.optimizer, lr: 1e39 } }, /^config\.optimizer\.lr: must be within the float32 range/],
    [{ optimizer: { ...CONFIG.optimizer, weightDecay: 1e39 } }, /^config\.optimizer\.weightDecay: must be within the float32 range/],
    [{ methods: [{ name: 'two-head', options: { mu: 1e39 } }] }, /^config\.methods\[0\]\.options\.mu: must be within the float32 range/],
    [{ schedule: { name: 'cosine', minLr: 1e39 } }, /^config\.schedule\.minLr: must be within the float32 range/],
  ])('compare config %j is refused naming the field', (patch, re) => {
    expect(() => validateCompareConfig({ ...CONFIG, ...patch })).toThrow(re);
  });
});

describe('sizes and memory', () => {
  it.each([
    [{ dataset: { ...DATA, nVal: 0 } }, /^config\.dataset\.nVal: must be ≥ 1 .*got 0/],
    [{ dataset: { ...DATA, nTest: 0 } }, /^config\.dataset\.nTest: must be ≥ 1 .*got 0/],
    [{ dataset: { ...DATA, numClasses: 1000000, numSuperclasses: 2 } }, /^config\.dataset\.numClasses: must be ≤ 10000, got 1000000/],
    [{ dataset: { ...DATA, dim: 10000000 } }, /^config\.dataset\.dim: must be ≤ 65536, got 10000000/],
    [{ dataset: { name: 'mnist', valSize: 0 } }, /^config\.dataset\.valSize: must be ≥ 1/],
    [{ model: { name: 'mlp', hidden: [1000000] } }, /^config\.model\.hidden\[0\]: must be an integer in \[1, 65536\]/],
  ])('%j is refused naming the field', (patch, re) => {
    expect(() => validateCompareConfig({ ...CONFIG, ...patch })).toThrow(re);
  });

  it('estimates memory from the configuration: data, model with optimiser state, activations', () => {
    const m = estimateRunMemory(validateCompareConfig(CONFIG));
    // 320 samples × (6 inputs + 6 posterior values) floats
    expect(m.data).toBe(4 * 320 * 12);
    // 6·16+16 + two heads 2·(16·6+6); weights, gradients, best copy and SGD momentum
    expect(m.parameters).toBe(6 * 16 + 16 + 2 * (16 * 6 + 6));
    expect(m.model).toBe(4 * m.parameters * 4);
    expect(m.bytes).toBe(m.data + m.model + m.activations);
    const adam = estimateRunMemory(validateCompareConfig({ ...CONFIG, optimizer: { name: 'adam', lr: 1e-3 } }));
    expect(adam.model).toBe(4 * m.parameters * 5);
  });

  it('refuses a run whose estimate exceeds the budget, with the estimate, naming its largest part', () => {
    const wide = { ...CONFIG, model: { name: 'mlp', hidden: [65536, 65536] } };
    expect(() => validateCompareConfig(wide, { memoryBudget: 8e9 })).toThrow(
      /^config\.model\.hidden: the run needs at least 6\d\.\d GB of memory \(data .* GB, model 4\.\d\de\+9 parameters: 6\d\.\d GB with gradients and optimiser state, activations .*\), more than the 8\.00 GB available$/,
    );
    expect(() => validateCompareConfig({ ...CONFIG, batchSize: 1 << 20, dataset: { ...DATA, numClasses: 10000, numSuperclasses: 2 } }, { memoryBudget: 8e9 })).toThrow(/^config\.batchSize: the run needs/);
    expect(() => validateCompareConfig({ ...CONFIG, dataset: { ...DATA, nTrain: 1e9 } }, { memoryBudget: 8e9 })).toThrow(/^config\.dataset: the run needs/);
    expect(validateCompareConfig(CONFIG, { memoryBudget: 8e9 }).epochs).toBe(1);
  });
});

describe('configurations stored in checkpoints', () => {
  it('are validated like compare configs, naming the field', () => {
    expect(() => validateRunSpec({ ...SPEC, optimizer: { ...SPEC.optimizer, lr: 1e39 } })).toThrow(/^config\.optimizer\.lr: must be within the float32 range/);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ batchSize: 0 }, /^config\.batchSize: must be an integer in \[1, 1048576\], got 0/],
      [{ batchSize: 1.5 }, /^config\.batchSize: must be an integer .* got 1\.5/],
      [{ batchSize: '32' }, /^config\.batchSize: must be an integer .* got "32"/],
      [{ seed: -1 }, /^config\.seed: must be an integer in \[0, 2147483647\], got -1/],
      [{ seed: 0.5 }, /^config\.seed: must be an integer/],
      [{ epochs: '3' }, /^config\.epochs: must be an integer/],
      [{ schedule: { name: 'linear' } }, /^config\.schedule\.name: unknown schedule "linear"/],
      [{ schedule: 'linear' }, /^config\.schedule\.name: unknown schedule "linear"/],
      [{ method: { name: 'two-head', options: { mu: 1e39 } } }, /^config\.method\.options\.mu: must be within the float32 range/],
      [{ model: { name: 'mlp', hidden: [10000000] } }, /^config\.model\.hidden\[0\]: must be an integer in \[1, 65536\]/],
      [{ dataset: { ...DATA, nTest: 0 } }, /^config\.dataset\.nTest: must be ≥ 1/],
    ];
    for (const [patch, re] of cases) expect(() => storedRunSpec({ ...SPEC, ...patch }), JSON.stringify(patch)).toThrow(re);
  });

  it('never keep the dataset locations of a checkpoint', () => {
    const spec = storedRunSpec({ ...SPEC, dataset: { name: 'fashion-mnist', seed: 0, cacheDir: '/tmp/elsewhere', sourceDir: '/etc', rebuildCache: true } });
    expect(spec.dataset).toEqual({ name: 'fashion-mnist', seed: 0 });
    const cifar = storedRunSpec({ ...SPEC, ks: [2], dataset: { name: 'cifar10', dir: '/etc', seed: 0 } });
    expect(cifar.dataset).toEqual({ name: 'cifar10', seed: 0 });
    // Adam configurations as train writes them (with SGD's momentum fields) still validate
    expect(storedRunSpec({ ...SPEC, optimizer: { name: 'adam', lr: 1e-3, momentum: 0.9, nesterov: true, weightDecay: 0 } }).optimizer.name).toBe('adam');
  });
});

describe('avgk train and compare refuse before loading or writing', () => {
  const TINY_ARGS = ['--dataset-config', JSON.stringify(DATA), '--hidden', '16', '--epochs', '1', '-q'];
  it.each([
    [['--lr', '1e39'], /^avgk: error: --lr: must be within the float32 range/],
    [['--weight-decay', '1e39'], /^avgk: error: --weight-decay: must be within the float32 range/],
    [['--mu', '1e39'], /^avgk: error: --mu: must be within the float32 range/],
    [['--hidden', '1000000'], /^avgk: error: --hidden: must be an integer in \[1, 65536\], got 1000000/],
    [['--hidden', '65536,65536,65536,65536,65536,65536,65536,65536,65536,65536'], /^avgk: error: --hidden: the run needs at least \d+ GB of memory .* more than the .* available/],
    [['--dataset-config', JSON.stringify({ ...DATA, nTest: 0 })], /^avgk: error: dataset.nTest: must be ≥ 1/],
    [['--dataset-config', JSON.stringify({ ...DATA, numClasses: 1000000 })], /^avgk: error: dataset.numClasses: must be ≤ 10000/],
  ])('train %j: exit 2 naming the flag, nothing written', async (args, re) => {
    const out = join(tmp, `never-${Math.random().toString(36).slice(2)}`);
    expectUsage(await cli(['train', ...TINY_ARGS, ...args, '--out', out]), re);
    expect(existsSync(out)).toBe(false);
  });

  it('compare with a learning rate beyond float32: exit 2, no results written', async () => {
    const dir = mkdtempSync(join(tmp, 'cmp-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...CONFIG, optimizer: { ...CONFIG.optimizer, lr: 1e39 } }));
    const r = await cli(['compare', '--config', join(dir, 'c.json'), '--out', join(dir, 'out')]);
    expectUsage(r, /config\.optimizer\.lr: must be within the float32 range/);
    expect(readdirSync(dir)).toEqual(['c.json']);
  });
});
