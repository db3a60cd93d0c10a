/**
 * Paired comparisons over seeds: the mean difference of two methods trained with the same seeds
 * and its two-sided 95% Student-t interval, t_{0.975, n−1} · s_d / √n.
 */

// t_{0.975, df} for df = 1..30 (standard tables, 3 decimals)
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The 0.975 quantile of Student's t with df degrees of freedom (table to 30, then a Cornish-Fisher expansion). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`tQuantile975: df must be an integer ≥ 1, got ${df}`);
  if (df <= T975.length) return T975[df - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

export interface PairedDifference {
  /** Number of pairs. */
  n: number;
  /** Mean of a − b. */
  mean: number;
  /** 95% interval of the mean difference (equal to mean when n = 1: no interval). */
  lo: number;
  hi: number;
  /** 'no difference' when the interval covers 0 (or n < 2), else which side is higher. */
  verdict: 'higher' | 'lower' | 'no difference';
}

/** Mean difference a − b over pairs (same seeds) with its 95% t interval; null without pairs. */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference | null {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} values paired with ${b.length}`);
  const d = a.map((x, i) => x - b[i]!).filter((x) => Number.isFinite(x));
  const n = d.length;
  if (n === 0) return null;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  if (n === 1) return { n, mean, lo: mean, hi: mean, verdict: 'no difference' };
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  const lo = mean - half;
  const hi = mean + half;
  return { n, mean, lo, hi, verdict: lo > 0 ? 'higher' : hi < 0 ? 'lower' : 'no difference' };
}
