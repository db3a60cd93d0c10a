/**
 * avgk's error types. Each has a stable `code` that programs (and the CLI's exit codes) rely on;
 * the message is one line for people.
 *
 *   UsageError        ERR_AVGK_USAGE        bad arguments, options or configurations
 *   DataError         ERR_AVGK_DATA         missing, corrupt or non-finite data and inputs
 *   CheckpointError   ERR_AVGK_CHECKPOINT   missing, corrupt or incompatible checkpoints
 *   DeviceError       ERR_AVGK_DEVICE       a device that cannot be used (no GPU, no CUDA addon)
 *   NativeError       ERR_AVGK_NATIVE       the addons' argument and kernel errors
 *   DivergenceError   ERR_AVGK_DIVERGED     training produced a non-finite loss or non-finite scores
 */
export class AvgkError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends AvgkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AVGK_USAGE', message, options);
  }
}

export class DataError extends AvgkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AVGK_DATA', message, options);
  }
}

export class CheckpointError extends AvgkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AVGK_CHECKPOINT', message, options);
  }
}

/**
 * A device cannot be used: the CUDA addon is missing or no usable GPU answers. `cudaError` holds
 * the CUDA runtime's error name when there is one (e.g. cudaErrorInsufficientDriver).
 */
export class DeviceError extends AvgkError {
  constructor(message: string, readonly cudaError: string | null = null) {
    super('ERR_AVGK_DEVICE', message);
  }
}

export class DivergenceError extends AvgkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AVGK_DIVERGED', message, options);
  }
}

export const NATIVE_ERROR_CODE = 'ERR_AVGK_NATIVE';

/**
 * The addons' errors: plain Errors that the C++ binding layer creates with code ERR_AVGK_NATIVE
 * (creating a subclass there would cost every kernel call), so `e instanceof NativeError` tests
 * the code.
 */
export class NativeError extends AvgkError {
  constructor(message: string) {
    super(NATIVE_ERROR_CODE, message);
  }
  static override [Symbol.hasInstance](e: unknown): boolean {
    return errorCode(e) === NATIVE_ERROR_CODE;
  }
}

/** The code of any error avgk throws (AvgkError subclasses and the addons' errors), or null. */
export function errorCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_AVGK_') ? code : null;
}
