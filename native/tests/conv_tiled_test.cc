// The convolutions' bounded-scratch paths (conv.cc: tuning::conv_max_col_bytes): with the bound
// lowered, random geometries run through the shared-buffer fallback and the tiled path (uneven
// tiles, strides, padding past the kernel, rectangular kernels, several images, one thread or
// more), checked against naive double references and against the unbounded path; and a geometry
// whose one-image im2col is far over the bound runs without a scratch request above the bound (the
// test interposes aligned_alloc, where the kernels' scratch comes from, and records the largest).
//
// Build:
//   g++ -O2 -std=c++17 -fopenmp -Inative/kernels native/tests/conv_tiled_test.cc native/kernels/conv.cc
//       native/kernels/cpu_features.cc native/kernels/gemm/*.cc -o build/conv_tiled_test
// Run: build/conv_tiled_test   (exit status 0 iff every check passed)
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "conv_ref.h"
#include "kernels.h"
#include "tuning.h"
#include "tuning_env.h"

using namespace avgk;

static std::mt19937_64 rng(20260420);
static int g_fail = 0, g_checks = 0;

// The largest scratch request since the last reset (conv's Scratch and sgemm's packing buffers).
static std::atomic<size_t> g_max_alloc{0};
extern "C" void* aligned_alloc(size_t alignment, size_t size) noexcept {
  size_t m = g_max_alloc.load();
  while (size > m && !g_max_alloc.compare_exchange_weak(m, size)) {
  }
  return memalign(alignment, size);
}
// sgemm's packing buffers: at most NC x KC floats (blocking.h: NC <= 4096, KC <= 512), page-rounded.
constexpr size_t kGemmPackBytes = ((4096 * 512 + 64) * sizeof(float) + 4095) / 4096 * 4096;

static std::vector<float> randv(size_t n) {
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static double rel_err(const std::vector<float>& a, const std::vector<double>& r) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    mx = std::max(mx, std::fabs(r[i]));
    const double e = std::fabs((double)a[i] - r[i]);
    if (!(e <= err)) err = e;  // NaN-propagating
  }
  return err / std::max(mx, 1e-30);
}

static void check(double err, const char* what, const std::string& ctx) {
  ++g_checks;
  if (!(err < 2e-5)) {
    ++g_fail;
    if (g_fail < 40) std::printf("FAIL %-16s %s (rel err %.3g)\n", what, ctx.c_str(), err);
  }
}

static const int64_t shipped_cap = tuning::conv_max_col_bytes;

static void run(const ConvGeom& g, int64_t cap_bytes, int threads) {
  tuning::conv_max_col_bytes = cap_bytes;
  set_num_threads(threads);
  const std::string ctx = "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) +
                          " w=" + std::to_string(g.w) + " o=" + std::to_string(g.o) + " k=" + std::to_string(g.kh) +
                          "x" + std::to_string(g.kw) + " s=" + std::to_string(g.stride) + " p=" +
                          std::to_string(g.pad) + " cap=" + std::to_string(cap_bytes) + " t=" + std::to_string(threads);
  const auto x = randv(g.n * g.c * g.h * g.w), w = randv(g.o * g.c * g.kh * g.kw), bias = randv(g.o);
  const auto gy = randv(g.n * g.o * g.oh * g.ow);
  std::vector<double> rout, rgx, rgw;
  avgk_test::ref_conv_fwd(x, w, bias.data(), rout, g);
  avgk_test::ref_conv_bwd(x, w, gy, rgx, rgw, g);
  std::vector<float> out(rout.size(), NAN), gx(rgx.size(), NAN), gw(rgw.size(), NAN);
  conv2d_forward(x.data(), w.data(), bias.data(), out.data(), g);
  check(rel_err(out, rout), "forward", ctx);
  conv2d_backward_input(gy.data(), w.data(), gx.data(), g);
  check(rel_err(gx, rgx), "backward input", ctx);
  conv2d_backward_weight(x.data(), gy.data(), gw.data(), g);
  check(rel_err(gw, rgw), "backward weight", ctx);
  if (cap_bytes >= shipped_cap) return;
  // the same calls on the unbounded path
  tuning::conv_max_col_bytes = shipped_cap;
  std::vector<float> out2(out.size()), gx2(gx.size()), gw2(gw.size());
  conv2d_forward(x.data(), w.data(), bias.data(), out2.data(), g);
  conv2d_backward_input(gy.data(), w.data(), gx2.data(), g);
  conv2d_backward_weight(x.data(), gy.data(), gw2.data(), g);
  auto vs = [](const std::vector<float>& a, const std::vector<float>& b) {
    return rel_err(a, std::vector<double>(b.begin(), b.end()));
  };
  check(vs(out, out2), "forward vs unbounded", ctx);
  check(vs(gx, gx2), "backward input vs unbounded", ctx);
  check(vs(gw, gw2), "backward weight vs unbounded", ctx);
}

