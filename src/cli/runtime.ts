/**
 * Shared pieces of the CLI commands: the run configuration stored in checkpoints, building the
 * model / method / optimiser from it, loading datasets and checkpoints with one-line errors, and
 * evaluating a model on a split (the method's head and, for two-head, the softmax-threshold
 * baseline of the same model).
 */
import { existsSync, statSync } from 'node:fs';
import { loadDataset, validateDatasetSpec, type Dataset, type Split, type SplitName } from '../data/index.js';
import { Rng } from '../data/rng.js';
import { manualSeed } from '../tensor/random.js';
import { buildModel, MODEL_NAMES, type ModelName, type TwoHeadModel } from '../avgk/model.js';
import { METHOD_NAMES, methodDef, type AvgKMethod, type MethodName } from '../avgk/losses.js';
import { buildRun, evaluateRun, type RunObjects } from '../train/pipeline.js';
import type { RunSpec } from '../train/spec.js';
import type { Calibration } from '../avgk/calibrate.js';
import { SGD, Adam, type Optimizer } from '../optim/optimizer.js';
import { CosineSchedule, ConstantSchedule, type Schedule } from '../optim/schedule.js';
import type { SplitEvaluation } from '../train/evaluate.js';
import { bayesAverageK } from '../data/synthetic.js';
import { readTrainingCheckpoint, type TrainingCheckpoint } from '../train/checkpointing.js';
import type { CliContext } from './context.js';

export const OPTIMIZER_NAMES = ['sgd', 'adam'] as const;
export const SCHEDULE_NAMES = ['cosine', 'constant'] as const;

/** What checkpoints store as `config`: the RunSpec of the run (device and threads left out). */
export type RunConfig = RunSpec;

export const TRAIN_DEFAULTS = {
  dataset: 'fashion-mnist',
  method: 'two-head' as MethodName,
  ks: [2],
  model: 'mlp' as ModelName,
  optimizer: 'sgd' as const,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 1e-4,
  schedule: 'cosine' as const,
  epochs: 5,
  batchSize: 128,
  seed: 0,
};

export { runSpecFromCheckpoint as runSpecOf } from '../train/spec.js';
import { storedRunSpec, validateRunSpec } from '../train/spec.js';

/** The environment variable naming the directory of the CIFAR binary files for runs read from checkpoints. */
export const DATA_DIR_ENV = 'AVGK_DATA_DIR';

/** `avgk train`'s flag for each RunSpec field, to name it in errors. */
const TRAIN_FLAGS: [RegExp, string][] = [
  [/^config\.optimizer\.lr\b/, '--lr'],
  [/^config\.optimizer\.weightDecay\b/, '--weight-decay'],
  [/^config\.optimizer\.momentum\b/, '--momentum'],
  [/^config\.model\.hidden(\[\d+\])?/, '--hidden'],
  [/^config\.model\b/, '--model'],
  [/^config\.batchSize\b/, '--batch-size'],
  [/^config\.epochs\b/, '--epochs'],
  [/^config\.seed\b/, '--seed'],
  [/^config\.ks(\[\d+\])?/, '--k'],
  // dataset fields as checkDatasetSpec names them (set by --dataset-config, --limit, --val-size)
  [/^config\.dataset\b/, 'dataset'],
];

/**
 * Validate the run configuration built from `avgk train`'s flags before anything is loaded or
 * written (ranges, float32 limits, sizes, the memory estimate); errors name the flag.
 */
export function checkRunConfig(ctx: CliContext, spec: RunSpec): void {
  try {
    validateRunSpec(spec);
  } catch (e) {
    let msg = (e as Error).message;
    for (const [re, flag] of TRAIN_FLAGS) {
      if (re.test(msg)) {
        msg = msg.replace(re, flag);
        break;
      }
    }
    throw ctx.usageError(msg, e);
  }
}

/** Validate the dataset spec without loading it (errors name the field). */
export function checkDatasetSpec(ctx: CliContext, spec: Record<string, unknown>): void {
  try {
    validateDatasetSpec(spec);
  } catch (e) {
    throw ctx.usageError((e as Error).message, e);
  }
}

