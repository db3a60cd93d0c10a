// Standalone correctness test + benchmark for conv.cc, pool.cc, batchnorm.cc.
//
// Build:
//   g++ -O3 -std=c++17 -fopenmp -Inative/kernels native/tests/conv_test.cc native/kernels/conv.cc
//       native/kernels/pool.cc native/kernels/batchnorm.cc native/kernels/cpu_features.cc
//       native/kernels/gemm/*.cc -o build/conv_test
// Run:
//   build/conv_test            correctness tests, then the benchmark (batch 128)
//   build/conv_test test       correctness only
//   build/conv_test bench [batch] [reps] [net]   benchmark only; net = cnn | resnet | all (default cnn)
// Exit status 0 iff every check passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "conv_ref.h"
#include "kernels.h"
#include "tuning.h"
#include "tuning_env.h"

using namespace avgk;

static std::mt19937_64 rng(12345);
static int g_fail = 0, g_checks = 0;

static std::vector<float> randv(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
static std::vector<float> randint_v(size_t n, int lo, int hi) {  // small integers → many ties
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)d(rng);
  return v;
}

static double rel_err(const float* a, const std::vector<double>& r) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    mx = std::max(mx, std::fabs(r[i]));
    double e = std::fabs((double)a[i] - r[i]);
    if (!(e <= err)) err = e;  // NaN-propagating
  }
  return err / std::max(mx, 1e-30);
}

static void check(bool ok, const char* what, const std::string& ctx, double val = 0) {
  ++g_checks;
  if (!ok) {
    ++g_fail;
    if (g_fail < 40) std::printf("FAIL %-24s %s (err %.3g)\n", what, ctx.c_str(), val);
  }
}

// ------------------------------------------------------------------ naive references (double): conv_ref.h
using avgk_test::ref_conv_bwd;
using avgk_test::ref_conv_fwd;

static ConvGeom mkconv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw, int64_t s,
                       int64_t p) {
  ConvGeom g{n, c, h, w, o, kh, kw, s, p, (h + 2 * p - kh) / s + 1, (w + 2 * p - kw) / s + 1};
  return g;
}

static std::string conv_str(const ConvGeom& g) {
  char b[200];
  std::snprintf(b, sizeof b, "n%lld c%lld %lldx%lld o%lld k%lldx%lld s%lld p%lld", (long long)g.n, (long long)g.c,
                (long long)g.h, (long long)g.w, (long long)g.o, (long long)g.kh, (long long)g.kw,
                (long long)g.stride, (long long)g.pad);
  return b;
}

static double g_worst_conv = 0;

static void test_conv(const ConvGeom& g, double tol, const char* tag = "") {
  if (g.oh <= 0 || g.ow <= 0) return;
  auto x = randv(g.n * g.c * g.h * g.w), w = randv(g.o * g.c * g.kh * g.kw), bias = randv(g.o);
  auto gy = randv(g.n * g.o * g.oh * g.ow);
  std::vector<double> rout, rgx, rgw;
  bool use_bias = (rng() & 1) != 0;
  ref_conv_fwd(x, w, use_bias ? bias.data() : nullptr, rout, g);
  ref_conv_bwd(x, w, gy, rgx, rgw, g);
  const int64_t saved_tb = tuning::conv_col_target_bytes, saved_dm = tuning::conv_direct_min_hw,
                saved_mu = tuning::conv_wgrad_chunk_mult;
  // Exercise every code path: chunk sizes 1 / several / all, per-image vs wide GEMMs.
  const int64_t targets[] = {1, 3 * 4 * g.c * g.kh * g.kw * g.oh * g.ow / 2 + 1, (int64_t)1 << 30};
  const int64_t dmins[] = {0, (int64_t)1 << 40};
  const int64_t mults[] = {1, 2};
  for (int64_t tb : targets)
    for (int64_t dm : dmins)
      for (int64_t mu : mults) {
        tuning::conv_avx512 = (tb + dm + mu) % 2 == 0;  // alternate SIMD / portable loops
        tuning::conv_mode = 1 + (int)((tb + mu + dm / 7) % 2);  // shared / per-thread decomposition
        tuning::conv_smallk = tb != 1;
        tuning::conv_col_target_bytes = tb;
        tuning::conv_direct_min_hw = dm;
        tuning::conv_wgrad_chunk_mult = mu;
        std::string ctx = std::string(tag) + conv_str(g) + " tb" + std::to_string(tb) + " dm" + std::to_string(dm) +
                          " m" + std::to_string(mu) + " fm" + std::to_string(tuning::conv_mode) +
                          (tuning::conv_avx512 ? " simd" : " scalar");
        std::vector<float> out(rout.size(), NAN), gx(rgx.size(), NAN), gw(rgw.size(), NAN);
        conv2d_forward(x.data(), w.data(), use_bias ? bias.data() : nullptr, out.data(), g);
        conv2d_backward_input(gy.data(), w.data(), gx.data(), g);
        conv2d_backward_weight(x.data(), gy.data(), gw.data(), g);
        double e1 = rel_err(out.data(), rout), e2 = rel_err(gx.data(), rgx), e3 = rel_err(gw.data(), rgw);
        g_worst_conv = std::max({g_worst_conv, e1, e2, e3});
        check(e1 <= tol, "conv fwd", ctx, e1);
        check(e2 <= tol, "conv bwd input", ctx, e2);
        check(e3 <= tol, "conv bwd weight", ctx, e3);
      }
  tuning::conv_avx512 = true;
  tuning::conv_mode = 0;
  tuning::conv_smallk = true;
  tuning::conv_col_target_bytes = saved_tb;
  tuning::conv_direct_min_hw = saved_dm;
  tuning::conv_wgrad_chunk_mult = saved_mu;
}

