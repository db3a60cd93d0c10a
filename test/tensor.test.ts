/** Tensors: creation, views, broadcasting, reading, and clear errors on bad input. */
import { describe, it, expect } from 'vitest';
import {
  Tensor, tensor, fromArray, zeros, ones, full, arange, rand, randn, randint, manualSeed, Rng,
  matmul, concat, softmaxCrossEntropy, sigmoidBce, kthLargest, conv2d, maxPool2d, add, noGrad, mean,
} from '../src/index.js';

describe('creation and reading', () => {
  it('builds tensors from nested arrays, typed arrays and shapes', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(tensor(3).item()).toBe(3);
    expect(tensor([1, 2], { dtype: 'int32' }).dtype).toBe('int32');
    expect(fromArray(new Int32Array([1, 2, 3, 4]), [2, 2]).dtype).toBe('int32');
    expect(zeros([2, 2]).toFlatArray()).toEqual([0, 0, 0, 0]);
    expect(ones([3]).toFlatArray()).toEqual([1, 1, 1]);
    expect(full([2], 7).toFlatArray()).toEqual([7, 7]);
    expect(arange(5).toFlatArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(1, 2, 0.25).toFlatArray()).toEqual([1, 1.25, 1.5, 1.75]);
  });

  it('random tensors are reproducible from a seed', () => {
    manualSeed(7);
    const a = randn([5]).toFlatArray();
    const u = rand([5]).toFlatArray();
    manualSeed(7);
    expect(randn([5]).toFlatArray()).toEqual(a);
    expect(rand([5]).toFlatArray()).toEqual(u);
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
    const r = randint(2, 5, [1000], { rng: new Rng(1) }).toFlatArray();
    expect(Math.min(...r)).toBe(2);
    expect(Math.max(...r)).toBe(4);
  });

  it('views share storage and materialise on demand', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    const tt = t.transpose(0, 1);
    expect(tt.data).toBe(t.data);
    expect(tt.isContiguous()).toBe(false);
    expect(tt.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(t.permute(1, 0).reshape([6]).toFlatArray()).toEqual([1, 4, 2, 5, 3, 6]);
    expect(t.slice(1, 1).toArray()).toEqual([[2, 3], [5, 6]]);
    expect(t.slice(0, -1).toArray()).toEqual([[4, 5, 6]]);
    expect(t.reshape(3, -1).shape).toEqual([3, 2]);
    expect(tensor([1, 2]).unsqueeze(0).expand([3, 2]).toArray()).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(concat([t, t], 1).shape).toEqual([2, 6]);
  });

  it('broadcasts elementwise ops (NumPy rules)', () => {
    const a = tensor([[1], [2], [3]]);
    const b = tensor([10, 20]);
    expect(add(a, b).toArray()).toEqual([[11, 21], [12, 22], [13, 23]]);
    expect(tensor([[1, 2], [3, 4]]).sub(tensor([1, 1])).toArray()).toEqual([[0, 1], [2, 3]]);
    expect(mean(tensor([[1, 2], [3, 4]]), 0).toFlatArray()).toEqual([2, 3]);
  });

  it('matmul reads transposes through strides and batches', () => {
    const a = tensor([[1, 2], [3, 4]]);
    expect(matmul(a, a.T).toArray()).toEqual([[5, 11], [11, 25]]);
    const batched = matmul(tensor([[[1, 0], [0, 1]], [[2, 0], [0, 2]]]), a);
    expect(batched.toArray()).toEqual([[[1, 2], [3, 4]], [[2, 4], [6, 8]]]);
  });

  it('kthLargest selects without sorting, with a mask', () => {
    const x = new Float32Array([5, 1, 4, 2, 3]);
    expect(kthLargest(x, 1)).toBe(5);
    expect(kthLargest(x, 5)).toBe(1);
    expect(kthLargest(x, 2, new Uint8Array([0, 1, 1, 1, 1]))).toBe(3);
  });
});

describe('bad input gets clear errors', () => {
  it('shape mismatches name the op and the shapes', () => {
    expect(() => add(zeros([2, 3]), zeros([4]))).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(/matmul: shapes \[2, 3\] and \[4, 5\] are incompatible/);
    expect(() => zeros([2, 3]).reshape([4])).toThrow(/reshape: cannot reshape \[2, 3\]/);
    expect(() => concat([zeros([2, 3]), zeros([2, 4])], 0)).toThrow(/concat/);
    expect(() => conv2d(zeros([1, 2, 5, 5]), zeros([3, 1, 3, 3]))).toThrow(/conv2d: weight of shape \[3, 1, 3, 3\] does not match input \[1, 2, 5, 5\]/);
    expect(() => maxPool2d(zeros([1, 1, 1, 1]), 3)).toThrow(/maxPool2d/);
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => zeros([2, -1])).toThrow(/invalid shape/);
    expect(() => zeros([2]).transpose(0, 3)).toThrow(/axis 3 is out of range/);
  });

  it('wrong dtypes are rejected', () => {
    const ints = tensor([1, 2], { dtype: 'int32' });
    expect(() => ints.exp()).toThrow(/expected a float32 tensor, got int32/);
    expect(() => ints.setRequiresGrad(true)).toThrow(/only float32 tensors can require gradients/);
    expect(() => softmaxCrossEntropy(zeros([2, 3]), tensor([0, 1]))).toThrow(/labels must be an int32 tensor/);
    expect(() => tensor([1.5], { dtype: 'int32' })).toThrow(/integer values/);
  });

  it('labels out of range and wrong counts', () => {
    expect(() => softmaxCrossEntropy(zeros([2, 3]), new Int32Array([0, 3]))).toThrow(/label 3 at row 1 is out of range \[0, 3\)/);
    expect(() => softmaxCrossEntropy(zeros([2, 3]), new Int32Array([-1, 0]))).toThrow(/label -1 at row 0/);
    expect(() => softmaxCrossEntropy(zeros([2, 3]), new Int32Array([0]))).toThrow(/1 labels for 2 rows/);
    expect(() => sigmoidBce(zeros([2, 3]), new Float32Array(5))).toThrow(/targets .* do not match logits \[2, 3\]/);
  });

  it('NaN scores and out-of-range m in threshold search', () => {
    expect(() => kthLargest(new Float32Array([1, NaN, 2]), 1)).toThrow(/NaN/);
    expect(() => kthLargest(new Float32Array([1, 2]), 3)).toThrow(/m must be an integer in \[1, 2\]/);
    expect(() => kthLargest(new Float32Array([1, 2]), 1, new Uint8Array(3))).toThrow(/mask has 3 entries/);
  });

  it('item() on a multi-element tensor, backward without grad', () => {
    expect(() => zeros([2]).item()).toThrow(/one element/);
    expect(() => noGrad(() => zeros([1]).sum()).backward()).toThrow(/does not require grad/);
  });

  it('a Tensor is a Tensor', () => {
    expect(tensor([1]) instanceof Tensor).toBe(true);
  });
});
