/**
 * The TypeScript backend against naive, obviously-correct references written here in float64:
 * loops by definition, finite differences for the backward kernels, brute-force sorting for
 * selection, hand-computed losses, PyTorch's documented optimiser formulas.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { jsBackend as B } from '../src/backend/js/index.js';
import { Binary, Unary, type BinaryOp, type ConvGeom, type PoolGeom, type UnaryOp } from '../src/backend/types.js';
import { mulberry32 as rng } from '../src/data/rng.js';

// ------------------------------------------------------------------------------------ helpers


function randF32(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Distinct values (a shuffled range, scaled): ties impossible, gaps ≥ 1. */
function distinctF32(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = i - n / 2;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

function expectClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = '',
): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      expect(a, `${what}[${i}]`).toBeNaN();
      continue;
    }
    if (a === e) continue;
    const tol = atol + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= tol)) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
    }
  }
}

const SIZES = [1, 2, 3, 5, 7, 11, 13];
const size = fc.constantFrom(...SIZES);
const small = fc.constantFrom(1, 2, 3, 5);
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
// AVGK_FC_RUNS=500 for a longer soak; the default keeps the file well under a few seconds.
const RUNS = { numRuns: Number(process.env.AVGK_FC_RUNS ?? 25) };

/** All multi-indices of a shape, in row-major order. */
function* indices(shape: readonly number[]): Generator<number[]> {
  const total = shape.reduce((p, s) => p * s, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let t = 0; t < total; t++) {
    yield idx.slice();
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

const dot = (idx: readonly number[], strides: readonly number[], off: number): number =>
  idx.reduce((s, v, d) => s + v * strides[d]!, off);

/** Row-major strides of `shape` laid out in the dimension order `perm` (perm[0] outermost). */
function permutedStrides(shape: readonly number[], perm: readonly number[], pad = 0): number[] {
  const st = new Array<number>(shape.length).fill(0);
  let s = 1;
  for (let q = perm.length - 1; q >= 0; q--) {
    const d = perm[q]!;
    st[d] = s;
    s *= shape[d]! + pad;
  }
  return st;
}

function extent(shape: readonly number[], strides: readonly number[], off: number): number {
  return shape.reduce((e, s, d) => e + (s - 1) * strides[d]!, off) + 1;
}

function shuffle(n: number, r: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

// ------------------------------------------------------------------------------------ meta

describe('jsBackend table', () => {
  it('is named js and records the thread count', () => {
    expect(B.name).toBe('js');
    const before = B.getNumThreads();
    B.setNumThreads(3);
    expect(B.getNumThreads()).toBe(3);
    B.setNumThreads(before);
    expect(() => B.setNumThreads(0)).toThrow(/positive integer/);
    expect(() => B.setNumThreads(1.5)).toThrow(/positive integer/);
  });
});

// ------------------------------------------------------------------------------------ unary

const unaryRef: Record<UnaryOp, (x: number, p: number, q: number) => number> = {
  [Unary.neg]: (x) => -x,
  [Unary.exp]: (x) => Math.exp(x),
  [Unary.log]: (x) => Math.log(x),
  [Unary.sqrt]: (x) => Math.sqrt(x),
  [Unary.relu]: (x) => (x > 0 ? x : 0),
  [Unary.sigmoid]: (x) => 1 / (1 + Math.exp(-x)),
  [Unary.tanh]: (x) => Math.tanh(x),
  [Unary.abs]: (x) => Math.abs(x),
  [Unary.pow]: (x, p) => Math.pow(x, p),
  [Unary.affine]: (x, p, q) => p * x + q,
  [Unary.clamp]: (x, p, q) => Math.min(q, Math.max(p, x)),
};

/** Each op with a domain away from kinks and singularities, and parameters. */
const unaryCases: { name: string; op: UnaryOp; lo: number; hi: number; p: number; q: number }[] = [
  { name: 'neg', op: Unary.neg, lo: -3, hi: 3, p: 0, q: 0 },
  { name: 'exp', op: Unary.exp, lo: -5, hi: 5, p: 0, q: 0 },
  { name: 'log', op: Unary.log, lo: 0.05, hi: 10, p: 0, q: 0 },
  { name: 'sqrt', op: Unary.sqrt, lo: 0.05, hi: 10, p: 0, q: 0 },
  { name: 'relu', op: Unary.relu, lo: -3, hi: 3, p: 0, q: 0 },
  { name: 'sigmoid', op: Unary.sigmoid, lo: -8, hi: 8, p: 0, q: 0 },
  { name: 'tanh', op: Unary.tanh, lo: -4, hi: 4, p: 0, q: 0 },
  { name: 'abs', op: Unary.abs, lo: -3, hi: 3, p: 0, q: 0 },
  { name: 'pow 2.5', op: Unary.pow, lo: 0.1, hi: 3, p: 2.5, q: 0 },
  { name: 'pow 3 (negative x)', op: Unary.pow, lo: -2, hi: 2, p: 3, q: 0 },
  { name: 'pow 2', op: Unary.pow, lo: -2, hi: 2, p: 2, q: 0 },
  { name: 'pow -0.5', op: Unary.pow, lo: 0.2, hi: 3, p: -0.5, q: 0 },
  { name: 'affine', op: Unary.affine, lo: -3, hi: 3, p: -1.75, q: 0.5 },
  { name: 'clamp', op: Unary.clamp, lo: -3, hi: 3, p: -1.25, q: 0.75 },
];

describe('unary', () => {
  for (const cs of unaryCases) {
    it(`${cs.name}: forward matches Math, backward matches finite differences`, () => {
      const r = rng(cs.op * 7 + 1);
      const n = 101;
      const x = randF32(n, r, cs.lo, cs.hi);
      // Keep clear of the kinks of relu/abs for the finite differences.
      for (let i = 0; i < n; i++) if (Math.abs(x[i]!) < 0.01) x[i] = 0.5;
      const y = new Float32Array(n);
      B.unary(cs.op, x, y, cs.p, cs.q);
      const f = unaryRef[cs.op];
      expectClose(y, Array.from(x, (v) => Math.fround(f(v, cs.p, cs.q))), 1e-6, 1e-7, 'y');

      const gy = randF32(n, r, -2, 2);
      const gx = new Float32Array(n).fill(NaN);
      B.unaryBackward(cs.op, x, y, gy, gx, cs.p, cs.q);
      const h = 1e-4;
      const fd = Array.from(x, (v, i) => (gy[i]! * (f(v + h, cs.p, cs.q) - f(v - h, cs.p, cs.q))) / (2 * h));
      expectClose(gx, fd, 1e-3, 1e-5, 'gx');
    });
  }

  it('may run in place (out aliases x)', () => {
    const x = Float32Array.from([1, -2, 3]);
    B.unary(Unary.affine, x, x, 2, 1);
    expect(Array.from(x)).toEqual([3, -3, 7]);
  });

  it('sigmoid is stable for large |x|; relu propagates NaN', () => {
    const x = Float32Array.from([-1e4, -100, 100, 1e4]);
    const y = new Float32Array(4);
    B.unary(Unary.sigmoid, x, y, 0, 0);
    expect(Array.from(y)).toEqual([0, Math.fround(Math.exp(-100)), 1, 1]);
    B.unary(Unary.relu, Float32Array.from([NaN, -1, 2]), y.subarray(0, 3), 0, 0);
    expect(y[0]).toBeNaN();
    expect([y[1], y[2]]).toEqual([0, 2]);
  });

  it('special points of the backward: relu and abs at 0, pow with p = 0 and p = 1', () => {
    const x = Float32Array.from([0, 0, 2]);
    const gy = Float32Array.from([1, 1, 1]);
    const gx = new Float32Array(3).fill(NaN);
    B.unaryBackward(Unary.relu, x, x, gy, gx, 0, 0);
    expect(Array.from(gx)).toEqual([0, 0, 1]);
    B.unaryBackward(Unary.abs, x, x, gy, gx, 0, 0);
    expect(Array.from(gx)).toEqual([0, 0, 1]);
    B.unaryBackward(Unary.pow, x, x, gy, gx, 0, 0);
    expect(Array.from(gx)).toEqual([0, 0, 0]);
    B.unaryBackward(Unary.pow, x, x, gy, gx, 1, 0);
    expect(Array.from(gx)).toEqual([1, 1, 1]);
  });

  it('rejects inconsistent lengths and unknown ops', () => {
    expect(() => B.unary(Unary.exp, new Float32Array(3), new Float32Array(4), 0, 0)).toThrow(
      /^unary: out has 4 elements, needs 3/,
    );
    const a = new Float32Array(3);
    expect(() => B.unaryBackward(Unary.exp, a, new Float32Array(2), a, a, 0, 0)).toThrow(/unaryBackward: y has 2 elements/);
    expect(() => B.unary(42 as UnaryOp, a, a, 0, 0)).toThrow(/unknown op code 42/);
  });
});

// ------------------------------------------------------------------------------------ binary / copy

const binaryRef: Record<BinaryOp, (a: number, b: number) => number> = {
  [Binary.add]: (a, b) => a + b,
  [Binary.sub]: (a, b) => a - b,
  [Binary.mul]: (a, b) => a * b,
  [Binary.div]: (a, b) => a / b,
  [Binary.max]: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  [Binary.min]: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  [Binary.ge]: (a, b) => (a >= b ? 1 : 0),
};

/** A random view of `shape`: permuted layout, padded rows, offset, some dimensions broadcast. */
function randomView(shape: readonly number[], r: () => number, broadcast: boolean) {
  const perm = shuffle(shape.length, r);
  const pad = r() < 0.5 ? 0 : 1;
  const strides = permutedStrides(shape, perm, pad);
  if (broadcast) for (let d = 0; d < shape.length; d++) if (r() < 0.3) strides[d] = 0;
  const offset = Math.floor(r() * 3);
  const data = randF32(extent(shape, strides, offset) + Math.floor(r() * 2), r, -3, 3);
  return { data, offset, strides };
}

describe('binary', () => {
  it('matches the definition over random broadcast strided views', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(1, 2, 3, 5), { minLength: 0, maxLength: 5 }), seed, (shape, s) => {
        const r = rng(s);
        const A = randomView(shape, r, true);
        const Bv = randomView(shape, r, true);
        const total = shape.reduce((p: number, v) => p * v, 1);
        for (const op of Object.values(Binary)) {
          const out = new Float32Array(total).fill(NaN);
          B.binary(op, A.data, A.offset, A.strides, Bv.data, Bv.offset, Bv.strides, out, shape);
          const exp: number[] = [];
          for (const idx of indices(shape)) {
            const a = A.data[dot(idx, A.strides, A.offset)]!;
            const b = Bv.data[dot(idx, Bv.strides, Bv.offset)]!;
            exp.push(Math.fround(binaryRef[op](a, b)));
          }
          expect(Array.from(out)).toEqual(exp);
        }
      }),
      RUNS,
    );
  });

  it('handles 8 dimensions, in place and NaN in max/min', () => {
    const shape = [2, 1, 2, 3, 1, 2, 2, 3];
    const total = 144;
    const r = rng(5);
    const a = randF32(total, r);
    const st = permutedStrides(shape, [0, 1, 2, 3, 4, 5, 6, 7]);
    const bRow = randF32(3, r);
    const bSt = [0, 0, 0, 0, 0, 0, 0, 1];
    const expected = Array.from(a, (v, i) => Math.fround(v * bRow[i % 3]!));
    B.binary(Binary.mul, a, 0, st, bRow, 0, bSt, a, shape); // out aliases a
    expect(Array.from(a)).toEqual(expected);

    const x = Float32Array.from([NaN, 1, 2, NaN]);
    const y = Float32Array.from([0, NaN, 3, NaN]);
    const o = new Float32Array(4);
    B.binary(Binary.max, x, 0, [1], y, 0, [1], o, [4]);
    expect(Array.from(o)).toEqual([NaN, NaN, 3, NaN]);
    B.binary(Binary.min, x, 0, [1], y, 0, [1], o, [4]);
    expect(Array.from(o)).toEqual([NaN, NaN, 2, NaN]);
  });

  it('rejects bad lengths and ranks', () => {
    const a = new Float32Array(6);
    expect(() => B.binary(Binary.add, a, 0, [3, 1], a, 0, [3, 1], new Float32Array(5), [2, 3])).toThrow(
      'binary: out has 5 elements, needs 6 for shape [2, 3]',
    );
    expect(() => B.binary(Binary.add, a, 1, [3, 1], a, 0, [3, 1], a, [2, 3])).toThrow(
      /binary: a has 6 elements, needs 7/,
    );
    expect(() => B.binary(Binary.add, a, 0, [1], a, 0, [3, 1], a, [2, 3])).toThrow(/aStrides has 1 entries, needs 2/);
    const nine = new Array<number>(9).fill(1);
    expect(() => B.binary(Binary.add, a, 0, nine, a, 0, nine, new Float32Array(1), nine)).toThrow(/at most 8 dimensions/);
  });
});