/** Load a dataset; any failure (missing files, bad options) is a usage error. */
export function loadDatasetCli(ctx: CliContext, specIn: RunSpec['dataset'] | Record<string, unknown>): Dataset {
  const t0 = performance.now();
  let spec = specIn as Record<string, unknown>;
  if ((spec.name === 'cifar10' || spec.name === 'cifar100') && spec.dir === undefined) {
    // a run read from a checkpoint: the data's location comes from the environment
    const dir = (ctx.io.env ?? process.env)[DATA_DIR_ENV];
    if (!dir) throw ctx.usageError(`dataset ${String(spec.name)}: set ${DATA_DIR_ENV}=DIR to the directory of the CIFAR binary files (a checkpoint does not say where the data are)`);
    spec = { ...spec, dir: ctx.resolvePath(dir) };
  }
  let ds: Dataset;
  try {
    ds = loadDataset(spec as Record<string, unknown>);
  } catch (e) {
    throw ctx.usageError(`cannot load dataset "${String(spec.name)}": ${(e as Error).message}`, e);
  }
  ctx.debug(`loaded ${ds.name}: train ${ds.train.n}, val ${ds.val.n}, test ${ds.test.n}, ${ds.numClasses} classes (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return ds;
}

/** Load and validate a training checkpoint; problems are usage errors (exit 2). */
export async function loadCheckpointCli(ctx: CliContext, file: string): Promise<TrainingCheckpoint & { config: RunConfig }> {
  const path = ctx.resolvePath(file);
  if (!existsSync(path)) throw ctx.usageError(`checkpoint ${file}: no such file`);
  if (statSync(path).isDirectory()) {
    throw ctx.usageError(`checkpoint ${file}: is a directory${existsSync(`${path}/checkpoint.safetensors`) ? ` (did you mean ${file.replace(/\/$/, '')}/checkpoint.safetensors?)` : ''}`);
  }
  let ckpt: TrainingCheckpoint;
  try {
    ckpt = await readTrainingCheckpoint(path);
  } catch (e) {
    throw ctx.usageError((e as Error).message.replace(path, file), e);
  }
  let spec: RunSpec;
  try {
    spec = storedRunSpec(ckpt.meta.config);
  } catch (e) {
    throw ctx.usageError(`checkpoint ${file}: ${(e as Error).message}`, e);
  }
  return Object.assign(ckpt, { config: spec });
}

/** buildRun of the pipeline; a configuration it rejects is a usage error. */
export function buildRunCli(ctx: CliContext, spec: RunSpec, ds: Dataset): RunObjects {
  try {
    return buildRun(spec, ds);
  } catch (e) {
    throw ctx.usageError(`invalid configuration: ${(e as Error).message}`, e);
  }
}

/** Whether the method reports its model's softmax head as a baseline (the registry's extraHeads). */
export function hasSoftmaxBaseline(method: Pick<AvgKMethod, 'name'>): boolean {
  return methodDef(method.name).extraHeads.includes('softmax');
}

/** The method's row label in results: which head its sets threshold. */
export function methodLabel(method: Pick<AvgKMethod, 'name'> | string): string {
  const name = typeof method === 'string' ? method : method.name;
  const def = methodDef(name);
  return def.scoreHead === 'softmax' ? 'softmax threshold' : `${name} (multi-label head)`;
}
export const BASELINE_LABEL = 'softmax threshold (same model)';
export const BAYES_LABEL = 'Bayes optimum';

export type HeadKey = 'method' | 'softmax';

/** Scores of a split for the method's head and (when the registry reports it) the softmax head. */
export interface SplitScores {
  method: Float32Array;
  softmax: Float32Array | null;
}

export interface ResultRow {
  k: number;
  method: string;
  avgKAccuracy: number;
  macroAvgKAccuracy: number | null;
  meanSetSize: number | null;
  topKAccuracy: number | null;
}

export interface EvaluationResult {
  split: SplitName;
  n: number;
  rows: ResultRow[];
  /** Full evaluation per head and K (per-class accuracy, set-size histogram...). */
  details: { head: HeadKey; label: string; eval: SplitEvaluation; sizes: Int32Array | null }[];
  bayes: { k: number; avgKAccuracy: number }[] | null;
}

export interface EvaluatedRun {
  result: EvaluationResult;
  /** The calibrations used, per head (softmax: null when the method reports no softmax head). */
  calibrations: Record<HeadKey, Calibration[] | null>;
  /** Scores of the evaluated split, and of validation when it was scored. */
  scores: SplitScores;
  val: SplitScores | null;
}

/**
 * The pipeline's evaluateRun for one split at the K values `ks`, as the CLI reports it: one row per
 * (K, head) with the row labels, plus the Bayes optimum when the posterior is known. Calibrations
 * stored per head ({method, softmax}, e.g. a checkpoint's) are used where they cover every K.
 */
export function evaluateForCli(
  model: TwoHeadModel, method: AvgKMethod, spec: RunSpec, ds: Dataset, splitName: SplitName,
  opts: { ks?: number[]; stored?: Record<string, Calibration[]>; valScores?: boolean } = {},
): EvaluatedRun {
  const ks = opts.ks ?? spec.ks;
  const heads = evaluateRun(model, method, { ...spec, ks }, ds, {
    splits: [splitName],
    calibrations: { primary: opts.stored?.method, extra: opts.stored?.softmax },
    classCounts: true,
    valMetrics: opts.valScores ?? false,
  });
  const split = ds[splitName];
  const posterior = ds.posterior?.[splitName];
  const bayes = posterior ? ks.map((k) => ({ k, avgKAccuracy: bayesAverageK(posterior, split.n, ds.numClasses, k) })) : null;
  const rows: ResultRow[] = [];
  const details: EvaluationResult['details'] = [];
  ks.forEach((k, i) => {
    for (const h of heads) {
      const e = h.splits[splitName]![i]!;
      const label = h.primary ? methodLabel(method) : BASELINE_LABEL;
      rows.push({ k, method: label, avgKAccuracy: e.avgKAccuracy, macroAvgKAccuracy: e.macroAvgKAccuracy, meanSetSize: e.meanSetSize, topKAccuracy: e.topKAccuracy });
      details.push({ head: h.primary ? 'method' : 'softmax', label, eval: e, sizes: null });
    }
    if (bayes) rows.push({ k, method: BAYES_LABEL, avgKAccuracy: bayes[i]!.avgKAccuracy, macroAvgKAccuracy: null, meanSetSize: k, topKAccuracy: null });
  });
  const primary = heads.find((h) => h.primary)!;
  const extra = heads.find((h) => !h.primary) ?? null;
  const scoresOf = (which: SplitName | 'val'): SplitScores | null => {
    const m = primary.scores[which];
    return m ? { method: m, softmax: extra?.scores[which] ?? null } : null;
  };
  return {
    result: { split: splitName, n: split.n, rows, details, bayes },
    calibrations: { method: primary.calibrations, softmax: extra ? extra.calibrations : null },
    scores: scoresOf(splitName)!,
    val: scoresOf('val'),
  };
}

function fmt(v: number | null, digits = 4): string {
  if (v === null || Number.isNaN(v)) return '—';
  return v.toFixed(digits);
}

/** A plain-text table, columns aligned (numbers right-aligned). */
export function formatTable(columns: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = columns.map((c, j) => Math.max(c.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]): string =>
    cells.map((c, j) => (rightAlign[j] ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The results table (micro / macro average-K accuracy, mean set size, top-K for integer K). */
export function formatResults(result: EvaluationResult): string {
  const columns = ['K', 'method', 'avg-K acc', 'macro acc', 'mean size', 'top-K acc'];
  const rows = result.rows.map((r) => [String(r.k), r.method, fmt(r.avgKAccuracy), fmt(r.macroAvgKAccuracy), fmt(r.meanSetSize, 3), fmt(r.topKAccuracy)]);
  return formatTable(columns, rows, [true, false, true, true, true, true]);
}

/** JSON-friendly form of the results (for --json and summaries). */
export function resultsJson(result: EvaluationResult): Record<string, unknown> {
  return {
    split: result.split,
    n: result.n,
    rows: result.rows.map((r) => ({ ...r })),
  };
}
