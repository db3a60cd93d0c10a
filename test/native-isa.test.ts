/**
 * Every native kernel family takes its instruction-set decision from one place
 * (native/kernels/cpu_features.h): the SGEMM micro-kernel and small-problem path, convolution fills,
 * pooling, batch norm, losses, selection, softmax, elementwise, reductions and optimisers. A machine
 * with AVX-512 only ever runs the AVX-512 versions, so this file re-runs the whole native parity
 * suite in child processes with AVGK_NATIVE_ISA=avx2 and =base (which can only lower the level), so
 * CI covers the code that machines without AVX-512 / AVX2 run, and checks that the addon reports
 * the lowered level and the matching SGEMM micro-kernel. (native-kernels.test.ts runs the C++ GEMM
 * and convolution test programs at each level too.)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';
import { addonPath } from '../src/backend/native/addon.js';
import { nativeUnderTest } from './helpers/native.js';

const { skipNative } = nativeUnderTest('native-isa');
const root = findPackageRoot() ?? process.cwd();
const vitest = createRequire(import.meta.url).resolve('vitest/vitest.mjs');
const inChild = process.env.AVGK_NATIVE_ISA !== undefined;
if (inChild) console.log('native-isa: skipped inside a lowered-ISA child run (it would recurse)');

/** The addon's nativeIsa() in a fresh process with AVGK_NATIVE_ISA=level ('' = the CPU's level). */
function nativeIsa(level: string): { isa: string; gemmKernel: string } {
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(addonPath())}).nativeIsa()))`;
  const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, AVGK_NATIVE_ISA: level } });
  return JSON.parse(String(out)) as { isa: string; gemmKernel: string };
}
const KERNEL_OF: Record<string, string> = { avx512: 'avx512', avx2: 'avx2', base: 'portable' };

describe.skipIf(skipNative || inChild)('native kernels at lower instruction sets', () => {
  it('AVGK_NATIVE_ISA lowers the level of every family, the SGEMM micro-kernel included, and never raises it', () => {
    const cpu = nativeIsa('');
    expect(Object.keys(KERNEL_OF)).toContain(cpu.isa);
    expect(cpu.gemmKernel).toBe(KERNEL_OF[cpu.isa]);
    const avx2 = nativeIsa('avx2');
    expect(avx2.isa).toBe(cpu.isa === 'base' ? 'base' : 'avx2');
    expect(avx2.gemmKernel).toBe(KERNEL_OF[avx2.isa]);
    expect(nativeIsa('base')).toEqual({ isa: 'base', gemmKernel: 'portable' });
    expect(nativeIsa('avx512')).toEqual(cpu); // (not a lowering: ignored)
  });

  for (const isa of ['avx2', 'base']) {
    it(`native parity suite with AVGK_NATIVE_ISA=${isa}`, async () => {
      // asynchronous: a blocked event loop would starve this worker's RPC to vitest
      const { status, out } = await new Promise<{ status: number | null; out: string }>((resolve, reject) => {
        // The whole suite: every kernel family dispatches on the lowered level.
        // Passive OpenMP waiting: spinning threads of this child and of the other test worker would
        // otherwise fight over the two cores and stall both for minutes.
        const p = spawn(process.execPath, [vitest, 'run', join('test', 'native-parity.test.ts')], {
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
      // every test of the suite ran and passed (none skipped)
      const [, passed, total] = out.match(/Tests\s+(\d+) passed \((\d+)\)/) ?? [];
      expect(Number(passed), out.slice(-2000)).toBeGreaterThanOrEqual(20);
      expect(passed).toBe(total);
      expect(out).not.toMatch(/skipped because/);
    }, 300_000);
  }
});
