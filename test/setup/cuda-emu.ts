/**
 * Global setup: builds the CUDA kernels for the CPU emulator (scripts/build-cuda.mjs --emulate:
 * build-cuda-emu/, incremental) once per test run, and tells the test workers where the emulated
 * addon is (AVGK_TEST_CUDA_EMU). Outside CI a missing cmake or compiler only prints why the CUDA
 * tests will skip; in CI a failed build fails the run.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { findPackageRoot } from '../../src/io/package.js';

export default async function setup(): Promise<void> {
  const root = findPackageRoot() ?? process.cwd();
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    const p = spawn(process.execPath, [join(root, 'scripts', 'build-cuda.mjs'), '--emulate'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    p.on('error', (e) => resolve({ code: -1, out: `${out}\n${e.message}` }));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
  if (r.code !== 0) {
    if (process.env.CI) throw new Error(`the emulated CUDA build failed:\n${r.out.slice(-6000)}`);
    console.log(`cuda tests: skipped because the emulated CUDA build failed (outside CI): ${r.out.split('\n').find((l) => l.trim()) ?? ''}`);
    return;
  }
  process.env.AVGK_TEST_CUDA_EMU = join(root, 'build-cuda-emu', 'Release');
}
