/**
 * avgk: set-valued deep classification with average-K guarantees.
 * Public API: tensors and autograd, backends, nn layers, optimisers, average-K losses and
 * calibration, datasets, the training loop.
 */
export { Tensor, tensor, fromArray, zeros, ones, full, zerosLike, onesLike, arange } from './tensor/tensor.js';
export type { DType, TensorLike, Device, CreationOptions } from './tensor/tensor.js';
export { tidy, keep } from './tensor/scope.js';
export { AvgkError, UsageError, DataError, CheckpointError, DeviceError, NativeError, DivergenceError, errorCode } from './errors.js';
export {
  cudaAvailable, cudaDeviceInfo, cudaMemStats, cudaResetPeak, cudaEmptyCache, cudaSynchronize, setTf32, getTf32,
} from './backend/cuda/index.js';
export type { CudaDeviceInfo, CudaMemStats } from './backend/cuda/index.js';
export { rand, randn, randint, manualSeed, globalGenerator, Rng } from './tensor/random.js';
export { noGrad, isGradEnabled } from './autograd/grad-mode.js';
export { setBufferCacheLimit, emptyBufferCache, bufferCacheBytes, tuneMemoryForTraining } from './tensor/alloc.js';
export { add, sub, mul, div, neg, exp, log, sqrt, pow, abs, relu, sigmoid, tanh, maximum, minimum, clamp } from './autograd/ops/elementwise.js';
export { sum, mean, max, argmax } from './autograd/ops/reduce.js';
export { matmul } from './autograd/ops/matmul.js';
export { reshape, transpose, permute, expand, slice, concat, stack, gather, indexSelect, squeeze, unsqueeze } from './autograd/ops/shaping.js';
export { softmax, logSoftmax } from './autograd/ops/softmax.js';
export { softmaxCrossEntropy, sigmoidBce } from './autograd/ops/loss.js';
export type { BceReduction } from './autograd/ops/loss.js';
export { conv2d, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm, dropout } from './autograd/ops/nn.js';
export { kthLargest } from './autograd/ops/select.js';
export { backend, backendName, setBackend, nativeAvailable, setNumThreads, getNumThreads } from './backend/index.js';
export type { Backend, BackendName } from './backend/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as avgk from './avgk/index.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export { TwoHeadModel, buildModel } from './avgk/model.js';
export { createMethod, METHOD_NAMES } from './avgk/losses.js';
export { calibrateThreshold, predictSets } from './avgk/calibrate.js';
export { fit, fitAsync, fitSteps } from './train/fit.js';
export { loadPredictor, Predictor, type Preprocessing, type SetPrediction } from './train/predictor.js';
export type { RunSpec } from './train/spec.js';
export { loadDataset } from './data/index.js';
export * as io from './io/index.js';
export * as report from './report/index.js';