// Finite-difference check of the reference conv gradients (validates the references themselves).
static void test_conv_fd() {
  ConvGeom g = mkconv(2, 3, 5, 4, 2, 3, 2, 2, 1);
  auto x = randv(g.n * g.c * g.h * g.w), w = randv(g.o * g.c * g.kh * g.kw), gy = randv(g.n * g.o * g.oh * g.ow);
  std::vector<double> rgx, rgw, o1, o2;
  ref_conv_bwd(x, w, gy, rgx, rgw, g);
  auto L = [&](const std::vector<float>& xx, const std::vector<float>& ww) {
    std::vector<double> o;
    ref_conv_fwd(xx, ww, nullptr, o, g);
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * gy[i];
    return s;
  };
  double worst = 0;
  const float h = 1.f / 64;  // exact in float; L is linear, so central differences are exact up to rounding
  for (size_t i = 0; i < x.size(); ++i) {
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    worst = std::max(worst, std::fabs((L(xp, w) - L(xm, w)) / (2 * h) - rgx[i]));
  }
  for (size_t i = 0; i < w.size(); ++i) {
    auto wp = w, wm = w;
    wp[i] += h;
    wm[i] -= h;
    worst = std::max(worst, std::fabs((L(x, wp) - L(x, wm)) / (2 * h) - rgw[i]));
  }
  check(worst < 1e-5, "conv ref finite diff", "", worst);  // float rounding of x±h
}

// ------------------------------------------------------------------ pooling references
static void ref_maxpool(const std::vector<float>& x, std::vector<float>& out, std::vector<int32_t>& am,
                        const PoolGeom& g) {
  out.assign(g.n * g.c * g.oh * g.ow, 0);
  am.assign(out.size(), -1);
  for (int64_t t = 0; t < g.n * g.c; ++t)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float best = -INFINITY;
        int32_t idx = -1;
        bool have = false;
        for (int64_t i = 0; i < g.k; ++i)
          for (int64_t j = 0; j < g.k; ++j) {
            int64_t iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            float v = x[t * g.h * g.w + iy * g.w + ix];
            bool take;
            if (!have) take = true;
            else if (std::isnan(best)) take = false;
            else if (std::isnan(v)) take = true;
            else take = v > best;
            if (take) {
              best = v;
              idx = (int32_t)(iy * g.w + ix);
              have = true;
            }
          }
        out[t * g.oh * g.ow + oy * g.ow + ox] = best;
        am[t * g.oh * g.ow + oy * g.ow + ox] = idx;
      }
}

static PoolGeom mkpool(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p) {
  return PoolGeom{n, c, h, w, k, s, p, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1};
}

static bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

