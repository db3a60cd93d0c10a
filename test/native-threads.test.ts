/**
 * The native backend's default thread count: the physical cores less those other processes keep
 * busy (native/kernels/gemm/gemm.cc). With a busy loop on every CPU of this process, a fresh addon
 * that was never given setNumThreads must come down to one thread; setNumThreads(n) still fixes n.
 * Runs in a child process (a fresh addon, whose count was never set).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { addonPath } from '../src/backend/native/addon.js';
import { nativeUnderTest } from './helpers/native.js';

const { skipNative } = nativeUnderTest('native-threads');
const cpus = availableParallelism();
if (cpus < 2) console.log('native-threads: skipped because this process may use only one CPU');

// Polls getNumThreads() every 100 ms for up to 5 s, until it reads 1; then setNumThreads(3).
const CHILD = `
const a = require(process.argv[1]);
const seen = [a.getNumThreads()];
const pause = new Int32Array(new SharedArrayBuffer(4));
const end = Date.now() + 5000;
while (Date.now() < end && seen[seen.length - 1] !== 1) { Atomics.wait(pause, 0, 0, 100); seen.push(a.getNumThreads()); }
a.setNumThreads(3);
console.log(JSON.stringify({ seen, fixed: a.getNumThreads() }));
`;

function child(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', CHILD, addonPath()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    p.on('close', (code) => resolve({ code, out }));
  });
}

describe.skipIf(skipNative || cpus < 2)('native default thread count', () => {
  it('leaves out the cores that other processes keep busy; setNumThreads fixes the count', async () => {
    const busy: ChildProcess[] = [];
    try {
      for (let i = 0; i < cpus; i++) busy.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
      const r = await child();
      expect(r.code, r.out).toBe(0);
      const { seen, fixed } = JSON.parse(r.out.trim().split('\n').pop() ?? '') as { seen: number[]; fixed: number };
      if (seen[0] === 1) {
        console.log('native-threads: the automatic count starts at 1 (one physical core): nothing to come down from');
      } else {
        expect(seen.at(-1), `getNumThreads() over time: ${seen.join(' ')}`).toBe(1);
      }
      expect(fixed).toBe(3);
    } finally {
      for (const p of busy) p.kill('SIGKILL');
    }
  }, 30_000);
});
