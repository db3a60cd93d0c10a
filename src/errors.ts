/**
 * avgk's error types. Each has a stable `code` that programs (and the CLI's exit codes) can rely
 * on; the message is one line for people.
 */
export class AvgkError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
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
