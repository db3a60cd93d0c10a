/**
 * The native kernels give the same bits whatever the thread count: the default count follows the
 * machine's load (native/kernels/gemm/gemm.cc), and the same seed must still give the same
 * weights (src/train/fit.ts). Each op that reduces (conv, batch norm, pooling, GEMM, losses,
 * reductions, softmax) and a few SGD steps of the small CNN run at 1, 2 and 3 threads (3 may
 * exceed the cores: OpenMP oversubscribes) and must match the 1-thread result exactly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jsBackend } from '../src/backend/js/index.js';
import { createNativeBackend } from '../src/backend/native/index.js';
import type { Backend, ConvGeom, PoolGeom } from '../src/backend/types.js';
import { mulberry32 as rng } from '../src/data/rng.js';
import { backendName, setBackend } from '../src/backend/index.js';
import { buildModel } from '../src/avgk/model.js';
import { fromArray } from '../src/tensor/tensor.js';
import { manualSeed } from '../src/tensor/random.js';
import { softmaxCrossEntropy, sigmoidBce } from '../src/autograd/ops/loss.js';
import { add } from '../src/autograd/ops/elementwise.js';
import { SGD } from '../src/optim/optimizer.js';
import { nativeUnderTest } from './helpers/native.js';

const { addon, skipNative } = nativeUnderTest('native-determinism');
const THREADS = [1, 2, 3];

const R = rng(2024);
function randn(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(R(), 1e-12);
    a[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * R()) * scale;
  }
  return a;
}

/** The results of one run: named arrays (and scalars as one-element arrays). */
type Outputs = Record<string, Float32Array | Float64Array | Int32Array>;

/** Bit-identical outputs, reporting the first differing entry. */
function expectSameBits(what: string, got: Outputs, want: Outputs): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const key of Object.keys(want)) {
    const a = got[key]!;
    const b = want[key]!;
    expect(a.length, `${what} ${key}: length`).toBe(b.length);
    const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    const stride = a.BYTES_PER_ELEMENT;
    for (let i = 0; i < ua.length; i++) {
      if (ua[i] !== ub[i]) {
        const e = Math.floor(i / stride);
        expect.fail(`${what} ${key}[${e}]: ${a[e]} differs from the 1-thread ${b[e]}`);
      }
    }
  }
}

const native: Backend | null = addon ? createNativeBackend(addon, jsBackend) : null;

/** run() at every thread count; each result must equal the 1-thread one bit for bit. */
function sameAtEveryThreadCount(what: string, run: () => Outputs): void {
  let first: Outputs | null = null;
  for (const nt of THREADS) {
    native!.setNumThreads(nt);
    const out = run();
    if (first === null) first = out;
    else expectSameBits(`${what}, ${nt} threads:`, out, first);
  }
}

function convGeom(n: number, c: number, h: number, w: number, o: number, k: number, stride: number, pad: number): ConvGeom {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  return { n, c, h, w, o, kh: k, kw: k, stride, pad, oh, ow };
}
function poolGeom(n: number, c: number, h: number, w: number, k: number, stride: number, pad: number): PoolGeom {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  return { n, c, h, w, k, stride, pad, oh, ow };
}

