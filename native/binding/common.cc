#include "common.h"

#include <cstdio>
#include <cstring>
#include <numeric>

namespace avgk_binding {

namespace {
std::string fmtNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

const char* typedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}
}  // namespace

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsNumber()) return "number " + fmtNumber(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "a string";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    return std::string(typedArrayName(t.TypedArrayType())) + "(" + std::to_string(t.ElementLength()) + ")";
  }
  if (v.IsArray()) return "an Array(" + std::to_string(v.As<Napi::Array>().Length()) + ")";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "an unsupported value";
}

std::string shapeStr(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

double Args::number(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be a number, got " + describe(v));
  }
  return v.As<Napi::Number>().DoubleValue();
}

double Args::finite(size_t i, const char* name) const {
  double d = number(i, name);
  if (!std::isfinite(d)) fail(std::string(name) + " must be finite, got " + fmtNumber(d));
  return d;
}

float Args::finiteF32(size_t i, const char* name) const {
  double d = finite(i, name);
  if (std::fabs(d) > 3.4028234663852886e38) {
    fail(std::string(name) + " = " + fmtNumber(d) + " is outside the float32 range");
  }
  return static_cast<float>(d);
}

int64_t Args::integer(size_t i, const char* name, double lo, double hi) const {
  double d = number(i, name);
  if (!std::isfinite(d) || d != std::floor(d)) {
    fail(std::string(name) + " must be an integer, got " + fmtNumber(d));
  }
  if (d < lo || d > hi) {
    fail(std::string(name) + " = " + fmtNumber(d) + " is out of range [" + fmtNumber(lo) + ", " + fmtNumber(hi) + "]");
  }
  return static_cast<int64_t>(d);
}

bool Args::boolean(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsBoolean()) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be a boolean, got " + describe(v));
  }
  return v.As<Napi::Boolean>().Value();
}

bool Args::typedInfo(size_t i, const char* name, napi_typedarray_type* type, void** data, size_t* length) const {
  Napi::Value v = info_[i];
  if (!v.IsTypedArray()) return false;
  napi_value ab;
  // data already points at the first element (byteOffset applied)
  if (napi_get_typedarray_info(env_, v, type, length, data, &ab, nullptr) != napi_ok) return false;
  bool unshared = false, detached = false;
  if (napi_is_arraybuffer(env_, ab, &unshared) != napi_ok || !unshared) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) +
         ") is backed by a SharedArrayBuffer; the native kernels take only unshared buffers (another thread "
         "could change it during the call)");
  }
  if (napi_is_detached_arraybuffer(env_, ab, &detached) != napi_ok || detached ||
      (*length > 0 && *data == nullptr)) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") has a detached ArrayBuffer");
  }
  if (npins_ == kMaxPins) fail("internal error: more than " + std::to_string(kMaxPins) + " buffer arguments");
  pins_[npins_++] = Pin{i, name, *data, *length};
  return true;
}

void Args::beforeJs(const char* what) const {
  if (npins_ > 0) {
    fail(std::string("internal error: ") + what + " is read after the pointer of " + pins_[0].name +
         " was taken (reads that can run JavaScript must come first)");
  }
}

void Args::settle() const {
  for (int k = 0; k < npins_; ++k) {
    const Pin& p = pins_[k];
    napi_typedarray_type type;
    void* data = nullptr;
    size_t length = 0;
    napi_value ab;
    bool detached = false;
    if (napi_get_typedarray_info(env_, info_[p.arg], &type, &length, &data, &ab, nullptr) != napi_ok ||
        napi_is_detached_arraybuffer(env_, ab, &detached) != napi_ok || detached || data != p.data ||
        length != p.length) {
      fail(std::string(p.name) + " was detached or resized while the arguments were read");
    }
  }
}

std::vector<int64_t> Args::intArray(size_t i, const char* name, int64_t expect, double lo, double hi) const {
  beforeJs(name);  // element reads can run getters
  Napi::Value v = info_[i];
  if (!v.IsArray()) {
    fail(std::string(name) + " (argument " + std::to_string(i + 1) + ") must be an Array of integers, got " +
         describe(v));
  }
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  if (expect >= 0 && static_cast<int64_t>(n) != expect) {
    fail(std::string(name) + " has " + std::to_string(n) + " entries but the shape has " + std::to_string(expect) +
         " dimensions");
  }
  if (n > static_cast<uint32_t>(kMaxDims)) {
    fail(std::string(name) + " has " + std::to_string(n) + " entries; at most " + std::to_string(kMaxDims) +
         " dimensions are supported");
  }
  std::vector<int64_t> out(n);
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value e = arr.Get(k);
    if (!e.IsNumber()) {
      fail(std::string(name) + "[" + std::to_string(k) + "] must be a number, got " + describe(e));
    }
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d)) {
      fail(std::string(name) + "[" + std::to_string(k) + "] must be an integer, got " + fmtNumber(d));
    }
    if (d < lo || d > hi) {
      fail(std::string(name) + "[" + std::to_string(k) + "] = " + fmtNumber(d) + " is out of range [" + fmtNumber(lo) +
           ", " + fmtNumber(hi) + "]");
    }
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