describe('copy', () => {
  it('matches the definition over random strided views, Float32Array and Int32Array', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(1, 2, 3, 5, 7), { minLength: 0, maxLength: 5 }), seed, (shape, s) => {
        const r = rng(s);
        const src = randomView(shape, r, r() < 0.5);
        const perm = shuffle(shape.length, r);
        const outStrides = permutedStrides(shape, perm, r() < 0.5 ? 0 : 2);
        const outOffset = Math.floor(r() * 4);
        const len = extent(shape, outStrides, outOffset) + 2;
        const out = new Float32Array(len).fill(-99);
        B.copy(src.data, src.offset, src.strides, out, outOffset, outStrides, shape);
        const exp = new Float32Array(len).fill(-99);
        for (const idx of indices(shape)) exp[dot(idx, outStrides, outOffset)] = src.data[dot(idx, src.strides, src.offset)]!;
        expect(Array.from(out)).toEqual(Array.from(exp));

        const xi = Int32Array.from(src.data, (v) => Math.round(v * 1000));
        const oi = new Int32Array(len).fill(-7);
        B.copy(xi, src.offset, src.strides, oi, outOffset, outStrides, shape);
        const ei = new Int32Array(len).fill(-7);
        for (const idx of indices(shape)) ei[dot(idx, outStrides, outOffset)] = xi[dot(idx, src.strides, src.offset)]!;
        expect(Array.from(oi)).toEqual(Array.from(ei));
      }),
      RUNS,
    );
  });

  it('copies long contiguous rows, scalars and empty shapes; rejects bad lengths', () => {
    const x = randF32(200, rng(1));
    const out = new Float32Array(210);
    B.copy(x, 0, [100, 1], out, 10, [100, 1], [2, 100]);
    expect(Array.from(out.subarray(10))).toEqual(Array.from(x));
    const s = new Int32Array(1);
    B.copy(Int32Array.from([1, 2, 3]), 2, [], s, 0, [], []);
    expect(s[0]).toBe(3);
    B.copy(new Float32Array(0), 0, [1], new Float32Array(0), 0, [1], [0]);
    expect(() => B.copy(x, 0, [1], new Float32Array(10), 0, [1], [11])).toThrow(
      'copy: out has 10 elements, needs 11 for shape [11], offset 0, strides [1]',
    );
  });
});

