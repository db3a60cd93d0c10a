/**
 * Fused losses: one kernel pass computes the loss sum and the gradient w.r.t. the logits, which
 * the backward closure only rescales by the upstream gradient. On the GPU the loss stays on the
 * device (a 0-d tensor), so a step waits for the GPU only when it reads the loss.
 */
import { emptyF32On, hostToDevice } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import { Binary, Unary } from '../../backend/index.js';
import { CudaStorage } from '../../backend/cuda/index.js';
import type { AnyBackend, F32Storage, ScalarResult } from '../../backend/device.js';
import { sameShape, shapeStr } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { isGradEnabled } from '../grad-mode.js';
import { deviceOfAll, kernelsFor } from './device.js';

/** The labels on the host, checked against the logits' shape (a GPU label tensor is read back). */
function labelsOf(op: string, labels: Tensor | Int32Array, rows: number, cols: number): Int32Array {
  let y: Int32Array;
  if (labels instanceof Tensor) {
    if (labels.dtype !== 'int32') throw new Error(`${op}: labels must be an int32 tensor, got ${labels.dtype} ${shapeStr(labels.shape)}`);
    if (labels.ndim !== 1) throw new Error(`${op}: labels must be 1-D, got shape ${shapeStr(labels.shape)}`);
    y = labels.dataSync() as Int32Array;
  } else if (labels instanceof Int32Array) {
    y = labels;
  } else {
    throw new Error(`${op}: labels must be an int32 Tensor or an Int32Array`);
  }
  if (y.length !== rows) throw new Error(`${op}: ${y.length} labels for ${rows} rows of logits`);
  for (let i = 0; i < rows; i++) {
    if (!(y[i]! >= 0 && y[i]! < cols)) throw new Error(`${op}: label ${y[i]} at row ${i} is out of range [0, ${cols})`);
  }
  return y;
}

/** total / div as a 0-d tensor on the kernel's device (computed there on the GPU). */
function lossTensor(be: AnyBackend, total: ScalarResult, div: number): Tensor {
  if (total instanceof CudaStorage) {
    be.unary(Unary.affine, total, total, 1 / div, 0);
    return new Tensor(total, []);
  }
  return new Tensor(Float32Array.of(total / div), []);
}

/**
 * Softmax cross-entropy, averaged over the batch: logits [B, C], integer labels [B].
 * `smoothing` ε mixes the one-hot target with the uniform distribution (PyTorch's label_smoothing).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor | Int32Array, opts: { smoothing?: number } = {}): Tensor {
  const op = 'softmaxCrossEntropy';
  if (logits.ndim !== 2 || logits.dtype !== 'float32') throw new Error(`${op}: expected float32 logits [B, C], got ${logits.dtype} ${shapeStr(logits.shape)}`);
  const [rows, cols] = logits.shape as [number, number];
  if (rows === 0) throw new Error(`${op}: empty batch (logits ${shapeStr(logits.shape)})`);
  const eps = opts.smoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`${op}: smoothing must be in [0, 1], got ${eps}`);
  if (labels instanceof Tensor) deviceOfAll(op, logits, labels);
  const y = labelsOf(op, labels, rows, cols);
  const device = logits.device;
  const yd = labels instanceof Tensor && labels.device === device ? labels.contiguousData() : hostToDevice(device, y);
  const needGrad = isGradEnabled() && logits.requiresGrad;
  const grad = needGrad ? emptyF32On(device, rows * cols) : null;
  const be = kernelsFor(logits);
  const total = be.softmaxCrossEntropy(logits.f32(op), yd as Int32Array, rows, cols, eps, grad);
  const out = lossTensor(be, total, rows);
  if (!grad) return out;
  return record(out, op, [logits], (g) => [scaled(be, grad, g, rows, logits.shape)]);
}

export type BceReduction = 'mean' | 'sum' | 'batchmean';

/** A per-entry operand of sigmoidBce on the logits' device. */
function entries(op: string, what: string, v: Tensor | Float32Array, logits: Tensor, exactShape: boolean): F32Storage {
  const t = v instanceof Tensor ? v : null;
  if (t) deviceOfAll(op, logits, t);
  const size = t ? t.size : (v as Float32Array).length;
  if ((t && t.dtype !== 'float32') || size !== logits.size || (t && exactShape && !sameShape(t.shape, logits.shape))) {
    const desc = t ? `${t.dtype} ${shapeStr(t.shape)}` : `float32 [${(v as Float32Array).length}]`;
    throw new Error(`${op}: ${what} ${desc} do not match logits ${shapeStr(logits.shape)}`);
  }
  return t ? t.f32(op) : hostToDevice(logits.device, v as Float32Array);
}

/**
 * Sigmoid binary cross-entropy with logits, per-entry targets and optional per-entry weights.
 * reduction: 'mean' over all entries, 'sum', or 'batchmean' (sum / first dimension, the
 * per-sample sum averaged over the batch).
 */
export function sigmoidBce(
  logits: Tensor, targets: Tensor | Float32Array,
  opts: { weights?: Tensor | Float32Array | null; reduction?: BceReduction } = {},
): Tensor {
  const op = 'sigmoidBce';
  if (logits.dtype !== 'float32') throw new Error(`${op}: expected float32 logits, got ${logits.dtype}`);
  const td = entries(op, 'targets', targets, logits, true);
  const wd = opts.weights ? entries(op, 'weights', opts.weights, logits, false) : null;
  const reduction = opts.reduction ?? 'mean';
  let div: number;
  if (reduction === 'mean') div = logits.size;
  else if (reduction === 'sum') div = 1;
  else if (reduction === 'batchmean') div = logits.ndim > 0 ? logits.shape[0]! : 1;
  else throw new Error(`${op}: unknown reduction "${String(reduction)}" (expected mean, sum or batchmean)`);
  if (div === 0) throw new Error(`${op}: empty input ${shapeStr(logits.shape)}`);
  const needGrad = isGradEnabled() && logits.requiresGrad;
  const grad = needGrad ? emptyF32On(logits.device, logits.size) : null;
  const be = kernelsFor(logits);
  const total = be.sigmoidBce(logits.f32(op), td, wd, grad);
  const out = lossTensor(be, total, div);
  if (!grad) return out;
  return record(out, op, [logits], (g) => [scaled(be, grad, g, div, logits.shape)]);
}

/** grad · g / div, where g is the loss's upstream gradient (a 0-d tensor on the same device). */
function scaled(be: AnyBackend, grad: F32Storage, g: Tensor, div: number, shape: readonly number[]): Tensor {
  const out = grad instanceof CudaStorage ? emptyF32On('cuda', grad.length) : emptyF32On('cpu', grad.length);
  if (out instanceof CudaStorage) {
    // on the device: no read-back of g
    be.binary(Binary.mul, grad, 0, [1], g.data as F32Storage, g.offset, [0], out, [grad.length]);
    be.unary(Unary.affine, out, out, 1 / div, 0);
  } else {
    be.unary(Unary.affine, grad, out, g.item() / div, 0);
  }
  return new Tensor(out, shape);
}
