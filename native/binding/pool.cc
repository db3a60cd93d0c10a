// Binding: maxPool2dForward/Backward, avgPool2dForward/Backward (arguments: nn_args.h).
#include "nn_args.h"

namespace avgk_binding {
namespace {

Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dForward");
  auto r = readMaxPoolForward<HostReader>(a);
  guarded(a, [&] { avgk::maxpool2d_forward(r.x.data, r.out.data, r.arg.data, r.g); });
  return info.Env().Undefined();
}

Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dBackward");
  auto r = readMaxPoolBackward<HostReader>(a);
  // every argmax entry is an index into its h*w plane (or -1 for an all-padding window): the CPU
  // kernel scatters through them (argmax is never shared memory, so it reads what is checked here)
  const int64_t plane = r.g.h * r.g.w;
  for (int64_t i = 0; i < r.arg.len; ++i) {
    const int32_t v = r.arg.data[i];
    if (v < -1 || v >= plane) {
      a.fail("argmax[" + std::to_string(i) + "] = " + std::to_string(v) + " is outside [-1, " + std::to_string(plane) +
             ") (h*w for " + poolStr(r.g) + ")");
    }
  }
  guarded(a, [&] { avgk::maxpool2d_backward(r.gy.data, r.arg.data, r.gx.data, r.g); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dForward");
  auto r = readAvgPoolForward<HostReader>(a);
  guarded(a, [&] { avgk::avgpool2d_forward(r.in.data, r.out.data, r.g); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dBackward");
  auto r = readAvgPoolBackward<HostReader>(a);
  guarded(a, [&] { avgk::avgpool2d_backward(r.in.data, r.out.data, r.g); });
  return info.Env().Undefined();
}

}  // namespace

void InitPool(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool2dForward", Napi::Function::New(env, MaxPool2dForward, "maxPool2dForward"));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, MaxPool2dBackward, "maxPool2dBackward"));
  exports.Set("avgPool2dForward", Napi::Function::New(env, AvgPool2dForward, "avgPool2dForward"));
  exports.Set("avgPool2dBackward", Napi::Function::New(env, AvgPool2dBackward, "avgPool2dBackward"));
}

}  // namespace avgk_binding
