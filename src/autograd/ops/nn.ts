/**
 * Layer primitives on NCHW tensors: conv2d, pooling, batch norm, dropout. Each forward calls one
 * backend kernel and its backward closure calls the matching backward kernel.
 */
import { emptyF32On, emptyI32On, hostToDevice } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import type { ConvGeom, PoolGeom } from '../../backend/index.js';
import type { F32Storage } from '../../backend/device.js';
import { deviceOfAll, kernelsFor } from './device.js';
import { shapeStr } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { mean } from './reduce.js';
import { mul } from './elementwise.js';
import type { Rng } from '../../tensor/rng.js';

function need4d(op: string, x: Tensor): void {
  if (x.ndim !== 4) throw new Error(`${op}: expected a 4-D NCHW input, got shape ${shapeStr(x.shape)}`);
  if (x.dtype !== 'float32') throw new Error(`${op}: expected float32 input, got ${x.dtype}`);
}

function checkInt(op: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${op}: ${name} must be an integer ≥ ${min}, got ${v}`);
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/** 2-D convolution: x [N,C,H,W], weight [O,C,KH,KW], optional bias [O]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  need4d('conv2d', x);
  checkInt('conv2d', 'stride', stride, 1);
  checkInt('conv2d', 'padding', pad, 0);
  if (weight.ndim !== 4 || weight.shape[1] !== x.shape[1]) {
    throw new Error(`conv2d: weight of shape ${shapeStr(weight.shape)} does not match input ${shapeStr(x.shape)} (expected [O, ${x.shape[1]}, KH, KW])`);
  }
  const [n, c, h, w] = x.shape;
  const [o, , kh, kw] = weight.shape;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== o)) throw new Error(`conv2d: bias of shape ${shapeStr(bias.shape)} does not match ${o} output channels`);
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  if (oh < 1 || ow < 1) throw new Error(`conv2d: kernel ${kh}×${kw} with padding ${pad} does not fit input ${shapeStr(x.shape)}`);
  const g: ConvGeom = { n, c, h, w, o, kh, kw, stride, pad, oh, ow };
  const device = deviceOfAll('conv2d', x, weight, bias);
  const be = kernelsFor(x);
  const xd = x.f32('conv2d');
  const wd = weight.f32('conv2d');
  const out = emptyF32On(device, n * o * oh * ow);
  be.conv2dForward(xd, wd, bias ? bias.f32('conv2d') : null, out, g);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(new Tensor(out, [n, o, oh, ow]), 'conv2d', inputs, (gy) => {
    const gyd = gy.f32('conv2d backward');
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (x.requiresGrad) {
      const d = emptyF32On(device, xd.length);
      be.conv2dBackwardInput(gyd, wd, d, g);
      gx = new Tensor(d, x.shape);
    }
    if (weight.requiresGrad) {
      const d = emptyF32On(device, wd.length);
      be.conv2dBackwardWeight(xd, gyd, d, g);
      gw = new Tensor(d, weight.shape);
    }
    if (bias && bias.requiresGrad) {
      const d = emptyF32On(device, o);
      const per = emptyF32On(device, n * o);
      be.reduceSum(gyd, per, n * o, oh * ow, 1);
      be.reduceSum(per, d, 1, n, o);
      gb = new Tensor(d, bias.shape);
    }
    return bias ? [gx, gw, gb] : [gx, gw];
  });
}

function poolGeom(op: string, x: Tensor, k: number, stride: number, pad: number): PoolGeom {
  need4d(op, x);
  checkInt(op, 'kernel size', k, 1);
  checkInt(op, 'stride', stride, 1);
  checkInt(op, 'padding', pad, 0);
  if (2 * pad > k) throw new Error(`${op}: padding ${pad} must be at most half the kernel size ${k}`);
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  if (oh < 1 || ow < 1) throw new Error(`${op}: window ${k} with padding ${pad} does not fit input ${shapeStr(x.shape)}`);
  return { n, c, h, w, k, stride, pad, oh, ow };
}

export function maxPool2d(x: Tensor, kernelSize: number, stride = kernelSize, padding = 0): Tensor {
  const g = poolGeom('maxPool2d', x, kernelSize, stride, padding);
  const be = kernelsFor(x);
  const out = emptyF32On(x.device, g.n * g.c * g.oh * g.ow);
  const argmax = emptyI32On(x.device, out.length);
  be.maxPool2dForward(x.f32('maxPool2d'), out, argmax, g);
  return record(new Tensor(out, [g.n, g.c, g.oh, g.ow]), 'maxPool2d', [x], (gy) => {
    const gx = emptyF32On(x.device, x.size);
    be.maxPool2dBackward(gy.f32('maxPool2d backward'), argmax, gx, g);
    return [new Tensor(gx, x.shape)];
  });
}

export function avgPool2d(x: Tensor, kernelSize: number, stride = kernelSize, padding = 0): Tensor {
  const g = poolGeom('avgPool2d', x, kernelSize, stride, padding);
  const be = kernelsFor(x);
  const out = emptyF32On(x.device, g.n * g.c * g.oh * g.ow);
  be.avgPool2dForward(x.f32('avgPool2d'), out, g);
  return record(new Tensor(out, [g.n, g.c, g.oh, g.ow]), 'avgPool2d', [x], (gy) => {
    const gx = emptyF32On(x.device, x.size);
    be.avgPool2dBackward(gy.f32('avgPool2d backward'), gx, g);
    return [new Tensor(gx, x.shape)];
  });
}

/** Mean over H and W: [N,C,H,W] → [N,C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  need4d('globalAvgPool2d', x);
  return mean(x, [2, 3]);
}

/**
 * Running statistics, [C] float32 tensors on the input's device (or Float32Arrays on the CPU),
 * updated in place in training.
 */
export interface BatchNormState {
  runningMean: Tensor | Float32Array;
  runningVar: Tensor | Float32Array;
}

/**
 * Batch norm over the channel axis 1 of [N,C] or [N,C,H,W] input. In training the batch
 * statistics normalise and update the running ones (unbiased variance, PyTorch's momentum rule);
 * in eval the running statistics normalise. relu: true returns relu(batchNorm(...)) computed in the
 * same pass (forward and backward), without the intermediate tensor.
 */
export function batchNorm(
  x: Tensor, gamma: Tensor, beta: Tensor, state: BatchNormState,
  opts: { training: boolean; momentum?: number; eps?: number; relu?: boolean },
): Tensor {
  const op = 'batchNorm';
  if ((x.ndim !== 2 && x.ndim !== 4) || x.dtype !== 'float32') throw new Error(`${op}: expected a float32 [N,C] or [N,C,H,W] input, got ${x.dtype} ${shapeStr(x.shape)}`);
  const n = x.shape[0];
  const c = x.shape[1];
  const hw = x.ndim === 4 ? x.shape[2] * x.shape[3] : 1;
  const runMean = state.runningMean instanceof Tensor ? state.runningMean : new Tensor(state.runningMean, [state.runningMean.length]);
  const runVar = state.runningVar instanceof Tensor ? state.runningVar : new Tensor(state.runningVar, [state.runningVar.length]);
  const device = deviceOfAll(op, x, gamma, beta, runMean, runVar);
  if (gamma.size !== c || beta.size !== c || runMean.size !== c || runVar.size !== c) {
    throw new Error(`${op}: parameters for ${gamma.size} channels do not match input ${shapeStr(x.shape)} with ${c} channels`);
  }
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const training = opts.training;
  const fuseRelu = opts.relu === true;
  if (training && n * hw < 2) throw new Error(`${op}: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
  const be = kernelsFor(x);
  const xd = x.f32(op);
  const gd = gamma.f32(op);
  const out = emptyF32On(device, xd.length);
  const rm = runningStorage(op, runMean);
  const rv = runningStorage(op, runVar);
  // eval mode reads the running statistics, which training may overwrite later: a copy
  const meanBuf = emptyF32On(device, c);
  const varBuf = emptyF32On(device, c);
  if (!training) {
    be.copy(rm, 0, [1], meanBuf, 0, [1], [c]);
    be.copy(rv, 0, [1], varBuf, 0, [1], [c]);
  }
  be.batchNormForward(xd, gd, beta.f32(op), out, meanBuf, varBuf, n, c, hw, eps, training, fuseRelu);
  if (training) {
    const m = n * hw;
    be.axpby(meanBuf, rm, 1 - momentum, momentum);
    be.axpby(varBuf, rv, 1 - momentum, momentum * (m / (m - 1)));
  }
  return record(new Tensor(out, x.shape), fuseRelu ? 'batchNormRelu' : op, [x, gamma, beta], (gy) => {
    const gx = emptyF32On(device, xd.length);
    const gg = emptyF32On(device, c);
    const gb = emptyF32On(device, c);
    be.batchNormBackward(xd, gy.f32(op), gd, meanBuf, varBuf, gx, gg, gb, n, c, hw, eps, training, fuseRelu ? out : null);
    return [new Tensor(gx, x.shape), new Tensor(gg, gamma.shape), new Tensor(gb, beta.shape)];
  });
}

/** The dense storage of a running-statistics tensor, updated in place. */
function runningStorage(op: string, t: Tensor): F32Storage {
  if (t.dtype !== 'float32' || !t.isContiguous() || t.offset !== 0 || t.data.length !== t.size) {
    throw new Error(`${op}: running statistics must be dense float32 tensors, got ${t.toString()}`);
  }
  return t.data as F32Storage;
}

/**
 * Inverted dropout: zero each entry with probability p and scale the rest by 1/(1-p). The mask is
 * drawn on the CPU from `rng` (the same mask on every device) and copied to the input's device.
 */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const mask = new Float32Array(x.size);
  const scale = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < p ? 0 : scale;
  return mul(x, new Tensor(hostToDevice(x.device, mask), x.shape));
}
