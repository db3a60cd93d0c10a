/**
 * Output buffers for kernels, and the gradient-buffer cache.
 *
 * Kernels overwrite their outputs entirely (see backend/types.ts), so large outputs skip the
 * zero-fill of `new Float32Array(n)`: the memory comes uninitialised from the allocator
 * (Buffer.allocUnsafeSlow, never Node's shared pool). Use `new Float32Array(n)` wherever the code
 * accumulates into the buffer.
 *
 * Cache: a typed array's memory only goes back to the allocator when V8's garbage collector finds
 * it, and a training step allocates its activations and gradients again every time (hundreds of
 * MB for a ResNet-18 step: many GCs, fresh pages, page faults). The autograd engine knows when an
 * intermediate gradient is dead (its node's backward has run and nothing else holds it) and hands
 * such buffers back here (`recycleF32`); `emptyF32` reuses them by exact size. Only buffers that
 * this module allocated while `trackAllocations` was active can be recycled, so a user's tensors,
 * forward activations and parameter gradients are never reused. The cache holds at most
 * `setBufferCacheLimit` bytes (default 512 MiB); `emptyBufferCache()` drops it.
 */
import { CudaBlock, CudaStorage, cudaAlloc, cudaFromHost, cudaZeros } from '../backend/cuda/index.js';
import type { Device, F32Storage, I32Storage } from '../backend/device.js';
import { tuneAllocator } from '../backend/index.js';

const SMALL = 4096;

const cache = new Map<number, ArrayBuffer[]>();
let cachedBytes = 0;
/** The cache size `tuneMemoryForTraining` sets: a ResNet-18 step's dead gradients fit. */
export const TRAINING_BUFFER_CACHE_BYTES = 512 * 1024 * 1024;
let limitBytes = 0;
let tracking: WeakSet<ArrayBuffer> | null = null;

export function emptyF32(n: number): Float32Array {
  if (n < SMALL) return new Float32Array(n);
  const list = cache.get(n);
  let ab: ArrayBuffer | undefined;
  if (list !== undefined && list.length > 0) {
    ab = list.pop()!;
    cachedBytes -= ab.byteLength;
  } else {
    const b = Buffer.allocUnsafeSlow(n * 4);
    ab = b.buffer as ArrayBuffer;
  }
  if (tracking !== null) tracking.add(ab);
  return new Float32Array(ab, 0, n);
}

/**
 * Run `fn` with allocation tracking: buffers `emptyF32` hands out meanwhile become recyclable.
 * (Used by backward; nested calls share the outer set.)
 */
export function trackAllocations<T>(fn: () => T): T {
  if (tracking !== null) return fn();
  tracking = new WeakSet();
  try {
    return fn();
  } finally {
    tracking = null;
    trackedBlocks.clear();
  }
}

/**
 * Give a dead buffer back. Ignored unless it was allocated by `emptyF32` inside the current
 * `trackAllocations` scope and spans its whole ArrayBuffer. The caller guarantees that nothing
 * reads or writes `a` afterwards.
 */
export function recycleF32(a: Float32Array): void {
  const ab = a.buffer as ArrayBuffer;
  if (tracking === null || !tracking.has(ab)) return;
  if (a.length < SMALL || a.byteOffset !== 0 || ab.byteLength !== a.length * 4) return;
  tracking.delete(ab);  // at most once
  if (cachedBytes + ab.byteLength > limitBytes) return;
  let list = cache.get(a.length);
  if (list === undefined) {
    list = [];
    cache.set(a.length, list);
  }
  list.push(ab);
  cachedBytes += ab.byteLength;
}

/** Upper bound of the gradient-buffer cache in bytes (0 disables it). Shrinks the cache at once. */
export function setBufferCacheLimit(bytes: number): void {
  if (!(Number.isFinite(bytes) && bytes >= 0)) throw new Error(`setBufferCacheLimit: expected a byte count ≥ 0, got ${bytes}`);
  limitBytes = bytes;
  if (cachedBytes > limitBytes) emptyBufferCache();
}

/** Drop every cached buffer (the memory returns to the allocator at the next GC). */
export function emptyBufferCache(): void {
  cache.clear();
  cachedBytes = 0;
}

/** Bytes currently held by the cache. */
export function bufferCacheBytes(): number {
  return cachedBytes;
}

// ------------------------------------------------------------------ any device
// Output buffers on a tensor's device. On the GPU, blocks allocated inside `trackAllocations`
// are recyclable too: `recycle` frees a dead one at once (the stream-ordered pool reuses it).
const trackedBlocks = new Set<CudaBlock>();

/** Uninitialised float32 storage of n elements on `device` (kernels overwrite it). */
export function emptyF32On(device: Device, n: number): F32Storage {
  if (device === 'cpu') return emptyF32(n);
  const s = cudaAlloc(n);
  if (tracking !== null) trackedBlocks.add(s.block);
  return s;
}

/** Zero-filled float32 storage (for kernels that accumulate). */
export function zerosF32On(device: Device, n: number): F32Storage {
  return device === 'cpu' ? new Float32Array(n) : cudaZeros(n);
}

/** Int32 storage of n elements on `device` (zero-filled on the CPU, uninitialised on the GPU). */
export function emptyI32On(device: Device, n: number): I32Storage {
  return device === 'cpu' ? new Int32Array(n) : cudaAlloc(n, 'int32');
}

/** Host data on `device` (the array itself on the CPU, a device copy otherwise). */
export function hostToDevice<T extends Float32Array | Int32Array | Uint8Array>(device: Device, host: T): T | CudaStorage {
  return device === 'cpu' ? host : cudaFromHost(host);
}

/** Gives a dead float32 buffer back (see recycleF32); on the GPU frees it when it was allocated in the sweep. */
export function recycle(s: F32Storage): void {
  if (s instanceof CudaStorage) {
    if (!trackedBlocks.has(s.block) || !s.whole) return;
    trackedBlocks.delete(s.block);
    s.block.dispose();
    return;
  }
  recycleF32(s);
}

/** The key under which the autograd engine counts the users of a storage's memory. */
export function memoryKey(s: F32Storage | Int32Array): object {
  return s instanceof CudaStorage ? s.block : s.buffer;
}

/**
 * The memory settings that make training loops fast, as one opt-in call for programs that own the
 * process (the CLI and the benchmarks make it; importing the library does not): the gradient-buffer
 * cache at TRAINING_BUFFER_CACHE_BYTES, and the native backend's allocator tuning (freed large
 * blocks stay in the heap: no first-touch page faults for the next step's tensors).
 */
export function tuneMemoryForTraining(): { bufferCacheBytes: number; allocatorTuned: boolean } {
  setBufferCacheLimit(TRAINING_BUFFER_CACHE_BYTES);
  return { bufferCacheBytes: limitBytes, allocatorTuned: tuneAllocator() };
}
