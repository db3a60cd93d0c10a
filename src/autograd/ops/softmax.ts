/** Softmax and log-softmax over one axis (rows of the last axis after moving it there). */
import { emptyF32On } from '../../tensor/alloc.js';
import { Tensor } from '../../tensor/tensor.js';
import { kernelsFor } from './device.js';
import { normAxis } from '../../tensor/shape.js';
import { record } from '../engine.js';
import { transpose } from './shaping.js';

function softmaxImpl(x: Tensor, axis: number, log: boolean): Tensor {
  const name = log ? 'logSoftmax' : 'softmax';
  const a = normAxis(name, axis, x.ndim);
  if (x.ndim === 0) throw new Error(`${name}: expected at least one dimension`);
  if (a !== x.ndim - 1) return transpose(softmaxImpl(transpose(x, a, -1), -1, log), a, -1);
  const cols = x.shape[a];
  const rows = cols === 0 ? 0 : x.size / cols;
  const be = kernelsFor(x);
  const xd = x.f32(name);
  const yd = emptyF32On(x.device, xd.length);
  if (yd.length > 0) be.softmax(xd, yd, rows, cols, log);
  return record(new Tensor(yd, x.shape), name, [x], (g) => {
    const gx = emptyF32On(x.device, yd.length);
    if (gx.length > 0) be.softmaxBackward(yd, g.f32(name), gx, rows, cols, log);
    return [new Tensor(gx, x.shape)];
  });
}

export const softmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, false);
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxImpl(x, axis, true);
