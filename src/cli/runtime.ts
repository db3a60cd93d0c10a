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
import { buildRun, type RunObjects } from '../train/pipeline.js';
import type { RunSpec } from '../train/spec.js';
import type { Calibration } from '../avgk/calibrate.js';
import { SGD, Adam, type Optimizer } from '../optim/optimizer.js';
import { CosineSchedule, ConstantSchedule, type Schedule } from '../optim/schedule.js';
import { scoreSplit, calibrateAll, evaluateScores, type SplitEvaluation } from '../train/evaluate.js';
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
import { runSpecFromCheckpoint as runSpecOf } from '../train/spec.js';

/** Validate the dataset spec without loading it (errors name the field). */
export function checkDatasetSpec(ctx: CliContext, spec: Record<string, unknown>): void {
  try {
    validateDatasetSpec(spec);
  } catch (e) {
    throw ctx.usageError((e as Error).message, e);
  }
}

/** Load a dataset; any failure (missing files, bad options) is a usage error. */
export function loadDatasetCli(ctx: CliContext, spec: RunSpec['dataset'] | Record<string, unknown>): Dataset {
  const t0 = performance.now();
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
  const spec = runSpecOf(ckpt.meta.config);
  if (!spec) throw ctx.usageError(`checkpoint ${file}: corrupt metadata: the run configuration is malformed`);
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

/** Scores of a split for the method's head and (when meaningful) the softmax head. */
export interface SplitScores {
  method: Float32Array;
  softmax: Float32Array | null;
}

export function scoreHeads(model: TwoHeadModel, method: AvgKMethod, split: Split, ds: Dataset): SplitScores {
  const m = scoreSplit(model, method, split, ds.sampleShape);
  const s = hasSoftmaxBaseline(method) ? scoreSplit(model, { scoreHead: 'softmax' }, split, ds.sampleShape) : null;
  return { method: m, softmax: s };
}

/** Calibrations per head for the K values: stored ones when available for (head, K), else fitted on validation. */
export function calibrationsFor(
  ks: readonly number[],
  numClasses: number,
  seed: number,
  stored: Record<string, Calibration[]> | undefined,
  valScores: () => SplitScores,
): Record<HeadKey, Calibration[] | null> {
  let val: SplitScores | null = null;
  const getVal = (): SplitScores => (val ??= valScores());
  const out: Record<HeadKey, Calibration[] | null> = { method: null, softmax: null };
  for (const head of ['method', 'softmax'] as const) {
    const cals: Calibration[] = [];
    for (const k of ks) {
      const s = stored?.[head]?.find((c) => c.k === k);
      if (s) {
        cals.push(s);
        continue;
      }
      const scores = getVal()[head];
      if (scores === null) break;
      cals.push(calibrateAll(scores, numClasses, [k], seed)[0]);
    }
    out[head] = cals.length === ks.length ? cals : null;
  }
  return out;
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

/** Evaluate the calibrated sets of each head on a split. */
export function evaluateSplit(
  ds: Dataset,
  splitName: SplitName,
  scores: SplitScores,
  cals: Record<HeadKey, Calibration[] | null>,
  method: AvgKMethod,
): EvaluationResult {
  const split = ds[splitName];
  const rows: ResultRow[] = [];
  const details: EvaluationResult['details'] = [];
  const posterior = ds.posterior?.[splitName];
  const ks = (cals.method ?? []).map((c) => c.k);
  const bayes = posterior ? ks.map((k) => ({ k, avgKAccuracy: bayesAverageK(posterior, split.n, ds.numClasses, k) })) : null;
  for (let i = 0; i < ks.length; i++) {
    for (const head of ['method', 'softmax'] as const) {
      const cal = cals[head]?.[i];
      const sc = scores[head];
      if (!cal || !sc) continue;
      const e = evaluateScores(sc, split.y, ds.numClasses, cal, ds.classCounts);
      const label = head === 'method' ? methodLabel(method) : BASELINE_LABEL;
      rows.push({ k: cal.k, method: label, avgKAccuracy: e.avgKAccuracy, macroAvgKAccuracy: e.macroAvgKAccuracy, meanSetSize: e.meanSetSize, topKAccuracy: e.topKAccuracy });
      details.push({ head, label, eval: e, sizes: null });
    }
    if (bayes) rows.push({ k: ks[i], method: BAYES_LABEL, avgKAccuracy: bayes[i].avgKAccuracy, macroAvgKAccuracy: null, meanSetSize: ks[i], topKAccuracy: null });
  }
  return { split: splitName, n: split.n, rows, details, bayes };
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
