/** Options and checks shared by several commands. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import { setBackend, setNumThreads } from '../backend/index.js';
import { cudaBackend } from '../backend/cuda/index.js';
import { DEVICES, type Device } from '../backend/device.js';
import type { CliContext } from './context.js';
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
    .option('--threads <n>', 'threads of the native kernels (default: physical cores)', intParser(1));
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

/** The parent directory of an output file must exist and be a directory. */
export function checkOutputFile(ctx: CliContext, file: string, shown: string, flag = '--out'): void {
  const parent = dirname(file);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw ctx.usageError(`${flag} ${shown}: directory ${parent} does not exist`);
  if (existsSync(file) && statSync(file).isDirectory()) throw ctx.usageError(`${flag} ${shown}: is a directory`);
}

/** JSON given inline or as @file / a path to a .json file. */
export function readJsonArg(ctx: CliContext, flag: string, value: string): unknown {
  let text = value;
  const trimmed = value.trim();
  if (trimmed.startsWith('@') || (!trimmed.startsWith('{') && !trimmed.startsWith('['))) {
    const file = ctx.resolvePath(trimmed.startsWith('@') ? trimmed.slice(1) : trimmed);
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw ctx.usageError(`${flag}: cannot read ${trimmed.replace(/^@/, '')} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
    }
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
