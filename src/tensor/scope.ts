/**
 * Memory scopes for device tensors (tfjs's tidy / keep): GPU memory is otherwise freed when the
 * garbage collector finds a tensor, which in a training loop can be much later than the step that
 * made it. On the CPU these are no-ops (typed arrays are collected as usual).
 */
import { Tensor } from './tensor.js';
import { CudaStorage, keepBlock, withScope, type CudaBlock } from '../backend/cuda/index.js';

function blocksIn(value: unknown, out: CudaBlock[], depth = 0): void {
  if (value instanceof Tensor) {
    if (value.data instanceof CudaStorage) out.push(value.data.block);
    if (value.grad && value.grad.data instanceof CudaStorage) out.push(value.grad.data.block);
    return;
  }
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) for (const v of value) blocksIn(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) blocksIn(v, out, depth + 1);
  }
}

/**
 * Runs fn and frees the device memory of every tensor created meanwhile, except the tensors it
 * returns (alone, or in arrays and plain objects) and those passed to `keep`. Nested scopes pass
 * their results to the enclosing one. An exception frees everything the scope made.
 */
export function tidy<T>(fn: () => T): T {
  return withScope(fn, (result) => {
    const out: CudaBlock[] = [];
    blocksIn(result, out);
    return out;
  });
}

/** Exempts a tensor's device memory from every scope (it lives until disposed or collected). Returns it. */
export function keep<T extends Tensor>(t: T): T {
  if (t.data instanceof CudaStorage) keepBlock(t.data.block);
  return t;
}