describe.skipIf(skipNative || !addon)('native kernels: the same bits on 1, 2 and 3 threads', () => {
  const nb = native!;
  const initialThreads = addon ? nb.getNumThreads() : 1;
  afterAll(() => {
    if (addon) nb.setNumThreads(initialThreads);
  });

  // The small CNN's layers (16x16 and 8x8 maps: per-image and wide GEMMs, the tiny-K first layer),
  // a strided and a pointwise conv, and a batch large enough for per-thread chunks.
  const convs: [string, ConvGeom][] = [
    ['first layer (K = 9)', convGeom(24, 1, 16, 16, 32, 3, 1, 1)],
    ['3x3, 16x16 maps', convGeom(24, 32, 16, 16, 32, 3, 1, 1)],
    ['3x3, 8x8 maps', convGeom(40, 32, 8, 8, 64, 3, 1, 1)],
    ['3x3 stride 2', convGeom(20, 16, 12, 12, 24, 3, 2, 1)],
    ['1x1', convGeom(30, 24, 6, 6, 40, 1, 1, 0)],
    ['5x5, 7x7 maps', convGeom(33, 8, 7, 7, 12, 5, 1, 2)],
  ];
  for (const [name, g] of convs) {
    it(`conv2d ${name}: forward, input and weight gradients`, () => {
      const x = randn(g.n * g.c * g.h * g.w);
      const w = randn(g.o * g.c * g.kh * g.kw, 0.2);
      const bias = randn(g.o);
      const gy = randn(g.n * g.o * g.oh * g.ow);
      sameAtEveryThreadCount(`conv2d ${name}`, () => {
        const out = new Float32Array(gy.length);
        const gx = new Float32Array(x.length);
        const gw = new Float32Array(w.length);
        nb.conv2dForward(x, w, bias, out, g);
        nb.conv2dBackwardInput(gy, w, gx, g);
        nb.conv2dBackwardWeight(x, gy, gw, g);
        return { out, gx, gw };
      });
    });
  }

  it('batch norm forward (training, with and without ReLU) and backward', () => {
    const [n, c, hw] = [24, 32, 256];
    const x = randn(n * c * hw, 2);
    const gamma = randn(c);
    const beta = randn(c);
    const gy = randn(n * c * hw);
    sameAtEveryThreadCount('batchNorm', () => {
      const r: Outputs = {};
      for (const relu of [false, true]) {
        const out = new Float32Array(x.length);
        const mean = new Float32Array(c);
        const variance = new Float32Array(c);
        nb.batchNormForward(x, gamma, beta, out, mean, variance, n, c, hw, 1e-5, true, relu);
        const gx = new Float32Array(x.length);
        const ggamma = new Float32Array(c);
        const gbeta = new Float32Array(c);
        nb.batchNormBackward(x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, 1e-5, true, relu ? out : null);
        Object.assign(r, { [`out${+relu}`]: out, [`mean${+relu}`]: mean, [`var${+relu}`]: variance, [`gx${+relu}`]: gx, [`ggamma${+relu}`]: ggamma, [`gbeta${+relu}`]: gbeta });
      }
      return r;
    });
  });

  it('max and average pooling, forward and backward (2x2, 3x3 stride 2 padded, global)', () => {
    for (const g of [poolGeom(24, 32, 16, 16, 2, 2, 0), poolGeom(24, 32, 15, 15, 3, 2, 1), poolGeom(24, 64, 8, 8, 8, 1, 0)]) {
      const x = randn(g.n * g.c * g.h * g.w);
      const gy = randn(g.n * g.c * g.oh * g.ow);
      sameAtEveryThreadCount(`pooling k${g.k} s${g.stride} p${g.pad}`, () => {
        const out = new Float32Array(gy.length);
        const argmax = new Int32Array(gy.length);
        const gx = new Float32Array(x.length);
        nb.maxPool2dForward(x, out, argmax, g);
        nb.maxPool2dBackward(gy, argmax, gx, g);
        const aout = new Float32Array(gy.length);
        const agx = new Float32Array(x.length);
        nb.avgPool2dForward(x, aout, g);
        nb.avgPool2dBackward(gy, agx, g);
        return { out, argmax, gx, aout, agx };
      });
    }
  });

  it('matmul: a linear layer forward and both gradients, and a batched product', () => {
    const [B, I, O] = [2048, 200, 96];
    const x = randn(B * I);
    const w = randn(O * I, 0.1);
    const gy = randn(B * O);
    const a = randn(6 * 150 * 170);
    const b = randn(6 * 170 * 130);
    sameAtEveryThreadCount('matmul', () => {
      const y = new Float32Array(B * O); // y = x W^T
      nb.gemm(1, B, O, I, 1, x, 0, I, 1, 0, w, 0, 1, I, 0, 0, y, 0, O, 0);
      const gw = new Float32Array(O * I); // gW = gy^T x (k = the batch)
      nb.gemm(1, O, I, B, 1, gy, 0, 1, O, 0, x, 0, I, 1, 0, 0, gw, 0, I, 0);
      const gx = new Float32Array(B * I); // gx = gy W
      nb.gemm(1, B, I, O, 1, gy, 0, O, 1, 0, w, 0, I, 1, 0, 0, gx, 0, I, 0);
      const c = new Float32Array(6 * 150 * 130);
      nb.gemm(6, 150, 130, 170, 1, a, 0, 170, 1, 150 * 170, b, 0, 130, 1, 170 * 130, 0, c, 0, 130, 150 * 130);
      return { y, gw, gx, c };
    });
  });

  it('softmax cross-entropy and sigmoid BCE: loss sums and gradients', () => {
    const [rows, cols] = [9000, 10];
    const logits = randn(rows * cols, 3);
    const labels = Int32Array.from({ length: rows }, () => Math.floor(R() * cols));
    const n = 150_001;
    const z = randn(n, 3);
    const t = Float32Array.from({ length: n }, () => (R() < 0.3 ? 1 : 0));
    const wts = Float32Array.from({ length: n }, () => R());
    sameAtEveryThreadCount('losses', () => {
      const grad = new Float32Array(rows * cols);
      const ce = nb.softmaxCrossEntropy(logits, labels, rows, cols, 0.1, grad);
      const bgrad = new Float32Array(n);
      const bce = nb.sigmoidBce(z, t, wts, bgrad);
      const bceNoGrad = nb.sigmoidBce(z, t, null, null);
      return { ce: Float64Array.of(ce), grad, bce: Float64Array.of(bce), bgrad, bceNoGrad: Float64Array.of(bceNoGrad) };
    });
  });

  it('reductions and softmax: sums and maxima over rows and columns, softmax forward and backward', () => {
    const [outer, mid, inner] = [64, 300, 700];
    const x = randn(outer * mid * inner);
    const [rows, cols] = [4000, 37];
    const s = randn(rows * cols, 2);
    const gs = randn(rows * cols);
    sameAtEveryThreadCount('reductions', () => {
      const rowSum = new Float32Array(outer * mid);
      nb.reduceSum(x, rowSum, outer * mid, inner, 1);
      const colSum = new Float32Array(outer * inner);
      nb.reduceSum(x, colSum, outer, mid, inner);
      const colMax = new Float32Array(outer * inner);
      const arg = new Int32Array(outer * inner);
      nb.reduceMax(x, colMax, arg, outer, mid, inner);
      const sm = new Float32Array(rows * cols);
      nb.softmax(s, sm, rows, cols, false);
      const gsm = new Float32Array(rows * cols);
      nb.softmaxBackward(sm, gs, gsm, rows, cols, false);
      return { rowSum, colSum, colMax, arg, sm, gsm };
    });
  });

  it('three SGD steps of the small CNN give the same weights', () => {
    const [B, C, H] = [24, 10, 16];
    const images = randn(B * H * H);
    const labels = Int32Array.from({ length: B }, () => Math.floor(R() * C));
    const targets = new Float32Array(B * C);
    for (let i = 0; i < B; i++) targets[i * C + labels[i]!] = 1;
    const before = backendName();
    setBackend('native');
    try {
      sameAtEveryThreadCount('small CNN', () => {
        manualSeed(7);
        const model = buildModel({ name: 'cnn' }, [1, H, H], C);
        const params = model.parameters();
        const opt = new SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
        const losses: number[] = [];
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          const out = model.forward(fromArray(images, [B, 1, H, H]));
          const loss = add(softmaxCrossEntropy(out.softmax, labels), sigmoidBce(out.multilabel, targets));
          loss.backward();
          opt.step();
          losses.push(loss.item());
        }
        const r: Outputs = { losses: Float64Array.from(losses) };
        params.forEach((p, i) => (r[`param${i}`] = Float32Array.from(p.dataSync() as Float32Array)));
        return r;
      });
    } finally {
      setBackend(before);
    }
  });
});
