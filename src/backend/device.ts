/**
 * Devices: where a tensor's storage lives ('cpu': typed arrays, 'cuda': device buffers) and the
 * kernel table that works on it.
 */
import type { Backend } from './types.js';
import { backend } from './index.js';
import { cudaBackend, CudaStorage } from './cuda/index.js';

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

/** Float32, int32 and uint8 storages on any device, and scalar results. */
export type F32Storage = Float32Array | CudaStorage;
export type I32Storage = Int32Array | CudaStorage;
export type U8Storage = Uint8Array | CudaStorage;
export type ScalarResult = number | CudaStorage;
/** A kernel table over the storages of any device (each table checks its own at run time). */
export type AnyBackend = Backend<F32Storage, I32Storage, U8Storage, ScalarResult>;

/** 'cpu', 'cuda' or 'cuda:0' (the only GPU used) → the device; anything else is an error naming it. */
export function parseDevice(op: string, value: unknown): Device {
  if (value === 'cpu' || value === 'cuda') return value;
  if (value === 'cuda:0') return 'cuda';
  throw new Error(`${op}: unknown device ${JSON.stringify(value)} (expected "cpu" or "cuda")`);
}

/** The device of a storage. */
export function deviceOf(s: Float32Array | Int32Array | Uint8Array | CudaStorage): Device {
  return s instanceof CudaStorage ? 'cuda' : 'cpu';
}

/** The kernel table for a device: the active CPU backend, or CUDA (which may throw a DeviceError). */
export function kernelsOn(device: Device): AnyBackend {
  return (device === 'cpu' ? backend() : cudaBackend()) as AnyBackend;
}
