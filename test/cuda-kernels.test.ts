/**
 * The CUDA kernels' own test programs, built for the CPU emulator by test/setup/cuda-emu.ts:
 * cuda_parity_test runs every CUDA kernel (through the emulator: shared memory, barriers and warp
 * shuffles behave as on a GPU) against the CPU kernels of native/kernels on edge shapes, NaN/Inf,
 * one and many blocks; device_math_test checks the __host__ __device__ math on the host.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaEmulatorUnderTest } from './helpers/cuda.js';

const { skip, dir } = cudaEmulatorUnderTest('cuda-kernels');

function run(bin: string, args: string[] = []): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), 280_000);
    p.on('error', (e) => resolve({ code: -1, out: `${out}\n${e.message}` }));
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out: signal ? `${out}\nkilled by ${signal}` : out });
    });
  });
}

describe.skipIf(skip)('CUDA kernel test programs (CPU emulator)', () => {
  it('every CUDA kernel matches the CPU kernels', async () => {
    const r = await run(join(dir, '..', 'cuda_parity_test'));
    expect(r.out).toMatch(/^\d+ cases, \d+ checks, 0 failures$/m);
    for (const family of ['unary', 'binary_broadcast', 'copy_strided', 'reduce_sum', 'reduce_max', 'take_put', 'optimisers']) {
      expect(r.out, `${family} ran`).toMatch(new RegExp(`^${family}\\s+\\d+ checks ok$`, 'm'));
    }
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  it('the __host__ __device__ math', async () => {
    const r = await run(join(dir, '..', 'device_math_test'));
    expect(r.out).toMatch(/device_math_test: \d+ checks, 0 failures/);
    expect(r.code, r.out).toBe(0);
  });
});
