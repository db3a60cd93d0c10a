/**
 * The report of a training run (report.html + summary.json + summary.md, through src/report):
 * training/validation curves, average-K accuracy vs K for every head (and the Bayes optimum on
 * synthetic data), the set-size histogram and per-class accuracy vs training frequency.
 */
import {
  renderTrainingCurvePanels,
  renderAccuracyVsK,
  renderSetSizeHistogram,
  renderPerClassAccuracy,
  setSizeCounts,
  writeReport,
  type AccuracyVsKRecord,
  type CurvePoint,
  type PerClassRecord,
  type Report,
  type ReportChart,
  type ReportTable,
  type SetSizeCount,
  type WrittenReport,
} from '../report/index.js';
import type { Dataset } from '../data/index.js';
import { bayesAverageK } from '../data/synthetic.js';
import type { EpochInfo } from '../train/fit.js';
import { calibrateAll } from '../train/evaluate.js';
import { isLongTailed } from '../train/config.js';
import { predictSets, type Calibration } from '../avgk/calibrate.js';
import { setMetrics } from '../avgk/metrics.js';
import { BASELINE_LABEL, BAYES_LABEL, type EvaluationResult, type HeadKey, type RunConfig, type SplitScores } from './runtime.js';
import { methodDef, resolveOptions } from '../avgk/methods/index.js';
import { trainK } from '../train/spec.js';

/** K values of the accuracy-vs-K chart: a fixed grid plus the run's K, all in (0, C). */
export function kGrid(ks: readonly number[], numClasses: number): number[] {
  const base = [1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 20];
  return [...new Set([...base, ...ks])].filter((k) => k > 0 && k < numClasses).sort((a, b) => a - b);
}

export interface AccuracyCurves {
  records: AccuracyVsKRecord[];
  bayes: { k: number; avgKAccuracy: number }[] | null;
}

/** Test average-K accuracy on a grid of K (thresholds calibrated on validation), per head. */
export function accuracyVsK(
  ds: Dataset,
  ks: readonly number[],
  seed: number,
  val: SplitScores,
  test: SplitScores,
  labels: { method: string; softmax: string },
): AccuracyCurves {
  const grid = kGrid(ks, ds.numClasses);
  const records: AccuracyVsKRecord[] = [];
  for (const head of ['method', 'softmax'] as const) {
    const v = val[head];
    const t = test[head];
    if (!v || !t) continue;
    const cals = calibrateAll(v, ds.numClasses, grid, seed);
    for (const cal of cals) {
      const sets = predictSets(t, ds.test.n, ds.numClasses, cal);
      records.push({ method: labels[head], k: cal.k, avgKAccuracy: setMetrics(sets, ds.test.y).avgKAccuracy });
    }
  }
  const post = ds.posterior?.test;
  const bayes = post ? grid.map((k) => ({ k, avgKAccuracy: bayesAverageK(post, ds.test.n, ds.numClasses, k) })) : null;
  return { records, bayes };
}

/**
 * Per-epoch curves: training loss, validation average-K accuracy per K, learning rate. The
 * validation mean set size is left out: calibrated on validation itself, it is K every epoch.
 */
export function curvePoints(history: readonly EpochInfo[]): CurvePoint[] {
  const pts: CurvePoint[] = [];
  for (const h of history) {
    const epoch = h.epoch + 1;
    pts.push({ epoch, split: 'train', metric: 'loss', value: h.trainLoss });
    for (const v of h.val) pts.push({ epoch, split: `val K=${v.k}`, metric: 'avgK', value: v.avgKAccuracy });
    pts.push({ epoch, split: 'train', metric: 'lr', value: h.lr });
  }
  return pts;
}

export interface SetSizeAccuracy {
  head: HeadKey;
  label: string;
  k: number;
  /** Predicted set size. */
  size: number;
  samples: number;
  /** Share of these samples whose label is in their set (null when there are none). */
  accuracy: number | null;
}

