/**
 * Device memory owned by JS handles. A CudaBlock is one device allocation; a CudaStorage is a view
 * of a block (offset and length in elements), what tensors hold and kernels receive.
 *
 * A block's memory is freed by `dispose()`, by the addon's finalizer when the block is garbage
 * collected (V8 is told of the device memory as external memory, so it collects sooner when much
 * is held), or at the end of the memory scope it was allocated in (`withScope`, which the tensor
 * layer's `tidy` builds on), unless it was kept. Using a disposed block is an error naming it,
 * never a read of freed memory.
 */
import type { CudaAddon } from './addon.js';

export type CudaDType = 'float32' | 'int32' | 'uint8';

export class CudaBlock {
  /** Freed (by dispose, a scope, or never yet). */
  disposed = false;
  /** Exempt from scopes (parameters, optimiser state, running statistics). */
  kept = false;
  constructor(
    private readonly addon: CudaAddon,
    readonly handle: object,
    readonly length: number,
    readonly dtype: CudaDType,
  ) {}

  get bytes(): number {
    return this.length * (this.dtype === 'uint8' ? 1 : 4);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.addon.free(this.handle);
  }
}

export class CudaStorage {
  readonly device = 'cuda' as const;
  /** Read by the addon with offset and length (native/cuda/binding/device_buffer.h). */
  readonly handle: object;
  constructor(readonly block: CudaBlock, readonly offset: number, readonly length: number) {
    this.handle = block.handle;
  }

  get dtype(): CudaDType {
    return this.block.dtype;
  }

  get disposed(): boolean {
    return this.block.disposed;
  }

  /** The elements [begin, end) as a view of the same block (no copy). */
  subarray(begin: number, end: number = this.length): CudaStorage {
    if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && begin <= end && end <= this.length)) {
      throw new Error(`CudaStorage.subarray: [${begin}, ${end}) is outside [0, ${this.length})`);
    }
    return new CudaStorage(this.block, this.offset + begin, end - begin);
  }

  /** True when this view spans its whole block. */
  get whole(): boolean {
    return this.offset === 0 && this.length === this.block.length;
  }
}

// ------------------------------------------------------------------ scopes
const scopes: Set<CudaBlock>[] = [];

export function trackBlock(b: CudaBlock): void {
  if (scopes.length > 0) scopes[scopes.length - 1]!.add(b);
}

/**
 * Runs fn; blocks allocated meanwhile are disposed when it returns or throws, except kept blocks
 * and those in `survivors(result)` (which move to the enclosing scope).
 */
export function withScope<T>(fn: () => T, survivors: (result: T) => Iterable<CudaBlock>): T {
  const scope = new Set<CudaBlock>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const b of scope) if (!b.kept) b.dispose();
    throw e;
  }
  scopes.pop();
  const keep = new Set(survivors(result));
  const parent = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  for (const b of scope) {
    if (b.kept) continue;
    if (keep.has(b)) parent?.add(b);
    else b.dispose();
  }
  return result;
}

/** Exempts a block from every scope (it lives until disposed or collected). */
export function keepBlock(b: CudaBlock): void {
  b.kept = true;
}
