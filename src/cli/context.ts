/**
 * The small context every CLI command receives: where to write, how to fail, and global flags.
 *
 * Commands never call process.exit or write to process.stdout directly: they write through
 * `ctx.io` and signal bad input by throwing `ctx.usageError(msg)` (→ one line
 * `avgk: error: <msg>` on stderr, exit code 2). `runCli` (main.ts) catches, prints and returns
 * the exit code, so the whole CLI can run in-process in tests.
 */
import { constants } from 'node:os';
import { resolve } from 'node:path';

/** A writable text stream (process.stdout / process.stderr, or a string sink in tests). */
export interface CliStream {
  write(chunk: string): unknown;
  /** True when attached to a terminal (progress bars only then). */
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  /** Working directory for relative paths (default process.cwd()). */
  cwd?: string;
  /** Environment (default process.env). */
  env?: Record<string, string | undefined>;
  /**
   * Register a handler for Ctrl-C (SIGINT), SIGTERM and SIGHUP; it receives the signal (none
   * means SIGINT). Returns a function that unregisters it. In-process tests may pass their own
   * (or none: then the signals are not handled).
   */
  onInterrupt?: (handler: (signal?: StopSignal) => void) => () => void;
}

/** Exit codes. */
export const EXIT_OK = 0;
/** Runtime failure (not the user's input). */
export const EXIT_FAILURE = 1;
/** Bad input: unknown command/flag, bad value, unreadable file, corrupt checkpoint... */
export const EXIT_USAGE = 2;
/** Interrupted by Ctrl-C (after writing a resumable checkpoint). */
export const EXIT_INTERRUPTED = 130;

/** The signals that stop training after the current step, with a resumable checkpoint. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The shell's exit code for a signal: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
export function signalExitCode(signal: StopSignal = 'SIGINT'): number {
  return 128 + constants.signals[signal];
}

/** How an interruption by `signal` is named in messages. */
export function signalName(signal: StopSignal = 'SIGINT'): string {
  return signal === 'SIGINT' ? 'Ctrl-C' : signal;
}

/** An error to report as one line `avgk: error: <message>` with an exit code (default 2). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_USAGE, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export interface CliContext {
  readonly io: CliIo;
  /** The arguments the CLI was called with (without node and the script). */
  readonly argv: readonly string[];
  /** --verbose was given (stack traces on errors, more logging). */
  verbose: boolean;
  /** --quiet was given (no progress, only results and errors). */
  quiet: boolean;
  /** Write a line (a newline is appended) to stdout. */
  out(line: string): void;
  /** Write a line (a newline is appended) to stderr. */
  err(line: string): void;
  /** Informational line on stderr unless --quiet. */
  info(line: string): void;
  /** Debug line on stderr only with --verbose. */
  debug(line: string): void;
  /** An error to throw for bad input: exit code 2, one line on stderr. */
  usageError(message: string, cause?: unknown): CliError;
  /** An error to throw for a runtime failure: exit code 1. */
  failure(message: string, cause?: unknown): CliError;
  /** Resolve a path against the CLI's working directory. */
  resolvePath(p: string): string;
  /** The exit code the command sets when it returns normally (default 0). */
  exitCode: number;
}

export function createContext(io: CliIo, argv: readonly string[] = []): CliContext {
  const cwd = io.cwd ?? process.cwd();
  const ctx: CliContext = {
    io,
    argv,
    verbose: false,
    quiet: false,
    exitCode: EXIT_OK,
    out: (line) => void io.stdout.write(line + '\n'),
    err: (line) => void io.stderr.write(line + '\n'),
    info: (line) => {
      if (!ctx.quiet) io.stderr.write(line + '\n');
    },
    debug: (line) => {
      if (ctx.verbose) io.stderr.write(line + '\n');
    },
    usageError: (message, cause) => new CliError(message, EXIT_USAGE, cause === undefined ? undefined : { cause }),
    failure: (message, cause) => new CliError(message, EXIT_FAILURE, cause === undefined ? undefined : { cause }),
    resolvePath: (p) => resolvePathFrom(cwd, p),
  };
  return ctx;
}

function resolvePathFrom(cwd: string, p: string): string {
  return resolve(cwd, p);
}
