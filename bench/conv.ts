/**
 * conv2d forward / backward-input / backward-weight for each layer of the reference CNN (SmallCNN:
 * 3×3, padding 1, no bias) at batch 128 (16 with --quick), through the active backend's kernels.
 */
import { backend, type ConvGeom } from '../src/backend/index.js';
import { fillRandom, type BenchCase } from './harness.js';

interface Layer {
  label: string;
  c: number;
  o: number;
  hw: number;
}

export const CNN_LAYERS: readonly Layer[] = [
  { label: 'conv1', c: 1, o: 32, hw: 28 },
  { label: 'conv2', c: 32, o: 32, hw: 28 },
  { label: 'conv3', c: 32, o: 64, hw: 14 },
  { label: 'conv4', c: 64, o: 64, hw: 14 },
];

export function geom(n: number, l: Layer): ConvGeom {
  return { n, c: l.c, h: l.hw, w: l.hw, o: l.o, kh: 3, kw: 3, stride: 1, pad: 1, oh: l.hw, ow: l.hw };
}

export function convCases(quick: boolean): BenchCase[] {
  const batch = quick ? 16 : 128;
  const cases: BenchCase[] = [];
  for (const l of CNN_LAYERS) {
    const g = geom(batch, l);
    const flops = 2 * g.n * g.o * g.oh * g.ow * g.c * g.kh * g.kw;
    const shape = `n=${g.n} ${g.c}→${g.o} ${g.h}×${g.w} k3 p1`;
    const common = { shape, flops, iterations: 5, timeMs: quick ? 100 : 350, warmup: 2, extra: { layer: l.label, batch } };
    const alloc = () => ({
      x: fillRandom(new Float32Array(g.n * g.c * g.h * g.w), 3),
      w: fillRandom(new Float32Array(g.o * g.c * g.kh * g.kw), 4),
      y: fillRandom(new Float32Array(g.n * g.o * g.oh * g.ow), 5),
    });
    cases.push(
      {
        ...common,
        name: `conv2d-fwd/${l.label}`,
        setup: () => {
          const { x, w, y } = alloc();
          const be = backend();
          return { fn: () => be.conv2dForward(x, w, null, y, g) };
        },
      },
      {
        ...common,
        name: `conv2d-bwd-input/${l.label}`,
        setup: () => {
          const { x, w, y } = alloc();
          const be = backend();
          return { fn: () => be.conv2dBackwardInput(y, w, x, g) };
        },
      },
      {
        ...common,
        name: `conv2d-bwd-weight/${l.label}`,
        setup: () => {
          const { x, w, y } = alloc();
          const be = backend();
          return { fn: () => be.conv2dBackwardWeight(x, y, w, g) };
        },
      },
    );
  }
  return cases;
}
