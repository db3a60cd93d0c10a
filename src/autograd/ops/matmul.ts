/**
 * Matrix multiply: 2-D and batched (batch dimensions broadcast), one strided GEMM call.
 * Transposed operands are read through their strides, never copied.
 */
import { emptyF32On } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import { deviceOfAll, kernelsFor } from './device.js';
import { broadcastShapes, numel, shapeStr } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { sumToShape } from './elementwise.js';
import { expand, transpose, contiguous } from './shaping.js';

/** A single stride that walks the (flattened) batch dimensions of a view, or null if none does. */
function batchStride(t: Tensor): number | null {
  const nb = t.ndim - 2;
  let stride: number | null = null;
  let expect: number | null = null;
  for (let i = nb - 1; i >= 0; i--) {
    if (t.shape[i] === 1) continue;
    if (stride === null) {
      stride = t.strides[i];
      expect = stride * t.shape[i];
    } else {
      if (t.strides[i] !== expect) return null;
      expect = t.strides[i] * t.shape[i];
    }
  }
  return stride ?? 0;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`matmul: expected float32 tensors, got ${a.dtype} and ${b.dtype}`);
  if (a.ndim < 1 || b.ndim < 1) throw new Error(`matmul: expected tensors with at least one dimension, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  // 1-D operands, as in NumPy: a vector on the left is a row, on the right a column.
  if (a.ndim === 1) return matmul(a.reshape([1, a.shape[0]]), b).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.reshape([b.shape[0], 1])).squeeze(-1);
  const device = deviceOfAll('matmul', a, b);
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const n = b.shape[b.ndim - 1];
  if (b.shape[b.ndim - 2] !== k) {
    throw new Error(`matmul: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} are incompatible (inner dimensions ${k} and ${b.shape[b.ndim - 2]})`);
  }
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = numel(batchShape);
  let ae = batchShape.length > 0 ? expand(a.detach(), [...batchShape, m, k]) : a;
  let be = batchShape.length > 0 ? expand(b.detach(), [...batchShape, k, n]) : b;
  let aBs = batchStride(ae);
  if (aBs === null) {
    ae = contiguous(ae.detach());
    aBs = m * k;
  }
  let bBs = batchStride(be);
  if (bBs === null) {
    be = contiguous(be.detach());
    bBs = k * n;
  }
  const out = emptyF32On(device, batch * m * n);
  if (out.length > 0) {
    kernelsFor(a).gemm(
      batch, m, n, k, 1,
      ae.data as Float32Array, ae.offset, ae.strides[ae.ndim - 2], ae.strides[ae.ndim - 1], aBs,
      be.data as Float32Array, be.offset, be.strides[be.ndim - 2], be.strides[be.ndim - 1], bBs,
      0, out, 0, n, m * n,
    );
  }
  const result = new Tensor(out, [...batchShape, m, n]);
  return record(result, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumToShape(matmul(g, transpose(b, -1, -2)), a.shape) : null,
    b.requiresGrad ? sumToShape(matmul(transpose(a, -1, -2), g), b.shape) : null,
  ]);
}
