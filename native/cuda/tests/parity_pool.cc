// Parity: maxPool2d / avgPool2d forward and backward against the CPU kernels.
#include "parity.h"

using parity::Dev;

namespace avgk_cuda {
namespace pool_tuning {
extern bool force_wide_index;  // pool.cu: 64-bit index arithmetic at any size
}  // namespace pool_tuning
}  // namespace avgk_cuda

namespace {

struct Shape {
  int64_t n, c, h, w, k, stride, pad;
};

const Shape kShapes[] = {
    {1, 1, 4, 4, 2, 2, 0},    // the CPU's 2x2 fast path
    {3, 5, 8, 6, 2, 2, 0},
    {1, 5, 7, 9, 2, 2, 0},    // odd h/w: the last row / column is not covered
    {3, 5, 7, 9, 3, 2, 1},    // ResNet's stem pooling
    {1, 5, 8, 8, 3, 2, 1},
    {3, 1, 7, 7, 3, 1, 1},
    {1, 5, 6, 5, 3, 1, 1},
    {3, 5, 5, 7, 1, 1, 0},    // k = 1
    {1, 5, 5, 7, 1, 2, 0},    // k = 1, stride 2: inputs covered by no window
    {3, 1, 9, 9, 3, 3, 0},
    {1, 3, 6, 6, 2, 1, 1},    // k = 2 with padding 1
    {3, 5, 4, 4, 4, 4, 0},    // global pooling (4x4 → 1x1)
    {1, 1, 1, 1, 1, 1, 0},
};

avgk::PoolGeom cpu_geom(const Shape& s) {
  avgk::PoolGeom g;
  g.n = s.n;
  g.c = s.c;
  g.h = s.h;
  g.w = s.w;
  g.k = s.k;
  g.stride = s.stride;
  g.pad = s.pad;
  g.oh = (s.h + 2 * s.pad - s.k) / s.stride + 1;
  g.ow = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  return g;
}

avgk_cuda::PoolGeom cuda_geom(const avgk::PoolGeom& g) {
  return avgk_cuda::PoolGeom{g.n, g.c, g.h, g.w, g.k, g.stride, g.pad, g.oh, g.ow};
}

std::string tag(const avgk::PoolGeom& g) {
  return std::to_string(g.n) + "x" + std::to_string(g.c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) +
         " k" + std::to_string(g.k) + " s" + std::to_string(g.stride) + " p" + std::to_string(g.pad);
}

// Values on a grid of 0.25 (many ties within a window), with NaNs: isolated ones, and two in one
// window (the first wins), and -inf.
std::vector<float> pool_input(size_t n, uint32_t seed, bool specials) {
  auto x = parity::uniform(n, -1.0f, 1.0f, seed);
  for (auto& v : x) v = std::round(v * 4.0f) / 4.0f;
  if (specials && n >= 40) {
    x[n / 3] = NAN;
    x[n / 2] = NAN;
    x[n / 2 + 1] = NAN;
    x[n - 2] = -INFINITY;
  }
  return x;
}

void check_max(const avgk::PoolGeom& g, bool specials, uint32_t seed) {
  const size_t nin = g.n * g.c * g.h * g.w, nout = g.n * g.c * g.oh * g.ow;
  const std::string what = "maxPool2d " + tag(g) + (specials ? " (NaN)" : "");
  const auto x = pool_input(nin, seed, specials);
  std::vector<float> want(nout);
  std::vector<int32_t> wantArg(nout);
  avgk::maxpool2d_forward(x.data(), want.data(), wantArg.data(), g);
  Dev<float> dx(x), dout(std::vector<float>(nout, 7.0f));
  Dev<int32_t> darg(std::vector<int32_t>(nout, 12345));
  avgk_cuda::maxpool2d_forward(dx.p, dout.p, darg.p, cuda_geom(g));
  parity::close(dout.get(), want, 0, 0, what + " forward");
  parity::equal(darg.get(), wantArg, what + " argmax");

  // backward: a random gy scattered at argmax (the CPU's own argmax for the CPU)
  const auto gy = parity::uniform(nout, -1.0f, 1.0f, seed + 1);
  std::vector<float> wantGx(nin);
  avgk::maxpool2d_backward(gy.data(), wantArg.data(), wantGx.data(), g);
  Dev<float> dgy(gy), dgx(std::vector<float>(nin, NAN));
  avgk_cuda::maxpool2d_backward(dgy.p, darg.p, dgx.p, cuda_geom(g));
  parity::close(dgx.get(), wantGx, 0, 0, what + " backward");
}

void check_avg(const avgk::PoolGeom& g, uint32_t seed) {
  const size_t nin = g.n * g.c * g.h * g.w, nout = g.n * g.c * g.oh * g.ow;
  const std::string what = "avgPool2d " + tag(g);
  const auto x = parity::uniform(nin, -1.0f, 1.0f, seed);
  std::vector<float> want(nout);
  avgk::avgpool2d_forward(x.data(), want.data(), g);
  Dev<float> dx(x), dout(std::vector<float>(nout, NAN));
  avgk_cuda::avgpool2d_forward(dx.p, dout.p, cuda_geom(g));
  // the CPU sums some windows in another order (2x2 and global fast paths)
  parity::close(dout.get(), want, 1e-5, 1e-6, what + " forward");

  const auto gy = parity::uniform(nout, -1.0f, 1.0f, seed + 1);
  std::vector<float> wantGx(nin);
  avgk::avgpool2d_backward(gy.data(), wantGx.data(), g);
  Dev<float> dgy(gy), dgx(std::vector<float>(nin, NAN));
  avgk_cuda::avgpool2d_backward(dgy.p, dgx.p, cuda_geom(g));
  parity::close(dgx.get(), wantGx, 1e-6, 1e-7, what + " backward");
}

}  // namespace

AVGK_PARITY(pool_max) {
  uint32_t seed = 100;
  for (const auto& s : kShapes) {
    const auto g = cpu_geom(s);
    check_max(g, false, seed++);
    check_max(g, true, seed++);
  }
}

AVGK_PARITY(pool_avg) {
  uint32_t seed = 200;
  for (const auto& s : kShapes) check_avg(cpu_geom(s), seed++);
}

// The 64-bit index variants of the kernels (used beyond 2^31 elements), on small shapes.
AVGK_PARITY(pool_wide_index) {
  avgk_cuda::pool_tuning::force_wide_index = true;
  uint32_t seed = 300;
  for (const auto& s : {kShapes[3], kShapes[8], kShapes[11]}) {
    const auto g = cpu_geom(s);
    check_max(g, true, seed++);
    check_avg(g, seed++);
  }
  avgk_cuda::pool_tuning::force_wide_index = false;
}

// A larger plane (many blocks, grid-stride), ResNet's stem pooling.
AVGK_PARITY(pool_large) {
  const auto g = cpu_geom(Shape{2, 8, 56, 56, 3, 2, 1});
  check_max(g, true, 400);
  check_avg(g, 401);
}
