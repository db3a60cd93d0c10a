/**
 * The addon's vectorised loops (losses, selection, softmax, elementwise, reductions, optimisers)
 * are compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at run time from the CPU; a
 * machine with AVX-512 only ever runs the first. This file re-runs the native parity suite in child
 * processes with AVGK_NATIVE_ISA=avx2 and =base (which can only lower the level), so CI covers the
 * code that machines without AVX-512 run. (The GEMM and convolution micro-kernels are covered by
 * native-kernels.test.ts.)
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';
import { nativeUnderTest } from './helpers/native.js';

const { skipNative } = nativeUnderTest('native-isa');
const root = findPackageRoot() ?? process.cwd();
const vitest = createRequire(import.meta.url).resolve('vitest/vitest.mjs');
const inChild = process.env.AVGK_NATIVE_ISA !== undefined;
if (inChild) console.log('native-isa: skipped inside a lowered-ISA child run (it would recurse)');

describe.skipIf(skipNative || inChild)('native kernels at lower instruction sets', () => {
  for (const isa of ['avx2', 'base']) {
    it(`native parity suite with AVGK_NATIVE_ISA=${isa}`, async () => {
      // asynchronous: a blocked event loop would starve this worker's RPC to vitest
      const { status, out } = await new Promise<{ status: number | null; out: string }>((resolve, reject) => {
        // Only the kernels built per ISA (AVGK_MULTIVERSION / isa(): elementwise, reductions, softmax,
        // losses, selection, optimisers); GEMM and convolution dispatch on their own (see above).
        // Passive OpenMP waiting: spinning threads of this child and of the other test worker would
        // otherwise fight over the two cores and stall both for minutes.
        const only = 'is the native|unary|binary|copy|reduceSum|softmax|sigmoidBce|selectKth|sgdStep';
        const p = spawn(process.execPath, [vitest, 'run', join('test', 'native-parity.test.ts'), '-t', only], {
          cwd: root,
          env: { ...process.env, AVGK_NATIVE_ISA: isa, NO_COLOR: '1', OMP_WAIT_POLICY: 'passive' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let text = '';
        p.stdout.on('data', (d) => (text += String(d)));
        p.stderr.on('data', (d) => (text += String(d)));
        const timer = setTimeout(() => p.kill('SIGKILL'), 240_000);
        p.on('error', reject);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ status: code, out: text.replace(/\x1b\[[0-9;]*m/g, '') }); // (colour codes)
        });
      });
      expect(status, `AVGK_NATIVE_ISA=${isa}:\n${out.slice(-4000)}`).toBe(0);
      expect(out).toMatch(/Tests\s+1[0-9] passed/); // (the selected tests all ran)
      expect(out).not.toMatch(/skipped because/);
    }, 300_000);
  }
});
