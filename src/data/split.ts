/** Helpers shared by the image loaders: uint8 → Float32 splits and seeded train/val splits. */
import { Rng } from './rng.js';
import type { Split } from './types.js';

const U8_SCALE = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

/**
 * Builds a Split from uint8 pixels/labels, taking samples `indices` (in that order; all when
 * omitted), pixels scaled to [0, 1] by /255.
 */
export function u8Split(
  pixels: Uint8Array,
  labels: ArrayLike<number>,
  sample: number,
  indices?: ArrayLike<number>,
): Split {
  const n = indices ? indices.length : labels.length;
  const x = new Float32Array(n * sample);
  const y = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    const src = i * sample;
    const dst = k * sample;
    for (let t = 0; t < sample; t++) x[dst + t] = U8_SCALE[pixels[src + t]];
    y[k] = labels[i];
  }
  return { x, y, n };
}

/**
 * Seeded train/val split of a pool of `n` samples: perm = new Rng(seed).permutation(n);
 * val = perm[0 .. valSize), train = perm[valSize .. n). Train is then cut to its first
 * `limit` indices when given.
 */
export function trainValIndices(
  n: number,
  valSize: number,
  seed: number,
  limit?: number,
): { train: Int32Array; val: Int32Array } {
  const perm = new Rng(seed).permutation(n);
  const val = perm.slice(0, valSize);
  let train = perm.slice(valSize);
  if (limit !== undefined) train = train.slice(0, limit);
  return { train, val };
}

/** A fixed permutation (seeded by a constant) used to order test sets identically for every seed. */
export function fixedPermutation(n: number, constantSeed: number): Int32Array {
  return new Rng(constantSeed).permutation(n);
}