static void test_pool(const PoolGeom& g, int mode) {
  if (g.oh <= 0 || g.ow <= 0) return;
  char cb[160];
  std::snprintf(cb, sizeof cb, "n%lld c%lld %lldx%lld k%lld s%lld p%lld mode%d", (long long)g.n, (long long)g.c,
                (long long)g.h, (long long)g.w, (long long)g.k, (long long)g.stride, (long long)g.pad, mode);
  size_t nin = g.n * g.c * g.h * g.w, nout = g.n * g.c * g.oh * g.ow;
  std::vector<float> x = mode == 0 ? randv(nin) : randint_v(nin, -2, 2);
  if (mode == 2)  // sprinkle NaN and ±inf
    for (size_t i = 0; i < nin; ++i) {
      int r = (int)(rng() % 13);
      if (r == 0) x[i] = NAN;
      else if (r == 1) x[i] = -INFINITY;
      else if (r == 2) x[i] = INFINITY;
    }
  std::vector<float> rout, out(nout, 7.f);
  std::vector<int32_t> ram, am(nout, -7);
  ref_maxpool(x, rout, ram, g);
  for (bool simd : {false, true}) {
    tuning::pool_avx512 = simd;
    std::fill(out.begin(), out.end(), 7.f);
    std::fill(am.begin(), am.end(), -7);
    maxpool2d_forward(x.data(), out.data(), am.data(), g);
    bool ok = true;
    for (size_t i = 0; i < nout; ++i) ok = ok && same_float(out[i], rout[i]) && am[i] == ram[i];
    check(ok, simd ? "maxpool fwd (simd)" : "maxpool fwd (portable)", cb);
  }
  // backward: scatter-add
  auto gy = randv(nout);
  std::vector<double> rgx(nin, 0.0);
  for (int64_t t = 0; t < g.n * g.c; ++t)
    for (int64_t q = 0; q < g.oh * g.ow; ++q)
      if (ram[t * g.oh * g.ow + q] >= 0) rgx[t * g.h * g.w + ram[t * g.oh * g.ow + q]] += gy[t * g.oh * g.ow + q];
  std::vector<float> gx(nin, NAN);
  maxpool2d_backward(gy.data(), am.data(), gx.data(), g);
  double e = rel_err(gx.data(), rgx);
  check(e < 1e-6, "maxpool bwd", cb, e);
  if (mode == 2) return;
  // average pooling (count_include_pad)
  std::vector<double> ravg(nout, 0.0), ragx(nin, 0.0);
  for (int64_t t = 0; t < g.n * g.c; ++t)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        double s = 0;
        double gv = gy[t * g.oh * g.ow + oy * g.ow + ox] / (double)(g.k * g.k);
        for (int64_t i = 0; i < g.k; ++i)
          for (int64_t j = 0; j < g.k; ++j) {
            int64_t iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            s += x[t * g.h * g.w + iy * g.w + ix];
            ragx[t * g.h * g.w + iy * g.w + ix] += gv;
          }
        ravg[t * g.oh * g.ow + oy * g.ow + ox] = s / (double)(g.k * g.k);
      }
  std::vector<float> aout(nout, NAN), agx(nin, NAN);
  avgpool2d_forward(x.data(), aout.data(), g);
  avgpool2d_backward(gy.data(), agx.data(), g);
  double e1 = rel_err(aout.data(), ravg), e2 = rel_err(agx.data(), ragx);
  check(e1 < 1e-6, "avgpool fwd", cb, e1);
  check(e2 < 1e-6, "avgpool bwd", cb, e2);
}

// ------------------------------------------------------------------ batch norm references
static void ref_bn_fwd(const std::vector<double>& x, const std::vector<double>& gamma,
                       const std::vector<double>& beta, std::vector<double>& out, std::vector<double>& mean,
                       std::vector<double>& var, int64_t n, int64_t c, int64_t hw, double eps, bool training) {
  out.assign(x.size(), 0);
  if (training) {
    mean.assign(c, 0);
    var.assign(c, 0);
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    if (training) {
      double s = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t i = 0; i < hw; ++i) s += x[(b * c + ch) * hw + i];
      double m = s / (n * hw), v = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t i = 0; i < hw; ++i) v += (x[(b * c + ch) * hw + i] - m) * (x[(b * c + ch) * hw + i] - m);
      mean[ch] = m;
      var[ch] = v / (n * hw);
    }
    double is = 1.0 / std::sqrt(var[ch] + eps);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i)
        out[(b * c + ch) * hw + i] = (x[(b * c + ch) * hw + i] - mean[ch]) * is * gamma[ch] + beta[ch];
  }
}

