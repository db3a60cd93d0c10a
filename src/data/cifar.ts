/**
 * CIFAR-10 / CIFAR-100 readers for the official binary distributions.
 *
 * CIFAR-100 (cifar-100-binary): train.bin (50,000 records), test.bin (10,000); each record is
 * 1 byte coarse label, 1 byte fine label, 3,072 bytes of pixels (1,024 R, 1,024 G, 1,024 B,
 * rows of 32), which is already CHW. Optional coarse_label_names.txt / fine_label_names.txt
 * (one name per line).
 * CIFAR-10 (cifar-10-batches-bin): data_batch_1..5.bin (10,000 records each), test_batch.bin;
 * each record is 1 label byte + 3,072 pixel bytes. Optional batches.meta.txt.
 * `dir` may be the folder holding the files or its parent (cifar-100-binary / cifar-10-batches-bin).
 *
 * Split: the training files in file order form the pool; val = first `valSize` (default 5,000)
 * of new Rng(seed).permutation(pool), train = the rest (45,000), cut to the first `limit`;
 * test = the test file in file order. Pixels /255 → [0, 1]; sampleShape [3, 32, 32].
 */
import * as fs from 'node:fs';
import { totalmem } from 'node:os';
import * as path from 'node:path';
import { trainValIndices, u8Split } from './split.js';
import { applyNormalize, type ChannelStats } from './transforms.js';
import { countClasses, type Dataset } from './types.js';

export const CIFAR_PIXELS = 3072;

export interface CifarRecords {
  n: number;
  /** n × 3072 uint8, CHW per record */
  pixels: Uint8Array;
  /** the label used (CIFAR-10 label, or fine / coarse for CIFAR-100 depending on the call) */
  labels: Uint8Array;
  /** CIFAR-100 only: both label bytes */
  coarse?: Uint8Array;
  fine?: Uint8Array;
}

/** The number of `rec`-byte records in `size` bytes; an error unless a positive whole number. */
function recordCount(name: string, size: number, rec: number): number {
  if (size === 0) throw new Error(`${name}: empty file`);
  if (size % rec !== 0) {
    throw new Error(
      `${name}: size ${size} bytes is not a multiple of the ${rec}-byte record size ` +
        `(${Math.floor(size / rec)} full records + ${size % rec} extra bytes); truncated or wrong format?`,
    );
  }
  return size / rec;
}

/**
 * Parses CIFAR binary records. labelBytes = 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine);
 * for 2, `labels` is the fine label unless `label: 'coarse'`.
 */
export function parseCifarBinary(
  bytes: Uint8Array,
  opts: { labelBytes: 1 | 2; label?: 'fine' | 'coarse'; name?: string; numClasses?: number },
): CifarRecords {
  const name = opts.name ?? '<buffer>';
  const rec = opts.labelBytes + CIFAR_PIXELS;
  const n = recordCount(name, bytes.length, rec);
  const pixels = new Uint8Array(n * CIFAR_PIXELS);
  const first = new Uint8Array(n);
  const second = opts.labelBytes === 2 ? new Uint8Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const off = i * rec;
    first[i] = bytes[off];
    if (second) second[i] = bytes[off + 1];
    pixels.set(bytes.subarray(off + opts.labelBytes, off + rec), i * CIFAR_PIXELS);
  }
  let out: CifarRecords;
  if (second) {
    const labels = opts.label === 'coarse' ? first : second;
    out = { n, pixels, labels, coarse: first, fine: second };
    checkRange(first, 20, name, 'coarse label');
    checkRange(second, 100, name, 'fine label');
  } else {
    out = { n, pixels, labels: first };
  }
  if (opts.numClasses !== undefined) checkRange(out.labels, opts.numClasses, name, 'label');
  return out;
}

function checkRange(a: Uint8Array, C: number, name: string, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (a[i] >= C) throw new Error(`${name}: record ${i} has ${what} ${a[i]}, expected < ${C}`);
  }
}

/** The most bytes a CIFAR binary file may hold: 2 GiB (the official files hold 150 MB). */
export const MAX_CIFAR_BYTES = 2 ** 31;

