// Binding: setNumThreads, getNumThreads, and the process-level calls: tuneAllocator, nativeIsa.
// Loading the addon changes nothing process-wide; tuneAllocator() is the explicit opt-in.
#include "common.h"
#include "kernels/cpu_features.h"

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

// Process-wide allocator tuning (native/kernels/memory.cc); idempotent, returns whether it applied.
Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
  Args a(info, "tuneAllocator");
  a.count(0, "no arguments");
  const bool applied = guarded(a, [&] { return avgk::tune_allocator(); });
  return Napi::Boolean::New(info.Env(), applied);
}

// { isa, gemmKernel }: the instruction-set level every kernel family uses (after AVGK_NATIVE_ISA)
// and the SGEMM micro-kernel it selected.
Napi::Value NativeIsa(const Napi::CallbackInfo& info) {
  Args a(info, "nativeIsa");
  a.count(0, "no arguments");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", Napi::String::New(info.Env(), avgk::isa_name()));
  o.Set("gemmKernel", Napi::String::New(info.Env(), avgk::gemm_kernel_name()));
  return o;
}

}  // namespace

void InitThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator, "tuneAllocator"));
  exports.Set("nativeIsa", Napi::Function::New(env, NativeIsa, "nativeIsa"));
}

}  // namespace avgk_binding
