/**
 * Fuzzing of the native addon's argument checking: thousands of calls with missing or extra
 * arguments, wrong types, bad sizes (negative, NaN, Infinity, fractional, huge), mismatched buffer
 * lengths, broken geometry objects, aliasing and NaN/Infinity data. The process must never crash,
 * every call that is invalid by construction must throw, and every Error must name the op
 * ("avgk native <op>: ...").
 */
import { describe, expect, it } from 'vitest';
import type { NativeAddon } from '../src/backend/native/addon.js';
import type { UnaryOp } from '../src/backend/types.js';
import { mulberry32 as rng } from '../src/data/rng.js';
import { nativeUnderTest } from './helpers/native.js';

const { addon, error, skipNative } = nativeUnderTest('native-fuzz');

describe('native addon (fuzz)', () => {
  it.skipIf(skipNative)('loads (required in CI unless AVGK_BACKEND=js)', () => {
    expect(error?.message ?? null).toBeNull();
  });
});

const SEED = Number(process.env.AVGK_FUZZ_SEED ?? 987654321);
const R = rng(SEED);
const randInt = (lo: number, hi: number): number => lo + Math.floor(R() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(R() * xs.length)]!;
const f32 = (n: number): Float32Array => Float32Array.from({ length: n }, () => R() * 4 - 2);

/** How an argument is checked. `lenExact`: a buffer whose length must match the sizes exactly. */
type Kind = 'f32' | 'f32?' | 'i32' | 'u8?' | 'num' | 'int' | 'bool' | 'arr' | 'cgeom' | 'pgeom' | 'f32|i32';
interface Spec {
  op: keyof NativeAddon;
  args: unknown[];
  kinds: Kind[];
  /** indices of buffers whose length must be exact (a different length must throw) */
  exact: number[];
}

function convGeom() {
  const kh = randInt(1, 3);
  const kw = randInt(1, 3);
  const stride = randInt(1, 2);
  const pad = randInt(0, 1);
  const h = randInt(Math.max(1, kh - 2 * pad), 6);
  const w = randInt(Math.max(1, kw - 2 * pad), 6);
  return {
    n: randInt(1, 2), c: randInt(1, 3), h, w, o: randInt(1, 3), kh, kw, stride, pad,
    oh: Math.floor((h + 2 * pad - kh) / stride) + 1, ow: Math.floor((w + 2 * pad - kw) / stride) + 1,
  };
}
function poolGeom() {
  const k = randInt(1, 3);
  const stride = randInt(1, 2);
  const pad = randInt(0, 1);
  const h = randInt(Math.max(1, k - 2 * pad), 6);
  const w = randInt(Math.max(1, k - 2 * pad), 6);
  return { n: randInt(1, 2), c: randInt(1, 3), h, w, k, stride, pad, oh: Math.floor((h + 2 * pad - k) / stride) + 1, ow: Math.floor((w + 2 * pad - k) / stride) + 1 };
}

