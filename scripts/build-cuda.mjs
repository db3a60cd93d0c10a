#!/usr/bin/env node
// Builds the CUDA addon with cmake-js (CMakeLists.txt) into build-cuda/ when nvcc is found.
// Never fails the install: without nvcc, or when the build fails, it prints one line saying why
// and how to build it later, and exits 0 (avgk then runs on the CPU).
//
//   node scripts/build-cuda.mjs             the addon for GPUs (build-cuda/Release/avgk_cuda.node)
//   node scripts/build-cuda.mjs --emulate   the same kernels for the CPU emulator, and the C++ test
//                                           programs (build-cuda-emu/): for tests without a GPU;
//                                           a failure exits 1
//   --force                                 rebuild even when the output is newer than the sources
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const emulate = process.argv.includes('--emulate');
const force = process.argv.includes('--force');
const out = join(root, emulate ? 'build-cuda-emu' : 'build-cuda');
const target = join(out, 'Release', emulate ? 'avgk_cuda_emu.node' : 'avgk_cuda.node');
const later = 'run `npm run build:cuda` after installing the CUDA toolkit (nvcc) to use a GPU';

function say(line) {
  console.log(`avgk: ${line}`);
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (/\.(cc|h|cu|cuh)$/.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function findNvcc() {
  if (process.env.CUDACXX && existsSync(process.env.CUDACXX)) return process.env.CUDACXX;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'nvcc'))) return join(dir, 'nvcc');
  }
  for (const p of ['/usr/local/cuda/bin/nvcc', '/opt/cuda/bin/nvcc']) if (existsSync(p)) return p;
  return null;
}

function upToDate() {
  if (force || !existsSync(target)) return false;
  const src = Math.max(
    newest(join(root, 'native', 'cuda')),
    statSync(join(root, 'native', 'binding', 'common.cc')).mtimeMs,
    statSync(join(root, 'native', 'binding', 'common.h')).mtimeMs,
    statSync(join(root, 'native', 'ops.h')).mtimeMs,
    statSync(join(root, 'CMakeLists.txt')).mtimeMs,
  );
  return statSync(target).mtimeMs >= src;
}

const skip = (why) => {
  say(`CUDA addon not built: ${why}; ${later}`);
  process.exit(0);
};

if (!emulate && process.env.AVGK_SKIP_CUDA_BUILD) skip('AVGK_SKIP_CUDA_BUILD is set');
const nvcc = emulate ? null : findNvcc();
if (!emulate && !nvcc) skip('nvcc was not found (on PATH, in CUDACXX or in /usr/local/cuda/bin)');
if (upToDate()) {
  say(`${emulate ? 'emulated ' : ''}CUDA addon is up to date (${target.slice(root.length + 1)})`);
  process.exit(0);
}

let cmakeJs;
try {
  cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
} catch {
  if (emulate) {
    console.error('avgk: cmake-js is not installed (npm install)');
    process.exit(1);
  }
  skip('cmake-js is not installed');
}

const args = [cmakeJs, 'compile', '--directory', root, '--out', out, '--parallel', '2', '--log-level', 'error'];
if (emulate) args.push('--CDAVGK_CUDA_EMULATE=ON');
else args.push(`--CDCMAKE_CUDA_COMPILER=${nvcc}`);
mkdirSync(out, { recursive: true });
const t0 = Date.now();
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
const log = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
writeFileSync(join(out, 'build.log'), log);
if (r.status !== 0 || !existsSync(target)) {
  const first = log.split('\n').find((l) => /error/i.test(l)) ?? `cmake-js exited with ${r.status}`;
  if (emulate) {
    console.error(`avgk: the emulated CUDA build failed: ${first.trim()}\n${log.slice(-4000)}`);
    process.exit(1);
  }
  skip(`the build failed (${first.trim()}; the whole log is in build-cuda/build.log)`);
}
say(`built ${target.slice(root.length + 1)} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