static void test_bn(int64_t n, int64_t c, int64_t hw, float offset, bool training) {
  char cb[128];
  std::snprintf(cb, sizeof cb, "n%lld c%lld hw%lld off%g %s", (long long)n, (long long)c, (long long)hw, offset,
                training ? "train" : "eval");
  const double eps = 1e-5;
  size_t N = n * c * hw;
  auto xf = randv(N, -1.f + offset, 1.f + offset), gyf = randv(N), gm = randv(c, 0.5f, 1.5f), bt = randv(c);
  auto rm = randv(c, -0.5f, 0.5f), rv = randv(c, 0.2f, 2.f);
  std::vector<double> x(xf.begin(), xf.end()), gamma(gm.begin(), gm.end()), beta(bt.begin(), bt.end());
  std::vector<double> rout, rmean(rm.begin(), rm.end()), rvar(rv.begin(), rv.end());
  ref_bn_fwd(x, gamma, beta, rout, rmean, rvar, n, c, hw, eps, training);
  std::vector<float> out(N, NAN), mean = rm, var = rv;
  batchnorm_forward(xf.data(), gm.data(), bt.data(), out.data(), mean.data(), var.data(), n, c, hw, (float)eps,
                    training, false);
  double e = rel_err(out.data(), rout);
  check(e < 5e-6 * std::max(1.f, offset), "bn fwd out", cb, e);
  if (training) {
    double em = 0, ev = 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      em = std::max(em, std::fabs(mean[ch] - rmean[ch]) / (std::fabs(rmean[ch]) + 1e-3));
      ev = std::max(ev, std::fabs(var[ch] - rvar[ch]) / rvar[ch]);
    }
    check(em < 1e-5 && ev < 1e-5 * std::max(1.f, offset * offset), "bn fwd stats", cb, std::max(em, ev));
  }
  // reference gradient: analytic formula in double, validated by finite differences on small cases
  std::vector<double> rgx(N), rgg(c, 0), rgb(c, 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double is = 1.0 / std::sqrt(rvar[ch] + eps), sg = 0, sgx = 0, M = (double)n * hw;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) {
        size_t k = (b * c + ch) * hw + i;
        sg += gyf[k];
        sgx += gyf[k] * (x[k] - rmean[ch]) * is;
      }
    rgg[ch] = sgx;
    rgb[ch] = sg;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) {
        size_t k = (b * c + ch) * hw + i;
        double xh = (x[k] - rmean[ch]) * is;
        rgx[k] = training ? gamma[ch] * is / M * (M * gyf[k] - sg - xh * sgx) : gyf[k] * gamma[ch] * is;
      }
  }
  if (N <= 200) {  // finite differences of L = Σ out*gy through the double reference forward
    double worst = 0;
    for (size_t k = 0; k < N; ++k) {
      auto xp = x, xm = x;
      const double h = 1e-6;
      xp[k] += h;
      xm[k] -= h;
      std::vector<double> op, om, m1 = rmean, v1 = rvar, m2 = rmean, v2 = rvar;
      if (!training) {
        m1.assign(rm.begin(), rm.end()); v1.assign(rv.begin(), rv.end());
        m2 = m1; v2 = v1;
      }
      ref_bn_fwd(xp, gamma, beta, op, m1, v1, n, c, hw, eps, training);
      ref_bn_fwd(xm, gamma, beta, om, m2, v2, n, c, hw, eps, training);
      double d = 0;
      for (size_t i = 0; i < N; ++i) d += (op[i] - om[i]) * gyf[i];
      worst = std::max(worst, std::fabs(d / (2 * h) - rgx[k]));
    }
    check(worst < 1e-5, "bn ref finite diff", cb, worst);
  }
  std::vector<float> gx(N, NAN), gg(c, NAN), gb(c, NAN);
  batchnorm_backward(xf.data(), gyf.data(), nullptr, gm.data(), mean.data(), var.data(), gx.data(), gg.data(),
                     gb.data(), n, c, hw, (float)eps, training);
  double e1 = rel_err(gx.data(), rgx), e2 = rel_err(gg.data(), rgg), e3 = rel_err(gb.data(), rgb);
  check(e1 < 2e-5 * std::max(1.f, offset), "bn bwd gx", cb, e1);
  check(e2 < 2e-5 * std::max(1.f, offset), "bn bwd ggamma", cb, e2);
  check(e3 < 1e-5, "bn bwd gbeta", cb, e3);

  // fused ReLU: the forward equals relu of the plain output; the backward equals the plain backward
  // of the gradient gated by the fused output (y > 0)
  std::vector<float> outr(N, NAN), meanr = rm, varr = rv;
  batchnorm_forward(xf.data(), gm.data(), bt.data(), outr.data(), meanr.data(), varr.data(), n, c, hw, (float)eps,
                    training, true);
  double worst_f = 0;
  for (size_t i = 0; i < N; ++i) worst_f = std::max(worst_f, (double)std::fabs(outr[i] - (out[i] < 0.f ? 0.f : out[i])));
  check(worst_f == 0, "bn+relu fwd", cb, worst_f);
  std::vector<float> gyg(N), gxr(N, NAN), ggr(c, NAN), gbr(c, NAN), gxp(N, NAN), ggp(c, NAN), gbp(c, NAN);
  for (size_t i = 0; i < N; ++i) gyg[i] = outr[i] > 0.f ? gyf[i] : 0.f;
  batchnorm_backward(xf.data(), gyg.data(), nullptr, gm.data(), mean.data(), var.data(), gxp.data(), ggp.data(),
                     gbp.data(), n, c, hw, (float)eps, training);
  batchnorm_backward(xf.data(), gyf.data(), outr.data(), gm.data(), mean.data(), var.data(), gxr.data(), ggr.data(),
                     gbr.data(), n, c, hw, (float)eps, training);
  double worst_b = 0;
  for (size_t i = 0; i < N; ++i) worst_b = std::max(worst_b, (double)std::fabs(gxr[i] - gxp[i]));
  for (int64_t ch = 0; ch < c; ++ch)
    worst_b = std::max({worst_b, (double)std::fabs(ggr[ch] - ggp[ch]), (double)std::fabs(gbr[ch] - gbp[ch])});
  check(worst_b == 0, "bn+relu bwd", cb, worst_b);
}

