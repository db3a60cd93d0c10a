/**
 * Report charts: Vega-Lite specs built from plain records, rendered to SVG strings in Node.
 *
 * Rendering is offline: specs carry their data inline, the Vega loader refuses every URL, and
 * text is measured by Vega's built-in estimate (no canvas, no fonts downloaded).
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
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, labelColor: '#374151', titleColor: '#111827', symbolStrokeWidth: 2, labelLimit: 260 },
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
  /** Panels per row (default 2). */
  columns?: number;
}

/** One panel per metric (independent y), one line per split, x = epoch. NaN/∞ values leave gaps. */
export function trainingCurvesSpec(points: readonly CurvePoint[], opts: TrainingCurvesOptions = {}): TopLevelSpec {
  requireArray(points, 'training curve points');
  const label = (m: string): string => opts.metricLabels?.[m] ?? m;
  const values = points.map((p) => ({ epoch: p.epoch, split: p.split, metric: label(p.metric), value: finiteOrNull(p.value) }));
  const metrics = uniqueInOrder(values.map((v) => v.metric));
  const splits = uniqueInOrder(values.map((v) => v.split));
  const color = { field: 'split', type: 'nominal', title: 'split', scale: { domain: splits, range: PALETTE } };
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } };
  const y = { field: 'value', type: 'quantitative', title: null, scale: { zero: false } };
  return {
    ...titleOf(opts),
    config: CONFIG,
    data: { values },
    facet: { field: 'metric', type: 'nominal', title: null, sort: metrics },
    columns: Math.max(1, Math.min(opts.columns ?? 2, metrics.length || 1)),
    spec: {
      width: opts.width ?? 340,
      height: opts.height ?? 220,
      layer: [
        { mark: { type: 'line', interpolate: 'monotone' }, encoding: { x, y, color } },
        { mark: { type: 'point' }, encoding: { x, y, color } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as unknown as TopLevelSpec;
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

/** One line per method (+ error bars when `std` is given), plus the Bayes optimum when known. */
export function accuracyVsKSpec(records: readonly AccuracyVsKRecord[], opts: AccuracyVsKOptions = {}): TopLevelSpec {
  requireArray(records, 'accuracy-vs-K records');
  const bayesLabel = opts.bayesLabel ?? 'Bayes optimum';
  const rows: Record<string, unknown>[] = records.map((r) => {
    const acc = finiteOrNull(r.avgKAccuracy);
    const std = r.std !== undefined && Number.isFinite(r.std) && acc !== null ? r.std : null;
    return { method: r.method, k: r.k, acc, lo: std === null ? null : acc! - std, hi: std === null ? null : acc! + std, bayes: false };
  });
  for (const b of opts.bayes ?? []) rows.push({ method: bayesLabel, k: b.k, acc: finiteOrNull(b.avgKAccuracy), lo: null, hi: null, bayes: true });
  const methods = uniqueInOrder(records.map((r) => r.method));
  const hasBayes = (opts.bayes?.length ?? 0) > 0;
  const domain = hasBayes ? [bayesLabel, ...methods] : methods;
  const range = hasBayes ? ['#111827', ...methods.map((_, i) => PALETTE[i % PALETTE.length]!)] : methods.map((_, i) => PALETTE[i % PALETTE.length]!);
  const color = { field: 'method', type: 'nominal', title: 'method', scale: { domain, range } };
  const ks = uniqueInOrder(rows.map((r) => r.k as number)).sort((a, b) => a - b);
  const x = { field: 'k', type: 'quantitative', title: 'K (average set size)', scale: { zero: false, nice: false }, axis: { format: '.4~g', ...(ks.length <= 12 ? { values: ks } : {}) } };
  const y = { field: 'acc', type: 'quantitative', title: opts.yTitle ?? 'average-K accuracy', scale: { zero: false }, axis: { format: '.0%' } };
  const layers: unknown[] = [
    {
      mark: { type: 'line' },
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
      mark: { type: 'rule', strokeWidth: 1.5 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
    });
  }
  return {
    ...titleOf(opts),
    config: CONFIG,
    width: opts.width ?? 560,
    height: opts.height ?? 320,
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
  const encoding: Record<string, unknown> = {
    x: { field: 'size', type: 'ordinal', title: 'predicted set size', axis: { labelAngle: 0 } },
    y: { field: 'share', type: 'quantitative', title: 'share of samples', axis: { format: '.0%' } },
  };
  if (multi) {
    encoding.color = { field: 'method', type: 'nominal', title: 'method', scale: { domain: labels, range: PALETTE } };
    if (methods.length > 1) encoding.xOffset = { field: 'method', type: 'nominal', sort: labels };
  }
  const nBins = maxSize + 1;
  return {
    ...titleOf(opts),
    config: CONFIG,
    width: opts.width ?? Math.min(720, Math.max(560, nBins * Math.max(18, 10 * methods.length))),
    height: opts.height ?? 260,
    data: { values: rows },
    mark: { type: 'bar', ...(multi ? {} : { color: PALETTE[0] }), cornerRadiusEnd: 1 },
    encoding,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// Per-class accuracy vs training frequency

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
}

/**
 * Scatter of per-class accuracy against training frequency (log x). Classes with no training
 * samples cannot sit on a log axis; they are left out and counted in the subtitle.
 */
export function perClassAccuracySpec(records: readonly PerClassRecord[], opts: PerClassOptions = {}): TopLevelSpec {
  requireArray(records, 'per-class records');
  const shown = records.filter((r) => r.count > 0 && Number.isFinite(r.accuracy));
  const dropped = records.length - shown.length;
  const methods = uniqueInOrder(shown.map((r) => r.method ?? ''));
  const multi = methods.length > 1 || (methods.length === 1 && methods[0] !== '');
  const rows = shown.map((r) => ({ cls: r.classIndex, name: r.className, count: r.count, acc: r.accuracy, method: r.method ?? '' }));
  const x = { field: 'count', type: 'quantitative', title: 'training samples of the class (log scale)', scale: { type: 'log' }, axis: { format: '~s' } };
  const y = { field: 'acc', type: 'quantitative', title: 'per-class average-K accuracy', scale: { domain: [0, 1] }, axis: { format: '.0%' } };
  const color = multi ? { field: 'method', type: 'nominal', title: 'method', scale: { domain: methods, range: PALETTE } } : undefined;
  const layers: unknown[] = [
    {
      mark: { type: 'point', filled: true, opacity: 0.65, size: 30, ...(multi ? {} : { color: PALETTE[0] }) },
      encoding: { x, y, ...(color ? { color } : {}) },
    },
  ];
  const distinctCounts = new Set(rows.map((r) => r.count)).size;
  if ((opts.trend ?? true) && distinctCounts >= 3) {
    layers.push({
      transform: [{ regression: 'acc', on: 'count', method: 'log', groupby: ['method'] }],
      mark: { type: 'line', strokeWidth: 2, opacity: 0.9, ...(multi ? {} : { color: '#1f2937' }) },
      encoding: { x, y, ...(color ? { color } : {}) },
    });
  }
  const note = dropped > 0 ? `${dropped} record(s) with no training samples or no accuracy not shown` : undefined;
  const subtitle = [opts.subtitle, note].filter((s): s is string => !!s).join(' · ') || undefined;
  return {
    ...titleOf({ ...opts, subtitle }),
    config: CONFIG,
    width: opts.width ?? 560,
    height: opts.height ?? 320,
    data: { values: rows },
    layer: layers,
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

/** Compile a Vega-Lite spec and render it to an SVG string, returning warnings too. */
export async function renderSvgWithWarnings(spec: TopLevelSpec): Promise<RenderResult> {
  const { vega, vl } = await chartLibs();
  const warnings: string[] = [];
  const logger = collectingLogger(warnings, vega);
  const compiled = vl.compile(spec as VegaLite.TopLevelSpec, { logger: logger as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: offlineLoader(vega), logger, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    return { svg, warnings };
  } finally {
    view.finalize();
  }
}

/** Compile a Vega-Lite spec and render it to an SVG string (no network, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  return (await renderSvgWithWarnings(spec)).svg;
}

export const renderTrainingCurves = (points: readonly CurvePoint[], opts?: TrainingCurvesOptions): Promise<string> =>
  renderSvg(trainingCurvesSpec(points, opts));
export const renderAccuracyVsK = (records: readonly AccuracyVsKRecord[], opts?: AccuracyVsKOptions): Promise<string> =>
  renderSvg(accuracyVsKSpec(records, opts));
export const renderSetSizeHistogram = (counts: readonly SetSizeCount[], opts?: SetSizeHistogramOptions): Promise<string> =>
  renderSvg(setSizeHistogramSpec(counts, opts));
export const renderPerClassAccuracy = (records: readonly PerClassRecord[], opts?: PerClassOptions): Promise<string> =>
  renderSvg(perClassAccuracySpec(records, opts));