int64_t Args::geomField(const Napi::Object& o, const char* obj, const char* field, double lo) const {
  Napi::Value v = o.Get(field);
  if (!v.IsNumber()) fail(std::string(obj) + "." + field + " must be a number, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > 2147483647.0) {
    fail(std::string(obj) + "." + field + " must be an integer in [" + fmtNumber(lo) + ", 2147483647], got " +
         fmtNumber(d));
  }
  return static_cast<int64_t>(d);
}

avgk::ConvGeom Args::convGeom(size_t i) const {
  beforeJs("geometry");  // property reads can run getters
  Napi::Value v = info_[i];
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) {
    fail("geometry (argument " + std::to_string(i + 1) + ") must be a ConvGeom object, got " + describe(v));
  }
  Napi::Object o = v.As<Napi::Object>();
  avgk::ConvGeom g;
  g.n = geomField(o, "ConvGeom", "n", 0);
  g.c = geomField(o, "ConvGeom", "c", 0);
  g.h = geomField(o, "ConvGeom", "h", 0);
  g.w = geomField(o, "ConvGeom", "w", 0);
  g.o = geomField(o, "ConvGeom", "o", 0);
  g.kh = geomField(o, "ConvGeom", "kh", 1);
  g.kw = geomField(o, "ConvGeom", "kw", 1);
  g.stride = geomField(o, "ConvGeom", "stride", 1);
  g.pad = geomField(o, "ConvGeom", "pad", 0);
  g.oh = geomField(o, "ConvGeom", "oh", 1);
  g.ow = geomField(o, "ConvGeom", "ow", 1);
  auto geom = [&] {
    return "ConvGeom{n=" + std::to_string(g.n) + ", c=" + std::to_string(g.c) + ", h=" + std::to_string(g.h) +
           ", w=" + std::to_string(g.w) + ", o=" + std::to_string(g.o) + ", kh=" + std::to_string(g.kh) +
           ", kw=" + std::to_string(g.kw) + ", stride=" + std::to_string(g.stride) + ", pad=" + std::to_string(g.pad) +
           ", oh=" + std::to_string(g.oh) + ", ow=" + std::to_string(g.ow) + "}";
  };
  if (g.h + 2 * g.pad < g.kh || g.w + 2 * g.pad < g.kw) fail(geom() + ": the kernel is larger than the padded input");
  int64_t oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  int64_t ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  if (oh != g.oh || ow != g.ow) {
    fail(geom() + " is inconsistent: expected oh=" + std::to_string(oh) + ", ow=" + std::to_string(ow) +
         " (floor((h+2*pad-kh)/stride)+1)");
  }
  mul({g.n, g.c, g.h, g.w}, "ConvGeom input size");
  mul({g.n, g.o, g.oh, g.ow}, "ConvGeom output size");
  mul({g.o, g.c, g.kh, g.kw}, "ConvGeom weight size");
  mul({g.c, g.kh, g.kw, g.oh, g.ow}, "ConvGeom im2col size");
  return g;
}

avgk::PoolGeom Args::poolGeom(size_t i) const {
  beforeJs("geometry");  // property reads can run getters
  Napi::Value v = info_[i];
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) {
    fail("geometry (argument " + std::to_string(i + 1) + ") must be a PoolGeom object, got " + describe(v));
  }
  Napi::Object o = v.As<Napi::Object>();
  avgk::PoolGeom g;
  g.n = geomField(o, "PoolGeom", "n", 0);
  g.c = geomField(o, "PoolGeom", "c", 0);
  g.h = geomField(o, "PoolGeom", "h", 0);
  g.w = geomField(o, "PoolGeom", "w", 0);
  g.k = geomField(o, "PoolGeom", "k", 1);
  g.stride = geomField(o, "PoolGeom", "stride", 1);
  g.pad = geomField(o, "PoolGeom", "pad", 0);
  g.oh = geomField(o, "PoolGeom", "oh", 1);
  g.ow = geomField(o, "PoolGeom", "ow", 1);
  auto geom = [&] {
    return "PoolGeom{n=" + std::to_string(g.n) + ", c=" + std::to_string(g.c) + ", h=" + std::to_string(g.h) +
           ", w=" + std::to_string(g.w) + ", k=" + std::to_string(g.k) + ", stride=" + std::to_string(g.stride) +
           ", pad=" + std::to_string(g.pad) + ", oh=" + std::to_string(g.oh) + ", ow=" + std::to_string(g.ow) + "}";
  };
  if (g.h + 2 * g.pad < g.k || g.w + 2 * g.pad < g.k) fail(geom() + ": the window is larger than the padded input");
  int64_t oh = (g.h + 2 * g.pad - g.k) / g.stride + 1;
  int64_t ow = (g.w + 2 * g.pad - g.k) / g.stride + 1;
  if (oh != g.oh || ow != g.ow) {
    fail(geom() + " is inconsistent: expected oh=" + std::to_string(oh) + ", ow=" + std::to_string(ow) +
         " (floor((h+2*pad-k)/stride)+1)");
  }
  mul({g.n, g.c, g.h, g.w}, "PoolGeom input size");
  mul({g.n, g.c, g.oh, g.ow}, "PoolGeom output size");
  return g;
}

