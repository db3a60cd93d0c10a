/** Threshold search (no gradient): the m-th largest value, optionally among masked entries. */
import { Tensor } from '../../tensor/tensor.js';
import { backend } from '../../backend/index.js';
import { shapeStr } from '../../tensor/shape.js';

/**
 * The m-th largest value of `scores` (m = 1 is the maximum), among the entries whose mask byte is
 * non-zero when a mask is given. Expected O(n) (selection, not a sort).
 */
export function kthLargest(scores: Tensor | Float32Array, m: number, mask: Uint8Array | null = null): number {
  const x = scores instanceof Tensor ? scores.f32('kthLargest') : scores;
  if (!(x instanceof Float32Array)) throw new Error('kthLargest: expected a float32 Tensor or Float32Array');
  if (mask !== null && mask.length !== x.length) {
    throw new Error(`kthLargest: mask has ${mask.length} entries but scores${scores instanceof Tensor ? ' ' + shapeStr(scores.shape) : ''} have ${x.length}`);
  }
  let count = x.length;
  if (mask !== null) {
    count = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) count++;
  }
  if (!Number.isInteger(m) || m < 1 || m > count) throw new Error(`kthLargest: m must be an integer in [1, ${count}], got ${m}`);
  return backend().selectKth(x, m, mask);
}
