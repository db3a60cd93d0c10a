/**
 * The C++ kernels' own test programs (native/tests/*.cc), compiled with g++ and run here so that CI
 * covers every SGEMM micro-kernel (AVX-512, AVX2+FMA, portable: the addon only ever uses the one
 * the CPU selects; gemm_test forces each through the test-only knobs of native/kernels/tuning.h),
 * the pre-packed-A path, and every convolution code path (chunk sizes, per-image and wide GEMMs,
 * SIMD and portable im2col, shared and per-thread decompositions) at every instruction-set level
 * the CPU has (AVGK_NATIVE_ISA lowers the GEMM micro-kernel and the conv / pool / batch-norm loops
 * together), against double-precision references, and allocation failures inside the threaded
 * kernels (an interposed aligned_alloc that fails: a thrown error, never a crash), and the
 * convolutions' bounded im2col scratch (tiles past tuning::conv_max_col_bytes).
 *
 * Needs g++ (the addon's build needs it too). Outside CI a missing compiler skips with the reason.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';

const root = findPackageRoot() ?? process.cwd();
const kernels = join(root, 'native', 'kernels');
const gemmSources = [
  ...readdirSync(join(kernels, 'gemm')).filter((f) => f.endsWith('.cc')).map((f) => join(kernels, 'gemm', f)),
  join(kernels, 'cpu_features.cc'), // the instruction-set level every kernel family dispatches on
];

function haveCompiler(): string | null {
  try {
    execFileSync('g++', ['--version'], { stdio: 'ignore' });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
const missing = haveCompiler();
const skip = missing !== null && !process.env.CI;
if (skip) console.log(`native-kernels: skipped because g++ is not available (outside CI): ${missing}`);

function compile(out: string, sources: string[]): Promise<void> {
  const args = ['-O3', '-std=c++17', '-fopenmp', `-I${kernels}`, ...sources, '-o', out];
  return new Promise((resolve, reject) => {
    const p = spawn('g++', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += String(d)));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`g++ ${out} failed (${code}):\n${err}`))));
  });
}

// Asynchronous: a synchronous child (gemm_test runs for most of a minute) would block this worker's
// event loop, and vitest fails the whole run when its RPC calls wait longer than 60 s.
function run(bin: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    // passive OpenMP waiting: the other vitest worker shares the two cores
    const p = spawn(bin, args, { env: { OMP_WAIT_POLICY: 'passive', ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), 240_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out: `${out}\n${e.message}` });
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out: signal ? `${out}\nkilled by ${signal}` : out });
    });
  });
}

describe.skipIf(skip)('C++ kernel test programs', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'avgk-native-tests-'));
    await Promise.all([
      compile(join(dir, 'gemm_test'), [join(root, 'native', 'tests', 'gemm_test.cc'), ...gemmSources]),
      compile(join(dir, 'alloc_fail_test'), [
        join(root, 'native', 'tests', 'alloc_fail_test.cc'),
        join(kernels, 'conv.cc'),
        ...gemmSources,
      ]),
      compile(join(dir, 'conv_test'), [
        join(root, 'native', 'tests', 'conv_test.cc'),
        ...['conv.cc', 'pool.cc', 'batchnorm.cc'].map((f) => join(kernels, f)),
        ...gemmSources,
      ]),
    ]);
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sgemm and sgemm_packed_a: every micro-kernel, edges, strides, alpha/beta, batches, 1-2 threads', async () => {
    const r = await run(join(dir, 'gemm_test'), []);
    expect(r.out).toMatch(/ALL PASSED/);
    // one line per forced kernel and small-GEMM plan (a CPU without AVX-512 runs its best kernel
    // in that slot), none with failures
    expect(r.out.match(/^\w[\w-]*: \d+ cases, 0 failures$/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(r.out).not.toMatch(/: \d+ cases, [1-9]\d* failures/);
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  it('a failed scratch allocation inside the threaded sgemm / conv2d is a thrown error, not a crash', async () => {
    const r = await run(join(dir, 'alloc_fail_test'), []);
    expect(r.out).toMatch(/^(\d+) checks, 0 failures$/m);
    expect(Number(r.out.match(/^(\d+) checks/m)?.[1] ?? 0)).toBeGreaterThanOrEqual(20);
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  it('conv2d with its im2col scratch bounded: the tiled path matches the references and the unbounded path', async () => {
    // compiled here rather than in beforeAll, whose compilations already take minutes on 2 cores
    await compile(join(dir, 'conv_tiled_test'), [join(root, 'native', 'tests', 'conv_tiled_test.cc'), join(kernels, 'conv.cc'), ...gemmSources]);
    const r = await run(join(dir, 'conv_tiled_test'), []);
    expect(r.out).toMatch(/^(\d+) checks, 0 failures$/m);
    // the bounded-scratch geometry ran in every direction on 1 and 2 threads
    expect(r.out.match(/^bounded .* largest scratch request/gm)?.length ?? 0).toBe(6);
    expect(r.code, r.out.slice(-4000)).toBe(0);
  }, 300_000);

  // The CPU's level (AVX-512: the AVX-512 micro-kernel, im2col fills, pooling and batch-norm loops),
  // then avx2 (AVX2 micro-kernel, x86-64-v3 loops) and base (portable micro-kernel, baseline loops).
  for (const level of ['', 'avx2', 'base']) {
    it(`conv2d / pooling / batch norm against double references (${level ? `AVGK_NATIVE_ISA=${level}` : 'CPU level'})`, async () => {
      const r = await run(join(dir, 'conv_test'), ['test'], { AVGK_NATIVE_ISA: level }); // '': the CPU's
      expect(r.out).toMatch(/\d+ checks, 0 failures/);
      expect(r.code, r.out.slice(-4000)).toBe(0);
      const [, isa, gemm] = r.out.match(/^isa (\w+), sgemm kernel (\w+)$/m) ?? [];
      if (level === 'base') expect([isa, gemm]).toEqual(['base', 'portable']);
      if (level === 'avx2') {
        expect(isa).not.toBe('avx512');
        expect(gemm).toBe(isa === 'avx2' ? 'avx2' : 'portable');
      }
      if (level === '') expect(gemm).toBe({ avx512: 'avx512', avx2: 'avx2', base: 'portable' }[isa ?? '']);
    }, 300_000);
  }
});