void Args::disjoint(std::initializer_list<Span> outputs, std::initializer_list<Span> others) const {
  for (const Span& o : outputs) {
    for (const Span& x : others) {
      if (std::strcmp(o.name, x.name) == 0) continue;  // the same argument
      if (overlaps(o, x)) {
        fail(std::string(o.name) + " must not share memory with " + x.name);
      }
    }
  }
}

void Args::sameOrDisjoint(const Span& out, const Span& in) const {
  if (!overlaps(out, in)) return;
  if (out.lo == in.lo && out.hi == in.hi) return;
  fail(std::string(out.name) + " partially overlaps " + in.name + " (only exact in-place aliasing is allowed)");
}

int64_t Args::mul(std::initializer_list<int64_t> xs, const char* what) const {
  int64_t p = 1;
  for (int64_t x : xs) {
    if (x < 0) fail(std::string(what) + ": negative size");
    if (__builtin_mul_overflow(p, x, &p) || p > static_cast<int64_t>(kMaxInt)) {
      fail(std::string(what) + " overflows");
    }
  }
  return p;
}

Reach reachOf(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  Reach r;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) {
      r.empty = true;
      return r;
    }
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    // |stride| ≤ 2^53 and size ≤ 2^53 are checked by the callers; use __int128 to stay exact.
    __int128 ext = static_cast<__int128>(strides[d]) * (shape[d] - 1);
    __int128 lo = r.lo + (ext < 0 ? ext : 0);
    __int128 hi = r.hi + (ext > 0 ? ext : 0);
    const __int128 lim = static_cast<__int128>(1) << 62;
    r.lo = lo < -lim ? -(static_cast<int64_t>(1) << 62) : static_cast<int64_t>(lo);
    r.hi = hi > lim ? (static_cast<int64_t>(1) << 62) : static_cast<int64_t>(hi);
  }
  return r;
}

bool injective(const int64_t* shape, const int64_t* strides, int nd) {
  constexpr int kMax = 16;
  if (nd > kMax) return false;
  int64_t st[kMax], sz[kMax];  // (|stride|, size) for dims of size > 1, sorted by |stride| then size
  int cnt = 0;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 0) return true;
    if (shape[d] <= 1) continue;
    const int64_t s = strides[d] < 0 ? -strides[d] : strides[d];
    int j = cnt++;
    for (; j > 0 && (st[j - 1] > s || (st[j - 1] == s && sz[j - 1] > shape[d])); --j) {
      st[j] = st[j - 1];
      sz[j] = sz[j - 1];
    }
    st[j] = s;
    sz[j] = shape[d];
  }
  __int128 extent = 1;  // number of distinct positions spanned by the smaller dims
  for (int j = 0; j < cnt; ++j) {
    if (static_cast<__int128>(st[j]) < extent) return false;
    extent = static_cast<__int128>(st[j]) * (sz[j] - 1) + extent;
  }
  return true;
}

bool injective(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  if (shape.size() <= 16) return injective(shape.data(), strides.data(), static_cast<int>(shape.size()));
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, size) for dims of size > 1
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return true;
    if (shape[d] > 1) dims.emplace_back(strides[d] < 0 ? -strides[d] : strides[d], shape[d]);
  }
  std::sort(dims.begin(), dims.end());
  __int128 extent = 1;  // number of distinct positions spanned by the smaller dims
  for (auto& [s, n] : dims) {
    if (static_cast<__int128>(s) < extent) return false;
    extent = static_cast<__int128>(s) * (n - 1) + extent;
  }
  return true;
}

}  // namespace avgk_binding