// ------------------------------------------------------------------------------------ reductions

describe('reduceSum / reduceMax', () => {
  it('match the definition over random [outer, mid, inner], first maximum wins ties', () => {
    fc.assert(
      fc.property(size, size, size, seed, (outer, mid, inner, s) => {
        const r = rng(s);
        const x = randF32(outer * mid * inner, r, -10, 10);
        // Small integers in half of the entries make ties frequent.
        for (let i = 0; i < x.length; i++) if (r() < 0.5) x[i] = Math.floor(r() * 3);
        const sum = new Float32Array(outer * inner).fill(NaN);
        const mx = new Float32Array(outer * inner).fill(NaN);
        const am = new Int32Array(outer * inner).fill(-5);
        B.reduceSum(x, sum, outer, mid, inner);
        B.reduceMax(x, mx, am, outer, mid, inner);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let s2 = 0;
            let best = -Infinity;
            let bi = -1;
            for (let m = 0; m < mid; m++) {
              const v = x[(o * mid + m) * inner + i]!;
              s2 += v;
              if (v > best) [best, bi] = [v, m];
            }
            expect(sum[o * inner + i]).toBeCloseTo(Math.fround(s2), 4);
            expect(mx[o * inner + i]).toBe(best);
            expect(am[o * inner + i]).toBe(bi);
          }
        }
      }),
      RUNS,
    );
  });

  it('sums in double (1 + 1e-8 * 1e6 is not lost), NaN propagates to max with its index', () => {
    const n = 1_000_001;
    const x = new Float32Array(n).fill(1e-8);
    x[0] = 1;
    const out = new Float32Array(1);
    B.reduceSum(x, out, 1, n, 1);
    expect(out[0]).toBeCloseTo(1.01, 6);
    for (const inner of [1, 2]) {
      const y = Float32Array.from([1, 1, NaN, NaN, 5, 5, NaN, 9].slice(0, 4 * inner));
      const m = new Float32Array(inner);
      const a = new Int32Array(inner);
      B.reduceMax(y, m, a, 1, 4, inner);
      if (inner === 1) {
        expect(m[0]).toBeNaN();
        expect(a[0]).toBe(2);
      } else {
        // column 0: 1, NaN, 5, NaN -> NaN at 1; column 1: 1, NaN, 5, 9 -> NaN at 1
        expect(m[0]).toBeNaN();
        expect(Array.from(a)).toEqual([1, 1]);
      }
    }
  });

  it('rejects bad lengths', () => {
    expect(() => B.reduceSum(new Float32Array(11), new Float32Array(3), 3, 4, 1)).toThrow(
      'reduceSum: x has 11 elements, needs 12 for outer=3 mid=4 inner=1',
    );
    expect(() => B.reduceMax(new Float32Array(12), new Float32Array(3), new Int32Array(2), 3, 4, 1)).toThrow(
      'reduceMax: argmax has 2 elements, needs 3',
    );
  });
});

// ------------------------------------------------------------------------------------ gemm

describe('gemm', () => {
  it('matches a float64 triple loop over random strides, transposes, batches, alpha and beta', () => {
    fc.assert(
      fc.property(
        small, size, size, fc.constantFrom(0, 1, 2, 3, 7, 17), fc.boolean(), fc.boolean(),
        fc.constantFrom(0, 1, -0.5), fc.constantFrom(1, 0.5, -2), seed,
        (batch, m, n, k, ta, tb, beta, alpha, s) => {
          const r = rng(s);
          const padA = Math.floor(r() * 3);
          const padB = Math.floor(r() * 3);
          const padC = Math.floor(r() * 3);
          // A (m×k) stored as m×k (row stride k+pad) or as its transpose k×m.
          const [aRow, aCol] = ta ? [1, m + padA] : [k + padA, 1];
          const [bRow, bCol] = tb ? [1, k + padB] : [n + padB, 1];
          const aMat = (ta ? k : m) * ((ta ? m : k) + padA);
          const bMat = (tb ? n : k) * ((tb ? k : n) + padB);
          const cRow = n + padC;
          const aOff = Math.floor(r() * 3);
          const bOff = Math.floor(r() * 3);
          const cOff = Math.floor(r() * 3);
          const aBs = aMat + Math.floor(r() * 2);
          const bBs = r() < 0.2 ? 0 : bMat; // shared B across the batch sometimes
          const cBs = m * cRow + 1;
          const a = randF32(aOff + batch * aBs + 1, r);
          const b = randF32(bOff + batch * Math.max(bBs, bMat) + 1, r);
          const c = randF32(cOff + batch * cBs, r);
          if (beta === 0) c.fill(NaN);
          const c0 = Float64Array.from(c);
          B.gemm(batch, m, n, k, alpha, a, aOff, aRow, aCol, aBs, b, bOff, bRow, bCol, bBs, beta, c, cOff, cRow, cBs);
          const exp = Float64Array.from(c0);
          const scale = new Float64Array(c.length);
          for (let t = 0; t < batch; t++) {
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let acc = 0;
                let mag = 0;
                for (let p = 0; p < k; p++) {
                  const prod = a[aOff + t * aBs + i * aRow + p * aCol]! * b[bOff + t * bBs + p * bRow + j * bCol]!;
                  acc += prod;
                  mag += Math.abs(prod);
                }
                const ci = cOff + t * cBs + i * cRow + j;
                exp[ci] = beta === 0 ? alpha * acc : alpha * acc + beta * c0[ci]!;
                scale[ci] = Math.abs(alpha) * mag + (beta === 0 ? 0 : Math.abs(beta * c0[ci]!));
              }
            }
          }
          for (let i = 0; i < c.length; i++) {
            if (Number.isNaN(exp[i]!)) {
              expect(c[i]).toBeNaN(); // untouched padding of a NaN-filled C
            } else {
              expect(Math.abs(c[i]! - exp[i]!)).toBeLessThanOrEqual(1e-6 * scale[i]! + 1e-7 * Math.abs(exp[i]!) + 1e-30);
            }
          }
        },
      ),
      RUNS,
    );
  });

  it('beta = 0 overwrites NaN; k = 0 gives beta*C', () => {
    const a = Float32Array.from([1, 2]);
    const b = Float32Array.from([3, 4]);
    const c = Float32Array.from([NaN]);
    B.gemm(1, 1, 1, 2, 1, a, 0, 2, 1, 0, b, 0, 1, 1, 0, 0, c, 0, 1, 0);
    expect(c[0]).toBe(11);
    const c2 = Float32Array.from([NaN, 4]);
    B.gemm(1, 1, 2, 0, 1, a, 0, 0, 1, 0, b, 0, 2, 1, 0, 0, c2, 0, 2, 0);
    expect(Array.from(c2)).toEqual([0, 0]);
    const c3 = Float32Array.from([2, 4]);
    B.gemm(1, 1, 2, 0, 1, a, 0, 0, 1, 0, b, 0, 2, 1, 0, 0.5, c3, 0, 2, 0);
    expect(Array.from(c3)).toEqual([1, 2]);
  });

  it('rejects buffers too short for the sizes and strides', () => {
    const a = new Float32Array(12);
    const b = new Float32Array(16);
    expect(() => B.gemm(1, 3, 4, 4, 1, a, 0, 4, 1, 0, b, 0, 4, 1, 0, 0, new Float32Array(10), 0, 4, 0)).toThrow(
      /^gemm: c has 10 elements, needs 12 for m=3 n=4/,
    );
    expect(() => B.gemm(1, 3, 4, 4, 1, a, 0, 5, 1, 0, b, 0, 4, 1, 0, 0, new Float32Array(12), 0, 4, 0)).toThrow(
      /^gemm: a has 12 elements, needs 14 for m=3 k=4/,
    );
    expect(() => B.gemm(1, 3, 4, 4.5, 1, a, 0, 4, 1, 0, b, 0, 4, 1, 0, 0, new Float32Array(12), 0, 4, 0)).toThrow(
      /gemm: k must be a non-negative integer, got 4.5/,
    );
  });
});