/** Test samples and accuracy by predicted set size, per head, at the K of `cals` index `ki`. */
export function accuracyBySetSize(
  scores: SplitScores,
  calibrations: Record<HeadKey, Calibration[] | null>,
  labels: Int32Array,
  numClasses: number,
  k: number,
  headLabels: Record<HeadKey, string>,
): SetSizeAccuracy[] {
  const out: SetSizeAccuracy[] = [];
  for (const head of ['method', 'softmax'] as const) {
    const s = scores[head];
    const cal = calibrations[head]?.find((c) => c.k === k);
    if (!s || !cal) continue;
    const sets = predictSets(s, labels.length, numClasses, cal);
    const n: number[] = [];
    const hits: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      const z = sets.sizes[i]!;
      n[z] = (n[z] ?? 0) + 1;
      hits[z] = (hits[z] ?? 0) + sets.mask[i * numClasses + labels[i]!]!;
    }
    for (let z = 0; z < n.length; z++) {
      const m = n[z] ?? 0;
      out.push({ head, label: headLabels[head], k, size: z, samples: m, accuracy: m > 0 ? hits[z]! / m : null });
    }
  }
  return out;
}

export interface RunReportInput {
  config: RunConfig;
  ds: Dataset;
  history: readonly EpochInfo[];
  bestEpoch: number;
  test: EvaluationResult;
  curves: AccuracyCurves;
  /** Test scores and the calibrations of the results table (for accuracy by set size). */
  scores?: SplitScores;
  calibrations?: Record<HeadKey, Calibration[] | null>;
  command: string;
  backend: string;
  seconds: number;
  checkpoint: string;
  numParameters: number;
}

const headOfRow = (label: string): HeadKey | 'bayes' => (label === BAYES_LABEL ? 'bayes' : label === BASELINE_LABEL ? 'softmax' : 'method');

/** A configuration value as readable text: objects as "key: value" pairs. */
function settingText(v: unknown): string | number | boolean {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map((x) => String(settingText(x))).join(', ')}]`;
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${String(settingText(x))}`).join(', ');
  return String(v);
}

