/**
 * Data layer of avgk: plain typed arrays, no dependency on the tensor engine.
 *
 * `loadDataset(spec)` is the registry. Pipeline: load (seeded split) → longTail (optional) →
 * labelNoise (optional) → normalize (optional; statistics from the final training split).
 * Transform seeds default to values derived from the dataset seed
 * (longTail: seed ^ 0x10a7a11, labelNoise: seed ^ 0x4e015e).
 */
import { AvgkError, DataError, UsageError } from '../errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { generateSynthetic, SYNTHETIC_DEFAULTS, SYNTHETIC_EXTRA_KEYS, type SyntheticOptions } from './synthetic.js';
import { applyBlockLabelNoise, applyLongTail, applyNormalize, type TransformSplits } from './transforms.js';
import type { Dataset } from './types.js';

export * from './types.js';
export * from './rng.js';
export * from './cache.js';
export * from './split.js';
export * from './mnist.js';
export * from './cifar.js';
export * from './idx.js';
export * from './synthetic.js';
export * from './transforms.js';

export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar100', 'cifar10', 'synthetic'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** See transforms.LabelNoiseOptions. */
export interface LabelNoiseSpec {
  p: number;
  /** default 5; not with `blocks` */
  blockSize?: number;
  /** explicit disjoint class groups instead of consecutive blocks */
  blocks?: number[][];
  /** default 'train' */
  splits?: TransformSplits;
  seed?: number;
}
/** See transforms.LongTailOptions. */
export interface LongTailSpec {
  alpha: number;
  seed?: number;
  nMax?: number;
  /** default 'train' */
  splits?: TransformSplits;
}
interface CommonSpec {
  seed?: number;
  normalize?: boolean;
  labelNoise?: LabelNoiseSpec;
  longTail?: LongTailSpec;
}
interface ImageSpec extends CommonSpec {
  valSize?: number;
  limit?: number;
}

export type DatasetSpec =
  | ({ name: 'fashion-mnist' | 'mnist'; cacheDir?: string; sourceDir?: string; rebuildCache?: boolean } & ImageSpec)
  | ({ name: 'cifar100'; dir: string; label?: 'fine' | 'coarse' } & ImageSpec)
  | ({ name: 'cifar10'; dir: string } & ImageSpec)
  | ({ name: 'synthetic' } & Partial<SyntheticOptions> & CommonSpec);

const COMMON_KEYS = ['name', 'seed', 'normalize', 'labelNoise', 'longTail'];
const IMAGE_KEYS = [...COMMON_KEYS, 'valSize', 'limit'];
const ALLOWED: Record<DatasetName, string[]> = {
  'fashion-mnist': [...IMAGE_KEYS, 'cacheDir', 'sourceDir', 'rebuildCache'],
  mnist: [...IMAGE_KEYS, 'cacheDir', 'sourceDir', 'rebuildCache'],
  cifar100: [...IMAGE_KEYS, 'dir', 'label'],
  cifar10: [...IMAGE_KEYS, 'dir'],
  synthetic: [...COMMON_KEYS, ...Object.keys(SYNTHETIC_DEFAULTS), 'image', ...SYNTHETIC_EXTRA_KEYS],
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: string[], prefix: string, what: string): void {
  for (const k of Object.keys(obj)) {
    if (obj[k] === undefined) continue;
    if (!allowed.includes(k)) throw new Error(`${prefix}${k}: unknown option for ${what} (allowed: ${allowed.join(', ')})`);
  }
}

function checkOptInt(obj: Record<string, unknown>, key: string, prefix: string, lo: number): void {
  const v = obj[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo) throw new Error(`${prefix}${key}: must be an integer ≥ ${lo}, got ${JSON.stringify(v)}`);
}

