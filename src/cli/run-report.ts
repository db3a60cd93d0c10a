/**
 * The report of a training run (report.html + summary.json + summary.md, through src/report):
 * training/validation curves, average-K accuracy vs K for every head (and the Bayes optimum on
 * synthetic data), the set-size histogram and per-class accuracy vs training frequency.
 */
import {
  renderTrainingCurves,
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
  type SetSizeCount,
  type WrittenReport,
} from '../report/index.js';
import type { Dataset } from '../data/index.js';
import { bayesAverageK } from '../data/synthetic.js';
import type { EpochInfo } from '../train/fit.js';
import { calibrateAll } from '../train/evaluate.js';
import { predictSets } from '../avgk/calibrate.js';
import { setMetrics } from '../avgk/metrics.js';
import { BASELINE_LABEL, BAYES_LABEL, type EvaluationResult, type RunConfig, type SplitScores } from './runtime.js';
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

export function curvePoints(history: readonly EpochInfo[]): CurvePoint[] {
  const pts: CurvePoint[] = [];
  for (const h of history) {
    const epoch = h.epoch + 1;
    pts.push({ epoch, split: 'train', metric: 'loss', value: h.trainLoss });
    for (const v of h.val) {
      pts.push({ epoch, split: `val K=${v.k}`, metric: 'avgK', value: v.avgKAccuracy });
      pts.push({ epoch, split: `val K=${v.k}`, metric: 'size', value: v.meanSetSize });
    }
    pts.push({ epoch, split: 'train', metric: 'lr', value: h.lr });
  }
  return pts;
}

export interface RunReportInput {
  config: RunConfig;
  ds: Dataset;
  history: readonly EpochInfo[];
  bestEpoch: number;
  test: EvaluationResult;
  curves: AccuracyCurves;
  /** Test predictions at the first K per head: set sizes and per-class accuracy. */
  command: string;
  backend: string;
  seconds: number;
  checkpoint: string;
  numParameters: number;
}

/** Assemble the Report (charts rendered to SVG). */
export async function buildRunReport(r: RunReportInput): Promise<Report> {
  const { config, ds, test } = r;
  const def = methodDef(config.method.name);
  const k0 = config.ks[0];
  const charts: ReportChart[] = [];
  charts.push({
    title: 'Training and validation curves',
    svg: await renderTrainingCurves(curvePoints(r.history), {
      metricLabels: { loss: 'training loss', avgK: 'validation average-K accuracy', size: 'validation mean set size', lr: 'learning rate' },
    }),
    caption: `Per epoch. Validation sets use thresholds calibrated on validation itself (mean size = K). Best epoch: ${r.bestEpoch + 1}.`,
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
  const first = test.details.filter((d) => d.eval.k === k0);
  const counts: SetSizeCount[] = [];
  const perClass: PerClassRecord[] = [];
  for (const d of first) {
    d.eval.setSizeHistogram.forEach((count, size) => counts.push({ size, count, method: d.label }));
    d.eval.perClass.accuracy.forEach((acc, c) =>
      perClass.push({ classIndex: c, className: ds.classNames[c] ?? String(c), count: ds.classCounts[c], accuracy: acc, method: d.label }),
    );
  }
  charts.push({
    title: `Predicted set sizes (test, K = ${k0})`,
    svg: await renderSetSizeHistogram(counts.length ? counts : setSizeCounts([])),
    caption: 'Share of test samples per set size; the mean is K only approximately on test (calibrated on validation).',
  });
  charts.push({
    title: `Per-class average-K accuracy vs training frequency (test, K = ${k0})`,
    svg: await renderPerClassAccuracy(perClass),
    caption: 'One point per class: accuracy on its test samples against its number of training samples.',
  });

  const best = test.rows.find((row) => row.k === k0 && row.method !== BASELINE_LABEL && row.method !== BAYES_LABEL);
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
  const tables = [
    {
      title: 'Test results',
      columns: ['K', 'method', 'avg-K accuracy', 'macro avg-K accuracy', 'mean set size', 'top-K accuracy'],
      rows: test.rows.map((row) => [row.k, row.method, row.avgKAccuracy, row.macroAvgKAccuracy, row.meanSetSize, row.topKAccuracy]),
      caption: `Thresholds calibrated on validation (${ds.val.n} samples); ${test.n} test samples.`,
    },
    {
      title: 'Frequency buckets (test, macro average-K accuracy)',
      columns: ['K', 'method', 'few', 'medium', 'many'],
      rows: test.details.map((d) => [d.eval.k, d.label, d.eval.buckets?.few ?? null, d.eval.buckets?.medium ?? null, d.eval.buckets?.many ?? null]),
    },
    {
      title: 'Training history',
      columns: ['epoch', 'lr', 'train loss', ...config.ks.flatMap((k) => [`val acc K=${k}`, `val size K=${k}`]), 'seconds', 'img/s'],
      rows: r.history.map((h) => [h.epoch + 1, h.lr, h.trainLoss, ...h.val.flatMap((v) => [v.avgKAccuracy, v.meanSetSize]), h.seconds, h.imagesPerS]),
    },
    {
      title: 'Configuration',
      columns: ['setting', 'value'],
      rows: [
        ['dataset', JSON.stringify(config.dataset)],
        ['method', config.method.name],
        ...Object.entries(resolveOptions(def, config.method.options)).map(([k, v]): [string, string | number] => [k, v]),
        ['model', JSON.stringify(config.model)],
        ['optimizer', JSON.stringify(config.optimizer)],
        ['schedule', JSON.stringify(config.schedule)],
        ['epochs', config.epochs],
        ['batch size', config.batchSize],
        ['seed', config.seed],
        ['augment', config.augment],
      ],
    },
  ];
  const notes = [
    'Average-K accuracy: share of samples whose label is in the predicted set; the global threshold is calibrated on validation so that the mean set size there is K.',
    'Macro average-K accuracy: mean over classes of per-class average-K accuracy. Buckets: classes by training frequency (few / medium / many).',
  ];
  if (def.extraHeads.includes('softmax')) notes.push('Softmax-threshold baseline: the softmax head of the same model, calibrated and thresholded the same way.');
  return { title: `avgk: ${config.method.name} on ${ds.name}`, subtitle: `${r.command} — ${new Date().toISOString()}`, summary, tables, charts, notes };
}

export async function writeRunReport(dir: string, r: RunReportInput): Promise<WrittenReport> {
  return writeReport(dir, await buildRunReport(r));
}
