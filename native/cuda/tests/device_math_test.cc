// Host-side checks of the CUDA kernels' __host__ __device__ math (device_math.h): the order key of
// the radix select, the covering-window arithmetic of the pooling/convolution backwards, the
// strided offsets, and the stable BCE. The kernels themselves are checked by cuda_parity_test.
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "cuda/kernels/device_math.h"

namespace dm = avgk_cuda::dm;
static int failures = 0, checks = 0;
#define CHECK(cond, ...)                   \
  do {                                     \
    ++checks;                              \
    if (!(cond)) {                         \
      ++failures;                          \
      std::printf("FAIL %s: ", #cond);     \
      std::printf(__VA_ARGS__);            \
      std::printf("\n");                   \
    }                                      \
  } while (0)

int main() {
  // order_key: monotone over a sorted sample including ±0, ±Inf, denormals; round trip exact
  std::vector<float> v = {-INFINITY, -3e38f, -1.0f, -1e-40f, -0.0f, 0.0f, 1e-40f, 1e-30f, 1.0f, 2.0f, 3e38f, INFINITY};
  for (size_t i = 0; i + 1 < v.size(); ++i)
    CHECK(dm::order_key(v[i]) < dm::order_key(v[i + 1]), "key(%g) < key(%g)", v[i], v[i + 1]);
  std::mt19937 rng(1);
  for (int i = 0; i < 100000; ++i) {
    uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    if (f != f) {
      CHECK(dm::order_key(f) > dm::order_key(INFINITY) || dm::order_key(f) < dm::order_key(-INFINITY), "NaN key");
      continue;
    }
    const float g = dm::key_to_float(dm::order_key(f));
    CHECK(std::memcmp(&f, &g, 4) == 0, "round trip of %g", f);
    float h;
    uint32_t u2 = rng();
    std::memcpy(&h, &u2, 4);
    if (h == h) CHECK((f < h) == (dm::order_key(f) < dm::order_key(h)) || f == h, "order of %g, %g", f, h);
  }
  // covering_outputs: brute force over small geometries
  for (int64_t k = 1; k <= 5; ++k)
    for (int64_t s = 1; s <= 3; ++s)
      for (int64_t pad = 0; pad <= k / 2; ++pad)
        for (int64_t in = k; in <= 9; ++in) {
          const int64_t out = dm::window_out(in, k, s, pad);
          for (int64_t i = 0; i < in; ++i) {
            int64_t lo, hi;
            dm::covering_outputs(i, k, s, pad, out, &lo, &hi);
            for (int64_t o = 0; o < out; ++o) {
              const bool covers = o * s - pad <= i && i < o * s - pad + k;
              CHECK(covers == (o >= lo && o < hi), "k=%lld s=%lld pad=%lld in=%lld i=%lld o=%lld", (long long)k,
                    (long long)s, (long long)pad, (long long)in, (long long)i, (long long)o);
            }
          }
        }
  // strided_offset: a permuted 2x3x4 view
  const int64_t shape[] = {2, 3, 4}, strides[] = {1, 8, 2};
  for (int64_t lin = 0; lin < 24; ++lin) {
    const int64_t a = lin / 12, b = lin / 4 % 3, c = lin % 4;
    CHECK(dm::strided_offset(lin, shape, strides, 3) == a * 1 + b * 8 + c * 2, "offset of %lld", (long long)lin);
  }
  // BCE: stable for large |z|, matches the naive formula where that is accurate
  for (float z : {-80.0f, -20.0f, -1.0f, 0.0f, 0.5f, 20.0f, 80.0f})
    for (float t : {0.0f, 0.3f, 1.0f}) {
      const double zd = z, p = 1.0 / (1.0 + std::exp(-zd));
      const double naive = std::fabs(zd) < 15 ? -(t * std::log(p) + (1 - t) * std::log1p(-p)) : NAN;
      const float l = dm::bce_loss(z, t);
      CHECK(std::isfinite(l), "finite BCE at z=%g", z);
      if (naive == naive) CHECK(std::fabs(l - naive) <= 1e-5 * (1 + std::fabs(naive)), "BCE z=%g t=%g: %g vs %g", z, t, l, naive);
      CHECK(std::fabs(dm::bce_grad(z, t) - (p - t)) <= 1e-6, "BCE grad z=%g", z);
    }
  // unary/binary: NaN and clamp semantics
  CHECK(std::isnan(dm::unary(avgk_ops::U_CLAMP, NAN, 0, 1)), "clamp passes NaN");
  CHECK(dm::unary(avgk_ops::U_CLAMP, -2, -1, 1) == -1 && dm::unary(avgk_ops::U_CLAMP, 2, -1, 1) == 1, "clamp");
  CHECK(std::isnan(dm::binary(avgk_ops::B_MAX, NAN, 1)) && std::isnan(dm::binary(avgk_ops::B_MIN, 1, NAN)), "max/min NaN");
  CHECK(dm::binary(avgk_ops::B_GE, 1, 1) == 1 && dm::binary(avgk_ops::B_GE, NAN, 1) == 0, "ge");
  std::printf("device_math_test: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
