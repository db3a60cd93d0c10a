/**
 * Fused losses: one kernel pass computes the loss sum and the gradient w.r.t. the logits, which
 * the backward closure only rescales by the upstream gradient.
 */
import { emptyF32 } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import { backend, Unary } from '../../backend/index.js';
import { sameShape, shapeStr } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { isGradEnabled } from '../grad-mode.js';

function labelsOf(op: string, labels: Tensor | Int32Array, rows: number, cols: number): Int32Array {
  let y: Int32Array;
  if (labels instanceof Tensor) {
    if (labels.dtype !== 'int32') throw new Error(`${op}: labels must be an int32 tensor, got ${labels.dtype} ${shapeStr(labels.shape)}`);
    if (labels.ndim !== 1) throw new Error(`${op}: labels must be 1-D, got shape ${shapeStr(labels.shape)}`);
    y = labels.contiguousData() as Int32Array;
  } else if (labels instanceof Int32Array) {
    y = labels;
  } else {
    throw new Error(`${op}: labels must be an int32 Tensor or an Int32Array`);
  }
  if (y.length !== rows) throw new Error(`${op}: ${y.length} labels for ${rows} rows of logits`);
  for (let i = 0; i < rows; i++) {
    if (!(y[i] >= 0 && y[i] < cols)) throw new Error(`${op}: label ${y[i]} at row ${i} is out of range [0, ${cols})`);
  }
  return y;
}

/**
 * Softmax cross-entropy, averaged over the batch: logits [B, C], integer labels [B].
 * `smoothing` ε mixes the one-hot target with the uniform distribution (PyTorch's label_smoothing).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor | Int32Array, opts: { smoothing?: number } = {}): Tensor {
  const op = 'softmaxCrossEntropy';
  if (logits.ndim !== 2 || logits.dtype !== 'float32') throw new Error(`${op}: expected float32 logits [B, C], got ${logits.dtype} ${shapeStr(logits.shape)}`);
  const [rows, cols] = logits.shape;
  if (rows === 0) throw new Error(`${op}: empty batch (logits ${shapeStr(logits.shape)})`);
  const eps = opts.smoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new Error(`${op}: smoothing must be in [0, 1], got ${eps}`);
  const y = labelsOf(op, labels, rows, cols);
  const needGrad = isGradEnabled() && logits.requiresGrad;
  const grad = needGrad ? emptyF32(rows * cols) : null;
  const total = backend().softmaxCrossEntropy(logits.f32(op), y, rows, cols, eps, grad);
  const out = new Tensor(Float32Array.of(total / rows), []);
  if (!grad) return out;
  return record(out, op, [logits], (g) => [scaled(grad, g.item() / rows, logits.shape)]);
}

export type BceReduction = 'mean' | 'sum' | 'batchmean';

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
  const t = targets instanceof Tensor ? targets : new Tensor(targets, [targets.length]);
  if (t.dtype !== 'float32' || t.size !== logits.size || (targets instanceof Tensor && !sameShape(t.shape, logits.shape))) {
    throw new Error(`${op}: targets ${t.dtype} ${shapeStr(t.shape)} do not match logits ${shapeStr(logits.shape)}`);
  }
  let wd: Float32Array | null = null;
  if (opts.weights) {
    const w = opts.weights instanceof Tensor ? opts.weights : new Tensor(opts.weights, [opts.weights.length]);
    if (w.dtype !== 'float32' || w.size !== logits.size) throw new Error(`${op}: weights ${w.dtype} ${shapeStr(w.shape)} do not match logits ${shapeStr(logits.shape)}`);
    wd = w.f32(op);
  }
  const reduction = opts.reduction ?? 'mean';
  let div: number;
  if (reduction === 'mean') div = logits.size;
  else if (reduction === 'sum') div = 1;
  else if (reduction === 'batchmean') div = logits.ndim > 0 ? logits.shape[0] : 1;
  else throw new Error(`${op}: unknown reduction "${String(reduction)}" (expected mean, sum or batchmean)`);
  if (div === 0) throw new Error(`${op}: empty input ${shapeStr(logits.shape)}`);
  const needGrad = isGradEnabled() && logits.requiresGrad;
  const grad = needGrad ? emptyF32(logits.size) : null;
  const total = backend().sigmoidBce(logits.f32(op), t.f32(op), wd, grad);
  const out = new Tensor(Float32Array.of(total / div), []);
  if (!grad) return out;
  return record(out, op, [logits], (g) => [scaled(grad, g.item() / div, logits.shape)]);
}

function scaled(grad: Float32Array, s: number, shape: readonly number[]): Tensor {
  const out = emptyF32(grad.length);
  backend().unary(Unary.affine, grad, out, s, 0);
  return new Tensor(out, shape);
}
