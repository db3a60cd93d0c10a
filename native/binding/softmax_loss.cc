// Binding: softmax, softmaxBackward, softmaxCrossEntropy, sigmoidBce.
#include "common.h"

namespace avgk_binding {
namespace {

std::string rc(int64_t rows, int64_t cols) {
  return "rows=" + std::to_string(rows) + ", cols=" + std::to_string(cols);
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args a(info, "softmax");
  a.count(5, "x, out, rows, cols, log");
  Buf<float> x = a.f32(0, "x");
  Buf<float> out = a.f32(1, "out");
  const int64_t rows = a.integer(2, "rows", 0, kMaxInt);
  const int64_t cols = a.integer(3, "cols", 0, kMaxInt);
  const bool log = a.boolean(4, "log");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(x, total, rc(rows, cols));
  a.needLen(out, total, rc(rows, cols));
  a.sameOrDisjoint(spanOf(out), spanOf(x));
  guarded(a, [&] { avgk::softmax(x.data, out.data, rows, cols, log); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxBackward");
  a.count(6, "y, gy, gx, rows, cols, log");
  Buf<float> y = a.f32(0, "y");
  Buf<float> gy = a.f32(1, "gy");
  Buf<float> gx = a.f32(2, "gx");
  const int64_t rows = a.integer(3, "rows", 0, kMaxInt);
  const int64_t cols = a.integer(4, "cols", 0, kMaxInt);
  const bool log = a.boolean(5, "log");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(y, total, rc(rows, cols));
  a.needLen(gy, total, rc(rows, cols));
  a.needLen(gx, total, rc(rows, cols));
  // the row sum is taken before any of the row is written, so exact in-place is fine
  a.sameOrDisjoint(spanOf(gx), spanOf(y));
  a.sameOrDisjoint(spanOf(gx), spanOf(gy));
  guarded(a, [&] { avgk::softmax_backward(y.data, gy.data, gx.data, rows, cols, log); });
  return info.Env().Undefined();
}

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxCrossEntropy");
  a.count(6, "logits, labels, rows, cols, smoothing, grad");
  Buf<float> x = a.f32(0, "logits");
  Buf<int32_t> labels = a.i32(1, "labels");
  const int64_t rows = a.integer(2, "rows", 0, kMaxInt);
  const int64_t cols = a.integer(3, "cols", 0, 2147483647.0);
  const double smoothing = a.number(4, "smoothing");
  if (!(smoothing >= 0.0 && smoothing <= 1.0)) {
    a.fail("label smoothing must be in [0, 1], got " + std::to_string(smoothing));
  }
  Buf<float> grad = a.f32OrNull(5, "grad");
  const int64_t total = a.mul({rows, cols}, "rows*cols");
  a.needLen(x, total, rc(rows, cols));
  a.needLen(labels, rows, rc(rows, cols));
  if (!grad.null) {
    a.needLen(grad, total, rc(rows, cols));
    a.sameOrDisjoint(spanOf(grad), spanOf(x));
    a.disjoint({spanOf(grad)}, {spanOf(labels)});
  }
  // the kernel indexes with the labels (never shared memory, so it reads what is checked here)
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t l = labels.data[r];
    if (l < 0 || l >= cols) {
      a.fail("label " + std::to_string(l) + " at row " + std::to_string(r) + " is outside [0, " + std::to_string(cols) +
             ")");
    }
  }
  const double loss = guarded(a, [&] {
    return avgk::softmax_cross_entropy(x.data, labels.data, rows, cols, static_cast<float>(smoothing),
                                       grad.null ? nullptr : grad.data);
  });
  return Napi::Number::New(info.Env(), loss);
}

Napi::Value SigmoidBce(const Napi::CallbackInfo& info) {
  Args a(info, "sigmoidBce");
  a.count(4, "logits, targets, weights, grad");
  Buf<float> z = a.f32(0, "logits");
  Buf<float> t = a.f32(1, "targets");
  Buf<float> w = a.f32OrNull(2, "weights");
  Buf<float> g = a.f32OrNull(3, "grad");
  const std::string what = "logits of length " + std::to_string(z.len);
  a.needLen(t, z.len, what);
  if (!w.null) a.needLen(w, z.len, what);
  if (!g.null) {
    a.needLen(g, z.len, what);
    a.sameOrDisjoint(spanOf(g), spanOf(z));
    a.sameOrDisjoint(spanOf(g), spanOf(t));
    if (!w.null) a.sameOrDisjoint(spanOf(g), spanOf(w));
  }
  const double loss = guarded(a, [&] {
    return avgk::sigmoid_bce(z.data, t.data, w.null ? nullptr : w.data, g.null ? nullptr : g.data, z.len);
  });
  return Napi::Number::New(info.Env(), loss);
}

}  // namespace

void InitSoftmaxLoss(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy, "softmaxCrossEntropy"));
  exports.Set("sigmoidBce", Napi::Function::New(env, SigmoidBce, "sigmoidBce"));
}

}  // namespace avgk_binding
