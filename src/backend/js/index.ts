/**
 * The TypeScript backend: every kernel of the Backend table in plain TypeScript on typed arrays.
 * It is both the fallback when the C++ addon is missing and the oracle of the parity tests, so
 * exact semantics (see ../types.ts) come first. Single-threaded: the thread count is only recorded.
 */
import type { Backend } from '../types.js';
import { batchNormBackward, batchNormForward } from './batchnorm.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from './conv.js';
import { binary, copy, unary, unaryBackward } from './elementwise.js';
import { gemm } from './gemm.js';
import { adamStep, sgdStep } from './optim.js';
import { avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward } from './pool.js';
import { reduceMax, reduceMaxBackward, reduceSum } from './reduce.js';
import { countAboveEqual, markTop, selectKth } from './select.js';
import { axpby, fill, putAdd, putValue, take } from './gather.js';
import { sigmoidBce, softmax, softmaxBackward, softmaxCrossEntropy } from './softmax.js';

let numThreads = 1;

export const jsBackend: Backend = {
  name: 'js',
  setNumThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`js backend setNumThreads: expected a positive integer, got ${n}`);
    }
    numThreads = n;
  },
  getNumThreads(): number {
    return numThreads;
  },
  unary,
  unaryBackward,
  binary,
  copy,
  reduceSum,
  reduceMax,
  gemm,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  maxPool2dForward,
  maxPool2dBackward,
  avgPool2dForward,
  avgPool2dBackward,
  batchNormForward,
  batchNormBackward,
  softmax,
  softmaxBackward,
  softmaxCrossEntropy,
  sigmoidBce,
  selectKth,
  sgdStep,
  adamStep,
  markTop,
  countAboveEqual,
  fill,
  axpby,
  reduceMaxBackward,
  take,
  putAdd,
  putValue,
};
