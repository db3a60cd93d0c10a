// Binding of gemm, convolution, pooling and batch norm (device buffers; the checks of the CPU
// binding in native/binding: lengths, strides inside their buffers, aliasing, geometry).
#include <string>

#include "cuda/kernels/cuda_kernels.h"
#include "device_buffer.h"

namespace avgk_cuda_binding {
namespace {

using avgk_binding::injective;
using avgk_binding::kMaxInt;
using avgk_binding::overlaps;
using avgk_binding::Span;
using avgk_binding::spanOf;

constexpr const char* kPrefix = "avgk cuda";

avgk_cuda::ConvGeom toCuda(const avgk::ConvGeom& g) {
  return {g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow};
}
avgk_cuda::PoolGeom toCuda(const avgk::PoolGeom& g) { return {g.n, g.c, g.h, g.w, g.k, g.stride, g.pad, g.oh, g.ow}; }

std::string convStr(const avgk::ConvGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) + " w=" +
         std::to_string(g.w) + " o=" + std::to_string(g.o) + " k=" + std::to_string(g.kh) + "x" + std::to_string(g.kw);
}
std::string poolStr(const avgk::PoolGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) + " w=" +
         std::to_string(g.w) + " k=" + std::to_string(g.k);
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm", kPrefix);
  a.count(20, "batch, m, n, k, alpha, a, aOffset, aRowStride, aColStride, aBatchStride, b, bOffset, bRowStride, "
              "bColStride, bBatchStride, beta, c, cOffset, cRowStride, cBatchStride");
  const int64_t batch = a.integer(0, "batch", 0, kMaxInt);
  const int64_t m = a.integer(1, "m", 0, kMaxInt);
  const int64_t n = a.integer(2, "n", 0, kMaxInt);
  const int64_t k = a.integer(3, "k", 0, kMaxInt);
  const float alpha = a.finiteF32(4, "alpha");
  auto A = F32(a, 5, "a");
  const int64_t aOff = a.integer(6, "aOffset", 0, kMaxInt);
  const int64_t aRs = a.integer(7, "aRowStride", 0, kMaxInt);
  const int64_t aCs = a.integer(8, "aColStride", 0, kMaxInt);
  const int64_t aBs = a.integer(9, "aBatchStride", 0, kMaxInt);
  auto B = F32(a, 10, "b");
  const int64_t bOff = a.integer(11, "bOffset", 0, kMaxInt);
  const int64_t bRs = a.integer(12, "bRowStride", 0, kMaxInt);
  const int64_t bCs = a.integer(13, "bColStride", 0, kMaxInt);
  const int64_t bBs = a.integer(14, "bBatchStride", 0, kMaxInt);
  const float beta = a.finiteF32(15, "beta");
  auto C = F32(a, 16, "c");
  const int64_t cOff = a.integer(17, "cOffset", 0, kMaxInt);
  const int64_t cRs = a.integer(18, "cRowStride", 0, kMaxInt);
  const int64_t cBs = a.integer(19, "cBatchStride", 0, kMaxInt);
  if (batch == 0 || m == 0 || n == 0) return info.Env().Undefined();
  auto top = [](int64_t off, int64_t nb, int64_t bs, int64_t r, int64_t rs, int64_t c, int64_t cs) {
    return static_cast<__int128>(off) + static_cast<__int128>(nb - 1) * bs + static_cast<__int128>(r - 1) * rs +
           static_cast<__int128>(c - 1) * cs;
  };
  auto need = [&](const Buf<float>& buf, __int128 hi, const char* what) {
    if (hi >= buf.len) a.fail(std::string(buf.name) + " has " + std::to_string(buf.len) + " elements, too few for " + what);
  };
  const __int128 cTop = top(cOff, batch, cBs, m, cRs, n, 1);
  need(C, cTop, "batch x m x n through its offset and strides");
  {
    const int64_t shape[3] = {batch, m, n}, strides[3] = {cBs, cRs, 1};
    if (!injective(shape, strides, 3)) a.fail("c's strides make some outputs overlap");
  }
  Span sc;
  sc.name = "c";
  sc.lo = C.bytesBegin() + cOff * 4;
  sc.hi = C.bytesBegin() + (static_cast<int64_t>(cTop) + 1) * 4;
  if (k > 0) {
    const __int128 aTop = top(aOff, batch, aBs, m, aRs, k, aCs);
    need(A, aTop, "batch x m x k through its offset and strides");
    const __int128 bTop = top(bOff, batch, bBs, k, bRs, n, bCs);
    need(B, bTop, "batch x k x n through its offset and strides");
    Span sa, sb;
    sa.name = "a";
    sa.lo = A.bytesBegin() + aOff * 4;
    sa.hi = A.bytesBegin() + (static_cast<int64_t>(aTop) + 1) * 4;
    sb.name = "b";
    sb.lo = B.bytesBegin() + bOff * 4;
    sb.hi = B.bytesBegin() + (static_cast<int64_t>(bTop) + 1) * 4;
    if (overlaps(sc, sa)) a.fail("c must not share memory with a");
    if (overlaps(sc, sb)) a.fail("c must not share memory with b");
  }
  Live(a, A, B, C);
  Guarded(a, [&] {
    avgk_cuda::sgemm(batch, m, n, k, alpha, A.data + aOff, aRs, aCs, aBs, B.data + bOff, bRs, bCs, bBs, beta,
                     C.data + cOff, cRs, cBs);
  });
  return info.Env().Undefined();
}

