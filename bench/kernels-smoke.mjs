// Quick throughput check of a few native kernels (not a test): node bench/kernels-smoke.mjs
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = createRequire(import.meta.url)(join(root, 'build', 'Release', 'avgk.node'));

function best(fn, reps = 7) {
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const s = process.hrtime.bigint();
    fn();
    t = Math.min(t, Number(process.hrtime.bigint() - s) / 1e9);
  }
  return t;
}
const gbs = (bytes, s) => (bytes / s / 1e9).toFixed(1);

for (const threads of [1, 2]) {
  addon.setNumThreads(threads);
  console.log(`--- threads=${threads}`);
  const N = 8 * 1024 * 1024;
  const z = new Float32Array(N).map(() => (Math.random() - 0.5) * 20);
  const t = new Float32Array(N).map(() => (Math.random() < 0.5 ? 0 : 1));
  const g = new Float32Array(N);
  let s = best(() => addon.sigmoidBce(z, t, null, g));
  console.log(`sigmoidBce fwd+bwd 8M: ${(s * 1e3).toFixed(2)} ms, ${gbs(3 * 4 * N, s)} GB/s (read z,t + write grad)`);
  s = best(() => addon.sigmoidBce(z, t, null, null));
  console.log(`sigmoidBce fwd only 8M: ${(s * 1e3).toFixed(2)} ms, ${gbs(2 * 4 * N, s)} GB/s`);

  const cols = 1000;
  const rows = Math.floor(N / cols);
  const x = z.subarray(0, rows * cols);
  const labels = Int32Array.from({ length: rows }, () => Math.floor(Math.random() * cols));
  const grad = new Float32Array(rows * cols);
  s = best(() => addon.softmaxCrossEntropy(x, labels, rows, cols, 0.1, grad));
  console.log(`softmaxCE fwd+bwd ${rows}x${cols}: ${(s * 1e3).toFixed(2)} ms, ${gbs(2 * 4 * rows * cols, s)} GB/s (read logits + write grad)`);
  s = best(() => addon.softmaxCrossEntropy(x, labels, rows, cols, 0.1, null));
  console.log(`softmaxCE fwd only: ${(s * 1e3).toFixed(2)} ms, ${gbs(4 * rows * cols, s)} GB/s`);

  const M = 10_000_000;
  const v = new Float32Array(M).map(() => Math.random() * 2 - 1);
  const dst = new Float32Array(M);
  const tc = best(() => dst.set(v));
  const ts = best(() => addon.selectKth(v, 12345, null));
  const mask = new Uint8Array(M).map(() => (Math.random() < 0.5 ? 1 : 0));
  const tm = best(() => addon.selectKth(v, 12345, mask));
  console.log(`copy 1e7 (Float32Array.set): ${(tc * 1e3).toFixed(2)} ms, ${gbs(8 * M, tc)} GB/s (read+write)`);
  console.log(`selectKth 1e7: ${(ts * 1e3).toFixed(2)} ms = ${(ts / tc).toFixed(2)}x the copy; masked: ${(tm * 1e3).toFixed(2)} ms = ${(tm / tc).toFixed(2)}x`);
}
