/**
 * Central finite-difference gradient checks. For a function f of some float32 tensors, compares
 * the autograd gradient of L = Σ f(x) ⊙ W (W a fixed random weight) with (L(x+h) - L(x-h)) / 2h,
 * computing L in double precision from the float32 outputs.
 */
import { expect } from 'vitest';
import { Tensor, noGrad, Rng } from '../../src/index.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many entries per input (chosen at random). */
  maxEntries?: number;
  seed?: number;
}

function weightedSum(out: Tensor, w: Float64Array): number {
  const d = out.dataSync();
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * w[i];
  return s;
}

export function gradcheck(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 2e-3;
  const rtol = opts.rtol ?? 2e-2;
  const rng = new Rng(opts.seed ?? 1234);
  const leaves = inputs.map((x) => new Tensor(Float32Array.from(x.contiguousData() as Float32Array), x.shape).setRequiresGrad(true));
  const out = fn(...leaves);
  const w = new Float64Array(out.size);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  const wt = new Tensor(Float32Array.from(w), out.shape);
  // L = Σ out ⊙ W, backpropagated through the op under test
  out.mul(wt).sum().backward();
  for (let k = 0; k < leaves.length; k++) {
    const x = leaves[k];
    const g = x.grad;
    expect(g, `${name}: input ${k} received no gradient`).not.toBeNull();
    const gd = g!.dataSync();
    const xd = x.data as Float32Array;
    const count = Math.min(xd.length, opts.maxEntries ?? 24);
    const picks = xd.length <= count ? [...Array(xd.length).keys()] : Array.from({ length: count }, () => rng.int(xd.length));
    for (const i of picks) {
      const orig = xd[i];
      const probe = leaves.map((l) => new Tensor(Float32Array.from(l.data as Float32Array), l.shape));
      const pd = probe[k].data as Float32Array;
      pd[i] = orig + eps;
      const plus = noGrad(() => weightedSum(fn(...probe), w));
      pd[i] = orig - eps;
      const minus = noGrad(() => weightedSum(fn(...probe), w));
      const numeric = (plus - minus) / (2 * eps);
      const analytic = gd[i];
      const tol = atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic));
      if (!(Math.abs(numeric - analytic) <= tol)) {
        throw new Error(`${name}: gradient mismatch for input ${k} ${JSON.stringify(x.shape)} at flat index ${i}: analytic ${analytic}, numeric ${numeric}`);
      }
    }
  }
}

/** Random float32 tensor with entries of magnitude in [lo, hi] and random sign (away from kinks). */
export function randAway(shape: number[], rng: Rng, lo = 0.2, hi = 1.5, positive = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const m = lo + (hi - lo) * rng.next();
    d[i] = positive || rng.next() < 0.5 ? m : -m;
  }
  return new Tensor(d, shape);
}
