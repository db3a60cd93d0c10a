/** Global gradient mode, as in PyTorch's torch.no_grad(). */

let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Run fn with gradient recording disabled: ops inside build no graph. Nests and restores on throw. */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      throw new Error('noGrad: the callback returned a Promise; noGrad only supports synchronous callbacks');
    }
    return r;
  } finally {
    enabled = prev;
  }
}

/** Run fn with gradient recording explicitly enabled or disabled. */
export function withGradEnabled<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}
