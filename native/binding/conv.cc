// Binding: conv2dForward, conv2dBackwardInput, conv2dBackwardWeight (arguments: nn_args.h).
#include "nn_args.h"

namespace avgk_binding {
namespace {

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dForward");
  auto r = readConvForward<HostReader>(a);
  guarded(a, [&] { avgk::conv2d_forward(r.x.data, r.w.data, r.bias.null ? nullptr : r.bias.data, r.out.data, r.g); });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardInput");
  auto r = readConvBackwardInput<HostReader>(a);
  guarded(a, [&] { avgk::conv2d_backward_input(r.gy.data, r.w.data, r.gx.data, r.g); });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardWeight");
  auto r = readConvBackwardWeight<HostReader>(a);
  guarded(a, [&] { avgk::conv2d_backward_weight(r.x.data, r.gy.data, r.gw.data, r.g); });
  return info.Env().Undefined();
}

}  // namespace

void InitConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward, "conv2dForward"));
  exports.Set("conv2dBackwardInput", Napi::Function::New(env, Conv2dBackwardInput, "conv2dBackwardInput"));
  exports.Set("conv2dBackwardWeight", Napi::Function::New(env, Conv2dBackwardWeight, "conv2dBackwardWeight"));
}

}  // namespace avgk_binding
