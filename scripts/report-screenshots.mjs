#!/usr/bin/env node
/**
 * Full-page screenshots of avgk reports in headless Chromium, at several window widths, plus a
 * layout check: does the page scroll sideways, does any chart, table or text overflow its card.
 *
 *   node scripts/report-screenshots.mjs [--out DIR] [--widths 1280,420] [--tile PX] [REPORT ...]
 *
 * REPORT is a report.html or a directory holding one; without any, the sample report of
 * src/report/sample.ts (from dist/: run `npm run build` first). Writes DIR/<name>-<width>.png (name: the
 * report's directory; DIR defaults to avgk-report-shots in the system's temporary directory), and with --tile also DIR/<name>-<width>-<i>.png, pages of PX height that an
 * image viewer shows without shrinking. Exit 1 when a layout check fails or Chromium is missing.
 *
 * Chromium: CHROMIUM_BIN, else `chromium` or `chromium-browser` on PATH (Debian: apt-get install
 * chromium). Driven over --remote-debugging-pipe, so it needs no npm package.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function usage(msg) {
  if (msg) console.error(`report-screenshots: error: ${msg}`);
  console.error('usage: node scripts/report-screenshots.mjs [--out DIR] [--widths 1280,420] [--tile PX] [REPORT.html|DIR ...]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { out: join(tmpdir(), 'avgk-report-shots'), widths: [1280, 420], tile: 0, reports: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--out') o.out = val();
    else if (a === '--widths') {
      const v = val();
      o.widths = v.split(',').map(Number);
      if (o.widths.some((w) => !Number.isInteger(w) || w < 200 || w > 4000)) usage(`--widths: expected integers in [200, 4000], got '${v}'`);
    } else if (a === '--tile') {
      const v = val();
      o.tile = Number(v);
      if (!Number.isInteger(o.tile) || o.tile < 200) usage(`--tile: expected an integer ≥ 200, got '${v}'`);
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option '${a}'`);
    else o.reports.push(a);
  }
  o.reports = o.reports.map((r) => {
    const p = resolve(r);
    const file = existsSync(p) && statSync(p).isDirectory() ? join(p, 'report.html') : p;
    if (!existsSync(file)) usage(`${r}: no such report (expected a report.html or a directory holding one)`);
    return file;
  });
  return o;
}

/** The Chromium binary: CHROMIUM_BIN, else `chromium` or `chromium-browser` on PATH; null if none. */
export function findChromium() {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  for (const name of ['chromium', 'chromium-browser']) {
    for (const d of (process.env.PATH ?? '').split(delimiter)) {
      if (!d) continue;
      const p = join(d, name);
      try {
        accessSync(p, constants.X_OK);
        if (statSync(p).isFile()) return p;
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

/** A Chrome DevTools Protocol session over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-framed JSON). */
function startBrowser(bin, profile) {
  const proc = spawn(
    bin,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C.UTF-8' } },
  );
  let stderr = '';
  proc.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const toBrowser = proc.stdio[3];
  const fromBrowser = proc.stdio[4];
  let nextId = 1;
  const pending = new Map();
  const waiters = [];
  let buf = '';
  fromBrowser.on('data', (chunk) => {
    buf += chunk.toString('utf8');
    let z;
    while ((z = buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buf.slice(0, z));
      buf = buf.slice(z + 1);
      if (msg.id !== undefined && pending.has(msg.id)) {
        const { res, rej, method } = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) rej(new Error(`${method}: ${msg.error.message}`));
        else res(msg.result);
      } else if (msg.method) {
        for (const w of [...waiters]) if (w.method === msg.method && w.sessionId === msg.sessionId) (waiters.splice(waiters.indexOf(w), 1), w.res(msg.params));
      }
    }
  });
  const died = new Promise((_, rej) => proc.on('exit', (code) => rej(new Error(`chromium exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`))));
  died.catch(() => undefined);
  const send = (method, params = {}, sessionId) => {
    const id = nextId++;
    const p = new Promise((res, rej) => pending.set(id, { res, rej, method }));
    toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return Promise.race([p, died]);
  };
  const once = (method, sessionId) => Promise.race([new Promise((res) => waiters.push({ method, sessionId, res })), died]);
  return { proc, send, once };
}

/** Runs in the page: what overflows. Cards may scroll their own content sideways (tables), but nothing may stick out of the page. */
const LAYOUT_CHECK = `(() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const pageWidth = document.documentElement.scrollWidth;
  if (pageWidth > vw + 1) problems.push('the page scrolls sideways: ' + pageWidth + ' px of content in ' + vw + ' px');
  const name = (el) => {
    const card = el.closest('.card');
    const h = card && card.querySelector('h3');
    return el.tagName.toLowerCase() + (h ? ' in "' + h.textContent + '"' : '');
  };
  for (const svg of document.querySelectorAll('figure svg')) {
    const r = svg.getBoundingClientRect();
    const c = svg.parentElement.getBoundingClientRect();
    if (r.right > c.right + 1) problems.push(name(svg) + ' is wider than its card (' + Math.round(r.width) + ' > ' + Math.round(c.width) + ' px)');
  }
  const scrolling = [];
  for (const w of document.querySelectorAll('.table-scroll')) {
    if (w.scrollWidth > w.clientWidth + 1) scrolling.push(name(w));
    const style = getComputedStyle(w);
    if (w.scrollWidth > w.clientWidth + 1 && style.overflowX !== 'auto' && style.overflowX !== 'scroll') problems.push(name(w) + ' is clipped');
  }
  for (const el of document.querySelectorAll('dd, dt, h1, h2, h3, p, caption, figcaption')) {
    if (el.scrollWidth > el.clientWidth + 1) problems.push(name(el) + ' text overflows: ' + JSON.stringify(el.textContent.slice(0, 60)));
  }
  return { height: Math.ceil(document.documentElement.scrollHeight), problems, scrolling };
})()`;

async function shoot(cdp, url, width, outBase, tile) {
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  const s = (m, p) => cdp.send(m, p, sessionId);
  await s('Page.enable');
  await s('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: false });
  const loaded = cdp.once('Page.loadEventFired', sessionId);
  await s('Page.navigate', { url });
  await loaded;
  const { result } = await s('Runtime.evaluate', { expression: LAYOUT_CHECK, returnByValue: true });
  const { height, problems, scrolling } = result.value;
  const files = [];
  const capture = async (y, h, file) => {
    const { data } = await s('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y, width, height: h, scale: 1 } });
    writeFileSync(file, Buffer.from(data, 'base64'));
    files.push(file);
  };
  await capture(0, height, `${outBase}.png`);
  if (tile > 0) for (let i = 0, y = 0; y < height; i++, y += tile) await capture(y, Math.min(tile, height - y), `${outBase}-${i + 1}.png`);
  await cdp.send('Target.closeTarget', { targetId });
  return { files, height, problems, scrolling };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const bin = findChromium();
  if (!bin) {
    console.error('report-screenshots: chromium is not installed (Debian: apt-get install -y chromium; or set CHROMIUM_BIN): no screenshots taken');
    process.exit(1);
  }
  mkdirSync(o.out, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'avgk-shots-'));
  if (o.reports.length === 0) {
    const dist = new URL('../dist/src/report/', import.meta.url);
    if (!existsSync(new URL('sample.js', dist))) {
      console.error('report-screenshots: error: no REPORT given and dist/ is not built (run `npm run build` for the sample report)');
      process.exit(2);
    }
    const { writeReport } = await import(new URL('html.js', dist).href);
    const { sampleReport } = await import(new URL('sample.js', dist).href);
    o.reports.push((await writeReport(join(profile, 'sample'), await sampleReport())).html);
  }
  const cdp = startBrowser(bin, profile);
  let failed = false;
  try {
    for (const file of o.reports) {
      const name = basename(dirname(file));
      for (const w of o.widths) {
        const r = await shoot(cdp, pathToFileURL(file).href, w, join(o.out, `${name}-${w}`), o.tile);
        console.log(`${name} @ ${w} px: ${r.height} px tall, ${r.files.length} file(s) in ${o.out}` + (r.scrolling.length ? `; scrolls sideways inside its card: ${r.scrolling.join(', ')}` : ''));
        for (const p of r.problems) console.log(`  LAYOUT: ${p}`);
        if (r.problems.length) failed = true;
      }
    }
  } finally {
    const exited = new Promise((res) => (cdp.proc.exitCode !== null ? res() : cdp.proc.once('exit', res)));
    cdp.proc.kill();
    await exited;
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
  }
  process.exit(failed ? 1 : 0);
}

// run as a script, not when imported (test/report-browser.test.ts imports findChromium)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(`report-screenshots: error: ${e.message}`);
    process.exit(1);
  });
}
