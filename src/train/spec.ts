/**
 * RunSpec: everything that defines one training run (dataset, model, method and its options, K
 * values, optimiser, schedule, epochs, batch size, seed) plus where it runs (device, threads).
 * `avgk train` builds one from its flags, `avgk compare` a grid of them from its config, and
 * checkpoints store the one they were trained from; the pipeline (./pipeline.ts) turns a RunSpec
 * into a trained, calibrated and evaluated model the same way whichever command asked.
 */
import { methodDef, METHOD_NAMES, type MethodName } from '../avgk/methods/index.js';
import { ConfigError, validateCompareConfig, type CompareConfig, type MethodConfig, type OptimizerConfig, type ScheduleConfig, type ValidateOptions } from './config.js';
import type { ModelSpec } from '../avgk/model.js';
import type { DatasetSpec } from '../data/index.js';

export interface RunSpec {
  dataset: DatasetSpec;
  model: ModelSpec;
  /** The method, its options with defaults filled in, and its label in results. */
  method: MethodConfig;
  /**
   * K values evaluated (and averaged for model selection on validation). A K-dependent method
   * trains for the first.
   */
  ks: number[];
  seed: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  augment: boolean;
  evalBatchSize?: number;
  /** Where it runs; not part of what the run computes (a checkpoint resumes on any device). */
  device?: 'cpu' | 'cuda';
  threads?: number;
}

/** The K a run's method trains for: its first K (K-independent methods ignore it). */
export function trainK(spec: RunSpec): number {
  return spec.ks[0]!;
}

/**
 * The runs of a compare config, seed-major (a partial run holds complete seeds first): one per
 * seed for a K-independent method (calibrated at every K), one per (K, seed) otherwise.
 */
export function cellSpecs(config: CompareConfig): RunSpec[] {
  const out: RunSpec[] = [];
  const base = {
    dataset: config.dataset, model: config.model, epochs: config.epochs, batchSize: config.batchSize,
    optimizer: config.optimizer, schedule: config.schedule, augment: config.augment ?? false,
    ...(config.evalBatchSize !== undefined ? { evalBatchSize: config.evalBatchSize } : {}),
    ...(config.device !== undefined ? { device: config.device } : {}),
    ...(config.threads !== undefined ? { threads: config.threads } : {}),
  };
  for (const seed of config.seeds) {
    for (const m of config.methods) {
      const run = { ...base, optimizer: m.optimizer ?? config.optimizer, method: m, seed };
      if (methodDef(m.name).kIndependent) out.push({ ...run, ks: [...config.ks] });
      else for (const k of config.ks) out.push({ ...run, ks: [k] });
    }
  }
  return out;
}