/** Assemble the Report (charts rendered to SVG). */
export async function buildRunReport(r: RunReportInput): Promise<Report> {
  const { config, ds, test } = r;
  const def = methodDef(config.method.name);
  const k0 = config.ks[0]!;
  const longTailed = isLongTailed(config.dataset);
  const first = test.details.filter((d) => d.eval.k === k0);
  const headLabels: Record<HeadKey, string> = { method: first.find((d) => d.head === 'method')?.label ?? config.method.name, softmax: BASELINE_LABEL };
  // short names for table columns: the method, and its model's softmax head
  const shortLabel: Record<HeadKey, string> = { method: config.method.name, softmax: 'softmax head' };
  const bySize = r.scores && r.calibrations ? accuracyBySetSize(r.scores, r.calibrations, ds.test.y, ds.numClasses, k0, headLabels) : [];

  // ---- charts ----
  const charts: ReportChart[] = [];
  const valLabel = `validation average-K accuracy${config.ks.length === 1 ? ` (K = ${k0})` : ''}`;
  charts.push({
    title: 'Training and validation curves',
    svg: await renderTrainingCurvePanels(curvePoints(r.history), {
      metricLabels: { loss: 'training loss', avgK: valLabel, lr: 'learning rate' },
      unitMetrics: ['avgK'],
    }),
    caption:
      `Per epoch; best epoch (kept): ${r.bestEpoch + 1}. Validation thresholds are calibrated on validation itself, so its mean set size is K ` +
      'every epoch; the spread of set sizes on test is shown below.',
  });
  charts.push({
    title: 'Average-K accuracy vs K (test)',
    svg: await renderAccuracyVsK(r.curves.records, { bayes: r.curves.bayes, bayesLabel: BAYES_LABEL }),
    caption:
      'Thresholds calibrated on validation for each K, accuracy on test.' +
      (def.extraHeads.includes('softmax') ? ` "${BASELINE_LABEL}" thresholds the softmax head of the same model.` : '') +
      (!def.kIndependent ? ` The model was trained for K = ${trainK(config)}.` : '') +
      (r.curves.bayes ? ' The Bayes optimum thresholds the true posterior (synthetic data).' : ''),
  });
  const counts: SetSizeCount[] = [];
  const perClass: PerClassRecord[] = [];
  for (const d of first) {
    d.eval.setSizeHistogram.forEach((count, size) => counts.push({ size, count, method: d.label }));
    d.eval.perClass.accuracy.forEach((acc, c) =>
      perClass.push({ classIndex: c, className: ds.classNames[c] ?? String(c), count: ds.classCounts[c]!, accuracy: acc, method: d.label }),
    );
  }
  charts.push({
    title: `Predicted set sizes (test, K = ${k0})`,
    svg: await renderSetSizeHistogram(counts.length ? counts : setSizeCounts([])),
    caption: 'Share of test samples per set size. The threshold is calibrated on validation, so the mean on test is close to K, not equal.',
  });
  charts.push(
    longTailed
      ? {
          title: `Per-class average-K accuracy vs training frequency (test, K = ${k0})`,
          svg: await renderPerClassAccuracy(perClass, { layout: 'frequency' }),
          caption: 'One point per class: accuracy on its test samples against its number of training samples; lines: least-squares fit on log(count).',
        }
      : {
          title: `Per-class average-K accuracy (test, K = ${k0})`,
          svg: await renderPerClassAccuracy(perClass, { layout: 'sorted' }),
          caption: 'Classes sorted by accuracy on their test samples (the training classes are balanced, so frequency explains nothing here).',
        },
  );

  // ---- summary (display) ----
  const best = test.rows.find((row) => row.k === k0 && headOfRow(row.method) === 'method');
  const summary: Record<string, unknown> = {
    dataset: ds.name,
    method: config.method.name,
    model: config.model.name + (config.model.hidden && config.model.name === 'mlp' ? ` [${config.model.hidden.join(', ')}]` : ''),
    parameters: r.numParameters,
    K: config.ks.join(', '),
    'training K': def.kIndependent ? 'K-independent' : trainK(config),
    epochs: config.epochs,
    'best epoch': r.bestEpoch + 1,
    [`test avg-K accuracy (K=${k0})`]: best?.avgKAccuracy ?? null,
    [`test macro avg-K accuracy (K=${k0})`]: best?.macroAvgKAccuracy ?? null,
    [`test mean set size (K=${k0})`]: best?.meanSetSize ?? null,
    'train / val / test samples': `${ds.train.n} / ${ds.val.n} / ${ds.test.n}`,
    backend: r.backend,
    'training time (s)': Number(r.seconds.toFixed(1)),
    checkpoint: r.checkpoint,
  };

  // ---- tables ----
  const heads = first.map((d) => ({ head: d.head, label: shortLabel[d.head] }));
  const tables: ReportTable[] = [
    {
      title: 'Test results',
      columns: ['K', 'method', 'avg-K accuracy', 'macro avg-K accuracy', 'mean set size', 'top-K accuracy'],
      rows: test.rows.map((row) => [row.k, row.method, row.avgKAccuracy, row.macroAvgKAccuracy, row.meanSetSize, row.topKAccuracy]),
      caption: `Thresholds calibrated on validation (${ds.val.n} samples); ${test.n} test samples.`,
    },
  ];
  if (longTailed) {
    tables.push({
      title: 'Frequency buckets (test, macro average-K accuracy)',
      columns: ['K', 'method', 'few', 'medium', 'many'],
      rows: test.details.map((d) => [d.eval.k, d.label, d.eval.buckets?.few ?? null, d.eval.buckets?.medium ?? null, d.eval.buckets?.many ?? null]),
      caption: 'Classes in the lower, middle and upper third by training count.',
    });
  }
  const details: ReportTable[] = [];
  const sizes = [...new Set(bySize.map((b) => b.size))].sort((a, b) => a - b);
  if (sizes.length) details.push({
    title: `Accuracy by predicted set size (test, K = ${k0})`,
    columns: ['set size', ...heads.flatMap((h) => [`samples (${h.label})`, `accuracy (${h.label})`])],
    rows: sizes.map((z) => [z, ...heads.flatMap((h) => {
      const b = bySize.find((x) => x.head === h.head && x.size === z);
      return [b?.samples ?? 0, b?.accuracy ?? null];
    })]),
    caption: 'Share of the samples with a set of this size whose label is in the set. Size 0: empty sets.',
  });
  details.push({
    title: `Per-class results (test, K = ${k0})`,
    columns: ['class', 'name', 'train samples', 'test samples', ...heads.flatMap((h) => [`accuracy (${h.label})`, `mean set size (${h.label})`])],
    rows: Array.from({ length: ds.numClasses }, (_, c) => [
      c,
      ds.classNames[c] ?? String(c),
      ds.classCounts[c]!,
      first[0]?.eval.perClass.count[c] ?? 0,
      ...first.flatMap((d) => [finiteOr(d.eval.perClass.accuracy[c]), finiteOr(d.eval.perClass.meanSetSize[c])]),
    ]),
    caption: 'Accuracy: share of the class\'s test samples whose label is in their set.',
    collapsed: ds.numClasses > 20,
  });
  details.push({
    title: 'Training history',
    columns: ['epoch', 'lr', 'train loss', ...config.ks.map((k) => `val acc K=${k}`), 'seconds', 'img/s'],
    rows: r.history.map((h) => [h.epoch + 1, h.lr, h.trainLoss, ...h.val.map((v) => v.avgKAccuracy), h.seconds, h.imagesPerS]),
  });
  const options = resolveOptions(def, config.method.options);
  details.push({
    title: 'Configuration',
    columns: ['setting', 'value'],
    rows: [
      ['dataset', settingText(config.dataset)],
      ['method', config.method.name],
      ...Object.entries(options).map(([k, v]): [string, string | number | boolean] => [`${config.method.name} ${k}`, v]),
      ['model', settingText(config.model)],
      ['optimizer', settingText(config.optimizer)],
      ['schedule', settingText(config.schedule)],
      ['epochs', config.epochs],
      ['batch size', config.batchSize],
      ['seed', config.seed],
      ['augment', config.augment],
    ].map(([k, v]) => [k, String(v)]),
  });

  const notes = [
    'Average-K accuracy: share of samples whose label is in the predicted set; the global threshold is calibrated on validation so that the mean set size there is K.',
    'Macro average-K accuracy: mean over classes of per-class average-K accuracy.' + (longTailed ? ' Buckets: classes by training frequency (few / medium / many).' : ''),
  ];
  if (def.extraHeads.includes('softmax')) notes.push('Softmax-threshold baseline: the softmax head of the same model, calibrated and thresholded the same way.');

  // ---- summary.json: stable machine keys ----
  const json = {
    format: 'avgk-run-summary',
    version: 1,
    command: r.command,
    dataset: { name: ds.name, numClasses: ds.numClasses, train: ds.train.n, val: ds.val.n, test: ds.test.n, longTailed },
    method: { name: config.method.name, options },
    model: config.model,
    parameters: r.numParameters,
    ks: [...config.ks],
    trainingK: def.kIndependent ? null : trainK(config),
    epochs: config.epochs,
    bestEpoch: r.bestEpoch + 1,
    backend: r.backend,
    trainingSeconds: r.seconds,
    checkpoint: r.checkpoint,
    test: test.rows.map((row) => ({
      k: row.k,
      head: headOfRow(row.method),
      label: row.method,
      avgKAccuracy: row.avgKAccuracy,
      macroAvgKAccuracy: row.macroAvgKAccuracy,
      meanSetSize: row.meanSetSize,
      topKAccuracy: row.topKAccuracy,
    })),
    ...(longTailed ? { buckets: test.details.map((d) => ({ k: d.eval.k, head: d.head, few: d.eval.buckets?.few ?? null, medium: d.eval.buckets?.medium ?? null, many: d.eval.buckets?.many ?? null })) } : {}),
    accuracyBySetSize: bySize.map(({ head, k, size, samples, accuracy }) => ({ head, k, size, samples, accuracy })),
    perClass: Array.from({ length: ds.numClasses }, (_, c) => ({
      class: c,
      name: ds.classNames[c] ?? String(c),
      trainSamples: ds.classCounts[c]!,
      testSamples: first[0]?.eval.perClass.count[c] ?? 0,
      k: k0,
      accuracy: Object.fromEntries(first.map((d) => [d.head, finiteOr(d.eval.perClass.accuracy[c])])),
      meanSetSize: Object.fromEntries(first.map((d) => [d.head, finiteOr(d.eval.perClass.meanSetSize[c])])),
    })),
    history: r.history.map((h) => ({
      epoch: h.epoch + 1,
      lr: h.lr,
      trainLoss: h.trainLoss,
      val: h.val.map((v) => ({ k: v.k, avgKAccuracy: v.avgKAccuracy })),
      seconds: h.seconds,
      imagesPerS: h.imagesPerS,
    })),
    config,
  };
  return { title: `avgk: ${config.method.name} on ${ds.name}`, subtitle: `${r.command} — ${new Date().toISOString()}`, summary, tables, charts, details, notes, json };
}

/** A number, or null for NaN / ±∞ (e.g. a class absent from the split). */
function finiteOr(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

export async function writeRunReport(dir: string, r: RunReportInput): Promise<WrittenReport> {
  return writeReport(dir, await buildRunReport(r));
}