Napi::Value ConvForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dForward", kPrefix);
  a.count(5, "x, w, bias, out, geom");
  auto x = F32(a, 0, "x");
  auto w = F32(a, 1, "w");
  auto bias = F32OrNull(a, 2, "bias");
  auto out = F32(a, 3, "out");
  const avgk::ConvGeom g = a.convGeom(4);
  const std::string d = convStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  if (!bias.null) a.needLen(bias, g.o, "bias [o] for " + d);
  a.needLen(out, g.n * g.o * g.oh * g.ow, "out [n,o,oh,ow] for " + d);
  a.disjoint({spanOf(out)}, {spanOf(x), spanOf(w), spanOf(bias)});
  Live(a, x, w, bias, out);
  Guarded(a, [&] { avgk_cuda::conv2d_forward(x.data, w.data, bias.null ? nullptr : bias.data, out.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value ConvBackwardInput(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardInput", kPrefix);
  a.count(4, "gy, w, gx, geom");
  auto gy = F32(a, 0, "gy");
  auto w = F32(a, 1, "w");
  auto gx = F32(a, 2, "gx");
  const avgk::ConvGeom g = a.convGeom(3);
  const std::string d = convStr(g);
  a.needLen(gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy), spanOf(w)});
  Live(a, gy, w, gx);
  Guarded(a, [&] { avgk_cuda::conv2d_backward_input(gy.data, w.data, gx.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value ConvBackwardWeight(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardWeight", kPrefix);
  a.count(4, "x, gy, gw, geom");
  auto x = F32(a, 0, "x");
  auto gy = F32(a, 1, "gy");
  auto gw = F32(a, 2, "gw");
  const avgk::ConvGeom g = a.convGeom(3);
  const std::string d = convStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(gw, g.o * g.c * g.kh * g.kw, "gw [o,c,kh,kw] for " + d);
  a.disjoint({spanOf(gw)}, {spanOf(x), spanOf(gy)});
  Live(a, x, gy, gw);
  Guarded(a, [&] { avgk_cuda::conv2d_backward_weight(x.data, gy.data, gw.data, toCuda(g)); });
  return info.Env().Undefined();
}

void checkPlane(const Args& a, const avgk::PoolGeom& g) {
  if (g.h * g.w > 2147483647) a.fail("h*w = " + std::to_string(g.h * g.w) + " does not fit an Int32 argmax");
}

Napi::Value MaxPoolForward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dForward", kPrefix);
  a.count(4, "x, out, argmax, geom");
  auto x = F32(a, 0, "x");
  auto out = F32(a, 1, "out");
  auto arg = I32(a, 2, "argmax");
  const avgk::PoolGeom g = a.poolGeom(3);
  checkPlane(a, g);
  const std::string d = poolStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.needLen(arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(out), spanOf(arg)}, {spanOf(x), spanOf(out), spanOf(arg)});
  Live(a, x, out, arg);
  Guarded(a, [&] { avgk_cuda::maxpool2d_forward(x.data, out.data, arg.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dBackward", kPrefix);
  a.count(4, "gy, argmax, gx, geom");
  auto gy = F32(a, 0, "gy");
  auto arg = I32(a, 1, "argmax");
  auto gx = F32(a, 2, "gx");
  const avgk::PoolGeom g = a.poolGeom(3);
  checkPlane(a, g);
  const std::string d = poolStr(g);
  a.needLen(gy, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy), spanOf(arg)});
  Live(a, gy, arg, gx);
  // the gather form only compares argmax with positions: invalid entries drop their gradient
  Guarded(a, [&] { avgk_cuda::maxpool2d_backward(gy.data, arg.data, gx.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value AvgPoolForward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dForward", kPrefix);
  a.count(3, "x, out, geom");
  auto x = F32(a, 0, "x");
  auto out = F32(a, 1, "out");
  const avgk::PoolGeom g = a.poolGeom(2);
  const std::string d = poolStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(out)}, {spanOf(x)});
  Live(a, x, out);
  Guarded(a, [&] { avgk_cuda::avgpool2d_forward(x.data, out.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dBackward", kPrefix);
  a.count(3, "gy, gx, geom");
  auto gy = F32(a, 0, "gy");
  auto gx = F32(a, 1, "gx");
  const avgk::PoolGeom g = a.poolGeom(2);
  const std::string d = poolStr(g);
  a.needLen(gy, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy)});
  Live(a, gy, gx);
  Guarded(a, [&] { avgk_cuda::avgpool2d_backward(gy.data, gx.data, toCuda(g)); });
  return info.Env().Undefined();
}

Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForward", kPrefix);
  a.count(12, "x, gamma, beta, out, mean, variance, n, c, hw, eps, training, relu");
  auto x = F32(a, 0, "x");
  auto gamma = F32(a, 1, "gamma");
  auto beta = F32(a, 2, "beta");
  auto out = F32(a, 3, "out");
  auto mean = F32(a, 4, "mean");
  auto var = F32(a, 5, "variance");
  const int64_t n = a.integer(6, "n", 0, kMaxInt);
  const int64_t c = a.integer(7, "c", 0, kMaxInt);
  const int64_t hw = a.integer(8, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(9, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(10, "training");
  const bool relu = a.boolean(11, "relu");
  const int64_t total = a.mul({n, c, hw}, "n*c*hw");
  const std::string d = "n=" + std::to_string(n) + ", c=" + std::to_string(c) + ", hw=" + std::to_string(hw);
  a.needLen(x, total, d);
  a.needLen(gamma, c, d);
  a.needLen(beta, c, d);
  a.needLen(out, total, d);
  a.needLen(mean, c, d);
  a.needLen(var, c, d);
  if (training && n * hw == 0 && c > 0) a.fail("training needs at least one value per channel (" + d + ")");
  a.disjoint({spanOf(out)}, {spanOf(x), spanOf(gamma), spanOf(beta), spanOf(mean), spanOf(var)});
  if (training) a.disjoint({spanOf(mean), spanOf(var)}, {spanOf(x), spanOf(gamma), spanOf(beta), spanOf(out), spanOf(mean), spanOf(var)});
  Live(a, x, gamma, beta, out, mean, var);
  Guarded(a, [&] {
    avgk_cuda::batchnorm_forward(x.data, gamma.data, beta.data, out.data, mean.data, var.data, n, c, hw,
                                 static_cast<float>(eps), training, relu);
  });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormBackward", kPrefix);
  a.count(14, "x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, eps, training, y");
  auto x = F32(a, 0, "x");
  auto gy = F32(a, 1, "gy");
  auto gamma = F32(a, 2, "gamma");
  auto mean = F32(a, 3, "mean");
  auto var = F32(a, 4, "variance");
  auto gx = F32(a, 5, "gx");
  auto gg = F32(a, 6, "ggamma");
  auto gb = F32(a, 7, "gbeta");
  const int64_t n = a.integer(8, "n", 0, kMaxInt);
  const int64_t c = a.integer(9, "c", 0, kMaxInt);
  const int64_t hw = a.integer(10, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(11, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(12, "training");
  auto y = F32OrNull(a, 13, "y");
  const int64_t total = a.mul({n, c, hw}, "n*c*hw");
  const std::string d = "n=" + std::to_string(n) + ", c=" + std::to_string(c) + ", hw=" + std::to_string(hw);
  a.needLen(x, total, d);
  a.needLen(gy, total, d);
  if (!y.null) a.needLen(y, total, d);
  a.needLen(gamma, c, d);
  a.needLen(mean, c, d);
  a.needLen(var, c, d);
  a.needLen(gx, total, d);
  a.needLen(gg, c, d);
  a.needLen(gb, c, d);
  a.disjoint({spanOf(gx), spanOf(gg), spanOf(gb)},
             {spanOf(x), spanOf(gy), spanOf(gamma), spanOf(mean), spanOf(var), spanOf(gx), spanOf(gg), spanOf(gb), spanOf(y)});
  Live(a, x, gy, gamma, mean, var, gx, gg, gb, y);
  Guarded(a, [&] {
    avgk_cuda::batchnorm_backward(x.data, gy.data, y.null ? nullptr : y.data, gamma.data, mean.data, var.data, gx.data,
                                  gg.data, gb.data, n, c, hw, static_cast<float>(eps), training);
  });
  return info.Env().Undefined();
}

Napi::Value SetTf32(const Napi::CallbackInfo& info) {
  Args a(info, "setTf32", kPrefix);
  a.count(1, "on");
  avgk_cuda::set_tf32(a.boolean(0, "on"));
  return info.Env().Undefined();
}

Napi::Value GetTf32(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), avgk_cuda::tf32()); }

}  // namespace

void InitNnKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("conv2dForward", Napi::Function::New(env, ConvForward, "conv2dForward"));
  exports.Set("conv2dBackwardInput", Napi::Function::New(env, ConvBackwardInput, "conv2dBackwardInput"));
  exports.Set("conv2dBackwardWeight", Napi::Function::New(env, ConvBackwardWeight, "conv2dBackwardWeight"));
  exports.Set("maxPool2dForward", Napi::Function::New(env, MaxPoolForward, "maxPool2dForward"));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, MaxPoolBackward, "maxPool2dBackward"));
  exports.Set("avgPool2dForward", Napi::Function::New(env, AvgPoolForward, "avgPool2dForward"));
  exports.Set("avgPool2dBackward", Napi::Function::New(env, AvgPoolBackward, "avgPool2dBackward"));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward, "batchNormForward"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward, "batchNormBackward"));
  exports.Set("setTf32", Napi::Function::New(env, SetTf32, "setTf32"));
  exports.Set("getTf32", Napi::Function::New(env, GetTf32, "getTf32"));
}

}  // namespace avgk_cuda_binding
