/**
 * Peers run in the same benchmark session: numpy's OpenBLAS SGEMM (numpy_gemm.py, `python3`) and
 * Debian's PyTorch (torch_peer.py, `/usr/bin/python3`). Each script prints JSON lines; the numbers
 * come back as records with impl = 'openblas' / 'torch'.
 *
 * OpenBLAS threads follow the benchmark's thread count (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, and
 * torch.set_num_threads through --threads). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which this machine
 * may set to force an older kernel, are removed from the peers' environment only, so that the peers
 * run their best kernels.
 */
import { findPackageRoot } from '../src/io/package.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BenchRecord } from './harness.js';
import type { GemmShape } from './gemm.js';

export interface PeerStatus {
  ok: boolean;
  why: string;
  version?: string;
}

export interface PeerEnv {
  dir: string | null;
  numpy: PeerStatus;
  torch: PeerStatus;
}

const NUMPY_PYTHON = process.env.AVGK_BENCH_NUMPY_PYTHON ?? 'python3';
const TORCH_PYTHON = process.env.AVGK_BENCH_TORCH_PYTHON ?? '/usr/bin/python3';

/** The repository root: the nearest ancestor of `from` whose package.json is named "avgk". */
export function repoRoot(from: string): string {
  return findPackageRoot(from) ?? resolve(from, '..');
}

/** Where the peer scripts are: --peers-dir, $AVGK_PEERS_DIR, else the repository's own bench/peers. */
export function findPeersDir(root: string, explicit?: string): string | null {
  const candidates = [explicit, process.env.AVGK_PEERS_DIR, join(root, 'bench', 'peers')];
  for (const c of candidates) {
    if (c && existsSync(join(c, 'numpy_gemm.py')) && existsSync(join(c, 'torch_peer.py'))) return c;
  }
  return null;
}

function peerEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function probe(python: string, code: string): PeerStatus {
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 60_000, env: peerEnv(1) });
  if (r.error) return { ok: false, why: `${python} cannot be run (${r.error.message})` };
  if (r.status !== 0) {
    const last = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
    return { ok: false, why: `${python}: ${last}` };
  }
  return { ok: true, why: '', version: r.stdout.trim() };
}

export function detectPeers(root: string, explicitDir?: string): PeerEnv {
  const dir = findPeersDir(root, explicitDir);
  if (!dir) {
    const why = 'peer scripts (numpy_gemm.py, torch_peer.py) not found (set AVGK_PEERS_DIR or --peers-dir)';
    return { dir, numpy: { ok: false, why }, torch: { ok: false, why } };
  }
  return {
    dir,
    numpy: probe(NUMPY_PYTHON, 'import numpy; print(numpy.__version__)'),
    torch: probe(TORCH_PYTHON, 'import torch; print(torch.__version__)'),
  };
}

function runJsonLines(python: string, args: string[], threads: number, timeoutMs: number): Record<string, unknown>[] {
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: timeoutMs, env: peerEnv(threads), maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`${python} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${python} ${args.join(' ')} exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  const out: Record<string, unknown>[] = [];
  for (const line of r.stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // not a JSON line: ignore
    }
  }
  return out;
}

/** OpenBLAS SGEMM for the given shapes (always A·B, row-major, no transposes). */
export function runNumpyGemm(dir: string, shapes: readonly GemmShape[], threads: number): BenchRecord[] {
  const uniq = [...new Set(shapes.map((s) => `${s.m}x${s.k}x${s.n}`))];
  const lines = runJsonLines(NUMPY_PYTHON, [join(dir, 'numpy_gemm.py'), uniq.join(',')], threads, 300_000);
  return lines.map((l) => ({
    name: 'sgemm',
    shape: `m=${l.m} k=${l.k} n=${l.n} NN`,
    threads,
    seconds: Number(l.seconds),
    gflops: Number(l.gflops),
    impl: 'openblas',
    extra: { m: Number(l.m), k: Number(l.k), n: Number(l.n), numpy: String(l.numpy) },
  }));
}

/** torch.mm for square sizes. */
export function runTorchGemm(dir: string, sizes: readonly number[], threads: number): BenchRecord[] {
  const lines = runJsonLines(TORCH_PYTHON, [join(dir, 'torch_peer.py'), 'gemm', '--threads', String(threads), '--sizes', sizes.join(',')], threads, 300_000);
  return lines.map((l) => ({
    name: 'sgemm',
    shape: `m=${l.m} k=${l.k} n=${l.n} NN`,
    threads,
    seconds: Number(l.seconds),
    gflops: Number(l.gflops),
    impl: 'torch',
    extra: { m: Number(l.m), k: Number(l.k), n: Number(l.n), version: String(l.version) },
  }));
}

/** One training-step workload ('cnn' or 'resnet18') of the PyTorch peer. */
export function runTorchTrain(dir: string, workload: 'cnn' | 'resnet18', batch: number, steps: number, warmup: number, threads: number): BenchRecord[] {
  const args = [join(dir, 'torch_peer.py'), workload, '--threads', String(threads), '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup)];
  const lines = runJsonLines(TORCH_PYTHON, args, threads, 600_000);
  return lines.map((l) => ({
    name: workload === 'cnn' ? 'train/cnn28-two-head' : 'train/resnet18-cifar-two-head',
    shape: workload === 'cnn' ? `batch=${batch} 1×28×28 C=10` : `batch=${batch} 3×32×32 C=100`,
    threads,
    seconds: Number(l.seconds_per_step),
    imagesPerS: Number(l.images_per_s),
    impl: 'torch',
    extra: { batch, steps, warmup, version: String(l.version) },
  }));
}
