/**
 * The gradient-buffer cache (src/tensor/alloc.ts + the engine's bookkeeping): dead intermediate
 * gradients are reused, and nothing a user can still see is ever overwritten.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Tensor, nn, optim, manualSeed, randn, add, mul, relu, sum, softmaxCrossEntropy,
  setBufferCacheLimit, emptyBufferCache, bufferCacheBytes,
} from '../src/index.js';
import { emptyF32 } from '../src/tensor/alloc.js';

const N = 64 * 64; // at the cache's minimum size

function leaf(shape: number[], seed: number): Tensor {
  manualSeed(seed);
  const t = randn(shape);
  t.requiresGrad = true;
  return t;
}

/** Busy work that allocates and overwrites many buffers of size N (reusing any cached ones). */
function churn(rounds = 4): void {
  for (let r = 0; r < rounds; r++) {
    const a = leaf([64, 64], 100 + r);
    const b = leaf([64, 64], 200 + r);
    sum(relu(mul(add(a, b), add(b, a)))).backward();
    for (let i = 0; i < 8; i++) emptyF32(N).fill(12345);
  }
}

beforeEach(() => {
  setBufferCacheLimit(512 * 1024 * 1024);
  emptyBufferCache();
});
afterEach(() => {
  setBufferCacheLimit(0);
});

describe('gradient-buffer cache', () => {
  it('recycles dead intermediate gradients and hands them out again', () => {
    emptyBufferCache();
    const w = leaf([64, 64], 1);
    const h = mul(w, 3);
    sum(relu(add(h, h))).backward();
    expect(bufferCacheBytes()).toBeGreaterThan(0);
    const before = bufferCacheBytes();
    const reused = emptyF32(N);
    expect(reused.length).toBe(N);
    expect(bufferCacheBytes()).toBe(before - N * 4);
  });

  it('never reuses a leaf gradient, the seed gradient, or forward outputs the user holds', () => {
    const w = leaf([64, 64], 2);
    const v = leaf([64, 64], 3);
    const h = relu(mul(v, 2)); // forward output kept by the user
    const hCopy = Float32Array.from(h.data as Float32Array);
    // add's backward returns the same gradient object for both inputs: one goes to a leaf (w),
    // the other flows on through h (non-leaf), whose buffer is then dead.
    const y = add(w, h);
    const seed = new Tensor(Float32Array.from({ length: N }, (_, i) => (i % 7) - 3), [64, 64]);
    const seedCopy = Float32Array.from(seed.data as Float32Array);
    y.backward(seed);
    const wGrad = Float32Array.from(w.grad!.data as Float32Array);
    const vGrad = Float32Array.from(v.grad!.data as Float32Array);
    expect(Array.from(wGrad)).toEqual(Array.from(seedCopy));
    churn();
    expect(Array.from(w.grad!.data as Float32Array)).toEqual(Array.from(wGrad));
    expect(Array.from(v.grad!.data as Float32Array)).toEqual(Array.from(vGrad));
    expect(Array.from(seed.data as Float32Array)).toEqual(Array.from(seedCopy));
    expect(Array.from(h.data as Float32Array)).toEqual(Array.from(hCopy));
  });

  it('x + x and shared subexpressions get the right gradient', () => {
    const a = leaf([64, 64], 4);
    const h = mul(a, 1.5);
    sum(add(add(h, h), h)).backward(); // dL/da = 4.5
    for (const g of a.grad!.data as Float32Array) expect(g).toBeCloseTo(4.5, 6);
  });

  it('training with the cache gives bit-identical parameters to training without it', () => {
    const run = (limit: number): Float32Array[] => {
      setBufferCacheLimit(limit);
      emptyBufferCache();
      manualSeed(7);
      const net = new nn.Sequential(new nn.BasicBlock(8, 16, 2, {}), new nn.BasicBlock(16, 16, 1, {}), new nn.GlobalAvgPool2d(), new nn.Linear(16, 5));
      const opt = new optim.SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
      manualSeed(8);
      const x = randn([4, 8, 16, 16]);
      const y = Int32Array.from([0, 1, 2, 4]);
      for (let s = 0; s < 3; s++) {
        opt.zeroGrad();
        softmaxCrossEntropy(net.forward(x), y).backward();
        opt.step();
      }
      return net.parameters().map((p) => Float32Array.from(p.data as Float32Array));
    };
    const cached = run(512 * 1024 * 1024);
    expect(bufferCacheBytes()).toBeGreaterThan(0);
    const plain = run(0);
    expect(bufferCacheBytes()).toBe(0);
    expect(cached.length).toBe(plain.length);
    for (let i = 0; i < cached.length; i++) expect(Array.from(cached[i])).toEqual(Array.from(plain[i]));
  });

  it('rejects a bad limit', () => {
    expect(() => setBufferCacheLimit(-1)).toThrow(/setBufferCacheLimit/);
    expect(() => setBufferCacheLimit(Number.NaN)).toThrow(/setBufferCacheLimit/);
  });
});
