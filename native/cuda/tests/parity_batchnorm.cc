// Parity: batchNormForward / batchNormBackward (training and eval, with and without the fused
// ReLU) against the CPU kernels, on [N, C] and [N, C, H, W] shapes, including channels long enough
// for the multi-block reduction.
#include "parity.h"

using parity::Dev;

namespace {

struct Shape {
  int64_t n, c, hw;
};

std::string tag(const Shape& s, bool training, bool relu) {
  return std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw) +
         (training ? " training" : " eval") + (relu ? " relu" : "");
}

// x = uniform(-2, 2) + offset; with `nan`, one NaN in channel 1 (that channel's statistics and
// outputs are NaN, the others are not affected).
void check(const Shape& s, bool training, bool relu, float offset, bool nan, uint32_t seed) {
  const int64_t n = s.n, c = s.c, hw = s.hw, total = n * c * hw;
  const float eps = 1e-5f;
  const std::string what = "batchNorm " + tag(s, training, relu) + (nan ? " (NaN)" : "");
  auto x = parity::uniform(total, -2.0f, 2.0f, seed);
  for (auto& v : x) v += offset;
  if (nan && c > 1) x[(n / 2) * c * hw + 1 * hw + hw / 2] = NAN;
  const auto gamma = parity::uniform(c, 0.5f, 1.5f, seed + 1), beta = parity::uniform(c, -1.0f, 1.0f, seed + 2);
  std::vector<float> mean = training ? std::vector<float>(c, 0.0f) : parity::uniform(c, -1.0f, 1.0f, seed + 3);
  std::vector<float> var = training ? std::vector<float>(c, 0.0f) : parity::uniform(c, 0.5f, 2.0f, seed + 4);
  if (!training)
    for (auto& m : mean) m += offset;

  std::vector<float> out(total);
  Dev<float> dx(x), dgamma(gamma), dbeta(beta), dout(std::vector<float>(total, NAN));
  Dev<float> dmean(training ? std::vector<float>(c, NAN) : mean), dvar(training ? std::vector<float>(c, NAN) : var);
  avgk::batchnorm_forward(x.data(), gamma.data(), beta.data(), out.data(), mean.data(), var.data(), n, c, hw, eps,
                          training, relu);
  avgk_cuda::batchnorm_forward(dx.p, dgamma.p, dbeta.p, dout.p, dmean.p, dvar.p, n, c, hw, eps, training, relu);
  parity::close(dmean.get(), mean, 1e-5, 1e-6, what + " mean");
  parity::close(dvar.get(), var, 1e-4, 1e-6, what + " var");
  parity::close(dout.get(), out, 1e-4, 1e-4, what + " out");

  // backward with the CPU's statistics and forward output (y), for both
  const auto gy = parity::uniform(total, -1.0f, 1.0f, seed + 5);
  std::vector<float> gx(total), ggamma(c), gbeta(c);
  avgk::batchnorm_backward(x.data(), gy.data(), relu ? out.data() : nullptr, gamma.data(), mean.data(), var.data(),
                           gx.data(), ggamma.data(), gbeta.data(), n, c, hw, eps, training);
  Dev<float> dgy(gy), dy(out), dm(mean), dv(var);
  Dev<float> dgx(std::vector<float>(total, NAN)), dgg(std::vector<float>(c, NAN)), dgb(std::vector<float>(c, NAN));
  avgk_cuda::batchnorm_backward(dx.p, dgy.p, relu ? dy.p : nullptr, dgamma.p, dm.p, dv.p, dgx.p, dgg.p, dgb.p, n, c,
                                hw, eps, training);
  parity::close(dgx.get(), gx, 1e-4, 1e-5, what + " gx");
  parity::close(dgg.get(), ggamma, 1e-4, 1e-4, what + " ggamma");
  parity::close(dgb.get(), gbeta, 1e-4, 1e-4, what + " gbeta");
}

}  // namespace

// [N, C] (hw = 1): BatchNorm1d.
AVGK_PARITY(batchnorm_2d) {
  const Shape shapes[] = {{2, 3, 1}, {1, 4, 1}, {64, 17, 1}, {3000, 5, 1}};
  uint32_t seed = 10;
  for (const auto& s : shapes)
    for (int mode = 0; mode < 4; ++mode) check(s, mode & 1, mode & 2, 3.0f, false, seed += 10);
}

// [N, C, H, W], one block per channel and several.
AVGK_PARITY(batchnorm_4d) {
  const Shape shapes[] = {{8, 16, 256}, {3, 3, 7}, {37, 3, 100}, {2, 33, 49}};
  uint32_t seed = 1000;
  for (const auto& s : shapes)
    for (int mode = 0; mode < 4; ++mode) check(s, mode & 1, mode & 2, 3.0f, false, seed += 10);
}

// Few channels over a long batch: the chunked, multi-block reduction.
AVGK_PARITY(batchnorm_multiblock) {
  uint32_t seed = 2000;
  for (int mode = 0; mode < 4; ++mode) check(Shape{64, 4, 1024}, mode & 1, mode & 2, 3.0f, false, seed += 10);
  // a large mean (the variance must not cancel)
  check(Shape{16, 2, 1000}, true, false, 1000.0f, false, seed += 10);
}

AVGK_PARITY(batchnorm_nan) {
  check(Shape{4, 3, 9}, true, false, 0.0f, true, 3000);
  check(Shape{4, 3, 9}, true, true, 0.0f, true, 3010);
  check(Shape{4, 3, 9}, false, false, 0.0f, true, 3020);
}

// An empty batch: training statistics are NaN; the parameter gradients are 0.
AVGK_PARITY(batchnorm_empty) {
  const int64_t c = 3;
  Dev<float> dx(1), dgamma(std::vector<float>(c, 1.0f)), dbeta(std::vector<float>(c, 0.0f));
  Dev<float> dmean(std::vector<float>(c, 0.0f)), dvar(std::vector<float>(c, 0.0f));
  avgk_cuda::batchnorm_forward(dx.p, dgamma.p, dbeta.p, dx.p, dmean.p, dvar.p, 0, c, 4, 1e-5f, true, false);
  parity::close(dmean.get(), std::vector<float>(c, NAN), 0, 0, "batchNorm empty mean");
  parity::close(dvar.get(), std::vector<float>(c, NAN), 0, 0, "batchNorm empty var");
  Dev<float> dgg(std::vector<float>(c, NAN)), dgb(std::vector<float>(c, NAN));
  avgk_cuda::batchnorm_backward(dx.p, dx.p, nullptr, dgamma.p, dmean.p, dvar.p, dx.p, dgg.p, dgb.p, 0, c, 4, 1e-5f,
                                true);
  parity::close(dgg.get(), std::vector<float>(c, 0.0f), 0, 0, "batchNorm empty ggamma");
  parity::close(dgb.get(), std::vector<float>(c, 0.0f), 0, 0, "batchNorm empty gbeta");
}
