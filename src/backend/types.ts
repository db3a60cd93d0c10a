/**
 * The backend interface: the narrow table of primitive kernels that every backend implements.
 *
 * Conventions (shared by the TypeScript backend in ./js and the C++ addon in ./native):
 *  - Kernels never allocate their outputs: the caller (JS) allocates every output buffer and the
 *    kernel writes into it. Offsets and strides are in elements, not bytes.
 *  - Unless a parameter says otherwise, buffers are dense row-major ("contiguous").
 *  - float32 data is a Float32Array; indices and labels are Int32Array; masks are Uint8Array.
 *  - Kernels are pure: no hidden state except the thread count.
 *  - "Overwrite" outputs are fully written (stale contents, NaN included, never leak through).
 *
 * A new backend is one folder that exports a `Backend` object. Backends may implement a subset and
 * take the rest from the TypeScript backend (see ./index.ts), but every native kernel must have a
 * TypeScript twin so that the TypeScript backend stays the oracle in the parity tests.
 */

export type F32 = Float32Array;
export type I32 = Int32Array;

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

export interface Backend {
  readonly name: 'js' | 'native' | (string & {});

  /** Number of worker threads used by multi-threaded kernels (1 for single-threaded backends). */
  setNumThreads(n: number): void;
  getNumThreads(): number;

  // ---------------------------------------------------------------- elementwise
  /** out[i] = f(x[i]; p, q), contiguous, n = out.length = x.length. out may alias x. */
  unary(op: UnaryOp, x: F32, out: F32, p: number, q: number): void;
  /**
   * gx[i] = gy[i] * f'(x[i]) computed from the input x and/or the output y of the forward op
   * (exp, sqrt, sigmoid, tanh use y; log, relu, abs, pow use x; neg, affine use neither).
   * Overwrites gx. All four buffers have the same length.
   */
  unaryBackward(op: UnaryOp, x: F32, y: F32, gy: F32, gx: F32, p: number, q: number): void;
  /**
   * out (contiguous, of `shape`) = a (op) b, where a and b are read through strides (0 for a
   * broadcast dimension) and offsets. shape.length ≤ 8 and aStrides/bStrides have that length.
   */
  binary(
    op: BinaryOp,
    a: F32, aOffset: number, aStrides: readonly number[],
    b: F32, bOffset: number, bStrides: readonly number[],
    out: F32, shape: readonly number[],
  ): void;
  /**
   * Strided copy: out[outOffset + Σ i_d*outStrides[d]] = x[xOffset + Σ i_d*xStrides[d]] over every
   * index of `shape`. Materialises views (transpose, permute, slice, broadcast-expand) and writes
   * into slices (concat, slice backward). Works on Float32Array and Int32Array alike (same type).
   */
  copy<T extends F32 | I32>(
    x: T, xOffset: number, xStrides: readonly number[],
    out: T, outOffset: number, outStrides: readonly number[],
    shape: readonly number[],
  ): void;

