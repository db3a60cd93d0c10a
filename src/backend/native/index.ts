/**
 * The native backend: the Backend kernels implemented by the C++ addon, called directly (the
 * addon's functions have the Backend signatures). Any kernel the loaded addon lacks comes from
 * `fallback` (the TypeScript backend). The C++ binding validates every argument and throws
 * `avgk native <op>: ...` errors.
 */
import type { Backend, KernelName } from '../types.js';
import type { NativeAddon } from './addon.js';
import { makeMarkTop } from '../js/select.js';

export function createNativeBackend(addon: NativeAddon, fallback: Backend): Backend {
  const table: Record<string, unknown> = {
    name: 'native',
    setNumThreads: (n: number) => addon.setNumThreads(n),
    getNumThreads: () => addon.getNumThreads(),
  };
  for (const key of Object.keys(fallback) as (keyof Backend)[]) {
    if (key === 'name' || key === 'setNumThreads' || key === 'getNumThreads') continue;
    const k = key as KernelName;
    const native = (addon as Partial<NativeAddon>)[k];
    table[k] = typeof native === 'function' ? native : fallback[k];
  }
  // composite kernels over the addon's primitives
  table.markTop = makeMarkTop(table.selectKth as Backend['selectKth']);
  return table as unknown as Backend;
}

/**
 * Opt-in, process-wide allocator tuning of the native addon (see NativeAddon.tuneAllocator): for
 * programs (the CLI, the benchmarks), never called by library code. Returns whether it applied;
 * false when the loaded addon predates the call.
 */
export function tuneNativeAllocator(addon: NativeAddon): boolean {
  return typeof addon.tuneAllocator === 'function' ? addon.tuneAllocator() : false;
}