/**
 * The bytes of a CIFAR binary file of `rec`-byte records. Before anything is read, the file must be
 * a regular file (not a device such as /dev/zero, nor a FIFO) whose size is a positive multiple of
 * `rec` and at most MAX_CIFAR_BYTES, and the file, its pixels and their float32 copy must fit in
 * `memory` bytes at once (default: the machine's memory, os.totalmem()).
 */
function readCifarFile(file: string, rec: number, memory = totalmem()): Buffer {
  const fail = (e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    return new Error(code === 'ENOENT' ? `CIFAR: missing file ${file}` : `CIFAR: cannot read ${file}: ${(e as Error).message}`);
  };
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw fail(e);
  }
  if (!st.isFile()) throw new Error(`${file}: not a regular file (${st.isDirectory() ? 'a directory' : 'a device, FIFO or socket'}), expected CIFAR binary records`);
  const size = st.size;
  const n = recordCount(file, size, rec);
  const need = size + n * CIFAR_PIXELS * (1 + 4);
  if (need > memory) {
    throw new Error(`${file}: ${n} records need about ${(need / 1e9).toPrecision(3)} GB (file, pixels and their float32 copy), more than this machine's ${(memory / 1e9).toPrecision(3)} GB`);
  }
  if (size > MAX_CIFAR_BYTES) throw new Error(`${file}: ${size} bytes, more than the ${MAX_CIFAR_BYTES} a CIFAR file may hold`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw fail(e);
  }
  if (bytes.length !== size) throw new Error(`${file}: changed size while read (${size} bytes, then ${bytes.length})`);
  return bytes;
}

/**
 * Reads one CIFAR binary file (CIFAR-10 with labelBytes 1, CIFAR-100 with labelBytes 2), checked
 * as readCifarFile says before it is read; `memory` for tests.
 */
export function readCifarBinary(file: string, opts: { labelBytes: 1 | 2; label?: 'fine' | 'coarse'; numClasses?: number; memory?: number }): CifarRecords {
  const { memory, ...parse } = opts;
  return parseCifarBinary(readCifarFile(file, opts.labelBytes + CIFAR_PIXELS, memory), { ...parse, name: file });
}

function concatRecords(parts: CifarRecords[]): CifarRecords {
  const n = parts.reduce((s, p) => s + p.n, 0);
  const pixels = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    pixels.set(p.pixels, off * CIFAR_PIXELS);
    labels.set(p.labels, off);
    off += p.n;
  }
  return { n, pixels, labels };
}

function resolveDir(dir: string, required: string[], sub: string, what: string): string {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error(`dataset.dir: ${what} needs a directory path`);
  const has = (d: string) => required.every((f) => fs.existsSync(path.join(d, f)));
  if (has(dir)) return dir;
  if (has(path.join(dir, sub))) return path.join(dir, sub);
  const missing = required.filter((f) => !fs.existsSync(path.join(dir, f)));
  throw new Error(
    `${what}: missing file${missing.length > 1 ? 's' : ''} ${missing.map((f) => path.join(dir, f)).join(', ')} ` +
      `(expected ${required.join(', ')} in ${dir} or ${path.join(dir, sub)})`,
  );
}

function readNames(file: string, count: number, fallback: (i: number) => string): string[] {
  if (!fs.existsSync(file)) return Array.from({ length: count }, (_, i) => fallback(i));
  const names = fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== count) throw new Error(`${file}: ${names.length} class names, expected ${count}`);
  return names;
}

export interface CifarOptions {
  seed?: number;
  /** default 5,000 */
  valSize?: number;
  limit?: number;
  normalize?: boolean | ChannelStats;
}

export interface Cifar100Options extends CifarOptions {
  /** default 'fine' (100 classes); 'coarse' gives the 20 superclasses */
  label?: 'fine' | 'coarse';
}

