// Row-wise softmax / log-softmax and their backward passes over [rows, cols].
#include <cmath>

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

// out may be exactly x (in place): no __restrict.
AVGK_INLINE void softmax_rows_body(const float* x, float* out, int64_t r0, int64_t r1, int64_t cols, bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    const float mx = vm::max_or_nan(xr, cols);
    if (!log) {
      const double s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA {
        const float e = vm::exp(xr[j] - mx);
        orow[j] = e;
        return e;
      });
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t j = 0; j < cols; ++j) orow[j] *= inv;
    } else {
      const double s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return vm::exp(xr[j] - mx); });
      const float ls = static_cast<float>(std::log(s));
      for (int64_t j = 0; j < cols; ++j) orow[j] = (xr[j] - mx) - ls;
    }
  }
}
AVGK_MULTIVERSION(void, softmax_rows, (const float* x, float* out, int64_t r0, int64_t r1, int64_t cols, bool log), (x, out, r0, r1, cols, log))


AVGK_INLINE void softmax_backward_rows_body(const float* y, const float* gy, float* gx, int64_t r0, int64_t r1,
                                       int64_t cols, bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* xr = gx + r * cols;
    if (!log) {
      const double s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return gr[j] * yr[j]; });
      const float sf = static_cast<float>(s);
      for (int64_t j = 0; j < cols; ++j) xr[j] = yr[j] * (gr[j] - sf);
    } else {
      const double s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return gr[j]; });
      const float sf = static_cast<float>(s);
      for (int64_t j = 0; j < cols; ++j) xr[j] = gr[j] - vm::exp(yr[j]) * sf;
    }
  }
}
AVGK_MULTIVERSION(void, softmax_backward_rows, (const float* y, const float* gy, float* gx, int64_t r0, int64_t r1, int64_t cols, bool log), (y, gy, gx, r0, r1, cols, log))


}  // namespace

void softmax(const float* x, float* out, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  parallel_for(rows, [&](int64_t b, int64_t e) { softmax_rows(x, out, b, e, cols, log); }, cols * 2);
}

void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  parallel_for(rows, [&](int64_t b, int64_t e) { softmax_backward_rows(y, gy, gx, b, e, cols, log); }, cols);
}

}  // namespace avgk
