/** Options and checks shared by several commands. */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { setBackend, setNumThreads } from '../backend/index.js';
import { cudaBackend } from '../backend/cuda/index.js';
import { checkWritable, removeStaleTemps } from '../io/atomic.js';
import { checkChartLibs } from '../report/charts.js';
import { checkUnlocked, LOCK_FILE, LockHeldError, lockDirectory, type DirLock } from '../io/lock.js';
import { DEVICES, type Device } from '../backend/device.js';
import { CliError, type CliContext } from './context.js';
import { choiceParser, intParser } from './options.js';

/** --quiet / --verbose on every command. */
export function addOutputOptions(cmd: Command): Command {
  return cmd.option('-q, --quiet', 'no progress output (results and errors only)').option('-v, --verbose', 'more logging; stack traces on errors');
}

/** --device / --backend / --threads. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--device <name>', 'where tensors live and kernels run: cpu or cuda (an NVIDIA GPU); default: cpu').argParser(choiceParser('device', DEVICES)))
    .addOption(new Option('--backend <name>', 'CPU kernels: native (C++ addon) or js (TypeScript); default: native when it loads').argParser(choiceParser('backend', ['js', 'native'] as const)))
    .option('--threads <n>', 'threads of the native kernels (default: the physical cores that other processes leave free)', intParser(1));
}

/** Starts the device (a GPU that cannot be used is a usage error: exit 2, one line). */
export function startDevice(ctx: CliContext, device: Device, flag = '--device'): Device {
  if (device === 'cuda') {
    try {
      cudaBackend();
    } catch (e) {
      throw ctx.usageError(`${flag} cuda: ${(e as Error).message.replace(/^avgk: /, '')}`, e);
    }
  }
  return device;
}

/** Apply --quiet/--verbose to the context (called first by every action). */
export function applyOutputOptions(ctx: CliContext, opts: { quiet?: boolean; verbose?: boolean }): void {
  ctx.quiet = opts.quiet === true;
  ctx.verbose = ctx.verbose || opts.verbose === true;
}

/** Applies --backend and --threads, starts --device; returns the device. */
export function applyBackendOptions(ctx: CliContext, opts: { backend?: 'js' | 'native'; threads?: number; device?: Device }): Device {
  if (opts.backend) {
    try {
      setBackend(opts.backend);
    } catch (e) {
      throw ctx.usageError(`--backend ${opts.backend}: ${(e as Error).message.replace(/^avgk(\.setBackend)?: /, '')}`, e);
    }
  }
  if (opts.threads !== undefined) {
    try {
      setNumThreads(opts.threads);
    } catch (e) {
      throw ctx.usageError(`--threads: ${(e as Error).message}`, e);
    }
  }
  return startDevice(ctx, opts.device ?? 'cpu');
}

/** Files that mark a directory as holding a run. */
export const RUN_FILES = ['checkpoint.safetensors', 'report.html', 'summary.json', 'summary.md'];

/** Whether `dir` holds (part of) a run; throws a usage error when it is not a directory. */
export function holdsRun(ctx: CliContext, dir: string, shown: string): boolean {
  if (!existsSync(dir)) return false;
  if (!statSync(dir).isDirectory()) throw ctx.usageError(`--out ${shown}: exists and is not a directory`);
  const entries = new Set(readdirSync(dir));
  return RUN_FILES.some((f) => entries.has(f));
}

/**
 * An output file must be writable before any work is done: its parent directory must exist and
 * accept a new file (or, for /dev/stdout, a named pipe..., the file itself must be writable).
 * Temporary files that killed writes left in that directory are removed.
 */
