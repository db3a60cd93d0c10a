#include "device_buffer.h"

#include <string>

#include "cuda/kernels/errors.h"
#include "cuda/kernels/runtime.h"

namespace avgk_cuda_binding {
namespace {

// Marks Externals made here, so that no other External is taken for a device buffer.
const napi_type_tag kBlockTag = {0x6176676b63756461ULL, 0x626c6f636b763031ULL};

void Finalize(Napi::Env env, Block* b) {
  if (!b->freed) {
    b->freed = true;
    try {
      avgk_cuda::release(b->ptr, b->bytes);
    } catch (...) {  // never throw from a finalizer
    }
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(b->bytes));
  }
  delete b;
}

}  // namespace

const char* dtypeName(int d) {
  switch (d) {
    case kF32: return "float32";
    case kI32: return "int32";
    case kU8: return "uint8";
  }
  return "unknown";
}

Napi::Value NewBlock(Napi::Env env, int64_t elements, int dtype) {
  const size_t bytes = static_cast<size_t>(elements) * dtypeSize(dtype);
  Block* b = new Block();
  try {
    b->ptr = avgk_cuda::alloc(bytes);
  } catch (...) {
    delete b;
    throw;
  }
  b->bytes = bytes;
  b->dtype = dtype;
  Napi::External<Block> ext = Napi::External<Block>::New(env, b, Finalize);
  napi_type_tag_object(env, ext, &kBlockTag);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  return ext;
}

Block* BlockOf(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kBlockTag, &tagged) != napi_ok || !tagged) return nullptr;
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok) return nullptr;
  return static_cast<Block*>(data);
}

void FreeBlock(Napi::Env env, Block* b) {
  if (b->freed) return;
  b->freed = true;
  avgk_cuda::release(b->ptr, b->bytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(b->bytes));
}

DevBuf<uint8_t> ReadView(const Args& a, size_t i, const char* name, int dtype, bool nullable) {
  DevBuf<uint8_t> r;
  r.name = name;
  Napi::Value v = a.at(i);
  if (nullable && v.IsNull()) {
    r.null = true;
    return r;
  }
  const std::string want = std::string("a cuda ") + dtypeName(dtype) + " buffer" + (nullable ? " or null" : "");
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray()) {
    a.fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be " + want + ", got " +
           avgk_binding::describe(v) + (v.IsTypedArray() ? " (a host array: move it to the device first)" : ""));
  }
  a.beforeJs(name);  // the property reads below can run getters (Live() re-checks the blocks after)
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value h = o.Get("handle");
  Block* b = BlockOf(a.env(), h);
  if (b == nullptr) a.fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be " + want + ", got " +
                           avgk_binding::describe(v) + " without a device handle");
  const Napi::Value off = o.Get("offset"), len = o.Get("length");
  auto integer = [&](const Napi::Value& x, const char* field) -> int64_t {
    if (!x.IsNumber()) a.fail(std::string(name) + "." + field + " must be a number, got " + avgk_binding::describe(x));
    const double d = x.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= avgk_binding::kMaxInt) || d != static_cast<double>(static_cast<int64_t>(d)))
      a.fail(std::string(name) + "." + field + " must be a non-negative integer, got " + avgk_binding::describe(x));
    return static_cast<int64_t>(d);
  };
  const int64_t offset = integer(off, "offset");
  const int64_t length = integer(len, "length");
  if (b->freed) a.fail(std::string(name) + " has been disposed (its device memory was freed)");
  if (b->dtype != dtype)
    a.fail(std::string(name) + " must be " + want + ", got a cuda " + dtypeName(b->dtype) + " buffer");
  const int64_t cap = static_cast<int64_t>(b->bytes / dtypeSize(dtype));
  if (offset > cap || length > cap - offset)
    a.fail(std::string(name) + " is a view [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
           ") outside its buffer of " + std::to_string(cap) + " elements");
  r.block = b;
  r.data = static_cast<uint8_t*>(b->ptr) + offset * static_cast<int64_t>(dtypeSize(dtype));
  r.len = length;
  return r;
}

}  // namespace avgk_cuda_binding
