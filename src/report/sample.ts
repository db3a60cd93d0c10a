/**
 * A deterministic example report with synthetic numbers (no training involved). Used by the tests
 * and handy for previewing the report layout: `writeReport(dir, await sampleReport())`.
 */
import {
  accuracyVsKSpec,
  perClassAccuracySpec,
  renderSvg,
  setSizeCounts,
  setSizeHistogramSpec,
  trainingCurvePanelSpecs,
  type AccuracyVsKRecord,
  type CurvePoint,
  type PerClassRecord,
  type SetSizeCount,
} from './charts.js';
import type { Report } from './html.js';
import { mulberry32 } from '../data/rng.js';


export interface SampleData {
  curves: CurvePoint[];
  accuracyVsK: AccuracyVsKRecord[];
  bayes: { k: number; avgKAccuracy: number }[];
  setSizes: SetSizeCount[];
  perClass: PerClassRecord[];
}

export function sampleData(seed = 1): SampleData {
  const rnd = mulberry32(seed);
  const curves: CurvePoint[] = [];
  for (let epoch = 1; epoch <= 12; epoch++) {
    const trainLoss = 2.2 * Math.exp(-epoch / 4) + 0.25 + 0.02 * rnd();
    const valLoss = 2.1 * Math.exp(-epoch / 4) + 0.45 + 0.004 * epoch * epoch * 0.3 + 0.02 * rnd();
    curves.push({ epoch, split: 'train', metric: 'loss', value: trainLoss });
    curves.push({ epoch, split: 'val', metric: 'loss', value: valLoss });
    curves.push({ epoch, split: 'train', metric: 'avgKAccuracy', value: 0.97 - 0.5 * Math.exp(-epoch / 3) + 0.005 * rnd() });
    curves.push({ epoch, split: 'val', metric: 'avgKAccuracy', value: 0.93 - 0.5 * Math.exp(-epoch / 3) + 0.01 * rnd() });
  }
  const methods = ['softmax threshold', 'two-head', 'top-K', 'ROLE'];
  const ks = [1, 1.5, 2, 3, 5];
  const accuracyVsK: AccuracyVsKRecord[] = [];
  const bayes = ks.map((k) => ({ k, avgKAccuracy: 1 - 0.28 * Math.exp(-(k - 1) * 0.9) }));
  methods.forEach((method, m) => {
    for (const k of ks) {
      const gap = [0.035, 0.025, 0.06, 0.045][m]! * (1 + 0.3 * Math.exp(-(k - 1)));
      accuracyVsK.push({ method, k, avgKAccuracy: 1 - 0.28 * Math.exp(-(k - 1) * 0.9) - gap, std: 0.004 + 0.006 * rnd() });
    }
  });
  const setSizes: SetSizeCount[] = [];
  for (const method of ['softmax threshold', 'two-head', 'top-K']) {
    const sizes: number[] = [];
    for (let i = 0; i < 2000; i++) {
      if (method === 'top-K') sizes.push(2);
      else {
        const spread = method === 'two-head' ? 1.4 : 1.8;
        sizes.push(Math.max(0, Math.min(9, Math.round(2 + spread * (rnd() + rnd() + rnd() - 1.5) * 1.4))));
      }
    }
    setSizes.push(...setSizeCounts(sizes, method));
  }
  const perClass: PerClassRecord[] = [];
  for (let c = 0; c < 60; c++) {
    const count = Math.max(1, Math.round(3000 / Math.pow(c + 1, 1.1)));
    for (const method of ['softmax threshold', 'two-head']) {
      const base = 0.45 + 0.08 * Math.log10(count) + (method === 'two-head' ? 0.06 : 0);
      perClass.push({ classIndex: c, className: `class ${c}`, count, accuracy: Math.min(1, Math.max(0, base + 0.12 * (rnd() - 0.5))), method });
    }
  }
  return { curves, accuracyVsK, bayes, setSizes, perClass };
}

/** The example report: summary, two tables, all four charts, notes. */
export async function sampleReport(seed = 1): Promise<Report> {
  const d = sampleData(seed);
  const charts = [
    {
      title: 'Training curves',
      svg: await Promise.all(trainingCurvePanelSpecs(d.curves, { metricLabels: { avgKAccuracy: 'average-K accuracy' }, unitMetrics: ['avgKAccuracy'] }).map(renderSvg)),
      caption: 'Loss and average-K accuracy (K = 2) per epoch.',
    },
    { title: 'Average-K accuracy vs K', svg: await renderSvg(accuracyVsKSpec(d.accuracyVsK, { bayes: d.bayes })), caption: 'Mean ± 1 std over 3 seeds; dashed: the Bayes optimum.' },
    { title: 'Set sizes at K = 2', svg: await renderSvg(setSizeHistogramSpec(d.setSizes)) },
    { title: 'Per-class accuracy vs training frequency', svg: await renderSvg(perClassAccuracySpec(d.perClass)), caption: 'One point per class; lines: least-squares fit on log(count).' },
  ];
  const atK2 = d.accuracyVsK.filter((r) => r.k === 2);
  const bayes2 = d.bayes.find((b) => b.k === 2)!.avgKAccuracy;
  return {
    title: 'avgk sample report',
    subtitle: 'Synthetic numbers for layout preview',
    summary: { dataset: 'synthetic-gaussians', classes: 60, K: 2, 'best method': 'two-head', 'avg-K accuracy': atK2[1]!.avgKAccuracy, 'gap to Bayes': bayes2 - atK2[1]!.avgKAccuracy, 'mean set size (test)': 2.013, epochs: 12 },
    tables: [
      {
        title: 'Average-K accuracy at K = 2 (test)',
        columns: ['method', 'avg-K accuracy', 'std', 'gap to Bayes', 'mean set size'],
        rows: atK2.map((r) => [r.method, r.avgKAccuracy, r.std ?? null, bayes2 - r.avgKAccuracy, r.method === 'top-K' ? 2 : 2 + 0.01 * r.k]),
        caption: 'Thresholds calibrated on the validation split.',
      },
      {
        title: 'Accuracy by training frequency',
        columns: ['bucket', 'classes', 'softmax threshold', 'two-head'],
        rows: [
          { bucket: 'few (< 20)', classes: 24, 'softmax threshold': 0.61, 'two-head': 0.68 },
          { bucket: 'medium', classes: 26, 'softmax threshold': 0.74, 'two-head': 0.79 },
          { bucket: 'many (> 100)', classes: 10, 'softmax threshold': 0.86, 'two-head': 0.9 },
        ],
      },
    ],
    charts,
    notes: ['All numbers in this report are synthetic.', 'Average-K accuracy is the share of test samples whose true label is in the predicted set.'],
  };
}