/** The one-cell compare config that runs `spec` (for `avgk compare` and config validation). */
export function specToConfig(spec: RunSpec): CompareConfig {
  const c: CompareConfig = {
    dataset: spec.dataset, methods: [{ name: spec.method.name, options: spec.method.options, label: spec.method.label }], ks: [...spec.ks], seeds: [spec.seed], model: spec.model,
    epochs: spec.epochs, batchSize: spec.batchSize, optimizer: spec.optimizer, schedule: spec.schedule, augment: spec.augment,
  };
  if (spec.evalBatchSize !== undefined) c.evalBatchSize = spec.evalBatchSize;
  if (spec.device !== undefined) c.device = spec.device;
  if (spec.threads !== undefined) c.threads = spec.threads;
  return c;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Dataset fields that are file-system locations: a checkpoint's are ignored (see storedRunSpec). */
export const DATASET_LOCATION_KEYS = ['dir', 'cacheDir', 'sourceDir', 'rebuildCache'] as const;

/** The compare config that validates `spec` (train writes Adam's momentum fields too; Adam has none). */
function configForValidation(spec: RunSpec): CompareConfig {
  const c = specToConfig(spec);
  if (c.optimizer?.name === 'adam') {
    const { momentum: _m, nesterov: _n, ...rest } = c.optimizer as unknown as Record<string, unknown>;
    c.optimizer = rest as unknown as OptimizerConfig;
  }
  return c;
}

/**
 * Validates a RunSpec as `avgk compare` validates its config (types, ranges, float32 limits,
 * sizes and the memory estimate); throws a ConfigError naming the field, e.g.
 * "config.optimizer.lr: ...". `memoryBudget` as in validateCompareConfig.
 */
export function validateRunSpec(spec: RunSpec, options: ValidateOptions = {}): void {
  try {
    validateCompareConfig(configForValidation(spec), options);
  } catch (e) {
    // a RunSpec has one seed and one method where a compare config has lists
    if (e instanceof ConfigError) throw new ConfigError(e.message.replace(/^config\.seeds\[0\]/, 'config.seed').replace(/^config\.methods\[0\]/, 'config.method'), { cause: e });
    throw e;
  }
}

/**
 * The RunSpec stored in a checkpoint's meta, validated (validateRunSpec); throws a ConfigError
 * naming the field. A checkpoint is data, not instructions: the dataset's file-system locations
 * (DATASET_LOCATION_KEYS) are dropped, so data are found from the command line and the
 * environment, never from paths a checkpoint names. Checkpoints of earlier versions stored a
 * flat configuration ({method: "two-head", trainK, mu, schedule: "cosine", ...}): it is converted.
 */
export function storedRunSpec(v: unknown, options: ValidateOptions = {}): RunSpec {
  const bad = (field: string, msg: string): never => {
    throw new ConfigError(`${field}: ${msg}`);
  };
  if (!isObj(v)) return bad('config', 'is not an object');
  const c = v;
  if (!isObj(c.dataset)) bad('config.dataset', 'is not an object');
  let method = c.method;
  let schedule = c.schedule;
  if (typeof method === 'string') {
    // the earlier flat form
    if (!(METHOD_NAMES as readonly string[]).includes(method)) bad('config.method', `unknown method ${JSON.stringify(method)}`);
    const options: Record<string, unknown> = {};
    if (method === 'two-head' && c.mu !== undefined) options.mu = c.mu;
    method = { name: method, options, label: method };
  }
  if (typeof schedule === 'string') schedule = { name: schedule };
  if (!isObj(method)) return bad('config.method', 'is not an object');
  if (method.options !== undefined && !isObj(method.options)) bad('config.method.options', 'is not an object');
  const dataset = { ...(c.dataset as Record<string, unknown>) };
  for (const k of DATASET_LOCATION_KEYS) delete dataset[k];
  const spec: RunSpec = {
    dataset: dataset as unknown as RunSpec['dataset'],
    model: c.model as RunSpec['model'],
    method: { name: method.name as MethodName, options: (method.options ?? {}) as Record<string, number | string>, label: typeof method.label === 'string' ? method.label : (method.name as string) },
    ks: c.ks as number[],
    seed: c.seed as number,
    epochs: c.epochs as number,
    batchSize: c.batchSize as number,
    optimizer: c.optimizer as RunSpec['optimizer'],
    schedule: schedule as RunSpec['schedule'],
    augment: c.augment ?? false,
  } as RunSpec;
  if (c.evalBatchSize !== undefined) spec.evalBatchSize = c.evalBatchSize as number;
  // cifar's data directory comes from the command line or the environment when the data are loaded
  const forCheck = spec.dataset.name === 'cifar10' || spec.dataset.name === 'cifar100' ? { ...spec, dataset: { ...spec.dataset, dir: '.' } } : spec;
  validateRunSpec(forCheck as RunSpec, options);
  return spec;
}

/** storedRunSpec, or null when the stored configuration does not validate. */
export function runSpecFromCheckpoint(v: unknown): RunSpec | null {
  try {
    return storedRunSpec(v);
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
}
