/**
 * Reverse-mode autodiff, micrograd style: every op that builds a graph node attaches its own
 * backward closure (`record` below), and `backward` is one topological sweep over the tape.
 * The sort is iterative, so graphs of any depth work (no recursion limit).
 */
import type { Tensor } from '../tensor/tensor.js';
import { isGradEnabled, noGrad } from './grad-mode.js';
import { shapeStr, sameShape } from '../tensor/shape.js';
import { accumulate, onesFor } from './ops/accumulate.js';
import { memoryKey, recycle, trackAllocations } from '../tensor/alloc.js';
import { CudaStorage, keepBlock } from '../backend/cuda/index.js';
import type { F32Storage } from '../backend/device.js';
import { clone } from './ops/shaping.js';

/**
 * A node of the tape: the op's name, its inputs, and a closure that maps the gradient of the
 * output to the gradients of the inputs (null where an input needs none).
 */
export interface Node {
  op: string;
  inputs: Tensor[];
  backward: (gradOut: Tensor) => (Tensor | null)[];
}

/**
 * Attach a node to `out` when gradients are on and some input requires them. Returns `out`.
 * The backward closure receives the gradient of `out` (same shape as `out`).
 */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: Node['backward']): Tensor {
  if (!isGradEnabled()) return out;
  let needs = false;
  for (const t of inputs) if (t.requiresGrad) needs = true;
  if (!needs) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, backward };
  return out;
}

/** Topological order (inputs before outputs) of the nodes that lead to root, iteratively. */
function topoSort(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top.t.node ? top.t.node.inputs : [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

/**
 * Backpropagate from `root`. Gradients accumulate into `.grad` of the leaves that require them
 * (as in PyTorch); the graph is freed afterwards, so call backward once per forward pass.
 */
export function backward(root: Tensor, gradOut?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: the tensor ${shapeStr(root.shape)} does not require grad (no input of its graph has requiresGrad = true)`);
  }
  let seed: Tensor;
  if (gradOut === undefined) {
    if (root.size !== 1) throw new Error(`backward: a gradient must be given for a non-scalar output of shape ${shapeStr(root.shape)}`);
    seed = onesFor(root);
  } else {
    if (!sameShape(gradOut.shape, root.shape)) throw new Error(`backward: gradient shape ${shapeStr(gradOut.shape)} does not match output shape ${shapeStr(root.shape)}`);
    seed = gradOut;
  }
  const order = topoSort(root);
  const grads = new Map<Tensor, Tensor>();
  // Buffer bookkeeping for the gradient cache (tensor/alloc.ts): how many entries of `grads` use
  // each buffer, and the buffers that must outlive the sweep (the seed, leaves' .grad). A buffer
  // whose count drops to 0 and is not pinned is dead and goes back to the cache (recycleF32 only
  // takes buffers allocated inside this sweep).
  const pending = new Map<object, number>();
  const pinned = new Set<object>();
  const key = (x: Tensor): object => memoryKey(x.data as F32Storage);
  const hold = (x: Tensor) => pending.set(key(x), (pending.get(key(x)) ?? 0) + 1);
  const drop = (x: Tensor) => {
    const b = key(x);
    const c = (pending.get(b) ?? 0) - 1;
    if (c > 0) {
      pending.set(b, c);
      return;
    }
    pending.delete(b);
    if (!pinned.has(b) && x.dtype === 'float32') recycle(x.data as F32Storage);
  };
  // A leaf's gradient on the GPU gets its own block, exempt from memory scopes (tidy): it lives
  // until the next zeroGrad() or accumulation, whatever scope the backward ran in.
  const ownGrad = (g: Tensor): Tensor => {
    if (!(g.data instanceof CudaStorage)) return g;
    const c = clone(g);
    keepBlock((c.data as CudaStorage).block);
    return c;
  };
  grads.set(root, seed);
  pinned.add(key(seed));
  hold(seed);
  noGrad(() => trackAllocations(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      grads.delete(t);
      if (g === undefined) continue;
      const node = t.node;
      if (node === null) {
        if (t.grad === null) {
          t.grad = ownGrad(g);
          pinned.add(key(t.grad));
        } else {
          const old = t.grad;
          t.grad = accumulate(old, g); // a fresh block: owned by the leaf as it is
          if (t.grad.data instanceof CudaStorage) keepBlock(t.grad.data.block);
          pinned.add(key(t.grad));
          if (old.data instanceof CudaStorage && old.data.block.kept) old.data.block.dispose();
        }
        drop(g);
        continue;
      }
      const inputGrads = node.backward(g);
      for (let j = 0; j < node.inputs.length; j++) {
        const inp = node.inputs[j];
        const gi = inputGrads[j];
        if (gi === null || gi === undefined || !inp.requiresGrad) continue;
        if (!sameShape(gi.shape, inp.shape)) {
          throw new Error(`backward: op ${node.op} produced a gradient of shape ${shapeStr(gi.shape)} for an input of shape ${shapeStr(inp.shape)}`);
        }
        const prev = grads.get(inp);
        if (prev === undefined) {
          grads.set(inp, gi);
          hold(gi);
        } else {
          const sum = accumulate(prev, gi);
          grads.set(inp, sum);
          hold(sum);
          drop(prev);
          // gi itself is dead now unless it shares a buffer with a pending gradient (e.g. g)
          if (!pending.has(key(gi)) && !pinned.has(key(gi)) && gi.dtype === 'float32') recycle(gi.data as F32Storage);
        }
      }
      drop(g);
      // Free the graph as we go (PyTorch's retain_graph=false): intermediate buffers can be collected.
      t.node = null;
    }
  }));
}
