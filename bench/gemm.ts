/**
 * SGEMM benchmarks through the active backend's strided gemm kernel: square sizes, the two-head
 * classifier's skinny shapes (forward and the transposed backward variants) and the im2col GEMM
 * shapes of the reference CNN's convolutions.
 */
import { backend } from '../src/backend/index.js';
import { fillRandom, type BenchCase } from './harness.js';

/** Operand layout: N = row-major as stored, T = read transposed through swapped strides. */
export type Layout = 'NN' | 'NT' | 'TN';

export interface GemmShape {
  name: string;
  m: number;
  k: number;
  n: number;
  layout: Layout;
}

/** Shape strings are "m×k×n layout"; the OpenBLAS peer is asked for the same m, k, n. */
export function gemmShapeStr(s: GemmShape): string {
  return `m=${s.m} k=${s.k} n=${s.n} ${s.layout}`;
}

export function gemmShapes(quick: boolean): GemmShape[] {
  const squares = quick ? [64, 128, 256, 512] : [64, 128, 256, 512, 1024, 2048];
  const shapes: GemmShape[] = squares.map((s) => ({ name: 'sgemm/square', m: s, k: s, n: s, layout: 'NN' as Layout }));
  // The heads: Linear(features → 10) on a batch of 128 computes x[128,f] · Wᵀ (W is [10, f]);
  // backward: dX = dY[128,10] · W[10,f] and dW = dYᵀ[10,128] · X[128,f].
  for (const f of quick ? [4096] : [4096, 64]) {
    shapes.push(
      { name: 'sgemm/head-fwd', m: 128, k: f, n: 10, layout: 'NT' },
      { name: 'sgemm/head-bwd-input', m: 128, k: 10, n: f, layout: 'NN' },
      { name: 'sgemm/head-bwd-weight', m: 10, k: 128, n: f, layout: 'TN' },
    );
  }
  // im2col GEMMs of the reference CNN (K = C·3·3): per image at 28×28 (32→32), a 16-image chunk at
  // 14×14 (64→64); backward input Wᵀ·gy and backward weight gy·colᵀ.
  shapes.push({ name: 'sgemm/conv-fwd', m: 32, k: 288, n: 784, layout: 'NN' });
  if (!quick) {
    shapes.push(
      { name: 'sgemm/conv-fwd', m: 64, k: 576, n: 3136, layout: 'NN' },
      { name: 'sgemm/conv-bwd-input', m: 288, k: 32, n: 784, layout: 'TN' },
      { name: 'sgemm/conv-bwd-weight', m: 64, k: 3136, n: 576, layout: 'NT' },
    );
  }
  return shapes;
}

export function gemmCases(quick: boolean): BenchCase[] {
  return gemmShapes(quick).map((s) => {
    const flops = 2 * s.m * s.n * s.k;
    // time budget: ~0.4 s per case (0.25 s quick), at least 5 timed calls
    return {
      name: s.name,
      shape: gemmShapeStr(s),
      flops,
      iterations: 5,
      timeMs: quick ? 150 : 400,
      warmup: flops > 4e9 ? 1 : 3,
      extra: { m: s.m, k: s.k, n: s.n, layout: s.layout },
      setup: () => {
        const { m, k, n, layout } = s;
        const a = fillRandom(new Float32Array(m * k), 1);
        const b = fillRandom(new Float32Array(k * n), 2);
        const c = new Float32Array(m * n);
        // A is stored m×k (row stride k) or, transposed, k×m (A[i,p] at p*m + i); likewise B.
        const [aRs, aCs] = layout === 'TN' ? [1, m] : [k, 1];
        const [bRs, bCs] = layout === 'NT' ? [1, k] : [n, 1];
        const be = backend();
        return {
          fn: () => be.gemm(1, m, n, k, 1, a, 0, aRs, aCs, 0, b, 0, bRs, bCs, 0, 0, c, 0, n, 0),
        };
      },
    };
  });
}
