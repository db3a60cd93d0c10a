/** Assertions shared by test files. */
import { expect } from 'vitest';
import type { Dataset } from '../../src/data/types.js';

/** Exit 2 with one `avgk: error:` line matching `re`. */
export function expectUsage(r: { code: number; err: string }, re: RegExp): void {
  const lines = r.err.split('\n').filter((l) => l.length > 0);
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^avgk: error: /);
  expect(lines[0]).toMatch(re);
  expect(r.code).toBe(2);
}

/** Accuracy of argmax η against a split's labels and the mean of max η, with the binomial standard error. */
export function bayesCalibration(ds: Dataset, split: 'train' | 'val' | 'test'): { acc: number; meanMax: number; se: number } {
  const C = ds.numClasses;
  const eta = ds.posterior![split]!;
  const { n, y } = ds[split];
  let hits = 0;
  let mx = 0;
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < C; j++) if (eta[i * C + j] > eta[i * C + b]) b = j;
    hits += b === y[i] ? 1 : 0;
    mx += eta[i * C + b];
  }
  const acc = hits / n;
  return { acc, meanMax: mx / n, se: Math.sqrt((acc * (1 - acc)) / n) };
}
