/**
 * Memory-bound kernels in GB/s (bytes read + written): the fused losses (softmaxCrossEntropy and
 * sigmoidBce, both with their gradient, on 4e7 floats), selectKth on n = 1e7, and the copy
 * baselines they are compared with in the same run: the backend's contiguous copy of the same
 * bytes, which is a memcpy per thread chunk, so the baseline runs on as many threads as the kernel
 * it is the bar for (a single-threaded copy would make the 2-thread ratios look about twice as good
 * as they are).
 */
import { backend } from '../src/backend/index.js';
import { fillRandom, type BenchCase } from './harness.js';

export interface BandwidthSizes {
  ceRows: number;
  ceCols: number;
  bceN: number;
  selectN: number;
}

/**
 * Full sizes: the fused losses run on 4·10^7 floats (160 MB per array), as STREAM sizes its arrays,
 * well beyond the last-level cache, so that the copy they are compared with measures the memory's
 * bandwidth. At 10^7 floats (40 MB per array) a 2-thread copy on the Zen 5 machine ran partly from
 * L3 (115-121 GB/s, against 67 GB/s at 160 MB); one thread read 41-48 GB/s at 40 MB, 41-42 at 160 MB.
 * selectKth keeps the n = 10^7, against a copy of those same bytes.
 */
export function bandwidthSizes(quick: boolean): BandwidthSizes {
  return quick
    ? { ceRows: 10_000, ceCols: 100, bceN: 1_000_000, selectN: 1_000_000 }
    : { ceRows: 400_000, ceCols: 100, bceN: 40_000_000, selectN: 10_000_000 };
}

/** Bytes moved by each kernel (reads + writes). */
export function ceBytes(s: BandwidthSizes): number {
  return 4 * s.ceRows * s.ceCols /* logits */ + 4 * s.ceRows /* labels */ + 4 * s.ceRows * s.ceCols /* grad */;
}
export function bceBytes(s: BandwidthSizes): number {
  return 3 * 4 * s.bceN; // logits + targets read, grad written
}
export function selectBytes(s: BandwidthSizes): number {
  return 4 * s.selectN; // the input read once (a lower bound: the kernel may make more passes)
}

/**
 * A copy of `floats` contiguous floats through the backend (native: memcpy of one chunk per thread,
 * on the thread count the run has set). GB/s counts read + write: 8 bytes per float.
 */
function copyCase(name: string, floats: number, quick: boolean, forWhat: string): BenchCase {
  return {
    name,
    shape: `${floats} floats (${((8 * floats) / 1e6).toFixed(1)} MB r+w)`,
    bytes: 8 * floats,
    iterations: 10,
    timeMs: quick ? 100 : 300,
    warmup: 3,
    extra: { baselineFor: forWhat, floats, via: 'backend.copy (memcpy per thread chunk)' },
    setup: () => {
      const src = fillRandom(new Float32Array(floats), 7);
      const dst = new Float32Array(floats);
      const be = backend();
      const shape = [floats];
      const unit = [1];
      return { fn: () => be.copy(src, 0, unit, dst, 0, unit, shape) };
    },
  };
}

export function bandwidthCases(quick: boolean): BenchCase[] {
  const s = bandwidthSizes(quick);
  const t = quick ? 100 : 300;
  const cases: BenchCase[] = [];

  // softmaxCrossEntropy with grad, and a copy of the same bytes
  const ceB = ceBytes(s);
  cases.push(copyCase('copy/softmaxCrossEntropy', Math.round(ceB / 8), quick, 'softmaxCrossEntropy'));
  cases.push({
    name: 'softmaxCrossEntropy',
    shape: `rows=${s.ceRows} cols=${s.ceCols} +grad`,
    bytes: ceB,
    iterations: 10,
    timeMs: t,
    warmup: 3,
    setup: () => {
      const logits = fillRandom(new Float32Array(s.ceRows * s.ceCols), 8);
      for (let i = 0; i < logits.length; i++) logits[i] *= 4;
      const labels = new Int32Array(s.ceRows);
      for (let i = 0; i < labels.length; i++) labels[i] = (i * 7919) % s.ceCols;
      const grad = new Float32Array(logits.length);
      const be = backend();
      return { fn: () => void be.softmaxCrossEntropy(logits, labels, s.ceRows, s.ceCols, 0, grad) };
    },
  });

  // sigmoidBce with grad (no weights), and a copy of the same bytes
  const bceB = bceBytes(s);
  cases.push(copyCase('copy/sigmoidBce', Math.round(bceB / 8), quick, 'sigmoidBce'));
  cases.push({
    name: 'sigmoidBce',
    shape: `n=${s.bceN} +grad`,
    bytes: bceB,
    iterations: 10,
    timeMs: t,
    warmup: 3,
    setup: () => {
      const logits = fillRandom(new Float32Array(s.bceN), 9);
      for (let i = 0; i < logits.length; i++) logits[i] *= 6;
      const targets = new Float32Array(s.bceN);
      for (let i = 0; i < targets.length; i += 7) targets[i] = 1;
      const grad = new Float32Array(s.bceN);
      const be = backend();
      return { fn: () => void be.sigmoidBce(logits, targets, null, grad) };
    },
  });

  // selectKth on n floats, and the memcpy of the same n floats
  cases.push(copyCase('copy/selectKth', s.selectN, quick, 'selectKth'));
  for (const [label, m] of [['median', Math.floor(s.selectN / 2)], ['top2%', Math.floor(s.selectN / 50)]] as const) {
    cases.push({
      name: `selectKth/${label}`,
      shape: `n=${s.selectN} m=${m}`,
      bytes: selectBytes(s),
      iterations: 8,
      timeMs: t,
      warmup: 2,
      extra: { m },
      setup: () => {
        const x = fillRandom(new Float32Array(s.selectN), 10);
        const be = backend();
        return { fn: () => void be.selectKth(x, m, null) };
      },
    });
  }
  return cases;
}
