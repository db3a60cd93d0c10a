/**
 * The one module that loads the CUDA addon (build-cuda/Release/avgk_cuda.node, built by cmake-js
 * from CMakeLists.txt when nvcc is found). Loading never touches the GPU and never throws: the
 * device starts on first use (see ./index.ts), and every failure becomes one DeviceError that says
 * why and what to do.
 *
 * AVGK_CUDA_ADDON=<path> loads another build of the addon: the tests use the CPU emulator's
 * (build-cuda-emu/Release/avgk_cuda_emu.node) to run the CUDA backend on machines without a GPU.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceError } from '../../errors.js';
import { findPackageRoot } from '../package.js';
import type { Backend, ConvGeom, PoolGeom } from '../types.js';

/** A view of a device buffer as the addon reads it (see native/cuda/binding/device_buffer.h). */
export interface DeviceView {
  readonly handle: object;
  readonly offset: number;
  readonly length: number;
}

export interface CudaDeviceInfo {
  name: string;
  computeCapability: string;
  multiprocessors: number;
  totalMemory: number;
  runtimeVersion: number;
  driverVersion: number;
  /** True for the CPU emulator used by the tests. */
  emulated: boolean;
}

export interface CudaMemStats {
  /** Bytes held by live device buffers. */
  live: number;
  /** High-water mark of `live` since the last resetPeak(). */
  peak: number;
  /** Bytes the caching pool holds from the driver (live + cached). */
  reserved: number;
  allocations: number;
}

type V = DeviceView;
type Kernels = Omit<
  Backend<V, V, V, V>,
  'name' | 'setNumThreads' | 'getNumThreads' | 'softmaxCrossEntropy' | 'sigmoidBce' | 'selectKth' | 'countAboveEqual'
>;

/** The addon's exports: the Backend kernels on device views, plus memory and device functions. */
export interface CudaAddon extends Kernels {
  readonly emulated: boolean;
  init(): CudaDeviceInfo;
  alloc(elements: number, dtype: 'float32' | 'int32' | 'uint8'): object;
  free(handle: object): void;
  upload(device: V, host: Float32Array | Int32Array | Uint8Array): void;
  download(device: V, host: Float32Array | Int32Array | Uint8Array): void;
  memStats(): CudaMemStats;
  resetPeak(): void;
  emptyCache(): void;
  synchronize(): void;
  setTf32(on: boolean): void;
  getTf32(): boolean;
  softmaxCrossEntropy(logits: V, labels: V, rows: number, cols: number, smoothing: number, grad: V | null, loss: V): void;
  sigmoidBce(logits: V, targets: V, weights: V | null, grad: V | null, loss: V): void;
  selectKth(x: V, m: number, mask: V | null, out: V): void;
  countAboveEqual(x: V, t: V): [number, number];
  conv2dForward(x: V, w: V, bias: V | null, out: V, g: ConvGeom): void;
  maxPool2dForward(x: V, out: V, argmax: V, g: PoolGeom): void;
}

const FIX = 'install the CUDA toolkit (nvcc) and run `npm run build:cuda`, or use the device "cpu"';

let cached: { addon: CudaAddon | null; error: DeviceError | null } | null = null;

/** The path the addon is loaded from. */
export function cudaAddonPath(): string {
  if (process.env.AVGK_CUDA_ADDON) return resolve(process.env.AVGK_CUDA_ADDON);
  const root = findPackageRoot() ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return join(root, 'build-cuda', 'Release', 'avgk_cuda.node');
}

/** Loads the addon once; never throws. */
export function loadCudaAddon(): { addon: CudaAddon | null; error: DeviceError | null } {
  if (cached) return cached;
  const path = cudaAddonPath();
  try {
    if (!existsSync(path)) throw new Error(`${path} does not exist (the CUDA addon was not built)`);
    const addon = createRequire(import.meta.url)(path) as CudaAddon;
    if (typeof addon.init !== 'function' || typeof addon.alloc !== 'function') throw new Error(`${path} is not the avgk CUDA addon (stale build?)`);
    cached = { addon, error: null };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    cached = { addon: null, error: new DeviceError(`avgk: cannot use CUDA: ${why}; ${FIX}`) };
  }
  return cached;
}
