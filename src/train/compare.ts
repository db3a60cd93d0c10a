/**
 * The experiment runner behind `avgk compare`: every (method, K, seed) cell of a config on one
 * dataset, with the protocol of docs/method.md:
 *  - K-independent methods (see the registry, src/avgk/methods) train ONE model per seed; model
 *    selection on validation uses the mean validation average-K accuracy over all K of the config,
 *    and every K is calibrated on validation from that one model;
 *  - K-dependent methods train one model per (K, seed), selected on validation at that K;
 *  - each cell is a RunSpec (./spec.ts) run through the pipeline (./pipeline.ts), the same path as
 *    `avgk train`;
 *  - every model: manualSeed(seed) before it is built (so the models of one seed start from the
 *    same weights), fit() keeps the best epoch by validation, the test sets use the validation
 *    threshold of that model; the test split is never used for any choice.
 * The dataset (its split included) is fixed by config.dataset (its own seed); the run seeds vary
 * the initialisation, the shuffling and ROLE's label-estimate initialisation.
 *
 * Output (each file written atomically, rewritten after every trained cell so an interrupted run
 * keeps what it finished): results.json (an array of records, see CompareRecord / BayesRecord),
 * results.md (a table per K: mean ± std over seeds on test), run.json (config, dataset, backend,
 * timings) and, at the end, report.html (+ summary.json / summary.md) via src/report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompareConfig, MethodConfig } from './config.js';
import { isLongTailed } from './config.js';
import { fitAsync } from './fit.js';
import { evaluateScores, type SplitEvaluation } from './evaluate.js';
import { pairedDifference, type PairedDifference } from './stats.js';
import { buildRun, evaluateRun, fitOptions, weightsHash } from './pipeline.js';
import { cellSpecs, type RunSpec } from './spec.js';
import { methodDef, type AvgKMethod, type MethodName } from '../avgk/losses.js';
import { calibrateThreshold, type Calibration } from '../avgk/calibrate.js';
import { loadDataset } from '../data/index.js';
import { bayesAverageK, bayesTopK } from '../data/synthetic.js';
import type { Dataset } from '../data/types.js';
import { backendName, setNumThreads, getNumThreads } from '../backend/index.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { DivergenceError } from '../errors.js';

/** One trained (method, K, seed) cell, evaluated on the TEST split with the validation calibration. */
export interface CompareRecord {
  /** The method's label in the config (its name unless given or repeated). */
  method: string;
  /** The loss (createMethod name). */
  baseMethod: MethodName;
  /** Which head's scores were thresholded ('softmax' for the extra "(softmax head)" rows of two-head). */
  head: 'softmax' | 'multilabel';
  options: Record<string, unknown>;
  k: number;
  seed: number;
  avgKAccuracy: number;
  macroAvgKAccuracy: number | null;
  meanSetSize: number;
  /** Top-K accuracy of the same scores when K is an integer. */
  topKAccuracy: number | null;
  /** Expected accuracy of the same sets under the known test posterior (synthetic data), else null. */
  expectedAccuracy?: number | null;
  /** Macro average-K accuracy of few / medium / many training classes (long-tailed training sets). */
  buckets?: { few: number | null; medium: number | null; many: number | null };
  /** Validation average-K accuracy and set size of the selected model (its own calibration). */
  valAvgKAccuracy: number;
  valMeanSetSize: number;
  threshold: number;
  /** Best epoch (1-based) of `epochs`. */
  bestEpoch: number;
  epochs: number;
  /** Wall time of fit() for the model behind this record (shared by the K of a K-independent method). */
  trainSeconds: number;
  /** CRC-32 of the selected model's weights (the same RunSpec gives the same hash, whichever command trained it). */
  weightsHash?: string;
}

/**
 * The Bayes classifier under the methods' protocol (known posterior only): the true posterior η
 * thresholded at the λ calibrated on the VALIDATION posterior, applied to the test inputs.
 */
export interface BayesRecord {
  method: 'bayes';
  k: number;
  seed: null;
  /** Accuracy of those sets against the sampled test labels (as the methods are scored). */
  avgKAccuracy: number;
  /** Expected accuracy of the same sets under η: (1/n) Σᵢ Σ_{j∈S(xᵢ)} η_j(xᵢ). */
  expectedAccuracy: number;
  /** Test mean set size (close to K, not exactly K: λ comes from validation). */
  meanSetSize: number;
  threshold: number;
  /** The oracle with λ taken on the test posterior itself (set size exactly K): bayesAverageK. */
  oracleExpectedAccuracy: number;
  /** Bayes-optimal top-K accuracy when K is an integer. */
  topKAccuracy: number | null;
}

export type ResultRecord = CompareRecord | BayesRecord;

export interface RunCompareOptions {
  /** Output directory (created); nothing is written without it. */
  outDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Per-epoch lines (default: none). */
  logEpoch?: (line: string) => void;
  /** An already loaded dataset (else loaded from config.dataset). */
  dataset?: Dataset;
  /** Polled after every optimiser step: true stops after the current step; finished cells are kept. */
  shouldStop?: () => boolean;
  /** Reuse the finished cells of outDir/results.json when outDir/run.json holds the same config. */
  resume?: boolean;
  /** Write report.html (default true when outDir is given). */
  report?: boolean;
  /** The command line, recorded in run.json and the reports. */
  command?: string;
  /** The split the records score: 'test' (default) or 'val' (tuning: no test data is touched). */
  split?: 'test' | 'val';
  /** Extra lines for the head of results.md. */
  notes?: string[];
}

