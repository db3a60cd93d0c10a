// Binding of the elementwise, reduction, index, loss, selection and optimiser kernels: every
// argument is read and checked (lengths, strides inside their buffers, aliasing), then the
// launcher runs. Argument order and semantics are the Backend interface's (src/backend/types.ts);
// kernels that return a scalar on the CPU write it into a one-element device buffer instead.
#include <string>

#include "cuda/kernels/cuda_kernels.h"
#include "cuda/kernels/runtime.h"
#include "device_buffer.h"

namespace avgk_cuda_binding {
namespace {

using avgk_binding::contiguous;
using avgk_binding::injective;
using avgk_binding::kMaxInt;
using avgk_binding::overlaps;
using avgk_binding::scalarParam;
using avgk_binding::sameMapping;
using avgk_binding::shapeStr;
using avgk_binding::Span;
using avgk_binding::spanOf;
using avgk_binding::stridedSpan;

constexpr const char* kPrefix = "avgk cuda";

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args a(info, "unary", kPrefix);
  a.count(5, "op, x, out, p, q");
  const int op = static_cast<int>(a.integer(0, "op", avgk_ops::U_NEG, avgk_ops::U_LAST));
  auto x = F32(a, 1, "x");
  auto out = F32(a, 2, "out");
  const float p = scalarParam(a, op, 3, "p");
  const float q = scalarParam(a, op, 4, "q");
  a.needLen(out, x.len, "x of length " + std::to_string(x.len));
  a.sameOrDisjoint(spanOf(out), spanOf(x));
  Live(a, x, out);
  Guarded(a, [&] { avgk_cuda::unary(op, x.data, out.data, x.len, p, q); });
  return info.Env().Undefined();
}

Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args a(info, "unaryBackward", kPrefix);
  a.count(7, "op, x, y, gy, gx, p, q");
  const int op = static_cast<int>(a.integer(0, "op", avgk_ops::U_NEG, avgk_ops::U_LAST));
  const bool ux = op == avgk_ops::U_LOG || op == avgk_ops::U_RELU || op == avgk_ops::U_ABS ||
                  op == avgk_ops::U_POW || op == avgk_ops::U_CLAMP;
  const bool uy = op == avgk_ops::U_EXP || op == avgk_ops::U_SQRT || op == avgk_ops::U_SIGMOID ||
                  op == avgk_ops::U_TANH;
  auto x = ux ? F32(a, 1, "x") : F32OrNull(a, 1, "x");
  auto y = uy ? F32(a, 2, "y") : F32OrNull(a, 2, "y");
  auto gy = F32(a, 3, "gy");
  auto gx = F32(a, 4, "gx");
  const float p = scalarParam(a, op, 5, "p");
  const float q = scalarParam(a, op, 6, "q");
  const std::string what = "gy of length " + std::to_string(gy.len);
  a.needLen(gx, gy.len, what);
  a.sameOrDisjoint(spanOf(gx), spanOf(gy));
  if (ux) {
    a.needLen(x, gy.len, what);
    a.sameOrDisjoint(spanOf(gx), spanOf(x));
  }
  if (uy) {
    a.needLen(y, gy.len, what);
    a.sameOrDisjoint(spanOf(gx), spanOf(y));
  }
  Live(a, x, y, gy, gx);
  Guarded(a, [&] {
    avgk_cuda::unary_backward(op, ux ? x.data : nullptr, uy ? y.data : nullptr, gy.data, gx.data, gy.len, p, q);
  });
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args a(info, "binary", kPrefix);
  a.count(9, "op, a, aOffset, aStrides, b, bOffset, bStrides, out, shape");
  const int op = static_cast<int>(a.integer(0, "op", avgk_ops::B_ADD, avgk_ops::B_LAST));
  auto A = F32(a, 1, "a");
  const int64_t aOff = a.integer(2, "aOffset", 0, kMaxInt);
  auto B = F32(a, 4, "b");
  const int64_t bOff = a.integer(5, "bOffset", 0, kMaxInt);
  auto out = F32(a, 7, "out");
  std::vector<int64_t> shape = a.intArray(8, "shape", -1, 0, kMaxInt);
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (nd > avgk_cuda::kMaxDims) a.fail("at most " + std::to_string(avgk_cuda::kMaxDims) + " dimensions, got " + std::to_string(nd));
  std::vector<int64_t> aSt = a.intArray(3, "aStrides", nd, -kMaxInt, kMaxInt);
  std::vector<int64_t> bSt = a.intArray(6, "bStrides", nd, -kMaxInt, kMaxInt);
  int64_t total = 1;
  for (int64_t s : shape) total = a.mul({total, s}, "the shape's element count");
  a.needLen(out, total, "shape " + shapeStr(shape));
  Span sa = stridedSpan(a, A, aOff, shape, aSt, "aOffset", "aStrides");
  Span sb = stridedSpan(a, B, bOff, shape, bSt, "bOffset", "bStrides");
  if (total == 0) return info.Env().Undefined();
  const std::vector<int64_t> oSt = contiguous(shape);
  Span so = spanOf(out);
  if (overlaps(so, sa) && !(A.data + aOff == out.data && sameMapping(shape, aSt, oSt)))
    a.fail("out overlaps a without being exactly a's elements in the same order");
  if (overlaps(so, sb) && !(B.data + bOff == out.data && sameMapping(shape, bSt, oSt)))
    a.fail("out overlaps b without being exactly b's elements in the same order");
  Live(a, A, B, out);
  Guarded(a, [&] {
    avgk_cuda::binary(op, A.data + aOff, aSt.data(), B.data + bOff, bSt.data(), out.data, shape.data(),
                      static_cast<int>(nd));
  });
  return info.Env().Undefined();
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Args a(info, "copy", kPrefix);
  a.count(7, "x, xOffset, xStrides, out, outOffset, outStrides, shape");
  // float32 or int32 (both 4-byte elements); x and out must have the same type
  Block* xb = nullptr;
  {
    Napi::Value v = a.at(0);
    if (v.IsObject()) xb = BlockOf(a.env(), v.As<Napi::Object>().Get("handle"));
  }
  const int dt = xb && xb->dtype == kI32 ? kI32 : kF32;
  auto x = View<float>(a, 0, "x", dt);
  auto out = View<float>(a, 3, "out", dt);
  const int64_t xOff = a.integer(1, "xOffset", 0, kMaxInt);
  const int64_t oOff = a.integer(4, "outOffset", 0, kMaxInt);
  std::vector<int64_t> shape = a.intArray(6, "shape", -1, 0, kMaxInt);
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (nd > avgk_cuda::kMaxDims) a.fail("at most " + std::to_string(avgk_cuda::kMaxDims) + " dimensions, got " + std::to_string(nd));
  std::vector<int64_t> xSt = a.intArray(2, "xStrides", nd, -kMaxInt, kMaxInt);
  std::vector<int64_t> oSt = a.intArray(5, "outStrides", nd, -kMaxInt, kMaxInt);
  int64_t total = 1;
  for (int64_t s : shape) total = a.mul({total, s}, "the shape's element count");
  Span sx = stridedSpan(a, x, xOff, shape, xSt, "xOffset", "xStrides");
  Span so = stridedSpan(a, out, oOff, shape, oSt, "outOffset", "outStrides");
  if (so.empty()) return info.Env().Undefined();
  if (!injective(shape, oSt)) a.fail("outStrides=" + shapeStr(oSt) + " over shape " + shapeStr(shape) + " write some elements of out more than once");
  if (overlaps(sx, so)) {
    if (x.data + xOff == out.data + oOff && sameMapping(shape, xSt, oSt)) return info.Env().Undefined();
    a.fail("x and out overlap in memory (the copy's source and destination must be disjoint)");
  }
  Live(a, x, out);
  Guarded(a, [&] {
    avgk_cuda::copy_strided(x.data + xOff, xSt.data(), out.data + oOff, oSt.data(), shape.data(), static_cast<int>(nd));
  });
  return info.Env().Undefined();
}

