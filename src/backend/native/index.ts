/**
 * The native backend: the Backend kernels implemented by the C++ addon. Any kernel the loaded
 * addon lacks comes from `fallback` (the TypeScript backend). Arguments are passed straight
 * through: the C++ binding validates everything and throws `avgk native <op>: ...` errors.
 */
import type { Backend, KernelName } from '../types.js';
import type { NativeAddon } from './addon.js';

export function createNativeBackend(addon: NativeAddon, fallback: Backend): Backend {
  const a = addon as Partial<NativeAddon>;
  const has = (k: KernelName): boolean => typeof a[k] === 'function';
  const pick = <K extends KernelName>(k: K, native: Backend[K]): Backend[K] => (has(k) ? native : fallback[k]);

  return {
    name: 'native',
    setNumThreads: (n) => addon.setNumThreads(n),
    getNumThreads: () => addon.getNumThreads(),

    unary: pick('unary', (op, x, out, p, q) => addon.unary(op, x, out, p, q)),
    unaryBackward: pick('unaryBackward', (op, x, y, gy, gx, p, q) => addon.unaryBackward(op, x, y, gy, gx, p, q)),
    binary: pick('binary', (op, a, aOffset, aStrides, b, bOffset, bStrides, out, shape) =>
      addon.binary(op, a, aOffset, aStrides, b, bOffset, bStrides, out, shape)),
    copy: pick('copy', (x, xOffset, xStrides, out, outOffset, outStrides, shape) =>
      addon.copy(x, xOffset, xStrides, out, outOffset, outStrides, shape)),

    reduceSum: pick('reduceSum', (x, out, outer, mid, inner) => addon.reduceSum(x, out, outer, mid, inner)),
    reduceMax: pick('reduceMax', (x, out, argmax, outer, mid, inner) =>
      addon.reduceMax(x, out, argmax, outer, mid, inner)),

    gemm: pick('gemm', (batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, c, cOff, cRs, cBs) =>
      addon.gemm(batch, m, n, k, alpha, a, aOff, aRs, aCs, aBs, b, bOff, bRs, bCs, bBs, beta, c, cOff, cRs, cBs)),

    conv2dForward: pick('conv2dForward', (x, w, bias, out, g) => addon.conv2dForward(x, w, bias ?? null, out, g)),
    conv2dBackwardInput: pick('conv2dBackwardInput', (gy, w, gx, g) => addon.conv2dBackwardInput(gy, w, gx, g)),
    conv2dBackwardWeight: pick('conv2dBackwardWeight', (x, gy, gw, g) => addon.conv2dBackwardWeight(x, gy, gw, g)),
    maxPool2dForward: pick('maxPool2dForward', (x, out, argmax, g) => addon.maxPool2dForward(x, out, argmax, g)),
    maxPool2dBackward: pick('maxPool2dBackward', (gy, argmax, gx, g) => addon.maxPool2dBackward(gy, argmax, gx, g)),
    avgPool2dForward: pick('avgPool2dForward', (x, out, g) => addon.avgPool2dForward(x, out, g)),
    avgPool2dBackward: pick('avgPool2dBackward', (gy, gx, g) => addon.avgPool2dBackward(gy, gx, g)),

    batchNormForward: pick('batchNormForward', (x, gamma, beta, out, mean, variance, n, c, hw, eps, training) =>
      addon.batchNormForward(x, gamma, beta, out, mean, variance, n, c, hw, eps, training)),
    batchNormBackward: pick('batchNormBackward',
      (x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, eps, training) =>
        addon.batchNormBackward(x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, eps, training)),

    softmax: pick('softmax', (x, out, rows, cols, log) => addon.softmax(x, out, rows, cols, log)),
    softmaxBackward: pick('softmaxBackward', (y, gy, gx, rows, cols, log) =>
      addon.softmaxBackward(y, gy, gx, rows, cols, log)),
    softmaxCrossEntropy: pick('softmaxCrossEntropy', (logits, labels, rows, cols, smoothing, grad) =>
      addon.softmaxCrossEntropy(logits, labels, rows, cols, smoothing, grad ?? null)),
    sigmoidBce: pick('sigmoidBce', (logits, targets, weights, grad) =>
      addon.sigmoidBce(logits, targets, weights ?? null, grad ?? null)),

    selectKth: pick('selectKth', (x, m, mask) => addon.selectKth(x, m, mask ?? null)),

    sgdStep: pick('sgdStep', (param, grad, buf, lr, momentum, wd, nesterov, firstStep) =>
      addon.sgdStep(param, grad, buf, lr, momentum, wd, nesterov, firstStep)),
    adamStep: pick('adamStep', (param, grad, m, v, lr, b1, b2, eps, wd, step, decoupled) =>
      addon.adamStep(param, grad, m, v, lr, b1, b2, eps, wd, step, decoupled)),
  };
}