// One image's im2col far over the bound: no scratch request above max(bound, sgemm's packing).
static void bounded(const ConvGeom& g, int64_t cap_bytes, int threads) {
  tuning::conv_max_col_bytes = cap_bytes;
  set_num_threads(threads);
  const auto x = randv(g.n * g.c * g.h * g.w), w = randv(g.o * g.c * g.kh * g.kw), bias = randv(g.o);
  const auto gy = randv(g.n * g.o * g.oh * g.ow);
  std::vector<float> out(g.n * g.o * g.oh * g.ow), gx(x.size()), gw(w.size());
  const double col = 4.0 * g.c * g.kh * g.kw * g.oh * g.ow;
  const size_t allowed = std::max<size_t>(cap_bytes, kGemmPackBytes);
  const char* names[] = {"forward", "backward input", "backward weight"};
  for (int which = 0; which < 3; ++which) {
    g_max_alloc = 0;
    if (which == 0) conv2d_forward(x.data(), w.data(), bias.data(), out.data(), g);
    if (which == 1) conv2d_backward_input(gy.data(), w.data(), gx.data(), g);
    if (which == 2) conv2d_backward_weight(x.data(), gy.data(), gw.data(), g);
    const size_t got = g_max_alloc.load();
    ++g_checks;
    std::printf("bounded %-16s t=%d: largest scratch request %.1f MB (one image's im2col %.1f MB, allowed %.1f MB)\n",
                names[which], threads, got / 1048576.0, col / 1048576.0, allowed / 1048576.0);
    if (got > allowed) {
      ++g_fail;
      std::printf("FAIL bounded scratch %s t=%d\n", names[which], threads);
    }
  }
  tuning::conv_max_col_bytes = shipped_cap;
}

int main() {
  avgk_test::apply_tuning_env();
  const int64_t shipped = tuning::conv_max_col_bytes;
  // first, while every scratch buffer is still small: 36 MB of im2col per image against 1 MB
  const ConvGeom big = {2, 16, 96, 96, 4, 9, 7, 1, 3, 94, 96};
  for (int threads : {1, 2}) bounded(big, 1 << 20, threads);
  std::uniform_int_distribution<int> u(0, 1 << 30);
  auto pick = [&](int lo, int hi) { return lo + u(rng) % (hi - lo + 1); };
  for (int t = 0; t < 300; ++t) {
    ConvGeom g;
    g.kh = pick(1, 7);
    g.kw = pick(1, 7);
    g.stride = pick(1, 3);
    g.pad = pick(0, 8);
    g.h = std::max<int64_t>(pick(1, 14), g.kh - 2 * g.pad);
    g.w = std::max<int64_t>(pick(1, 14), g.kw - 2 * g.pad);
    g.n = pick(1, 5);
    g.c = pick(1, 6);
    g.o = pick(1, 5);
    g.oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
    g.ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
    // caps: below one tile row (kc = 1, nq tiny), a few tiles, around one image's col, the shipped bound
    const int64_t col = 4 * g.c * g.kh * g.kw * g.oh * g.ow;
    const int64_t caps[] = {4, 4 * pick(1, 64), std::max<int64_t>(4, col / pick(2, 9)), col, shipped};
    run(g, caps[t % 5], 1 + t % 3);
  }
  // Special shapes: "same" convs (rotated backward-input path), 1x1, flat, stride 2 over wide rows.
  const ConvGeom special[] = {
      {2, 16, 9, 9, 3, 3, 3, 1, 1, 9, 9},  {3, 4, 8, 8, 5, 1, 1, 1, 0, 8, 8},   {2, 3, 20, 20, 2, 5, 5, 1, 2, 20, 20},
      {2, 3, 33, 17, 4, 3, 3, 2, 1, 17, 9}, {1, 2, 5, 40, 3, 5, 9, 1, 6, 13, 44}, {4, 1, 6, 6, 1, 2, 2, 2, 0, 3, 3},
  };
  for (const ConvGeom& g : special)
    for (int64_t cap : {(int64_t)4, (int64_t)4096, (int64_t)4 << 10 << 4, shipped})
      for (int threads : {1, 3}) run(g, cap, threads);
  tuning::conv_max_col_bytes = shipped;
  std::printf("%d checks, %d failures\n", g_checks, g_fail);
  return g_fail == 0 ? 0 : 1;
}