/** Validates a spec (throws an Error naming the offending field) and returns it typed. */
export function validateDatasetSpec(spec: unknown): DatasetSpec {
  if (!isObj(spec)) throw new Error(`dataset: expected an object with a "name" field, got ${JSON.stringify(spec)}`);
  const name = spec.name;
  if (typeof name !== 'string' || !(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new Error(`dataset.name: unknown dataset ${JSON.stringify(name)} (expected ${DATASET_NAMES.join(', ')})`);
  }
  const dn = name as DatasetName;
  checkKeys(spec, ALLOWED[dn], 'dataset.', `"${dn}"`);
  if (spec.seed !== undefined && (typeof spec.seed !== 'number' || !Number.isInteger(spec.seed))) {
    throw new Error(`dataset.seed: must be an integer, got ${JSON.stringify(spec.seed)}`);
  }
  if (spec.normalize !== undefined && typeof spec.normalize !== 'boolean') {
    throw new Error(`dataset.normalize: must be a boolean, got ${JSON.stringify(spec.normalize)}`);
  }
  if (dn !== 'synthetic') {
    checkOptInt(spec, 'valSize', 'dataset.', 0);
    checkOptInt(spec, 'limit', 'dataset.', 1);
  }
  if (dn === 'cifar100' || dn === 'cifar10') {
    if (typeof spec.dir !== 'string' || spec.dir.length === 0) throw new Error(`dataset.dir: ${dn} needs the directory of the binary files, got ${JSON.stringify(spec.dir)}`);
  }
  if (dn === 'cifar100' && spec.label !== undefined && spec.label !== 'fine' && spec.label !== 'coarse') {
    throw new Error(`dataset.label: must be "fine" or "coarse", got ${JSON.stringify(spec.label)}`);
  }
  for (const k of ['cacheDir', 'sourceDir'] as const) {
    if (spec[k] !== undefined && typeof spec[k] !== 'string') throw new Error(`dataset.${k}: must be a string path, got ${JSON.stringify(spec[k])}`);
  }
  if (spec.rebuildCache !== undefined && typeof spec.rebuildCache !== 'boolean') {
    throw new Error(`dataset.rebuildCache: must be a boolean, got ${JSON.stringify(spec.rebuildCache)}`);
  }
  if (spec.labelNoise !== undefined) {
    const ln = spec.labelNoise;
    if (!isObj(ln)) throw new Error(`dataset.labelNoise: must be an object {p, blockSize?, blocks?, splits?, seed?}, got ${JSON.stringify(ln)}`);
    checkKeys(ln, ['p', 'blockSize', 'blocks', 'splits', 'seed'], 'dataset.labelNoise.', 'labelNoise');
    if (typeof ln.p !== 'number' || !(ln.p >= 0 && ln.p <= 1)) throw new Error(`dataset.labelNoise.p: must be a number in [0, 1], got ${JSON.stringify(ln.p)}`);
    checkOptInt(ln, 'blockSize', 'dataset.labelNoise.', 1);
    if (ln.blocks !== undefined) checkNoiseBlocks(ln.blocks, ln.blockSize, specNumClasses(spec));
    checkSplitsField(ln.splits, 'dataset.labelNoise.splits');
    if (ln.seed !== undefined && (typeof ln.seed !== 'number' || !Number.isInteger(ln.seed))) throw new Error(`dataset.labelNoise.seed: must be an integer, got ${JSON.stringify(ln.seed)}`);
  }
  if (spec.longTail !== undefined) {
    const lt = spec.longTail;
    if (!isObj(lt)) throw new Error(`dataset.longTail: must be an object {alpha, seed?, nMax?, splits?}, got ${JSON.stringify(lt)}`);
    checkKeys(lt, ['alpha', 'seed', 'nMax', 'splits'], 'dataset.longTail.', 'longTail');
    checkSplitsField(lt.splits, 'dataset.longTail.splits');
    if (typeof lt.alpha !== 'number' || !(lt.alpha >= 0) || !Number.isFinite(lt.alpha)) throw new Error(`dataset.longTail.alpha: must be a finite number ≥ 0, got ${JSON.stringify(lt.alpha)}`);
    checkOptInt(lt, 'nMax', 'dataset.longTail.', 1);
    if (lt.seed !== undefined && (typeof lt.seed !== 'number' || !Number.isInteger(lt.seed))) throw new Error(`dataset.longTail.seed: must be an integer, got ${JSON.stringify(lt.seed)}`);
  }
  return spec as unknown as DatasetSpec;
}

function checkSplitsField(v: unknown, field: string): void {
  if (v !== undefined && v !== 'train' && v !== 'all') throw new Error(`${field}: must be "train" or "all", got ${JSON.stringify(v)}`);
}

/** Number of classes of a validated-so-far spec (synthetic: numClasses or its default). */
function specNumClasses(spec: Record<string, unknown>): number {
  switch (spec.name) {
    case 'cifar100':
      return spec.label === 'coarse' ? 20 : 100;
    case 'synthetic':
      return typeof spec.numClasses === 'number' ? spec.numClasses : SYNTHETIC_DEFAULTS.numClasses;
    default:
      return 10;
  }
}

function checkNoiseBlocks(blocks: unknown, blockSize: unknown, C: number): void {
  const field = 'dataset.labelNoise.blocks';
  if (blockSize !== undefined) throw new Error(`dataset.labelNoise.blockSize: not used with blocks (give one of them), got ${JSON.stringify(blockSize)}`);
  const shape = `must be a non-empty array of disjoint class lists, each of ≥ 2 integers in [0, ${C - 1}]`;
  if (!Array.isArray(blocks) || blocks.length === 0) throw new Error(`${field}: ${shape}, got ${JSON.stringify(blocks)}`);
  const seen = new Set<number>();
  for (const b of blocks) {
    if (!Array.isArray(b) || b.length < 2) throw new Error(`${field}: ${shape}, got ${JSON.stringify(blocks)}`);
    for (const c of b) {
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= C || seen.has(c)) throw new Error(`${field}: ${shape}, got ${JSON.stringify(blocks)}`);
      seen.add(c);
    }
  }
}

