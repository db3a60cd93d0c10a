// Binding: batchNormForward, batchNormBackward (arguments: nn_args.h).
#include "nn_args.h"

namespace avgk_binding {
namespace {

Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForward");
  auto r = readBatchNormForward<HostReader>(a);
  guarded(a, [&] {
    avgk::batchnorm_forward(r.x.data, r.gamma.data, r.beta.data, r.out.data, r.mean.data, r.var.data, r.n, r.c, r.hw,
                            r.eps, r.training, r.relu);
  });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormBackward");
  auto r = readBatchNormBackward<HostReader>(a);
  guarded(a, [&] {
    avgk::batchnorm_backward(r.x.data, r.gy.data, r.y.null ? nullptr : r.y.data, r.gamma.data, r.mean.data, r.var.data,
                             r.gx.data, r.gg.data, r.gb.data, r.n, r.c, r.hw, r.eps, r.training);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitBatchNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward, "batchNormForward"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward, "batchNormBackward"));
}

}  // namespace avgk_binding
