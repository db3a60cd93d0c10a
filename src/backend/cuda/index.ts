/**
 * The CUDA backend: the Backend kernels of the CUDA addon on device storages, and the device's
 * memory functions (allocation, copies to and from the host, statistics).
 *
 * Kernels are enqueued on one stream and return at once; a read-back (download, dataSync, item)
 * waits for them. Scalar results (losses, the selected threshold) stay on the device as
 * one-element storages, so that a training step never waits for the GPU until it reads its loss.
 * The device starts on first use: without a usable GPU that throws one DeviceError with the CUDA
 * error name (e.g. cudaErrorInsufficientDriver) and what to do.
 */
import { DeviceError } from '../../errors.js';
import type { Backend } from '../types.js';
import { loadCudaAddon, type CudaAddon, type CudaDeviceInfo, type CudaMemStats } from './addon.js';
import { CudaBlock, CudaStorage, trackBlock, type CudaDType } from './storage.js';

export { CudaStorage, CudaBlock, withScope, keepBlock, type CudaDType } from './storage.js';
export type { CudaDeviceInfo, CudaMemStats } from './addon.js';

export type CudaBackend = Backend<CudaStorage, CudaStorage, CudaStorage, CudaStorage>;

let state: { addon: CudaAddon; info: CudaDeviceInfo; backend: CudaBackend } | null = null;
let failure: DeviceError | null = null;

const WHAT_TO_DO: Record<string, string> = {
  cudaErrorInsufficientDriver: 'install or update the NVIDIA driver (the CUDA 13 runtime needs driver 580 or newer)',
  cudaErrorNoDevice: 'no NVIDIA GPU is visible to this process (check CUDA_VISIBLE_DEVICES and nvidia-smi)',
};

function start(): { addon: CudaAddon; info: CudaDeviceInfo; backend: CudaBackend } {
  if (state) return state;
  if (failure) throw failure;
  const { addon, error } = loadCudaAddon();
  if (!addon) throw (failure = error!);
  let info: CudaDeviceInfo;
  try {
    info = addon.init();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const name = typeof code === 'string' ? code : null;
    const msg = e instanceof Error ? e.message : String(e);
    const todo = (name && WHAT_TO_DO[name]) ?? 'check the NVIDIA driver and GPU (nvidia-smi)';
    throw (failure = new DeviceError(`avgk: CUDA is not usable: ${msg}; ${todo}, or use the device "cpu"`, name));
  }
  state = { addon, info, backend: createCudaBackend(addon) };
  return state;
}

/** Whether a CUDA device can be used, and if not, why (never throws). */
export function cudaAvailable(): { available: boolean; error: string | null } {
  try {
    start();
    return { available: true, error: null };
  } catch (e) {
    return { available: false, error: (e as Error).message };
  }
}

/** The CUDA kernel table; throws a DeviceError when CUDA cannot be used. */
export function cudaBackend(): CudaBackend {
  return start().backend;
}

export function cudaDeviceInfo(): CudaDeviceInfo {
  return { ...start().info };
}

/** A new device buffer of n elements (uninitialised), tracked by the current memory scope. */
export function cudaAlloc(n: number, dtype: CudaDType = 'float32'): CudaStorage {
  const { addon } = start();
  const block = new CudaBlock(addon, addon.alloc(n, dtype), n, dtype);
  trackBlock(block);
  return new CudaStorage(block, 0, n);
}

export function cudaZeros(n: number, dtype: CudaDType = 'float32'): CudaStorage {
  const s = cudaAlloc(n, dtype);
  if (dtype === 'float32') start().backend.fill(s, 0);
  else upload(s, dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n));
  return s;
}

function upload(s: CudaStorage, host: Float32Array | Int32Array | Uint8Array): void {
  start().addon.upload(s, host);
}

/** A device copy of a host array. */
export function cudaFromHost(host: Float32Array | Int32Array | Uint8Array): CudaStorage {
  const dtype: CudaDType = host instanceof Float32Array ? 'float32' : host instanceof Int32Array ? 'int32' : 'uint8';
  const s = cudaAlloc(host.length, dtype);
  upload(s, host);
  return s;
}

/** Copies host data into an existing device view of the same length and type. */
export function cudaUpload(s: CudaStorage, host: Float32Array | Int32Array | Uint8Array): void {
  upload(s, host);
}

/** A host copy of a device view (waits for the kernels that write it). */
export function cudaToHost(s: CudaStorage): Float32Array | Int32Array | Uint8Array {
  const host = s.dtype === 'float32' ? new Float32Array(s.length) : s.dtype === 'int32' ? new Int32Array(s.length) : new Uint8Array(s.length);
  start().addon.download(s, host);
  return host;
}

