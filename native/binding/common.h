// Shared helpers of the N-API binding layer: argument checking and error conversion.
//
// Every exported function builds an `Args` for its op name, reads and checks each argument through
// it, and calls the kernel inside `guarded(...)`. Every failure is a JS Error whose message starts
// with "avgk native <op>: " and names the offending argument, shape or value. Kernels receive raw
// pointers into the typed arrays (byteOffset respected, never copied).
//
// Order of the reads: reading an object's property or an array's element (geometry objects,
// shape / stride arrays, device views) can run JavaScript (getters, proxies in the prototype
// chain), which can detach, transfer or resize any buffer of the call. So every such read comes
// before the first typed-array pointer is taken (Args enforces it: a JS-running read after a pointer
// fails), and guarded() re-checks every pointer and length before the kernel runs. Number and
// boolean reads never run JavaScript. Buffers backed by a SharedArrayBuffer are refused: another
// thread could change them during the call (an index validated here and re-read by the kernel).
#pragma once
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace avgk_binding {

// Largest integer accepted for a size, stride or offset (keeps every product we form far from
// int64 overflow once it has been checked against a buffer length).
constexpr double kMaxInt = 9007199254740991.0;  // 2^53 - 1
constexpr int kMaxDims = 8;

std::string describe(const Napi::Value& v);
std::string shapeStr(const std::vector<int64_t>& v);

template <typename T>
struct Buf {
  T* data = nullptr;
  int64_t len = 0;       // elements
  const char* name = "";
  bool null = false;     // true when the argument was JS null (nullable buffers only)
  const char* bytesBegin() const { return reinterpret_cast<const char*>(data); }
};

// A byte span [lo, hi) inside some buffer, used for aliasing checks.
struct Span {
  const char* lo = nullptr;
  const char* hi = nullptr;
  const char* name = "";
  bool empty() const { return lo >= hi; }
};

template <typename T>
inline Span spanOf(const Buf<T>& b) {
  Span s;
  s.name = b.name;
  if (b.data && b.len > 0) {
    s.lo = b.bytesBegin();
    s.hi = s.lo + b.len * static_cast<int64_t>(sizeof(T));
  }
  return s;
}
inline bool overlaps(const Span& a, const Span& b) {
  return !a.empty() && !b.empty() && a.lo < b.hi && b.lo < a.hi;
}

class Args {
 public:
  // prefix: the error messages' first words ("avgk native", or "avgk cuda" in the CUDA addon)
  Args(const Napi::CallbackInfo& info, const char* op, const char* prefix = "avgk native")
      : info_(info), env_(info.Env()), op_(op), prefix_(prefix) {}

  Napi::Env env() const { return env_; }
  const char* op() const { return op_; }

  [[noreturn]] void fail(const std::string& msg) const {
    Napi::Error e = Napi::Error::New(env_, std::string(prefix_) + " " + op_ + ": " + msg);
    e.Set("code", Napi::String::New(env_, "ERR_AVGK_NATIVE"));  // src/errors.ts
    throw e;
  }

  // Exact argument count.
  void count(size_t n, const char* signature) const {
    if (info_.Length() != n) {
      fail("expected " + std::to_string(n) + " arguments (" + signature + "), got " +
           std::to_string(info_.Length()));
    }
  }

  Napi::Value at(size_t i) const { return info_[i]; }

  // ---- numbers
  double number(size_t i, const char* name) const;       // any JS number (NaN/Inf allowed)
  double finite(size_t i, const char* name) const;       // finite JS number
  float finiteF32(size_t i, const char* name) const;     // finite and finite as float32
  int64_t integer(size_t i, const char* name, double lo, double hi) const;  // integer in [lo, hi]
  bool boolean(size_t i, const char* name) const;

  // ---- buffers
  Buf<float> f32(size_t i, const char* name) const { return typed<float>(i, name, napi_float32_array, "Float32Array", false); }
  Buf<float> f32OrNull(size_t i, const char* name) const { return typed<float>(i, name, napi_float32_array, "Float32Array", true); }
  Buf<int32_t> i32(size_t i, const char* name) const { return typed<int32_t>(i, name, napi_int32_array, "Int32Array", false); }
  Buf<uint8_t> u8OrNull(size_t i, const char* name) const { return typed<uint8_t>(i, name, napi_uint8_array, "Uint8Array", true); }

  // Typed-array info (for ops that accept several element types): false when argument i is not a
  // typed array; otherwise the same checks and bookkeeping as f32() (shared or detached buffers fail).
  bool typedInfo(size_t i, const char* name, napi_typedarray_type* type, void** data, size_t* length) const;

  // Called before every read that can run JavaScript: fails once a buffer pointer has been taken.
  void beforeJs(const char* what) const;
  // Re-reads every typed array taken so far: each must still have the same data and length
  // (guarded() calls it just before the kernel).
  void settle() const;

  // ---- arrays of integers (shape / strides), exact length `expect` unless expect < 0
  std::vector<int64_t> intArray(size_t i, const char* name, int64_t expect, double lo, double hi) const;

  // ---- geometry objects
  avgk::ConvGeom convGeom(size_t i) const;
  avgk::PoolGeom poolGeom(size_t i) const;

  // ---- checks
  template <typename T>
  void needLen(const Buf<T>& b, int64_t need, const std::string& what) const {
    if (b.len != need) {
      fail(std::string(b.name) + " has " + std::to_string(b.len) + " elements but " + what + " needs " +
           std::to_string(need));
    }
  }
  // outputs must be disjoint from every other listed span (inputs may overlap each other)
  void disjoint(std::initializer_list<Span> outputs, std::initializer_list<Span> others) const;
  // elementwise: out may be exactly the same memory as an input, or disjoint from it
  void sameOrDisjoint(const Span& out, const Span& in) const;

  // overflow-checked product of non-negative sizes
  int64_t mul(std::initializer_list<int64_t> xs, const char* what) const;

 private:
  template <typename T>
  Buf<T> typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName, bool nullable) const;
  int64_t geomField(const Napi::Object& o, const char* obj, const char* field, double lo) const;

  // The typed arrays whose pointers were handed out (checked again by settle()).
  struct Pin {
    size_t arg = 0;
    const char* name = "";
    void* data = nullptr;
    size_t length = 0;
  };
  static constexpr int kMaxPins = 16;

  const Napi::CallbackInfo& info_;
  Napi::Env env_;
  const char* op_;
  const char* prefix_;
  mutable Pin pins_[kMaxPins];
  mutable int npins_ = 0;
};

