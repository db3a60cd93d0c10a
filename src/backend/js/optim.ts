/** In-place optimiser updates with PyTorch semantics, computed in double per element. */
import type { F32 } from '../types.js';
import { checkSameLength } from './check.js';

/**
 * SGD (dampening 0): g = grad + wd*param; with momentum, buf = g on the first step, else
 * buf = momentum*buf + g, and step = nesterov ? g + momentum*buf : buf; without momentum step = g
 * (buf untouched). param -= lr*step.
 */
export function sgdStep(
  param: F32, grad: F32, buf: F32, lr: number, momentum: number, weightDecay: number,
  nesterov: boolean, firstStep: boolean,
): void {
  const op = 'sgdStep';
  checkSameLength(op, 'grad', grad, 'param', param);
  const n = param.length;
  if (momentum === 0) {
    for (let i = 0; i < n; i++) {
      const g = grad[i]! + weightDecay * param[i]!;
      param[i] = param[i]! - lr * g;
    }
    return;
  }
  checkSameLength(op, 'buf', buf, 'param', param);
  for (let i = 0; i < n; i++) {
    const p = param[i]!;
    const g = grad[i]! + weightDecay * p;
    const bNew = firstStep ? g : momentum * buf[i]! + g;
    buf[i] = bNew;
    // The step uses the stored (float32) buffer, as PyTorch does.
    const bf = buf[i]!;
    const step = nesterov ? g + momentum * bf : bf;
    param[i] = p - lr * step;
  }
}

/**
 * Adam / AdamW. decoupled=false: g = grad + wd*param. decoupled=true: param *= 1 - lr*wd first.
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; param -= lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 */
export function adamStep(
  param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
  weightDecay: number, step: number, decoupled: boolean,
): void {
  const op = 'adamStep';
  checkSameLength(op, 'grad', grad, 'param', param);
  checkSameLength(op, 'm', m, 'param', param);
  checkSameLength(op, 'v', v, 'param', param);
  if (!Number.isInteger(step) || step < 1) throw new Error(`${op}: step must be an integer ≥ 1, got ${step}`);
  const n = param.length;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const decay = decoupled ? 1 - lr * weightDecay : 1;
  const wdG = decoupled ? 0 : weightDecay;
  for (let i = 0; i < n; i++) {
    let p = param[i]!;
    const g = grad[i]! + wdG * p;
    p *= decay;
    m[i] = beta1 * m[i]! + (1 - beta1) * g;
    v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
    // Moments as stored (float32), as PyTorch does.
    param[i] = p - (lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + eps);
  }
}
