/**
 * Self-contained HTML reports (inline CSS, inline SVG, no scripts, nothing fetched) plus the same
 * content as `summary.json` and `summary.md`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

export type TableRow = readonly unknown[] | Readonly<Record<string, unknown>>;

export interface ReportTable {
  title: string;
  columns: readonly string[];
  /** Positional arrays, or objects keyed by column name. */
  rows: readonly TableRow[];
  caption?: string;
  /** Machine names of the columns in summary.json (default: the column labels as snake_case). */
  keys?: readonly string[];
  /** Machine name of the table in summary.json (default: the title as snake_case). */
  id?: string;
  /** Shown folded (a <details> element the reader opens), for long tables. */
  collapsed?: boolean;
}

export interface ReportChart {
  title: string;
  /**
   * An `<svg>` element (e.g. from charts.ts), or several shown side by side as panels that wrap
   * onto new lines on narrow screens. They must not contain scripts or external references.
   */
  svg: string | readonly string[];
  caption?: string;
}

export interface Report {
  title: string;
  summary: Record<string, unknown>;
  tables: readonly ReportTable[];
  charts: readonly ReportChart[];
  /** Tables for a closer look, shown after the charts (e.g. per class, configuration). */
  details?: readonly ReportTable[];
  /** Plain-text paragraphs shown at the end. */
  notes?: string | readonly string[];
  /** A line under the title, e.g. the command and date that produced the report. */
  subtitle?: string;
  /**
   * The content of summary.json, with stable machine keys. Default: the summary and the tables,
   * keyed by their labels as snake_case (see reportSummaryJson).
   */
  json?: unknown;
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Human formatting of a summary/table value. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1e-3 && a < 1e7) return String(Number(v.toPrecision(4)));
    return v.toExponential(3);
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) return v.map(formatValue).join(', ');
  try {
    return JSON.stringify(toJsonSafe(v));
  } catch {
    return String(v);
  }
}

/**
 * A JSON-safe copy: NaN/±Infinity become the strings "NaN"/"Infinity"/"-Infinity" (JSON would
 * silently turn them into null), bigints become strings, typed arrays become arrays, Maps objects.
 */
export function toJsonSafe(v: unknown, seen: Set<object> = new Set()): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return String(v);
  if (v === null || typeof v !== 'object') return typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
  if (seen.has(v)) return '[circular]';
  seen.add(v);
  try {
    if (v instanceof Date) return v.toISOString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => toJsonSafe(x, seen));
    if (Array.isArray(v)) return v.map((x) => toJsonSafe(x, seen) ?? null);
    const entries = v instanceof Map ? [...v.entries()].map(([k, x]) => [String(k), x] as const) : Object.entries(v);
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) {
      const y = toJsonSafe(x, seen);
      if (y !== undefined) Object.defineProperty(out, k, { value: y, enumerable: true, writable: true, configurable: true });
    }
    return out;
  } finally {
    seen.delete(v);
  }
}