// ------------------------------------------------------------------------------------ convolution

function convOut(h: number, k: number, s: number, p: number): number {
  return Math.floor((h + 2 * p - k) / s) + 1;
}

/** Direct convolution by definition, in float64. */
function convRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, g: ConvGeom): Float64Array {
  const out = new Float64Array(g.n * g.o * g.oh * g.ow);
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++) {
          let s = bias ? bias[o]! : 0;
          for (let c = 0; c < g.c; c++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const y = oy * g.stride - g.pad + i;
                const xx = ox * g.stride - g.pad + j;
                if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue;
                s += x[((n * g.c + c) * g.h + y) * g.w + xx]! * w[((o * g.c + c) * g.kh + i) * g.kw + j]!;
              }
          out[((n * g.o + o) * g.oh + oy) * g.ow + ox] = s;
        }
  return out;
}

/**
 * Central finite differences of L(v) = Σ f(v) * R over every entry of v (float64). When f is linear
 * in v, a step of 1 gives the exact gradient.
 */
function finiteDiff(v: ArrayLike<number>, R: ArrayLike<number>, f: (v: Float64Array) => ArrayLike<number>, h: number): Float64Array {
  const base = Float64Array.from(v as ArrayLike<number>);
  const g = new Float64Array(base.length);
  const L = (u: Float64Array) => {
    const y = f(u);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * R[i]!;
    return s;
  };
  for (let i = 0; i < base.length; i++) {
    const keep = base[i]!;
    base[i] = keep + h;
    const up = L(base);
    base[i] = keep - h;
    const down = L(base);
    base[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

const convGeom = fc
  .record({
    n: fc.constantFrom(1, 2),
    c: fc.constantFrom(1, 2, 3),
    h: fc.constantFrom(1, 2, 3, 5, 7),
    w: fc.constantFrom(1, 2, 3, 5, 7),
    o: fc.constantFrom(1, 2, 3),
    kh: fc.constantFrom(1, 2, 3),
    kw: fc.constantFrom(1, 2, 3),
    stride: fc.constantFrom(1, 2, 3),
    pad: fc.constantFrom(0, 1, 2),
  })
  .filter((g) => g.h + 2 * g.pad >= g.kh && g.w + 2 * g.pad >= g.kw)
  .map((g): ConvGeom => ({ ...g, oh: convOut(g.h, g.kh, g.stride, g.pad), ow: convOut(g.w, g.kw, g.stride, g.pad) }));

describe('conv2d', () => {
  it('forward matches direct convolution; backward matches (exact) finite differences', () => {
    fc.assert(
      fc.property(convGeom, seed, fc.boolean(), (g, s, withBias) => {
        const r = rng(s);
        const x = randF32(g.n * g.c * g.h * g.w, r);
        const w = randF32(g.o * g.c * g.kh * g.kw, r);
        const bias = withBias ? randF32(g.o, r) : null;
        const outLen = g.n * g.o * g.oh * g.ow;
        const out = new Float32Array(outLen).fill(NaN);
        B.conv2dForward(x, w, bias, out, g);
        expectClose(out, convRef(x, w, bias, g), 1e-5, 1e-5, 'out');

        const R = randF32(outLen, r);
        const gx = new Float32Array(x.length).fill(NaN);
        B.conv2dBackwardInput(R, w, gx, g);
        expectClose(gx, finiteDiff(x, R, (v) => convRef(v, w, null, g), 1), 1e-5, 1e-5, 'gx');
        const gw = new Float32Array(w.length).fill(NaN);
        B.conv2dBackwardWeight(x, R, gw, g);
        expectClose(gw, finiteDiff(w, R, (v) => convRef(x, v, null, g), 1), 1e-5, 1e-5, 'gw');
      }),
      RUNS,
    );
  });

  it('1×1 pointwise path and a known value', () => {
    // x = 1..4 on a 2×2 image, 2×2 kernel of ones, pad 0: one output = 10, plus bias.
    const g: ConvGeom = { n: 1, c: 1, h: 2, w: 2, o: 1, kh: 2, kw: 2, stride: 1, pad: 0, oh: 1, ow: 1 };
    const out = new Float32Array(1);
    B.conv2dForward(Float32Array.from([1, 2, 3, 4]), new Float32Array(4).fill(1), Float32Array.from([0.5]), out, g);
    expect(out[0]).toBe(10.5);
    const p: ConvGeom = { n: 2, c: 3, h: 2, w: 3, o: 2, kh: 1, kw: 1, stride: 1, pad: 0, oh: 2, ow: 3 };
    const r = rng(9);
    const x = randF32(36, r);
    const w = randF32(6, r);
    const o = new Float32Array(24);
    B.conv2dForward(x, w, null, o, p);
    expectClose(o, convRef(x, w, null, p), 1e-6, 1e-6, 'pointwise');
  });

  it('rejects inconsistent geometry and buffers', () => {
    const g: ConvGeom = { n: 1, c: 1, h: 4, w: 4, o: 2, kh: 3, kw: 3, stride: 1, pad: 0, oh: 2, ow: 2 };
    expect(() => B.conv2dForward(new Float32Array(16), new Float32Array(18), null, new Float32Array(7), g)).toThrow(
      /^conv2dForward: out has 7 elements, needs 8 for n=1 c=1 h=4 w=4 o=2/,
    );
    expect(() => B.conv2dForward(new Float32Array(16), new Float32Array(18), null, new Float32Array(8), { ...g, oh: 3 })).toThrow(
      /output size 3×2 does not match the geometry, expected 2×2/,
    );
    expect(() => B.conv2dBackwardWeight(new Float32Array(16), new Float32Array(8), new Float32Array(17), g)).toThrow(
      /conv2dBackwardWeight: gw has 17 elements, needs 18/,
    );
  });
});

// ------------------------------------------------------------------------------------ pooling

const poolGeom = fc
  .record({
    n: fc.constantFrom(1, 2),
    c: fc.constantFrom(1, 3),
    h: fc.constantFrom(1, 2, 3, 5, 7),
    w: fc.constantFrom(1, 2, 3, 5, 7),
    k: fc.constantFrom(1, 2, 3),
    stride: fc.constantFrom(1, 2, 3),
    pad: fc.constantFrom(0, 1),
  })
  .filter((g) => g.pad < g.k && g.h + 2 * g.pad >= g.k && g.w + 2 * g.pad >= g.k)
  .map((g): PoolGeom => ({ ...g, oh: convOut(g.h, g.k, g.stride, g.pad), ow: convOut(g.w, g.k, g.stride, g.pad) }));

function poolRef(x: ArrayLike<number>, g: PoolGeom, kind: 'max' | 'avg'): { out: Float64Array; arg: Int32Array } {
  const out = new Float64Array(g.n * g.c * g.oh * g.ow);
  const arg = new Int32Array(out.length);
  let o = 0;
  for (let pl = 0; pl < g.n * g.c; pl++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++, o++) {
        let best = -Infinity;
        let bi = -1;
        let sum = 0;
        for (let i = 0; i < g.k; i++)
          for (let j = 0; j < g.k; j++) {
            const y = oy * g.stride - g.pad + i;
            const xx = ox * g.stride - g.pad + j;
            if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) continue; // padding: -inf / 0
            const v = x[pl * g.h * g.w + y * g.w + xx]!;
            sum += v;
            if (bi < 0 || v > best) [best, bi] = [v, y * g.w + xx];
          }
        out[o] = kind === 'max' ? best : sum / (g.k * g.k);
        arg[o] = bi;
      }
  return { out, arg };
}

describe('pooling', () => {
  it('max pool: forward and argmax by definition; backward matches finite differences', () => {
    fc.assert(
      fc.property(poolGeom, seed, (g, s) => {
        const r = rng(s);
        const x = distinctF32(g.n * g.c * g.h * g.w, r);
        const len = g.n * g.c * g.oh * g.ow;
        const out = new Float32Array(len).fill(NaN);
        const arg = new Int32Array(len).fill(-9);
        B.maxPool2dForward(x, out, arg, g);
        const ref = poolRef(x, g, 'max');
        expect(Array.from(out)).toEqual(Array.from(ref.out));
        expect(Array.from(arg)).toEqual(Array.from(ref.arg));
        const R = randF32(len, r);
        const gx = new Float32Array(x.length).fill(NaN);
        B.maxPool2dBackward(R, arg, gx, g);
        // Values are ≥ 1 apart, so a step of 0.25 never changes the argmax: the FD is exact.
        expectClose(gx, finiteDiff(x, R, (v) => poolRef(v, g, 'max').out, 0.25), 1e-6, 1e-6, 'gx');
      }),
      RUNS,
    );
  });

  it('avg pool: forward by definition (k*k divisor); backward matches (exact) finite differences', () => {
    fc.assert(
      fc.property(poolGeom, seed, (g, s) => {
        const r = rng(s);
        const x = randF32(g.n * g.c * g.h * g.w, r);
        const len = g.n * g.c * g.oh * g.ow;
        const out = new Float32Array(len).fill(NaN);
        B.avgPool2dForward(x, out, g);
        expectClose(out, poolRef(x, g, 'avg').out, 1e-6, 1e-7, 'out');
        const R = randF32(len, r);
        const gx = new Float32Array(x.length).fill(NaN);
        B.avgPool2dBackward(R, gx, g);
        expectClose(gx, finiteDiff(x, R, (v) => poolRef(v, g, 'avg').out, 1), 1e-6, 1e-6, 'gx');
      }),
      RUNS,
    );
  });

  it('max pool: padding never wins, first maximum on ties, NaN propagates', () => {
    const g: PoolGeom = { n: 1, c: 1, h: 2, w: 2, k: 2, stride: 1, pad: 1, oh: 3, ow: 3 };
    const out = new Float32Array(9);
    const arg = new Int32Array(9);
    B.maxPool2dForward(new Float32Array(4).fill(-5), out, arg, g);
    expect(Array.from(out)).toEqual(new Array(9).fill(-5));
    // Windows (top-left corner at (oy-1, ox-1)): the first in-image cell of each window.
    expect(Array.from(arg)).toEqual([0, 0, 1, 0, 0, 1, 2, 2, 3]);
    const g2: PoolGeom = { n: 1, c: 1, h: 2, w: 2, k: 2, stride: 2, pad: 0, oh: 1, ow: 1 };
    B.maxPool2dForward(Float32Array.from([1, NaN, 7, NaN]), out.subarray(0, 1), arg.subarray(0, 1), g2);
    expect(out[0]).toBeNaN();
    expect(arg[0]).toBe(1);
    // avg pool: padded corner window holds one value, divided by k*k = 4.
    const avg = new Float32Array(9);
    B.avgPool2dForward(Float32Array.from([4, 8, 12, 16]), avg, g);
    expect(avg[0]).toBe(1);
    expect(avg[4]).toBe(10);
  });

  it('rejects bad buffers', () => {
    const g: PoolGeom = { n: 1, c: 2, h: 4, w: 4, k: 2, stride: 2, pad: 0, oh: 2, ow: 2 };
    expect(() => B.maxPool2dForward(new Float32Array(32), new Float32Array(8), new Int32Array(7), g)).toThrow(
      /^maxPool2dForward: argmax has 7 elements, needs 8 for n=1 c=2 h=4 w=4 k=2/,
    );
    expect(() => B.avgPool2dBackward(new Float32Array(8), new Float32Array(31), g)).toThrow(/avgPool2dBackward: gx has 31 elements, needs 32/);
  });
});

// ------------------------------------------------------------------------------------ batch norm

function bnRef(
  x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, n: number, c: number, hw: number,
  eps: number, stats: { mean: ArrayLike<number>; vr: ArrayLike<number> } | null,
): { out: Float64Array; mean: Float64Array; vr: Float64Array } {
  const out = new Float64Array(n * c * hw);
  const mean = new Float64Array(c);
  const vr = new Float64Array(c);
  const N = n * hw;
  for (let ch = 0; ch < c; ch++) {
    const vals: number[] = [];
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) vals.push(x[(b * c + ch) * hw + i]!);
    if (stats) {
      mean[ch] = stats.mean[ch]!;
      vr[ch] = stats.vr[ch]!;
    } else {
      mean[ch] = vals.reduce((s, v) => s + v, 0) / N;
      vr[ch] = vals.reduce((s, v) => s + (v - mean[ch]!) ** 2, 0) / N;
    }
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        const idx = (b * c + ch) * hw + i;
        out[idx] = ((x[idx]! - mean[ch]!) / Math.sqrt(vr[ch]! + eps)) * gamma[ch]! + beta[ch]!;
      }
  }
  return { out, mean, vr };
}

