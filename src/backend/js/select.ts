/**
 * selectKth: the m-th largest selected value by quickselect over a copy of the selected entries.
 *
 * Pivots are the median of three pseudo-random entries (a fixed-seed xorshift, so runs are
 * reproducible and no input ordering is adversarial) and partitioning is three-way, so runs of equal
 * values (common: ties in scores) cost one pass. Expected O(n); only ranges of ≤ 16 entries are
 * finished by insertion sort.
 */
import type { F32 } from '../types.js';
import { checkSameLength } from './check.js';

export function selectKth(x: F32, m: number, mask: Uint8Array | null): number {
  const op = 'selectKth';
  const n = x.length;
  let count = n;
  if (mask !== null) {
    checkSameLength(op, 'mask', mask, 'x', x);
    count = 0;
    for (let i = 0; i < n; i++) if (mask[i] !== 0) count++;
  }
  if (!Number.isInteger(m) || m < 1 || m > count) {
    throw new Error(`${op}: m=${m} is out of range [1, ${count}] (${count} of ${n} entries selected)`);
  }
  const buf = new Float32Array(count);
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) continue;
    const v = x[i]!;
    if (v !== v) throw new Error(`${op}: x[${i}] is NaN (NaN values cannot be ranked)`);
    buf[c++] = v;
  }
  return quickselect(buf, count - m);
}

/** The value of rank `target` (0-based, ascending) of buf; reorders buf. */
function quickselect(buf: F32, target: number): number {
  let lo = 0;
  let hi = buf.length - 1;
  let seed = 0x9e3779b9 | 0;
  while (hi - lo > 16) {
    const span = hi - lo + 1;
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const a = buf[lo + ((seed >>> 0) % span)]!;
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const b = buf[lo + ((seed >>> 0) % span)]!;
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const c = buf[lo + ((seed >>> 0) % span)]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    // Dijkstra three-way partition: [lo, lt) < pivot, [lt, gt] = pivot, (gt, hi] > pivot.
    let lt = lo;
    let i = lo;
    let gt = hi;
    while (i <= gt) {
      const v = buf[i]!;
      if (v < pivot) {
        buf[i++] = buf[lt]!;
        buf[lt++] = v;
      } else if (v > pivot) {
        buf[i] = buf[gt]!;
        buf[gt--] = v;
      } else {
        i++;
      }
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  // Insertion sort of the final small range.
  for (let i = lo + 1; i <= hi; i++) {
    const v = buf[i]!;
    let j = i - 1;
    while (j >= lo && buf[j]! > v) {
      buf[j + 1] = buf[j]!;
      j--;
    }
    buf[j + 1] = v;
  }
  return buf[target]!;
}

/**
 * markTop on top of a backend's selectKth (the native backend passes its own, see ../native):
 * marks every selected entry above λ = the m-th largest, then the entries equal to λ in index
 * order until m are marked.
 */
export function makeMarkTop(select: (x: F32, m: number, mask: Uint8Array | null) => number) {
  return function markTop(x: F32, m: number, mask: Uint8Array | null, targets: F32): void {
    const op = 'markTop';
    checkSameLength(op, 'targets', targets, 'x', x);
    if (mask !== null) checkSameLength(op, 'mask', mask, 'x', x);
    if (!Number.isInteger(m)) throw new Error(`${op}: m must be an integer, got ${m}`);
    if (m <= 0) return;
    const lambda = select(x, m, mask);
    const n = x.length;
    let taken = 0;
    for (let i = 0; i < n; i++) {
      if ((mask === null || mask[i] !== 0) && x[i]! > lambda) {
        targets[i] = 1;
        taken++;
      }
    }
    for (let i = 0; i < n && taken < m; i++) {
      if ((mask === null || mask[i] !== 0) && x[i] === lambda) {
        targets[i] = 1;
        taken++;
      }
    }
  };
}

export const markTop = makeMarkTop(selectKth);

export function countAboveEqual(x: F32, t: number): [number, number] {
  let above = 0;
  let equal = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > t) above++;
    else if (v === t) equal++;
  }
  return [above, equal];
}
