/**
 * Checkpoints are data, not instructions: their metadata are validated field by field, their
 * tensors against stored checksums, and no file-system path inside them is followed.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.js';
import { expectUsage } from './helpers/expect.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { validateTrainingCheckpoint } from '../src/train/checkpointing.js';
import type { LoadedCheckpoint } from '../src/io/checkpoint.js';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin', 'avgk.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const tmp = mkdtempSync(join(tmpdir(), 'avgk-trust-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 200, nVal: 60, nTest: 60 });

const cli = (argv: string[], env: Record<string, string> = {}) => runCliCaptured(argv, { cwd: tmp, env });

let good = '';
let raw: Buffer;
let meta: Record<string, unknown>;
let tensors: ReturnType<typeof decodeSafetensors>['tensors'];

beforeAll(async () => {
  const r = await cli(['train', '--dataset-config', TINY, '--hidden', '8', '--epochs', '2', '--batch-size', '50', '--out', 'good', '-q']);
  expect(r.code, r.err).toBe(0);
  good = join(tmp, 'good', 'checkpoint.safetensors');
  raw = readFileSync(good);
  const dec = decodeSafetensors(raw);
  meta = JSON.parse(dec.metadata.avgk!) as Record<string, unknown>;
  tensors = dec.tensors;
}, 60_000);

/** A copy of the good checkpoint with its meta changed by `edit`; returns its file name (in tmp). */
function withMeta(name: string, edit: (m: Record<string, any>) => void): string {
  const m = structuredClone(meta) as Record<string, any>;
  edit(m);
  writeFileSync(join(tmp, name), encodeSafetensors(tensors, { avgk: JSON.stringify(m) }));
  return name;
}

describe('resume metadata', () => {
  const load = (edit: (m: Record<string, any>) => void): (() => unknown) => {
    const m = structuredClone(meta) as Record<string, any>;
    edit(m);
    return () => validateTrainingCheckpoint({ path: 'c.safetensors', tensors, meta: m, extraMetadata: {} } as unknown as LoadedCheckpoint<Record<string, unknown>>);
  };

  it('accepts what train wrote', () => {
    expect(load(() => {})).not.toThrow();
  });

  it.each<[string, (m: Record<string, any>) => void, RegExp]>([
    ['negative epoch', (m) => void (m.trainState.epoch = -1), /trainState\.epoch must be an integer ≥ 0, got -1/],
    ['string epoch', (m) => void (m.trainState.epoch = '2'), /trainState\.epoch must be an integer ≥ 0, got "2"/],
    ['negative top-level step', (m) => void (m.step = -5), /corrupt metadata: step must be an integer ≥ 0, got -5/],
    ['bestEpoch past the epochs run', (m) => void (m.trainState.bestEpoch = 7), /trainState\.bestEpoch must be below trainState\.epoch \(2\), got 7/],
    ['history not an array', (m) => void (m.trainState.history = { 0: 1 }), /trainState\.history must be an array/],
    ['history entry not an object', (m) => void (m.trainState.history[1] = 'epoch 2'), /trainState\.history\[1\] must be an object, got "epoch 2"/],
    ['history missing an epoch', (m) => void m.trainState.history.pop(), /trainState\.history must be one entry per finished epoch \(2\), got "1 entries"/],
    ['history with a string number', (m) => void (m.trainState.history[0].trainLoss = '0.5'), /trainState\.history\[0\]\.trainLoss must be a number, got "0\.5"/],
    ['history val entry malformed', (m) => void (m.trainState.history[0].val = [{ k: 'two' }]), /trainState\.history\[0\]\.val\[0\]\.k must be a number, got "two"/],
    ['string stepCount', (m) => void (m.optimizer.stepCount = '8'), /optimizer\.stepCount must be an integer ≥ 0, got "8"/],
    ['string hyperparameter', (m) => void (m.optimizer.hyper.lr = '0.1'), /optimizer\.hyper\.lr must be a float32 number or a boolean, got "0\.1"/],
    ['hyperparameter beyond float32', (m) => void (m.optimizer.hyper.lr = 1e39), /optimizer\.hyper\.lr must be a float32 number or a boolean, got 1e\+39/],
    ['hasBest missing', (m) => void delete m.hasBest, /hasBest must be true or false, got undefined/],
  ])('%s is refused naming the field', (_what, edit, re) => {
    expect(load(edit)).toThrow(re);
  });

  it.each<[string, (m: Record<string, any>) => void, RegExp]>([
    ['trainState.epoch', (m) => void (m.trainState.epoch = -1), /^avgk: error: checkpoint bad-epoch\.safetensors: corrupt metadata: trainState\.epoch must be an integer ≥ 0, got -1$/],
    ['config.seed', (m) => void (m.config.seed = 1.5), /^avgk: error: checkpoint bad-seed\.safetensors: config\.seed: must be an integer in \[0, 2147483647\], got 1\.5$/],
    ['config.batchSize', (m) => void (m.config.batchSize = 0), /^avgk: error: checkpoint bad-batch\.safetensors: config\.batchSize: must be an integer in \[1, 1048576\], got 0$/],
    ['config.schedule', (m) => void (m.config.schedule = { name: 'linear' }), /^avgk: error: checkpoint bad-schedule\.safetensors: config\.schedule\.name: unknown schedule "linear"/],
  ])('train --resume with a bad %s: exit 2 naming it, nothing written', async (field, edit, re) => {
    const file = withMeta(`bad-${field.split('.').pop()!.replace('batchSize', 'batch')}.safetensors`, edit);
    const out = join(tmp, `never-${field}`);
    expectUsage(await cli(['train', '--resume', file, '--epochs', '3', '--out', out]), re);
    expect(existsSync(out)).toBe(false);
  });
});

