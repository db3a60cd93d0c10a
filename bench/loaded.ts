/**
 * The reference CNN's training step while another process keeps a core busy (a shell busy loop
 * started beside the run, at the benchmark's own priority): avgk at each thread count and at its
 * default (automatic) count, and the PyTorch peer at each thread count under the same load.
 *
 * Each avgk row runs in a child process (`run.js --loaded-child`), so the default row runs in an
 * addon that never saw setNumThreads. Needs the compiled harness (dist/); in-process (under
 * vitest) the family is skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { backendName, getNumThreads, setNumThreads } from '../src/backend/index.js';
import { runCase, type BenchRecord } from './harness.js';
import { runTorchTrain } from './peers.js';
import { trainCases } from './train.js';

export const LOADED_NAME = 'loaded/cnn28-two-head';

function loadedShape(batch: number, setting: string): string {
  return `batch=${batch} 1×28×28 C=10, busy loop beside, ${setting}`;
}

/** The child: one CNN-step case at `threads` ('default': setNumThreads never called); prints its record. */
export function loadedChild(argv: string[]): number {
  const [threads = 'default', batchArg = '128', itersArg = '15'] = argv;
  if (threads !== 'default') setNumThreads(Number(threads));
  const batch = Number(batchArg);
  const c = trainCases({ cnnBatch: batch, cnnIters: Number(itersArg), resnet: [] })[0]!;
  const r = runCase(c, 0, 1);
  r.name = LOADED_NAME;
  r.threads = getNumThreads(); // the default's count at the end of the run
  r.shape = loadedShape(batch, threads === 'default' ? 'default threads' : 'setNumThreads');
  r.extra = { ...(r.extra ?? {}), setting: threads === 'default' ? 'default' : 'explicit', backend: backendName() };
  process.stdout.write(JSON.stringify(r) + '\n');
  return 0;
}

/**
 * One round: starts the busy loop, runs avgk at each of `threads` and at the default count, then
 * the PyTorch peer (when `torchDir` is given) at each of `threads`, and stops the loop.
 */
export function runLoaded(runFile: string, threads: readonly number[], batch: number, iters: number, warmup: number,
  torchDir: string | null, note: (s: string) => void): BenchRecord[] {
  if (!runFile.endsWith('.js')) {
    note(`${LOADED_NAME} skipped: it runs from the compiled harness only (node dist/bench/run.js)`);
    return [];
  }
  const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const stop = () => busy.kill('SIGKILL');
  process.once('exit', stop);
  const records: BenchRecord[] = [];
  try {
    for (const t of [...threads.map(String), 'default']) {
      const child = spawnSync(process.execPath, [runFile, '--loaded-child', t, String(batch), String(iters)], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
        // the child must use the parent's backend (an error, not a silent fallback, if it cannot)
        env: { ...process.env, AVGK_BACKEND: backendName() },
      });
      if (child.status !== 0) {
        note(`${LOADED_NAME} threads=${t} failed (status ${child.status}): ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      records.push(JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as BenchRecord);
    }
    if (torchDir) {
      for (const t of threads) {
        try {
          for (const r of runTorchTrain(torchDir, 'cnn', batch, iters, warmup, t)) {
            records.push({ ...r, name: LOADED_NAME, shape: loadedShape(batch, 'setNumThreads') });
          }
        } catch (e) {
          note(`torch_peer.py cnn under load (threads ${t}) failed: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    stop();
    process.removeListener('exit', stop);
  }
  return records;
}