  // ---------------------------------------------------------------- reductions
  /** x viewed as [outer, mid, inner]: out[o*inner + i] = Σ_m x[(o*mid + m)*inner + i]. Overwrites. */
  reduceSum(x: F32, out: F32, outer: number, mid: number, inner: number): void;
  /** As reduceSum with max; argmax[o*inner+i] = the m of the first maximum (NaN propagates). */
  reduceMax(x: F32, out: F32, argmax: I32, outer: number, mid: number, inner: number): void;

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
    a: F32, aOffset: number, aRowStride: number, aColStride: number, aBatchStride: number,
    b: F32, bOffset: number, bRowStride: number, bColStride: number, bBatchStride: number,
    beta: number,
    c: F32, cOffset: number, cRowStride: number, cBatchStride: number,
  ): void;

  // ---------------------------------------------------------------- convolution and pooling
  /** out[n,o,oh,ow] = Σ_{c,i,j} x[n,c,oh*s-p+i,ow*s-p+j] w[o,c,i,j] (+ bias[o]). Overwrites out. */
  conv2dForward(x: F32, w: F32, bias: F32 | null, out: F32, g: ConvGeom): void;
  /** Gradient w.r.t. the input. Overwrites gx (shape n,c,h,w). */
  conv2dBackwardInput(gy: F32, w: F32, gx: F32, g: ConvGeom): void;
  /** Gradient w.r.t. the weights. Overwrites gw (shape o,c,kh,kw). */
  conv2dBackwardWeight(x: F32, gy: F32, gw: F32, g: ConvGeom): void;
  /** Max pooling (padding counts as -Infinity). argmax holds the flat index (h*w plane) of the max. */
  maxPool2dForward(x: F32, out: F32, argmax: I32, g: PoolGeom): void;
  /** gx = scatter-add of gy at argmax. Overwrites gx. */
  maxPool2dBackward(gy: F32, argmax: I32, gx: F32, g: PoolGeom): void;
  /** Average pooling, padding included in the divisor (PyTorch's count_include_pad=True). */
  avgPool2dForward(x: F32, out: F32, g: PoolGeom): void;
  /** Overwrites gx. */
  avgPool2dBackward(gy: F32, gx: F32, g: PoolGeom): void;

  // ---------------------------------------------------------------- batch norm
  /**
   * Batch norm over x viewed as [n, c, hw] (per channel c).
   * training: computes the batch mean and the biased variance, writes them into mean/var, and
   * normalises with them. Not training: reads mean/var (running statistics) and normalises.
   * out = (x - mean) / sqrt(var + eps) * gamma + beta. Overwrites out.
   * relu: a fused ReLU, out = max(0, that) in the same pass (NaN propagates, as in relu).
   */
  batchNormForward(
    x: F32, gamma: F32, beta: F32, out: F32, mean: F32, variance: F32,
    n: number, c: number, hw: number, eps: number, training: boolean, relu: boolean,
  ): void;
  /**
   * Backward of batchNormForward with the same mean/var. training: the full batch-statistics
   * gradient; not training: gx = gy * gamma / sqrt(var + eps). Overwrites gx, ggamma, gbeta.
   * y: the output of a forward with the fused ReLU (null without it); gy then goes through the ReLU
   * first (gy where y > 0, else 0).
   */
  batchNormBackward(
    x: F32, gy: F32, gamma: F32, mean: F32, variance: F32,
    gx: F32, ggamma: F32, gbeta: F32,
    n: number, c: number, hw: number, eps: number, training: boolean, y: F32 | null,
  ): void;

  // ---------------------------------------------------------------- softmax and fused losses
  /** Row-wise softmax (or log-softmax) of a [rows, cols] matrix. Overwrites out. */
  softmax(x: F32, out: F32, rows: number, cols: number, log: boolean): void;
  /**
   * Backward given the forward output y: softmax gx = y*(gy - Σ gy*y); log-softmax
   * gx = gy - exp(y)*Σ gy. Overwrites gx.
   */
  softmaxBackward(y: F32, gy: F32, gx: F32, rows: number, cols: number, log: boolean): void;
  /**
   * Fused softmax cross-entropy with label smoothing ε over [rows, cols] logits:
   *   loss_i = -(1-ε) log p_i[y_i] - (ε/cols) Σ_j log p_i[j].
   * Returns Σ_i loss_i (as a double). If grad is not null, writes d(loss_i)/d logits_i into it
   * (= p_i - (1-ε) onehot(y_i) - ε/cols), in the same single pass. Labels must be in [0, cols).
   */
  softmaxCrossEntropy(
    logits: F32, labels: I32, rows: number, cols: number, smoothing: number, grad: F32 | null,
  ): number;
  /**
   * Fused sigmoid binary cross-entropy with logits, per entry with targets t and weights w
   * (w = null means 1):  loss_i = w_i * (max(z,0) - z*t + log(1 + exp(-|z|))),
   * stable for any finite z. Returns Σ_i loss_i (as a double); if grad is not null writes
   * d loss_i / d z_i = w_i * (σ(z_i) - t_i).
   */
  sigmoidBce(logits: F32, targets: F32, weights: F32 | null, grad: F32 | null): number;

  // ---------------------------------------------------------------- selection
  /**
   * The m-th largest value (1-based: m = 1 is the maximum) among the entries of x whose mask byte
   * is non-zero (all entries when mask is null). Expected O(n), never a full sort. NaN entries are
   * an error. Requires 1 ≤ m ≤ number of selected entries.
   */
  selectKth(x: F32, m: number, mask: Uint8Array | null): number;

  // ---------------------------------------------------------------- optimiser updates (in place)
  /**
   * SGD with momentum (PyTorch semantics, dampening 0):
   *   g = grad + wd*param; buf = momentum*buf + g (buf = g on the first step, firstStep=true);
   *   step = nesterov ? g + momentum*buf : buf (or g when momentum = 0); param -= lr*step.
   */
  sgdStep(
    param: F32, grad: F32, buf: F32, lr: number, momentum: number, weightDecay: number,
    nesterov: boolean, firstStep: boolean,
  ): void;
  /**
   * Adam / AdamW (PyTorch semantics). step is 1-based. decoupled=false: g = grad + wd*param (Adam);
   * decoupled=true: param *= 1 - lr*wd (AdamW).
   *   m = b1*m + (1-b1) g; v = b2*v + (1-b2) g²;
   *   param -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
   */
  adamStep(
    param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number, decoupled: boolean,
  ): void;
}

/** The kernels that a native backend overrides; everything else comes from the TypeScript backend. */
export type KernelName = Exclude<keyof Backend, 'name' | 'setNumThreads' | 'getNumThreads'>;
