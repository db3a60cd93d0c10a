/** Device checks and kernel lookup shared by the ops. */
import type { Tensor } from '../../tensor/tensor.js';
import { kernelsOn, type AnyBackend, type Device } from '../../backend/device.js';
import { shapeStr } from '../../tensor/shape.js';

/** The common device of an op's tensor inputs; an error naming both devices when they differ. */
export function deviceOfAll(op: string, ...tensors: (Tensor | null | undefined)[]): Device {
  let first: Tensor | null = null;
  for (const t of tensors) {
    if (!t) continue;
    if (first === null) first = t;
    else if (t.device !== first.device) {
      throw new Error(
        `${op}: expected all tensors on the same device, got ${first.device} (${first.dtype} ${shapeStr(first.shape)}) and ` +
          `${t.device} (${t.dtype} ${shapeStr(t.shape)}); move one with .to("${first.device}") or .to("${t.device}")`,
      );
    }
  }
  return first === null ? 'cpu' : first.device;
}

/** The kernel table of a tensor's device. */
export function kernelsFor(t: Tensor): AnyBackend {
  return kernelsOn(t.device);
}
