/** One split of a dataset: `x` holds `n` samples of `sampleShape` each, row-major. */
export interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface Dataset {
  name: string;
  /** Shape of one sample, e.g. [1, 28, 28] (CHW) or [d] for vectors. */
  sampleShape: number[];
  numClasses: number;
  classNames: string[];
  train: Split;
  val: Split;
  test: Split;
  /** Training-split counts per class (after transforms). */
  classCounts: Int32Array;
  /** True η(x) = P(Y = j | x), n × C row-major, when known (synthetic data). */
  posterior?: { train?: Float32Array; val?: Float32Array; test?: Float32Array };
  /** Seed, split sizes, transforms applied, cache information... */
  meta: Record<string, unknown>;
}

export type SplitName = 'train' | 'val' | 'test';

/** Number of scalars in one sample. */
export function sampleSize(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) s *= d;
  return s;
}

/** Per-class counts of integer labels in [0, numClasses). */
export function countClasses(y: Int32Array, numClasses: number): Int32Array {
  const c = new Int32Array(numClasses);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (v < 0 || v >= numClasses) throw new Error(`label ${v} at index ${i} is outside [0, ${numClasses})`);
    c[v]++;
  }
  return c;
}
