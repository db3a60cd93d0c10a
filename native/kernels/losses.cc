// Fused losses: softmax cross-entropy with label smoothing, sigmoid binary cross-entropy.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

// Σ_rows loss; grad (nullable) may be exactly the logits array (in place).
AVGK_INLINE double softmax_ce_rows_body(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                                   float smoothing, float* grad) {
  const double eps = smoothing;
  const float eps_over_c = static_cast<float>(eps / static_cast<double>(cols));
  double total = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const int32_t y = labels[r];
    float mx = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int64_t j = 0; j < cols; ++j) {
      mx = xr[j] > mx ? xr[j] : mx;
      nan |= xr[j] != xr[j];
    }
    if (nan) mx = std::numeric_limits<float>::quiet_NaN();
    const float xl = xr[y];
    // Σ_j (mx - x_j) for the smoothing term, before grad (which may alias x) is written
    const double dev = smoothing != 0.0f ? vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return mx - xr[j]; }) : 0.0;
    double s;
    if (grad) {
      float* gr = grad + r * cols;
      s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA {
        const float e = vm::exp(xr[j] - mx);
        gr[j] = e;
        return e;
      });
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t j = 0; j < cols; ++j) gr[j] = gr[j] * inv - eps_over_c;
      gr[y] -= static_cast<float>(1.0 - eps);
    } else {
      s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return vm::exp(xr[j] - mx); });
    }
    // loss = log Σ e^{x-mx} + (1-ε)(mx - x_y) + ε * mean_j(mx - x_j)
    double loss = std::log(s) + (1.0 - eps) * (static_cast<double>(mx) - xl);
    if (smoothing != 0.0f) loss += eps * dev / static_cast<double>(cols);
    total += loss;
  }
  return total;
}
AVGK_MULTIVERSION(double, softmax_ce_rows, (const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols, float smoothing, float* grad), (x, labels, r0, r1, cols, smoothing, grad))


template <bool W, bool G>
AVGK_INLINE double bce_body(const float* z, const float* t, const float* w, float* g, int64_t n) {
  return vm::lane_sum(n, [&](int64_t i) AVGK_LAMBDA {
    const float zi = z[i], ti = t[i];
    const float az = zi < 0.0f ? -zi : zi;
    const float e = vm::exp(-az);
    const float l = (zi > 0.0f ? zi : 0.0f) - zi * ti + vm::log1p_pos(e);
    if (G) {
      const float inv = 1.0f / (1.0f + e);
      const float sig = vm::sel(zi >= 0.0f, inv, e * inv);
      g[i] = W ? w[i] * (sig - ti) : (sig - ti);
    }
    return W ? w[i] * l : l;
  });
}

AVGK_INLINE double bce_chunk_body(const float* z, const float* t, const float* w, float* g, int64_t n) {
  if (w) return g ? bce_body<true, true>(z, t, w, g, n) : bce_body<true, false>(z, t, w, g, n);
  return g ? bce_body<false, true>(z, t, w, g, n) : bce_body<false, false>(z, t, w, g, n);
}
AVGK_MULTIVERSION(double, bce_chunk, (const float* z, const float* t, const float* w, float* g, int64_t n), (z, t, w, g, n))


}  // namespace

double softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols, float smoothing,
                             float* grad) {
  if (rows <= 0) return 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= cols) {
      throw std::invalid_argument("label " + std::to_string(labels[r]) + " of row " + std::to_string(r) +
                                  " is outside [0, " + std::to_string(cols) + ")");
    }
  }
  return parallel_sum(
      rows, [&](int64_t b, int64_t e) { return softmax_ce_rows(logits, labels, b, e, cols, smoothing, grad); },
      cols * 2);
}

double sigmoid_bce(const float* logits, const float* targets, const float* weights, float* grad, int64_t n) {
  return parallel_sum(n, [&](int64_t b, int64_t e) {
    return bce_chunk(logits + b, targets + b, weights ? weights + b : nullptr, grad ? grad + b : nullptr, e - b);
  }, 2);
}

}  // namespace avgk
