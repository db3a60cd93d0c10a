// Reductions over the middle axis of [outer, mid, inner]: sum (double accumulation) and max+argmax.
#include <stdexcept>

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

constexpr int64_t kBlock = 512;  // inner-axis block of double accumulators

// out[o] = Σ_m x[o*mid + m]   (inner == 1), rows [r0, r1)
AVGK_INLINE void sum_rows_body(const float* __restrict x, float* __restrict out, int64_t r0, int64_t r1, int64_t mid) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * mid;
    out[r] = static_cast<float>(vm::lane_sum(mid, [&](int64_t m) AVGK_LAMBDA { return row[m]; }));
  }
}
AVGK_MULTIVERSION(void, sum_rows, (const float* __restrict x, float* __restrict out, int64_t r0, int64_t r1, int64_t mid), (x, out, r0, r1, mid))


// out[o*inner + i] = Σ_m x[(o*mid + m)*inner + i] for the (o, i-block) work items [w0, w1)
AVGK_INLINE void sum_cols_body(const float* __restrict x, float* __restrict out, int64_t w0, int64_t w1, int64_t mid,
                          int64_t inner, int64_t nblk) {
  double acc[kBlock];
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t o = w / nblk, i0 = (w % nblk) * kBlock;
    const int64_t len = std::min(kBlock, inner - i0);
    for (int64_t i = 0; i < len; ++i) acc[i] = 0.0;
    const float* base = x + o * mid * inner + i0;
    for (int64_t m = 0; m < mid; ++m) {
      const float* row = base + m * inner;
      for (int64_t i = 0; i < len; ++i) acc[i] += static_cast<double>(row[i]);
    }
    float* dst = out + o * inner + i0;
    for (int64_t i = 0; i < len; ++i) dst[i] = static_cast<float>(acc[i]);
  }
}
AVGK_MULTIVERSION(void, sum_cols, (const float* __restrict x, float* __restrict out, int64_t w0, int64_t w1, int64_t mid, int64_t inner, int64_t nblk), (x, out, w0, w1, mid, inner, nblk))


AVGK_INLINE void max_rows_body(const float* __restrict x, float* __restrict out, int32_t* __restrict arg, int64_t r0,
                          int64_t r1, int64_t mid) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * mid;
    float best = row[0];
    bool nan = false;
    for (int64_t m = 0; m < mid; ++m) {
      const float v = row[m];
      best = v > best ? v : best;
      nan |= (v != v);
    }
    int64_t at = 0;
    if (nan) {
      while (row[at] == row[at]) ++at;
      best = row[at];
    } else {
      while (row[at] != best) ++at;
      best = row[at];
    }
    out[r] = best;
    arg[r] = static_cast<int32_t>(at);
  }
}
AVGK_MULTIVERSION(void, max_rows, (const float* __restrict x, float* __restrict out, int32_t* __restrict arg, int64_t r0, int64_t r1, int64_t mid), (x, out, arg, r0, r1, mid))


AVGK_INLINE void max_cols_body(const float* __restrict x, float* __restrict out, int32_t* __restrict arg, int64_t w0,
                          int64_t w1, int64_t mid, int64_t inner, int64_t nblk) {
  float best[kBlock];
  int32_t where[kBlock];
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t o = w / nblk, i0 = (w % nblk) * kBlock;
    const int64_t len = std::min(kBlock, inner - i0);
    const float* base = x + o * mid * inner + i0;
    for (int64_t i = 0; i < len; ++i) {
      best[i] = base[i];
      where[i] = 0;
    }
    for (int64_t m = 1; m < mid; ++m) {
      const float* row = base + m * inner;
      const int32_t mm = static_cast<int32_t>(m);
      for (int64_t i = 0; i < len; ++i) {
        const float v = row[i], b = best[i];
        // take v if larger, or if it is the first NaN (a NaN best is never replaced)
        const bool take = (v > b) | ((v != v) & (b == b));
        best[i] = take ? v : b;
        where[i] = take ? mm : where[i];
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      out[o * inner + i0 + i] = best[i];
      arg[o * inner + i0 + i] = where[i];
    }
  }
}
AVGK_MULTIVERSION(void, max_cols, (const float* __restrict x, float* __restrict out, int32_t* __restrict arg, int64_t w0, int64_t w1, int64_t mid, int64_t inner, int64_t nblk), (x, out, arg, w0, w1, mid, inner, nblk))


}  // namespace

void reduce_sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  if (inner == 1) {
    parallel_for(outer, [&](int64_t b, int64_t e) { sum_rows(x, out, b, e, mid); }, mid > 0 ? mid : 1);
    return;
  }
  const int64_t nblk = (inner + kBlock - 1) / kBlock;
  const int64_t per = std::min(inner, kBlock) * (mid > 0 ? mid : 1);
  parallel_for(outer * nblk, [&](int64_t b, int64_t e) { sum_cols(x, out, b, e, mid, inner, nblk); }, per);
}

void reduce_max(const float* x, float* out, int32_t* argmax, int64_t outer, int64_t mid, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  if (mid <= 0) throw std::invalid_argument("reduceMax over an empty axis (mid = 0)");
  if (inner == 1) {
    parallel_for(outer, [&](int64_t b, int64_t e) { max_rows(x, out, argmax, b, e, mid); }, mid);
    return;
  }
  const int64_t nblk = (inner + kBlock - 1) / kBlock;
  const int64_t per = std::min(inner, kBlock) * mid;
  parallel_for(outer * nblk, [&](int64_t b, int64_t e) { max_cols(x, out, argmax, b, e, mid, inner, nblk); }, per);
}

}  // namespace avgk
