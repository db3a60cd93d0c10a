/**
 * Parity of every native kernel (C++ addon) against the TypeScript backend, the oracle.
 *
 * If the addon did not build or load, the "loads" test FAILS, unless AVGK_BACKEND=js is set, in
 * which case the whole file is skipped with a printed reason.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jsBackend } from '../src/backend/js/index.js';
import { createNativeBackend } from '../src/backend/native/index.js';
import {
  Binary, Unary, type Backend, type BinaryOp, type ConvGeom, type PoolGeom, type UnaryOp,
} from '../src/backend/types.js';
import { mulberry32 as rng } from '../src/data/rng.js';
import { nativeUnderTest } from './helpers/native.js';

const { addon, error, skipNative } = nativeUnderTest('native-parity');

describe('native addon', () => {
  it.skipIf(skipNative)('loads (required in CI unless AVGK_BACKEND=js)', () => {
    expect(error?.message ?? null).toBeNull();
    expect(addon).not.toBeNull();
  });
});

// ------------------------------------------------------------------------------------- helpers

const R = rng(12345);
const randInt = (lo: number, hi: number): number => lo + Math.floor(R() * (hi - lo + 1));
const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(R() * xs.length)]!;
function normal(): number {
  const u = Math.max(R(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * R());
}
function randn(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = normal() * scale;
  return a;
}
function uniform(n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * R();
  return a;
}
const SIZES = [1, 2, 3, 7, 13, 16, 17, 31, 64, 97, 257, 1000, 70001];

/** |a - b| ≤ atol + rtol·|b| everywhere (NaN matches NaN, ±Infinity must match exactly). */
function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-6): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (g !== w) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (Math.abs(g - w) > atol + rtol * Math.abs(w)) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${atol} + ${rtol}·|want|)`);
    }
  }
}
/** Exact equality of two integer arrays, reporting the first mismatch (no huge diffs). */
function expectSameInts(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}
function expectScalar(what: string, got: number, want: number, rtol = 1e-5, atol = 1e-6): void {
  expectClose(what, [got], [want], rtol, atol);
}

const native: Backend | null = addon ? createNativeBackend(addon, jsBackend) : null;
const THREADS = [1, 2];
function withThreads(fn: (nt: number) => void): void {
  for (const nt of THREADS) {
    native!.setNumThreads(nt);
    fn(nt);
  }
}

describe.skipIf(!addon)('native parity with the TypeScript backend', () => {
  const nb = native!;
  const initialThreads = addon ? nb.getNumThreads() : 1;
  afterAll(() => {
    if (addon) nb.setNumThreads(initialThreads);
  });

  it('is the native backend and sets threads', () => {
    expect(nb.name).toBe('native');
    nb.setNumThreads(1);
    expect(nb.getNumThreads()).toBe(1);
    nb.setNumThreads(2);
    expect(nb.getNumThreads()).toBe(2);
  });

  // ------------------------------------------------------------------------------ elementwise
  const unaryInput = (op: UnaryOp, n: number, p: number): Float32Array => {
    switch (op) {
      case Unary.log:
        return uniform(n, 1e-6, 50);
      case Unary.sqrt:
        return uniform(n, 0, 100);
      case Unary.exp: {
        const x = uniform(n, -110, 90);
        if (n > 4) x.set([0, -0, 1e-8, -1e-8]);
        return x;
      }
      case Unary.sigmoid:
      case Unary.tanh: {
        const x = randn(n, 4);
        if (n > 6) x.set([0, 1e-7, -1e-7, 0.6249, -0.6251, 60, -120].slice(0, Math.min(7, n)));
        return x;
      }
      case Unary.pow:
        return Number.isInteger(p) ? randn(n, 2) : uniform(n, 0, 4);
      default:
        return randn(n, 3);
    }
  };
  const unaryTol = (op: UnaryOp): [number, number] =>
    op === Unary.exp || op === Unary.log || op === Unary.sigmoid || op === Unary.tanh || op === Unary.pow
      ? [2e-6, 1e-37]
      : op === Unary.affine
        ? [3e-7, 1e-38] // p*x + q: one rounding (FMA) or two (baseline build without FMA)
        : [0, 0];

  it('unary (every op, sizes 1..70001, 1 and 2 threads, in place)', () => {
    withThreads((nt) => {
      for (let op = 0 as UnaryOp; op <= Unary.clamp; op = (op + 1) as UnaryOp) {
        for (const n of SIZES) {
          const ps = op === Unary.pow ? [2, 3, 0, 1, -1, 0.5, 1.7] : op === Unary.affine ? [-1.5] : [0];
          for (const p of ps) {
            const q = 0.25;
            const x = unaryInput(op, n, p);
            const want = new Float32Array(n);
            const got = new Float32Array(n).fill(NaN);
            jsBackend.unary(op, x, want, p, q);
            nb.unary(op, x, got, p, q);
            const [rt, at] = unaryTol(op);
            expectClose(`unary op=${op} p=${p} n=${n} threads=${nt}`, got, want, rt, at);
            const inPlace = Float32Array.from(x);
            nb.unary(op, inPlace, inPlace, p, q);
            expectClose(`unary in place op=${op} n=${n}`, inPlace, want, rt, at);
          }
        }
      }
    });
  });

  it('unary on NaN / Infinity / -0 data', () => {
    const x = new Float32Array([NaN, Infinity, -Infinity, -0, 0, 1e-40, -1e-40, 3.4e38, -3.4e38]);
    for (let op = 0 as UnaryOp; op <= Unary.clamp; op = (op + 1) as UnaryOp) {
      const want = new Float32Array(x.length);
      const got = new Float32Array(x.length);
      jsBackend.unary(op, x, want, 2, 1);
      nb.unary(op, x, got, 2, 1);
      expectClose(`unary specials op=${op}`, got, want, 2e-6, 1e-37);
    }
  });

  it('unaryBackward (every op)', () => {
    withThreads((nt) => {
      for (let op = 0 as UnaryOp; op <= Unary.clamp; op = (op + 1) as UnaryOp) {
        for (const n of SIZES) {
          for (const p of op === Unary.pow ? [2, 0, 1, 3, 1.7] : [0.75]) {
            const x = unaryInput(op, n, p);
            const y = new Float32Array(n);
            jsBackend.unary(op, x, y, p, 0.5);
            const gy = randn(n);
            const want = new Float32Array(n);
            const got = new Float32Array(n).fill(NaN);
            jsBackend.unaryBackward(op, x, y, gy, want, p, 0.5);
            nb.unaryBackward(op, x, y, gy, got, p, 0.5);
            expectClose(`unaryBackward op=${op} p=${p} n=${n} threads=${nt}`, got, want, 2e-6, 1e-30);
          }
        }
      }
    });
  });

  /** A random strided view of `shape` into a fresh buffer: contiguous, permuted, padded or broadcast. */
  function randomView(shape: number[], allowBroadcast: boolean): { buf: Float32Array; off: number; st: number[] } {
    const nd = shape.length;
    const kind = randInt(0, allowBroadcast ? 3 : 2);
    const order = shape.map((_, d) => d);
    if (kind === 1) order.sort(() => R() - 0.5);
    const st = new Array<number>(nd).fill(0);
    let s = 1;
    for (let k = nd - 1; k >= 0; k--) {
      const d = order[k]!;
      if (kind === 3 && R() < 0.5) continue; // broadcast this dim (stride 0)
      st[d] = s;
      s *= shape[d]! + (kind === 2 ? randInt(0, 2) : 0);
    }
    const off = randInt(0, 5);
    const buf = randn(off + s + randInt(0, 3));
    return { buf, off, st };
  }
  const randShape = (): number[] => {
    const nd = randInt(0, 5);
    return Array.from({ length: nd }, () => pickOne([1, 1, 2, 3, 5, 7, 16, 17]));
  };

  it('binary (broadcast, permuted, padded views; every op)', () => {
    withThreads((nt) => {
      for (let t = 0; t < 300; t++) {
        const shape = t === 0 ? [300, 301] : randShape();
        const op = randInt(0, Binary.ge) as BinaryOp;
        const a = randomView(shape, true);
        const b = randomView(shape, true);
        if (op === Binary.max || op === Binary.min) {
          a.buf[a.off] = NaN;
        }
        const size = shape.reduce((p, s) => p * s, 1);
        const want = new Float32Array(size);
        const got = new Float32Array(size).fill(NaN);
        jsBackend.binary(op, a.buf, a.off, a.st, b.buf, b.off, b.st, want, shape);
        nb.binary(op, a.buf, a.off, a.st, b.buf, b.off, b.st, got, shape);
        expectClose(`binary op=${op} shape=[${shape}] threads=${nt}`, got, want, 0, 0);
      }
      // exact in place: out is a, contiguous
      const n = 100003;
      const a = randn(n);
      const b = randn(n);
      const want = new Float32Array(n);
      jsBackend.binary(Binary.add, a, 0, [1], b, 0, [1], want, [n]);
      nb.binary(Binary.add, a, 0, [1], b, 0, [1], a, [n]);
      expectClose('binary in place', a, want, 0, 0);
    });
  });

  it('copy (Float32Array and Int32Array, strided both ways)', () => {
    withThreads((nt) => {
      for (let t = 0; t < 300; t++) {
        const shape = t === 0 ? [257, 513] : randShape();
        const x = randomView(shape, true);
        const o = randomView(shape, false);
        const wantBuf = Float32Array.from(o.buf);
        const gotBuf = Float32Array.from(o.buf);
        jsBackend.copy(x.buf, x.off, x.st, wantBuf, o.off, o.st, shape);
        nb.copy(x.buf, x.off, x.st, gotBuf, o.off, o.st, shape);
        expectClose(`copy f32 shape=[${shape}] threads=${nt}`, gotBuf, wantBuf, 0, 0);
        const xi = Int32Array.from(x.buf, (v) => Math.round(v * 1000));
        const wi = new Int32Array(o.buf.length).fill(-7);
        const gi = new Int32Array(o.buf.length).fill(-7);
        jsBackend.copy(xi, x.off, x.st, wi, o.off, o.st, shape);
        nb.copy(xi, x.off, x.st, gi, o.off, o.st, shape);
        expectSameInts(`copy i32 shape=[${shape}]`, gi, wi);
      }
    });
  });

  // ------------------------------------------------------------------------------- reductions
  it('reduceSum and reduceMax (incl. NaN, ties, inner > 512)', () => {
    withThreads((nt) => {
      const dims = [1, 2, 3, 7, 17, 64, 129, 600];
      for (let t = 0; t < 200; t++) {
        const outer = pickOne(dims);
        const mid = pickOne(dims);
        const inner = pickOne(dims);
        if (outer * mid * inner > 200_000) continue;
        const x = t % 3 === 0 ? Float32Array.from(randn(outer * mid * inner), (v) => Math.round(v * 2)) : randn(outer * mid * inner);
        if (t % 5 === 0 && x.length > 3) x[randInt(0, x.length - 1)] = NaN;
        const ws = new Float32Array(outer * inner);
        const gs = new Float32Array(outer * inner).fill(NaN);
        jsBackend.reduceSum(x, ws, outer, mid, inner);
        nb.reduceSum(x, gs, outer, mid, inner);
        expectClose(`reduceSum ${outer}x${mid}x${inner} threads=${nt}`, gs, ws, 1e-6, 1e-5);
        const wm = new Float32Array(outer * inner);
        const gm = new Float32Array(outer * inner);
        const wa = new Int32Array(outer * inner);
        const ga = new Int32Array(outer * inner).fill(-5);
        jsBackend.reduceMax(x, wm, wa, outer, mid, inner);
        nb.reduceMax(x, gm, ga, outer, mid, inner);
        expectClose(`reduceMax ${outer}x${mid}x${inner}`, gm, wm, 0, 0);
        expectSameInts(`argmax ${outer}x${mid}x${inner}`, ga, wa);
      }
      // large rows to exercise the threaded paths
      const x = randn(300 * 1000);
      for (const [o, m, i] of [[300, 1000, 1], [1, 300, 1000], [3, 1000, 100]] as const) {
        const w = new Float32Array(o * i);
        const g = new Float32Array(o * i);
        jsBackend.reduceSum(x.subarray(0, o * m * i), w, o, m, i);
        nb.reduceSum(x.subarray(0, o * m * i), g, o, m, i);
        expectClose(`reduceSum large ${o}x${m}x${i}`, g, w, 1e-6, 1e-5);
      }
    });
  });

  // ------------------------------------------------------------------------------------ gemm
  /**
   * One random strided GEMM (A and B stored as given by transA / transB, padded rows, offsets,
   * sometimes a batch stride of 0), native against the reference. beta 0 fills C with NaN.
   */
  function randomGemm(batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, alphas: number[], cBsExtra: number, nt: number): void {
    const padA = randInt(0, 3);
    const padB = randInt(0, 3);
    const padC = randInt(0, 3);
    const aOff = randInt(0, 4);
    const bOff = randInt(0, 4);
    const cOff = randInt(0, 4);
    // A_t is m×k: stored row-major [m, k+pad] or transposed [k, m+pad]
    const aRs = transA ? 1 : k + padA;
    const aCs = transA ? m + padA : 1;
    const aMat = transA ? k * (m + padA) : m * (k + padA);
    const aBs = batch > 1 && R() < 0.3 ? 0 : aMat;
    const bRs = transB ? 1 : n + padB;
    const bCs = transB ? k + padB : 1;
    const bMat = transB ? n * (k + padB) : k * (n + padB);
    const bBs = batch > 1 && R() < 0.3 ? 0 : bMat;
    const cRs = n + padC;
    const cBs = m * cRs + cBsExtra;
    const a = randn(aOff + batch * aMat + 2);
    const b = randn(bOff + batch * bMat + 2);
    const c0 = randn(cOff + batch * cBs + 2);
    const alpha = pickOne(alphas);
    const beta = pickOne([0, 1, 0.5]);
    if (beta === 0) c0.fill(NaN);
    const tag = `gemm b=${batch} m=${m} n=${n} k=${k} tA=${transA} tB=${transB} α=${alpha} β=${beta} threads=${nt}`;
    checkGemm(tag, { batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, c0, cOff, cRs, cBs });
  }

  it('gemm (every transpose/stride combo, batch, alpha/beta, beta=0 with NaN in C)', () => {
    withThreads((nt) => {
      const dims = [1, 2, 3, 7, 16, 17, 31, 33, 64, 100];
      for (let t = 0; t < 160; t++) {
        const m = pickOne(dims);
        const n = pickOne(dims);
        const k = t % 20 === 0 ? 300 : pickOne([0, ...dims]);
        const batch = pickOne([1, 1, 2, 3]);
        randomGemm(batch, m, n, k, (t & 1) === 1, (t & 2) === 2, [1, -0.5, 2], 0, nt);
      }
    });
  });

  // The small-problem path (native/kernels/gemm/gemm_small.cc: plans N, T and grouped-k, picked by
  // shape and layout): every layout over edge sizes (1, primes, tile multiples and one past them),
  // alpha != 1, beta 0 (C full of NaN) / 1 / 0.5, batch 1 and 3 (own or shared operands), offsets
  // and padded rows; plus the CNN head shapes.
  it('gemm small sizes (every layout, edge m/n/k, alpha/beta, batch, offsets, padded rows)', () => {
    const dims = [1, 2, 3, 7, 10, 13, 16, 17, 31, 33, 64, 65, 128];
    const heads: [number, number, number, number][] = [[128, 10, 64, 2], [128, 64, 10, 0], [10, 64, 128, 1], [128, 10, 4, 2]];
    withThreads((nt) => {
      const cases: [number, number, number, number][] = [...heads];
      let i = 0;
      for (const m of dims) {
        for (const n of dims) {
          for (let layout = 0; layout < 4; layout++, i++) cases.push([m, n, dims[(i * 5 + layout * 3) % dims.length]!, layout]);
        }
      }
      for (const [m, n, k, layout] of cases) {
        randomGemm(R() < 0.2 ? 3 : 1, m, n, k, (layout & 1) === 1, (layout & 2) === 2, [-0.5, 2, 0.75, -1.25], randInt(0, 2), nt);
      }
    });
  });

  interface GemmCase {
    batch: number; m: number; n: number; k: number; alpha: number;
    a: Float32Array; aOff: number; aRs: number; aCs: number; aBs: number;
    b: Float32Array; bOff: number; bRs: number; bCs: number; bBs: number;
    beta: number; c0: Float32Array; cOff: number; cRs: number; cBs: number;
  }
  // Native vs the TypeScript oracle on copies of c0; error bound |alpha|·|A||B| + |beta|·|C|.
  // Elements outside the C views (NaN when beta = 0) must come back untouched.
  function checkGemm(tag: string, p: GemmCase): void {
    const { batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, c0, cOff, cRs, cBs } = p;
    const want = Float32Array.from(c0);
    const got = Float32Array.from(c0);
    jsBackend.gemm(batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, want, cOff, cRs, cBs);
    nb.gemm(batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, got, cOff, cRs, cBs);
    const scale = Float32Array.from(c0, (v) => (Number.isNaN(v) ? 0 : Math.abs(v)));
    const absA = Float32Array.from(a, Math.abs);
    const absB = Float32Array.from(b, Math.abs);
    jsBackend.gemm(batch, m, n, k, Math.abs(alpha), absA, aOff, aRs, aCs, aBs, absB, bOff, bRs, bCs, bBs,
      Math.abs(beta), scale, cOff, cRs, cBs);
    for (let i = 0; i < got.length; i++) {
      const g = got[i]!;
      const w = want[i]!;
      if (Number.isNaN(w)) {
        if (!Number.isNaN(g)) expect.fail(`${tag} [${i}] stays NaN outside C: got ${g}`);
        continue;
      }
      if (!(Math.abs(g - w) <= 1e-4 * scale[i]! + 1e-6)) expect.fail(`${tag} [${i}]: got ${g}, want ${w}`);
    }
  }

  // --------------------------------------------------------------------------- conv and pool
  function convGeom(n: number, c: number, h: number, w: number, o: number, kh: number, kw: number, stride: number, pad: number): ConvGeom {
    return {
      n, c, h, w, o, kh, kw, stride, pad,
      oh: Math.floor((h + 2 * pad - kh) / stride) + 1,
      ow: Math.floor((w + 2 * pad - kw) / stride) + 1,
    };
  }
  /** Forward, backward-input and backward-weight of one geometry: native against the TypeScript reference. */
  function checkConv(g: ConvGeom, withBias: boolean, nt: number): void {
    const tag = `conv ${JSON.stringify(g)} threads=${nt}`;
    const x = randn(g.n * g.c * g.h * g.w);
    const wt = randn(g.o * g.c * g.kh * g.kw);
    const bias = withBias ? randn(g.o) : null;
    const wo = new Float32Array(g.n * g.o * g.oh * g.ow);
    const go = new Float32Array(wo.length).fill(NaN);
    jsBackend.conv2dForward(x, wt, bias, wo, g);
    nb.conv2dForward(x, wt, bias, go, g);
    expectClose(`${tag} forward`, go, wo, 1e-4, 2e-5 * Math.sqrt(g.c * g.kh * g.kw));
    const gy = randn(wo.length);
    const wgx = new Float32Array(x.length);
    const ggx = new Float32Array(x.length).fill(NaN);
    jsBackend.conv2dBackwardInput(gy, wt, wgx, g);
    nb.conv2dBackwardInput(gy, wt, ggx, g);
    expectClose(`${tag} backward input`, ggx, wgx, 1e-4, 2e-5 * Math.sqrt(g.o * g.kh * g.kw));
    const wgw = new Float32Array(wt.length);
    const ggw = new Float32Array(wt.length).fill(NaN);
    jsBackend.conv2dBackwardWeight(x, gy, wgw, g);
    nb.conv2dBackwardWeight(x, gy, ggw, g);
    expectClose(`${tag} backward weight`, ggw, wgw, 1e-4, 2e-5 * Math.sqrt(g.n * g.oh * g.ow));
  }
  it('conv2d forward / backward input / backward weight (1x1, 3x3, 3x1, stride 1/2, pad 0/1)', () => {
    withThreads((nt) => {
      for (const [kh, kw] of [[1, 1], [3, 3], [3, 1], [2, 2]] as const) {
        for (const stride of [1, 2]) {
          for (const pad of [0, 1]) {
            for (let rep = 0; rep < 3; rep++) {
              const h = randInt(Math.max(1, kh - 2 * pad), 13);
              const w = randInt(Math.max(1, kw - 2 * pad), 13);
              const g = convGeom(randInt(1, 3), randInt(1, 5), h, w, randInt(1, 6), kh, kw, stride, pad);
              checkConv(g, rep !== 1, nt);
            }
          }
        }
      }
    });
  });

  it('conv2d on network-like shapes: pre-packed weights, wide GEMMs grouped to 64 columns, per-image GEMMs', () => {
    // [n, c, h, w, o, k, stride, pad]: 4x4 / 8x8 maps take the wide path (n*HW columns, images grouped
    // so n*HW is a multiple of 64, with a partial last group), 16x16 the per-image path; O and K are
    // not multiples of the micro-tile, so the packed weight panels have zero-padded edges.
    const shapes: [number, number, number, number, number, number, number, number][] = [
      [5, 20, 4, 4, 70, 3, 1, 1],
      [7, 9, 8, 8, 33, 3, 2, 1],
      [6, 24, 8, 8, 31, 3, 1, 1],
      [3, 8, 16, 16, 13, 3, 1, 1],
      [9, 12, 8, 8, 40, 1, 2, 0],
      [4, 30, 16, 16, 19, 1, 1, 0],
    ];
    withThreads((nt) => {
      for (const [n, c, h, w, o, k, stride, pad] of shapes) {
        checkConv(convGeom(n, c, h, w, o, k, k, stride, pad), true, nt);
      }
    });
  });

  function poolGeom(n: number, c: number, h: number, w: number, k: number, stride: number, pad: number): PoolGeom {
    return { n, c, h, w, k, stride, pad, oh: Math.floor((h + 2 * pad - k) / stride) + 1, ow: Math.floor((w + 2 * pad - k) / stride) + 1 };
  }
  it('max / avg pooling forward and backward (k 1/2/3, stride 1/2, pad 0/1, ties)', () => {
    withThreads((nt) => {
      for (const k of [1, 2, 3]) {
        for (const stride of [1, 2]) {
          for (const pad of [0, 1]) {
            for (let rep = 0; rep < 3; rep++) {
              const h = randInt(Math.max(1, k - 2 * pad), 12);
              const w = randInt(Math.max(1, k - 2 * pad), 12);
              const g = poolGeom(randInt(1, 3), randInt(1, 4), h, w, k, stride, pad);
              const tag = `pool ${JSON.stringify(g)} threads=${nt}`;
              const x = rep === 0 ? Float32Array.from(randn(g.n * g.c * h * w), (v) => Math.round(v)) : randn(g.n * g.c * h * w);
              const no = g.n * g.c * g.oh * g.ow;
              const wo = new Float32Array(no);
              const go = new Float32Array(no);
              const wa = new Int32Array(no);
              const ga = new Int32Array(no);
              jsBackend.maxPool2dForward(x, wo, wa, g);
              nb.maxPool2dForward(x, go, ga, g);
              expectClose(`${tag} max forward`, go, wo, 0, 0);
              expectSameInts(`${tag} argmax`, ga, wa);
              const gy = randn(no);
              const wgx = new Float32Array(x.length);
              const ggx = new Float32Array(x.length).fill(NaN);
              jsBackend.maxPool2dBackward(gy, wa, wgx, g);
              nb.maxPool2dBackward(gy, wa, ggx, g);
              expectClose(`${tag} max backward`, ggx, wgx, 1e-6, 1e-6);
              jsBackend.avgPool2dForward(x, wo, g);
              nb.avgPool2dForward(x, go, g);
              expectClose(`${tag} avg forward`, go, wo, 1e-5, 1e-6);
              jsBackend.avgPool2dBackward(gy, wgx, g);
              ggx.fill(NaN);
              nb.avgPool2dBackward(gy, ggx, g);
              expectClose(`${tag} avg backward`, ggx, wgx, 1e-5, 1e-6);
            }
          }
        }
      }
    });
  });

  // ------------------------------------------------------------------------------- batchnorm
  it('batchNorm forward/backward (training and eval)', () => {
    withThreads((nt) => {
      for (let t = 0; t < 40; t++) {
        const n = pickOne([1, 2, 3, 8]);
        const c = pickOne([1, 3, 16, 17]);
        const hw = pickOne([1, 4, 7, 49, 256]);
        if (n * hw < 2) continue;
        const training = t % 2 === 0;
        const x = randn(n * c * hw, 2).map((v) => v + 3);
        const gamma = randn(c);
        const beta = randn(c);
        const eps = 1e-5;
        const wm = training ? new Float32Array(c) : uniform(c, -1, 1);
        const wv = training ? new Float32Array(c) : uniform(c, 0.5, 2);
        const gm = training ? new Float32Array(c).fill(NaN) : Float32Array.from(wm);
        const gv = training ? new Float32Array(c).fill(NaN) : Float32Array.from(wv);
        const wo = new Float32Array(x.length);
        const go = new Float32Array(x.length);
        const relu = t % 3 === 0; // the fused ReLU, forward and backward
        jsBackend.batchNormForward(x, gamma, beta, wo, wm, wv, n, c, hw, eps, training, relu);
        nb.batchNormForward(x, gamma, beta, go, gm, gv, n, c, hw, eps, training, relu);
        const tag = `batchNorm n=${n} c=${c} hw=${hw} training=${training} relu=${relu} threads=${nt}`;
        expectClose(`${tag} mean`, gm, wm, 1e-5, 1e-5);
        expectClose(`${tag} var`, gv, wv, 1e-4, 1e-5);
        expectClose(`${tag} out`, go, wo, 1e-4, 1e-4);
        const gy = randn(x.length);
        const w1 = new Float32Array(x.length);
        const g1 = new Float32Array(x.length);
        const w2 = new Float32Array(c);
        const g2 = new Float32Array(c);
        const w3 = new Float32Array(c);
        const g3 = new Float32Array(c);
        // the same y for both (the JS output): entries near 0 could round to opposite sides otherwise
        jsBackend.batchNormBackward(x, gy, gamma, wm, wv, w1, w2, w3, n, c, hw, eps, training, relu ? wo : null);
        nb.batchNormBackward(x, gy, gamma, wm, wv, g1, g2, g3, n, c, hw, eps, training, relu ? wo : null);
        expectClose(`${tag} gx`, g1, w1, 1e-3, 1e-4);
        expectClose(`${tag} ggamma`, g2, w2, 1e-4, 1e-4);
        expectClose(`${tag} gbeta`, g3, w3, 1e-4, 1e-4); // a float32 sum of n·hw terms, like ggamma
      }
    });
  });

  // ------------------------------------------------------------------------ softmax and losses
  function logits(rows: number, cols: number, extreme: boolean): Float32Array {
    const x = randn(rows * cols, extreme ? 3000 : 3);
    if (extreme && x.length > 3) {
      x[0] = 1e4;
      x[1] = -1e4;
      x[2] = -Infinity;
    }
    return x;
  }

  it('softmax / log-softmax forward and backward (incl. extreme logits, in place)', () => {
    withThreads((nt) => {
      for (let t = 0; t < 120; t++) {
        const rows = pickOne([1, 2, 5, 64, 300]);
        const cols = pickOne([1, 2, 3, 10, 17, 100, 1000]);
        const log = t % 2 === 0;
        const x = logits(rows, cols, t % 3 === 0);
        const want = new Float32Array(x.length);
        const got = new Float32Array(x.length).fill(NaN);
        jsBackend.softmax(x, want, rows, cols, log);
        nb.softmax(x, got, rows, cols, log);
        const tag = `softmax log=${log} ${rows}x${cols} threads=${nt}`;
        expectClose(tag, got, want, 2e-5, 1e-7);
        const inPlace = Float32Array.from(x);
        nb.softmax(inPlace, inPlace, rows, cols, log);
        expectClose(`${tag} in place`, inPlace, want, 2e-5, 1e-7);
        const gy = randn(x.length);
        const wg = new Float32Array(x.length);
        const gg = new Float32Array(x.length).fill(NaN);
        jsBackend.softmaxBackward(want, gy, wg, rows, cols, log);
        nb.softmaxBackward(want, gy, gg, rows, cols, log);
        expectClose(`${tag} backward`, gg, wg, 1e-4, 1e-5);
      }
    });
  });

  it('softmaxCrossEntropy (smoothing 0 / 0.1 / 1, grad or not, extreme logits, in place)', () => {
    withThreads((nt) => {
      for (let t = 0; t < 150; t++) {
        const rows = pickOne([1, 3, 17, 128, 500]);
        // every register-resident width (1-8 vectors, full and partial last vector) and the general path
        const cols = [1, 2, 3, 10, 16, 17, 33, 48, 64, 79, 100, 112, 128, 129, 1000][t % 15]!;
        const x = logits(rows, cols, t % 3 === 0);
        if (t % 3 === 0) x[2] = -50; // -Infinity logits make the smoothed loss infinite in both
        const labels = Int32Array.from({ length: rows }, () => randInt(0, cols - 1));
        const smoothing = pickOne([0, 0.1, 1]);
        const withGrad = t % 2 === 0;
        const wg = withGrad ? new Float32Array(x.length) : null;
        const gg = withGrad ? new Float32Array(x.length).fill(NaN) : null;
        const wl = jsBackend.softmaxCrossEntropy(x, labels, rows, cols, smoothing, wg);
        const gl = nb.softmaxCrossEntropy(x, labels, rows, cols, smoothing, gg);
        const tag = `softmaxCE ${rows}x${cols} ε=${smoothing} threads=${nt}`;
        expectScalar(`${tag} loss`, gl, wl, 1e-5, 1e-5 * rows);
        if (wg && gg) {
          expectClose(`${tag} grad`, gg, wg, 1e-5, 1e-6);
          const inPlace = Float32Array.from(x);
          const il = nb.softmaxCrossEntropy(inPlace, labels, rows, cols, smoothing, inPlace);
          expectScalar(`${tag} loss in place`, il, wl, 1e-5, 1e-5 * rows);
          expectClose(`${tag} grad in place`, inPlace, wg, 1e-5, 1e-6);
        }
      }
    });
  });

  it('softmaxCrossEntropy: a NaN logit makes the loss and its row NaN; -Infinity logits get exactly 0 gradient', () => {
    withThreads(() => {
      for (const cols of [10, 100, 1000]) {
        const rows = 40; // more than the 8 rows per renormalisation of the native loss product
        const x = logits(rows, cols, false);
        for (let r = 0; r < rows; r++) x[r * cols + ((r * 3) % cols)] = -Infinity;
        x[5 * cols + 1] = -200; // e^(x - max) below the float range: 0, as in the reference
        const labels = Int32Array.from({ length: rows }, (_, r) => (r * 7 + 1) % cols);
        const wg = new Float32Array(x.length), gg = new Float32Array(x.length).fill(NaN);
        const wl = jsBackend.softmaxCrossEntropy(x, labels, rows, cols, 0, wg);
        const gl = nb.softmaxCrossEntropy(x, labels, rows, cols, 0, gg);
        expect(Number.isFinite(gl)).toBe(true);
        expectScalar(`softmaxCE -inf logits cols=${cols} loss`, gl, wl, 1e-5, 1e-5 * rows);
        expectClose(`softmaxCE -inf logits cols=${cols} grad`, gg, wg, 1e-5, 1e-6);
        for (let r = 0; r < rows; r++) expect(gg[r * cols + ((r * 3) % cols)]).toBe(0);
        expect(gg[5 * cols + 1]).toBe(0);
        const y = Float32Array.from(x);
        y[17 * cols + 2] = NaN;
        const gn = new Float32Array(x.length);
        expect(nb.softmaxCrossEntropy(y, labels, rows, cols, 0, gn)).toBeNaN();
        for (let c = 0; c < cols; c++) expect(gn[17 * cols + c]).toBeNaN();
        expect(Number.isNaN(gn[16 * cols])).toBe(false);
      }
    });
  });

  it('sigmoidBce (weights / grad null or not, |z| up to 1e4)', () => {
    withThreads((nt) => {
      for (const n of [1, 2, 17, 1000, 100003]) {
        for (let v = 0; v < 4; v++) {
          const z = randn(n, pickOne([0.1, 3, 30]));
          if (n > 6) z.set([1e4, -1e4, 0, 1e-8, -1e-8, 20]);
          const tg = uniform(n, 0, 1);
          if (n > 6) tg.set([1, 0, 0.5, 1, 0, 1]);
          const w = v & 1 ? uniform(n, 0, 2) : null;
          const withGrad = (v & 2) !== 0;
          const wg = withGrad ? new Float32Array(n) : null;
          const gg = withGrad ? new Float32Array(n).fill(NaN) : null;
          const wl = jsBackend.sigmoidBce(z, tg, w, wg);
          const gl = nb.sigmoidBce(z, tg, w, gg);
          const tag = `sigmoidBce n=${n} weights=${w !== null} grad=${withGrad} threads=${nt}`;
          expectScalar(`${tag} loss`, gl, wl, 1e-5, 1e-6);
          // sig - t cancels: the float32 rounding of σ(z) (6e-8 at 0.5, times w ≤ 2) is the floor
          if (wg && gg) expectClose(`${tag} grad`, gg, wg, 1e-5, 3e-7);
        }
      }
      // confidently right: tiny per-entry losses must not be rounded to 0
      const z = new Float32Array(1000).fill(25);
      const tg = new Float32Array(1000).fill(1);
      expectScalar('sigmoidBce tiny losses', nb.sigmoidBce(z, tg, null, null), jsBackend.sigmoidBce(z, tg, null, null), 1e-5, 0);
    });
  });

  it('sigmoidBce with |z| near FLT_MAX and weights up to 4: a finite sum, as in double', () => {
    // Float per-entry losses (or float partial sums) of such logits overflow to Infinity; the true
    // sum is a finite double, which is what the TypeScript twin returns.
    withThreads((nt) => {
      for (const n of [1, 5, 40, 1000, 100003]) {
        for (const weighted of [false, true]) {
          const z = randn(n, 3);
          for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 37))) z[i] = pickOne([3e38, -3e38, 2.5e38, 1e38, -1e37]);
          z[n - 1] = 3.3e38;
          const tg = uniform(n, 0, 1);
          const w = weighted ? uniform(n, 1, 4) : null;
          const want = jsBackend.sigmoidBce(z, tg, w, null);
          const gg = new Float32Array(n);
          const wg = new Float32Array(n);
          jsBackend.sigmoidBce(z, tg, w, wg);
          const got = nb.sigmoidBce(z, tg, w, gg);
          const tag = `sigmoidBce huge n=${n} weights=${weighted} threads=${nt}`;
          expect(Number.isFinite(want), `${tag}: the reference is finite`).toBe(true);
          expect(Number.isFinite(got), `${tag}: finite (got ${got})`).toBe(true);
          expectScalar(`${tag} loss`, got, want, 1e-5, 0);
          expectClose(`${tag} grad`, gg, wg, 1e-5, 1e-6);
        }
      }
    });
  });

  // ------------------------------------------------------------------------------- selection
  it('selectKth (duplicates, ±0, ±Infinity, masks, every rank kind)', () => {
    withThreads((nt) => {
      for (const n of [1, 2, 3, 17, 1000, 100003]) {
        for (let v = 0; v < 6; v++) {
          let x: Float32Array;
          if (v === 0) x = randn(n);
          else if (v === 1) x = Float32Array.from(randn(n), (u) => Math.round(u * 2));
          else if (v === 2) x = new Float32Array(n).fill(1.5);
          else if (v === 3) x = Float32Array.from(randn(n), (u) => (u > 1 ? Infinity : u < -1 ? -Infinity : u > 0 ? 0 : -0));
          else x = randn(n, 1e-30 * 10 ** randInt(0, 60));
          const mask = v >= 4 ? Uint8Array.from({ length: n }, () => (R() < 0.3 ? 0 : randInt(1, 255))) : null;
          if (mask) mask[0] = 1;
          const count = mask ? mask.reduce((s, b) => s + (b ? 1 : 0), 0) : n;
          for (const m of new Set([1, count, Math.ceil(count / 2), randInt(1, count)])) {
            const want = jsBackend.selectKth(x, m, mask);
            const got = nb.selectKth(x, m, mask);
            expect(got === want, `selectKth n=${n} variant=${v} m=${m} threads=${nt}: got ${got}, want ${want}`).toBe(true);
          }
        }
      }
    });
  });

  // Large inputs reach the nested sampled levels (a median bracket of 1.5M entries holds ~75k, which
  // is sampled again), the re-run after ties overflow a bracket (-0 and +0 are distinct keys), and
  // the single-value bracket. The oracle is a sort of the selected entries.
  it('selectKth at n = 1.5M (nested brackets, ties, single-value brackets, masks)', () => {
    const n = 1_500_000;
    for (let v = 0; v < 4; v++) {
      let x: Float32Array;
      if (v === 0 || v === 3) x = uniform(n, -1, 1);
      else if (v === 1) x = Float32Array.from(randn(n), (u) => Math.round(u * 3));
      else x = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 3) - 1);
      const mask = v === 3 ? Uint8Array.from({ length: n }, () => (R() < 0.3 ? 0 : 1)) : null;
      const sorted = (mask ? x.filter((_, i) => mask[i] !== 0) : Float32Array.from(x)).sort().reverse();
      const count = sorted.length;
      withThreads((nt) => {
        for (const m of [1, Math.floor(count / 50), Math.ceil(count / 2), count - 7, count]) {
          const got = nb.selectKth(x, m, mask);
          expect(got === sorted[m - 1], `selectKth n=${n} variant=${v} m=${m} threads=${nt}: got ${got}, want ${sorted[m - 1]}`).toBe(true);
        }
      });
    }
  });

  // ------------------------------------------------------------------------------ optimisers
  it('sgdStep and adamStep (every flag combination)', () => {
    withThreads((nt) => {
      for (const n of [1, 17, 1000, 100003]) {
        for (const momentum of [0, 0.9]) {
          for (const nesterov of [false, true]) {
            for (const firstStep of [false, true]) {
              const p0 = randn(n);
              const grad = randn(n);
              const b0 = randn(n);
              const [wp, wb, gp, gb] = [Float32Array.from(p0), Float32Array.from(b0), Float32Array.from(p0), Float32Array.from(b0)];
              jsBackend.sgdStep(wp, grad, wb, 0.1, momentum, 1e-3, nesterov, firstStep);
              nb.sgdStep(gp, grad, gb, 0.1, momentum, 1e-3, nesterov, firstStep);
              const tag = `sgd n=${n} momentum=${momentum} nesterov=${nesterov} first=${firstStep} threads=${nt}`;
              expectClose(`${tag} param`, gp, wp, 1e-5, 1e-6);
              expectClose(`${tag} buf`, gb, wb, 1e-5, 1e-6);
            }
          }
        }
        for (const decoupled of [false, true]) {
          for (const step of [1, 2, 100]) {
            const p0 = randn(n);
            const grad = randn(n);
            const m0 = randn(n, 0.1);
            const v0 = uniform(n, 0, 0.1);
            const [wp, wm, wv] = [Float32Array.from(p0), Float32Array.from(m0), Float32Array.from(v0)];
            const [gp, gm, gv] = [Float32Array.from(p0), Float32Array.from(m0), Float32Array.from(v0)];
            jsBackend.adamStep(wp, grad, wm, wv, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, decoupled);
            nb.adamStep(gp, grad, gm, gv, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, decoupled);
            const tag = `adam n=${n} decoupled=${decoupled} step=${step} threads=${nt}`;
            expectClose(`${tag} param`, gp, wp, 1e-5, 1e-6);
            expectClose(`${tag} m`, gm, wm, 1e-5, 1e-7);
            expectClose(`${tag} v`, gv, wv, 1e-5, 1e-8);
          }
        }
      }
    });
  });
});
