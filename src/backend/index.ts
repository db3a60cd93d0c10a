/**
 * Backend selection. The active backend is chosen once, lazily, on first use:
 *  - AVGK_BACKEND=js      forces the TypeScript backend;
 *  - AVGK_BACKEND=native  forces the C++ addon (an error if it cannot be loaded);
 *  - unset / empty        the C++ addon when it loads, else the TypeScript backend with a one-time
 *                         warning on stderr that says why and how to fix it.
 * Any other value of AVGK_BACKEND is an error.
 */
import type { Backend } from './types.js';
import { jsBackend } from './js/index.js';
import { loadAddon } from './native/addon.js';
import { createNativeBackend, tuneNativeAllocator } from './native/index.js';

export type BackendName = 'js' | 'native';
export * from './types.js';
export { jsBackend };

let active: Backend | null = null;
let warned = false;

function nativeOrError(): { backend: Backend | null; error: Error | null } {
  const { addon, error } = loadAddon();
  if (!addon) return { backend: null, error: error ?? new Error('avgk: native addon unavailable') };
  return { backend: createNativeBackend(addon, jsBackend), error: null };
}

function resolve(requested: string | undefined): Backend {
  const want = (requested ?? '').trim();
  if (want === 'js') return jsBackend;
  if (want === 'native') {
    const { backend, error } = nativeOrError();
    if (!backend) throw new Error(`avgk: AVGK_BACKEND=native but the native addon could not be loaded: ${error?.message}`);
    return backend;
  }
  if (want !== '') {
    throw new Error(`avgk: unknown backend "${want}" in AVGK_BACKEND (expected "js" or "native")`);
  }
  const { backend, error } = nativeOrError();
  if (backend) return backend;
  if (!warned) {
    warned = true;
    process.stderr.write(
      `avgk: using the TypeScript backend (slower) because the native addon did not load: ${error?.message}\n`,
    );
  }
  return jsBackend;
}

/** The active kernel table. */
export function backend(): Backend {
  if (active === null) active = resolve(process.env.AVGK_BACKEND);
  return active;
}

/** The name of the active backend: 'native' (C++ addon) or 'js' (TypeScript). */
export function backendName(): BackendName {
  return backend().name as BackendName;
}

/** Switch the active backend at run time ('js' or 'native'); throws if 'native' cannot be loaded. */
export function setBackend(name: BackendName): void {
  if (name !== 'js' && name !== 'native') {
    throw new Error(`avgk.setBackend: unknown backend "${String(name)}" (expected "js" or "native")`);
  }
  const threads = active?.getNumThreads();
  active = resolve(name);
  if (threads !== undefined) active.setNumThreads(threads);
}

/** Whether the native addon can be loaded on this machine, and if not, why. */
export function nativeAvailable(): { available: boolean; error: string | null } {
  const { addon, error } = loadAddon();
  return { available: addon !== null, error: addon ? null : (error?.message ?? 'unknown error') };
}

/**
 * Threads used by multi-threaded kernels. Until it is called, the native backend uses the physical
 * cores less those other processes keep busy, re-measured as it runs: beside a busy process a team
 * of threads waits at every barrier for the thread that shares a core, and runs slower than one.
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`avgk.setNumThreads: expected a positive integer, got ${n}`);
  backend().setNumThreads(n);
}

export function getNumThreads(): number {
  return backend().getNumThreads();
}

/**
 * Opt-in, process-wide tuning of the C allocator for the native backend (glibc keeps freed large
 * blocks in the heap instead of returning them to the OS, so new tensors skip first-touch page
 * faults). Importing the library never does this; programs that own the process (the CLI, the
 * benchmarks) call it once at start-up. Idempotent. Returns whether it applied: false on the js
 * backend, with AVGK_MALLOC_TUNING=0, or without glibc.
 */
export function tuneAllocator(): boolean {
  if (backend().name !== 'native') return false;
  const { addon } = loadAddon();
  return addon ? tuneNativeAllocator(addon) : false;
}