static void run_tests() {
  test_conv_fd();
  // random geometries
  int count = 0;
  for (int it = 0; it < 400; ++it) {
    int64_t n = 1 + rng() % 3, c = 1 + rng() % 5, h = 1 + rng() % 9, w = 1 + rng() % 9, o = 1 + rng() % 6;
    int64_t kh = 1 + rng() % 3, kw = 1 + rng() % 3, s = 1 + rng() % 2, p = rng() % 2;
    ConvGeom g = mkconv(n, c, h, w, o, kh, kw, s, p);
    if (g.oh <= 0 || g.ow <= 0) continue;
    test_conv(g, 1e-5);
    ++count;
  }
  // corner cases
  test_conv(mkconv(1, 1, 1, 1, 1, 1, 1, 1, 0), 1e-5);
  test_conv(mkconv(2, 3, 7, 5, 4, 1, 1, 1, 0), 1e-5);  // pointwise
  test_conv(mkconv(2, 3, 7, 5, 4, 1, 1, 2, 0), 1e-5);  // strided pointwise (ResNet shortcut)
  test_conv(mkconv(2, 2, 9, 9, 3, 3, 3, 3, 1), 1e-5);  // stride 3
  test_conv(mkconv(3, 2, 16, 17, 3, 3, 3, 1, 1), 1e-5);  // HW >= 256 (per-image GEMM path by default)
  test_conv(mkconv(3, 4, 20, 16, 5, 1, 1, 1, 0), 1e-5);  // pointwise, HW >= 256
  std::printf("conv: %d random geometries + corner cases, worst relative error %.2e\n", count, g_worst_conv);
  // real network shapes, small batch
  g_worst_conv = 0;
  const ConvGeom real[] = {
      mkconv(3, 1, 28, 28, 32, 3, 3, 1, 1),   mkconv(2, 32, 28, 28, 32, 3, 3, 1, 1),
      mkconv(3, 32, 14, 14, 64, 3, 3, 1, 1),  mkconv(2, 64, 14, 14, 64, 3, 3, 1, 1),
      mkconv(2, 3, 32, 32, 64, 3, 3, 1, 1),   mkconv(2, 64, 32, 32, 64, 3, 3, 1, 1),
      mkconv(2, 64, 32, 32, 128, 3, 3, 2, 1), mkconv(2, 64, 32, 32, 128, 1, 1, 2, 0),
      mkconv(2, 128, 16, 16, 128, 3, 3, 1, 1), mkconv(2, 128, 16, 16, 256, 3, 3, 2, 1),
      mkconv(2, 256, 8, 8, 512, 3, 3, 2, 1),  mkconv(2, 512, 4, 4, 512, 3, 3, 1, 1),
      mkconv(2, 256, 8, 8, 512, 1, 1, 2, 0),
  };
  for (const auto& g : real) test_conv(g, 2e-5, "real ");
  // im2col fused into the GEMM packing (stride 1, OW == W, HW >= 16; single-threaded GEMMs): chunks of
  // several images, so 16-column vectors straddle two images when HW is not a multiple of 16 (wide
  // GEMMs), on 1 thread (one chunk of every image) and on 2 (per-thread chunks of a few images);
  // backward input goes through the same path (rotated weights) when C >= 16.
  {
    const int saved = get_num_threads();
    const ConvGeom fused[] = {mkconv(9, 16, 5, 5, 7, 3, 3, 1, 1),    mkconv(11, 17, 7, 7, 9, 3, 3, 1, 1),
                              mkconv(10, 16, 14, 14, 8, 3, 3, 1, 1), mkconv(9, 18, 4, 4, 20, 3, 3, 1, 1),
                              mkconv(10, 16, 6, 9, 5, 3, 3, 1, 1),   mkconv(9, 20, 17, 16, 6, 3, 3, 1, 1),
                              mkconv(12, 16, 5, 8, 6, 5, 5, 1, 2),   mkconv(9, 16, 8, 8, 70, 3, 1, 1, 1)};
    for (int nt : {1, 2}) {
      set_num_threads(nt);
      for (const auto& g : fused) test_conv(g, 2e-5, nt == 1 ? "fused 1t " : "fused 2t ");
    }
    set_num_threads(saved);
  }
  std::printf("conv: real network shapes, worst relative error %.2e\n", g_worst_conv);

  // pooling
  int pc = 0;
  for (int it = 0; it < 300; ++it) {
    int64_t k = 1 + rng() % 3, s = 1 + rng() % 3, p = rng() % (k / 2 + 1);
    PoolGeom g = mkpool(1 + rng() % 3, 1 + rng() % 4, 1 + rng() % 9, 1 + rng() % 9, k, s, p);
    if (g.oh <= 0 || g.ow <= 0) continue;
    test_pool(g, it % 3);
    ++pc;
  }
  for (int mode = 0; mode < 3; ++mode) {
    test_pool(mkpool(3, 32, 28, 28, 2, 2, 0), mode);
    test_pool(mkpool(2, 64, 14, 14, 2, 2, 0), mode);
    test_pool(mkpool(2, 5, 7, 9, 2, 2, 0), mode);   // odd sizes: last row/col dropped
    test_pool(mkpool(2, 3, 7, 7, 7, 1, 0), mode);   // global average
    test_pool(mkpool(2, 3, 8, 8, 3, 2, 1), mode);   // ResNet-style stem pool
    test_pool(mkpool(2, 3, 67, 69, 2, 2, 0), mode); // several 16-wide blocks + tails
  }
  std::printf("pool: %d random geometries + network shapes\n", pc);

  // batch norm (SIMD and portable paths)
  for (bool simd : {true, false})
  for (bool tr : {true, false}) {
    tuning::bn_avx512 = simd;
    test_bn(1, 1, 1, 0, tr);
    test_bn(2, 3, 5, 0, tr);
    test_bn(3, 2, 7, 0.5f, tr);
    test_bn(1, 4, 33, 0, tr);
    test_bn(4, 5, 37, 0, tr);
    test_bn(3, 3, 2000, 0, tr);       // > one summation block
    test_bn(16, 32, 784, 0, tr);      // reference CNN shape (small batch)
    test_bn(16, 64, 196, 0, tr);
    test_bn(8, 16, 100, 100.f, tr);   // large mean: cancellation test
    test_bn(2, 3, 4, 1000.f, tr);
  }
  tuning::bn_avx512 = true;
  std::printf("batchnorm: train + eval, incl. finite-difference checks\n");
}