template <typename T>
Buf<T> Args::typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName,
                   bool nullable) const {
  Buf<T> b;
  b.name = name;
  Napi::Value v = info_[i];
  if (nullable && v.IsNull()) {
    b.null = true;
    return b;
  }
  napi_typedarray_type type;
  void* data = nullptr;
  size_t length = 0;
  if (!v.IsTypedArray() || (napi_get_typedarray_info(env_, v, &type, nullptr, nullptr, nullptr, nullptr) == napi_ok &&
                            type != want)) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be a " + wantName +
         (nullable ? " or null" : "") + ", got " + describe(v));
  }
  if (!typedInfo(i, name, &type, &data, &length)) fail(std::string(name) + ": cannot read the typed array");
  b.data = static_cast<T*>(data);
  b.len = static_cast<int64_t>(length);
  return b;
}

// Allocation-free argument reader for hot, many-argument ops (gemm), used from a raw napi_callback
// (see `rawCallback`): one N-API call per argument (napi_get_value_double / napi_get_typedarray_info,
// which also check the type) instead of node-addon-api's Value wrappers and CallbackInfo (which
// heap-allocates the argument array beyond 6 arguments). Whenever a fast check fails, the same
// read is repeated through a lazily built `Args`, which throws exactly the message it always did
// (or, should it accept the value after all, returns it: the two readers cannot disagree).
template <size_t N>
class FastArgs {
 public:
  FastArgs(napi_env env, napi_callback_info cbinfo, const char* op) : env_(env), cbinfo_(cbinfo), op_(op) {
    if (napi_get_cb_info(env, cbinfo, &argc_, argv_, nullptr, nullptr) != napi_ok) argc_ = static_cast<size_t>(-1);
  }
  FastArgs(const FastArgs&) = delete;
  FastArgs& operator=(const FastArgs&) = delete;

  napi_env env() const { return env_; }

  // The full `Args` (built on first use: error paths only).
  const Args& slow() {
    if (!args_) {
      info_.emplace(env_, cbinfo_);
      args_.emplace(*info_, op_);
    }
    return *args_;
  }
  [[noreturn]] void fail(const std::string& msg) { slow().fail(msg); }

  void count(const char* signature) {
    if (argc_ != N) slow().count(N, signature);
  }
  void settle() {}
  int64_t integer(size_t i, const char* name, double lo, double hi) {
    double d;
    // [lo, hi] is within ±2^53, so the int64 round trip is exact and tests integrality (NaN fails).
    if (napi_get_value_double(env_, argv_[i], &d) == napi_ok && d >= lo && d <= hi &&
        static_cast<double>(static_cast<int64_t>(d)) == d) {
      return static_cast<int64_t>(d);
    }
    return slow().integer(i, name, lo, hi);
  }
  float finiteF32(size_t i, const char* name) {
    double d;
    if (napi_get_value_double(env_, argv_[i], &d) == napi_ok && std::fabs(d) <= 3.4028234663852886e38) {
      return static_cast<float>(d);
    }
    return slow().finiteF32(i, name);
  }
  // (No read here runs JavaScript, so the pointers cannot go stale before the kernel: no settle().)
  Buf<float> f32(size_t i, const char* name) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value ab;
    bool unshared = false;  // napi_is_arraybuffer is false for a SharedArrayBuffer
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, &ab, nullptr) == napi_ok &&
        type == napi_float32_array && (length == 0 || data != nullptr) &&
        napi_is_arraybuffer(env_, ab, &unshared) == napi_ok && unshared) {
      Buf<float> b;
      b.name = name;
      b.data = static_cast<float*>(data);
      b.len = static_cast<int64_t>(length);
      return b;
    }
    return slow().f32(i, name);
  }

 private:
  napi_env env_;
  napi_callback_info cbinfo_;
  const char* op_;
  size_t argc_ = N;
  napi_value argv_[N];
  std::optional<Napi::CallbackInfo> info_;
  std::optional<Args> args_;
};

