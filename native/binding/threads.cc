// Binding: setNumThreads, getNumThreads.
#include "common.h"

namespace avgk_binding {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setNumThreads");
  a.count(1, "n");
  const int64_t n = a.integer(0, "n", 1, 1024);
  guarded(a, [&] { avgk::set_num_threads(static_cast<int>(n)); });
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  Args a(info, "getNumThreads");
  a.count(0, "no arguments");
  const int n = guarded(a, [&] { return avgk::get_num_threads(); });
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

void InitThreads(Napi::Env env, Napi::Object exports) {
  // Process-wide allocator tuning happens once, when the addon loads (native/kernels/memory.cc).
  const bool tuned = avgk::tune_allocator();
  exports.Set("allocatorTuned", Napi::Boolean::New(env, tuned));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
}

}  // namespace avgk_binding
