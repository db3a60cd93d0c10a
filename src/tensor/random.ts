/**
 * Random tensors from a seeded, reproducible generator. A global generator (seeded with
 * manualSeed) is used unless an explicit Rng is passed.
 */
import { Rng } from './rng.js';
import { Tensor } from './tensor.js';
import { checkShape, numel, type Shape } from './shape.js';

export { Rng };

let globalRng = new Rng(0);

/** Reseed the global generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

/** The global generator (its state can be saved with getState() and restored with setState()). */
export function globalGenerator(): Rng {
  return globalRng;
}

interface RandOptions {
  rng?: Rng;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts: RandOptions): Tensor {
  if (opts.requiresGrad) t.setRequiresGrad(true);
  return t;
}

/** Uniform in [lo, hi). */
export function rand(shape: Shape, opts: RandOptions & { low?: number; high?: number } = {}): Tensor {
  checkShape('rand', shape);
  const rng = opts.rng ?? globalRng;
  const lo = opts.low ?? 0;
  const hi = opts.high ?? 1;
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.next();
  return finish(new Tensor(d, shape), opts);
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: Shape, opts: RandOptions & { mean?: number; std?: number } = {}): Tensor {
  checkShape('randn', shape);
  const rng = opts.rng ?? globalRng;
  const d = new Float32Array(numel(shape));
  rng.fillNormal(d, opts.mean ?? 0, opts.std ?? 1);
  return finish(new Tensor(d, shape), opts);
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: Shape, opts: { rng?: Rng } = {}): Tensor {
  checkShape('randint', shape);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new Error(`randint: expected integers low < high, got ${low} and ${high}`);
  }
  const rng = opts.rng ?? globalRng;
  const d = new Int32Array(numel(shape));
  for (let i = 0; i < d.length; i++) d[i] = low + rng.int(high - low);
  return new Tensor(d, shape);
}