// Raw napi_callback around `f(env, cbinfo)` that turns C++ exceptions into pending JS exceptions
// (what node-addon-api's wrapper does), for functions registered with `napi_create_function`.
template <class F>
napi_value rawCallback(napi_env env, F&& f) noexcept {
  try {
    return f();
  } catch (const Napi::Error& e) {
    try {
      e.ThrowAsJavaScriptException();
    } catch (...) {  // napi_throw failed (an exception is already pending): leave that one
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  } catch (...) {
    napi_throw_error(env, nullptr, "avgk native: unknown C++ exception");
  }
  return nullptr;
}

// Runs a kernel once the buffers are re-checked (settle); converts C++ exceptions into JS Errors
// that name the op. (`A`: Args or FastArgs.)
template <class A, class F>
auto guarded(A&& a, F&& f) -> decltype(f()) {
  a.settle();
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    a.fail("out of memory");
  } catch (const std::exception& e) {
    a.fail(e.what());
  } catch (...) {
    a.fail("unknown C++ exception");
  }
}

// Reach of a strided view: min and max element index relative to its offset.
struct Reach {
  int64_t lo = 0, hi = 0;
  bool empty = false;
};
Reach reachOf(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
// Does the strided view address each index of `shape` at a distinct element? (sufficient test)
bool injective(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
// Same, allocation-free, for nd <= 16 dimensions (larger nd: false).
bool injective(const int64_t* shape, const int64_t* strides, int nd);

// Checks that buf[offset + Σ i_d strides[d]] stays inside buf for every index of shape; returns the
// byte span touched (empty when the shape has no elements).
template <typename T>
Span stridedSpan(const Args& a, const Buf<T>& b, int64_t offset, const std::vector<int64_t>& shape,
                 const std::vector<int64_t>& strides, const char* offName, const char* stridesName) {
  Span s;
  s.name = b.name;
  Reach r = reachOf(shape, strides);
  if (r.empty) return s;
  const int64_t lo = offset + r.lo, hi = offset + r.hi;
  if (lo < 0 || hi >= b.len) {
    a.fail(std::string(b.name) + " has " + std::to_string(b.len) + " elements but " + offName + "=" +
           std::to_string(offset) + " with " + stridesName + "=" + shapeStr(strides) + " over shape " +
           shapeStr(shape) + " reaches indices [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  s.lo = b.bytesBegin() + lo * static_cast<int64_t>(sizeof(T));
  s.hi = b.bytesBegin() + (hi + 1) * static_cast<int64_t>(sizeof(T));
  return s;
}

inline std::vector<int64_t> contiguous(const std::vector<int64_t>& shape) {
  std::vector<int64_t> st(shape.size());
  int64_t s = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

// Same element mapping on every dimension that has more than one index.
inline bool sameMapping(const std::vector<int64_t>& shape, const std::vector<int64_t>& s1, const std::vector<int64_t>& s2) {
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1 && s1[d] != s2[d]) return false;
  return true;
}

// A unary op's scalar parameter: finite as float32, except clamp's bounds, which may be ±Infinity.
inline float scalarParam(const Args& a, int op, size_t i, const char* name) {
  if (op == avgk_ops::U_CLAMP) {
    const double d = a.number(i, name);
    if (d != d) a.fail(std::string(name) + " (a clamp bound) must not be NaN");
    return static_cast<float>(d);
  }
  return a.finiteF32(i, name);
}

// Per-family Init functions (called by native/addon.cc).
void InitElementwise(Napi::Env env, Napi::Object exports);
void InitReduce(Napi::Env env, Napi::Object exports);
void InitGemm(Napi::Env env, Napi::Object exports);
void InitConv(Napi::Env env, Napi::Object exports);
void InitPool(Napi::Env env, Napi::Object exports);
void InitBatchNorm(Napi::Env env, Napi::Object exports);
void InitSoftmaxLoss(Napi::Env env, Napi::Object exports);
void InitSelect(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);
void InitThreads(Napi::Env env, Napi::Object exports);

}  // namespace avgk_binding