export function checkOutputFile(ctx: CliContext, file: string, shown: string, flag = '--out'): void {
  const parent = dirname(file);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw ctx.usageError(`${flag} ${shown}: directory ${parent} does not exist`);
  if (existsSync(file) && statSync(file).isDirectory()) throw ctx.usageError(`${flag} ${shown}: is a directory`);
  try {
    checkWritable(file);
  } catch (e) {
    throw ctx.usageError(`${flag} ${shown}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  }
  removeStaleTemps(parent);
}

/**
 * Takes the exclusive lock of a run directory (which exists) for this command, which also checks
 * that the directory is writable, and removes the temporary files that killed writes left there.
 * Another live avgk writing there, or a directory that is not writable, is a usage error.
 */
export function lockRunDirectory(ctx: CliContext, dir: string, shown: string, flag = '--out'): DirLock {
  let lock: DirLock;
  try {
    lock = lockDirectory(dir, { command: ['avgk', ...ctx.argv.slice(0, 1)].join(' ') });
  } catch (e) {
    if (e instanceof LockHeldError) throw lockHeld(ctx, e, dir, shown, flag);
    throw ctx.usageError(`${flag} ${shown}: cannot write in the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  }
  removeStaleTemps(dir);
  return lock;
}

/** Fails early (before loading data) when another live avgk holds the lock of `dir`. */
export function checkRunDirectoryFree(ctx: CliContext, dir: string, shown: string, flag = '--out'): void {
  try {
    checkUnlocked(dir);
  } catch (e) {
    if (e instanceof LockHeldError) throw lockHeld(ctx, e, dir, shown, flag);
    throw e;
  }
}

function lockHeld(ctx: CliContext, e: LockHeldError, dir: string, shown: string, flag: string): Error {
  const msg = e.message.replace(e.lockPath, join(shown, LOCK_FILE)).replace(dir, 'the directory');
  return ctx.usageError(`${flag} ${shown}: ${msg}`, e);
}

/** The most bytes a JSON file named on the command line may hold: 16 MiB. */
export const MAX_JSON_FILE_BYTES = 16 * 2 ** 20;

/**
 * The text (BOM removed) of the JSON file `path` given to `flag` (`shown` in messages). Anything
 * but a regular file (a directory, a device such as /dev/zero, a FIFO) and a file over
 * MAX_JSON_FILE_BYTES are usage errors, found before any byte is read.
 */
export function readJsonFile(ctx: CliContext, flag: string, shown: string, path: string): string {
  const fail = (what: string, e?: unknown) => ctx.usageError(`${flag} ${shown}: ${what}`, e);
  const unreadable = (e: unknown) =>
    fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  const tooBig = (size: number) => fail(`${size} bytes, more than the ${MAX_JSON_FILE_BYTES} a JSON file may hold`);
  // stat before opening: opening a FIFO for reading would wait for a writer
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw unreadable(e);
  }
  if (st.isDirectory()) throw fail('is a directory, expected a JSON file');
  if (!st.isFile()) throw fail('is not a regular file, expected a JSON file');
  if (st.size > MAX_JSON_FILE_BYTES) throw tooBig(st.size);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw unreadable(e);
  }
  try {
    // at most one byte past the bound, whatever the file is replaced by or grows to meanwhile
    const buf = Buffer.allocUnsafe(MAX_JSON_FILE_BYTES + 1);
    let got = 0;
    try {
      if (!fstatSync(fd).isFile()) throw fail('is not a regular file, expected a JSON file');
      for (let r = 1; r > 0 && got < buf.length; got += r) r = readSync(fd, buf, got, buf.length - got, null);
    } catch (e) {
      throw e instanceof CliError ? e : unreadable(e);
    }
    if (got > MAX_JSON_FILE_BYTES) throw tooBig(got);
    return stripBom(buf.toString('utf8', 0, got));
  } finally {
    closeSync(fd);
  }
}

/** JSON given inline or as @file / a path to a .json file (read by readJsonFile). */
export function readJsonArg(ctx: CliContext, flag: string, value: string): unknown {
  let text = value;
  const trimmed = value.trim();
  if (trimmed.startsWith('@') || (!trimmed.startsWith('{') && !trimmed.startsWith('['))) {
    const shown = trimmed.replace(/^@/, '');
    text = readJsonFile(ctx, flag, shown, ctx.resolvePath(shown));
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw ctx.usageError(`${flag}: invalid JSON (${(e as Error).message})`, e);
  }
}

/** A path for messages: relative to the CLI's working directory when inside it. */
export function shownPath(ctx: CliContext, p: string): string {
  const cwd = ctx.io.cwd ?? process.cwd();
  return p.startsWith(cwd + '/') ? p.slice(cwd.length + 1) : p;
}

/** Text without a leading UTF-8 byte-order mark (editors on Windows write one; JSON.parse rejects it). */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Whether `path` names this process's own stdout (`--out /dev/stdout`): writing there goes through
 * the stdout stream, which also works where the file cannot be reopened (a socket).
 */
export function isOwnStdout(ctx: CliContext, path: string): boolean {
  if (ctx.io.stdout !== process.stdout) return false;
  try {
    const a = statSync(path);
    const b = fstatSync(1);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/** The report needs vega and vega-lite (optional peers): refuse before training when they are missing. */
export async function requireChartLibs(ctx: CliContext): Promise<void> {
  try {
    await checkChartLibs();
  } catch (e) {
    throw ctx.usageError((e as Error).message, e);
  }
}