/** A valid call of each addon function, with random small sizes. */
const makers: Record<string, () => Spec> = {
  setNumThreads: () => ({ op: 'setNumThreads', args: [randInt(1, 2)], kinds: ['int'], exact: [] }),
  getNumThreads: () => ({ op: 'getNumThreads', args: [], kinds: [], exact: [] }),
  unary: () => {
    const n = randInt(1, 40);
    return { op: 'unary', args: [randInt(0, 9), f32(n), f32(n), 2, 0.5], kinds: ['int', 'f32', 'f32', 'num', 'num'], exact: [2] };
  },
  unaryBackward: () => {
    const n = randInt(1, 40);
    const op = pick([1, 2, 3, 4, 5, 6, 7, 8]); // ops that read x or y
    const exact = [3, 4, ...([2, 4, 7, 8].includes(op) ? [1] : []), ...([1, 3, 5, 6].includes(op) ? [2] : [])];
    return { op: 'unaryBackward', args: [op, f32(n), f32(n), f32(n), f32(n), 2, 0], kinds: ['int', 'f32', 'f32', 'f32', 'f32', 'num', 'num'], exact };
  },
  binary: () => {
    const shape = [randInt(1, 4), randInt(1, 5)];
    const n = shape[0]! * shape[1]!;
    return {
      op: 'binary',
      args: [randInt(0, 5), f32(n + 2), 1, [shape[1], 1], f32(shape[1]!), 0, [0, 1], f32(n), shape],
      kinds: ['int', 'f32', 'int', 'arr', 'f32', 'int', 'arr', 'f32', 'arr'],
      exact: [7],
    };
  },
  copy: () => {
    const shape = [randInt(1, 4), randInt(1, 5)];
    const n = shape[0]! * shape[1]!;
    const int = R() < 0.5;
    const mk = (len: number) => (int ? new Int32Array(len).fill(3) : f32(len));
    return {
      op: 'copy',
      args: [mk(n), 0, [shape[1], 1], mk(n + 3), 3, [1, shape[0]], shape],
      kinds: ['f32|i32', 'int', 'arr', 'f32|i32', 'int', 'arr', 'arr'],
      exact: [],
    };
  },
  reduceSum: () => {
    const [o, m, i] = [randInt(1, 4), randInt(1, 4), randInt(1, 4)];
    return { op: 'reduceSum', args: [f32(o * m * i), f32(o * i), o, m, i], kinds: ['f32', 'f32', 'int', 'int', 'int'], exact: [0, 1] };
  },
  reduceMax: () => {
    const [o, m, i] = [randInt(1, 4), randInt(1, 4), randInt(1, 4)];
    return {
      op: 'reduceMax', args: [f32(o * m * i), f32(o * i), new Int32Array(o * i), o, m, i],
      kinds: ['f32', 'f32', 'i32', 'int', 'int', 'int'], exact: [0, 1, 2],
    };
  },
  gemm: () => {
    const [m, n, k] = [randInt(1, 5), randInt(1, 5), randInt(1, 5)];
    return {
      op: 'gemm',
      args: [1, m, n, k, 1, f32(m * k), 0, k, 1, 0, f32(k * n), 0, n, 1, 0, 0, f32(m * n), 0, n, 0],
      kinds: ['int', 'int', 'int', 'int', 'num', 'f32', 'int', 'int', 'int', 'int', 'f32', 'int', 'int', 'int', 'int', 'num', 'f32', 'int', 'int', 'int'],
      exact: [],
    };
  },
  conv2dForward: () => {
    const g = convGeom();
    return {
      op: 'conv2dForward',
      args: [f32(g.n * g.c * g.h * g.w), f32(g.o * g.c * g.kh * g.kw), R() < 0.5 ? null : f32(g.o), f32(g.n * g.o * g.oh * g.ow), g],
      kinds: ['f32', 'f32', 'f32?', 'f32', 'cgeom'], exact: [0, 1, 2, 3],
    };
  },
  conv2dBackwardInput: () => {
    const g = convGeom();
    return {
      op: 'conv2dBackwardInput', args: [f32(g.n * g.o * g.oh * g.ow), f32(g.o * g.c * g.kh * g.kw), f32(g.n * g.c * g.h * g.w), g],
      kinds: ['f32', 'f32', 'f32', 'cgeom'], exact: [0, 1, 2],
    };
  },
  conv2dBackwardWeight: () => {
    const g = convGeom();
    return {
      op: 'conv2dBackwardWeight', args: [f32(g.n * g.c * g.h * g.w), f32(g.n * g.o * g.oh * g.ow), f32(g.o * g.c * g.kh * g.kw), g],
      kinds: ['f32', 'f32', 'f32', 'cgeom'], exact: [0, 1, 2],
    };
  },
  maxPool2dForward: () => {
    const g = poolGeom();
    const no = g.n * g.c * g.oh * g.ow;
    return { op: 'maxPool2dForward', args: [f32(g.n * g.c * g.h * g.w), f32(no), new Int32Array(no), g], kinds: ['f32', 'f32', 'i32', 'pgeom'], exact: [0, 1, 2] };
  },
  maxPool2dBackward: () => {
    const g = poolGeom();
    const no = g.n * g.c * g.oh * g.ow;
    const arg = Int32Array.from({ length: no }, () => randInt(-1, g.h * g.w - 1));
    return { op: 'maxPool2dBackward', args: [f32(no), arg, f32(g.n * g.c * g.h * g.w), g], kinds: ['f32', 'i32', 'f32', 'pgeom'], exact: [0, 1, 2] };
  },
  avgPool2dForward: () => {
    const g = poolGeom();
    return { op: 'avgPool2dForward', args: [f32(g.n * g.c * g.h * g.w), f32(g.n * g.c * g.oh * g.ow), g], kinds: ['f32', 'f32', 'pgeom'], exact: [0, 1] };
  },
  avgPool2dBackward: () => {
    const g = poolGeom();
    return { op: 'avgPool2dBackward', args: [f32(g.n * g.c * g.oh * g.ow), f32(g.n * g.c * g.h * g.w), g], kinds: ['f32', 'f32', 'pgeom'], exact: [0, 1] };
  },
  batchNormForward: () => {
    const [n, c, hw] = [randInt(1, 3), randInt(1, 3), randInt(1, 4)];
    const t = n * c * hw;
    return {
      op: 'batchNormForward', args: [f32(t), f32(c), f32(c), f32(t), f32(c), f32(c).map(Math.abs), n, c, hw, 1e-5, R() < 0.5, R() < 0.5],
      kinds: ['f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'int', 'int', 'int', 'num', 'bool', 'bool'], exact: [0, 1, 2, 3, 4, 5],
    };
  },
  batchNormBackward: () => {
    const [n, c, hw] = [randInt(1, 3), randInt(1, 3), randInt(1, 4)];
    const t = n * c * hw;
    return {
      op: 'batchNormBackward',
      args: [f32(t), f32(t), f32(c), f32(c), f32(c).map(Math.abs), f32(t), f32(c), f32(c), n, c, hw, 1e-5, R() < 0.5, R() < 0.5 ? null : f32(t)],
      kinds: ['f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'f32', 'int', 'int', 'int', 'num', 'bool', 'f32?'], exact: [0, 1, 2, 3, 4, 5, 6, 7, 13],
    };
  },
  softmax: () => {
    const [r, c] = [randInt(1, 4), randInt(1, 6)];
    return { op: 'softmax', args: [f32(r * c), f32(r * c), r, c, R() < 0.5], kinds: ['f32', 'f32', 'int', 'int', 'bool'], exact: [0, 1] };
  },
  softmaxBackward: () => {
    const [r, c] = [randInt(1, 4), randInt(1, 6)];
    return { op: 'softmaxBackward', args: [f32(r * c), f32(r * c), f32(r * c), r, c, R() < 0.5], kinds: ['f32', 'f32', 'f32', 'int', 'int', 'bool'], exact: [0, 1, 2] };
  },
  softmaxCrossEntropy: () => {
    const [r, c] = [randInt(1, 4), randInt(1, 6)];
    return {
      op: 'softmaxCrossEntropy',
      args: [f32(r * c), Int32Array.from({ length: r }, () => randInt(0, c - 1)), r, c, 0.1, R() < 0.5 ? null : f32(r * c)],
      kinds: ['f32', 'i32', 'int', 'int', 'num', 'f32?'], exact: [0, 1, 5],
    };
  },
  sigmoidBce: () => {
    const n = randInt(1, 30);
    return {
      op: 'sigmoidBce', args: [f32(n), f32(n), R() < 0.5 ? null : f32(n), R() < 0.5 ? null : f32(n)],
      kinds: ['f32', 'f32', 'f32?', 'f32?'], exact: [1, 2, 3],
    };
  },
  selectKth: () => {
    const n = randInt(1, 30);
    return { op: 'selectKth', args: [f32(n), randInt(1, n), R() < 0.5 ? null : new Uint8Array(n).fill(1)], kinds: ['f32', 'int', 'u8?'], exact: [2] };
  },
  sgdStep: () => {
    const n = randInt(1, 30);
    return {
      op: 'sgdStep', args: [f32(n), f32(n), f32(n), 0.1, 0.9, 1e-4, R() < 0.5, R() < 0.5],
      kinds: ['f32', 'f32', 'f32', 'num', 'num', 'num', 'bool', 'bool'], exact: [1, 2],
    };
  },
  adamStep: () => {
    const n = randInt(1, 30);
    return {
      op: 'adamStep', args: [f32(n), f32(n), f32(n), f32(n).map(Math.abs), 1e-3, 0.9, 0.999, 1e-8, 0.01, randInt(1, 5), R() < 0.5],
      kinds: ['f32', 'f32', 'f32', 'f32', 'num', 'num', 'num', 'num', 'num', 'int', 'bool'], exact: [1, 2, 3],
    };
  },
};

/** Values that are never accepted for an argument of the given kind. */
function wrongValue(kind: Kind): unknown {
  const common: unknown[] = [undefined, 'x', {}, Symbol('s'), () => 1, 10n];
  switch (kind) {
    case 'f32':
      return pick([...common, null, 1, true, [1, 2], new Float64Array(4), new Int32Array(4), new Uint8Array(4), new ArrayBuffer(16), new DataView(new ArrayBuffer(8))]);
    case 'f32?':
      return pick([...common, 1, false, [1], new Float64Array(4), new Int32Array(4)]);
    case 'i32':
      return pick([...common, null, 1, [1], new Float32Array(4), new Uint32Array(4), new Int16Array(4)]);
    case 'u8?':
      return pick([...common, 1, [1], new Int8Array(4), new Uint8ClampedArray(4), new Float32Array(4)]);
    case 'f32|i32':
      return pick([...common, null, 1, new Float64Array(4), new Uint8Array(4)]);
    case 'num':
      return pick([...common, null, true, NaN, Infinity, -Infinity, [1], new Float32Array(1), 1e39]);
    case 'int':
      return pick([...common, null, true, NaN, Infinity, -Infinity, -1, 1.5, -0.5, 2 ** 60, [1], new Float32Array(1)]);
    case 'bool':
      return pick([...common, null, 0, 1, 'true', new Uint8Array(1)]);
    case 'arr':
      return pick([...common, null, 1, [NaN], [1.5], ['a'], [undefined], new Int32Array(2), [1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    case 'cgeom':
    case 'pgeom':
      return pick([...common, null, 1, [1, 2], new Float32Array(11)]);
  }
}

function breakGeom(g: Record<string, number>): Record<string, unknown> {
  const bad: Record<string, unknown> = { ...g };
  const keys = Object.keys(g);
  const key = pick(keys);
  switch (randInt(0, 4)) {
    case 0:
      delete bad[key];
      break;
    case 1:
      bad[key] = pick([-1, NaN, Infinity, 1.5, '3', null, 2 ** 40]);
      break;
    case 2:
      bad.oh = g.oh! + pick([1, -1, 5]);
      break;
    case 3:
      bad.ow = g.ow! + pick([1, -1, 5]);
      break;
    default:
      bad.stride = 0;
      break;
  }
  return bad;
}

type Outcome = 'throw' | 'any';
function mutate(spec: Spec): { args: unknown[]; outcome: Outcome; how: string } {
  const args = spec.args.slice();
  const n = args.length;
  const choice = randInt(0, 7);
  if (choice === 0) {
    // missing or extra arguments
    if (n > 0 && R() < 0.6) return { args: args.slice(0, randInt(0, n - 1)), outcome: 'throw', how: 'missing args' };
    return { args: [...args, 1], outcome: 'throw', how: 'extra arg' };
  }
  if (n === 0) return { args: [undefined], outcome: 'throw', how: 'extra arg' };
  const i = randInt(0, n - 1);
  const kind = spec.kinds[i]!;
  if (choice <= 2) {
    args[i] = wrongValue(kind);
    return { args, outcome: 'throw', how: `arg ${i} (${kind}) := ${String(args[i])}` };
  }
  if (choice === 3 && spec.exact.length > 0) {
    const j = pick(spec.exact);
    const buf = args[j] as Float32Array | Int32Array | Uint8Array | null;
    if (buf !== null) {
      const len = buf.length + pick([-1, 1, 7, -buf.length]);
      const Ctor = buf.constructor as new (n: number) => Float32Array;
      args[j] = new Ctor(Math.max(0, len));
      if (len >= 0 && len !== buf.length) return { args, outcome: 'throw', how: `arg ${j} length ${buf.length} -> ${len}` };
    }
    return { args, outcome: 'any', how: 'length' };
  }
  if (choice === 4 && (kind === 'cgeom' || kind === 'pgeom')) {
    args[i] = breakGeom(args[i] as Record<string, number>);
    return { args, outcome: 'throw', how: `broken geometry ${JSON.stringify(args[i])}` };
  }
  if (choice === 5) {
    // aliasing: some buffer replaced by another buffer of the call, or by an overlapping view of it
    const bufs = args.map((a, k) => (ArrayBuffer.isView(a) ? k : -1)).filter((k) => k >= 0);
    if (bufs.length >= 2) {
      const a = pick(bufs);
      const b = pick(bufs);
      const src = args[b] as Float32Array;
      if (R() < 0.5 || src.length < 2) {
        args[a] = src;
      } else {
        const Ctor = src.constructor as unknown as { new (b: ArrayBufferLike, o: number, l: number): Float32Array; BYTES_PER_ELEMENT: number };
        const shifted = new Ctor(src.buffer, src.byteOffset + Ctor.BYTES_PER_ELEMENT, src.length - 1);
        args[a] = shifted;
      }
    }
    return { args, outcome: 'any', how: 'aliasing' };
  }
  if (choice === 6) {
    // NaN / Infinity data (valid call shape)
    for (const a of args) {
      if (a instanceof Float32Array && a.length > 0) a[randInt(0, a.length - 1)] = pick([NaN, Infinity, -Infinity, -0, 3e38]);
    }
    return { args, outcome: 'any', how: 'NaN/Inf data' };
  }
  // arbitrary numbers for numeric arguments (valid or not)
  if (kind === 'int' || kind === 'num') args[i] = pick([0, 1, 2, 3, 17, 2 ** 31, 2 ** 53 - 1, -0]);
  return { args, outcome: 'any', how: `arg ${i} := ${String(args[i])}` };
}

function call(op: string, args: unknown[]): Error | null {
  try {
    (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[op]!(...args);
    return null;
  } catch (e) {
    return e as Error;
  }
}

describe.skipIf(!addon)('native addon fuzz', () => {
  const ops = Object.keys(makers);

  it('exports every function', () => {
    for (const op of ops) expect(typeof (addon as unknown as Record<string, unknown>)[op], op).toBe('function');
  });

  it('accepts the valid calls (sanity of the generators)', () => {
    for (const op of ops) {
      for (let t = 0; t < 20; t++) {
        const spec = makers[op]!();
        const err = call(spec.op, spec.args);
        expect(err?.message ?? null, `${op} ${JSON.stringify(spec.args.map((a) => (ArrayBuffer.isView(a) ? `len ${(a as Float32Array).length}` : a)))}`).toBeNull();
      }
    }
  });

  it('never crashes; invalid calls throw errors that name the op', () => {
    const start = Date.now();
    let calls = 0;
    let thrown = 0;
    for (let round = 0; round < 1000; round++) {
      for (const op of ops) {
        const spec = makers[op]!();
        const { args, outcome, how } = mutate(spec);
        const err = call(spec.op, args);
        calls++;
        if (err) {
          thrown++;
          expect(err, `${op} (${how}) threw a non-Error`).toBeInstanceOf(Error);
          expect(err.message, `${op} (${how})`).toMatch(new RegExp(`^avgk native ${op}: `));
        } else if (outcome === 'throw') {
          expect.fail(`${op} did not throw for ${how} (AVGK_FUZZ_SEED=${SEED})`);
        }
      }
    }
    expect(calls).toBeGreaterThan(20_000);
    expect(thrown).toBeGreaterThan(5_000);
    expect(Date.now() - start).toBeLessThan(10_000);
  });

  it('rejects specific bad inputs with precise messages', () => {
    const a = addon!;
    expect(() => a.gemm(1, 3, 4, 1, 1, new Float32Array(3), 0, 1, 1, 0, new Float32Array(4), 0, 4, 1, 0, 0, new Float32Array(10), 0, 4, 0))
      .toThrow(/^avgk native gemm: c has 10 elements but .*m=3, n=4.*needs 12/);
    expect(() => a.gemm(1, 2, 2, 2, 1, new Float32Array(4), 0, 2, 1, 0, new Float32Array(4), 0, 2, 1, 0, 0, new Float32Array(4), 0, 1, 0))
      .toThrow(/^avgk native gemm: c's strides .* overlap/);
    const shared = new Float32Array(8);
    expect(() => a.gemm(1, 2, 2, 2, 1, shared, 0, 2, 1, 0, new Float32Array(4), 0, 2, 1, 0, 0, shared, 4, 2, 0))
      .not.toThrow();
    expect(() => a.gemm(1, 2, 2, 2, 1, shared, 0, 2, 1, 0, new Float32Array(4), 0, 2, 1, 0, 0, shared, 2, 2, 0))
      .toThrow(/^avgk native gemm: c must not share memory with a/);
    expect(() => a.softmaxCrossEntropy(new Float32Array(6), new Int32Array([1, 3]), 2, 3, 0, null))
      .toThrow(/^avgk native softmaxCrossEntropy: label 3 at row 1 is outside \[0, 3\)/);
    expect(() => a.softmaxCrossEntropy(new Float32Array(6), new Int32Array([-1, 0]), 2, 3, 0, null)).toThrow(/row 0/);
    expect(() => a.selectKth(new Float32Array([1, NaN, 2]), 1, null)).toThrow(/^avgk native selectKth: .*NaN/);
    expect(a.selectKth(new Float32Array([1, NaN, 2]), 1, new Uint8Array([1, 0, 1]))).toBe(2);
    expect(() => a.selectKth(new Float32Array([1, 2, 3]), 3, new Uint8Array([1, 0, 1]))).toThrow(/^avgk native selectKth: m = 3 exceeds the 2 selected/);
    expect(() => a.selectKth(new Float32Array([1, 2, 3]), 0, null)).toThrow(/^avgk native selectKth: m = 0 is out of range/);
    expect(() => a.selectKth(new Float32Array(0), 1, null)).toThrow(/^avgk native selectKth: /);
    {
      // large n (the sampled path and its vector pass): every NaN is counted, wherever it sits
      const n = 200_003; // a scalar tail after the last 16-entry vector
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 1000);
      const nanAt = [5, 4096 * 7 + 15, n - 2];
      for (const i of nanAt) x[i] = NaN;
      new Uint32Array(x.buffer)[100_000] = 0xffc00001; // a negative NaN with a payload
      for (const m of [1, 1000, 100_000]) {
        expect(() => a.selectKth(x, m, null)).toThrow(/^avgk native selectKth: x contains 4 NaN entries/);
      }
      const mask = new Uint8Array(n).fill(1);
      for (const i of [...nanAt, 100_000]) mask[i] = 0;
      const finite = Array.from(x).filter((_, i) => mask[i] === 1).sort((p, q) => q - p);
      expect(a.selectKth(x, 1000, mask)).toBe(Math.fround(finite[999]!));
    }
    {
      // the fused-ReLU arguments of batch norm
      const f = (n: number) => new Float32Array(n);
      expect(() => a.batchNormBackward(f(6), f(6), f(2), f(2), f(2), f(6), f(2), f(2), 1, 2, 3, 1e-5, true, f(5)))
        .toThrow(/^avgk native batchNormBackward: y has 5 elements but n=1, c=2, hw=3 needs 6/);
      const gx = f(6);
      expect(() => a.batchNormBackward(f(6), f(6), f(2), f(2), f(2), gx, f(2), f(2), 1, 2, 3, 1e-5, true, gx))
        .toThrow(/^avgk native batchNormBackward: gx must not share memory with y/);
      expect(() => a.batchNormForward(f(6), f(2), f(2), f(6), f(2), f(2), 1, 2, 3, 1e-5, true, 1 as unknown as boolean))
        .toThrow(/^avgk native batchNormForward: relu \(argument 12\) must be a boolean, got number 1/);
    }
    {
      // the same checks on the sampled path (n >= 2^16): NaN is counted in the bracket pass
      const n = 200_000;
      const big = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      big[12_345] = NaN;
      expect(() => a.selectKth(big, 100, null)).toThrow(/^avgk native selectKth: x contains 1 NaN entries/);
      const half = Uint8Array.from({ length: n }, (_, i) => (i % 2 === 0 && i !== 12_344 ? 1 : 0));
      expect(a.selectKth(big, 1, half)).toBeLessThanOrEqual(1);
      expect(() => a.selectKth(big, n / 2, half)).toThrow(/^avgk native selectKth: m = 100000 exceeds the 99999 selected/);
    }
    expect(() => a.unary(0, new Float32Array(4), new Float32Array(3), 0, 0)).toThrow(/^avgk native unary: out has 3 elements/);
    expect(() => a.unary(11 as UnaryOp, new Float32Array(4), new Float32Array(4), 0, 0)).toThrow(/^avgk native unary: op = 11 is out of range/);
    const buf = new Float32Array(10);
    expect(() => a.unary(0, buf.subarray(0, 5), buf.subarray(1, 6), 0, 0)).toThrow(/partially overlaps/);
    expect(() => a.unary(0, buf, buf, 0, 0)).not.toThrow();
    expect(() => a.reduceSum(new Float32Array(6), new Float32Array(2), 2, -1, 1)).toThrow(/^avgk native reduceSum: mid = -1 is out of range/);
    expect(() => a.reduceMax(new Float32Array(0), new Float32Array(2), new Int32Array(2), 2, 0, 1)).toThrow(/empty axis/);
    expect(() => a.binary(0, new Float32Array(4), 0, [1], new Float32Array(4), 0, [1], new Float32Array(5), [5]))
      .toThrow(/^avgk native binary: a has 4 elements but aOffset=0 with aStrides=\[1\] over shape \[5\] reaches indices \[0, 4\]/);
    expect(() => a.binary(0, new Float32Array(4), 0, [1], new Float32Array(4), 0, [1, 1], new Float32Array(4), [4]))
      .toThrow(/^avgk native binary: bStrides has 2 entries but the shape has 1 dimensions/);
    const io = new Float32Array(4);
    expect(() => a.binary(0, io, 0, [0], new Float32Array(4), 0, [1], io, [4])).toThrow(/out overlaps a/);
    expect(() => a.copy(new Float32Array(4), 0, [1], new Int32Array(4) as unknown as Float32Array, 0, [1], [4])).toThrow(/same type/);
    expect(() => a.copy(new Float32Array(4), 0, [1], new Float32Array(4), 0, [0], [4])).toThrow(/more than once/);
    expect(() => a.copy(new Float32Array(4), 0, [-1], new Float32Array(4), 0, [1], [4])).toThrow(/reaches indices \[-3, 0\]/);
    const rev = new Float32Array([1, 2, 3, 4]);
    const out = new Float32Array(4);
    a.copy(rev, 3, [-1], out, 0, [1], [4]);
    expect(Array.from(out)).toEqual([4, 3, 2, 1]);
    const g = { n: 1, c: 1, h: 4, w: 4, o: 1, kh: 3, kw: 3, stride: 1, pad: 0, oh: 3, ow: 2 };
    expect(() => a.conv2dForward(new Float32Array(16), new Float32Array(9), null, new Float32Array(6), g)).toThrow(/^avgk native conv2dForward: ConvGeom\{.*\} is inconsistent: expected oh=2, ow=2/);
    expect(() => a.conv2dForward(new Float32Array(16), new Float32Array(9), null, new Float32Array(4), { ...g, oh: 2, kw: undefined } as never)).toThrow(/ConvGeom.kw must be a number, got undefined/);
    const pg = { n: 1, c: 1, h: 2, w: 2, k: 2, stride: 2, pad: 0, oh: 1, ow: 1 };
    expect(() => a.maxPool2dBackward(new Float32Array(1), new Int32Array([4]), new Float32Array(4), pg)).toThrow(/argmax\[0\] = 4 is outside \[-1, 4\)/);
    expect(() => a.adamStep(new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2), 1e-3, 1, 0.999, 1e-8, 0, 1, false)).toThrow(/beta1 must be in \[0, 1\)/);
    const p = new Float32Array(3);
    expect(() => a.sgdStep(p, new Float32Array(3), p, 0.1, 0.9, 0, false, false)).toThrow(/must not share memory/);
    expect(() => a.sgdStep(p, new Float32Array(3), new Float32Array(0), 0.1, 0, 0, false, false)).not.toThrow();
    expect(() => a.setNumThreads(0)).toThrow(/^avgk native setNumThreads: n = 0 is out of range/);
    expect(() => (a.getNumThreads as unknown as (x: number) => number)(1)).toThrow(/^avgk native getNumThreads: expected 0 arguments/);
  });
});
