/**
 * The one module that loads the C++ addon (build/Release/avgk.node, built by node-gyp from
 * binding.gyp). Everything else reaches the addon through `loadAddon()`.
 *
 * The package root is found from this file's location: three levels up both for
 * src/backend/native/addon.ts and dist/backend/native/addon.js (a `dist/src/...` layout, four levels
 * up, is accepted too): the first ancestor whose package.json is named "avgk".
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, KernelName } from '../types.js';
import { findPackageRoot } from '../package.js';

/**
 * The functions exported by the addon: exactly the kernels of the Backend interface (../types.ts),
 * same names, argument order and semantics. Every function validates its arguments and throws an
 * Error whose message starts with `avgk native <op>:` on bad input.
 */
export type NativeAddon = Pick<Backend, KernelName | 'setNumThreads' | 'getNumThreads'> & {
  /**
   * Process-wide allocator tuning (glibc: freed large blocks stay in the heap for reuse;
   * native/kernels/memory.cc). Loading the addon never applies it: programs opt in with this call.
   * Idempotent; returns whether it applied (false with AVGK_MALLOC_TUNING=0 or without glibc).
   * Absent from builds older than this call.
   */
  readonly tuneAllocator?: () => boolean;
  /**
   * The instruction-set level every native kernel family uses ('avx512' | 'avx2' | 'base', after
   * AVGK_NATIVE_ISA, which can only lower it) and the SGEMM micro-kernel ('avx512' | 'avx2' |
   * 'portable') it selected. Absent from older builds.
   */
  readonly nativeIsa?: () => { isa: string; gemmKernel: string };
};

/** Names every addon build must export (a stale build that lacks one is reported as such). */
const REQUIRED: readonly (keyof NativeAddon)[] = ['setNumThreads', 'getNumThreads'];

const FIX =
  'run `npm rebuild avgk` / `npm run build:native` (needs g++ and Python 3 for node-gyp); ' +
  'set AVGK_BACKEND=js to silence this';

let cached: { addon: NativeAddon | null; error: Error | null } | null = null;

/** The package root (src/backend/native → three levels up when no package.json is found). */
function packageRoot(): string {
  return findPackageRoot() ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** The path the addon is loaded from. */
export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'avgk.node');
}

/** Loads build/Release/avgk.node once; never throws (the error says why and how to fix it). */
export function loadAddon(): { addon: NativeAddon | null; error: Error | null } {
  if (cached) return cached;
  const path = addonPath();
  try {
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist (the native addon was not built)`);
    }
    const require = createRequire(import.meta.url);
    const addon = require(path) as NativeAddon;
    const missing = REQUIRED.filter((k) => typeof addon[k] !== 'function');
    if (missing.length > 0) throw new Error(`${path} lacks ${missing.join(', ')} (stale build?)`);
    cached = { addon, error: null };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    cached = { addon: null, error: new Error(`avgk: cannot load the native addon: ${why}; ${FIX}`) };
  }
  return cached;
}
