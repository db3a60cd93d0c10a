import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyVsKSpec,
  classCountsBalanced,
  integerTicks,
  perClassAccuracySpec,
  renderSvgWithWarnings,
  seedSpreadSpec,
  setSizeCounts,
  setSizeHistogramSpec,
  textWidth,
  trainingCurvePanelSpecs,
  trainingCurvesSpec,
  unitDomain,
  type TopLevelSpec,
} from '../src/report/charts.js';
import {
  assertSafeSvg,
  escapeMarkdown,
  formatValue,
  machineKey,
  namespaceSvgIds,
  renderMarkdown,
  renderReport,
  reportSummaryJson,
  roundFloats,
  writeReport,
  type Report,
} from '../src/report/html.js';
import { sampleData, sampleReport } from '../src/report/sample.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'avgk-report-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Render and check it is a proper SVG with drawn marks and no Vega warnings. */
async function render(spec: TopLevelSpec): Promise<string> {
  const { svg, warnings } = await renderSvgWithWarnings(spec);
  expect(warnings).toEqual([]);
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).toContain('</svg>');
  assertSafeSvg(svg);
  return svg;
}

function count(hay: string, needle: RegExp): number {
  return [...hay.matchAll(needle)].length;
}

/** The tick labels of a chart's X or Y axis, as drawn in the SVG. */
function axisLabels(svg: string, axis: 'X' | 'Y'): string[] {
  const at = svg.search(new RegExp(`aria-label="${axis}-axis`));
  expect(at, `${axis} axis`).toBeGreaterThanOrEqual(0);
  const group = /class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/s.exec(svg.slice(at))!;
  return [...group[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

/** Translations of the point symbols of a chart: one [x, y] per drawn point. */
function pointPositions(svg: string): [number, number][] {
  return [...svg.matchAll(/<path [^>]*aria-roledescription="point" transform="translate\(([-\d.]+),([-\d.]+)\)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** The text of every legend label. */
function legendLabels(svg: string): string[] {
  return [...svg.matchAll(/class="mark-text role-legend-label"[^>]*>(.*?)<\/g>/gs)].flatMap((g) => [...g[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!));
}

const percent = (label: string): number => Number(label.replace('%', ''));

describe('charts', () => {
  const d = sampleData();

  it('training curves: one panel per metric, a line per split', async () => {
    const svg = await render(trainingCurvesSpec(d.curves, { metricLabels: { avgKAccuracy: 'average-K accuracy' } }));
    expect(count(svg, /aria-roledescription="line mark"/g)).toBe(4); // 2 splits × 2 metric panels
    expect(count(svg, /aria-roledescription="point"/g)).toBe(4 * 12); // one point per epoch
    expect(count(svg, /<path [^>]*aria-roledescription="line mark" d="M[\d.]+,[\d.]+[CL]/g)).toBe(4);
    expect(svg).toContain('>loss<');
    expect(svg).toContain('>average-K accuracy<');
    expect(svg).toContain('>val<');
  });

  it('training curves tolerate NaN values (gaps, no crash)', async () => {
    const pts = [
      { epoch: 1, split: 'train', metric: 'loss', value: 1 },
      { epoch: 2, split: 'train', metric: 'loss', value: NaN },
      { epoch: 3, split: 'train', metric: 'loss', value: 0.5 },
    ];
    await render(trainingCurvesSpec(pts));
  });

  it('accuracy vs K: a line per method, error bars, the Bayes optimum dashed', async () => {
    const svg = await render(accuracyVsKSpec(d.accuracyVsK, { bayes: d.bayes }));
    expect(svg).toContain('>Bayes optimum<');
    expect(svg).toContain('>two-head<');
    expect(svg).toMatch(/stroke-dasharray="6,4"/);
    expect(count(svg, /aria-roledescription="rule mark"/g)).toBe(20); // ±std error bars
    expect(count(svg, /aria-roledescription="line mark"/g)).toBe(5); // 4 methods + Bayes
    expect(count(svg, /aria-roledescription="point"/g)).toBe(20); // no points on the Bayes curve
    // Without Bayes or std, no dashed line and no error bars.
    const plain = await render(accuracyVsKSpec(d.accuracyVsK.map(({ std: _s, ...r }) => r)));
    expect(plain).not.toContain('Bayes');
    expect(plain).not.toContain('aria-roledescription="rule mark"');
  });

  it('set-size histogram: grouped bars with mean set size, and a single-method version', async () => {
    const svg = await render(setSizeHistogramSpec(d.setSizes));
    expect(svg).toMatch(/top-K \(mean 2\.00\)/);
    const maxSize = Math.max(...d.setSizes.map((c) => c.size));
    expect(count(svg, /aria-roledescription="bar"/g)).toBe(3 * (maxSize + 1)); // every method × every size
    const single = await render(setSizeHistogramSpec(setSizeCounts([0, 1, 1, 2, 2, 2, 3])));
    expect(count(single, /aria-roledescription="bar"/g)).toBe(4);
    expect(setSizeCounts([2, 0, 2])).toEqual([
      { size: 0, count: 1 },
      { size: 1, count: 0 },
      { size: 2, count: 2 },
    ]);
    expect(() => setSizeCounts([1.5])).toThrow('integer');
  });

  it('per-class scatter on a log x axis with trend lines; zero-count classes are reported', async () => {
    const svg = await render(perClassAccuracySpec(d.perClass));
    expect(count(svg, /aria-roledescription="point"/g)).toBe(60 * 2); // 60 classes × 2 methods
    expect(count(svg, /aria-roledescription="line mark"/g)).toBe(2); // a trend per method
    expect(svg).toContain('(log scale)');
    const withZero = await render(perClassAccuracySpec([...d.perClass.slice(0, 10), { classIndex: 99, className: 'unseen', count: 0, accuracy: 0 }]));
    expect(withZero.includes('>1 class with no training samples or no accuracy not shown<')).toBe(true);
  });

  it('escapes user text inside SVG (class and method names, titles)', async () => {
    const svg = await render(
      accuracyVsKSpec([{ method: '<script>alert(1)</script>', k: 1, avgKAccuracy: 0.5 }, { method: '<script>alert(1)</script>', k: 2, avgKAccuracy: 0.7 }], {
        title: 'a <b> & "c"',
      }),
    );
    expect(svg).not.toContain('<script');
    expect(svg).toContain('&lt;script&gt;');
  });

  it('rendering is offline: a spec that points at a URL fails instead of fetching', async () => {
    const spec = { data: { url: 'https://example.invalid/data.json' }, mark: 'point', encoding: { x: { field: 'a', type: 'quantitative' } } } as TopLevelSpec;
    const { warnings } = await renderSvgWithWarnings(spec).catch((e: Error) => ({ svg: '', warnings: [e.message] }));
    expect(warnings.join('\n')).toContain('offline chart rendering: refusing to load');
  });
});

describe('charts as people read them', () => {
  const d = sampleData();

  it('epoch axes have integer ticks without repeats (3 epochs: 1 2 3)', async () => {
    const pts = [1, 2, 3].flatMap((epoch) => [
      { epoch, split: 'train', metric: 'loss', value: 1 / epoch },
      { epoch, split: 'val K=2', metric: 'acc', value: 0.8 + epoch / 100 },
    ]);
    for (const spec of [...trainingCurvePanelSpecs(pts, { unitMetrics: ['acc'] }), trainingCurvesSpec(pts)]) {
      const labels = axisLabels(await render(spec), 'X');
      expect(labels).toEqual(['1', '2', '3']);
    }
    const long = axisLabels(await render(trainingCurvePanelSpecs(d.curves)[0]!), 'X');
    expect(long.every((l) => /^\d+$/.test(l))).toBe(true);
    expect(new Set(long).size).toBe(long.length);
    expect(integerTicks(1, 1)).toEqual([1]);
    expect(integerTicks(1, 100, 10)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(integerTicks(1, 30, 12)).toEqual([5, 10, 15, 20, 25, 30]);
  });

  it('accuracy axes stay within 0–100%, also with error bars and values at 100%', async () => {
    const recs = [1, 2, 3, 5].flatMap((k) => [
      { method: 'a', k, avgKAccuracy: Math.min(1, 0.9 + k / 30), std: 0.03 },
      { method: 'b', k, avgKAccuracy: 1, std: 0.01 },
    ]);
    const labels = axisLabels(await render(accuracyVsKSpec(recs, { bayes: [1, 2, 3, 5].map((k) => ({ k, avgKAccuracy: 1 })) })), 'Y');
    expect(labels.length).toBeGreaterThan(2);
    expect(Math.max(...labels.map(percent))).toBeLessThanOrEqual(100);
    const curve = await render(trainingCurvePanelSpecs([1, 2].map((epoch) => ({ epoch, split: 'val', metric: 'acc', value: 0.99 + epoch / 200 })), { unitMetrics: ['acc'] })[0]!);
    expect(Math.max(...axisLabels(curve, 'Y').map(percent))).toBeLessThanOrEqual(100);
    expect(unitDomain([0.97, 1.02, NaN])).toEqual([0.9, 1]);
    expect(unitDomain([0.42, 0.61])).toEqual([0.4, 0.65]);
    expect(unitDomain([])).toEqual([0, 1]);
  });

  it('K ticks do not collide and are not rounded to repeats (1 1.5 2 ...)', async () => {
    const ks = [1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 20];
    const svg = await render(accuracyVsKSpec(ks.map((k) => ({ method: 'm', k, avgKAccuracy: 0.5 + k / 50 }))));
    const labels = axisLabels(svg, 'X');
    expect(new Set(labels).size).toBe(labels.length);
    // label centres at least 18 px apart: two short labels do not overlap
    const at = svg.search(/aria-label="X-axis/);
    const group = /class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/s.exec(svg.slice(at))![1]!;
    const xs = [...group.matchAll(/transform="translate\(([-\d.]+),/g)].map((m) => Number(m[1]));
    for (let i = 1; i < xs.length; i++) expect(xs[i]! - xs[i - 1]!, labels.join(' ')).toBeGreaterThanOrEqual(18);
    expect(labels).toContain('1.5');
    expect(labels[0]).toBe('1');
    expect(labels[labels.length - 1]).toBe('20');
  });

  it('the per-class trend line is clipped to the plot frame', async () => {
    // a steep trend that a log fit extends past 100%
    const recs = [10, 20, 40, 80, 160, 320, 640].map((count, c) => ({ classIndex: c, className: `c${c}`, count, accuracy: Math.min(1, 0.2 + c * 0.15) }));
    const svg = await render(perClassAccuracySpec(recs));
    const lineGroups = [...svg.matchAll(/<g class="mark-line role-mark[^"]*"([^>]*)>/g)];
    expect(lineGroups.length).toBe(1);
    expect(lineGroups[0]![1]).toMatch(/clip-path="url\(#/);
  });

  it('balanced data: per-class accuracy is spread out (classes sorted), not one stack at one count', async () => {
    const recs = Array.from({ length: 10 }, (_, c) => ({ classIndex: c, className: `class-${c}`, count: 6000, accuracy: 0.8 + c / 60 }));
    expect(classCountsBalanced(recs.map((r) => r.count))).toBe(true);
    expect(classCountsBalanced([10, 1000])).toBe(false);
    const svg = await render(perClassAccuracySpec(recs));
    const xs = new Set(pointPositions(svg).map(([x]) => x));
    expect(xs.size).toBe(10);
    expect(axisLabels(svg, 'X')).toContain('class-9');
    // with many classes: a rank axis and one profile line per method
    const many = Array.from({ length: 100 }, (_, c) => ({ classIndex: c, className: `c${c}`, count: 500 + (c % 7), accuracy: (c % 13) / 13 }));
    const big = await render(perClassAccuracySpec(many));
    expect(count(big, /aria-roledescription="line mark"/g)).toBe(1);
  });

  it('legend labels are not truncated', async () => {
    const long = 'softmax threshold (same model)';
    const recs = [1, 2].flatMap((k) => [
      { method: 'two-head (multi-label head)', k, avgKAccuracy: 0.8 },
      { method: long, k, avgKAccuracy: 0.85 },
    ]);
    const svg = await render(accuracyVsKSpec(recs, { bayes: [{ k: 1, avgKAccuracy: 0.9 }, { k: 2, avgKAccuracy: 0.95 }] }));
    expect(legendLabels(svg)).toEqual(['Bayes optimum', 'two-head (multi-label head)', long]);
    const hist = await render(setSizeHistogramSpec([...setSizeCounts([1, 2, 2, 3], long), ...setSizeCounts([2, 2], 'two-head (multi-label head)')]));
    expect(legendLabels(hist).join('|')).not.toContain('…');
    expect(legendLabels(hist)).toContain(`${long} (mean 2.00)`);
    // the estimate is near real glyph widths, not Vega's 0.8 em per character
    expect(textWidth(long, 11)).toBeGreaterThan(130);
    expect(textWidth(long, 11)).toBeLessThan(0.8 * 11 * long.length * 0.75);
  });

  it('seed spread: a dot per seed and a mean per method', async () => {
    const recs = ['a', 'b'].flatMap((method) => [0, 1, 2].map((seed) => ({ method, seed, value: 0.7 + seed / 50 + (method === 'b' ? 0.1 : 0) })));
    const svg = await render(seedSpreadSpec(recs, { subtitle: 'K = 2' }));
    expect(pointPositions(svg)).toHaveLength(6);
    expect(count(svg, /aria-roledescription="tick"/g)).toBe(2);
    expect(axisLabels(svg, 'Y')).toEqual(['a', 'b']);
  });
});

describe('html report', () => {
  let report: Report;
  let html: string;
  beforeAll(async () => {
    report = await sampleReport();
    html = renderReport(report);
  });

  it('is one self-contained document: inline CSS and SVG, no scripts, nothing to load', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(count(html, /<svg[\s>]/g)).toBe(5); // the training curves are two panels
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link[\s>]/i);
    expect(html).not.toMatch(/\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    // The only http(s) strings are XML namespace names, which are identifiers, not loads.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink']));
    for (const m of html.matchAll(/(\S+)="https?:\/\/[^"]*"/g)) expect(m[1]).toMatch(/^xmlns(:xlink)?$/);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes all text (title, summary, tables, chart titles, notes)', () => {
    const evil = '<script>alert("x")</script>';
    const out = renderReport({
      title: evil,
      subtitle: evil,
      summary: { [evil]: evil, n: 0.123456, big: 123456789, nan: NaN, list: [1, 'a'] },
      tables: [{ title: evil, columns: [evil, 'x'], rows: [[evil, 1.5], { [evil]: 'o', x: null }], caption: evil }],
      charts: [{ title: evil, svg: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="4" height="4"/></svg>', caption: evil }],
      notes: [evil, 'a & b'],
    });
    expect(out).not.toContain('<script');
    expect(count(out, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/g)).toBe(12);
    expect(out).toContain('a &amp; b');
    expect(out).toContain('>0.1235<');
    expect(out).toContain('>NaN<');
    expect(out).toContain('>1, a<');
  });

  it('refuses SVG that could run code or load something', () => {
    const base = { title: 't', summary: {}, tables: [] };
    const bad = [
      '<svg><script>alert(1)</script></svg>',
      '<svg><image href="https://example.com/a.png"/></svg>',
      '<svg><image xlink:href="file:///etc/passwd"/></svg>',
      '<svg><rect onclick="alert(1)"/></svg>',
      '<svg><rect style="fill:url(https://x.y/z)"/></svg>',
      '<svg><foreignObject><div/></foreignObject></svg>',
      '<div>not svg</div>',
    ];
    for (const svg of bad) expect(() => renderReport({ ...base, charts: [{ title: 'c', svg }] }), svg).toThrow(/chart "c"/);
    // In-document references and text that merely looks like a URL are fine.
    expect(() => assertSafeSvg('<svg><clipPath id="a"/><g clip-path="url(#a)"><text>see url(x) and onload=1</text></g></svg>')).not.toThrow();
  });

  it('keeps ids unique across charts (Vega reuses clip/gradient ids)', () => {
    const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
    expect(namespaceSvgIds(svg, 'c3-')).toBe('<svg><defs><clipPath id="c3-clip1"><rect/></clipPath></defs><g clip-path="url(#c3-clip1)"><use href="#c3-clip1"/></g></svg>');
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('tables scroll sideways inside their card instead of being clipped; numbers stay on one line', () => {
    const out = renderReport({
      title: 't',
      summary: {},
      tables: [{ title: 'wide', columns: ['method', 'acc (%)', 'diff (pts)', 'verdict'], rows: [['a', '77.87 ± 0.84', '−5.27 [−11.99, +1.46]', 'lower than b'], ['b', '–', '+0.10 [−1.00, +1.20]', 'no difference']] }],
      charts: [],
      details: [{ title: 'per class', columns: ['class', 'name'], rows: Array.from({ length: 30 }, (_, c) => [c, `c${c}`]), collapsed: true }],
    });
    const tables = count(out, /<table>/g);
    expect(tables).toBe(2);
    expect(count(out, /<div class="table-scroll"><table>/g)).toBe(tables);
    expect(out).toMatch(/\.table-scroll \{ overflow-x: auto;/);
    expect(out).not.toMatch(/\.card \{[^}]*overflow/); // a card never hides what sticks out
    expect(out).toContain('<td class="num">77.87 ± 0.84</td>');
    expect(out).toContain('<td class="num">−5.27 [−11.99, +1.46]</td>');
    expect(out).toContain('<td>lower than b</td>');
    expect(out).toMatch(/td\.num \{ white-space: nowrap; \}/);
    // details come after the charts, long ones folded
    expect(out.indexOf('<h2>Details</h2>')).toBeGreaterThan(0);
    expect(out).toMatch(/<details><summary><h3>per class<\/h3> <span class="caption">\(30 rows, click to show\)<\/span><\/summary>/);
  });

  it('summary.json: machine keys, rounded floats, an explicit json replaces the derived one', () => {
    expect(machineKey('test avg-K accuracy (K=2)')).toBe('test_avg_k_accuracy_k_2');
    expect(machineKey('train / val / test samples')).toBe('train_val_test_samples');
    expect(roundFloats({ a: [0.123456789, 3, 1e-9 / 3], b: NaN })).toEqual({ a: [0.123457, 3, 3.33333e-10], b: NaN });
    const derived = reportSummaryJson({
      title: 't',
      summary: { 'avg-K acc': 0.912345678, 'avg-K acc ': 1 },
      tables: [{ title: 'Test results', columns: ['K', 'avg-K accuracy'], keys: ['k', 'avgKAccuracy'], rows: [[2, 0.87654321]] }],
      charts: [],
    }) as { summary: Record<string, unknown>; tables: { id: string; columns: Record<string, string>; rows: Record<string, unknown>[] }[] };
    expect(derived.summary).toEqual({ avg_k_acc: 0.912346, avg_k_acc_2: 1 });
    expect(derived.tables[0]).toMatchObject({ id: 'test_results', columns: { k: 'K', avgKAccuracy: 'avg-K accuracy' }, rows: [{ k: 2, avgKAccuracy: 0.876543 }] });
    expect(reportSummaryJson({ title: 't', summary: {}, tables: [], charts: [], json: { acc: 0.1234567891, n: Infinity } })).toEqual({ acc: 0.123457, n: 'Infinity' });
  });

  it('formats values for humans', () => {
    expect(formatValue(0.912345)).toBe('0.9123');
    expect(formatValue(3)).toBe('3');
    expect(formatValue(1e-7)).toBe('1.000e-7');
    expect(formatValue(null)).toBe('—');
    expect(formatValue(-Infinity)).toBe('−∞');
    expect(formatValue({ a: [1, 2] })).toBe('{"a":[1,2]}');
    expect(escapeMarkdown('a|b\nc <x>')).toBe('a\\|b c &lt;x&gt;');
  });

  it('writeReport writes report.html, summary.json and summary.md atomically', async () => {
    const out = join(dir, 'nested', 'run1');
    const written = await writeReport(out, { ...report, summary: { ...report.summary, nan: NaN, pipe: 'a|b' } });
    expect(readdirSync(out).sort()).toEqual(['report.html', 'summary.json', 'summary.md']);
    expect(readFileSync(written.html, 'utf8')).toContain('<svg');
    const json = JSON.parse(readFileSync(written.json, 'utf8')) as {
      title: string;
      summary: Record<string, unknown>;
      tables: { title: string; columns: string[]; rows: Record<string, unknown>[] }[];
      charts: string[];
    };
    expect(json.title).toBe('avgk sample report');
    expect(json.summary.nan).toBe('NaN');
    expect(json.summary.k).toBe(2);
    expect(json.tables[0]!.rows[0]!.method).toBe('softmax threshold');
    expect(json.tables[1]!.rows[2]).toEqual({ bucket: 'many (> 100)', classes: 10, softmax_threshold: 0.86, two_head: 0.9 });
    expect(json.charts).toHaveLength(4);
    const md = readFileSync(written.md, 'utf8');
    expect(md.startsWith('# avgk sample report\n')).toBe(true);
    expect(md).toContain('| method | avg-K accuracy | std | gap to Bayes | mean set size |\n| --- | ---: | ---: | ---: | ---: |\n| softmax threshold | ');
    expect(md).toContain('| pipe | a\\|b |');
    expect(md).toContain('| many (&gt; 100) | 10 | 0.86 | 0.9 |');
    expect(renderMarkdown(report)).toBe(md.replace('| nan | NaN |\n', '').replace('| pipe | a\\|b |\n', ''));
    // A second write replaces the files and leaves no temp files behind.
    await writeReport(out, report);
    expect(readdirSync(out).sort()).toEqual(['report.html', 'summary.json', 'summary.md']);
  });
});