/** Loads a dataset from a spec; see the module comment for the pipeline. */
export function loadDataset(specIn: DatasetSpec | Record<string, unknown>): Dataset {
  let spec: DatasetSpec;
  try {
    spec = validateDatasetSpec(specIn);
  } catch (e) {
    throw e instanceof AvgkError ? e : new UsageError((e as Error).message, { cause: e });
  }
  try {
    return loadValidated(spec, specIn);
  } catch (e) {
    // files missing or corrupt, impossible transforms: data problems (code ERR_AVGK_DATA)
    throw e instanceof AvgkError ? e : new DataError((e as Error).message, { cause: e });
  }
}

function loadValidated(spec: DatasetSpec, specIn: DatasetSpec | Record<string, unknown>): Dataset {
  const seed = spec.seed ?? 0;
  let ds: Dataset;
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist': {
      const opts = { seed, valSize: spec.valSize, limit: spec.limit, cacheDir: spec.cacheDir, sourceDir: spec.sourceDir, rebuildCache: spec.rebuildCache };
      ds = spec.name === 'mnist' ? loadMnist(opts) : loadFashionMnist(opts);
      break;
    }
    case 'cifar100':
      ds = loadCifar100(spec.dir, { seed, valSize: spec.valSize, limit: spec.limit, label: spec.label });
      break;
    case 'cifar10':
      ds = loadCifar10(spec.dir, { seed, valSize: spec.valSize, limit: spec.limit });
      break;
    case 'synthetic': {
      const { name: _n, normalize: _z, labelNoise: _l, longTail: _t, ...rest } = spec;
      ds = generateSynthetic({ ...rest, seed });
      break;
    }
  }
  if (spec.longTail) ds = applyLongTail(ds, { alpha: spec.longTail.alpha, nMax: spec.longTail.nMax, splits: spec.longTail.splits, seed: spec.longTail.seed ?? (seed ^ 0x10a7a11) });
  if (spec.labelNoise) {
    const ln = spec.labelNoise;
    ds = applyBlockLabelNoise(ds, { p: ln.p, blockSize: ln.blockSize ?? 5, blocks: ln.blocks, splits: ln.splits, seed: ln.seed ?? (seed ^ 0x4e015e) });
  }
  if (spec.normalize) ds = applyNormalize(ds);
  ds.meta.spec = JSON.parse(JSON.stringify(specIn)) as unknown;
  return ds;
}
