/**
 * Report charts: Vega-Lite specs built from plain records, rendered to SVG strings in Node.
 *
 * Rendering is offline: specs carry their data inline, the Vega loader refuses every URL, and
 * text is measured with a per-character width table (no canvas, no fonts downloaded).
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';

/**
 * A Vega-Lite specification (vega-lite's TopLevelSpec), typed loosely so that avgk's public types
 * do not need vega-lite: vega and vega-lite are optional peer dependencies, loaded on first render.
 */
export type TopLevelSpec = { [key: string]: any };

/** Font stack for chart text; whatever the viewer has installed is used. */
export const CHART_FONT =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif';

/** Categorical palette (Tableau 10), used for methods/splits in order of first appearance. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export interface ChartOptions {
  title?: string;
  subtitle?: string;
  /** Plot-area width in px (per panel for faceted charts). */
  width?: number;
  /** Plot-area height in px (per panel for faceted charts). */
  height?: number;
}

const CONFIG = {
  font: CHART_FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#d9dde3', strokeWidth: 1 },
  axis: {
    labelColor: '#374151',
    titleColor: '#111827',
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600,
    gridColor: '#eceff3',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
    titlePadding: 8,
  },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, labelColor: '#374151', titleColor: '#111827', symbolStrokeWidth: 2, labelLimit: 400, columnPadding: 14 },
  header: { labelFontSize: 12, labelFontWeight: 600, labelColor: '#111827', titleFontSize: 12 },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', color: '#111827', subtitleColor: '#4b5563', subtitleFontSize: 11, offset: 10 },
  line: { strokeWidth: 2 },
  point: { size: 36, filled: true },
  range: { category: PALETTE },
} as const;

/** Charts have no title unless asked: the report shows each chart under its own heading. */
function titleOf(opts: ChartOptions): Record<string, unknown> {
  const text = opts.title;
  if (text === undefined) {
    // A lone subtitle is drawn as a small, plain title line (Vega drops subtitles without a title).
    return opts.subtitle ? { title: { text: opts.subtitle, fontSize: 11, fontWeight: 'normal', color: '#4b5563' } } : {};
  }
  return { title: opts.subtitle ? { text, subtitle: opts.subtitle } : text };
}

function uniqueInOrder<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function requireArray(x: unknown, what: string): void {
  if (!Array.isArray(x)) throw new TypeError(`${what} must be an array of records`);
}

// ---------------------------------------------------------------------------------------------
// Text widths, axis ticks and domains

/** Advance widths of ASCII 32..126 in 1/1000 em (Helvetica/Arial metrics). */
const ASCII_WIDTHS = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/**
 * Estimated width in px of `text` at `fontSize`: Arial widths made 12% wider (DejaVu Sans, the
 * usual Linux fallback, is the widest of CHART_FONT's faces), bold 8% more. Vega's own estimate,
 * 0.8 em per character, is about 1.5× too wide and truncates legend labels early.
 */
export function textWidth(text: string, fontSize = 11, bold = false): number {
  let units = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    units += c >= 32 && c <= 126 ? ASCII_WIDTHS[c - 32]! : 600;
  }
  return (units / 1000) * fontSize * 1.12 * (bold ? 1.08 : 1);
}

/** Vega's textMetrics.width signature: measures a text mark item. */
function vegaTextWidth(item: { fontSize?: number; fontWeight?: string | number }, text: unknown): number {
  const s = text === null || text === undefined ? '' : String(text).trim();
  const w = item.fontWeight;
  const bold = w === 'bold' || w === 'bolder' || (typeof w === 'number' && w >= 600) || (typeof w === 'string' && Number(w) >= 600);
  return textWidth(s, item.fontSize ?? 11, bold);
}

/**
 * Integer tick values for an epoch axis over [lo, hi]: every epoch up to 12, else multiples of a
 * 1-2-5 step (no fractional or repeated epochs).
 */