describe('batchNorm', () => {
  it('forward by definition; backward matches finite differences (training and eval)', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3), fc.constantFrom(1, 2, 3), fc.constantFrom(1, 2, 5), fc.boolean(), seed, (n, c, hw, training, s) => {
        fc.pre(!training || n * hw > 1);
        const r = rng(s);
        const eps = 1e-3;
        const x = randF32(n * c * hw, r, -2, 2);
        const gamma = randF32(c, r, 0.5, 1.5);
        const beta = randF32(c, r);
        const mean = training ? new Float32Array(c).fill(NaN) : randF32(c, r, -0.5, 0.5);
        const vr = training ? new Float32Array(c).fill(NaN) : randF32(c, r, 0.5, 2);
        const out = new Float32Array(x.length).fill(NaN);
        const stats = training ? null : { mean: Float64Array.from(mean), vr: Float64Array.from(vr) };
        B.batchNormForward(x, gamma, beta, out, mean, vr, n, c, hw, eps, training, false);
        const ref = bnRef(x, gamma, beta, n, c, hw, eps, stats);
        expectClose(out, ref.out, 1e-5, 1e-5, 'out');
        expectClose(mean, ref.mean, 1e-6, 1e-6, 'mean');
        expectClose(vr, ref.vr, 1e-6, 1e-6, 'var');

        const R = randF32(x.length, r);
        const gx = new Float32Array(x.length).fill(NaN);
        const gg = new Float32Array(c).fill(NaN);
        const gb = new Float32Array(c).fill(NaN);
        B.batchNormBackward(x, R, gamma, mean, vr, gx, gg, gb, n, c, hw, eps, training, null);
        const h = 1e-3;
        expectClose(gx, finiteDiff(x, R, (v) => bnRef(v, gamma, beta, n, c, hw, eps, stats).out, h), 2e-3, 2e-3, 'gx');
        expectClose(gg, finiteDiff(gamma, R, (v) => bnRef(x, v, beta, n, c, hw, eps, stats).out, h), 1e-3, 1e-4, 'ggamma');
        expectClose(gb, finiteDiff(beta, R, (v) => bnRef(x, gamma, v, n, c, hw, eps, stats).out, h), 1e-3, 1e-4, 'gbeta');
      }),
      RUNS,
    );
  });

  it('uses the biased variance and eps inside the sqrt', () => {
    const out = new Float32Array(2);
    const mean = new Float32Array(1);
    const vr = new Float32Array(1);
    B.batchNormForward(Float32Array.from([1, 3]), Float32Array.from([1]), Float32Array.from([0]), out, mean, vr, 2, 1, 1, 0.5, true, false);
    expect(mean[0]).toBe(2);
    expect(vr[0]).toBe(1);
    expect(out[0]).toBeCloseTo(-1 / Math.sqrt(1.5), 6);
  });

  it('fused ReLU: relu of the plain output; backward = the plain backward of gy gated by y > 0', () => {
    for (const training of [true, false]) {
      const r = rng(7);
      const [n, c, hw] = [3, 4, 5];
      const x = randF32(n * c * hw, r, -2, 2);
      x[3] = NaN; // NaN reaches the output through the ReLU too (as relu does)
      const gamma = randF32(c, r, 0.5, 1.5);
      const beta = randF32(c, r);
      const stats = () => (training ? [new Float32Array(c), new Float32Array(c)] : [randF32(c, rng(1), -0.5, 0.5), randF32(c, rng(2), 0.5, 2)]);
      const [m1, v1] = stats();
      const [m2, v2] = stats();
      const plain = new Float32Array(x.length);
      const fused = new Float32Array(x.length);
      B.batchNormForward(x, gamma, beta, plain, m1!, v1!, n, c, hw, 1e-5, training, false);
      B.batchNormForward(x, gamma, beta, fused, m2!, v2!, n, c, hw, 1e-5, training, true);
      for (let i = 0; i < x.length; i++) expect(Object.is(fused[i], plain[i]! < 0 ? 0 : plain[i]), `out[${i}] training=${training}`).toBe(true);
      // x has a NaN only in channel 0: test the backward on a clean copy
      x[3] = 0.5;
      B.batchNormForward(x, gamma, beta, fused, m2!, v2!, n, c, hw, 1e-5, training, true);
      const gy = randF32(x.length, r);
      const gated = gy.map((g, i) => (fused[i]! > 0 ? g : 0));
      const want = [new Float32Array(x.length), new Float32Array(c), new Float32Array(c)] as const;
      const got = [new Float32Array(x.length), new Float32Array(c), new Float32Array(c)] as const;
      B.batchNormBackward(x, gated, gamma, m2!, v2!, ...want, n, c, hw, 1e-5, training, null);
      B.batchNormBackward(x, gy, gamma, m2!, v2!, ...got, n, c, hw, 1e-5, training, fused);
      for (let k = 0; k < 3; k++) expectClose(got[k], want[k], 0, 0, `fused backward part ${k} training=${training}`);
    }
    const a = new Float32Array(6);
    const c2 = new Float32Array(2);
    expect(() => B.batchNormBackward(a, a, c2, c2, c2, new Float32Array(6), c2.slice(), c2.slice(), 1, 2, 3, 1e-5, true, new Float32Array(5))).toThrow(
      'batchNormBackward: y has 5 elements, needs 6 for n=1 c=2 hw=3',
    );
  });

  it('rejects bad buffers', () => {
    const a = new Float32Array(6);
    const c2 = new Float32Array(2);
    expect(() => B.batchNormForward(a, c2, c2, a, new Float32Array(3), c2, 1, 2, 3, 1e-5, true, false)).toThrow(
      'batchNormForward: mean has 3 elements, needs 2 for n=1 c=2 hw=3',
    );
  });
});

