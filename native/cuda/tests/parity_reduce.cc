// Parity: reduceSum, reduceMax (+ backward), take / putAdd / putValue, sgdStep, adamStep.
#include "parity.h"

using parity::Dev;

AVGK_PARITY(reduce_sum) {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 300, 1}, {3, 5, 7}, {1, 5000, 10}, {2, 70, 33}, {4, 0, 3}, {1, 100000, 1}};
  for (const auto& s : shapes) {
    const int64_t outer = s[0], mid = s[1], inner = s[2];
    auto x = parity::uniform(outer * mid * inner, -1, 1, static_cast<uint32_t>(outer * 31 + mid + inner));
    std::vector<float> want(outer * inner);
    avgk::reduce_sum(x.data(), want.data(), outer, mid, inner);
    Dev<float> dx(x.empty() ? std::vector<float>(1) : x), dout(outer * inner);
    avgk_cuda::reduce_sum(dx.p, dout.p, outer, mid, inner);
    parity::close(dout.get(), want, 1e-5, 1e-4, "reduceSum " + std::to_string(outer) + "x" + std::to_string(mid) + "x" +
                                                     std::to_string(inner));
  }
}

AVGK_PARITY(reduce_max) {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 300, 1}, {3, 5, 7}, {5, 64, 1}, {2, 9, 1}};
  for (const auto& s : shapes) {
    const int64_t outer = s[0], mid = s[1], inner = s[2], n = outer * mid * inner;
    auto x = parity::uniform(n, -1, 1, static_cast<uint32_t>(n));
    // ties and NaN: the first maximum, the first NaN
    for (int64_t i = 0; i < n; i += 5) x[i] = 0.75f;
    if (n > 40) {
      x[n / 2] = NAN;
      x[n / 2 + inner] = NAN;
    }
    std::vector<float> want(outer * inner);
    std::vector<int32_t> wantArg(outer * inner);
    avgk::reduce_max(x.data(), want.data(), wantArg.data(), outer, mid, inner);
    Dev<float> dx(x), dout(outer * inner);
    Dev<int32_t> darg(outer * inner);
    avgk_cuda::reduce_max(dx.p, dout.p, darg.p, outer, mid, inner);
    const std::string what = "reduceMax " + std::to_string(outer) + "x" + std::to_string(mid) + "x" + std::to_string(inner);
    parity::close(dout.get(), want, 0, 0, what);
    parity::equal(darg.get(), wantArg, what + " argmax");
    auto gy = parity::uniform(outer * inner, -1, 1, 3);
    std::vector<float> gx(n, 0.0f);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) gx[(o * mid + wantArg[o * inner + i]) * inner + i] = gy[o * inner + i];
    Dev<float> dgy(gy), dgx(n);
    avgk_cuda::reduce_max_backward(dgy.p, darg.p, dgx.p, outer, mid, inner);
    parity::close(dgx.get(), gx, 0, 0, what + " backward");
  }
}

AVGK_PARITY(take_put) {
  auto x = parity::uniform(50, -1, 1, 1);
  std::vector<int32_t> idx = {3, 0, 49, 3, 7, 50, -1};  // the last two are out of range
  std::vector<float> want(idx.size()), gx(50, 0.0f), g = {1, 2, 3, 4, 5};
  g.resize(idx.size(), 100.0f);
  for (size_t k = 0; k < idx.size(); ++k) {
    const bool in = idx[k] >= 0 && idx[k] < 50;
    want[k] = in ? x[idx[k]] : NAN;
    if (in) gx[idx[k]] += g[k];
  }
  Dev<float> dx(x), dout(idx.size()), dg(g), dgx(std::vector<float>(50, 0.0f));
  Dev<int32_t> di(idx);
  avgk_cuda::take(dx.p, 50, di.p, dout.p, idx.size());
  parity::close(dout.get(), want, 0, 0, "take");
  avgk_cuda::put_add(dg.p, di.p, dgx.p, 50, idx.size());
  parity::close(dgx.get(), gx, 0, 0, "putAdd with a duplicate index");
  avgk_cuda::put_value(dx.p, 50, di.p, idx.size(), 9.0f);
  auto got = dx.get();
  for (int32_t i : idx)
    if (i >= 0 && i < 50) x[i] = 9.0f;
  parity::close(got, x, 0, 0, "putValue");
}

AVGK_PARITY(optimisers) {
  const int64_t n = 1037;
  for (int variant = 0; variant < 4; ++variant) {
    const bool nesterov = variant & 1;
    const float momentum = variant >= 2 ? 0.0f : 0.9f;
    auto p = parity::uniform(n, -1, 1, 1), g = parity::uniform(n, -1, 1, 2), buf = parity::uniform(n, -1, 1, 3);
    Dev<float> dp(p), dg(g), db(buf);
    for (int step = 0; step < 3; ++step) {
      avgk::sgd_step(p.data(), g.data(), buf.data(), n, 0.1f, momentum, 1e-4f, nesterov && momentum > 0, step == 0);
      avgk_cuda::sgd_step(dp.p, dg.p, db.p, n, 0.1f, momentum, 1e-4f, nesterov && momentum > 0, step == 0);
    }
    parity::close(dp.get(), p, 1e-5, 1e-6, "sgdStep variant " + std::to_string(variant));
  }
  for (int decoupled = 0; decoupled < 2; ++decoupled) {
    auto p = parity::uniform(n, -1, 1, 4), g = parity::uniform(n, -1, 1, 5);
    std::vector<float> m(n, 0.0f), v(n, 0.0f);
    Dev<float> dp(p), dg(g), dm(m), dv(v);
    for (int step = 1; step <= 3; ++step) {
      avgk::adam_step_d(p.data(), g.data(), m.data(), v.data(), n, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, decoupled);
      avgk_cuda::adam_step(dp.p, dg.p, dm.p, dv.p, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, decoupled);
    }
    parity::close(dp.get(), p, 1e-5, 1e-6, "adamStep decoupled=" + std::to_string(decoupled));
    parity::close(dv.get(), v, 1e-5, 1e-9, "adamStep v");
  }
}
