/**
 * The `avgk` command line: train, eval, predict, compare, bench.
 *
 * `runCli(argv, io)` runs one invocation in-process and returns its exit code (tests use it);
 * `main()` is what bin/avgk.js calls: real streams, Ctrl-C handling, process exit code.
 *
 * Errors: bad input is ONE line `avgk: error: <message>` on stderr and exit code 2 (a stack trace
 * only with --verbose); a runtime failure is exit code 1; Ctrl-C during training is 130, SIGTERM
 * 143 and SIGHUP 129 (128 + the signal's number), after writing a resumable checkpoint.
 */
import { Command, CommanderError } from 'commander';
import { libraryVersion } from '../io/checkpoint.js';
import { CliError, createContext, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, signalExitCode, signalName, STOP_SIGNALS, type CliContext, type CliIo, type StopSignal } from './context.js';
import { flagLikeValueError } from './options.js';
import { registerTrain } from './train.js';
import { registerEval } from './eval.js';
import { registerPredict } from './predict.js';
import { registerBench } from './bench.js';
import { registerCompare } from './compare.js';
import { errorCode, NATIVE_ERROR_CODE } from '../errors.js';
import { tuneMemoryForTraining } from '../tensor/alloc.js';

/** One line: collapse whitespace and newlines, drop commander's "error: " prefix. */
function oneLine(msg: string): string {
  return msg
    .replace(/^\s*error:\s*/i, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/** The commander program for a context (a fresh one per invocation). */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('avgk');
  program
    .description('Set-valued (average-K) classification: train, evaluate and compare models with the two-head loss.')
    .version(libraryVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'display help')
    .exitOverride()
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void ctx.io.stdout.write(s),
      writeErr: (s) => void ctx.io.stderr.write(s),
      outputError: (s, write) => write(`avgk: error: ${oneLine(s)}\n`),
      getOutHelpWidth: () => ctx.io.stdout.columns ?? 100,
      getErrHelpWidth: () => ctx.io.stderr.columns ?? 100,
    });
  program.addHelpText(
    'after',
    `
Examples:
  avgk train                                   two-head at K=2 on Fashion-MNIST (MLP)
  avgk train --epochs 1 --limit 3000           quick smoke run
  avgk eval --checkpoint runs/X/checkpoint.safetensors --split val --k 1.5 2 3
  avgk predict --checkpoint runs/X/checkpoint.safetensors --input t10k-images-idx3-ubyte --out sets.jsonl
  avgk compare --config experiment.json --out runs/cmp
  avgk bench

Run 'avgk <command> --help' for a command's options. An option given twice takes its last value
(--k values add up: --k 1 --k 2 is --k 1 2). A value that starts with '-' is taken as a value
only in the --opt=value form (--out=-x), so that --out --force is an error, not a folder.`,
  );
  // an option's value must not be the next flag (`--out --force`)
  program.hook('preAction', (_program, actionCommand) => {
    const msg = flagLikeValueError(actionCommand, ctx.argv);
    if (msg) throw ctx.usageError(msg);
  });
  registerTrain(program, ctx);
  registerEval(program, ctx);
  registerPredict(program, ctx);
  registerCompare(program, ctx);
  registerBench(program, ctx);
  return program;
}

/** Run the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const ctx = createContext(io, argv);
  ctx.verbose = argv.includes('--verbose') || argv.includes('-v');
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_OK;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    return reportError(ctx, e);
  }
}

function reportError(ctx: CliContext, e: unknown): number {
  if (e instanceof CommanderError) {
    // help and version are "errors" with exit code 0; commander already printed the message
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return EXIT_OK;
    if (e.code === 'commander.executeSubCommandAsync') return e.exitCode;
    return EXIT_USAGE;
  }
  // avgk's error types (src/errors.ts): bad input of any kind is one line and exit 2
  const code = errorCode(e);
  if (code !== null && code !== NATIVE_ERROR_CODE && !(e instanceof CliError)) {
    ctx.err(`avgk: error: ${oneLine((e as Error).message.replace(/^avgk: /, ''))}`);
    if (ctx.verbose) ctx.err(String((e as Error).stack));
    return EXIT_USAGE;
  }
  if (e instanceof CliError) {
    ctx.err(`avgk: error: ${oneLine(e.message)}`);
    if (ctx.verbose) ctx.err(String(e.cause instanceof Error ? e.cause.stack : e.stack));
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  ctx.err(`avgk: error: ${oneLine(err.message)}`);
  if (ctx.verbose) ctx.err(String(err.stack));
  else ctx.err('avgk: (run with --verbose for the stack trace)');
  return EXIT_FAILURE;
}

/**
 * The process's streams; stop handlers via process.on for SIGINT, SIGTERM and SIGHUP; a second
 * signal aborts at once (exit 128 + its number).
 */
export function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    env: process.env,
    onInterrupt: (handler) => {
      let count = 0;
      const listener = (signal: StopSignal): void => {
        count++;
        if (count > 1) {
          process.stderr.write(`avgk: aborted (${signalName(signal)})\n`);
          process.exit(signalExitCode(signal));
        }
        handler(signal);
      };
      for (const s of STOP_SIGNALS) process.on(s, listener);
      return () => {
        for (const s of STOP_SIGNALS) process.off(s, listener);
      };
    },
  };
}

/** Entry point of bin/avgk.js. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // `avgk predict | head`: a closed pipe ends the output quietly. Any other failure to write
  // the results (`> /dev/full`) is one line on stderr and exit code 1; the command still
  // finishes its other outputs (checkpoint, report).
  let stdoutFailed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (stdoutFailed) return;
    stdoutFailed = true;
    process.stderr.write(`avgk: error: cannot write to stdout (${e.code ?? e.message})\n`);
    if (!process.exitCode) process.exitCode = EXIT_FAILURE;
  });
  // stderr only carries messages: when it is gone (a closed terminal or pipe, as after SIGHUP)
  // the command goes on without them, so that training still ends with its checkpoint
  process.stderr.on('error', () => undefined);
  // the CLI owns its process: training loops get the opt-in memory settings
  tuneMemoryForTraining();
  const code = await runCli(argv, defaultIo());
  process.exitCode = code === EXIT_OK && stdoutFailed ? EXIT_FAILURE : code;
}