// ------------------------------------------------------------------ benchmark
using clk = std::chrono::steady_clock;
struct Timing { double med, min; };
// AVGK_BENCH_CPUTIME=1: time with the calling thread's CPU clock (meaningful for 1 thread only;
// excludes time descheduled by other processes on a shared machine).
static bool g_cputime = false;
static double now_ms() {
  if (g_cputime) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(clk::now().time_since_epoch()).count();
}
template <class F>
static Timing time_ms(F&& f, int reps) {
  f();  // warm-up (allocates scratch)
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    double a = now_ms();
    f();
    t.push_back(now_ms() - a);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[0]};
}
// The machine may be shared: report the median and the minimum; GFLOP/s are from the median.
static std::string fmt(Timing t, double flop) {
  char b[96];
  if (flop > 0)
    std::snprintf(b, sizeof b, "%7.2f/%7.2f ms %6.1f GF/s", t.med, t.min, flop / t.med / 1e6);
  else
    std::snprintf(b, sizeof b, "%7.2f/%7.2f ms", t.med, t.min);
  return b;
}

static void bench_conv(const char* name, const ConvGeom& g, int reps, bool need_gx) {
  auto x = randv(g.n * g.c * g.h * g.w), w = randv(g.o * g.c * g.kh * g.kw), b = randv(g.o);
  auto gy = randv(g.n * g.o * g.oh * g.ow);
  std::vector<float> out(gy.size()), gx(x.size()), gw(w.size());
  const double flop = 2.0 * g.n * g.o * g.oh * g.ow * g.c * g.kh * g.kw;
  Timing tf = time_ms([&] { conv2d_forward(x.data(), w.data(), b.data(), out.data(), g); }, reps);
  Timing ti = need_gx ? time_ms([&] { conv2d_backward_input(gy.data(), w.data(), gx.data(), g); }, reps) : Timing{0, 0};
  Timing tw = time_ms([&] { conv2d_backward_weight(x.data(), gy.data(), gw.data(), g); }, reps);
  std::printf("  %-24s fwd %s | bwdI %s | bwdW %s\n", name, fmt(tf, flop).c_str(),
              need_gx ? fmt(ti, flop).c_str() : "          (not needed)         ", fmt(tw, flop).c_str());
}