export function integerTicks(lo: number, hi: number, maxTicks = 12): number[] {
  const a = Math.ceil(lo);
  const b = Math.floor(hi);
  if (!(b >= a)) return [];
  let step = 1;
  for (let m = 1; ; m *= 10) {
    const s = [1, 2, 5].map((f) => f * m).find((x) => Math.floor(b / x) - Math.ceil(a / x) + 1 <= maxTicks);
    if (s !== undefined) {
      step = s;
      break;
    }
  }
  const out: number[] = [];
  for (let v = Math.ceil(a / step) * step; v <= b; v += step) out.push(v);
  return out;
}

/**
 * A y domain inside [0, 1] for shares and accuracies: the values' range widened to multiples of
 * 5%, at least 10% tall, never below 0 or above 1 (so no axis reads 102%).
 */
export function unitDomain(values: Iterable<number | null | undefined>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (!(max >= min)) return [0, 1];
  let lo = Math.max(0, Math.floor(Math.min(1, min) * 20 + 1e-9) / 20);
  let hi = Math.min(1, Math.ceil(Math.max(0, max) * 20 - 1e-9) / 20);
  if (hi - lo < 0.1) {
    hi = Math.min(1, lo + 0.1);
    lo = Math.max(0, hi - 0.1);
  }
  return [Number(lo.toFixed(2)), Number(hi.toFixed(2))];
}

/**
 * Of the candidate tick values, those whose labels do not overlap along an axis of `width` px,
 * positioned by `pos` (0..1). The first and last are kept.
 */
function spacedTicks(values: readonly number[], pos: (v: number) => number, width: number, label: (v: number) => string): number[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.length <= 2) return sorted;
  const half = (v: number): number => textWidth(label(v)) / 2 + 4;
  const kept: number[] = [sorted[0]!];
  for (const v of sorted.slice(1)) {
    const prev = kept[kept.length - 1]!;
    if ((pos(v) - pos(prev)) * width >= half(v) + half(prev)) kept.push(v);
  }
  const last = sorted[sorted.length - 1]!;
  if (kept[kept.length - 1] !== last) {
    while (kept.length > 1 && (pos(last) - pos(kept[kept.length - 1]!)) * width < half(last) + half(kept[kept.length - 1]!)) kept.pop();
    kept.push(last);
  }
  return kept;
}

/** A legend under the plot, in as many columns as fit `width`. */
function bottomLegend(labels: readonly string[], width: number, symbols = 18): Record<string, unknown> {
  const widest = Math.max(0, ...labels.map((l) => textWidth(l))) + symbols + 14;
  const columns = Math.max(1, Math.min(labels.length, Math.floor((width + 14) / widest)));
  return { orient: 'bottom', direction: 'horizontal', columns, title: null };
}

function shortNumber(v: number): string {
  return String(Number(v.toPrecision(4)));
}

// ---------------------------------------------------------------------------------------------
// Training / validation curves

export interface CurvePoint {
  epoch: number;
  /** e.g. 'train', 'val'. */
  split: string;
  /** e.g. 'loss', 'avgKAccuracy'; one panel per metric. */
  metric: string;
  value: number;
}

export interface TrainingCurvesOptions extends ChartOptions {
  /** Display names for metrics (default: the metric key). */
  metricLabels?: Record<string, string>;
  /** Panels per row of trainingCurvesSpec (default 2). */
  columns?: number;
  /** Metrics with values in [0, 1] (accuracies): percent axes that stay within 0–100%. */
  unitMetrics?: readonly string[];
}

