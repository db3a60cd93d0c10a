// Binding of the device start-up and memory: init (device information, or an error carrying the
// CUDA error name), alloc / free of device buffers, copies between host arrays and device views,
// memory statistics.
#include <string>

#include "cuda/kernels/errors.h"
#include "cuda/kernels/runtime.h"
#include "device_buffer.h"

namespace avgk_cuda_binding {
namespace {

using avgk_binding::kMaxInt;
constexpr const char* kPrefix = "avgk cuda";

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const avgk_cuda::DeviceInfo& d = avgk_cuda::init();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("multiprocessors", d.multiprocessors);
    o.Set("totalMemory", static_cast<double>(d.totalMemory));
    o.Set("runtimeVersion", d.runtimeVersion);
    o.Set("driverVersion", d.driverVersion);
    o.Set("emulated", d.emulated);
    return o;
  } catch (const avgk_cuda::CudaError& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", Napi::String::New(env, e.name()));
    throw err;
  }
}

int dtypeCode(const Args& a, size_t i) {
  Napi::Value v = a.at(i);
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "float32") return kF32;
    if (s == "int32") return kI32;
    if (s == "uint8") return kU8;
  }
  a.fail("dtype must be \"float32\", \"int32\" or \"uint8\", got " + avgk_binding::describe(v));
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Args a(info, "alloc", kPrefix);
  a.count(2, "elements, dtype");
  const int64_t n = a.integer(0, "elements", 0, kMaxInt / 4);
  const int dt = dtypeCode(a, 1);
  return Guarded(a, [&] { return NewBlock(info.Env(), n, dt); });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Args a(info, "free", kPrefix);
  a.count(1, "handle");
  Block* b = BlockOf(info.Env(), a.at(0));
  if (b == nullptr) a.fail("handle must be a device buffer handle, got " + avgk_binding::describe(a.at(0)));
  Guarded(a, [&] { FreeBlock(info.Env(), b); });
  return info.Env().Undefined();
}

// A host typed array of the view's element type and length (read after the view, whose getters
// could otherwise detach or shrink it).
struct HostArray {
  void* data = nullptr;
  size_t bytes = 0;
};
HostArray hostArray(const Args& a, size_t i, const Buf<uint8_t>& view, int dtype) {
  napi_typedarray_type t;
  void* data = nullptr;
  size_t len = 0;
  const napi_typedarray_type want = dtype == kF32 ? napi_float32_array : dtype == kI32 ? napi_int32_array : napi_uint8_array;
  const char* wantName = dtype == kF32 ? "Float32Array" : dtype == kI32 ? "Int32Array" : "Uint8Array";
  if (!a.typedInfo(i, "host", &t, &data, &len) || t != want)
    a.fail(std::string("host (argument ") + std::to_string(i + 1) + ") must be a " + wantName + ", got " +
           avgk_binding::describe(a.at(i)));
  if (static_cast<int64_t>(len) != view.len)
    a.fail("host has " + std::to_string(len) + " elements but the device view has " + std::to_string(view.len));
  return {data, len * dtypeSize(dtype)};
}

int viewDtype(const Args& a, size_t i) {
  a.beforeJs("device");
  Napi::Value v = a.at(i);
  Block* b = v.IsObject() ? BlockOf(a.env(), v.As<Napi::Object>().Get("handle")) : nullptr;
  return b ? b->dtype : kF32;
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  Args a(info, "upload", kPrefix);
  a.count(2, "device, host");
  const int dt = viewDtype(a, 0);
  auto dev = View<uint8_t>(a, 0, "device", dt);
  HostArray h = hostArray(a, 1, dev, dt);
  Live(a, dev);
  Guarded(a, [&] { avgk_cuda::upload(dev.data, h.data, h.bytes); });
  return info.Env().Undefined();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  Args a(info, "download", kPrefix);
  a.count(2, "device, host");
  const int dt = viewDtype(a, 0);
  auto dev = View<uint8_t>(a, 0, "device", dt);
  HostArray h = hostArray(a, 1, dev, dt);
  Live(a, dev);
  Guarded(a, [&] { avgk_cuda::download(h.data, dev.data, h.bytes); });
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  const avgk_cuda::MemStats s = avgk_cuda::mem_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("live", static_cast<double>(s.live));
  o.Set("peak", static_cast<double>(s.peak));
  o.Set("reserved", static_cast<double>(s.reserved));
  o.Set("allocations", static_cast<double>(s.allocations));
  return o;
}

Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  avgk_cuda::reset_peak();
  return info.Env().Undefined();
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  Args a(info, "emptyCache", kPrefix);
  Guarded(a, [&] { avgk_cuda::empty_cache(); });
  return info.Env().Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Args a(info, "synchronize", kPrefix);
  Guarded(a, [&] { avgk_cuda::synchronize(); });
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("upload", Napi::Function::New(env, Upload, "upload"));
  exports.Set("download", Napi::Function::New(env, Download, "download"));
  exports.Set("memStats", Napi::Function::New(env, Stats, "memStats"));
  exports.Set("resetPeak", Napi::Function::New(env, ResetPeak, "resetPeak"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
}

}  // namespace avgk_cuda_binding