export function cudaMemStats(): CudaMemStats {
  return start().addon.memStats();
}

export function cudaResetPeak(): void {
  start().addon.resetPeak();
}

/** Returns cached, unused device memory to the driver. */
export function cudaEmptyCache(): void {
  start().addon.emptyCache();
}

/** Waits for every enqueued kernel. */
export function cudaSynchronize(): void {
  start().addon.synchronize();
}

/** TF32 tensor cores for matrix products and convolutions (fp32 accumulation); off by default. */
export function setTf32(on: boolean): void {
  if (typeof on !== 'boolean') throw new TypeError(`setTf32: expected a boolean, got ${String(on)}`);
  start().addon.setTf32(on);
}

export function getTf32(): boolean {
  return start().addon.getTf32();
}

function createCudaBackend(addon: CudaAddon): CudaBackend {
  const scalar = (): CudaStorage => cudaAlloc(1);
  return {
    name: 'cuda',
    setNumThreads(n: number) {
      if (!Number.isInteger(n) || n < 1) throw new Error(`cuda setNumThreads: expected a positive integer, got ${n}`);
    },
    getNumThreads: () => 1,
    unary: (op, x, out, p, q) => addon.unary(op, x, out, p, q),
    unaryBackward: (op, x, y, gy, gx, p, q) => addon.unaryBackward(op, x, y, gy, gx, p, q),
    binary: (op, a, ao, as, b, bo, bs, out, shape) => addon.binary(op, a, ao, as, b, bo, bs, out, shape),
    copy: (x, xo, xs, out, oo, os, shape) => addon.copy(x, xo, xs, out, oo, os, shape),
    reduceSum: (x, out, o, m, i) => addon.reduceSum(x, out, o, m, i),
    reduceMax: (x, out, arg, o, m, i) => addon.reduceMax(x, out, arg, o, m, i),
    gemm: (...args: Parameters<CudaBackend['gemm']>) => addon.gemm(...args),
    conv2dForward: (x, w, b, out, g) => addon.conv2dForward(x, w, b, out, g),
    conv2dBackwardInput: (gy, w, gx, g) => addon.conv2dBackwardInput(gy, w, gx, g),
    conv2dBackwardWeight: (x, gy, gw, g) => addon.conv2dBackwardWeight(x, gy, gw, g),
    maxPool2dForward: (x, out, arg, g) => addon.maxPool2dForward(x, out, arg, g),
    maxPool2dBackward: (gy, arg, gx, g) => addon.maxPool2dBackward(gy, arg, gx, g),
    avgPool2dForward: (x, out, g) => addon.avgPool2dForward(x, out, g),
    avgPool2dBackward: (gy, gx, g) => addon.avgPool2dBackward(gy, gx, g),
    batchNormForward: (...args: Parameters<CudaBackend['batchNormForward']>) => addon.batchNormForward(...args),
    batchNormBackward: (...args: Parameters<CudaBackend['batchNormBackward']>) => addon.batchNormBackward(...args),
    softmax: (x, out, r, c, log) => addon.softmax(x, out, r, c, log),
    softmaxBackward: (y, gy, gx, r, c, log) => addon.softmaxBackward(y, gy, gx, r, c, log),
    softmaxCrossEntropy(logits, labels, rows, cols, smoothing, grad) {
      const loss = scalar();
      addon.softmaxCrossEntropy(logits, labels, rows, cols, smoothing, grad, loss);
      return loss;
    },
    sigmoidBce(logits, targets, weights, grad) {
      const loss = scalar();
      addon.sigmoidBce(logits, targets, weights, grad, loss);
      return loss;
    },
    selectKth(x, m, mask) {
      const out = scalar();
      addon.selectKth(x, m, mask, out);
      return out;
    },
    markTop: (x, m, mask, targets) => addon.markTop(x, m, mask, targets),
    countAboveEqual: (x, t) => addon.countAboveEqual(x, t),
    sgdStep: (...args: Parameters<CudaBackend['sgdStep']>) => addon.sgdStep(...args),
    adamStep: (...args: Parameters<CudaBackend['adamStep']>) => addon.adamStep(...args),
    fill: (x, v) => addon.fill(x, v),
    axpby: (x, y, a, b) => addon.axpby(x, y, a, b),
    reduceMaxBackward: (gy, arg, gx, o, m, i) => addon.reduceMaxBackward(gy, arg, gx, o, m, i),
    take: (x, idx, out) => addon.take(x, idx, out),
    putAdd: (g, idx, gx) => addon.putAdd(g, idx, gx),
    putValue: (x, idx, v) => addon.putValue(x, idx, v),
  };
}
