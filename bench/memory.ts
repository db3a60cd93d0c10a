/**
 * Memory flatness: many training steps of a small two-head MLP (784→256→256→10, batch 32,
 * synthetic data), process RSS sampled at step `sampleAt` and at the end. A leak (a tape that is
 * never freed, a grow-only cache, a native buffer never released) shows up as RSS growth.
 *
 * Both samples are taken right after a full garbage collection (the child runs with --expose-gc),
 * so they measure what is retained, not how much garbage happens to await the collector: without
 * it, the external + ArrayBuffer memory alone moved between 25 and 72 MB from one sample to the
 * next, and one run of an unchanged build read +11.7 % where the others read +3 to +6 %.
 *
 * Runs in a child process (a fresh heap, so that the other benchmarks' garbage does not move RSS)
 * when the harness runs from compiled JavaScript; in-process otherwise (under vitest).
 */
import { spawnSync } from 'node:child_process';
import { backendName, setNumThreads } from '../src/backend/index.js';
import type { BenchRecord } from './harness.js';
import { makeTrainSetup } from './train.js';

export interface MemoryResult {
  steps: number;
  sampleAt: number;
  rssAtSampleMB: number;
  rssEndMB: number;
  rssMaxMB: number;
  heapAtSampleMB: number;
  heapEndMB: number;
  externalAtSampleMB: number;
  externalEndMB: number;
  growth: number;
  /** whether both samples followed a full GC (false in-process, where gc() is not exposed) */
  gc: boolean;
  seconds: number;
  lastLoss: number;
  backend: string;
}

const MB = 1024 * 1024;

/** Runs the loop in this process. */
export function memoryLoop(steps: number, sampleAt: number): MemoryResult {
  const s = makeTrainSetup({ name: 'memory', model: { name: 'mlp', hidden: [256, 256] }, sample: [784], classes: 10, batch: 32 }, 1);
  let at: NodeJS.MemoryUsage | null = null;
  let rssMax = 0;
  let loss = NaN;
  const gc = (globalThis as { gc?: () => void }).gc;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const settled = (): NodeJS.MemoryUsage => {
    if (gc) {
      // V8 releases ArrayBuffer backing stores on a background thread: collect, give it 100 ms,
      // collect again
      gc();
      Atomics.wait(pause, 0, 0, 100);
      gc();
    }
    return process.memoryUsage();
  };
  let gcMs = 0;
  const t0 = performance.now();
  for (let i = 1; i <= steps; i++) {
    loss = s.step();
    if (i % 250 === 0 || i === sampleAt) rssMax = Math.max(rssMax, process.memoryUsage.rss());
    if (i === sampleAt) {
      const g0 = performance.now();
      at = settled();
      gcMs += performance.now() - g0;
    }
  }
  const seconds = (performance.now() - t0 - gcMs) / 1000;
  const end = settled();
  const a = at ?? end;
  return {
    steps,
    sampleAt,
    rssAtSampleMB: a.rss / MB,
    rssEndMB: end.rss / MB,
    rssMaxMB: Math.max(rssMax, end.rss) / MB,
    heapAtSampleMB: a.heapUsed / MB,
    heapEndMB: end.heapUsed / MB,
    externalAtSampleMB: (a.external + a.arrayBuffers) / MB,
    externalEndMB: (end.external + end.arrayBuffers) / MB,
    growth: end.rss / a.rss - 1,
    gc: gc !== undefined,
    seconds,
    lastLoss: loss,
    backend: backendName(),
  };
}

/** Entry of the child process: `run.js --memory-child STEPS SAMPLE_AT THREADS` prints one JSON line. */
export function memoryChild(argv: string[]): number {
  const [steps, sampleAt, threads] = argv.map(Number);
  setNumThreads(threads);
  process.stdout.write(JSON.stringify(memoryLoop(steps, sampleAt)) + '\n');
  return 0;
}

/** Runs the memory benchmark (in a child process when possible) and returns its record. */
export function runMemory(runFile: string, steps: number, sampleAt: number, threads: number): BenchRecord {
  let r: MemoryResult;
  let where: string;
  if (runFile.endsWith('.js')) {
    const child = spawnSync(process.execPath, ['--expose-gc', runFile, '--memory-child', String(steps), String(sampleAt), String(threads)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
      // the child must use the parent's backend (an error, not a silent fallback, if it cannot)
      env: { ...process.env, AVGK_BACKEND: backendName() },
    });
    if (child.status !== 0) throw new Error(`memory child failed (status ${child.status}): ${child.stderr.slice(-2000)}`);
    const line = child.stdout.trim().split('\n').pop() ?? '';
    r = JSON.parse(line) as MemoryResult;
    where = 'child process';
  } else {
    setNumThreads(threads);
    r = memoryLoop(steps, sampleAt);
    where = 'in-process';
  }
  return {
    name: 'memory/mlp-two-head',
    shape: `784-256-256-10 b32 steps=${r.steps} sample@${r.sampleAt}`,
    threads,
    seconds: r.seconds / r.steps,
    impl: 'avgk',
    ratios: { 'rss-growth': r.growth },
    extra: {
      where,
      gcBeforeSamples: r.gc,
      backend: r.backend,
      rssAtSampleMB: round(r.rssAtSampleMB),
      rssEndMB: round(r.rssEndMB),
      rssMaxMB: round(r.rssMaxMB),
      heapAtSampleMB: round(r.heapAtSampleMB),
      heapEndMB: round(r.heapEndMB),
      externalAtSampleMB: round(r.externalAtSampleMB),
      externalEndMB: round(r.externalEndMB),
      totalSeconds: round(r.seconds),
      lastLoss: r.lastLoss,
    },
  };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