/** One panel per metric (its own y axis), one line per split, x = epoch. NaN/∞ values leave gaps. */
function curvePanels(points: readonly CurvePoint[], opts: TrainingCurvesOptions): Record<string, unknown>[] {
  requireArray(points, 'training curve points');
  const metrics = uniqueInOrder(points.map((p) => p.metric));
  const splits = uniqueInOrder(points.map((p) => p.split));
  const epochs = points.map((p) => p.epoch).filter(Number.isFinite);
  const eMin = epochs.length ? Math.min(...epochs) : 1;
  const eMax = epochs.length ? Math.max(...epochs) : 1;
  const width = opts.width ?? 300;
  const ticks = integerTicks(eMin, eMax, Math.max(2, Math.min(12, Math.floor(width / 32))));
  const x = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: eMax > eMin ? [eMin, eMax] : [eMin - 1, eMin + 1], nice: false, zero: false },
    axis: { values: ticks, format: 'd' },
  };
  const showPoints = eMax - eMin < 30;
  return metrics.map((metric) => {
    const mine = points.filter((p) => p.metric === metric);
    const values = mine.map((p) => ({ epoch: p.epoch, split: p.split, value: finiteOrNull(p.value) }));
    const here = uniqueInOrder(mine.map((p) => p.split));
    const unit = opts.unitMetrics?.includes(metric) ?? false;
    const y = unit
      ? { field: 'value', type: 'quantitative', title: null, scale: { domain: unitDomain(values.map((v) => v.value)), nice: false, zero: false, padding: 6 }, axis: { format: '.0%' } }
      : { field: 'value', type: 'quantitative', title: null, scale: { zero: false } };
    // each split keeps its colour across panels; a panel's legend lists its own splits only
    const range = here.map((sp) => PALETTE[splits.indexOf(sp) % PALETTE.length]!);
    const color = { field: 'split', type: 'nominal', title: null, scale: { domain: here, range }, legend: here.length > 1 ? bottomLegend(here, width) : null };
    const layer: unknown[] = [{ mark: { type: 'line', interpolate: 'monotone', clip: true }, encoding: { x, y, color } }];
    if (showPoints) layer.push({ mark: { type: 'point' }, encoding: { x, y, color } });
    return {
      title: { text: opts.metricLabels?.[metric] ?? metric, fontSize: 12, anchor: 'start', offset: 6 },
      width,
      height: opts.height ?? 200,
      data: { values },
      layer,
    };
  });
}

/** One spec per metric, for panels laid out by the page (see ReportChart.svg). */
export function trainingCurvePanelSpecs(points: readonly CurvePoint[], opts: TrainingCurvesOptions = {}): TopLevelSpec[] {
  return curvePanels(points, opts).map((p) => ({ ...p, config: CONFIG }) as TopLevelSpec);
}

