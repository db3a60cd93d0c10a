// Binding: sgdStep, adamStep.
#include "common.h"

namespace avgk_binding {
namespace {

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args a(info, "sgdStep");
  a.count(8, "param, grad, buf, lr, momentum, weightDecay, nesterov, firstStep");
  Buf<float> param = a.f32(0, "param");
  Buf<float> grad = a.f32(1, "grad");
  Buf<float> buf = a.f32(2, "buf");
  const float lr = a.finiteF32(3, "lr");
  const float momentum = a.finiteF32(4, "momentum");
  const float wd = a.finiteF32(5, "weightDecay");
  const bool nesterov = a.boolean(6, "nesterov");
  const bool first = a.boolean(7, "firstStep");
  const std::string what = "param of length " + std::to_string(param.len);
  a.needLen(grad, param.len, what);
  const bool useBuf = momentum != 0.0f;
  if (useBuf) {
    a.needLen(buf, param.len, what + " (momentum != 0)");
    a.disjoint({spanOf(param), spanOf(buf)}, {spanOf(param), spanOf(grad), spanOf(buf)});
  } else {
    a.disjoint({spanOf(param)}, {spanOf(grad)});
  }
  guarded(a, [&] {
    avgk::sgd_step(param.data, grad.data, useBuf ? buf.data : nullptr, param.len, lr, momentum, wd, nesterov, first);
  });
  return info.Env().Undefined();
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args a(info, "adamStep");
  a.count(11, "param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step, decoupled");
  Buf<float> param = a.f32(0, "param");
  Buf<float> grad = a.f32(1, "grad");
  Buf<float> m = a.f32(2, "m");
  Buf<float> v = a.f32(3, "v");
  a.finiteF32(4, "lr");  // validated as float32-representable, passed on in double
  const double lr = a.number(4, "lr");
  const double b1 = a.finite(5, "beta1");
  const double b2 = a.finite(6, "beta2");
  a.finiteF32(7, "eps");
  a.finiteF32(8, "weightDecay");
  const double eps = a.number(7, "eps");
  const double wd = a.number(8, "weightDecay");
  const int64_t step = a.integer(9, "step", 1, kMaxInt);
  const bool decoupled = a.boolean(10, "decoupled");
  if (!(b1 >= 0.0 && b1 < 1.0)) a.fail("beta1 must be in [0, 1), got " + std::to_string(b1));
  if (!(b2 >= 0.0 && b2 < 1.0)) a.fail("beta2 must be in [0, 1), got " + std::to_string(b2));
  const std::string what = "param of length " + std::to_string(param.len);
  a.needLen(grad, param.len, what);
  a.needLen(m, param.len, what);
  a.needLen(v, param.len, what);
  a.disjoint({spanOf(param), spanOf(m), spanOf(v)}, {spanOf(param), spanOf(grad), spanOf(m), spanOf(v)});
  guarded(a, [&] { avgk::adam_step_d(param.data, grad.data, m.data, v.data, param.len, lr, b1, b2, eps, wd, step, decoupled); });
  return info.Env().Undefined();
}

}  // namespace

void InitOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep, "adamStep"));
}

}  // namespace avgk_binding
