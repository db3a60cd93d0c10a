/** Weight initialisation (He et al. 2015, "Kaiming"), from a seeded generator. */
import type { Rng } from '../tensor/rng.js';

/** N(0, 2/fanIn): Kaiming normal for ReLU networks (fan-in mode). */
export function kaimingNormal(n: number, fanIn: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  rng.fillNormal(out, 0, Math.sqrt(2 / fanIn));
  return out;
}

/** U(-b, b) with b = sqrt(6/fanIn): Kaiming uniform for ReLU networks (fan-in mode). */
export function kaimingUniform(n: number, fanIn: number, rng: Rng): Float32Array {
  const b = Math.sqrt(6 / fanIn);
  return uniform(n, -b, b, rng);
}

export function uniform(n: number, lo: number, hi: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}
