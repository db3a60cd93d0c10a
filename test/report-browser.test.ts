/**
 * Opens a generated report in real headless Chromium: screenshot + DOM dump, checks the charts are
 * in the DOM and that the page logged no console errors.
 *
 * Needs the Debian package `chromium` (binary `chromium` or `chromium-browser`; CHROMIUM_BIN
 * overrides). Without it the test is skipped with a printed reason, except under CI (CI set), where
 * a missing browser is a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../src/report/html.js';
import { sampleReport } from '../src/report/sample.js';
// @ts-expect-error: a plain ES module without types
import { findChromium } from '../scripts/report-screenshots.mjs';

const chromium = (findChromium as () => string | null)();
const inCI = !!process.env.CI;

interface RunResult {
  stdout: string;
  stderr: string;
}

let profileRoot = '';

function runChromium(args: string[]): RunResult {
  const profile = mkdtempSync(join(profileRoot, 'profile-'));
  const r = spawnSync(
    chromium!,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20, env: { ...process.env, LANG: 'C.UTF-8' } },
  );
  if (r.error) throw new Error(`running ${chromium}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${chromium} exited with ${r.status ?? r.signal}:\n${r.stderr.slice(-4000)}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Console messages and uncaught errors from the page, as Chromium logs them with --enable-logging=stderr. */
function pageConsoleMessages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l) || /Uncaught|Refused to/.test(l));
}

/** Minimal PNG reader: width, height, and the inflated scanline bytes. */
function readPng(buf: Buffer): { width: number; height: number; pixels: Buffer } {
  expect(buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  return { width, height, pixels: inflateSync(Buffer.concat(idat)) };
}

describe('report in headless Chromium', () => {
  let work = '';
  let reportHtml = '';
  const shotDir = join(tmpdir(), 'avgk-report-browser');
  const shot = join(shotDir, 'report.png');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'avgk-browser-'));
    profileRoot = work;
    reportHtml = (await writeReport(join(work, 'report'), await sampleReport())).html;
    mkdirSync(shotDir, { recursive: true });
    rmSync(shot, { force: true });
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('renders the report: screenshot, DOM with the charts, no console errors', (ctx) => {
    if (!chromium) {
      const reason = 'chromium is not installed (Debian: apt-get install -y chromium; or set CHROMIUM_BIN)';
      if (inCI) throw new Error(`CI is set but ${reason}: CI must install it`);
      console.log(`[skip] report-browser: ${reason}`);
      ctx.skip();
      return;
    }
    const url = pathToFileURL(reportHtml).href;

    // 1. Screenshot: a real, non-blank PNG of the requested size.
    runChromium([`--screenshot=${shot}`, '--window-size=1200,2000', url]);
    const png = readFileSync(shot);
    expect(png.length).toBeGreaterThan(10_000);
    const { width, height, pixels } = readPng(png);
    expect([width, height]).toEqual([1200, 2000]);
    const distinct = new Set(pixels.subarray(0, Math.min(pixels.length, 4_000_000))).size;
    expect(distinct).toBeGreaterThan(50); // text, lines and colours, not a blank page
    console.log(`[report-browser] screenshot: ${shot}`);

    // 2. DOM after load, with console logging on.
    const { stdout: dom, stderr } = runChromium(['--enable-logging=stderr', '--v=0', '--virtual-time-budget=2000', '--dump-dom', url]);
    expect(dom).toContain('<h1>avgk sample report</h1>');
    expect([...dom.matchAll(/<svg[\s>]/g)].length).toBe(5); // the training curves are two panels
    expect([...dom.matchAll(/aria-roledescription="line mark"/g)].length).toBeGreaterThanOrEqual(4 + 5 + 2);
    expect([...dom.matchAll(/aria-roledescription="bar"/g)].length).toBeGreaterThan(10);
    expect([...dom.matchAll(/aria-roledescription="point"/g)].length).toBeGreaterThan(100);
    expect(dom).not.toMatch(/<script/i);
    expect(pageConsoleMessages(stderr)).toEqual([]);
  });

  it('the console check is not vacuous: it catches an error on a broken page', (ctx) => {
    if (!chromium) {
      if (inCI) throw new Error('CI is set but chromium is not installed: CI must install it');
      ctx.skip();
      return;
    }
    const bad = join(work, 'broken.html');
    writeFileSync(bad, '<!DOCTYPE html><html><body><p>x</p><script>notDefinedAnywhere();</script></body></html>');
    const { stderr } = runChromium(['--enable-logging=stderr', '--v=0', '--dump-dom', pathToFileURL(bad).href]);
    expect(pageConsoleMessages(stderr).join('\n')).toMatch(/Uncaught ReferenceError: notDefinedAnywhere/);
  });
});
