/**
 * The report of `avgk train` as people read it (balanced and long-tailed data), its summary.json,
 * and the terminal lines around training (progress bar, header, plurals).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { duration, formatBar, type BarState } from '../src/cli/progress.js';
import { plural, wrapParts } from '../src/cli/text.js';

const tmp = mkdtempSync(join(tmpdir(), 'avgk-run-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BALANCED = { name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 300, nVal: 100, nTest: 100 };
const LONG_TAILED = { ...BALANCED, nTrain: 600, zipfAlpha: 1.5 };

async function train(name: string, dataset: object): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { stdout: { isTTY: false, write: (c: string) => ((out += c), true) }, stderr: { isTTY: false, write: (c: string) => ((err += c), true) }, cwd: tmp };
  const args = ['train', '--dataset-config', JSON.stringify(dataset), '--hidden', '16', '--epochs', '3', '--batch-size', '32', '--out', name];
  const code = await runCli(args, io);
  expect(code, err).toBe(0);
  return { out, err };
}

/** Tick labels of every axis whose aria-label starts with `prefix` (e.g. "X-axis titled 'epoch'"). */
function axesLabels(html: string, prefix: string): string[][] {
  const out: string[][] = [];
  for (const m of html.matchAll(new RegExp(`aria-label="${prefix}`, 'g'))) {
    const group = /class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/s.exec(html.slice(m.index))!;
    out.push([...group[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]!));
  }
  return out;
}

/** Every key of a JSON value, recursively. */
function keysOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => keysOf(x, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.push(k), keysOf(x, out));
  return out;
}

function numbersOf(v: unknown, out: number[] = []): number[] {
  if (typeof v === 'number') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => numbersOf(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => numbersOf(x, out));
  return out;
}

describe('avgk train report', () => {
  let balanced: { html: string; json: Record<string, any>; out: string; err: string };
  let longTailed: { html: string; json: Record<string, any> };

  beforeAll(async () => {
    const b = await train('bal', BALANCED);
    balanced = { ...b, html: readFileSync(join(tmp, 'bal', 'report.html'), 'utf8'), json: JSON.parse(readFileSync(join(tmp, 'bal', 'summary.json'), 'utf8')) };
    await train('lt', LONG_TAILED);
    longTailed = { html: readFileSync(join(tmp, 'lt', 'report.html'), 'utf8'), json: JSON.parse(readFileSync(join(tmp, 'lt', 'summary.json'), 'utf8')) };
  }, 120_000);

  it('epoch axes read 1 2 3 for 3 epochs; no percent axis passes 100%', () => {
    for (const html of [balanced.html, longTailed.html]) {
      const epochAxes = axesLabels(html, "X-axis titled 'epoch'");
      expect(epochAxes.length).toBe(3); // loss, validation accuracy, learning rate
      for (const labels of epochAxes) expect(labels).toEqual(['1', '2', '3']);
      const percents = axesLabels(html, 'Y-axis').flat().filter((l) => l.endsWith('%')).map((l) => Number(l.slice(0, -1)));
      expect(percents.length).toBeGreaterThan(5);
      expect(Math.max(...percents)).toBeLessThanOrEqual(100);
      expect(Math.min(...percents)).toBeGreaterThanOrEqual(0);
    }
  });

  it('shows the test set-size distribution instead of the flat validation set size', () => {
    expect(balanced.html).not.toContain('validation mean set size');
    expect(balanced.html).toContain('Predicted set sizes (test, K = 2)');
    expect(balanced.html).toContain('<h3>Accuracy by predicted set size (test, K = 2)</h3>');
    expect(balanced.html).not.toMatch(/val size K=/);
    const bySize = balanced.json.accuracyBySetSize as { head: string; size: number; samples: number }[];
    expect(bySize.filter((b) => b.head === 'method').reduce((s, b) => s + b.samples, 0)).toBe(BALANCED.nTest);
  });

  it('frequency buckets only for long-tailed data; the per-class chart fits the data', () => {
    expect(balanced.html).not.toContain('Frequency buckets');
    expect(balanced.json.buckets).toBeUndefined();
    expect(balanced.html).toContain('Per-class average-K accuracy (test, K = 2)');
    expect(balanced.html).not.toContain('vs training frequency');
    expect(longTailed.html).toContain('Frequency buckets');
    expect(longTailed.json.buckets.length).toBeGreaterThan(0);
    expect(longTailed.html).toContain('Per-class average-K accuracy vs training frequency');
  });

  it('a per-class table with the class names', () => {
    const names = balanced.json.perClass.map((c: { name: string }) => c.name) as string[];
    expect(names).toHaveLength(6);
    expect(balanced.html).toContain('<h3>Per-class results (test, K = 2)</h3>');
    for (const n of names) expect(balanced.html).toContain(`<td>${n}</td>`);
    expect(balanced.json.perClass[0]).toMatchObject({ class: 0, name: names[0], k: 2 });
    expect(typeof balanced.json.perClass[0].accuracy.method).toBe('number');
  });

  it('every table scrolls inside its card rather than being clipped', () => {
    const tables = [...balanced.html.matchAll(/<table>/g)].length;
    expect(tables).toBeGreaterThanOrEqual(5);
    expect([...balanced.html.matchAll(/<div class="table-scroll"><table>/g)].length).toBe(tables);
  });

  it('summary.json: machine keys and rounded floats', () => {
    const j = balanced.json;
    expect(j.format).toBe('avgk-run-summary');
    for (const k of keysOf(j)) expect(k).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
    for (const x of numbersOf(j)) {
      const digits = Math.abs(x).toExponential().split('e')[0]!.replace('.', '').length;
      expect(digits, String(x)).toBeLessThanOrEqual(6);
    }
    expect(j.test.map((r: { head: string }) => r.head)).toEqual(['method', 'softmax', 'bayes']);
    expect(j.history).toHaveLength(3);
    expect(j.history[0]).toMatchObject({ epoch: 1, val: [{ k: 2 }] });
  });

  it('the header and the results line wrap at 80 columns; plurals agree', () => {
    const header = balanced.err.split('\n').slice(0, 2);
    expect(header[0]).toMatch(/^avgk train: two-head on synthetic; 6 classes;/);
    expect(header[1]).toMatch(/^ {2}\S/);
    expect(balanced.err).toMatch(/3 epochs × 10 batches/);
    for (const line of [...balanced.err.split('\n'), ...balanced.out.split('\n')].filter((l) => /^(avgk train:|Test results|  )/.test(l) && !l.includes('|'))) {
      if (!/^\s*\d/.test(line)) expect(line.length, line).toBeLessThanOrEqual(80);
    }
    expect(balanced.out).toMatch(/Test results — synthetic, two-head, mlp, 3 epochs,/);
  });
});

