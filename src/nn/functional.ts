/** Functional forms of the ops (torch.nn.functional). */
export { conv2d, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm, dropout } from '../autograd/ops/nn.js';
export { softmaxCrossEntropy, sigmoidBce } from '../autograd/ops/loss.js';
export { softmax, logSoftmax } from '../autograd/ops/softmax.js';
export { relu, sigmoid, tanh } from '../autograd/ops/elementwise.js';
