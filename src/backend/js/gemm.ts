/**
 * Batched strided SGEMM (see Backend.gemm): C_t = alpha * A_t B_t + beta * C_t.
 *
 * Products of two float32 values are exact in double and the sums are accumulated in double, so
 * each C entry is rounded to float32 once. Two loop orders:
 *  - i-p-j (default): a row of double accumulators is updated with a[i,p] * B[p, :]; the inner loop
 *    runs over j, contiguous in B when its column stride is 1 and always contiguous in the
 *    accumulator;
 *  - i-j-p (dot products) when B is stored transposed (row stride 1, column stride ≠ 1): the inner
 *    loop then runs over p, contiguous in B (and in A when its column stride is 1).
 * Both inner loops are unrolled by four (over p), which changes only the order of the double sums.
 * beta = 0 overwrites C without reading it (NaN in C never survives).
 */
import type { F32 } from '../types.js';
import { checkIntegers, checkSizes, checkStrided } from './check.js';

export function gemm(
  batch: number, m: number, n: number, k: number, alpha: number,
  a: F32, aOffset: number, aRowStride: number, aColStride: number, aBatchStride: number,
  b: F32, bOffset: number, bRowStride: number, bColStride: number, bBatchStride: number,
  beta: number,
  c: F32, cOffset: number, cRowStride: number, cBatchStride: number,
): void {
  checkSizes('gemm', { batch, m, n, k });
  checkIntegers('gemm', {
    aOffset, aRowStride, aColStride, aBatchStride, bOffset, bRowStride, bColStride, bBatchStride,
    cOffset, cRowStride, cBatchStride,
  });
  const bt = batch > 1 ? `batch=${batch}, ` : '';
  checkStrided('gemm', 'a', a, aOffset, [batch, m, k], [aBatchStride, aRowStride, aColStride],
    `m=${m} k=${k} (${bt}offset ${aOffset}, strides ${aRowStride}/${aColStride}/${aBatchStride})`);
  checkStrided('gemm', 'b', b, bOffset, [batch, k, n], [bBatchStride, bRowStride, bColStride],
    `k=${k} n=${n} (${bt}offset ${bOffset}, strides ${bRowStride}/${bColStride}/${bBatchStride})`);
  checkStrided('gemm', 'c', c, cOffset, [batch, m, n], [cBatchStride, cRowStride, 1],
    `m=${m} n=${n} (${bt}offset ${cOffset}, row stride ${cRowStride}, batch stride ${cBatchStride})`);
  if (m === 0 || n === 0 || batch === 0) return;

  const dot = bRowStride === 1 && bColStride !== 1 && k > 1;
  const acc = dot ? null : new Float64Array(n);
  for (let t = 0; t < batch; t++) {
    const aT = aOffset + t * aBatchStride;
    const bT = bOffset + t * bBatchStride;
    const cT = cOffset + t * cBatchStride;
    for (let i = 0; i < m; i++) {
      const aRow = aT + i * aRowStride;
      const cRow = cT + i * cRowStride;
      if (acc === null) {
        // i-j-p: dot products along contiguous columns of B.
        for (let j = 0; j < n; j++) {
          const bCol = bT + j * bColStride;
          let s = 0;
          if (aColStride === 1) {
            // Four independent partial sums (the add latency, not the loads, bounds one chain).
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            let p = 0;
            for (; p + 4 <= k; p += 4) {
              s += a[aRow + p]! * b[bCol + p]!;
              s1 += a[aRow + p + 1]! * b[bCol + p + 1]!;
              s2 += a[aRow + p + 2]! * b[bCol + p + 2]!;
              s3 += a[aRow + p + 3]! * b[bCol + p + 3]!;
            }
            for (; p < k; p++) s += a[aRow + p]! * b[bCol + p]!;
            s += s1 + s2 + s3;
          } else {
            for (let p = 0, ai = aRow; p < k; p++, ai += aColStride) s += a[ai]! * b[bCol + p]!;
          }
          c[cRow + j] = beta === 0 ? alpha * s : alpha * s + beta * c[cRow + j]!;
        }
        continue;
      }
      // i-p-j: rank-1 updates of a row of double accumulators.
      acc.fill(0);
      let p0 = 0;
      if (bColStride === 1) {
        // Four rows of B per sweep over the accumulator row (a quarter of the acc loads/stores).
        for (; p0 + 4 <= k; p0 += 4) {
          const a0 = a[aRow + p0 * aColStride]!;
          const a1 = a[aRow + (p0 + 1) * aColStride]!;
          const a2 = a[aRow + (p0 + 2) * aColStride]!;
          const a3 = a[aRow + (p0 + 3) * aColStride]!;
          const b0 = bT + p0 * bRowStride;
          const b1 = b0 + bRowStride;
          const b2 = b1 + bRowStride;
          const b3 = b2 + bRowStride;
          for (let j = 0; j < n; j++) {
            acc[j]! += a0 * b[b0 + j]! + a1 * b[b1 + j]! + a2 * b[b2 + j]! + a3 * b[b3 + j]!;
          }
        }
      }
      for (let p = p0; p < k; p++) {
        const aip = a[aRow + p * aColStride]!;
        const bRow = bT + p * bRowStride;
        if (bColStride === 1) {
          for (let j = 0; j < n; j++) acc[j]! += aip * b[bRow + j]!;
        } else {
          for (let j = 0, bj = bRow; j < n; j++, bj += bColStride) acc[j]! += aip * b[bj]!;
        }
      }
      if (beta === 0) {
        for (let j = 0; j < n; j++) c[cRow + j] = alpha * acc[j]!;
      } else if (beta === 1) {
        for (let j = 0; j < n; j++) c[cRow + j] = alpha * acc[j]! + c[cRow + j]!;
      } else {
        for (let j = 0; j < n; j++) c[cRow + j] = alpha * acc[j]! + beta * c[cRow + j]!;
      }
    }
  }
}
