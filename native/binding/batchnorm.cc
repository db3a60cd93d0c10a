// Binding: batchNormForward, batchNormBackward.
#include "common.h"

namespace avgk_binding {
namespace {

std::string dims(int64_t n, int64_t c, int64_t hw) {
  return "n=" + std::to_string(n) + ", c=" + std::to_string(c) + ", hw=" + std::to_string(hw);
}

Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForward");
  a.count(12, "x, gamma, beta, out, mean, variance, n, c, hw, eps, training, relu");
  Buf<float> x = a.f32(0, "x");
  Buf<float> gamma = a.f32(1, "gamma");
  Buf<float> beta = a.f32(2, "beta");
  Buf<float> out = a.f32(3, "out");
  Buf<float> mean = a.f32(4, "mean");
  Buf<float> var = a.f32(5, "variance");
  const int64_t n = a.integer(6, "n", 0, kMaxInt);
  const int64_t c = a.integer(7, "c", 0, kMaxInt);
  const int64_t hw = a.integer(8, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(9, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(10, "training");
  const bool relu = a.boolean(11, "relu");
  const std::string d = dims(n, c, hw);
  const int64_t total = a.mul({n, c, hw}, "n*c*hw");
  a.needLen(x, total, d);
  a.needLen(gamma, c, d);
  a.needLen(beta, c, d);
  a.needLen(out, total, d);
  a.needLen(mean, c, d);
  a.needLen(var, c, d);
  if (training && n * hw == 0 && c > 0) a.fail("training needs at least one value per channel (" + d + ")");
  const Span all[] = {spanOf(x), spanOf(gamma), spanOf(beta), spanOf(out), spanOf(mean), spanOf(var)};
  a.disjoint({spanOf(out)}, {all[0], all[1], all[2], all[3], all[4], all[5]});
  if (training) a.disjoint({spanOf(mean), spanOf(var)}, {all[0], all[1], all[2], all[3], all[4], all[5]});
  guarded(a, [&] {
    avgk::batchnorm_forward(x.data, gamma.data, beta.data, out.data, mean.data, var.data, n, c, hw,
                            static_cast<float>(eps), training, relu);
  });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormBackward");
  a.count(14, "x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, eps, training, y");
  Buf<float> x = a.f32(0, "x");
  Buf<float> gy = a.f32(1, "gy");
  Buf<float> gamma = a.f32(2, "gamma");
  Buf<float> mean = a.f32(3, "mean");
  Buf<float> var = a.f32(4, "variance");
  Buf<float> gx = a.f32(5, "gx");
  Buf<float> gg = a.f32(6, "ggamma");
  Buf<float> gb = a.f32(7, "gbeta");
  const int64_t n = a.integer(8, "n", 0, kMaxInt);
  const int64_t c = a.integer(9, "c", 0, kMaxInt);
  const int64_t hw = a.integer(10, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(11, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(12, "training");
  Buf<float> y = a.f32OrNull(13, "y");
  const std::string d = dims(n, c, hw);
  const int64_t total = a.mul({n, c, hw}, "n*c*hw");
  a.needLen(x, total, d);
  a.needLen(gy, total, d);
  if (!y.null) a.needLen(y, total, d);
  a.needLen(gamma, c, d);
  a.needLen(mean, c, d);
  a.needLen(var, c, d);
  a.needLen(gx, total, d);
  a.needLen(gg, c, d);
  a.needLen(gb, c, d);
  a.disjoint({spanOf(gx), spanOf(gg), spanOf(gb)}, {spanOf(x), spanOf(gy), spanOf(gamma), spanOf(mean), spanOf(var),
                                                    spanOf(gx), spanOf(gg), spanOf(gb)});
  if (!y.null) a.disjoint({spanOf(gx), spanOf(gg), spanOf(gb)}, {spanOf(y)});
  guarded(a, [&] {
    avgk::batchnorm_backward(x.data, gy.data, y.null ? nullptr : y.data, gamma.data, mean.data, var.data, gx.data,
                             gg.data, gb.data, n, c, hw, static_cast<float>(eps), training);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward, "batchNormForward"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward, "batchNormBackward"));
}

}  // namespace avgk_binding