std::string dims(int64_t outer, int64_t mid, int64_t inner) {
  return "outer=" + std::to_string(outer) + ", mid=" + std::to_string(mid) + ", inner=" + std::to_string(inner);
}

Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  Args a(info, "reduceSum", kPrefix);
  a.count(5, "x, out, outer, mid, inner");
  auto x = F32(a, 0, "x");
  auto out = F32(a, 1, "out");
  const int64_t outer = a.integer(2, "outer", 0, kMaxInt);
  const int64_t mid = a.integer(3, "mid", 0, kMaxInt);
  const int64_t inner = a.integer(4, "inner", 0, kMaxInt);
  const std::string d = dims(outer, mid, inner);
  a.needLen(x, a.mul({outer, mid, inner}, "outer*mid*inner"), d);
  a.needLen(out, a.mul({outer, inner}, "outer*inner"), d);
  a.disjoint({spanOf(out)}, {spanOf(x)});
  Live(a, x, out);
  Guarded(a, [&] { avgk_cuda::reduce_sum(x.data, out.data, outer, mid, inner); });
  return info.Env().Undefined();
}

Napi::Value ReduceMax(const Napi::CallbackInfo& info) {
  Args a(info, "reduceMax", kPrefix);
  a.count(6, "x, out, argmax, outer, mid, inner");
  auto x = F32(a, 0, "x");
  auto out = F32(a, 1, "out");
  auto arg = I32(a, 2, "argmax");
  const int64_t outer = a.integer(3, "outer", 0, kMaxInt);
  const int64_t mid = a.integer(4, "mid", 0, 2147483647.0);
  const int64_t inner = a.integer(5, "inner", 0, kMaxInt);
  const std::string d = dims(outer, mid, inner);
  a.needLen(x, a.mul({outer, mid, inner}, "outer*mid*inner"), d);
  const int64_t no = a.mul({outer, inner}, "outer*inner");
  a.needLen(out, no, d);
  a.needLen(arg, no, d);
  if (no == 0) return info.Env().Undefined();
  if (mid == 0) a.fail("cannot take the max over an empty axis (" + d + ")");
  a.disjoint({spanOf(out), spanOf(arg)}, {spanOf(x), spanOf(out), spanOf(arg)});
  Live(a, x, out, arg);
  Guarded(a, [&] { avgk_cuda::reduce_max(x.data, out.data, arg.data, outer, mid, inner); });
  return info.Env().Undefined();
}