describe('terminal output', () => {
  const state: BarState = { epoch: 1, epochs: 3, done: 0, batches: 24, imagesPerS: 0, loss: NaN, etaS: NaN };

  it('the progress bar has no ETA before a step is timed, and says when it evaluates', () => {
    expect(formatBar(state)).toMatch(/ETA …$/);
    expect(formatBar(state)).not.toMatch(/ETA 0s/);
    expect(formatBar({ ...state, done: 12, imagesPerS: 900, loss: 0.5, etaS: 0.2 })).toMatch(/ 12\/24 {2}900 img\/s {2}loss 0\.5000 {2}ETA <1s$/);
    const last = formatBar({ ...state, done: 24, imagesPerS: 900, loss: 0.5, etaS: 0 });
    expect(last).toMatch(/24\/24 .*validating…$/);
    expect(last).not.toMatch(/ETA/);
    // on an 80-column terminal the whole line fits, even with long counts; the bar gives way first
    const wide = formatBar({ epoch: 100, epochs: 100, done: 1000, batches: 1000, imagesPerS: 12345, loss: 0.1234, etaS: NaN }, 79);
    expect(wide.length).toBeLessThanOrEqual(79);
    expect(wide).toMatch(/validating…$/);
    expect(formatBar({ ...state, done: 24 }, 30)).toHaveLength(30);
  });

  it('durations and plurals', () => {
    expect(duration(0)).toBe('<1s');
    expect(duration(59.7)).toBe('1m00s');
    expect(duration(125)).toBe('2m05s');
    expect(duration(NaN)).toBe('?');
    expect(plural(1, 'epoch')).toBe('1 epoch');
    expect(plural(3, 'epoch')).toBe('3 epochs');
    expect(plural(1, 'thread')).toBe('1 thread');
    expect(plural(2, 'batch', 'batches')).toBe('2 batches');
  });

  it('wrapParts breaks between parts only, within the width', () => {
    const parts = ['avgk train: two-head on fashion-mnist', '10 classes', 'train 50000 / val 10000 / test 10000', 'mlp [256, 256] (271,892 parameters)', 'K = 1.5, 2, 3', '5 epochs × 391 batches', 'backend native'];
    const text = wrapParts(parts, 80, ';');
    const lines = text.split('\n');
    expect(lines.length).toBe(3);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines.slice(1).every((l) => l.startsWith('  '))).toBe(true);
    expect(text.replace(/\n {2}/g, ' ')).toBe(parts.join('; '));
    expect(wrapParts(['x'.repeat(90), 'y'])).toBe(`${'x'.repeat(90)},\n  y`);
  });
});
