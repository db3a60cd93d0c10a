/**
 * Cheap argument checks shared by every kernel of the TypeScript backend.
 *
 * They only look at lengths, sizes and strides (O(ndim)), never at the data, and throw an Error that
 * names the kernel, the buffer and the sizes, e.g. `gemm: c has 10 elements, needs 12 for m=3 n=4`.
 */

interface Sized {
  readonly length: number;
}

/** Throws unless every value is a non-negative integer (sizes, counts). */
export function checkSizes(op: string, sizes: Readonly<Record<string, number>>): void {
  for (const key in sizes) {
    const v = sizes[key]!;
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`${op}: ${key} must be a non-negative integer, got ${v}`);
    }
  }
}

/** Throws unless every value is an integer (offsets, strides; strides may be negative). */
export function checkIntegers(op: string, values: Readonly<Record<string, number>>): void {
  for (const key in values) {
    const v = values[key]!;
    if (!Number.isInteger(v)) throw new Error(`${op}: ${key} must be an integer, got ${v}`);
  }
}

/** Dense buffer: its length must be exactly `needed`. `detail` describes the sizes ("m=3 n=4"). */
export function checkLength(op: string, name: string, buf: Sized, needed: number, detail: string): void {
  if (buf.length !== needed) {
    throw new Error(`${op}: ${name} has ${buf.length} elements, needs ${needed} for ${detail}`);
  }
}

/** Two buffers that must have the same length (elementwise kernels). */
export function checkSameLength(op: string, name: string, buf: Sized, refName: string, ref: Sized): void {
  if (buf.length !== ref.length) {
    throw new Error(
      `${op}: ${name} has ${buf.length} elements, needs ${ref.length} (the length of ${refName})`,
    );
  }
}

/**
 * Strided buffer: every index offset + Σ i_d * strides[d] for 0 ≤ i_d < sizes[d] must lie inside
 * the buffer. Nothing is read when a size is 0, so nothing is required then.
 */
export function checkStrided(
  op: string,
  name: string,
  buf: Sized,
  offset: number,
  sizes: readonly number[],
  strides: readonly number[],
  detail: string,
): void {
  let lo = offset;
  let hi = offset;
  for (let d = 0; d < sizes.length; d++) {
    const s = sizes[d]!;
    if (s === 0) return;
    const span = (s - 1) * strides[d]!;
    if (span > 0) hi += span;
    else lo += span;
  }
  if (lo < 0) {
    throw new Error(`${op}: ${name} would be read at index ${lo} < 0 for ${detail}`);
  }
  if (hi >= buf.length) {
    throw new Error(`${op}: ${name} has ${buf.length} elements, needs ${hi + 1} for ${detail}`);
  }
}

/** Product of the sizes (1 for an empty shape). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (let d = 0; d < shape.length; d++) n *= shape[d]!;
  return n;
}