static void bench_other(int64_t n, int reps) {
  // reference CNN: BN on the four conv outputs, max-pool after conv2/conv4, global avg pool
  struct S { int64_t c, hw; };
  const S bns[] = {{32, 784}, {32, 784}, {64, 196}, {64, 196}};
  Timing tbf{0, 0}, tbb{0, 0};
  for (auto s : bns) {
    size_t N = n * s.c * s.hw;
    auto x = randv(N), gy = randv(N), gm = randv(s.c), bt = randv(s.c);
    std::vector<float> out(N), gx(N), mean(s.c), var(s.c), gg(s.c), gb(s.c);
    Timing a = time_ms([&] { batchnorm_forward(x.data(), gm.data(), bt.data(), out.data(), mean.data(), var.data(),
                                               n, s.c, s.hw, 1e-5f, true, false); }, reps);
    Timing b = time_ms([&] { batchnorm_backward(x.data(), gy.data(), nullptr, gm.data(), mean.data(), var.data(),
                                                gx.data(), gg.data(), gb.data(), n, s.c, s.hw, 1e-5f, true); }, reps);
    tbf.med += a.med; tbf.min += a.min; tbb.med += b.med; tbb.min += b.min;
  }
  std::printf("  %-24s fwd %s | bwd %s\n", "batchnorm x4 (train)", fmt(tbf, 0).c_str(), fmt(tbb, 0).c_str());
  Timing tpf{0, 0}, tpb{0, 0};
  for (auto pg : {mkpool(n, 32, 28, 28, 2, 2, 0), mkpool(n, 64, 14, 14, 2, 2, 0)}) {
    auto x = randv(pg.n * pg.c * pg.h * pg.w), gy = randv(pg.n * pg.c * pg.oh * pg.ow);
    std::vector<float> out(gy.size()), gx(x.size());
    std::vector<int32_t> am(gy.size());
    Timing a = time_ms([&] { maxpool2d_forward(x.data(), out.data(), am.data(), pg); }, reps);
    Timing b = time_ms([&] { maxpool2d_backward(gy.data(), am.data(), gx.data(), pg); }, reps);
    tpf.med += a.med; tpf.min += a.min; tpb.med += b.med; tpb.min += b.min;
  }
  std::printf("  %-24s fwd %s | bwd %s\n", "maxpool2 x2", fmt(tpf, 0).c_str(), fmt(tpb, 0).c_str());
  {
    PoolGeom pg = mkpool(n, 64, 7, 7, 7, 1, 0);
    auto x = randv(pg.n * pg.c * pg.h * pg.w), gy = randv(pg.n * pg.c);
    std::vector<float> out(gy.size()), gx(x.size());
    Timing a = time_ms([&] { avgpool2d_forward(x.data(), out.data(), pg); }, reps);
    Timing b = time_ms([&] { avgpool2d_backward(gy.data(), gx.data(), pg); }, reps);
    std::printf("  %-24s fwd %s | bwd %s\n", "global avgpool 64x7x7", fmt(a, 0).c_str(), fmt(b, 0).c_str());
  }
}

