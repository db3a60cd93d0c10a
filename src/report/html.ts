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
}

export interface ReportChart {
  title: string;
  /** An `<svg>` element (e.g. from charts.ts). It must not contain scripts or external references. */
  svg: string;
  caption?: string;
}

export interface Report {
  title: string;
  summary: Record<string, unknown>;
  tables: readonly ReportTable[];
  charts: readonly ReportChart[];
  /** Plain-text paragraphs shown at the end. */
  notes?: string | readonly string[];
  /** A line under the title, e.g. the command and date that produced the report. */
  subtitle?: string;
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
main { max-width: 1120px; margin: 0 auto; padding: 32px 28px 48px; }
header { margin-bottom: 24px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; color: #111827; letter-spacing: -0.01em; }
.subtitle { color: #6b7280; margin: 0; }
h2 { font-size: 18px; margin: 32px 0 12px; color: #111827; }
h3 { font-size: 15px; margin: 0 0 8px; color: #111827; }
section { margin-top: 8px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px 18px; margin-bottom: 16px;
  box-shadow: 0 1px 2px rgba(16,24,40,.04); overflow-x: auto; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 10px 16px; margin: 0; }
dl.summary div { border-left: 3px solid #4e79a7; padding: 2px 0 2px 10px; min-width: 0; }
dl.summary dt { font-size: 12px; color: #6b7280; text-transform: none; overflow-wrap: anywhere; }
dl.summary dd { margin: 0; font-size: 16px; font-weight: 600; color: #111827; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid #eef0f3; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #374151; background: #f9fafb; border-bottom: 1px solid #d1d5db; white-space: nowrap; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
caption, figcaption { caption-side: bottom; text-align: left; color: #6b7280; font-size: 13px; padding-top: 8px; }
figure { margin: 0; }
figure svg { display: block; max-width: 100%; height: auto; }
.notes p { margin: 0 0 8px; }
footer { margin-top: 32px; color: #9ca3af; font-size: 12px; }
`;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint';
}

function renderTableHtml(t: ReportTable): string {
  const rows = t.rows.map((r) => rowCells(t, r));
  const numericCol = t.columns.map((_, j) => rows.length > 0 && rows.every((r) => r[j] === null || r[j] === undefined || isNumeric(r[j])) && rows.some((r) => isNumeric(r[j])));
  const head = t.columns.map((c, j) => `<th${numericCol[j] ? ' class="num"' : ''} scope="col">${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((v, j) => `<td${numericCol[j] || isNumeric(v) ? ' class="num"' : ''}>${escapeHtml(formatValue(v))}</td>`).join('')}</tr>`)
    .join('\n');
  const caption = t.caption ? `<caption>${escapeHtml(t.caption)}</caption>` : '';
  return `<div class="card"><h3>${escapeHtml(t.title)}</h3><table>${caption}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
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
      assertSafeSvg(c.svg, `chart ${JSON.stringify(c.title)}`);
      const svg = namespaceSvgIds(c.svg.trim(), `c${i}-`);
      const caption = c.caption ? `<figcaption>${escapeHtml(c.caption)}</figcaption>` : '';
      parts.push(`<div class="card"><figure><h3>${escapeHtml(c.title)}</h3>${svg}${caption}</figure></div>`);
    });
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
  for (const t of report.tables) {
    out.push(`## ${escapeMarkdown(t.title)}`, '', mdTable(t.columns, t.rows.map((r) => rowCells(t, r))), '');
    if (t.caption) out.push(escapeMarkdown(t.caption), '');
  }
  if (report.charts.length > 0) {
    out.push('## Charts', '', 'See report.html:', '', ...report.charts.map((c) => `- ${escapeMarkdown(c.title)}`), '');
  }
  const notes = notesOf(report);
  if (notes.length > 0) out.push('## Notes', '', ...notes.flatMap((n) => [escapeMarkdown(n), '']));
  return out.join('\n').replace(/\n+$/, '\n');
}

/** The report's data as JSON-ready values (tables as arrays of objects keyed by column). */
export function reportSummaryJson(report: Report): unknown {
  return toJsonSafe({
    title: report.title,
    ...(report.subtitle ? { subtitle: report.subtitle } : {}),
    summary: report.summary ?? {},
    tables: report.tables.map((t) => ({
      title: t.title,
      columns: [...t.columns],
      rows: t.rows.map((r) => {
        const cells = rowCells(t, r);
        const o: Record<string, unknown> = {};
        t.columns.forEach((c, j) => Object.defineProperty(o, c, { value: cells[j] ?? null, enumerable: true, writable: true, configurable: true }));
        return o;
      }),
      ...(t.caption ? { caption: t.caption } : {}),
    })),
    charts: report.charts.map((c) => c.title),
    notes: notesOf(report),
  });
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
