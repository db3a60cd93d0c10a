/**
 * The backend interface: the narrow table of primitive kernels that every backend implements.
 *
 * Conventions (shared by the TypeScript backend in ./js, the C++ addon in ./native and the CUDA
 * addon in ./cuda):
 *  - A table is generic over its storages: F for float32 data, I for int32 (indices, labels), U for
 *    uint8 masks, and S for the scalar results of reductions. The CPU backends use typed arrays and
 *    return numbers (Backend<Float32Array, Int32Array, Uint8Array, number>, the default); the CUDA
 *    backend uses device buffers and returns one-element device buffers, so that a training step
 *    never waits for the GPU (see ./cuda).
 *  - Kernels never allocate their outputs: the caller allocates every output buffer on the
 *    kernel's device and the kernel writes into it. Offsets and strides are in elements.
 *  - Unless a parameter says otherwise, buffers are dense row-major ("contiguous").
 *  - Kernels are pure: no hidden state except the thread count (and, on CUDA, the TF32 switch).
 *  - "Overwrite" outputs are fully written (stale contents, NaN included, never leak through).
 *
 * A new backend is one folder that exports a `Backend` object. Backends may implement a subset and
 * take the rest from the TypeScript backend (see ./index.ts), but every native kernel must have a
 * TypeScript twin so that the TypeScript backend stays the oracle in the parity tests.
 */

export type F32 = Float32Array;
export type I32 = Int32Array;
export type U8 = Uint8Array;

export { Unary, Binary, type UnaryOp, type BinaryOp } from './ops.js';
import type { UnaryOp, BinaryOp } from './ops.js';

/** Geometry of a 2-D convolution on NCHW data with OIHW weights (square stride and padding). */
export interface ConvGeom {
  n: number; // batch
  c: number; // input channels
  h: number; // input height
  w: number; // input width
  o: number; // output channels
  kh: number; // kernel height
  kw: number; // kernel width
  stride: number;
  pad: number;
  oh: number; // output height = floor((h + 2*pad - kh) / stride) + 1
  ow: number; // output width
}

/** Geometry of a 2-D pooling window on NCHW data (square window, stride, padding). */
export interface PoolGeom {
  n: number;
  c: number;
  h: number;
  w: number;
  k: number; // window size
  stride: number;
  pad: number;
  oh: number; // floor((h + 2*pad - k) / stride) + 1
  ow: number;
}

export interface Backend<F = F32, I = I32, U = U8, S = number> {
  readonly name: 'js' | 'native' | 'cuda' | (string & {});

  /** Number of worker threads used by multi-threaded kernels (1 for single-threaded backends). */
  setNumThreads(n: number): void;
  getNumThreads(): number;

  // ---------------------------------------------------------------- elementwise
  /** out[i] = f(x[i]; p, q), contiguous, n = out.length = x.length. out may alias x. */
  unary(op: UnaryOp, x: F, out: F, p: number, q: number): void;
  /**
   * gx[i] = gy[i] * f'(x[i]) computed from the input x and/or the output y of the forward op
   * (exp, sqrt, sigmoid, tanh use y; log, relu, abs, pow use x; neg, affine use neither).
   * Overwrites gx. All four buffers have the same length.
   */
  unaryBackward(op: UnaryOp, x: F, y: F, gy: F, gx: F, p: number, q: number): void;
  /**
   * out (contiguous, of `shape`) = a (op) b, where a and b are read through strides (0 for a
   * broadcast dimension) and offsets. shape.length ≤ 8 and aStrides/bStrides have that length.
   */
  binary(
    op: BinaryOp,
    a: F, aOffset: number, aStrides: readonly number[],
    b: F, bOffset: number, bStrides: readonly number[],
    out: F, shape: readonly number[],
  ): void;
  /**
   * Strided copy: out[outOffset + Σ i_d*outStrides[d]] = x[xOffset + Σ i_d*xStrides[d]] over every
   * index of `shape`. Materialises views (transpose, permute, slice, broadcast-expand) and writes
   * into slices (concat, slice backward). Works on Float32Array and Int32Array alike (same type).
   */
  copy<T extends F | I>(
    x: T, xOffset: number, xStrides: readonly number[],
    out: T, outOffset: number, outStrides: readonly number[],
    shape: readonly number[],
  ): void;