static int g_bench_threads = 0;
static void run_bench(int64_t n, int reps, const std::string& net) {
  for (int nt : {1, 2}) {
    if (g_bench_threads > 0 && nt != g_bench_threads) continue;
    set_num_threads(nt);
    std::printf("threads=%d batch=%lld (median/min of %d)\n", nt, (long long)n, reps);
    if (net == "cnn" || net == "all") {
      bench_conv("cnn conv1 1->32 28x28", mkconv(n, 1, 28, 28, 32, 3, 3, 1, 1), reps, false);
      bench_conv("cnn conv2 32->32 28x28", mkconv(n, 32, 28, 28, 32, 3, 3, 1, 1), reps, true);
      bench_conv("cnn conv3 32->64 14x14", mkconv(n, 32, 14, 14, 64, 3, 3, 1, 1), reps, true);
      bench_conv("cnn conv4 64->64 14x14", mkconv(n, 64, 14, 14, 64, 3, 3, 1, 1), reps, true);
      bench_other(n, reps);
    }
    if (net == "resnet" || net == "all") {
      bench_conv("rn stem 3->64 32x32", mkconv(n, 3, 32, 32, 64, 3, 3, 1, 1), reps, false);
      bench_conv("rn 64->64 32x32", mkconv(n, 64, 32, 32, 64, 3, 3, 1, 1), reps, true);
      bench_conv("rn 64->128 s2", mkconv(n, 64, 32, 32, 128, 3, 3, 2, 1), reps, true);
      bench_conv("rn 1x1 64->128 s2", mkconv(n, 64, 32, 32, 128, 1, 1, 2, 0), reps, true);
      bench_conv("rn 128->128 16x16", mkconv(n, 128, 16, 16, 128, 3, 3, 1, 1), reps, true);
      bench_conv("rn 128->256 s2", mkconv(n, 128, 16, 16, 256, 3, 3, 2, 1), reps, true);
      bench_conv("rn 256->256 8x8", mkconv(n, 256, 8, 8, 256, 3, 3, 1, 1), reps, true);
      bench_conv("rn 256->512 s2", mkconv(n, 256, 8, 8, 512, 3, 3, 2, 1), reps, true);
      bench_conv("rn 512->512 4x4", mkconv(n, 512, 4, 4, 512, 3, 3, 1, 1), reps, true);
    }
  }
}

int main(int argc, char** argv) {
  avgk_test::apply_tuning_env();  // AVGK_GEMM_KERNEL=... runs everything on that SGEMM micro-kernel
  std::printf("isa %s, sgemm kernel %s\n", isa_name(), gemm_kernel_name());
  std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "all" || mode == "test") {
    run_tests();
    std::printf("%d checks, %d failures\n", g_checks, g_fail);
  }
  if (mode == "all" || mode == "bench") {
    int64_t n = argc > 2 ? std::atoll(argv[2]) : 128;
    int reps = argc > 3 ? std::atoi(argv[3]) : 5;
    std::string net = argc > 4 ? argv[4] : "cnn";
    if (const char* e = std::getenv("AVGK_COL_TARGET")) tuning::conv_col_target_bytes = std::atoll(e);
    if (const char* e = std::getenv("AVGK_DIRECT_MIN_HW")) tuning::conv_direct_min_hw = std::atoll(e);
    if (const char* e = std::getenv("AVGK_WGRAD_MULT")) tuning::conv_wgrad_chunk_mult = std::atoll(e);
    if (std::getenv("AVGK_NO_AVX512")) tuning::conv_avx512 = false;
    if (const char* e = std::getenv("AVGK_CONV_MODE")) tuning::conv_mode = std::atoi(e);
    g_cputime = std::getenv("AVGK_BENCH_CPUTIME") != nullptr;
    const char* th = std::getenv("AVGK_BENCH_THREADS");  // e.g. "1" or "2"; default both
    g_bench_threads = th ? std::atoi(th) : 0;
    run_bench(n, reps, net);
  }
  return g_fail == 0 ? 0 : 1;
}
