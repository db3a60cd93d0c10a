// Naive double-precision references of the convolution, the oracle of the C++ convolution tests
// (conv_test.cc, conv_tiled_test.cc). One loop over the taps serves the forward and both gradients.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace avgk_test {

// f(xi, wi, yi) for every tap that reads inside the image: x[xi] · w[wi] contributes to y[yi].
// Order: image, output channel, output row, column, input channel, kernel row, kernel column.
template <class F>
void for_each_tap(const avgk::ConvGeom& g, F&& f) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t yi = ((n * g.o + o) * g.oh + oy) * g.ow + ox;
          for (int64_t c = 0; c < g.c; ++c)
            for (int64_t i = 0; i < g.kh; ++i) {
              const int64_t iy = oy * g.stride - g.pad + i;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ix = ox * g.stride - g.pad + j;
                if (ix < 0 || ix >= g.w) continue;
                f(((n * g.c + c) * g.h + iy) * g.w + ix, ((o * g.c + c) * g.kh + i) * g.kw + j, yi);
              }
            }
        }
}

// out = conv(x, w) + bias (bias may be null), NCHW.
inline void ref_conv_fwd(const std::vector<float>& x, const std::vector<float>& w, const float* bias,
                         std::vector<double>& out, const avgk::ConvGeom& g) {
  out.assign(g.n * g.o * g.oh * g.ow, 0.0);
  if (bias) {
    const int64_t plane = g.oh * g.ow;
    for (int64_t k = 0; k < static_cast<int64_t>(out.size()); ++k) out[k] = bias[(k / plane) % g.o];
  }
  for_each_tap(g, [&](int64_t xi, int64_t wi, int64_t yi) { out[yi] += (double)x[xi] * w[wi]; });
}

// gx and gw of the convolution for the upstream gradient gy.
inline void ref_conv_bwd(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& gy,
                         std::vector<double>& gx, std::vector<double>& gw, const avgk::ConvGeom& g) {
  gx.assign(g.n * g.c * g.h * g.w, 0.0);
  gw.assign(g.o * g.c * g.kh * g.kw, 0.0);
  for_each_tap(g, [&](int64_t xi, int64_t wi, int64_t yi) {
    const double gv = gy[yi];
    gx[xi] += gv * w[wi];
    gw[wi] += gv * x[xi];
  });
}

}  // namespace avgk_test
