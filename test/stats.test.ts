/** Paired differences over seeds (src/train/stats.ts) and the expected accuracy of sets under a posterior. */
import { describe, it, expect } from 'vitest';
import { pairedDifference, tQuantile975 } from '../src/train/stats.js';
import { expectedAccuracy } from '../src/avgk/metrics.js';
import { Rng } from '../src/tensor/rng.js';

describe('paired differences', () => {
  it('t quantiles: the table and the expansion beyond it agree with known values', () => {
    expect(tQuantile975(1)).toBeCloseTo(12.706, 3);
    expect(tQuantile975(4)).toBeCloseTo(2.776, 3);
    expect(tQuantile975(30)).toBeCloseTo(2.042, 3);
    expect(tQuantile975(40)).toBeCloseTo(2.021, 2);
    expect(tQuantile975(120)).toBeCloseTo(1.98, 2);
    expect(() => tQuantile975(0)).toThrow(/df must be an integer ≥ 1, got 0/);
  });

  it('mean difference and 95% interval by hand, and the verdict', () => {
    const d = pairedDifference([0.8, 0.82, 0.81], [0.79, 0.8, 0.8])!;
    // differences 0.01, 0.02, 0.01: mean 0.013333, sd 0.005774, half-width 4.303·sd/√3 = 0.014343
    expect(d.n).toBe(3);
    expect(d.mean).toBeCloseTo(0.0133333, 6);
    expect(d.lo).toBeCloseTo(0.0133333 - 0.0143426, 5);
    expect(d.hi).toBeCloseTo(0.0133333 + 0.0143426, 5);
    expect(d.verdict).toBe('no difference');
    expect(pairedDifference([1, 1.1, 1.2, 1.3], [0, 0.1, 0.15, 0.3])!.verdict).toBe('higher');
    expect(pairedDifference([0, 0.1, 0.15, 0.3], [1, 1.1, 1.2, 1.3])!.verdict).toBe('lower');
    expect(pairedDifference([0.5], [0.4])).toMatchObject({ n: 1, lo: 0.5 - 0.4, hi: 0.5 - 0.4, verdict: 'no difference' });
    expect(pairedDifference([], [])).toBeNull();
    expect(() => pairedDifference([1], [1, 2])).toThrow(/1 values paired with 2/);
  });

  it('the 95% interval covers the true mean difference about 95% of the time', () => {
    const rng = new Rng(7);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    let covered = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const a = Array.from({ length: 5 }, () => 0.3 + 0.1 * normal());
      const b = a.map((x) => x - 0.05 + 0.02 * normal());
      const d = pairedDifference(a, b)!;
      if (d.lo <= 0.05 && 0.05 <= d.hi) covered++;
    }
    // binomial sd at p = 0.95 over 4000 trials is 0.0034
    expect(Math.abs(covered / trials - 0.95)).toBeLessThan(0.012);
  });
});

describe('expectedAccuracy', () => {
  it('sums the posterior over each set, averaged over rows', () => {
    const sets = { rows: 2, cols: 3, mask: Uint8Array.from([1, 1, 0, 0, 0, 1]), sizes: Int32Array.from([2, 1]) };
    const eta = Float32Array.from([0.5, 0.3, 0.2, 0.1, 0.1, 0.8]);
    expect(expectedAccuracy(sets, eta)).toBeCloseTo((0.8 + 0.8) / 2, 6);
    expect(() => expectedAccuracy(sets, new Float32Array(5))).toThrow(/expectedAccuracy: posterior has 5 values, expected 2×3/);
  });
});
