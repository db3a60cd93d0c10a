/**
 * RunSpec: everything that defines one training run (dataset, model, method and its options, K
 * values, optimiser, schedule, epochs, batch size, seed) plus where it runs (device, threads).
 * `avgk train` builds one from its flags, `avgk compare` a grid of them from its config, and
 * checkpoints store the one they were trained from; the pipeline (./pipeline.ts) turns a RunSpec
 * into a trained, calibrated and evaluated model the same way whichever command asked.
 */
import { methodDef, METHOD_NAMES, type MethodName } from '../avgk/methods/index.js';
import { MODEL_NAMES } from '../avgk/model.js';
import type { CompareConfig, MethodConfig, OptimizerConfig, ScheduleConfig } from './config.js';
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

/**
 * The RunSpec stored in a checkpoint, or null when malformed. Checkpoints of earlier versions
 * stored a flat configuration ({method: "two-head", trainK, mu, schedule: "cosine", ...}): it is
 * converted.
 */
export function runSpecFromCheckpoint(v: unknown): RunSpec | null {
  if (!isObj(v)) return null;
  const c = v;
  const ok =
    isObj(c.dataset) && Array.isArray(c.ks) && c.ks.length > 0 && c.ks.every((k) => typeof k === 'number') &&
    isObj(c.model) && (MODEL_NAMES as readonly string[]).includes(c.model.name as string) &&
    isObj(c.optimizer) && typeof c.epochs === 'number' && typeof c.batchSize === 'number' && typeof c.seed === 'number';
  if (!ok) return null;
  let method = c.method;
  let schedule = c.schedule;
  if (typeof method === 'string') {
    // the earlier flat form
    if (!(METHOD_NAMES as readonly string[]).includes(method)) return null;
    const options: Record<string, number> = {};
    if (method === 'two-head' && typeof c.mu === 'number') options.mu = c.mu;
    method = { name: method, options, label: method };
  }
  if (typeof schedule === 'string') schedule = { name: schedule };
  if (!isObj(method) || !(METHOD_NAMES as readonly string[]).includes(method.name as string) || !isObj(method.options)) return null;
  if (!isObj(schedule) || !['cosine', 'step', 'constant'].includes(schedule.name as string)) return null;
  const spec: RunSpec = {
    dataset: c.dataset as unknown as RunSpec['dataset'],
    model: c.model as unknown as RunSpec['model'],
    method: { name: method.name as MethodName, options: method.options as Record<string, number | string>, label: typeof method.label === 'string' ? method.label : (method.name as string) },
    ks: c.ks as number[],
    seed: c.seed as number,
    epochs: c.epochs as number,
    batchSize: c.batchSize as number,
    optimizer: c.optimizer as unknown as RunSpec['optimizer'],
    schedule: schedule as unknown as RunSpec['schedule'],
    augment: c.augment === true,
  };
  if (typeof c.evalBatchSize === 'number') spec.evalBatchSize = c.evalBatchSize;
  return spec;
}