  // ---------------------------------------------------------------- reductions
  /** x viewed as [outer, mid, inner]: out[o*inner + i] = Σ_m x[(o*mid + m)*inner + i]. Overwrites. */
  reduceSum(x: F, out: F, outer: number, mid: number, inner: number): void;
  /** As reduceSum with max; argmax[o*inner+i] = the m of the first maximum (NaN propagates). */
  reduceMax(x: F, out: F, argmax: I, outer: number, mid: number, inner: number): void;

  // ---------------------------------------------------------------- matrix multiply
  /**
   * Batched strided SGEMM: for t in [0, batch):
   *   C_t = alpha * A_t B_t + beta * C_t, A_t is m×k, B_t is k×n, C_t is m×n,
   *   A_t[i,p] = a[aOffset + t*aBatchStride + i*aRowStride + p*aColStride] (likewise B),
   *   C_t[i,j] = c[cOffset + t*cBatchStride + i*cRowStride + j]   (unit column stride).
   * Transposes are expressed by swapping row and column strides. beta = 0 overwrites C, NaN included.
   */
  gemm(
    batch: number, m: number, n: number, k: number, alpha: number,
    a: F, aOffset: number, aRowStride: number, aColStride: number, aBatchStride: number,
    b: F, bOffset: number, bRowStride: number, bColStride: number, bBatchStride: number,
    beta: number,
    c: F, cOffset: number, cRowStride: number, cBatchStride: number,
  ): void;

  // ---------------------------------------------------------------- convolution and pooling
  /** out[n,o,oh,ow] = Σ_{c,i,j} x[n,c,oh*s-p+i,ow*s-p+j] w[o,c,i,j] (+ bias[o]). Overwrites out. */
  conv2dForward(x: F, w: F, bias: F | null, out: F, g: ConvGeom): void;
  /** Gradient w.r.t. the input. Overwrites gx (shape n,c,h,w). */
  conv2dBackwardInput(gy: F, w: F, gx: F, g: ConvGeom): void;
  /** Gradient w.r.t. the weights. Overwrites gw (shape o,c,kh,kw). */
  conv2dBackwardWeight(x: F, gy: F, gw: F, g: ConvGeom): void;
  /** Max pooling (padding counts as -Infinity). argmax holds the flat index (h*w plane) of the max. */
  maxPool2dForward(x: F, out: F, argmax: I, g: PoolGeom): void;
  /** gx = scatter-add of gy at argmax. Overwrites gx. */
  maxPool2dBackward(gy: F, argmax: I, gx: F, g: PoolGeom): void;
  /** Average pooling, padding included in the divisor (PyTorch's count_include_pad=True). */
  avgPool2dForward(x: F, out: F, g: PoolGeom): void;
  /** Overwrites gx. */
  avgPool2dBackward(gy: F, gx: F, g: PoolGeom): void;

  // ---------------------------------------------------------------- batch norm
  /**
   * Batch norm over x viewed as [n, c, hw] (per channel c).
   * training: computes the batch mean and the biased variance, writes them into mean/var, and
   * normalises with them. Not training: reads mean/var (running statistics) and normalises.
   * out = (x - mean) / sqrt(var + eps) * gamma + beta. Overwrites out.
   * relu: a fused ReLU, out = max(0, that) in the same pass (NaN propagates, as in relu).
   */
  batchNormForward(
    x: F, gamma: F, beta: F, out: F, mean: F, variance: F,
    n: number, c: number, hw: number, eps: number, training: boolean, relu: boolean,
  ): void;
  /**
   * Backward of batchNormForward with the same mean/var. training: the full batch-statistics
   * gradient; not training: gx = gy * gamma / sqrt(var + eps). Overwrites gx, ggamma, gbeta.
   * y: the output of a forward with the fused ReLU (null without it); gy then goes through the ReLU
   * first (gy where y > 0, else 0).
   */
  batchNormBackward(
    x: F, gy: F, gamma: F, mean: F, variance: F,
    gx: F, ggamma: F, gbeta: F,
    n: number, c: number, hw: number, eps: number, training: boolean, y: F | null,
  ): void;

