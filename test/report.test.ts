import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accuracyVsKSpec,
  perClassAccuracySpec,
  renderSvgWithWarnings,
  setSizeCounts,
  setSizeHistogramSpec,
  trainingCurvesSpec,
  type TopLevelSpec,
} from '../src/report/charts.js';
import { assertSafeSvg, escapeMarkdown, formatValue, namespaceSvgIds, renderMarkdown, renderReport, writeReport, type Report } from '../src/report/html.js';
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
    expect(withZero.includes('>1 record(s) with no training samples or no accuracy not shown<')).toBe(true);
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

describe('html report', () => {
  let report: Report;
  let html: string;
  beforeAll(async () => {
    report = await sampleReport();
    html = renderReport(report);
  });

  it('is one self-contained document: inline CSS and SVG, no scripts, nothing to load', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(count(html, /<svg[\s>]/g)).toBe(4);
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
    expect(json.summary.K).toBe(2);
    expect(json.tables[0]!.rows[0]!.method).toBe('softmax threshold');
    expect(json.tables[1]!.rows[2]).toEqual({ bucket: 'many (> 100)', classes: 10, 'softmax threshold': 0.86, 'two-head': 0.9 });
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