export interface CompareResult {
  records: CompareRecord[];
  bayes: BayesRecord[];
  markdown: string;
  /** True when shouldStop() ended the run before every cell was trained. */
  interrupted: boolean;
  /** Cells (models) trained in this run and reused from a previous run. */
  trained: number;
  reused: number;
  totalSeconds: number;
  files: string[];
  /** Warnings (e.g. the HTML report could not be rendered). */
  warnings: string[];
  /** Method labels of the validation-only (tuning) cells whose training diverged; they are left out. */
  diverged?: string[];
}

/** A model to train: one RunSpec of the grid (see cellSpecs). */
interface Job {
  spec: RunSpec;
  method: MethodConfig;
  seed: number;
  /** The K values calibrated from this model (all of config.ks, or one). */
  ks: number[];
  kIndependent: boolean;
}

/** The jobs of a config, seed-major (so a partial run holds complete seeds first). */
export function planJobs(config: CompareConfig): Job[] {
  return cellSpecs(config).map((spec) => ({ spec, method: spec.method, seed: spec.seed, ks: spec.ks, kIndependent: methodDef(spec.method.name).kIndependent }));
}

function finiteOrNull(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

function fmtPct(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(digits);
}

function fmtSecs(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

export function kLabel(k: number): string {
  return String(Number(k.toPrecision(6)));
}

function recordKey(method: string, k: number, seed: number): string {
  return `${method}\u0000${k}\u0000${seed}`;
}

/** The Bayes rows (see BayesRecord), one per K; none unless the val and test posteriors are known. */
export function bayesRecords(ds: Dataset, ks: readonly number[]): BayesRecord[] {
  const post = ds.posterior?.test;
  const valPost = ds.posterior?.val;
  if (!post || !valPost || ds.test.n === 0 || ds.val.n === 0) return [];
  const n = ds.test.n;
  const c = ds.numClasses;
  return ks.map((k) => {
    const cal = calibrateThreshold(valPost, ds.val.n, c, k, { seed: 0 });
    const e = evaluateScores(post, ds.test.y, c, cal, undefined, post);
    return {
      method: 'bayes' as const, k, seed: null,
      avgKAccuracy: e.avgKAccuracy,
      expectedAccuracy: e.expectedAccuracy!,
      meanSetSize: e.meanSetSize,
      threshold: cal.threshold,
      oracleExpectedAccuracy: bayesAverageK(post, n, c, k),
      topKAccuracy: Number.isInteger(k) ? bayesTopK(post, n, c, k) : null,
    };
  });
}

function toRecord(job: Job, head: 'softmax' | 'multilabel', label: string, method: AvgKMethod, cal: Calibration, e: SplitEvaluation, val: { avgKAccuracy: number; meanSetSize: number }, bestEpoch: number, epochs: number, seconds: number, withBuckets: boolean): CompareRecord {
  const r: CompareRecord = {
    method: label,
    baseMethod: job.method.name,
    head,
    options: { ...method.options },
    k: cal.k,
    seed: job.seed,
    avgKAccuracy: e.avgKAccuracy,
    macroAvgKAccuracy: finiteOrNull(e.macroAvgKAccuracy),
    meanSetSize: e.meanSetSize,
    topKAccuracy: finiteOrNull(e.topKAccuracy),
    expectedAccuracy: finiteOrNull(e.expectedAccuracy),
    valAvgKAccuracy: val.avgKAccuracy,
    valMeanSetSize: val.meanSetSize,
    threshold: cal.threshold,
    bestEpoch: bestEpoch + 1,
    epochs,
    trainSeconds: Math.round(seconds * 100) / 100,
  };
  if (withBuckets && e.buckets) r.buckets = { few: finiteOrNull(e.buckets.few), medium: finiteOrNull(e.buckets.medium), many: finiteOrNull(e.buckets.many) };
  return r;
}

/** Whether a record thresholds an extra head of its model (not the method's own). */
function isExtraHead(r: CompareRecord): boolean {
  return r.head !== methodDef(r.baseMethod).scoreHead;
}

/** Label of the extra rows that threshold the softmax head of a model whose method thresholds another head. */
export function softmaxHeadLabel(label: string): string {
  return `${label} (softmax head)`;
}

/** Train one job's model and evaluate it on test at each of its K. Returns null when interrupted. */
async function runJob(job: Job, ds: Dataset, config: CompareConfig, withBuckets: boolean, opts: RunCompareOptions, split: 'test' | 'val'): Promise<{ records: CompareRecord[]; seconds: number; bestEpoch: number } | null> {
  const { model, method, optimizer, schedule } = buildRun(job.spec, ds);
  const t0 = performance.now();
  const res = await fitAsync(model, method, optimizer, ds, {
    ...fitOptions(job.spec, schedule),
    shouldStop: opts.shouldStop,
    onEpoch: opts.logEpoch
      ? (e) => opts.logEpoch!(`  ${job.method.label} seed=${job.seed}${job.kIndependent ? '' : ` K=${kLabel(job.ks[0]!)}`} epoch ${e.epoch + 1}/${config.epochs}: loss ${e.trainLoss.toFixed(4)}, lr ${e.lr.toPrecision(3)}, val ${e.val.map((v) => `K=${kLabel(v.k)} ${fmtPct(v.avgKAccuracy)}%`).join(' ')} (${e.seconds.toFixed(1)} s)`)
      : undefined,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (res.interrupted) return null;
  const records: CompareRecord[] = [];
  const hash = weightsHash(model);
  for (const h of evaluateRun(model, method, job.spec, ds, { calibrations: res.calibrations, classCounts: withBuckets, splits: [split] })) {
    // extra heads (two-head's softmax head) are thresholded with their own validation calibration
    const label = h.primary ? job.method.label : softmaxHeadLabel(job.method.label);
    h.calibrations.forEach((cal, i) => {
      const r = toRecord(job, h.head, label, method, cal, h.splits[split]![i]!, h.val[i]!, res.bestEpoch, config.epochs, seconds, withBuckets);
      r.weightsHash = hash;
      records.push(r);
    });
  }
  return { records, seconds, bestEpoch: res.bestEpoch };
}

export interface SummaryStats {
  avgKAccuracy: number;
  expectedAccuracy: number | null;
  macroAvgKAccuracy: number | null;
  meanSetSize: number;
  topKAccuracy: number | null;
  few: number | null;
  medium: number | null;
  many: number | null;
}

export interface SummaryRow {
  method: string;
  k: number;
  n: number;
  mean: SummaryStats;
  std: SummaryStats;
  trainSeconds: number;
}

function meanStd(values: (number | null | undefined)[]): [number | null, number | null] {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return [null, null];
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  if (v.length === 1) return [m, 0];
  const s = Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1));
  return [m, s];
}

/** Mean ± sample std over seeds per (method, K), in the order methods first appear. */
export function summarize(records: readonly CompareRecord[]): SummaryRow[] {
  const groups = new Map<string, CompareRecord[]>();
  for (const r of records) {
    const key = `${r.method}\u0000${r.k}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const rows: SummaryRow[] = [];
  for (const g of groups.values()) {
    const f = (get: (r: CompareRecord) => number | null | undefined) => meanStd(g.map(get));
    const [a, as] = f((r) => r.avgKAccuracy);
    const [ex, exs] = f((r) => r.expectedAccuracy);
    const [ma, mas] = f((r) => r.macroAvgKAccuracy);
    const [sz, szs] = f((r) => r.meanSetSize);
    const [tk, tks] = f((r) => r.topKAccuracy);
    const [fw, fws] = f((r) => r.buckets?.few);
    const [md, mds] = f((r) => r.buckets?.medium);
    const [mn, mns] = f((r) => r.buckets?.many);
    rows.push({
      method: g[0].method, k: g[0].k, n: g.length,
      mean: { avgKAccuracy: a!, expectedAccuracy: ex, macroAvgKAccuracy: ma, meanSetSize: sz!, topKAccuracy: tk, few: fw, medium: md, many: mn },
      std: { avgKAccuracy: as!, expectedAccuracy: exs, macroAvgKAccuracy: mas, meanSetSize: szs!, topKAccuracy: tks, few: fws, medium: mds, many: mns },
      trainSeconds: g.reduce((s, r) => s + r.trainSeconds, 0) / g.length,
    });
  }
  return rows;
}

function pm(m: number | null, s: number | null): string {
  if (m === null) return '–';
  return s === null ? fmtPct(m) : `${fmtPct(m)} ± ${fmtPct(s)}`;
}

export interface MarkdownContext {
  config: CompareConfig;
  dataset?: { name: string; numClasses: number; train: number; val: number; test: number; classCounts?: ArrayLike<number> };
  totalSeconds?: number;
  backend?: string;
  threads?: number;
  command?: string;
  interrupted?: boolean;
  split?: 'test' | 'val';
  notes?: string[];
}

/** The label-noise part of the results' data line ('' without noise). */
function noiseLine(spec: CompareConfig['dataset']): string {
  const ln = spec.labelNoise;
  if (!ln) return '';
  const groups = ln.blocks ? `classes ${ln.blocks.map((b) => `{${b.join(', ')}}`).join(', ')}` : `b = ${ln.blockSize ?? 5}`;
  return `; block label noise p = ${ln.p}, ${groups} on ${ln.splits === 'all' ? 'train, val and test' : 'train'}`;
}

/** Per K: one table row per method (mean ± std over seeds, test split), the Bayes row when known. */
export function perKTables(records: readonly CompareRecord[], bayes: readonly BayesRecord[], ks: readonly number[], longTailed: boolean): { k: number; columns: string[]; rows: string[][] }[] {
  const summary = summarize(records);
  return ks.map((k) => {
    const b = bayes.find((r) => r.k === k);
    const intK = Number.isInteger(k);
    const columns = ['method', 'avg-K acc (%)'];
    if (b) columns.push('expected acc (%)');
    columns.push('macro avg-K acc (%)', 'mean set size');
    if (longTailed) columns.push('few (%)', 'medium (%)', 'many (%)');
    if (intK) columns.push(`top-${k} acc (%)`);
    if (b) columns.push('gap to Bayes (pts)');
    columns.push('seeds');
    const rows: string[][] = [];
    if (b) {
      const row = ['Bayes optimum', fmtPct(b.avgKAccuracy), fmtPct(b.expectedAccuracy), '–', b.meanSetSize.toFixed(3)];
      if (longTailed) row.push('–', '–', '–');
      if (intK) row.push(fmtPct(b.topKAccuracy));
      row.push('0', '–');
      rows.push(row);
    }
    for (const s of summary.filter((r) => r.k === k)) {
      const row = [s.method, pm(s.mean.avgKAccuracy, s.std.avgKAccuracy)];
      if (b) row.push(pm(s.mean.expectedAccuracy, s.std.expectedAccuracy));
      row.push(pm(s.mean.macroAvgKAccuracy, s.std.macroAvgKAccuracy), `${s.mean.meanSetSize.toFixed(3)} ± ${s.std.meanSetSize.toFixed(3)}`);
      if (longTailed) row.push(pm(s.mean.few, s.std.few), pm(s.mean.medium, s.std.medium), pm(s.mean.many, s.std.many));
      if (intK) row.push(pm(s.mean.topKAccuracy, s.std.topKAccuracy));
      if (b) {
        // on the expected accuracy when known: the same inputs, no label-sampling noise
        const gap = s.mean.expectedAccuracy !== null ? s.mean.expectedAccuracy - b.expectedAccuracy : s.mean.avgKAccuracy - b.avgKAccuracy;
        row.push((100 * gap).toFixed(2));
      }
      row.push(String(s.n));
      rows.push(row);
    }
    return { k, columns, rows };
  });
}

/** The label of the reference method of the paired comparisons: the config's first softmax method. */
export function referenceMethod(config: CompareConfig): string | undefined {
  return config.methods.find((m) => m.name === 'softmax')?.label;
}

function fmtDiff(d: PairedDifference | null): string {
  if (!d) return '–';
  const f = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(2)}`;
  return d.n < 2 ? f(d.mean) : `${f(d.mean)} [${f(d.lo)}, ${f(d.hi)}]`;
}

/**
 * Per K: each method minus the reference method on the same seeds (test split, percentage
 * points, 95% t interval over seeds); the verdict is on the expected accuracy when the posterior
 * is known (paired on the same inputs, no label noise), else on the average-K accuracy.
 */
export function pairedTables(records: readonly CompareRecord[], ks: readonly number[], reference: string | undefined, opts: { expected: boolean; longTailed: boolean }): { k: number; reference: string; columns: string[]; rows: string[][] }[] {
  if (reference === undefined) return [];
  const labels = [...new Set(records.map((r) => r.method))].filter((m) => m !== reference);
  const metrics: { name: string; get: (r: CompareRecord) => number | null | undefined }[] = [{ name: 'avg-K acc', get: (r) => r.avgKAccuracy }];
  if (opts.expected) metrics.push({ name: 'expected acc', get: (r) => r.expectedAccuracy });
  if (opts.longTailed) metrics.push({ name: 'few', get: (r) => r.buckets?.few });
  const primary = metrics[opts.expected ? 1 : 0]!;
  const num = (v: number | null | undefined) => (typeof v === 'number' ? v : NaN);
  return ks
    .map((k) => {
      const ref = new Map(records.filter((r) => r.method === reference && r.k === k).map((r) => [r.seed, r]));
      const rows: string[][] = [];
      for (const label of labels) {
        const mine = records.filter((r) => r.method === label && r.k === k && ref.has(r.seed));
        if (mine.length === 0) continue;
        const diff = (m: (typeof metrics)[number]) => pairedDifference(mine.map((r) => num(m.get(r))), mine.map((r) => num(m.get(ref.get(r.seed)!))));
        const verdict = diff(primary);
        const word = !verdict ? '–' : verdict.n < 2 ? 'one seed: no interval' : verdict.verdict === 'no difference' ? 'no difference' : `${verdict.verdict} than ${reference}`;
        rows.push([label, ...metrics.map((m) => fmtDiff(diff(m))), word, String(mine.length)]);
      }
      return { k, reference, columns: ['method', ...metrics.map((m) => `${m.name} − ${reference} (pts)`), `verdict (${primary.name})`, 'seeds'], rows };
    })
    .filter((t) => t.rows.length > 0);
}

function mdTable(columns: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${columns.map(esc).join(' | ')} |`, `|${columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function describeConfig(cfg: CompareConfig): string {
  const o = cfg.optimizer;
  const opt = o.name === 'sgd' ? `SGD lr ${o.lr}${o.momentum ? `, momentum ${o.momentum}` : ''}${o.nesterov ? ' (Nesterov)' : ''}${o.weightDecay ? `, weight decay ${o.weightDecay}` : ''}` : `Adam lr ${o.lr}${o.weightDecay ? `, weight decay ${o.weightDecay}` : ''}`;
  const s = cfg.schedule;
  const sched = s.name === 'constant' ? 'constant lr' : s.name === 'cosine' ? `cosine schedule${s.warmup ? ` (${s.warmup} warm-up epochs)` : ''}` : `step schedule (${s.milestones ? `milestones ${s.milestones.join(', ')}` : `every ${s.stepSize} epochs`}, ×${s.gamma ?? 0.1})`;
  const model = cfg.model.name === 'mlp' ? `MLP [${(cfg.model.hidden ?? [256, 256]).join(', ')}]` : cfg.model.name;
  return `${model}, ${cfg.epochs} epoch${cfg.epochs === 1 ? '' : 's'}, batch ${cfg.batchSize}, ${opt}, ${sched}${cfg.augment ? ', crop+flip augmentation' : ''}`;
}

function methodLine(m: MethodConfig): string {
  const opt = m.optimizer;
  const o = [...Object.entries(m.options), ...(opt ? [['optimizer', `${opt.name} lr ${opt.lr}`]] : [])].map(([k, v]) => `${k}=${v}`).join(', ');
  return `${m.label}${m.label !== m.name ? ` = ${m.name}` : ''}${o ? ` (${o})` : ''}`;
}

/** results.md */
export function resultsMarkdown(records: readonly CompareRecord[], bayes: readonly BayesRecord[], ctx: MarkdownContext): string {
  const cfg = ctx.config;
  const longTailed = isLongTailed(cfg.dataset);
  const lines: string[] = [];
  const ds = ctx.dataset;
  lines.push(`# avgk compare: ${ds?.name ?? cfg.dataset.name}`);
  lines.push('');
  if (cfg.description) lines.push(cfg.description, '');
  if (ctx.interrupted) lines.push('**Interrupted: the tables hold the cells finished so far.**', '');
  if (ds) lines.push(`- Data: ${ds.name}, ${ds.numClasses} classes, ${ds.train} train / ${ds.val} val / ${ds.test} test samples${noiseLine(cfg.dataset)}${longTailed && ds.classCounts ? `; long-tailed training set (class counts ${Math.min(...Array.from(ds.classCounts))}–${Math.max(...Array.from(ds.classCounts))})${cfg.dataset.longTail?.splits === 'all' ? ', val/test long-tailed too' : ''}` : ''}.`);
  lines.push(`- Model and training: ${describeConfig(cfg)}; best epoch by validation average-K accuracy.`);
  lines.push(`- Methods: ${cfg.methods.map(methodLine).join('; ')}.`);
  lines.push(
    ctx.split === 'val'
      ? `- Seeds: ${cfg.seeds.join(', ')} (mean ± sample std over seeds). All numbers are on the VALIDATION split (tuning; the test split is not used).`
      : `- Seeds: ${cfg.seeds.join(', ')} (mean ± sample std over seeds). All numbers are on the TEST split, with the threshold calibrated on validation.`,
  );
  for (const n of ctx.notes ?? []) lines.push(`- ${n}`);
  if (records.some(isExtraHead)) lines.push('- "(softmax head)" rows threshold the softmax head of the same models (own validation calibration), a baseline inside each model.');
  if (longTailed) lines.push('- few / medium / many: macro average-K accuracy over the classes in the lower / middle / upper third by training count.');
  if (bayes.length) {
    lines.push('- Bayes optimum: the true posterior η thresholded at the λ calibrated on the validation posterior, like the methods; avg-K acc is against the test labels, expected acc is (1/n) Σᵢ Σ_{j∈S(xᵢ)} ηⱼ(xᵢ), for every row. Gap = method − Bayes on the expected accuracy, in percentage points.');
    lines.push(`- Oracle (λ from the test posterior, set size exactly K): ${bayes.map((b) => `K=${kLabel(b.k)} ${fmtPct(b.oracleExpectedAccuracy)}%`).join(', ')}.`);
  }
  if (ctx.totalSeconds !== undefined) lines.push(`- Wall time: ${fmtSecs(ctx.totalSeconds)}${ctx.backend ? ` (backend ${ctx.backend}${ctx.threads ? `, ${ctx.threads} thread${ctx.threads === 1 ? '' : 's'}` : ''})` : ''}.`);
  if (ctx.command) lines.push(`- Command: \`${ctx.command}\``);
  lines.push('');
  const paired = pairedTables(records, cfg.ks, referenceMethod(cfg), { expected: bayes.length > 0, longTailed });
  for (const t of perKTables(records, bayes, cfg.ks, longTailed)) {
    lines.push(`## K = ${kLabel(t.k)}`, '', mdTable(t.columns, t.rows), '');
    const p = paired.find((q) => q.k === t.k);
    if (p) lines.push(`Paired differences, method − ${p.reference} on the same seeds (test, percentage points, 95% t interval over seeds):`, '', mdTable(p.columns, p.rows), '');
  }
  const summary = summarize(records.filter((r) => !isExtraHead(r)));
  const times = new Map<string, number>();
  for (const s of summary) if (!times.has(s.method)) times.set(s.method, s.trainSeconds);
  if (times.size) {
    lines.push('Mean training time per model: ' + [...times].map(([m, s]) => `${m} ${fmtSecs(s)}`).join(', ') + '.', '');
  }
  return lines.join('\n');
}

function datasetInfo(ds: Dataset): NonNullable<MarkdownContext['dataset']> {
  return { name: ds.name, numClasses: ds.numClasses, train: ds.train.n, val: ds.val.n, test: ds.test.n, classCounts: ds.classCounts };
}

/** Reads the records of a previous run of the same config in `dir` (for resume). */
function previousRecords(dir: string, config: CompareConfig): CompareRecord[] {
  const runPath = join(dir, 'run.json');
  const resPath = join(dir, 'results.json');
  if (!existsSync(runPath) || !existsSync(resPath)) return [];
  let run: { config?: unknown };
  let res: unknown;
  try {
    run = JSON.parse(readFileSync(runPath, 'utf8')) as { config?: unknown };
    res = JSON.parse(readFileSync(resPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot resume from ${dir}: ${(e as Error).message}`);
  }
  if (JSON.stringify(run.config) !== JSON.stringify(config)) throw new Error(`cannot resume from ${dir}: its run.json holds a different config (use another --out directory)`);
  if (!Array.isArray(res)) throw new Error(`cannot resume from ${dir}: results.json is not an array`);
  return (res as ResultRecord[]).filter((r): r is CompareRecord => r.method !== 'bayes');
}

async function renderHtmlReport(dir: string, records: CompareRecord[], bayes: BayesRecord[], ctx: MarkdownContext): Promise<string[]> {
  const rep = await import('../report/index.js');
  const cfg = ctx.config;
  const summary = summarize(records);
  const charts = [];
  const macro = summary.filter((s) => s.mean.macroAvgKAccuracy !== null);
  charts.push({
    title: 'Average-K accuracy vs K (test, mean ± std over seeds)',
    svg: await rep.renderAccuracyVsK(summary.map((s) => ({ method: s.method, k: s.k, avgKAccuracy: s.mean.avgKAccuracy, std: s.std.avgKAccuracy })), { bayes: bayes.map((b) => ({ k: b.k, avgKAccuracy: b.avgKAccuracy })) }),
    caption: bayes.length ? 'Dashed: the Bayes optimum (thresholding the true posterior).' : undefined,
  });
  if (macro.length) {
    charts.push({
      title: 'Macro average-K accuracy vs K (test)',
      svg: await rep.renderAccuracyVsK(macro.map((s) => ({ method: s.method, k: s.k, avgKAccuracy: s.mean.macroAvgKAccuracy!, std: s.std.macroAvgKAccuracy ?? undefined })), { yTitle: 'macro average-K accuracy' }),
    });
  }
  const longTailed = isLongTailed(cfg.dataset);
  const paired = pairedTables(records, cfg.ks, referenceMethod(cfg), { expected: bayes.length > 0, longTailed });
  const tables = perKTables(records, bayes, cfg.ks, longTailed).flatMap((t) => {
    const p = paired.find((q) => q.k === t.k);
    return [
      { title: `K = ${kLabel(t.k)}`, columns: t.columns, rows: t.rows },
      ...(p ? [{ title: `K = ${kLabel(t.k)}: method − ${p.reference}, same seeds (pts, 95% interval)`, columns: p.columns, rows: p.rows }] : []),
    ];
  });
  // the spread over seeds: every seed's test accuracy, per K
  const seeds = [...new Set(records.map((r) => r.seed))].sort((a, b) => a - b);
  const methods = [...new Set(records.map((r) => r.method))];
  if (seeds.length > 1) {
    charts.push({
      title: 'Average-K accuracy of each seed (test)',
      svg: await Promise.all(
        cfg.ks.map((k) =>
          rep.renderSeedSpread(records.filter((r) => r.k === k).map((r) => ({ method: r.method, seed: r.seed, value: r.avgKAccuracy })), { subtitle: `K = ${kLabel(k)}` }),
        ),
      ),
      caption: 'A dot per seed, a black bar at the mean, a grey line from the lowest to the highest seed.',
    });
  }
  const details = seeds.length > 1
    ? cfg.ks.map((k) => ({
        title: `K = ${kLabel(k)}: average-K accuracy (%) per seed`,
        columns: ['method', ...seeds.map((s) => `seed ${s}`), 'mean', 'lowest–highest (pts)'],
        rows: methods.flatMap((m) => {
          const mine = records.filter((r) => r.method === m && r.k === k);
          if (mine.length === 0) return [];
          const v = mine.map((r) => r.avgKAccuracy);
          const bySeed = seeds.map((s) => fmtPct(mine.find((r) => r.seed === s)?.avgKAccuracy));
          return [[m, ...bySeed, fmtPct(v.reduce((a, b) => a + b, 0) / v.length), fmtPct(Math.max(...v) - Math.min(...v))]];
        }),
      }))
    : [];
  const ds = ctx.dataset;
  const written = await rep.writeReport(dir, {
    title: `avgk compare: ${ds?.name ?? cfg.dataset.name}`,
    subtitle: ctx.command,
    summary: {
      dataset: ds ? `${ds.name}: ${ds.numClasses} classes, ${ds.train}/${ds.val}/${ds.test} train/val/test` : cfg.dataset.name,
      training: describeConfig(cfg),
      methods: cfg.methods.map((m) => m.label).join(', '),
      K: cfg.ks.join(', '),
      seeds: cfg.seeds.join(', '),
      ...(ctx.totalSeconds !== undefined ? { 'wall time': fmtSecs(ctx.totalSeconds) } : {}),
      ...(ctx.backend ? { backend: ctx.backend } : {}),
    },
    tables,
    charts,
    details,
    notes: ['Test split; thresholds calibrated on validation; mean ± sample std over seeds.', ...(cfg.description ? [cfg.description] : [])],
  });
  return [written.html, written.json, written.md];
}

/** Runs every cell of `config`; see the module comment. */
export async function runCompare(config: CompareConfig, opts: RunCompareOptions = {}): Promise<CompareResult> {
  const log = opts.log ?? (() => undefined);
  const t0 = performance.now();
  if (config.threads !== undefined) setNumThreads(config.threads);
  const ds = opts.dataset ?? loadDataset(config.dataset as unknown as Record<string, unknown>);
  for (const k of config.ks) {
    if (!(k > 0 && k < ds.numClasses)) throw new Error(`config.ks: K must be in (0, ${ds.numClasses}) for ${ds.numClasses} classes, got ${k}`);
  }
  const backend = backendName();
  const threads = getNumThreads();
  log(`avgk compare: ${ds.name}, ${ds.numClasses} classes, ${ds.train.n}/${ds.val.n}/${ds.test.n} train/val/test, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${config.device === 'cuda' ? 'device cuda' : `backend ${backend}, ${threads} thread${threads === 1 ? '' : 's'}`}`);
  const longTailed = isLongTailed(config.dataset);
  const split = opts.split ?? 'test';
  const bayes = split === 'test' ? bayesRecords(ds, config.ks) : [];
  const dir = opts.outDir;
  const files: string[] = [];
  const warnings: string[] = [];
  let records: CompareRecord[] = [];
  if (dir) {
    await mkdir(dir, { recursive: true });
    if (opts.resume) records = previousRecords(dir, config);
  }
  const have = new Set(records.map((r) => recordKey(r.method, r.k, r.seed)));
  const jobs = planJobs(config);
  const todo = jobs.filter((j) => !j.ks.every((k) => have.has(recordKey(j.method.label, k, j.seed))));
  const reused = jobs.length - todo.length;
  // keep only the records of complete jobs (a job's records are written together anyway)
  if (reused > 0) log(`resuming: ${reused} of ${jobs.length} models already trained in ${dir}`);
  const mdCtx = (): MarkdownContext => ({ config, dataset: datasetInfo(ds), totalSeconds: (performance.now() - t0) / 1000, backend, threads, command: opts.command, split, notes: opts.notes });
  const runInfo = (done: boolean, interrupted: boolean) => ({
    config, command: opts.command ?? null, backend, threads,
    dataset: { name: ds.name, numClasses: ds.numClasses, train: ds.train.n, val: ds.val.n, test: ds.test.n, classCounts: Array.from(ds.classCounts), longTailed, posteriorKnown: bayes.length > 0 },
    models: jobs.length, trained: jobs.length - todo.length, done, interrupted,
    totalSeconds: Math.round((performance.now() - t0) / 10) / 100,
    node: process.version,
  });
  const order = (rs: CompareRecord[]): CompareRecord[] => {
    const mi = new Map<string, number>();
    config.methods.forEach((m, i) => {
      mi.set(m.label, 2 * i);
      mi.set(softmaxHeadLabel(m.label), 2 * i + 1);
    });
    return [...rs].sort((a, b) => (mi.get(a.method) ?? 1e9) - (mi.get(b.method) ?? 1e9) || a.k - b.k || a.seed - b.seed);
  };
  const writeAll = async (done: boolean, interrupted: boolean): Promise<void> => {
    if (!dir) return;
    const all: ResultRecord[] = [...order(records), ...bayes];
    await writeJsonAtomic(join(dir, 'results.json'), all);
    await writeFileAtomic(join(dir, 'results.md'), resultsMarkdown(order(records), bayes, { ...mdCtx(), interrupted }) + '\n');
    await writeJsonAtomic(join(dir, 'run.json'), { ...runInfo(done, interrupted), trained: jobs.length - todo.length + finished });
  };
  let finished = 0;
  let interrupted = false;
  const diverged: string[] = [];
  await writeAll(false, false);
  for (const job of todo) {
    if (opts.shouldStop?.()) {
      interrupted = true;
      break;
    }
    const i = jobs.indexOf(job) + 1;
    const what = `${job.method.label}${job.kIndependent ? ` K=${job.ks.map(kLabel).join(',')}` : ` K=${kLabel(job.ks[0])}`} seed=${job.seed}`;
    let res;
    try {
      res = await runJob(job, ds, config, longTailed, opts, split);
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      // a tuning grid point that diverges is a result (left out of the choice), not a failure
      if (split !== 'val') throw new DivergenceError(`${what}: ${e.message}`);
      diverged.push(job.method.label);
      log(`[${i}/${jobs.length}] ${what}: diverged, left out of the choice (${e.message})`);
      continue;
    }
    if (res === null) {
      interrupted = true;
      log(`[${i}/${jobs.length}] ${what}: interrupted`);
      break;
    }
    records.push(...res.records);
    finished++;
    const main = res.records.filter((r) => r.method === job.method.label);
    // in the tuning stage the scored split is validation itself: print it once
    const valPart = split === 'val' ? '' : `val ${main.map((r) => `${fmtPct(r.valAvgKAccuracy)}%`).join(', ')}; `;
    log(`[${i}/${jobs.length}] ${what}: ${valPart}${split} ${main.map((r) => `${fmtPct(r.avgKAccuracy)}% (size ${r.meanSetSize.toFixed(2)})`).join(', ')}; best epoch ${res.bestEpoch + 1}/${config.epochs}; ${fmtSecs(res.seconds)}`);
    await writeAll(false, false);
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  await writeAll(!interrupted, interrupted);
  if (dir) files.push(join(dir, 'results.json'), join(dir, 'results.md'), join(dir, 'run.json'));
  if (dir && !interrupted && (opts.report ?? true)) {
    try {
      files.push(...(await renderHtmlReport(dir, order(records), bayes, { ...mdCtx(), totalSeconds })));
    } catch (e) {
      const w = `the HTML report could not be written: ${(e as Error).message}`;
      warnings.push(w);
      log(`warning: ${w}`);
    }
  }
  const sorted = order(records);
  return {
    records: sorted, bayes,
    markdown: resultsMarkdown(sorted, bayes, { ...mdCtx(), totalSeconds, interrupted }),
    interrupted, trained: finished, reused, totalSeconds, files, warnings,
    ...(diverged.length > 0 ? { diverged } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Tuning on validation (config.tune)

/** One point of the tuning grid: a method of the config with one learning rate and option values. */
export interface TunePoint {
  /** The method's label in the config. */
  method: string;
  /** Its label in the tuning results. */
  label: string;
  lr?: number;
  options: Record<string, number | string>;
}

/** The grid of config.tune as a compare config on the tuning seeds and epochs (null without config.tune). */
export function tuningConfig(config: CompareConfig): { config: CompareConfig; points: TunePoint[] } | null {
  const t = config.tune;
  if (!t) return null;
  const methods: MethodConfig[] = [];
  const points: TunePoint[] = [];
  for (const m of config.methods) {
    const def = methodDef(m.name);
    const axes: [string, (number | string)[]][] = [];
    // what the config fixes for a method is not searched
    if (t.lr && !m.optimizer) axes.push(['lr', t.lr]);
    for (const [name, vs] of Object.entries(t.options ?? {})) if (def.options[name] !== undefined && m.options[name] === undefined) axes.push([name, vs]);
    if (axes.length === 0) continue;
    let combos: Record<string, number | string>[] = [{}];
    for (const [name, vs] of axes) combos = combos.flatMap((c) => vs.map((v) => ({ ...c, [name]: v })));
    for (const c of combos) {
      const { lr, ...options } = c;
      const label = `${m.label} [${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(', ')}]`;
      const mc: MethodConfig = { name: m.name, options: { ...m.options, ...options }, label };
      const optimizer = lr !== undefined ? { ...(m.optimizer ?? config.optimizer), lr: lr as number } : m.optimizer;
      if (optimizer) mc.optimizer = optimizer;
      methods.push(mc);
      points.push({ method: m.label, label, ...(lr !== undefined ? { lr: lr as number } : {}), options });
    }
  }
  const { tune: _tune, ...rest } = config;
  return { config: { ...rest, methods, seeds: [...t.seeds], epochs: t.epochs ?? config.epochs }, points };
}

export interface TuningChoice {
  method: string;
  chosen: TunePoint;
  /** Every point of this method with its mean validation average-K accuracy (over K and seeds). */
  grid: { point: TunePoint; valAvgKAccuracy: number | null; models: number; diverged?: boolean }[];
}

/**
 * Per method, the grid point with the best mean validation average-K accuracy (first on ties).
 * Points with a diverged cell (labels in `diverged`) score null and are never chosen.
 */
export function chooseTuning(points: readonly TunePoint[], records: readonly CompareRecord[], diverged: readonly string[] = []): TuningChoice[] {
  const byMethod = new Map<string, TunePoint[]>();
  for (const p of points) byMethod.set(p.method, [...(byMethod.get(p.method) ?? []), p]);
  return [...byMethod].map(([method, ps]) => {
    const grid = ps.map((point) => {
      const rs = records.filter((r) => r.method === point.label);
      if (diverged.includes(point.label)) return { point, valAvgKAccuracy: null, models: rs.length, diverged: true };
      const v = rs.map((r) => r.valAvgKAccuracy).filter((x) => Number.isFinite(x));
      return { point, valAvgKAccuracy: v.length ? v.reduce((a, b) => a + b, 0) / v.length : null, models: rs.length };
    });
    let best = grid[0]!;
    for (const g of grid) if (g.valAvgKAccuracy !== null && (best.valAvgKAccuracy === null || g.valAvgKAccuracy > best.valAvgKAccuracy)) best = g;
    return { method, chosen: best.point, grid };
  });
}

/** The config with each tuned method's choice applied (and no tune section). */
export function applyTuning(config: CompareConfig, choices: readonly TuningChoice[]): CompareConfig {
  const { tune: _tune, ...rest } = config;
  return {
    ...rest,
    methods: config.methods.map((m) => {
      const c = choices.find((x) => x.method === m.label);
      if (!c) return m;
      const mc: MethodConfig = { ...m, options: { ...m.options, ...c.chosen.options } };
      if (c.chosen.lr !== undefined) mc.optimizer = { ...(m.optimizer ?? config.optimizer), lr: c.chosen.lr };
      return mc;
    }),
  };
}

function tuningMarkdown(choices: readonly TuningChoice[], t: NonNullable<CompareConfig['tune']>, epochs: number): string {
  const lines = [
    '# avgk compare: tuning on validation',
    '',
    `Each point trained on seeds ${t.seeds.join(', ')} for ${t.epochs ?? epochs} epochs; score = mean validation average-K accuracy over the config's K and the seeds (the test split is not used). The chosen point is in bold.`,
    '',
  ];
  for (const c of choices) {
    lines.push(`## ${c.method}`, '', '| point | val avg-K acc (%) | models |', '| --- | ---: | ---: |');
    for (const g of c.grid) {
      const p = g.point.label.slice(c.method.length + 1);
      const chosen = g.point === c.chosen;
      lines.push(`| ${chosen ? `**${p}**` : p} | ${g.diverged ? 'diverged' : fmtPct(g.valAvgKAccuracy)} | ${g.models} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export interface ExperimentResult extends CompareResult {
  /** The tuning choices (config.tune), when there was a tuning stage. */
  tuning?: TuningChoice[];
}

/**
 * `avgk compare`: the tuning stage of config.tune (validation only, in outDir/tuning), then the
 * test cells with each method's choice (runCompare). Without config.tune, runCompare alone.
 */
export async function runExperiment(config: CompareConfig, opts: RunCompareOptions = {}): Promise<ExperimentResult> {
  const grid = tuningConfig(config);
  if (!grid) return runCompare(config, opts);
  const log = opts.log ?? (() => undefined);
  const ds = opts.dataset ?? loadDataset(config.dataset as unknown as Record<string, unknown>);
  const tdir = opts.outDir ? join(opts.outDir, 'tuning') : undefined;
  log(`tuning: ${grid.points.length} grid points on validation (seeds ${config.tune!.seeds.join(', ')})`);
  const t0 = performance.now();
  const tr = await runCompare(grid.config, { ...opts, dataset: ds, outDir: tdir, split: 'val', report: false });
  if (tr.interrupted) return tr;
  const choices = chooseTuning(grid.points, tr.records, tr.diverged);
  const files = [...tr.files];
  if (tdir) {
    await writeJsonAtomic(join(tdir, 'tuning.json'), { tune: config.tune, choices: choices.map((c) => ({ method: c.method, chosen: c.chosen, grid: c.grid })) });
    await writeFileAtomic(join(tdir, 'tuning.md'), tuningMarkdown(choices, config.tune!, config.epochs) + '\n');
    files.push(join(tdir, 'tuning.json'), join(tdir, 'tuning.md'));
  }
  // a method whose every point diverged has nothing to choose: stop here (the grid results are written)
  const none = choices.filter((c) => c.grid.every((g) => g.diverged));
  if (none.length > 0) {
    throw new DivergenceError(
      `tuning: every grid point of ${none.map((c) => c.method).join(', ')} diverged on validation (lr ${config.tune!.lr?.join(', ') ?? 'as configured'}${tdir ? '; see tuning/tuning.md' : ''}): give smaller learning rates in config.tune.lr`,
    );
  }
  for (const c of choices) log(`tuning: ${c.method}: chose ${c.chosen.label.slice(c.method.length + 1)} (val ${fmtPct(c.grid.find((g) => g.point === c.chosen)!.valAvgKAccuracy)}%)`);
  const notes = [
    `Tuned on validation (${fmtSecs((performance.now() - t0) / 1000)}, seeds ${config.tune!.seeds.join(', ')}${tdir ? ', see tuning/tuning.md' : ''}): ${choices.map((c) => `${c.method} ${c.chosen.label.slice(c.method.length + 1)}`).join('; ')}.`,
    ...(opts.notes ?? []),
  ];
  const res = await runCompare(applyTuning(config, choices), { ...opts, dataset: ds, notes });
  return { ...res, trained: res.trained + tr.trained, reused: res.reused + tr.reused, files: [...files, ...res.files], tuning: choices };
}
