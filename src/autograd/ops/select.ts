/** Threshold search (no gradient): the m-th largest value, optionally among masked entries. */
import { Tensor } from '../../tensor/tensor.js';
import { backend } from '../../backend/index.js';
import { kernelsOn } from '../../backend/device.js';
import type { CudaStorage } from '../../backend/cuda/index.js';
import { hostToDevice } from '../../tensor/alloc.js';
import { shapeStr } from '../../tensor/shape.js';

/**
 * The m-th largest value of `scores` (m = 1 is the maximum), among the entries whose mask byte is
 * non-zero when a mask is given. Expected O(n) (selection, not a sort). On the GPU the search runs
 * there and only the threshold is read back.
 */
export function kthLargest(scores: Tensor | Float32Array, m: number, mask: Uint8Array | null = null): number {
  const n = scores instanceof Tensor ? scores.size : scores.length;
  if (scores instanceof Tensor && scores.dtype !== 'float32') throw new Error('kthLargest: expected a float32 Tensor or Float32Array');
  if (!(scores instanceof Tensor) && !(scores instanceof Float32Array)) throw new Error('kthLargest: expected a float32 Tensor or Float32Array');
  if (mask !== null && mask.length !== n) {
    throw new Error(`kthLargest: mask has ${mask.length} entries but scores${scores instanceof Tensor ? ' ' + shapeStr(scores.shape) : ''} have ${n}`);
  }
  let count = n;
  if (mask !== null) {
    count = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) count++;
  }
  if (!Number.isInteger(m) || m < 1 || m > count) throw new Error(`kthLargest: m must be an integer in [1, ${count}], got ${m}`);
  if (scores instanceof Tensor && scores.device === 'cuda') {
    const r = kernelsOn('cuda').selectKth(scores.f32('kthLargest'), m, mask === null ? null : hostToDevice('cuda', mask));
    const t = new Tensor(r as CudaStorage, []).item();
    if (Number.isNaN(t)) throw new Error('kthLargest: the scores contain NaN entries (NaN values cannot be ranked)');
    return t;
  }
  return backend().selectKth(scores instanceof Tensor ? (scores.f32('kthLargest') as Float32Array) : scores, m, mask);
}
