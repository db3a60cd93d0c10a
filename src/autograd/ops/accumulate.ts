/** Gradient accumulation helpers used by the engine (out-of-place: gradients are never mutated). */
import { emptyF32On, hostToDevice } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import { Binary } from '../../backend/index.js';
import { contiguousStrides } from '../../tensor/shape.js';
import { deviceOfAll, kernelsFor } from './device.js';

/** a + b for two float32 tensors of the same shape, as a new contiguous tensor. */
export function accumulate(a: Tensor, b: Tensor): Tensor {
  deviceOfAll('backward (gradient accumulation)', a, b);
  const out = emptyF32On(a.device, a.size);
  const shape = a.ndim === 0 ? [1] : a.shape;
  const as = a.ndim === 0 ? [0] : a.strides;
  const bs = b.ndim === 0 ? [0] : b.strides;
  kernelsFor(a).binary(Binary.add, a.data as Float32Array, a.offset, as, b.data as Float32Array, b.offset, bs, out, shape);
  return new Tensor(out, a.shape, contiguousStrides(a.shape));
}

export function onesFor(t: Tensor): Tensor {
  return new Tensor(hostToDevice(t.device, new Float32Array(t.size).fill(1)), t.shape);
}