function checkInt(v: unknown, field: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`${field}: must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

function assemble(
  name: string,
  pool: CifarRecords,
  test: CifarRecords,
  numClasses: number,
  classNames: string[],
  opts: CifarOptions,
  extraMeta: Record<string, unknown>,
  t0: number,
): Dataset {
  const seed = opts.seed === undefined ? 0 : checkInt(opts.seed, 'dataset.seed', -(2 ** 53), 2 ** 53);
  const valSize = opts.valSize === undefined ? Math.min(5000, pool.n - 1) : checkInt(opts.valSize, 'dataset.valSize', 0, pool.n - 1);
  const limit = opts.limit === undefined ? undefined : checkInt(opts.limit, 'dataset.limit', 1, pool.n - valSize);
  const { train: trIdx, val: vaIdx } = trainValIndices(pool.n, valSize, seed, limit);
  const train = u8Split(pool.pixels, pool.labels, CIFAR_PIXELS, trIdx);
  const val = u8Split(pool.pixels, pool.labels, CIFAR_PIXELS, vaIdx);
  const testSplit = u8Split(test.pixels, test.labels, CIFAR_PIXELS);
  let ds: Dataset = {
    name,
    sampleShape: [3, 32, 32],
    numClasses,
    classNames,
    train,
    val,
    test: testSplit,
    classCounts: countClasses(train.y, numClasses),
    meta: {
      seed,
      valSize,
      limit: limit ?? null,
      sizes: { train: train.n, val: val.n, test: testSplit.n },
      pixelScale: '1/255',
      split: 'val = first valSize of Rng(seed).permutation over the training file(s) in file order, train = rest (first `limit`); test = test file in file order',
      transforms: [],
      ...extraMeta,
    },
  };
  if (opts.normalize) ds = applyNormalize(ds, opts.normalize === true ? undefined : opts.normalize);
  ds.meta.loadMs = performance.now() - t0;
  return ds;
}

/** CIFAR-100 from the official binary files: 45k / 5k (seeded) / 10k. */
export function loadCifar100(dir: string, opts: Cifar100Options = {}): Dataset {
  const t0 = performance.now();
  const label = opts.label ?? 'fine';
  if (label !== 'fine' && label !== 'coarse') throw new Error(`dataset.label: must be "fine" or "coarse", got ${String(label)}`);
  const d = resolveDir(dir, ['train.bin', 'test.bin'], 'cifar-100-binary', 'CIFAR-100');
  const pool = readCifarBinary(path.join(d, 'train.bin'), { labelBytes: 2, label });
  const test = readCifarBinary(path.join(d, 'test.bin'), { labelBytes: 2, label });
  const C = label === 'fine' ? 100 : 20;
  const names =
    label === 'fine'
      ? readNames(path.join(d, 'fine_label_names.txt'), 100, (i) => `fine_${i}`)
      : readNames(path.join(d, 'coarse_label_names.txt'), 20, (i) => `coarse_${i}`);
  // fine → coarse map observed in the training file (−1 where a fine class is absent)
  const coarseOfFine = new Array<number>(100).fill(-1);
  for (let i = 0; i < pool.n; i++) coarseOfFine[pool.fine![i]] = pool.coarse![i];
  return assemble('cifar100', pool, test, C, names, opts, { dir: d, label, coarseOfFine }, t0);
}

/** CIFAR-10 from the official binary files (data_batch_1..5.bin, test_batch.bin): 45k / 5k / 10k. */
export function loadCifar10(dir: string, opts: CifarOptions = {}): Dataset {
  const t0 = performance.now();
  const trainFiles = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
  const d = resolveDir(dir, [...trainFiles, 'test_batch.bin'], 'cifar-10-batches-bin', 'CIFAR-10');
  const pool = concatRecords(trainFiles.map((f) => readCifarBinary(path.join(d, f), { labelBytes: 1, numClasses: 10 })));
  const test = readCifarBinary(path.join(d, 'test_batch.bin'), { labelBytes: 1, numClasses: 10 });
  const names = readNames(path.join(d, 'batches.meta.txt'), 10, (i) => `class_${i}`);
  return assemble('cifar10', pool, test, 10, names, opts, { dir: d }, t0);
}