/** Round every non-integer number in a JSON-ready value to `digits` significant digits. */
export function roundFloats(v: unknown, digits = 6): unknown {
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? v : Number(v.toPrecision(digits));
  if (Array.isArray(v)) return v.map((x) => roundFloats(x, digits));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: roundFloats(x, digits), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** A display label as a machine key: "test avg-K accuracy (K=2)" → "test_avg_k_accuracy_k_2". */
export function machineKey(label: string): string {
  const key = label
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return key === '' ? '_' : key;
}

/** Machine keys for labels, made unique by a numeric suffix. */
function uniqueKeys(labels: readonly string[], given?: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l, i) => {
    const base = given?.[i] ?? machineKey(l);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}_${n + 1}`;
  });
}

function rowCells(table: ReportTable, row: TableRow): unknown[] {
  if (Array.isArray(row)) return table.columns.map((_, i) => (row as readonly unknown[])[i]);
  return table.columns.map((c) => (row as Record<string, unknown>)[c]);
}

// ---------------------------------------------------------------------------------------------
// SVG checks

/**
 * Refuse SVG that could run code or fetch anything: scripts, foreignObject, event handlers, and
 * href/src/url() references other than in-document fragments (#id) and data: images.
 */
export function assertSafeSvg(svg: string, what = 'chart'): void {
  const s = svg.trimStart();
  if (!/^<svg[\s>]/i.test(s)) throw new Error(`${what}: expected an <svg> element, got ${JSON.stringify(s.slice(0, 40))}`);
  if (/<\s*script/i.test(svg)) throw new Error(`${what}: SVG contains a <script> element`);
  if (/<\s*foreignObject/i.test(svg)) throw new Error(`${what}: SVG contains a <foreignObject> element`);
  // Only markup is checked: text content is escaped, so a class named "url(x)" is harmless.
  for (const [tag] of svg.matchAll(/<[^>]*>/g)) {
    if (/\son[a-z]+\s*=/i.test(tag)) throw new Error(`${what}: SVG contains an event-handler attribute`);
    for (const m of tag.matchAll(/\s(?:xlink:)?(?:href|src)\s*=\s*("([^"]*)"|'([^']*)')/gi)) {
      const ref = (m[2] ?? m[3] ?? '').trim();
      if (!ref.startsWith('#') && !/^data:image\/(png|jpeg|gif|webp);/i.test(ref)) {
        throw new Error(`${what}: SVG references an external resource ${JSON.stringify(ref)}`);
      }
    }
    for (const m of tag.matchAll(/url\(\s*(?:&quot;|['"])?([^)'"&]*)/gi)) {
      if (!m[1]!.trim().startsWith('#')) throw new Error(`${what}: SVG references an external resource url(${m[1]})`);
    }
  }
  if (/<style[\s>][\s\S]*@import/i.test(svg)) throw new Error(`${what}: SVG contains @import`);
}

/**
 * Prefix every id in an SVG (and the references to them) so several SVGs can share one page:
 * Vega names clip paths and gradients clip1, gradient_0, … in every chart.
 */
export function namespaceSvgIds(svg: string, prefix: string): string {
  const ids = new Set<string>();
  for (const m of svg.matchAll(/\sid\s*=\s*"([^"]+)"/g)) ids.add(m[1]!);
  if (ids.size === 0) return svg;
  const fix = (id: string): string => (ids.has(id) ? `${prefix}${id}` : id);
  return svg
    .replace(/(\sid\s*=\s*")([^"]+)"/g, (_, a: string, id: string) => `${a}${fix(id)}"`)
    .replace(/url\(\s*#([^)\s]+)\s*\)/g, (_, id: string) => `url(#${fix(id)})`)
    .replace(/(\s(?:xlink:)?href\s*=\s*")#([^"]+)"/g, (_, a: string, id: string) => `${a}#${fix(id)}"`);
}

// ---------------------------------------------------------------------------------------------
// HTML

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2937;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 32px 28px 48px; }
header { margin-bottom: 24px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; color: #111827; letter-spacing: -0.01em; overflow-wrap: anywhere; }
.subtitle { color: #6b7280; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 32px 0 12px; color: #111827; }
h3 { font-size: 15px; margin: 0 0 8px; color: #111827; }
section { margin-top: 8px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px 18px; margin-bottom: 16px;
  box-shadow: 0 1px 2px rgba(16,24,40,.04); min-width: 0; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px 16px; margin: 0; }
dl.summary div { border-left: 3px solid #4e79a7; padding: 2px 0 2px 10px; min-width: 0; }
dl.summary dt { font-size: 12px; color: #6b7280; overflow-wrap: anywhere; }
dl.summary dd { margin: 0; font-size: 16px; font-weight: 600; color: #111827; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.table-scroll { overflow-x: auto; max-width: 100%;
  background: linear-gradient(to right, #fff 30%, rgba(255,255,255,0)) left / 32px 100% no-repeat local,
    linear-gradient(to left, #fff 30%, rgba(255,255,255,0)) right / 32px 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.14), rgba(0,0,0,0)) left / 12px 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.14), rgba(0,0,0,0)) right / 12px 100% no-repeat scroll; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid #eef0f3; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #374151; background: #f9fafb; border-bottom: 1px solid #d1d5db; vertical-align: bottom; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
td.long { min-width: 16em; overflow-wrap: anywhere; }
tbody tr:nth-child(even) td { background: rgba(243,244,246,.5); }
.caption, figcaption { text-align: left; color: #6b7280; font-size: 13px; margin: 8px 0 0; }
details > summary { cursor: pointer; }
details > summary h3 { display: inline; }
details[open] > summary { margin-bottom: 8px; }
figure { margin: 0; }
.panels { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }
figure svg { display: block; max-width: 100%; height: auto; }
.notes p { margin: 0 0 8px; }
footer { margin-top: 32px; color: #9ca3af; font-size: 12px; }
@media (max-width: 640px) {
  main { padding: 20px 12px 32px; }
  .card { padding: 12px 12px; }
  th, td { padding: 5px 6px; }
  table { font-size: 13px; }
}
`;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** Numbers written as text: "77.87 ± 0.84", "−5.27 [−11.99, +1.46]", "12.5%"; a lone dash marks a missing value. */
const NUMBER_TEXT = /^[−+-]?\d[\d.,]*%?(?:\s*±\s*\d[\d.,]*%?)?(?:\s*\[[−+-]?\d[\d.,]*%?,\s*[−+-]?\d[\d.,]*%?\])?$/;
const MISSING = (v: unknown): boolean => v === null || v === undefined || v === '–' || v === '—' || v === '-';

function numberLike(v: unknown): boolean {
  return isNumeric(v) || (typeof v === 'string' && NUMBER_TEXT.test(v.trim()));
}

/** Right-aligned, unwrapped columns: every present value a number (or a number written as text). */
function numericColumns(t: ReportTable, rows: unknown[][]): boolean[] {
  return t.columns.map((_, j) => rows.some((r) => !MISSING(r[j])) && rows.every((r) => MISSING(r[j]) || numberLike(r[j])));
}

function renderTableHtml(t: ReportTable): string {
  const rows = t.rows.map((r) => rowCells(t, r));
  const numericCol = numericColumns(t, rows);
  const head = t.columns.map((c, j) => `<th${numericCol[j] ? ' class="num"' : ''} scope="col">${escapeHtml(c)}</th>`).join('');
  const cell = (v: unknown, j: number): string => {
    const text = formatValue(v);
    const cls = numericCol[j] ? ' class="num"' : text.length > 40 ? ' class="long"' : '';
    return `<td${cls}>${escapeHtml(text)}</td>`;
  };
  const body = rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  const table = `<div class="table-scroll"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
  const caption = t.caption ? `<p class="caption">${escapeHtml(t.caption)}</p>` : '';
  if (t.collapsed) {
    const n = `${t.rows.length} row${t.rows.length === 1 ? '' : 's'}`;
    return `<div class="card"><details><summary><h3>${escapeHtml(t.title)}</h3> <span class="caption">(${n}, click to show)</span></summary>${table}${caption}</details></div>`;
  }
  return `<div class="card"><h3>${escapeHtml(t.title)}</h3>${table}${caption}</div>`;
}

function chartSvgs(c: ReportChart): readonly string[] {
  return typeof c.svg === 'string' ? [c.svg] : c.svg;
}

function notesOf(r: Report): string[] {
  if (r.notes === undefined) return [];
  return typeof r.notes === 'string' ? [r.notes] : [...r.notes];
}

/** Render a report to one self-contained HTML document. All text is escaped. */
export function renderReport(report: Report): string {
  if (!report || typeof report.title !== 'string') throw new TypeError('report.title must be a string');
  const parts: string[] = [];
  parts.push('<!DOCTYPE html>');
  parts.push('<html lang="en"><head><meta charset="utf-8">');
  parts.push(`<meta http-equiv="Content-Security-Policy" content="${CSP}">`);
  parts.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  parts.push(`<title>${escapeHtml(report.title)}</title>`);
  parts.push(`<style>${CSS}</style></head><body><main>`);
  parts.push(`<header><h1>${escapeHtml(report.title)}</h1>${report.subtitle ? `<p class="subtitle">${escapeHtml(report.subtitle)}</p>` : ''}</header>`);

  const summary = Object.entries(report.summary ?? {});
  if (summary.length > 0) {
    parts.push('<section><h2>Summary</h2><div class="card"><dl class="summary">');
    for (const [k, v] of summary) parts.push(`<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(formatValue(v))}</dd></div>`);
    parts.push('</dl></div></section>');
  }
  if (report.tables.length > 0) {
    parts.push('<section><h2>Tables</h2>');
    for (const t of report.tables) parts.push(renderTableHtml(t));
    parts.push('</section>');
  }
  if (report.charts.length > 0) {
    parts.push('<section><h2>Charts</h2>');
    report.charts.forEach((c, i) => {
      const svgs = chartSvgs(c).map((svg, p) => {
        assertSafeSvg(svg, `chart ${JSON.stringify(c.title)}`);
        return namespaceSvgIds(svg.trim(), `c${i}-${p}-`);
      });
      const body = svgs.length === 1 ? svgs[0]! : `<div class="panels">${svgs.join('')}</div>`;
      const caption = c.caption ? `<figcaption>${escapeHtml(c.caption)}</figcaption>` : '';
      parts.push(`<div class="card"><figure><h3>${escapeHtml(c.title)}</h3>${body}${caption}</figure></div>`);
    });
    parts.push('</section>');
  }
  if ((report.details ?? []).length > 0) {
    parts.push('<section><h2>Details</h2>');
    for (const t of report.details!) parts.push(renderTableHtml(t));
    parts.push('</section>');
  }
  const notes = notesOf(report);
  if (notes.length > 0) {
    parts.push('<section class="notes"><h2>Notes</h2><div class="card">');
    for (const n of notes) parts.push(`<p>${escapeHtml(n)}</p>`);
    parts.push('</div></section>');
  }
  parts.push('<footer>Generated by avgk. This file is self-contained: it loads nothing and runs no scripts.</footer>');
  parts.push('</main></body></html>\n');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Markdown and JSON

/** Escape text for a markdown table cell (or a line of markdown text). */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n|\r/g, ' ');
}

function mdTable(columns: readonly string[], rows: readonly unknown[][]): string {
  const numeric = columns.map((_, j) => rows.length > 0 && rows.every((r) => r[j] === null || r[j] === undefined || isNumeric(r[j])));
  const head = `| ${columns.map(escapeMarkdown).join(' | ')} |`;
  const rule = `|${columns.map((_, j) => (numeric[j] ? ' ---: ' : ' --- ')).join('|')}|`;
  const body = rows.map((r) => `| ${r.map((v) => escapeMarkdown(formatValue(v))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

/** The report's text content as Markdown (summary and tables; charts are named, not drawn). */
export function renderMarkdown(report: Report): string {
  const out: string[] = [`# ${escapeMarkdown(report.title)}`, ''];
  if (report.subtitle) out.push(escapeMarkdown(report.subtitle), '');
  const summary = Object.entries(report.summary ?? {});
  if (summary.length > 0) {
    out.push('## Summary', '', mdTable(['key', 'value'], summary.map(([k, v]) => [k, v])), '');
  }
  const table = (t: ReportTable): void => {
    out.push(`## ${escapeMarkdown(t.title)}`, '', mdTable(t.columns, t.rows.map((r) => rowCells(t, r))), '');
    if (t.caption) out.push(escapeMarkdown(t.caption), '');
  };
  report.tables.forEach(table);
  if (report.charts.length > 0) {
    out.push('## Charts', '', 'See report.html:', '', ...report.charts.map((c) => `- ${escapeMarkdown(c.title)}`), '');
  }
  (report.details ?? []).forEach(table);
  const notes = notesOf(report);
  if (notes.length > 0) out.push('## Notes', '', ...notes.flatMap((n) => [escapeMarkdown(n), '']));
  return out.join('\n').replace(/\n+$/, '\n');
}

/**
 * The content of summary.json: `report.json` when given, else the summary and the tables keyed by
 * machine names (ReportTable.keys / .id, or the labels as snake_case). Floats are rounded to 6
 * significant digits; NaN and ±Infinity become strings (see toJsonSafe).
 */
export function reportSummaryJson(report: Report): unknown {
  if (report.json !== undefined) return roundFloats(toJsonSafe(report.json));
  const summary = Object.entries(report.summary ?? {});
  const summaryKeys = uniqueKeys(summary.map(([k]) => k));
  const allTables = [...report.tables, ...(report.details ?? [])];
  const tableIds = uniqueKeys(allTables.map((t) => t.title), allTables.map((t) => t.id ?? machineKey(t.title)));
  const object = (keys: readonly string[], values: readonly unknown[]): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    keys.forEach((k, j) => Object.defineProperty(o, k, { value: values[j] ?? null, enumerable: true, writable: true, configurable: true }));
    return o;
  };
  return roundFloats(
    toJsonSafe({
      title: report.title,
      ...(report.subtitle ? { subtitle: report.subtitle } : {}),
      summary: object(summaryKeys, summary.map(([, v]) => v)),
      tables: allTables.map((t, i) => {
        const keys = uniqueKeys(t.columns, t.keys);
        return {
          id: tableIds[i],
          title: t.title,
          columns: object(keys, t.columns),
          rows: t.rows.map((r) => object(keys, rowCells(t, r))),
          ...(t.caption ? { caption: t.caption } : {}),
        };
      }),
      charts: report.charts.map((c) => c.title),
      notes: notesOf(report),
    }),
  );
}

export interface WrittenReport {
  html: string;
  json: string;
  md: string;
}

/** Write `report.html`, `summary.json` and `summary.md` into `dir` (created if needed), each atomically. */
export async function writeReport(dir: string, report: Report): Promise<WrittenReport> {
  const html = renderReport(report); // validates charts before anything is written
  const md = renderMarkdown(report);
  const json = JSON.stringify(reportSummaryJson(report), null, 2) + '\n';
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create report directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const paths: WrittenReport = { html: join(dir, 'report.html'), json: join(dir, 'summary.json'), md: join(dir, 'summary.md') };
  await writeFileAtomic(paths.html, html);
  await writeFileAtomic(paths.json, json);
  await writeFileAtomic(paths.md, md);
  return paths;
}