// ------------------------------------------------------------------------------------ softmax

function softmaxRef(x: ArrayLike<number>, rows: number, cols: number, log: boolean): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => x[r * cols + j]!);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
    for (let j = 0; j < cols; j++) out[r * cols + j] = log ? row[j]! - lse : Math.exp(row[j]! - lse);
  }
  return out;
}

describe('softmax', () => {
  it('forward by definition; backward matches finite differences', () => {
    fc.assert(
      fc.property(size, size, fc.boolean(), seed, (rows, cols, log, s) => {
        const r = rng(s);
        const x = randF32(rows * cols, r, -4, 4);
        const y = new Float32Array(x.length).fill(NaN);
        B.softmax(x, y, rows, cols, log);
        expectClose(y, softmaxRef(x, rows, cols, log), 1e-6, 1e-7, 'y');
        const R = randF32(x.length, r);
        const gx = new Float32Array(x.length).fill(NaN);
        B.softmaxBackward(y, R, gx, rows, cols, log);
        expectClose(gx, finiteDiff(x, R, (v) => softmaxRef(v, rows, cols, log), 1e-4), 1e-4, 1e-5, 'gx');
      }),
      RUNS,
    );
  });

  it('is stable for huge logits', () => {
    const y = new Float32Array(3);
    B.softmax(Float32Array.from([1e4, 1e4 + 1, 1e4 - 1e3]), y, 1, 3, false);
    expectClose(y, [1 / (1 + Math.E), Math.E / (1 + Math.E), 0], 1e-6, 1e-7);
    B.softmax(Float32Array.from([-1e30, 0, 1e30]), y, 1, 3, true);
    expect(Array.from(y)).toEqual([Math.fround(-2e30), Math.fround(-1e30), 0]);
  });
});

