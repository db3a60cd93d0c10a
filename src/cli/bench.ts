/** `avgk bench`: run the kernel benchmarks (bench/run.ts, compiled to dist/bench/run.js). */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { CliContext } from './context.js';

/** dist/bench/run.js next to dist/src/cli/bench.js. */
export function benchModulePath(): string {
  return fileURLToPath(new URL('../../bench/run.js', import.meta.url));
}

export function registerBench(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('bench')
    .description('run the kernel benchmarks (arguments are passed on to bench/run.ts)')
    .argument('[args...]', 'arguments for the benchmark runner (use `avgk bench -- --help` for its own help)')
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .helpOption('-h, --help', 'display help for command');
  cmd.action(async (args: string[]) => {
    const file = benchModulePath();
    if (!existsSync(file)) {
      throw ctx.failure(`the benchmarks are not available: ${file} is missing (bench/run.ts is not built; run \`npm run build\`)`);
    }
    let mod: { main?: (argv: string[]) => Promise<number> };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (e) {
      throw ctx.failure(`cannot load the benchmarks (${file}): ${(e as Error).message}`, e);
    }
    if (typeof mod.main !== 'function') throw ctx.failure(`${file} does not export main(argv)`);
    const code = await mod.main(args ?? []);
    ctx.exitCode = typeof code === 'number' ? code : 0;
  });
  return cmd;
}