describe('paths inside a checkpoint are not followed', () => {
  it('a CIFAR checkpoint naming /etc as its data directory: the location must come from AVGK_DATA_DIR', async () => {
    const file = withMeta('cifar.safetensors', (m) => {
      m.config.dataset = { name: 'cifar10', dir: '/etc', seed: 0, normalize: true };
      m.classNames = Array.from({ length: 10 }, (_, i) => `c${i}`);
    });
    const r = await cli(['eval', '--checkpoint', file]);
    expectUsage(r, /^avgk: error: dataset cifar10: set AVGK_DATA_DIR=DIR to the directory of the CIFAR binary files/);
    expect(r.err).not.toMatch(/\/etc/);
    // with the variable set, the data are looked for there (and only there)
    const empty = mkdtempSync(join(tmp, 'cifar-'));
    const withEnv = await cli(['eval', '--checkpoint', file], { AVGK_DATA_DIR: empty });
    expectUsage(withEnv, new RegExp(`cannot load dataset "cifar10": CIFAR-10: missing files ${empty}/`));
    expect(withEnv.err).not.toMatch(/\/etc/);
  });

  it('cacheDir and sourceDir of an MNIST checkpoint are ignored', async () => {
    const evil = join(tmp, 'evil-cache');
    const file = withMeta('mnist.safetensors', (m) => {
      m.config.dataset = { name: 'mnist', cacheDir: evil, sourceDir: '/etc', seed: 0 };
      m.classNames = Array.from({ length: 10 }, (_, i) => String(i));
    });
    // the data come from the usual cache (AVGK_CACHE_DIR, set for tests by vitest.config.ts);
    // the weights of this 6-dim synthetic model then do not fit MNIST's 784 inputs
    const r = await cli(['eval', '--checkpoint', file]);
    expectUsage(r, /weights do not fit the model/);
    expect(r.err).not.toMatch(/\/etc|evil-cache/);
    expect(existsSync(evil)).toBe(false);
  });
});

describe('the real binary (dist/)', () => {
  if (!BUILT) console.warn('checkpoint-trust: dist/ is not built (npm run build): the bin/avgk.js tests are skipped');

  it.runIf(BUILT)('a flipped exponent bit in one weight: eval exits 2 naming the tensor', () => {
    const bytes = Buffer.from(raw);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
    const name = Object.keys(header).find((k) => k.startsWith('best.') && k.endsWith('weight'))!;
    bytes[8 + headerLen + header[name]!.data_offsets![0] + 3]! ^= 0x08;
    writeFileSync(join(tmp, 'flipped.safetensors'), bytes);
    const r = spawnSync(process.execPath, [BIN, 'eval', '--checkpoint', 'flipped.safetensors'], { cwd: tmp, encoding: 'utf8' });
    // (a note on the backend may come first when the native addon is not built)
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('avgk: error: '));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^avgk: error: checkpoint flipped\\.safetensors: corrupt file: tensor ${name.replace(/\./g, '\\.')} does not match its checksum \\(CRC-32 [0-9a-f]{8}, stored [0-9a-f]{8}\\)$`));
    expect(r.status).toBe(2);
  });

  it.runIf(BUILT)('a checkpoint named model.bin is opened as given', () => {
    copyFileSync(good, join(tmp, 'model.bin'));
    const r = spawnSync(process.execPath, [BIN, 'eval', '--checkpoint', 'model.bin', '--json'], { cwd: tmp, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).checkpoint).toBe('model.bin');
  });
});
