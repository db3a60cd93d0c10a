/**
 * `avgk compare --config FILE.json --out DIR`: train every (method, K, seed) cell of an experiment
 * config (src/train/config.ts) and write results.json, results.md, run.json and report.html to DIR
 * (src/train/compare.ts); with config.tune, a validation-only search first (DIR/tuning). One
 * progress line per trained model on stderr; the tables on stdout.
 * A bad config is one line `avgk: error: config.<field>: ...` and exit code 2. Ctrl-C stops after
 * the current step, keeps the finished cells and exits 130 (SIGTERM 143, SIGHUP 129); `--resume`
 * continues such a run. DIR is locked for the run: a second compare writing there is an error.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { signalExitCode, signalName, type CliContext, type StopSignal } from './context.js';
import { parseCompareConfig, ConfigError, type CompareConfig } from '../train/config.js';
import { runExperiment } from '../train/compare.js';
import { loadDataset, type Dataset } from '../data/index.js';
import { checkRunDirectoryFree, lockRunDirectory, readJsonFile, requireChartLibs, startDevice } from './common.js';
import { removeStaleTemps } from '../io/atomic.js';

export interface CompareCommandOptions {
  config: string;
  out: string;
  resume?: boolean;
  report?: boolean;
}

/** Reads and validates a config file; every problem is a usage error (exit 2) naming the field. */
export function readCompareConfig(ctx: CliContext, file: string): CompareConfig {
  const text = readJsonFile(ctx, '--config', file, ctx.resolvePath(file));
  try {
    return parseCompareConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) throw ctx.usageError(e.message, e);
    throw ctx.usageError(`config: ${(e as Error).message}`, e);
  }
}

export async function compareCommand(ctx: CliContext, opts: CompareCommandOptions): Promise<void> {
  const config = readCompareConfig(ctx, opts.config);
  startDevice(ctx, config.device ?? 'cpu', 'config.device');
  if (opts.report !== false) await requireChartLibs(ctx);
  const outDir = ctx.resolvePath(opts.out);
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw ctx.usageError(`--out ${opts.out}: exists and is not a directory`);
  checkRunDirectoryFree(ctx, outDir, opts.out);
  const createdDir = !existsSync(outDir);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw ctx.usageError(`--out ${opts.out}: cannot create the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  }
  let lock;
  try {
    lock = lockRunDirectory(ctx, outDir, opts.out);
  } catch (e) {
    if (createdDir) rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  removeStaleTemps(join(outDir, 'tuning'));
  try {
    await compareLocked(ctx, opts, config, outDir);
  } finally {
    lock.release();
    if (createdDir && readdirSync(outDir).length === 0) rmSync(outDir, { recursive: true, force: true });
  }
}

/** The rest of compareCommand, with --out created and locked. */
async function compareLocked(ctx: CliContext, opts: CompareCommandOptions, config: CompareConfig, outDir: string): Promise<void> {
  if (!opts.resume && existsSync(join(outDir, 'results.json'))) {
    ctx.info(`avgk compare: ${opts.out} already holds results; they will be replaced (use --resume to continue that run instead)`);
  }
  let ds: Dataset;
  try {
    ds = loadDataset(config.dataset as unknown as Record<string, unknown>);
  } catch (e) {
    throw ctx.usageError(`config.dataset: cannot load "${config.dataset.name}": ${(e as Error).message}`, e);
  }
  let stop = false;
  let stopSignal: StopSignal = 'SIGINT';
  const unregister = ctx.io.onInterrupt?.((signal) => {
    if (stop) return;
    stop = true;
    stopSignal = signal ?? 'SIGINT';
    ctx.err(`avgk compare: interrupted (${signalName(stopSignal)}); stopping after the current step (finished cells are kept)`);
  });
  let result;
  try {
    result = await runExperiment(config, {
      outDir,
      dataset: ds,
      resume: opts.resume ?? false,
      report: opts.report ?? true,
      log: (line) => ctx.info(line),
      logEpoch: ctx.verbose ? (line) => ctx.debug(line) : undefined,
      shouldStop: () => stop,
      command: `avgk compare --config ${opts.config} --out ${opts.out}${opts.resume ? ' --resume' : ''}`,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw ctx.usageError(e.message, e);
    const msg = (e as Error).message;
    if (msg.startsWith('cannot resume')) throw ctx.usageError(`--resume: ${msg}`, e);
    throw ctx.failure(`compare: ${msg}`, e);
  } finally {
    unregister?.();
  }
  ctx.out(result.markdown);
  if (result.interrupted) {
    ctx.err(`avgk compare: interrupted after ${result.trained} newly trained model(s); continue with: avgk compare --config ${opts.config} --out ${opts.out} --resume`);
    ctx.exitCode = signalExitCode(stopSignal);
    return;
  }
  ctx.info(`avgk compare: wrote ${result.files.join(', ')} (${result.trained} models trained${result.reused ? `, ${result.reused} reused` : ''}, ${result.totalSeconds.toFixed(1)} s)`);
}

/** Registers `compare` on the avgk program. */
export function registerCompare(program: Command, ctx: CliContext): Command {
  return program
    .command('compare')
    .description('train every (method, K, seed) cell of an experiment config and write results.json, results.md and report.html')
    .requiredOption('--config <file>', 'experiment config (JSON): dataset, methods, ks, seeds, model, epochs, batchSize, optimizer, schedule, tune')
    .requiredOption('--out <dir>', 'output directory (created)')
    .option('--resume', 'reuse the finished cells of a previous (interrupted) run of the same config in --out')
    .option('--no-report', 'do not render report.html')
    .action(async (opts: CompareCommandOptions) => {
      await compareCommand(ctx, opts);
    });
}