  // ---------------------------------------------------------------- softmax and fused losses
  /** Row-wise softmax (or log-softmax) of a [rows, cols] matrix. Overwrites out. */
  softmax(x: F, out: F, rows: number, cols: number, log: boolean): void;
  /**
   * Backward given the forward output y: softmax gx = y*(gy - Σ gy*y); log-softmax
   * gx = gy - exp(y)*Σ gy. Overwrites gx.
   */
  softmaxBackward(y: F, gy: F, gx: F, rows: number, cols: number, log: boolean): void;
  /**
   * Fused softmax cross-entropy with label smoothing ε over [rows, cols] logits:
   *   loss_i = -(1-ε) log p_i[y_i] - (ε/cols) Σ_j log p_i[j].
   * Returns Σ_i loss_i (as a double). If grad is not null, writes d(loss_i)/d logits_i into it
   * (= p_i - (1-ε) onehot(y_i) - ε/cols), in the same single pass. Labels must be in [0, cols).
   */
  softmaxCrossEntropy(
    logits: F, labels: I, rows: number, cols: number, smoothing: number, grad: F | null,
  ): S;
  /**
   * Fused sigmoid binary cross-entropy with logits, per entry with targets t and weights w
   * (w = null means 1):  loss_i = w_i * (max(z,0) - z*t + log(1 + exp(-|z|))),
   * stable for any finite z. Returns Σ_i loss_i (as a double); if grad is not null writes
   * d loss_i / d z_i = w_i * (σ(z_i) - t_i).
   */
  sigmoidBce(logits: F, targets: F, weights: F | null, grad: F | null): S;

  // ---------------------------------------------------------------- selection
  /**
   * The m-th largest value (1-based: m = 1 is the maximum) among the entries of x whose mask byte
   * is non-zero (all entries when mask is null). Expected O(n), never a full sort. NaN entries are
   * an error. Requires 1 ≤ m ≤ number of selected entries.
   */
  selectKth(x: F, m: number, mask: U | null): S;
  /**
   * Sets targets[i] = 1 for exactly min(m, #selected) selected entries of x: every selected entry
   * above the m-th largest λ, then the entries equal to λ in index order (the lowest first). Other
   * entries of targets are untouched; m ≤ 0 marks nothing. NaN entries are an error (as selectKth).
   */
  markTop(x: F, m: number, mask: U | null, targets: F): void;
  /** [#entries > t, #entries == t]; t is a scalar result of this backend (e.g. of selectKth). */
  countAboveEqual(x: F, t: S): [number, number];

  // ---------------------------------------------------------------- optimiser updates (in place)
  /**
   * SGD with momentum (PyTorch semantics, dampening 0):
   *   g = grad + wd*param; buf = momentum*buf + g (buf = g on the first step, firstStep=true);
   *   step = nesterov ? g + momentum*buf : buf (or g when momentum = 0); param -= lr*step.
   */
  sgdStep(
    param: F, grad: F, buf: F, lr: number, momentum: number, weightDecay: number,
    nesterov: boolean, firstStep: boolean,
  ): void;
  /**
   * Adam / AdamW (PyTorch semantics). step is 1-based. decoupled=false: g = grad + wd*param (Adam);
   * decoupled=true: param *= 1 - lr*wd (AdamW).
   *   m = b1*m + (1-b1) g; v = b2*v + (1-b2) g²;
   *   param -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
   */
  adamStep(
    param: F, grad: F, m: F, v: F, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number, decoupled: boolean,
  ): void;

  // ---------------------------------------------------------------- small utilities
  /** x[i] = value for every i. */
  fill(x: F, value: number): void;
  /** y = a*y + b*x (running statistics, in place). Same lengths. */
  axpby(x: F, y: F, a: number, b: number): void;
  /**
   * Backward of reduceMax: gx (outer*mid*inner, overwritten) holds gy[o*inner + i] at
   * m = argmax[o*inner + i] of each column and 0 elsewhere.
   */
  reduceMaxBackward(gy: F, argmax: I, gx: F, outer: number, mid: number, inner: number): void;
  /** out[k] = x[idx[k]]; every index must lie in [0, x.length). */
  take(x: F, idx: I, out: F): void;
  /** gx[idx[k]] += g[k] (duplicates accumulate); indices in [0, gx.length). */
  putAdd(g: F, idx: I, gx: F): void;
  /** x[idx[k]] = value; indices in [0, x.length). */
  putValue(x: F, idx: I, value: number): void;
}

/** The kernels that a native backend overrides; everything else comes from the TypeScript backend. */
export type KernelName = Exclude<keyof Backend, 'name' | 'setNumThreads' | 'getNumThreads'>;
