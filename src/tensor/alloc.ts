/**
 * Output buffers for kernels. Kernels overwrite their outputs entirely (see backend/types.ts), so
 * large outputs skip the zero-fill of `new Float32Array(n)`: the memory comes uninitialised from
 * the allocator (Buffer.allocUnsafeSlow, never Node's shared pool). Use `new Float32Array(n)`
 * wherever the code accumulates into the buffer.
 */
const SMALL = 4096;

export function emptyF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
}