// ------------------------------------------------------------------------------------ losses

function ceRef(x: ArrayLike<number>, labels: ArrayLike<number>, rows: number, cols: number, eps: number): number {
  const lp = softmaxRef(x, rows, cols, true);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += lp[r * cols + j]!;
    total += -(1 - eps) * lp[r * cols + labels[r]!]! - (eps / cols) * s;
  }
  return total;
}

describe('softmaxCrossEntropy', () => {
  it('hand-computed cases, with and without label smoothing', () => {
    const x = Float32Array.from([1, 2, 3, 0, 0, 0]);
    const labels = Int32Array.from([2, 0]);
    // Row 0: log p = [1,2,3] - lse, lse = log(e + e² + e³); row 1: log p = -log 3.
    const lse = Math.log(Math.E + Math.E ** 2 + Math.E ** 3);
    const plain = -(3 - lse) + Math.log(3);
    expect(B.softmaxCrossEntropy(x, labels, 2, 3, 0, null)).toBeCloseTo(plain, 6);
    // ε = 0.3: loss = -0.7 log p[y] - 0.1 Σ log p.
    const smooth = -0.7 * (3 - lse) - 0.1 * (6 - 3 * lse) + 0.7 * Math.log(3) + 0.3 * Math.log(3);
    const grad = new Float32Array(6).fill(NaN);
    expect(B.softmaxCrossEntropy(x, labels, 2, 3, 0.3, grad)).toBeCloseTo(smooth, 6);
    const p0 = [1, 2, 3].map((v) => Math.exp(v - lse));
    expectClose(grad, [p0[0]! - 0.1, p0[1]! - 0.1, p0[2]! - 0.1 - 0.7, 1 / 3 - 0.1 - 0.7, 1 / 3 - 0.1, 1 / 3 - 0.1], 1e-6, 1e-7);
  });

  it('matches the definition and its finite-difference gradient on random inputs', () => {
    fc.assert(
      fc.property(size, size, fc.constantFrom(0, 0.1, 1), seed, (rows, cols, eps, s) => {
        const r = rng(s);
        const x = randF32(rows * cols, r, -5, 5);
        const labels = Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
        const grad = new Float32Array(x.length).fill(NaN);
        const loss = B.softmaxCrossEntropy(x, labels, rows, cols, eps, grad);
        expect(loss).toBeCloseTo(ceRef(x, labels, rows, cols, eps), 9);
        const fd = finiteDiff(x, [1], (v) => [ceRef(v, labels, rows, cols, eps)], 1e-4);
        expectClose(grad, fd, 1e-4, 1e-5, 'grad');
        expect(B.softmaxCrossEntropy(x, labels, rows, cols, eps, null)).toBe(loss);
      }),
      RUNS,
    );
  });

  it('is stable for huge logits', () => {
    const loss = B.softmaxCrossEntropy(Float32Array.from([1e4, 1e4 + 1]), Int32Array.from([0]), 1, 2, 0, null);
    expect(loss).toBeCloseTo(Math.log1p(Math.E), 9);
  });

  it('validates labels before writing anything', () => {
    const x = new Float32Array(6);
    const grad = new Float32Array(6).fill(7);
    expect(() => B.softmaxCrossEntropy(x, Int32Array.from([0, 3]), 2, 3, 0, grad)).toThrow(
      'softmaxCrossEntropy: label 3 at row 1 is not an integer in [0, 3)',
    );
    expect(() => B.softmaxCrossEntropy(x, Int32Array.from([-1, 0]), 2, 3, 0, grad)).toThrow(/label -1 at row 0/);
    // A non-integer label (only possible when the caller bypasses Int32Array).
    expect(() => B.softmaxCrossEntropy(x, [0, 1.5] as unknown as Int32Array, 2, 3, 0, grad)).toThrow(/label 1.5 at row 1/);
    expect(Array.from(grad)).toEqual(new Array(6).fill(7));
    expect(() => B.softmaxCrossEntropy(x, Int32Array.from([0]), 2, 3, 0, null)).toThrow(
      'softmaxCrossEntropy: labels has 1 elements, needs 2 for rows=2 cols=3',
    );
  });
});

describe('sigmoidBce', () => {
  it('hand-computed values, including |z| = 1e4 and beyond', () => {
    const z = Float32Array.from([0, 0, 2, 1e4, 1e4, -1e4, -1e4, 3e38, -3e38]);
    const t = Float32Array.from([1, 0, 0.25, 1, 0, 1, 0, 1, 1]);
    const grad = new Float32Array(z.length).fill(NaN);
    const loss = B.sigmoidBce(z, t, null, grad);
    const per = [Math.LN2, Math.LN2, 2 - 0.5 + Math.log1p(Math.exp(-2)), 0, 1e4, 1e4, 0, 0, Math.fround(3e38)];
    expect(loss).toBeCloseTo(per.reduce((s, v) => s + v, 0), 0);
    expect(Number.isFinite(loss)).toBe(true);
    const s2 = 1 / (1 + Math.exp(-2));
    expectClose(grad, [-0.5, 0.5, s2 - 0.25, 0, 1, -1, 0, 0, -1], 1e-6, 1e-7, 'grad');
    // Each hand case on its own (the huge one would hide the small ones in the sum).
    for (let i = 0; i < 8; i++) {
      expect(B.sigmoidBce(z.subarray(i, i + 1), t.subarray(i, i + 1), null, null)).toBeCloseTo(per[i]!, 9);
    }
  });

  it('weights scale loss and gradient; random inputs match the definition and finite differences', () => {
    fc.assert(
      fc.property(size, seed, fc.boolean(), (n, s, weighted) => {
        const r = rng(s);
        const z = randF32(n, r, -6, 6);
        const t = randF32(n, r, 0, 1);
        const w = weighted ? randF32(n, r, 0, 2) : null;
        const grad = new Float32Array(n).fill(NaN);
        const loss = B.sigmoidBce(z, t, w, grad);
        const f = (v: ArrayLike<number>) => {
          let tot = 0;
          for (let i = 0; i < n; i++) tot += (w ? w[i]! : 1) * -(t[i]! * Math.log(1 / (1 + Math.exp(-v[i]!))) + (1 - t[i]!) * Math.log(1 - 1 / (1 + Math.exp(-v[i]!))));
          return tot;
        };
        expect(loss).toBeCloseTo(f(z), 6);
        expectClose(grad, finiteDiff(z, [1], (v) => [f(v)], 1e-5), 1e-4, 1e-6, 'grad');
      }),
      RUNS,
    );
  });

  it('rejects bad lengths', () => {
    expect(() => B.sigmoidBce(new Float32Array(3), new Float32Array(2), null, null)).toThrow(
      'sigmoidBce: targets has 2 elements, needs 3 (the length of logits)',
    );
  });
});

