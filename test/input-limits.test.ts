/**
 * Inputs of any size: IDX headers are checked against the file before the data are read, reads
 * from devices are bounded, non-finite input values are refused, and a dataset cache with valid
 * checksums but other dimensions is rebuilt.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.js';
import { encodeIdx, MAX_IDX_BYTES, readIdx, readIdxHeader } from '../src/data/idx.js';
import { mnistRaw, readImageCache, writeImageCache } from '../src/data/index.js';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin', 'avgk.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const tmp = mkdtempSync(join(tmpdir(), 'avgk-inputs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An IDX file whose header declares `shape` (uint8 unless given) but holds `bytes` data bytes; sparse when `size` is given. */
function forged(name: string, shape: number[], opts: { code?: number; dataBytes?: number; size?: number } = {}): string {
  const file = join(tmp, name);
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = opts.code ?? 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const fd = openSync(file, 'w');
  writeSync(fd, header);
  if (opts.dataBytes) writeSync(fd, Buffer.alloc(opts.dataBytes));
  if (opts.size !== undefined) writeSync(fd, Buffer.alloc(1), 0, 1, opts.size - 1); // sparse up to `size`
  closeSync(fd);
  return file;
}

const cli = (argv: string[]) => runCliCaptured(argv, { cwd: tmp, env: {} });

function expectUsage(r: { code: number; err: string }, re: RegExp): void {
  const lines = r.err.split('\n').filter((l) => l.startsWith('avgk: error: '));
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(r.code).toBe(2);
}

describe('readIdx', () => {
  it('checks the declared size against the file before reading the data', () => {
    const short = forged('short.idx', [2000000, 28, 28], { dataBytes: 784 * 3 });
    expect(() => readIdx(short)).toThrow(`${short}: IDX size mismatch: ${16 + 784 * 3} bytes, header [2000000, 28, 28] uint8 needs 1568000016`);
    expect(readIdxHeader(short)).toEqual({ dtype: 'uint8', shape: [2000000, 28, 28] });
    // a sparse file as large as its header says, beyond the size an IDX file may hold
    const huge = forged('huge.idx', [20000000, 28, 28], { size: 16 + 20000000 * 784 });
    expect(() => readIdx(huge)).toThrow(`${huge}: header [20000000, 28, 28] uint8 declares 15680000016 bytes, more than the ${MAX_IDX_BYTES} an IDX file may hold`);
  });

  it('reads at most what the header declares from a device (/dev/zero is a quick error)', () => {
    expect(() => readIdx('/dev/zero')).toThrow('/dev/zero: unknown IDX data type 0x0');
    expect(() => readIdx(tmp)).toThrow(`cannot read IDX file ${tmp}: is a directory`);
    expect(() => readIdx(join(tmp, 'none.idx'))).toThrow(`IDX file not found: ${join(tmp, 'none.idx')}`);
  });

  it('still reads well-formed files, plain and gzipped', () => {
    const file = join(tmp, 'ok.idx');
    writeFileSync(file, encodeIdx({ shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }));
    expect(readIdx(file)).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect(Array.from(readIdx(file).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('avgk predict --input', () => {
  let ckpt = '';
  beforeAll(async () => {
    const data = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 200, nVal: 60, nTest: 60 });
    const r = await cli(['train', '--dataset-config', data, '--hidden', '8', '--epochs', '1', '--batch-size', '50', '--out', 'run', '-q']);
    expect(r.code, r.err).toBe(0);
    ckpt = join(tmp, 'run', 'checkpoint.safetensors');
  }, 60_000);

  it('refuses NaN and infinite values naming the file and the first bad index', async () => {
    const x = new Float32Array(4 * 6).fill(0.5);
    x[13] = NaN;
    x[20] = Infinity;
    writeFileSync(join(tmp, 'nan.idx'), encodeIdx({ shape: [4, 6], data: x }));
    expectUsage(await cli(['predict', '--checkpoint', ckpt, '--input', 'nan.idx']), /^avgk: error: --input nan\.idx: value NaN at index 13 \(sample 2, element 1\) is not a finite float32$/);
    const big = new Float64Array(4 * 6).fill(0.5);
    big[5] = 1e300; // finite in float64, Infinity in float32
    writeFileSync(join(tmp, 'f64.idx'), encodeIdx({ shape: [4, 6], data: big }));
    expectUsage(await cli(['predict', '--checkpoint', ckpt, '--input', 'f64.idx']), /^avgk: error: --input f64\.idx: value 1e\+300 at index 5 \(sample 0, element 5\) is not a finite float32$/);
    const ok = await cli(['predict', '--checkpoint', ckpt, '--input', 'ok.idx']);
    expect(ok.code, ok.err).toBe(2); // ok.idx holds 3-value samples: refused for its shape, not its values
    expect(ok.err).toMatch(/do not match the model's input \[6\]/);
  });

  it('refuses an input too large to predict before reading it', async () => {
    // 2e9 samples of 6 float32 values: a 48 GB sparse file
    forged('many.idx', [2000000000, 6], { code: 0x0d, size: 8 + 12 + 2000000000 * 24 });
    expectUsage(await cli(['predict', '--checkpoint', ckpt, '--input', 'many.idx']), /^avgk: error: --input many\.idx: header \[2000000000, 6\] float32: predicting 2000000000 samples needs about 192 GB, more than this machine's [\d.]+ GB \(split the input\)$/);
  });

  if (!BUILT) console.warn('input-limits: dist/ is not built (npm run build): the bin/avgk.js test is skipped');
  it.runIf(BUILT)('bin/avgk.js predict --input /dev/zero: exit 2 at once', () => {
    const r = spawnSync(process.execPath, [BIN, 'predict', '--checkpoint', ckpt, '--input', '/dev/zero'], { cwd: tmp, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toMatch(/^avgk: error: --input \/dev\/zero: \/dev\/zero: unknown IDX data type 0x0$/m);
    expect(r.status).toBe(2);
  });
});

describe('dataset caches', () => {
  it('a forged cache with valid checksums but other dimensions is detected and rebuilt', () => {
    const cacheDir = join(tmp, 'cache');
    const file = join(cacheDir, 'mnist-v1.bin');
    // 784 bytes per image like MNIST, but 14×56, and 3 classes
    const part = (n: number) => ({ n, pixels: new Uint8Array(n * 784), labels: new Uint8Array(n) });
    writeImageCache(file, { name: 'mnist', rows: 14, cols: 56, channels: 1, numClasses: 3, trainPool: part(20), test: part(5) });
    expect(readImageCache(file, 'mnist').rows).toBe(14); // its checksums are valid
    expect(() => mnistRaw({ cacheDir, rebuildCache: false })).toThrow(`image cache ${file}: rows is 14, expected 28`);
    const rebuilt = mnistRaw({ cacheDir });
    expect(rebuilt.status).toBe('rebuilt');
    expect(rebuilt.problem).toBe('rows is 14, expected 28');
    expect(rebuilt.set).toMatchObject({ rows: 28, cols: 28, channels: 1, numClasses: 10 });
    expect(rebuilt.set.trainPool.n + rebuilt.set.test.n).toBe(10000);
  });
});
