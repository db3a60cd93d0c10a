/**
 * The one module that loads the C++ addon (build/Release/avgk.node, built by node-gyp from
 * binding.gyp). Everything else reaches the addon through `loadAddon()`.
 *
 * The package root is found from this file's location: three levels up both for
 * src/backend/native/addon.ts and dist/backend/native/addon.js (a `dist/src/...` layout, four levels
 * up, is accepted too): the first ancestor whose package.json is named "avgk".
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConvGeom, F32, I32, PoolGeom } from '../types.js';

/**
 * The functions exported by the addon. Same names, argument order and semantics as the kernels of
 * the Backend interface (../types.ts). Every function validates its arguments and throws an Error
 * whose message starts with `avgk native <op>:` on bad input.
 */
export interface NativeAddon {
  setNumThreads(n: number): void;
  getNumThreads(): number;

  unary(op: number, x: F32, out: F32, p: number, q: number): void;
  unaryBackward(op: number, x: F32, y: F32, gy: F32, gx: F32, p: number, q: number): void;
  binary(
    op: number,
    a: F32, aOffset: number, aStrides: readonly number[],
    b: F32, bOffset: number, bStrides: readonly number[],
    out: F32, shape: readonly number[],
  ): void;
  copy(
    x: F32 | I32, xOffset: number, xStrides: readonly number[],
    out: F32 | I32, outOffset: number, outStrides: readonly number[],
    shape: readonly number[],
  ): void;

  reduceSum(x: F32, out: F32, outer: number, mid: number, inner: number): void;
  reduceMax(x: F32, out: F32, argmax: I32, outer: number, mid: number, inner: number): void;

  gemm(
    batch: number, m: number, n: number, k: number, alpha: number,
    a: F32, aOffset: number, aRowStride: number, aColStride: number, aBatchStride: number,
    b: F32, bOffset: number, bRowStride: number, bColStride: number, bBatchStride: number,
    beta: number,
    c: F32, cOffset: number, cRowStride: number, cBatchStride: number,
  ): void;

  conv2dForward(x: F32, w: F32, bias: F32 | null, out: F32, g: ConvGeom): void;
  conv2dBackwardInput(gy: F32, w: F32, gx: F32, g: ConvGeom): void;
  conv2dBackwardWeight(x: F32, gy: F32, gw: F32, g: ConvGeom): void;
  maxPool2dForward(x: F32, out: F32, argmax: I32, g: PoolGeom): void;
  maxPool2dBackward(gy: F32, argmax: I32, gx: F32, g: PoolGeom): void;
  avgPool2dForward(x: F32, out: F32, g: PoolGeom): void;
  avgPool2dBackward(gy: F32, gx: F32, g: PoolGeom): void;

  batchNormForward(
    x: F32, gamma: F32, beta: F32, out: F32, mean: F32, variance: F32,
    n: number, c: number, hw: number, eps: number, training: boolean,
  ): void;
  batchNormBackward(
    x: F32, gy: F32, gamma: F32, mean: F32, variance: F32,
    gx: F32, ggamma: F32, gbeta: F32,
    n: number, c: number, hw: number, eps: number, training: boolean,
  ): void;

  softmax(x: F32, out: F32, rows: number, cols: number, log: boolean): void;
  softmaxBackward(y: F32, gy: F32, gx: F32, rows: number, cols: number, log: boolean): void;
  softmaxCrossEntropy(
    logits: F32, labels: I32, rows: number, cols: number, smoothing: number, grad: F32 | null,
  ): number;
  sigmoidBce(logits: F32, targets: F32, weights: F32 | null, grad: F32 | null): number;

  selectKth(x: F32, m: number, mask: Uint8Array | null): number;

  sgdStep(
    param: F32, grad: F32, buf: F32, lr: number, momentum: number, weightDecay: number,
    nesterov: boolean, firstStep: boolean,
  ): void;
  adamStep(
    param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number, decoupled: boolean,
  ): void;
}

/** Names every addon build must export (a stale build that lacks one is reported as such). */
const REQUIRED: readonly (keyof NativeAddon)[] = ['setNumThreads', 'getNumThreads'];

const FIX =
  'run `npm rebuild avgk` / `npm run build:native` (needs g++ and Python 3 for node-gyp); ' +
  'set AVGK_BACKEND=js to silence this';

let cached: { addon: NativeAddon | null; error: Error | null } | null = null;

/** The package root: the nearest ancestor of this file whose package.json is named "avgk". */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'avgk') return dir;
      } catch {
        // unreadable package.json: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve(here, '..', '..', '..');
}

/** The path the addon is loaded from. */
export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'avgk.node');
}

/** Loads build/Release/avgk.node once; never throws (the error says why and how to fix it). */
export function loadAddon(): { addon: NativeAddon | null; error: Error | null } {
  if (cached) return cached;
  const path = addonPath();
  try {
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist (the native addon was not built)`);
    }
    const require = createRequire(import.meta.url);
    const addon = require(path) as NativeAddon;
    const missing = REQUIRED.filter((k) => typeof addon[k] !== 'function');
    if (missing.length > 0) throw new Error(`${path} lacks ${missing.join(', ')} (stale build?)`);
    cached = { addon, error: null };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    cached = { addon: null, error: new Error(`avgk: cannot load the native addon: ${why}; ${FIX}`) };
  }
  return cached;
}