// ------------------------------------------------------------------------------------ selection

describe('selectKth', () => {
  it('matches brute-force sorting, with and without a mask, with many ties', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.float({ noNaN: true, noDefaultInfinity: false })), { minLength: 1, maxLength: 300 }),
        seed,
        fc.boolean(),
        (vals, s, masked) => {
          const r = rng(s);
          const x = Float32Array.from(vals);
          const mask = masked ? Uint8Array.from(x, () => (r() < 0.6 ? 1 + Math.floor(r() * 3) : 0)) : null;
          const sel = Array.from(x).filter((_, i) => mask === null || mask[i] !== 0);
          fc.pre(sel.length > 0);
          const sorted = sel.sort((a, b) => b - a);
          const copy = Float32Array.from(x);
          for (const m of new Set([1, sel.length, 1 + Math.floor(r() * sel.length)])) {
            // + 0: -0 and 0 are the same value (the sort may order a tied -0 and 0 either way)
            expect(B.selectKth(x, m, mask) + 0).toBe(sorted[m - 1]! + 0);
          }
          expect(Array.from(x)).toEqual(Array.from(copy)); // input untouched
        },
      ),
      { numRuns: 100 },
    );
  });

  it('is fast on large inputs, sorted, reversed and constant', () => {
    const n = 300_000;
    const asc = Float32Array.from({ length: n }, (_, i) => i);
    const desc = Float32Array.from({ length: n }, (_, i) => n - i);
    const constant = new Float32Array(n).fill(2.5);
    const t0 = performance.now();
    expect(B.selectKth(asc, 10, null)).toBe(n - 10);
    expect(B.selectKth(desc, n, null)).toBe(1);
    expect(B.selectKth(constant, 12345, null)).toBe(2.5);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('rejects NaN among the selected entries and m out of range', () => {
    const x = Float32Array.from([3, NaN, 1]);
    expect(() => B.selectKth(x, 1, null)).toThrow('selectKth: x[1] is NaN');
    expect(B.selectKth(x, 1, Uint8Array.from([1, 0, 1]))).toBe(3); // a masked-out NaN is fine
    const y = Float32Array.from([3, 2, 1]);
    expect(() => B.selectKth(y, 0, null)).toThrow('selectKth: m=0 is out of range [1, 3]');
    expect(() => B.selectKth(y, 3, Uint8Array.from([1, 0, 1]))).toThrow('selectKth: m=3 is out of range [1, 2]');
    expect(() => B.selectKth(y, 1.5, null)).toThrow(/m=1.5 is out of range/);
    expect(() => B.selectKth(y, 1, new Uint8Array(2))).toThrow('selectKth: mask has 2 elements, needs 3');
    expect(() => B.selectKth(y, 1, new Uint8Array(3))).toThrow(/m=1 is out of range \[1, 0\]/);
  });
});

// ------------------------------------------------------------------------------------ optimisers

describe('optimisers (PyTorch formulas, 3 steps, float64 reference)', () => {
  const n = 17;
  const r = rng(123);
  const p0 = randF32(n, r);
  const grads = [randF32(n, r), randF32(n, r), randF32(n, r)];

  for (const cfg of [
    { momentum: 0, wd: 0, nesterov: false },
    { momentum: 0, wd: 0.1, nesterov: false },
    { momentum: 0.9, wd: 0, nesterov: false },
    { momentum: 0.9, wd: 0.01, nesterov: true },
  ]) {
    it(`sgd ${JSON.stringify(cfg)}`, () => {
      const lr = 0.1;
      const param = Float32Array.from(p0);
      const buf = new Float32Array(n).fill(NaN); // firstStep: buf = g, stale NaN must not leak
      const refP = Float64Array.from(p0);
      const refB = new Float64Array(n);
      for (let s = 0; s < 3; s++) {
        B.sgdStep(param, grads[s]!, buf, lr, cfg.momentum, cfg.wd, cfg.nesterov, s === 0);
        for (let i = 0; i < n; i++) {
          const g = grads[s]![i]! + cfg.wd * refP[i]!;
          let step = g;
          if (cfg.momentum !== 0) {
            refB[i] = s === 0 ? g : cfg.momentum * refB[i]! + g;
            step = cfg.nesterov ? g + cfg.momentum * refB[i]! : refB[i]!;
          }
          refP[i] = refP[i]! - lr * step;
        }
      }
      expectClose(param, refP, 1e-5, 1e-6, 'param');
      if (cfg.momentum !== 0) expectClose(buf, refB, 1e-5, 1e-6, 'buf');
    });
  }

  for (const cfg of [
    { wd: 0, decoupled: false },
    { wd: 0.1, decoupled: false },
    { wd: 0.1, decoupled: true },
  ]) {
    it(`adam ${JSON.stringify(cfg)}`, () => {
      const [lr, b1, b2, eps] = [0.01, 0.9, 0.999, 1e-8];
      const param = Float32Array.from(p0);
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const refP = Float64Array.from(p0);
      const refM = new Float64Array(n);
      const refV = new Float64Array(n);
      for (let s = 1; s <= 3; s++) {
        B.adamStep(param, grads[s - 1]!, m, v, lr, b1, b2, eps, cfg.wd, s, cfg.decoupled);
        for (let i = 0; i < n; i++) {
          let g = grads[s - 1]![i]!;
          if (cfg.decoupled) refP[i] = refP[i]! * (1 - lr * cfg.wd);
          else g += cfg.wd * refP[i]!;
          refM[i] = b1 * refM[i]! + (1 - b1) * g;
          refV[i] = b2 * refV[i]! + (1 - b2) * g * g;
          const mh = refM[i]! / (1 - b1 ** s);
          const vh = refV[i]! / (1 - b2 ** s);
          refP[i] = refP[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
        }
      }
      expectClose(param, refP, 1e-5, 1e-6, 'param');
      expectClose(m, refM, 1e-5, 1e-7, 'm');
      expectClose(v, refV, 1e-5, 1e-9, 'v');
    });
  }

  it('rejects bad arguments', () => {
    const a = new Float32Array(3);
    expect(() => B.adamStep(a, a, a, new Float32Array(2), 0.1, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(
      'adamStep: v has 2 elements, needs 3 (the length of param)',
    );
    expect(() => B.adamStep(a, a, a, a, 0.1, 0.9, 0.999, 1e-8, 0, 0, false)).toThrow(/step must be an integer ≥ 1/);
    expect(() => B.sgdStep(a, new Float32Array(4), a, 0.1, 0, 0, false, true)).toThrow('sgdStep: grad has 4 elements, needs 3');
  });
});
