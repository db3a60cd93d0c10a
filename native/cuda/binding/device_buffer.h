// Device buffers as JS values: a Block (device pointer, size, element type) owned by a type-tagged
// napi External. The memory is freed by free() (dispose) or by the External's finalizer, whichever
// comes first, and V8 is told of it as external memory. Kernel arguments are views of blocks:
// JS objects { handle: External, offset, length } in elements (src/backend/cuda/storage.ts).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "binding/common.h"

namespace avgk_cuda_binding {

using avgk_binding::Args;
using avgk_binding::Buf;

enum DType : int { kF32 = 0, kI32 = 1, kU8 = 2 };
inline size_t dtypeSize(int d) { return d == kU8 ? 1 : 4; }
const char* dtypeName(int d);

struct Block {
  void* ptr = nullptr;
  size_t bytes = 0;
  int dtype = kF32;
  bool freed = false;
};

// A new block of `elements` elements (uninitialised), as an External.
Napi::Value NewBlock(Napi::Env env, int64_t elements, int dtype);
// The Block of an External made by NewBlock, or nullptr.
Block* BlockOf(napi_env env, napi_value v);
void FreeBlock(Napi::Env env, Block* b);

// A view argument read from a { handle, offset, length } object.
template <typename T>
struct DevBuf : Buf<T> {
  Block* block = nullptr;
};

// Reads argument i as a view of a block of element type `dtype` (nullable: JS null → b.null).
// The pointer is the block's plus the offset; offset + length must lie inside the block.
DevBuf<uint8_t> ReadView(const Args& a, size_t i, const char* name, int dtype, bool nullable);

template <typename T>
DevBuf<T> View(const Args& a, size_t i, const char* name, int dtype, bool nullable = false) {
  DevBuf<uint8_t> r = ReadView(a, i, name, dtype, nullable);
  DevBuf<T> b;
  b.name = r.name;
  b.null = r.null;
  b.block = r.block;
  b.data = reinterpret_cast<T*>(r.data);
  b.len = r.len;
  return b;
}
inline DevBuf<float> F32(const Args& a, size_t i, const char* name) { return View<float>(a, i, name, kF32); }
inline DevBuf<float> F32OrNull(const Args& a, size_t i, const char* name) { return View<float>(a, i, name, kF32, true); }
inline DevBuf<int32_t> I32(const Args& a, size_t i, const char* name) { return View<int32_t>(a, i, name, kI32); }
inline DevBuf<uint8_t> U8OrNull(const Args& a, size_t i, const char* name) { return View<uint8_t>(a, i, name, kU8, true); }

// After every argument has been read (getters may have run JS): every block still allocated. (The
// Block structs themselves outlive the call: their Externals are held by this call's handles.)
template <typename... B>
void Live(const Args& a, const B&... bufs) {
  auto check = [&](const char* name, const Block* blk) {
    if (blk && blk->freed) a.fail(std::string(name) + " was disposed while the arguments were read");
  };
  (check(bufs.name, bufs.block), ...);
}

// Runs a launcher; CUDA errors become JS errors naming the op and the CUDA error.
template <class F>
auto Guarded(const Args& a, F&& f) -> decltype(f()) {
  return avgk_binding::guarded(a, std::forward<F>(f));
}

void InitMemory(Napi::Env env, Napi::Object exports);
void InitKernels(Napi::Env env, Napi::Object exports);
void InitNnKernels(Napi::Env env, Napi::Object exports);

}  // namespace avgk_cuda_binding