/** All metric panels in one chart, `columns` per row. */
export function trainingCurvesSpec(points: readonly CurvePoint[], opts: TrainingCurvesOptions = {}): TopLevelSpec {
  const panels = curvePanels(points, opts);
  return {
    ...titleOf(opts),
    config: CONFIG,
    columns: Math.max(1, Math.min(opts.columns ?? 2, panels.length || 1)),
    concat: panels,
    resolve: { scale: { y: 'independent', color: 'independent' }, legend: { color: 'independent' } },
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Average-K accuracy vs K

export interface AccuracyVsKRecord {
  method: string;
  k: number;
  /** In [0, 1]. */
  avgKAccuracy: number;
  /** Standard deviation over seeds/runs; drawn as ±1 std error bars. */
  std?: number;
}

export interface AccuracyVsKOptions extends ChartOptions {
  /** The Bayes-optimal average-K accuracy per K, when known (drawn dashed, in black). */
  bayes?: readonly { k: number; avgKAccuracy: number }[] | null;
  /** Legend name of the Bayes curve (default 'Bayes optimum'). */
  bayesLabel?: string;
  /** Axis title for accuracy (default 'average-K accuracy'). */
  yTitle?: string;
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/**
 * One line per method (+ error bars when `std` is given), plus the Bayes optimum when known. K is
 * on a log axis when it spans a factor of 6 or more; the accuracy axis stays within 0–100%.
 */
export function accuracyVsKSpec(records: readonly AccuracyVsKRecord[], opts: AccuracyVsKOptions = {}): TopLevelSpec {
  requireArray(records, 'accuracy-vs-K records');
  const bayesLabel = opts.bayesLabel ?? 'Bayes optimum';
  const rows: Record<string, unknown>[] = records.map((r) => {
    const acc = finiteOrNull(r.avgKAccuracy);
    const std = r.std !== undefined && Number.isFinite(r.std) && acc !== null ? r.std : null;
    return { method: r.method, k: r.k, acc, lo: std === null ? null : clamp01(acc! - std), hi: std === null ? null : clamp01(acc! + std), bayes: false };
  });
  for (const b of opts.bayes ?? []) rows.push({ method: bayesLabel, k: b.k, acc: finiteOrNull(b.avgKAccuracy), lo: null, hi: null, bayes: true });
  const methods = uniqueInOrder(records.map((r) => r.method));
  const hasBayes = (opts.bayes?.length ?? 0) > 0;
  const domain = hasBayes ? [bayesLabel, ...methods] : methods;
  const range = hasBayes ? ['#111827', ...methods.map((_, i) => PALETTE[i % PALETTE.length]!)] : methods.map((_, i) => PALETTE[i % PALETTE.length]!);
  const width = opts.width ?? 520;
  const color = { field: 'method', type: 'nominal', title: null, scale: { domain, range }, legend: bottomLegend(domain, width) };
  const ks = uniqueInOrder(rows.map((r) => r.k as number).filter(Number.isFinite)).sort((a, b) => a - b);
  const kMin = ks[0] ?? 1;
  const kMax = ks[ks.length - 1] ?? 1;
  const log = kMin > 0 && kMax / kMin >= 6;
  const f = log ? Math.log : (v: number) => v;
  const kDomain = kMax > kMin ? [kMin, kMax] : [kMin * 0.8, kMin * 1.25];
  const pos = (v: number): number => (f(v) - f(kDomain[0]!)) / (f(kDomain[1]!) - f(kDomain[0]!));
  const x = {
    field: 'k',
    type: 'quantitative',
    title: log ? 'K (average set size, log scale)' : 'K (average set size)',
    scale: { type: log ? 'log' : 'linear', domain: kDomain, nice: false, ...(log ? {} : { zero: false }) },
    axis: { format: '.4~g', ...(ks.length <= 24 ? { values: spacedTicks(ks, pos, width, shortNumber) } : {}) },
  };
  const yValues = rows.flatMap((r) => [r.acc, r.lo, r.hi] as (number | null)[]);
  const y = { field: 'acc', type: 'quantitative', title: opts.yTitle ?? 'average-K accuracy', scale: { domain: unitDomain(yValues), nice: false, zero: false, padding: 6 }, axis: { format: '.0%' } };
  const layers: unknown[] = [
    {
      mark: { type: 'line', clip: true },
      encoding: {
        x,
        y,
        color,
        strokeDash: { field: 'bayes', type: 'nominal', scale: { domain: [false, true], range: [[1, 0], [6, 4]] }, legend: null },
      },
    },
    { transform: [{ filter: 'datum.bayes === false' }], mark: { type: 'point' }, encoding: { x, y, color } },
  ];
  if (rows.some((r) => r.lo !== null)) {
    layers.push({
      transform: [{ filter: 'datum.lo !== null' }],
      mark: { type: 'rule', strokeWidth: 1.5, clip: true },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
    });
  }
  return {
    ...titleOf(opts),
    config: CONFIG,
    width,
    height: opts.height ?? 300,
    data: { values: rows },
    layer: layers,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Set-size histogram

export interface SetSizeCount {
  /** Number of labels in the predicted set (0 = empty set). */
  size: number;
  /** How many samples got a set of this size. */
  count: number;
  method?: string;
}

/** Tally predicted set sizes into {size, count} records (sizes 0..max, zeros included). */
export function setSizeCounts(sizes: ArrayLike<number>, method?: string): SetSizeCount[] {
  const counts: number[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i]!;
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`set size at index ${i} must be an integer >= 0, got ${s}`);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return Array.from(counts, (c, size) => (method === undefined ? { size, count: c ?? 0 } : { size, count: c ?? 0, method }));
}

export interface SetSizeHistogramOptions extends ChartOptions {
  /** Append the mean set size to each method's legend entry (default true). */
  showMean?: boolean;
}

/**
 * Share of samples per predicted set size; grouped bars when several methods are given (each
 * method normalised by its own sample count).
 */
export function setSizeHistogramSpec(counts: readonly SetSizeCount[], opts: SetSizeHistogramOptions = {}): TopLevelSpec {
  requireArray(counts, 'set-size counts');
  const methods = uniqueInOrder(counts.map((c) => c.method ?? ''));
  const multi = methods.length > 1 || methods[0] !== '';
  const maxSize = counts.reduce((m, c) => Math.max(m, c.size), 0);
  const showMean = opts.showMean ?? true;
  const rows: { size: number; share: number; count: number; method: string }[] = [];
  const labelOf = new Map<string, string>();
  for (const m of methods) {
    const mine = counts.filter((c) => (c.method ?? '') === m);
    const total = mine.reduce((s, c) => s + c.count, 0);
    const mean = total > 0 ? mine.reduce((s, c) => s + c.size * c.count, 0) / total : NaN;
    const label = showMean && Number.isFinite(mean) ? `${m === '' ? 'all' : m} (mean ${mean.toFixed(2)})` : m === '' ? 'all' : m;
    labelOf.set(m, label);
    const bySize = new Map<number, number>();
    for (const c of mine) bySize.set(c.size, (bySize.get(c.size) ?? 0) + c.count);
    for (let s = 0; s <= maxSize; s++) {
      const c = bySize.get(s) ?? 0;
      rows.push({ size: s, count: c, share: total > 0 ? c / total : 0, method: label });
    }
  }
  const labels = methods.map((m) => labelOf.get(m)!);
  const nBins = maxSize + 1;
  const width = opts.width ?? Math.min(640, Math.max(480, nBins * Math.max(18, 10 * methods.length)));
  const maxShare = rows.reduce((m, r) => Math.max(m, r.share), 0);
  const encoding: Record<string, unknown> = {
    x: { field: 'size', type: 'ordinal', title: 'predicted set size', axis: { labelAngle: 0 } },
    y: { field: 'share', type: 'quantitative', title: 'share of samples', scale: { domain: [0, Math.min(1, Math.ceil(maxShare * 10 - 1e-9) / 10 || 1)], nice: false }, axis: { format: '.0%' } },
  };
  if (multi) {
    encoding.color = { field: 'method', type: 'nominal', title: null, scale: { domain: labels, range: PALETTE }, legend: bottomLegend(labels, width) };
    if (methods.length > 1) encoding.xOffset = { field: 'method', type: 'nominal', sort: labels };
  }
  return {
    ...titleOf(opts),
    config: CONFIG,
    width,
    height: opts.height ?? 240,
    data: { values: rows },
    mark: { type: 'bar', ...(multi ? {} : { color: PALETTE[0] }), cornerRadiusEnd: 1 },
    encoding,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Per-class accuracy

export interface PerClassRecord {
  classIndex: number;
  className: string;
  /** Training samples of this class. */
  count: number;
  /** Average-K accuracy on this class's evaluation samples, in [0, 1]. */
  accuracy: number;
  method?: string;
}

export interface PerClassOptions extends ChartOptions {
  /** Draw a per-method least-squares trend of accuracy against log(count) (default true). */
  trend?: boolean;
  /**
   * 'frequency': accuracy against training samples (log x); 'sorted': classes sorted by accuracy.
   * Default: 'sorted' when the class counts are balanced (see classCountsBalanced), else 'frequency'.
   */
  layout?: 'frequency' | 'sorted';
}

/** True when every count is within ×1.5 of the others: training frequency then tells classes apart by chance only. */
export function classCountsBalanced(counts: Iterable<number>): boolean {
  let min = Infinity;
  let max = -Infinity;
  for (const c of counts) {
    if (!(c > 0)) return false;
    min = Math.min(min, c);
    max = Math.max(max, c);
  }
  return max >= min && max <= 1.5 * min;
}

/** 1-2-5 values × powers of ten inside [lo, hi], for a log axis. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** p;
      if (v >= lo && v <= hi) out.push(Number(v.toPrecision(3)));
    }
  }
  return out;
}

/**
 * Per-class accuracy: against training frequency (log x, with a trend per method) on long-tailed
 * data; on balanced data, classes sorted by accuracy (names on the axis up to 30 classes). Classes
 * with no training samples cannot sit on a log axis: they are left out and counted in the subtitle.
 */
export function perClassAccuracySpec(records: readonly PerClassRecord[], opts: PerClassOptions = {}): TopLevelSpec {
  requireArray(records, 'per-class records');
  const layout = opts.layout ?? (classCountsBalanced(records.map((r) => r.count)) ? 'sorted' : 'frequency');
  const shown = records.filter((r) => (layout === 'sorted' || r.count > 0) && Number.isFinite(r.accuracy));
  const dropped = records.length - shown.length;
  const methods = uniqueInOrder(shown.map((r) => r.method ?? ''));
  const multi = methods.length > 1 || (methods.length === 1 && methods[0] !== '');
  const width = opts.width ?? 520;
  const y = { field: 'acc', type: 'quantitative', title: 'per-class average-K accuracy', scale: { domain: unitDomain(shown.map((r) => r.accuracy)), nice: false, zero: false, padding: 6 }, axis: { format: '.0%' } };
  const color = multi ? { field: 'method', type: 'nominal', title: null, scale: { domain: methods, range: PALETTE }, legend: bottomLegend(methods, width) } : undefined;
  const layers: unknown[] = [];
  let rows: Record<string, unknown>[];
  if (layout === 'frequency') {
    rows = shown.map((r) => ({ cls: r.classIndex, name: r.className, count: r.count, acc: r.accuracy, method: r.method ?? '' }));
    const counts = shown.map((r) => r.count);
    const lo = counts.length ? Math.min(...counts) / 1.2 : 1;
    const hi = counts.length ? Math.max(...counts) * 1.2 : 10;
    const pos = (v: number): number => (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo));
    const x = {
      field: 'count',
      type: 'quantitative',
      title: 'training samples of the class (log scale)',
      scale: { type: 'log', domain: [lo, hi], nice: false },
      axis: { format: '~s', values: spacedTicks(logTicks(lo, hi), pos, width, (v) => String(v)), grid: true },
    };
    layers.push({ mark: { type: 'point', filled: true, opacity: 0.65, size: 30, ...(multi ? {} : { color: PALETTE[0] }) }, encoding: { x, y, ...(color ? { color } : {}) } });
    if ((opts.trend ?? true) && new Set(counts).size >= 3) {
      layers.push({
        transform: [{ regression: 'acc', on: 'count', method: 'log', groupby: ['method'] }],
        mark: { type: 'line', strokeWidth: 2, opacity: 0.9, clip: true, ...(multi ? {} : { color: '#1f2937' }) },
        encoding: { x, y, ...(color ? { color } : {}) },
      });
    }
  } else {
    // rank within each method, best first; names on the axis when they fit
    rows = [];
    for (const m of methods) {
      const mine = shown.filter((r) => (r.method ?? '') === m).sort((a, b) => b.accuracy - a.accuracy || a.classIndex - b.classIndex);
      mine.forEach((r, i) => rows.push({ cls: r.classIndex, name: r.className, count: r.count, acc: r.accuracy, method: m, rank: i + 1 }));
    }
    const nClasses = new Set(shown.map((r) => r.classIndex)).size;
    if (nClasses <= 30) {
      const first = rows.filter((r) => r.method === methods[0]).map((r) => r.name as string);
      const x = { field: 'name', type: 'nominal', title: `classes, by accuracy${multi ? ` of ${methods[0]}` : ''}`, sort: uniqueInOrder(first), axis: { labelAngle: -40, labelLimit: 110 } };
      layers.push({ mark: { type: 'point', filled: true, size: 44, opacity: 0.85, ...(multi ? {} : { color: PALETTE[0] }) }, encoding: { x, y, ...(color ? { color } : {}) } });
    } else {
      const x = { field: 'rank', type: 'quantitative', title: 'classes, sorted by accuracy (rank)', scale: { domain: [1, nClasses], nice: false }, axis: { format: 'd', tickMinStep: 1 } };
      layers.push({ mark: { type: 'line', strokeWidth: 2, clip: true, ...(multi ? {} : { color: PALETTE[0] }) }, encoding: { x, y, ...(color ? { color } : {}) } });
    }
  }
  const note = dropped > 0 ? `${dropped} ${dropped === 1 ? 'class' : 'classes'} with no training samples or no accuracy not shown` : undefined;
  const subtitle = [opts.subtitle, note].filter((s): s is string => !!s).join(' · ') || undefined;
  return {
    ...titleOf({ ...opts, subtitle }),
    config: CONFIG,
    width,
    height: opts.height ?? 300,
    data: { values: rows },
    layer: layers,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Spread over seeds

export interface SeedRecord {
  method: string;
  seed: number;
  /** In [0, 1]. */
  value: number;
}

export interface SeedSpreadOptions extends ChartOptions {
  /** Axis title (default 'average-K accuracy'). */
  xTitle?: string;
}

/** One row per method: a dot per seed, a bar at the mean and a line from the lowest to the highest seed. */
export function seedSpreadSpec(records: readonly SeedRecord[], opts: SeedSpreadOptions = {}): TopLevelSpec {
  requireArray(records, 'seed records');
  const rows = records.filter((r) => Number.isFinite(r.value)).map((r) => ({ method: r.method, seed: String(r.seed), value: r.value }));
  const methods = uniqueInOrder(rows.map((r) => r.method));
  const y = { field: 'method', type: 'nominal', title: null, sort: methods, axis: { labelLimit: 220 } };
  const width = opts.width ?? 360;
  const x = {
    field: 'value',
    type: 'quantitative',
    title: opts.xTitle ?? 'average-K accuracy',
    scale: { domain: unitDomain(rows.map((r) => r.value)), nice: false, zero: false, padding: 6 },
    axis: { format: '.0%', tickCount: Math.max(2, Math.floor(width / 60)) },
  };
  return {
    ...titleOf(opts),
    config: CONFIG,
    width,
    height: opts.height ?? Math.max(60, 24 * methods.length),
    data: { values: rows },
    layer: [
      {
        transform: [{ aggregate: [{ op: 'min', field: 'value', as: 'lo' }, { op: 'max', field: 'value', as: 'hi' }], groupby: ['method'] }],
        mark: { type: 'rule', color: '#9ca3af', strokeWidth: 2, clip: true },
        encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' } },
      },
      {
        mark: { type: 'point', filled: true, size: 40, opacity: 0.8 },
        encoding: { y, x, color: { field: 'method', type: 'nominal', scale: { domain: methods, range: PALETTE }, legend: null } },
      },
      {
        transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'mean' }], groupby: ['method'] }],
        mark: { type: 'tick', color: '#111827', thickness: 2, size: 16, clip: true },
        encoding: { y, x: { ...x, field: 'mean' } },
      },
    ],
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Rendering

export interface RenderResult {
  svg: string;
  /** Warnings from Vega-Lite compilation and Vega evaluation (usually a spec mistake). */
  warnings: string[];
}

type VegaLibs = { vega: typeof Vega; vl: typeof VegaLite };
let libs: Promise<VegaLibs> | undefined;

/** vega and vega-lite, imported on first use (optional peer dependencies of avgk). */
function chartLibs(): Promise<VegaLibs> {
  libs ??= Promise.all([import('vega'), import('vega-lite')]).then(
    ([vega, vl]) => ({ vega, vl }),
    (e: unknown) => {
      libs = undefined;
      if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
      throw new Error(
        'charts need the npm packages "vega" and "vega-lite" (optional peer dependencies of avgk): ' +
          `run \`npm install vega@~5.33.0 vega-lite@~5.23.0\`, or pass --no-report to avgk train / compare (${(e as Error).message})`,
        { cause: e },
      );
    },
  );
  return libs;
}

/**
 * Resolves when the chart libraries load, rejects with the message naming the packages to install
 * otherwise: commands that write a report call it before any training.
 */
export async function checkChartLibs(): Promise<void> {
  await chartLibs();
}

function collectingLogger(sink: string[], vega: typeof Vega): Vega.LoggerInterface {
  let level = vega.Warn;
  const push = (kind: string) => (...args: readonly unknown[]) => {
    sink.push(`${kind}: ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')}`);
  };
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: readonly unknown[]) {
      push('error')(...args);
      return logger;
    },
    warn(...args: readonly unknown[]) {
      if (level >= vega.Warn) push('warn')(...args);
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger as unknown as Vega.LoggerInterface;
}

/** A Vega loader that refuses every external resource: charts must carry their data inline. */
function offlineLoader(vega: typeof Vega): Vega.Loader {
  const refuse = (uri: string): Promise<never> => Promise.reject(new Error(`offline chart rendering: refusing to load ${JSON.stringify(uri)}`));
  const base = vega.loader();
  base.load = (uri: string) => refuse(uri);
  base.sanitize = (uri: string) => refuse(uri);
  base.http = (uri: string) => refuse(uri);
  base.file = (uri: string) => refuse(uri);
  return base;
}

type TextWidth = (item: { fontSize?: number; fontWeight?: string | number }, text: unknown) => number;
/** vega's textMetrics (exported by vega-scenegraph; not in vega's type declarations). */
type WithTextMetrics = { textMetrics: { width: TextWidth } };
let measuring = 0;
let vegaWidth: TextWidth | undefined;

/** Measure text with textWidth while avgk renders (Vega's hook for custom metrics), then put Vega's back. */
function useOwnTextMetrics(vega: typeof Vega): () => void {
  const metrics = (vega as unknown as WithTextMetrics).textMetrics;
  if (measuring++ === 0) {
    vegaWidth = metrics.width;
    metrics.width = vegaTextWidth;
  }
  return () => {
    if (--measuring === 0) metrics.width = vegaWidth!;
  };
}

/** Compile a Vega-Lite spec and render it to an SVG string, returning warnings too. */
export async function renderSvgWithWarnings(spec: TopLevelSpec): Promise<RenderResult> {
  const { vega, vl } = await chartLibs();
  const warnings: string[] = [];
  const logger = collectingLogger(warnings, vega);
  const compiled = vl.compile(spec as VegaLite.TopLevelSpec, { logger: logger as never }).spec;
  const restore = useOwnTextMetrics(vega);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: offlineLoader(vega), logger, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    return { svg, warnings };
  } finally {
    view.finalize();
    restore();
  }
}

/** Compile a Vega-Lite spec and render it to an SVG string (no network, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  return (await renderSvgWithWarnings(spec)).svg;
}

export const renderTrainingCurves = (points: readonly CurvePoint[], opts?: TrainingCurvesOptions): Promise<string> =>
  renderSvg(trainingCurvesSpec(points, opts));
/** One SVG per metric panel (see trainingCurvePanelSpecs). */
export const renderTrainingCurvePanels = (points: readonly CurvePoint[], opts?: TrainingCurvesOptions): Promise<string[]> =>
  Promise.all(trainingCurvePanelSpecs(points, opts).map(renderSvg));
export const renderAccuracyVsK = (records: readonly AccuracyVsKRecord[], opts?: AccuracyVsKOptions): Promise<string> =>
  renderSvg(accuracyVsKSpec(records, opts));
export const renderSetSizeHistogram = (counts: readonly SetSizeCount[], opts?: SetSizeHistogramOptions): Promise<string> =>
  renderSvg(setSizeHistogramSpec(counts, opts));
export const renderPerClassAccuracy = (records: readonly PerClassRecord[], opts?: PerClassOptions): Promise<string> =>
  renderSvg(perClassAccuracySpec(records, opts));
export const renderSeedSpread = (records: readonly SeedRecord[], opts?: SeedSpreadOptions): Promise<string> => renderSvg(seedSpreadSpec(records, opts));