Napi::Value ReduceMaxBackward(const Napi::CallbackInfo& info) {
  Args a(info, "reduceMaxBackward", kPrefix);
  a.count(6, "gy, argmax, gx, outer, mid, inner");
  auto gy = F32(a, 0, "gy");
  auto arg = I32(a, 1, "argmax");
  auto gx = F32(a, 2, "gx");
  const int64_t outer = a.integer(3, "outer", 0, kMaxInt);
  const int64_t mid = a.integer(4, "mid", 0, 2147483647.0);
  const int64_t inner = a.integer(5, "inner", 0, kMaxInt);
  const std::string d = dims(outer, mid, inner);
  const int64_t no = a.mul({outer, inner}, "outer*inner");
  a.needLen(gy, no, d);
  a.needLen(arg, no, d);
  a.needLen(gx, a.mul({outer, mid, inner}, "outer*mid*inner"), d);
  a.disjoint({spanOf(gx)}, {spanOf(gy), spanOf(arg)});
  Live(a, gy, arg, gx);
  // argmax entries outside [0, mid) match no position: their gradient is dropped, never written out of bounds
  Guarded(a, [&] { avgk_cuda::reduce_max_backward(gy.data, arg.data, gx.data, outer, mid, inner); });
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ index kernels
Napi::Value Take(const Napi::CallbackInfo& info) {
  Args a(info, "take", kPrefix);
  a.count(3, "x, idx, out");
  auto x = F32(a, 0, "x");
  auto idx = I32(a, 1, "idx");
  auto out = F32(a, 2, "out");
  a.needLen(out, idx.len, "idx of length " + std::to_string(idx.len));
  a.disjoint({spanOf(out)}, {spanOf(x), spanOf(idx)});
  Live(a, x, idx, out);
  Guarded(a, [&] { avgk_cuda::take(x.data, x.len, idx.data, out.data, idx.len); });
  return info.Env().Undefined();
}

Napi::Value PutAdd(const Napi::CallbackInfo& info) {
  Args a(info, "putAdd", kPrefix);
  a.count(3, "g, idx, gx");
  auto g = F32(a, 0, "g");
  auto idx = I32(a, 1, "idx");
  auto gx = F32(a, 2, "gx");
  a.needLen(g, idx.len, "idx of length " + std::to_string(idx.len));
  a.disjoint({spanOf(gx)}, {spanOf(g), spanOf(idx)});
  Live(a, g, idx, gx);
  Guarded(a, [&] { avgk_cuda::put_add(g.data, idx.data, gx.data, gx.len, idx.len); });
  return info.Env().Undefined();
}

Napi::Value PutValue(const Napi::CallbackInfo& info) {
  Args a(info, "putValue", kPrefix);
  a.count(3, "x, idx, value");
  auto x = F32(a, 0, "x");
  auto idx = I32(a, 1, "idx");
  const float v = a.finiteF32(2, "value");
  a.disjoint({spanOf(x)}, {spanOf(idx)});
  Live(a, x, idx);
  Guarded(a, [&] { avgk_cuda::put_value(x.data, x.len, idx.data, idx.len, v); });
  return info.Env().Undefined();
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args a(info, "fill", kPrefix);
  a.count(2, "x, value");
  auto x = F32(a, 0, "x");
  const float v = static_cast<float>(a.number(1, "value"));
  Live(a, x);
  Guarded(a, [&] { avgk_cuda::fill(x.data, x.len, v); });
  return info.Env().Undefined();
}

Napi::Value Axpby(const Napi::CallbackInfo& info) {
  Args a(info, "axpby", kPrefix);
  a.count(4, "x, y, a, b");
  auto x = F32(a, 0, "x");
  auto y = F32(a, 1, "y");
  const float ca = a.finiteF32(2, "a");
  const float cb = a.finiteF32(3, "b");
  a.needLen(y, x.len, "x of length " + std::to_string(x.len));
  a.disjoint({spanOf(y)}, {spanOf(x)});
  Live(a, x, y);
  Guarded(a, [&] { avgk_cuda::axpby(x.data, y.data, x.len, ca, cb); });
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ softmax and losses
std::string rc(int64_t rows, int64_t cols) { return "rows=" + std::to_string(rows) + ", cols=" + std::to_string(cols); }

Napi::Value SoftmaxFwd(const Napi::CallbackInfo& info) {
  Args a(info, "softmax", kPrefix);
  a.count(5, "x, out, rows, cols, log");
  auto x = F32(a, 0, "x");
  auto out = F32(a, 1, "out");
  const int64_t rows = a.integer(2, "rows", 0, kMaxInt);
  const int64_t cols = a.integer(3, "cols", 0, kMaxInt);
  const bool log = a.boolean(4, "log");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(x, total, rc(rows, cols));
  a.needLen(out, total, rc(rows, cols));
  a.sameOrDisjoint(spanOf(out), spanOf(x));
  Live(a, x, out);
  Guarded(a, [&] { avgk_cuda::softmax(x.data, out.data, rows, cols, log); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBwd(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward", kPrefix);
  a.count(6, "y, gy, gx, rows, cols, log");
  auto y = F32(a, 0, "y");
  auto gy = F32(a, 1, "gy");
  auto gx = F32(a, 2, "gx");
  const int64_t rows = a.integer(3, "rows", 0, kMaxInt);
  const int64_t cols = a.integer(4, "cols", 0, kMaxInt);
  const bool log = a.boolean(5, "log");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(y, total, rc(rows, cols));
  a.needLen(gy, total, rc(rows, cols));
  a.needLen(gx, total, rc(rows, cols));
  a.disjoint({spanOf(gx)}, {spanOf(y)});
  a.sameOrDisjoint(spanOf(gx), spanOf(gy));
  Live(a, y, gy, gx);
  Guarded(a, [&] { avgk_cuda::softmax_backward(y.data, gy.data, gx.data, rows, cols, log); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxCrossEntropy", kPrefix);
  a.count(7, "logits, labels, rows, cols, smoothing, grad, loss");
  auto x = F32(a, 0, "logits");
  auto labels = I32(a, 1, "labels");
  const int64_t rows = a.integer(2, "rows", 1, kMaxInt);
  const int64_t cols = a.integer(3, "cols", 1, 2147483647.0);
  const double smoothing = a.finite(4, "smoothing");
  if (!(smoothing >= 0.0 && smoothing <= 1.0)) a.fail("label smoothing must be in [0, 1], got " + std::to_string(smoothing));
  auto grad = F32OrNull(a, 5, "grad");
  auto loss = F32(a, 6, "loss");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(x, total, rc(rows, cols));
  a.needLen(labels, rows, rc(rows, cols));
  a.needLen(loss, 1, "the loss");
  if (!grad.null) {
    a.needLen(grad, total, rc(rows, cols));
    a.sameOrDisjoint(spanOf(grad), spanOf(x));
    a.disjoint({spanOf(grad)}, {spanOf(labels), spanOf(loss)});
  }
  a.disjoint({spanOf(loss)}, {spanOf(x), spanOf(labels)});
  Live(a, x, labels, grad, loss);
  // labels outside [0, cols) give a NaN loss for their row and are never used as an index
  Guarded(a, [&] {
    avgk_cuda::softmax_cross_entropy(x.data, labels.data, rows, cols, static_cast<float>(smoothing),
                                     grad.null ? nullptr : grad.data, loss.data);
  });
  return info.Env().Undefined();
}

Napi::Value SigmoidBce(const Napi::CallbackInfo& info) {
  Args a(info, "sigmoidBce", kPrefix);
  a.count(5, "logits, targets, weights, grad, loss");
  auto z = F32(a, 0, "logits");
  auto t = F32(a, 1, "targets");
  auto w = F32OrNull(a, 2, "weights");
  auto g = F32OrNull(a, 3, "grad");
  auto loss = F32(a, 4, "loss");
  const std::string what = "logits of length " + std::to_string(z.len);
  a.needLen(t, z.len, what);
  if (!w.null) a.needLen(w, z.len, what);
  a.needLen(loss, 1, "the loss");
  if (!g.null) {
    a.needLen(g, z.len, what);
    a.sameOrDisjoint(spanOf(g), spanOf(z));
    a.sameOrDisjoint(spanOf(g), spanOf(t));
    if (!w.null) a.sameOrDisjoint(spanOf(g), spanOf(w));
    a.disjoint({spanOf(g)}, {spanOf(loss)});
  }
  a.disjoint({spanOf(loss)}, {spanOf(z), spanOf(t), spanOf(w)});
  Live(a, z, t, w, g, loss);
  Guarded(a, [&] {
    avgk_cuda::sigmoid_bce(z.data, t.data, w.null ? nullptr : w.data, g.null ? nullptr : g.data, z.len, loss.data);
  });
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ selection
Napi::Value SelectKth(const Napi::CallbackInfo& info) {
  Args a(info, "selectKth", kPrefix);
  a.count(4, "x, m, mask, out");
  auto x = F32(a, 0, "x");
  const int64_t m = a.integer(1, "m", 1, kMaxInt);
  auto mask = U8OrNull(a, 2, "mask");
  auto out = F32(a, 3, "out");
  if (!mask.null) a.needLen(mask, x.len, "x of length " + std::to_string(x.len));
  a.needLen(out, 1, "the result");
  if (m > x.len) a.fail("m=" + std::to_string(m) + " is out of range [1, " + std::to_string(x.len) + "]");
  a.disjoint({spanOf(out)}, {spanOf(x), spanOf(mask)});
  Live(a, x, mask, out);
  // m beyond the selected count, or a selected NaN, gives NaN (the count is on the device)
  Guarded(a, [&] { avgk_cuda::select_kth(x.data, x.len, m, mask.null ? nullptr : mask.data, out.data); });
  return info.Env().Undefined();
}

Napi::Value MarkTop(const Napi::CallbackInfo& info) {
  Args a(info, "markTop", kPrefix);
  a.count(4, "x, m, mask, targets");
  auto x = F32(a, 0, "x");
  const int64_t m = a.integer(1, "m", -kMaxInt, kMaxInt);
  auto mask = U8OrNull(a, 2, "mask");
  auto targets = F32(a, 3, "targets");
  const std::string what = "x of length " + std::to_string(x.len);
  if (!mask.null) a.needLen(mask, x.len, what);
  a.needLen(targets, x.len, what);
  a.disjoint({spanOf(targets)}, {spanOf(x), spanOf(mask)});
  Live(a, x, mask, targets);
  Guarded(a, [&] { avgk_cuda::mark_top(x.data, x.len, m, mask.null ? nullptr : mask.data, targets.data); });
  return info.Env().Undefined();
}

Napi::Value CountAboveEqual(const Napi::CallbackInfo& info) {
  Args a(info, "countAboveEqual", kPrefix);
  a.count(2, "x, t");
  auto x = F32(a, 0, "x");
  auto t = F32(a, 1, "t");
  a.needLen(t, 1, "the threshold");
  Live(a, x, t);
  int64_t above = 0, equal = 0;
  Guarded(a, [&] { avgk_cuda::count_above_equal(x.data, x.len, t.data, &above, &equal); });
  Napi::Array r = Napi::Array::New(info.Env(), 2);
  r.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(above)));
  r.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(equal)));
  return r;
}

// ------------------------------------------------------------------ optimisers
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Args a(info, "sgdStep", kPrefix);
  a.count(8, "param, grad, buf, lr, momentum, weightDecay, nesterov, firstStep");
  auto param = F32(a, 0, "param");
  auto grad = F32(a, 1, "grad");
  auto buf = F32OrNull(a, 2, "buf");
  const float lr = a.finiteF32(3, "lr");
  const float momentum = a.finiteF32(4, "momentum");
  const float wd = a.finiteF32(5, "weightDecay");
  const bool nesterov = a.boolean(6, "nesterov");
  const bool first = a.boolean(7, "firstStep");
  const std::string what = "param of length " + std::to_string(param.len);
  a.needLen(grad, param.len, what);
  if (momentum != 0.0f) {
    if (buf.null) a.fail("buf must be a cuda float32 buffer when momentum != 0");
    a.needLen(buf, param.len, what + " (momentum != 0)");
    a.disjoint({spanOf(param), spanOf(buf)}, {spanOf(param), spanOf(grad), spanOf(buf)});
  } else {
    a.disjoint({spanOf(param)}, {spanOf(grad)});
  }
  Live(a, param, grad, buf);
  Guarded(a, [&] {
    avgk_cuda::sgd_step(param.data, grad.data, momentum != 0.0f ? buf.data : nullptr, param.len, lr, momentum, wd,
                        nesterov, first);
  });
  return info.Env().Undefined();
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args a(info, "adamStep", kPrefix);
  a.count(11, "param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step, decoupled");
  auto param = F32(a, 0, "param");
  auto grad = F32(a, 1, "grad");
  auto m = F32(a, 2, "m");
  auto v = F32(a, 3, "v");
  a.finiteF32(4, "lr");
  const double lr = a.finite(4, "lr");
  const double b1 = a.finite(5, "beta1");
  const double b2 = a.finite(6, "beta2");
  a.finiteF32(7, "eps");
  const double eps = a.finite(7, "eps");
  a.finiteF32(8, "weightDecay");
  const double wd = a.finite(8, "weightDecay");
  const int64_t step = a.integer(9, "step", 1, kMaxInt);
  const bool decoupled = a.boolean(10, "decoupled");
  if (!(b1 >= 0.0 && b1 < 1.0)) a.fail("beta1 must be in [0, 1), got " + std::to_string(b1));
  if (!(b2 >= 0.0 && b2 < 1.0)) a.fail("beta2 must be in [0, 1), got " + std::to_string(b2));
  const std::string what = "param of length " + std::to_string(param.len);
  a.needLen(grad, param.len, what);
  a.needLen(m, param.len, what);
  a.needLen(v, param.len, what);
  a.disjoint({spanOf(param), spanOf(m), spanOf(v)}, {spanOf(param), spanOf(grad), spanOf(m), spanOf(v)});
  Live(a, param, grad, m, v);
  Guarded(a, [&] { avgk_cuda::adam_step(param.data, grad.data, m.data, v.data, param.len, lr, b1, b2, eps, wd, step, decoupled); });
  return info.Env().Undefined();
}

}  // namespace

void InitKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward, "unaryBackward"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum, "reduceSum"));
  exports.Set("reduceMax", Napi::Function::New(env, ReduceMax, "reduceMax"));
  exports.Set("reduceMaxBackward", Napi::Function::New(env, ReduceMaxBackward, "reduceMaxBackward"));
  exports.Set("take", Napi::Function::New(env, Take, "take"));
  exports.Set("putAdd", Napi::Function::New(env, PutAdd, "putAdd"));
  exports.Set("putValue", Napi::Function::New(env, PutValue, "putValue"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("axpby", Napi::Function::New(env, Axpby, "axpby"));
  exports.Set("softmax", Napi::Function::New(env, SoftmaxFwd, "softmax"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBwd, "softmaxBackward"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy, "softmaxCrossEntropy"));
  exports.Set("sigmoidBce", Napi::Function::New(env, SigmoidBce, "sigmoidBce"));
  exports.Set("selectKth", Napi::Function::New(env, SelectKth, "selectKth"));
  exports.Set("markTop", Napi::Function::New(env, MarkTop, "markTop"));
  exports.Set("countAboveEqual", Napi::Function::New(env, CountAboveEqual, "countAboveEqual"));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep, "adamStep"));
}

}  // namespace avgk_cuda_binding
