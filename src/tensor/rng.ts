/**
 * Seeded pseudo-random number generator: xoshiro128** (Blackman & Vigna), seeded through
 * splitmix32. 128 bits of state, period 2^128 − 1, fast in plain JS (32-bit integer ops only).
 *
 * The whole state is four uint32 values, so `getState()` returns plain JSON numbers that a
 * checkpoint can store, and `setState()` / `Rng.fromState()` restore the exact stream.
 * `normal()` keeps no cached spare value, so the four words really are the whole state.
 */

const TWO_POW_32 = 4294967296;

function splitmix32(x: number): [number, number] {
  // returns [next state, output]
  const s = (x + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return [s, z];
}

/**
 * mulberry32: a tiny 32-bit PRNG returning floats in [0, 1). For fixed, reproducible sample data
 * (report samples, test fixtures); `Rng` is the generator for everything statistical.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Types that `shuffle` accepts: any indexable, writable array-like. */
export interface MutableArrayLike<T> {
  length: number;
  [i: number]: T;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * @param seed any finite number. Integers up to 2^53 are mixed fully (low and high 32 bits);
   *             non-integers are truncated towards zero. Equal seeds give equal streams.
   */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new Error(`Rng: seed must be a finite number, got ${String(seed)}`);
    }
    const t = Math.trunc(seed);
    const lo = t >>> 0;
    const hi = Math.floor(t / TWO_POW_32) >>> 0;
    let st = (lo ^ Math.imul(hi, 0x27d4eb2d)) >>> 0;
    let out: number;
    [st, out] = splitmix32(st ^ 0x5bd1e995);
    this.s0 = out;
    [st, out] = splitmix32(st);
    this.s1 = out;
    [st, out] = splitmix32(st ^ hi);
    this.s2 = out;
    [st, out] = splitmix32(st);
    this.s3 = out;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Restores a generator from `getState()` output. */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** Next uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform double in [0, 1) with 32 random bits (faster than `next`). */
  nextFloat32(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal N(0, 1) (Box–Muller, no cached spare so the state stays 4 words). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out` with N(mean, std²) samples, using both Box–Muller outputs. */
  fillNormal(out: MutableArrayLike<number>, mean = 0, std = 1): typeof out {
    const n = out.length;
    let i = 0;
    while (i < n) {
      const u1 = 1 - this.next();
      const u2 = this.next();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i++] = mean + std * r * Math.cos(2 * Math.PI * u2);
      if (i < n) out[i++] = mean + std * r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  /** Uniform integer in {0, …, n−1}, unbiased (rejection sampling). 1 ≤ n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 1) return 0;
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** Bernoulli(p). */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** In-place Fisher–Yates shuffle; returns the same array. */
  shuffle<A extends MutableArrayLike<unknown>>(arr: A): A {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A uniformly random permutation of 0..n−1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** Index drawn from unnormalised non-negative weights (linear scan). */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0)) throw new Error('Rng.categorical: weights must have a positive sum');
    let u = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    // rounding: return the last index with positive weight
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** An independent child generator, seeded from this stream (advances this generator). */
  fork(): Rng {
    const child = new Rng(0);
    child.setState([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32()]);
    return child;
  }

  /** The full state: four uint32 as plain numbers (JSON-safe). */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: readonly number[]): void {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((v) => Number.isInteger(v) && v >= 0 && v < TWO_POW_32)
    ) {
      throw new Error('Rng.setState: expected an array of 4 uint32 numbers');
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new Error('Rng.setState: the all-zero state is invalid for xoshiro128**');
    }
    this.s0 = state[0] | 0;
    this.s1 = state[1] | 0;
    this.s2 = state[2] | 0;
    this.s3 = state[3] | 0;
  }
}
