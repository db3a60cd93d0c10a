/**
 * The benchmark harness: case descriptions, measurement through tinybench (medians), records,
 * ratios, the printed table and the atomic JSON writer.
 */
import { renameSync, writeFileSync, unlinkSync } from 'node:fs';
import { Bench } from 'tinybench';

/** One measured row. `seconds` is the median time of one call (one training step, one GEMM, ...). */
export interface BenchRecord {
  name: string;
  shape: string;
  threads: number;
  seconds: number;
  gflops?: number;
  gbps?: number;
  imagesPerS?: number;
  /** 'avgk' for this library's rows, else the peer that produced the row ('openblas', 'torch'). */
  impl?: string;
  /** ratio name → value, e.g. { openblas: 1.07 } = avgk GFLOP/s / OpenBLAS GFLOP/s. */
  ratios?: Record<string, number>;
  /** free-form details (backend, iterations, memory numbers, ...). */
  extra?: Record<string, number | string | boolean>;
}

/** What a case's setup hands back: the function to time, and an optional clean-up. */
export interface Prepared {
  fn: () => void;
  dispose?: () => void;
}

export interface BenchCase {
  /** family/case, matched by --filter (together with the shape) */
  name: string;
  shape: string;
  /** Allocates inputs once per thread count; never timed. */
  setup: () => Prepared;
  /** Work per call, for the derived rates. */
  flops?: number;
  bytes?: number;
  images?: number;
  /** Minimum timed iterations, time budget (ms), warm-up iterations. */
  iterations: number;
  timeMs: number;
  warmup: number;
  /** Extra fields copied into the record. */
  extra?: Record<string, number | string | boolean>;
}

/** Median (p50) seconds of fn through tinybench. */
export function measure(fn: () => void, iterations: number, timeMs: number, warmup: number): { seconds: number; samples: number } {
  const bench = new Bench({
    iterations: Math.max(1, iterations),
    time: timeMs,
    warmup: warmup > 0,
    warmupIterations: Math.max(1, warmup),
    warmupTime: 0,
    throws: true,
  });
  bench.add('case', fn);
  bench.runSync();
  const task = bench.tasks[0];
  const r = task.result as { state: string; latency?: { p50?: number; samplesCount?: number }; error?: Error };
  if (r.state === 'errored') throw r.error ?? new Error('benchmark task failed');
  if (!r.latency || r.latency.p50 === undefined) throw new Error(`benchmark task ended in state ${r.state}`);
  return { seconds: r.latency.p50 / 1000, samples: r.latency.samplesCount ?? task.runs };
}

/** Runs one case at the current thread count and returns its record. */
export function runCase(c: BenchCase, threads: number, timeScale: number): BenchRecord {
  const prepared = c.setup();
  try {
    const { seconds, samples } = measure(prepared.fn, c.iterations, c.timeMs * timeScale, c.warmup);
    const rec: BenchRecord = { name: c.name, shape: c.shape, threads, seconds, impl: 'avgk' };
    if (c.flops !== undefined) rec.gflops = c.flops / seconds / 1e9;
    if (c.bytes !== undefined) rec.gbps = c.bytes / seconds / 1e9;
    if (c.images !== undefined) rec.imagesPerS = c.images / seconds;
    rec.extra = { ...(c.extra ?? {}), samples };
    return rec;
  } finally {
    prepared.dispose?.();
  }
}

/** The headline rate of a record, with its unit. */
export function rate(r: BenchRecord): { value: number; unit: string } | null {
  if (r.gflops !== undefined) return { value: r.gflops, unit: 'GFLOP/s' };
  if (r.gbps !== undefined) return { value: r.gbps, unit: 'GB/s' };
  if (r.imagesPerS !== undefined) return { value: r.imagesPerS, unit: 'img/s' };
  return null;
}

/** A target for one ratio: ≥ min (higher is better) or ≤ max (lower is better). */
export interface Target {
  min?: number;
  max?: number;
}

function fmtTime(s: number): string {
  if (s >= 1) return `${s.toFixed(3)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(3)} ms`;
  return `${(s * 1e6).toFixed(1)} µs`;
}

function fmtNum(v: number): string {
  if (v >= 1000) return v.toFixed(0);
  if (v >= 100) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtRatio(name: string, v: number, t: Target | undefined): string {
  let mark = '';
  if (t?.min !== undefined) mark = v >= t.min ? ` ok(≥${t.min})` : ` MISS(≥${t.min})`;
  else if (t?.max !== undefined) mark = v <= t.max ? ` ok(≤${t.max})` : ` MISS(≤${t.max})`;
  return `${name} ${v.toFixed(2)}×${mark}`;
}

/** Fixed-width text table of records (ratios printed next to each row). */
export function formatTable(records: readonly BenchRecord[], targetOf: (r: BenchRecord, ratio: string) => Target | undefined): string {
  const head = ['name', 'shape', 'thr', 'median', 'rate', 'ratios'];
  const rows = records.map((r) => {
    const rt = rate(r);
    const ratios = Object.entries(r.ratios ?? {}).map(([k, v]) => fmtRatio(k, v, targetOf(r, k))).join('  ');
    const name = r.impl && r.impl !== 'avgk' ? `[${r.impl}] ${r.name}` : r.name;
    return [name, r.shape, String(r.threads), fmtTime(r.seconds), rt ? `${fmtNum(rt.value)} ${rt.unit}` : '', ratios];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Writes JSON atomically: a temporary file next to the target, then rename. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
}

/** Deterministic filler for benchmark inputs (values in [-1, 1)). */
export function fillRandom(a: Float32Array, seed = 1): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}
