/** The CLI in-process (src/cli/main.ts) with its output captured. */
import { runCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/context.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `avgk ...argv`; `onErr` sees each stderr chunk as it is written. */
export async function runCliCaptured(argv: string[], io: Partial<CliIo> & { onErr?: (chunk: string) => void } = {}): Promise<CliRun> {
  let out = '';
  let err = '';
  const { onErr, ...rest } = io;
  const code = await runCli(argv, {
    stdout: { isTTY: false, write: (c: string) => ((out += c), true) },
    stderr: { isTTY: false, write: (c: string) => ((err += c), onErr?.(c), true) },
    ...rest,
  });
  return { code, out, err };
}
