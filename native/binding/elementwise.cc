// Binding: unary, unaryBackward, binary, copy.
#include "common.h"

namespace avgk_binding {
namespace {

bool usesX(int op) {
  return op == avgk::U_LOG || op == avgk::U_RELU || op == avgk::U_ABS || op == avgk::U_POW || op == avgk::U_CLAMP;
}
bool usesY(int op) {
  return op == avgk::U_EXP || op == avgk::U_SQRT || op == avgk::U_SIGMOID || op == avgk::U_TANH;
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args a(info, "unary");
  a.count(5, "op, x, out, p, q");
  const int op = static_cast<int>(a.integer(0, "op", avgk::U_NEG, avgk::U_LAST));
  Buf<float> x = a.f32(1, "x");
  Buf<float> out = a.f32(2, "out");
  const float p = scalarParam(a, op, 3, "p");
  const float q = scalarParam(a, op, 4, "q");
  a.needLen(out, x.len, "x of length " + std::to_string(x.len));
  a.sameOrDisjoint(spanOf(out), spanOf(x));
  guarded(a, [&] { avgk::unary(op, x.data, out.data, x.len, p, q); });
  return info.Env().Undefined();
}

Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args a(info, "unaryBackward");
  a.count(7, "op, x, y, gy, gx, p, q");
  const int op = static_cast<int>(a.integer(0, "op", avgk::U_NEG, avgk::U_LAST));
  Buf<float> x = a.f32(1, "x");
  Buf<float> y = a.f32(2, "y");
  Buf<float> gy = a.f32(3, "gy");
  Buf<float> gx = a.f32(4, "gx");
  const float p = scalarParam(a, op, 5, "p");
  const float q = scalarParam(a, op, 6, "q");
  const std::string what = "gy of length " + std::to_string(gy.len);
  a.needLen(gx, gy.len, what);
  a.sameOrDisjoint(spanOf(gx), spanOf(gy));
  const bool ux = usesX(op), uy = usesY(op);
  if (ux) {
    a.needLen(x, gy.len, what);
    a.sameOrDisjoint(spanOf(gx), spanOf(x));
  }
  if (uy) {
    a.needLen(y, gy.len, what);
    a.sameOrDisjoint(spanOf(gx), spanOf(y));
  }
  guarded(a, [&] {
    avgk::unary_backward(op, ux ? x.data : nullptr, uy ? y.data : nullptr, gy.data, gx.data, gy.len, p, q);
  });
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args a(info, "binary");
  a.count(9, "op, a, aOffset, aStrides, b, bOffset, bStrides, out, shape");
  const int op = static_cast<int>(a.integer(0, "op", avgk::B_ADD, avgk::B_LAST));
  const int64_t aOff = a.integer(2, "aOffset", 0, kMaxInt);
  const int64_t bOff = a.integer(5, "bOffset", 0, kMaxInt);
  std::vector<int64_t> shape = a.intArray(8, "shape", -1, 0, kMaxInt);
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> aSt = a.intArray(3, "aStrides", nd, -kMaxInt, kMaxInt);
  std::vector<int64_t> bSt = a.intArray(6, "bStrides", nd, -kMaxInt, kMaxInt);
  // the buffers last: the arrays above can run getters
  Buf<float> A = a.f32(1, "a");
  Buf<float> B = a.f32(4, "b");
  Buf<float> out = a.f32(7, "out");
  int64_t total = 1;
  for (int64_t s : shape) total = a.mul({total, s}, "the shape's element count");
  a.needLen(out, total, "shape " + shapeStr(shape));
  Span sa = stridedSpan(a, A, aOff, shape, aSt, "aOffset", "aStrides");
  Span sb = stridedSpan(a, B, bOff, shape, bSt, "bOffset", "bStrides");
  if (total == 0) return info.Env().Undefined();
  const std::vector<int64_t> oSt = contiguous(shape);
  Span so = spanOf(out);
  if (overlaps(so, sa) && !(A.data + aOff == out.data && sameMapping(shape, aSt, oSt))) {
    a.fail("out overlaps a without being exactly a's elements in the same order (in place needs aOffset at out's "
           "start and contiguous aStrides)");
  }
  if (overlaps(so, sb) && !(B.data + bOff == out.data && sameMapping(shape, bSt, oSt))) {
    a.fail("out overlaps b without being exactly b's elements in the same order (in place needs bOffset at out's "
           "start and contiguous bStrides)");
  }
  guarded(a, [&] {
    avgk::binary(op, A.data + aOff, aSt.data(), B.data + bOff, bSt.data(), out.data, shape.data(),
                 static_cast<int>(nd));
  });
  return info.Env().Undefined();
}

template <typename T>
void copyTyped(const Args& a, void* xd, size_t xl, void* od, size_t ol, int64_t xOff, const std::vector<int64_t>& xSt,
               int64_t oOff, const std::vector<int64_t>& oSt, const std::vector<int64_t>& shape) {
  Buf<T> x, out;
  x.data = static_cast<T*>(xd);
  x.len = static_cast<int64_t>(xl);
  x.name = "x";
  out.data = static_cast<T*>(od);
  out.len = static_cast<int64_t>(ol);
  out.name = "out";
  Span sx = stridedSpan(a, x, xOff, shape, xSt, "xOffset", "xStrides");
  Span so = stridedSpan(a, out, oOff, shape, oSt, "outOffset", "outStrides");
  if (so.empty()) return;
  if (!injective(shape, oSt)) {
    a.fail("outStrides=" + shapeStr(oSt) + " over shape " + shapeStr(shape) +
           " write some elements of out more than once");
  }
  if (overlaps(sx, so)) {
    if (x.data + xOff == out.data + oOff && sameMapping(shape, xSt, oSt)) return;  // copy onto itself
    a.fail("x and out overlap in memory (the copy's source and destination must be disjoint)");
  }
  guarded(a, [&] {
    avgk::copy_strided<T>(x.data + xOff, xSt.data(), out.data + oOff, oSt.data(), shape.data(),
                          static_cast<int>(shape.size()));
  });
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Args a(info, "copy");
  a.count(7, "x, xOffset, xStrides, out, outOffset, outStrides, shape");
  const int64_t xOff = a.integer(1, "xOffset", 0, kMaxInt);
  const int64_t oOff = a.integer(4, "outOffset", 0, kMaxInt);
  std::vector<int64_t> shape = a.intArray(6, "shape", -1, 0, kMaxInt);
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> xSt = a.intArray(2, "xStrides", nd, -kMaxInt, kMaxInt);
  std::vector<int64_t> oSt = a.intArray(5, "outStrides", nd, -kMaxInt, kMaxInt);
  // the buffers last: the arrays above can run getters
  napi_typedarray_type xt, ot;
  void *xd = nullptr, *od = nullptr;
  size_t xl = 0, ol = 0;
  const bool xok = a.typedInfo(0, "x", &xt, &xd, &xl) && (xt == napi_float32_array || xt == napi_int32_array);
  if (!xok) a.fail("x (argument 1) must be a Float32Array or an Int32Array, got " + describe(a.at(0)));
  const bool ook = a.typedInfo(3, "out", &ot, &od, &ol) && (ot == napi_float32_array || ot == napi_int32_array);
  if (!ook) a.fail("out (argument 4) must be a Float32Array or an Int32Array, got " + describe(a.at(3)));
  if (xt != ot) a.fail("x is " + describe(a.at(0)) + " but out is " + describe(a.at(3)) + " (they must have the same type)");
  int64_t total = 1;
  for (int64_t s : shape) total = a.mul({total, s}, "the shape's element count");
  if (xt == napi_float32_array) {
    copyTyped<float>(a, xd, xl, od, ol, xOff, xSt, oOff, oSt, shape);
  } else {
    copyTyped<int32_t>(a, xd, xl, od, ol, xOff, xSt, oOff, oSt, shape);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward, "unaryBackward"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
}

}  // namespace avgk_binding
