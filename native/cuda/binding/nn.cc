// Binding of gemm, convolution, pooling and batch norm on device buffers. Convolution, pooling and
// batch norm read their arguments with the CPU binding's readers (binding/nn_args.h).
#include <string>

#include "binding/nn_args.h"
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

/** Reads device views (the CUDA addon) for the shared argument readers of binding/nn_args.h. */
struct DeviceReader {
  using F = DevBuf<float>;
  using I = DevBuf<int32_t>;
  static F f32(const Args& a, size_t i, const char* name) { return F32(a, i, name); }
  static F f32OrNull(const Args& a, size_t i, const char* name) { return F32OrNull(a, i, name); }
  static I i32(const Args& a, size_t i, const char* name) { return I32(a, i, name); }
};

avgk_cuda::ConvGeom toCuda(const avgk::ConvGeom& g) {
  return {g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow};
}
avgk_cuda::PoolGeom toCuda(const avgk::PoolGeom& g) { return {g.n, g.c, g.h, g.w, g.k, g.stride, g.pad, g.oh, g.ow}; }

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
  auto r = avgk_binding::readConvForward<DeviceReader>(a);
  Live(a, r.x, r.w, r.bias, r.out);
  Guarded(a, [&] {
    avgk_cuda::conv2d_forward(r.x.data, r.w.data, r.bias.null ? nullptr : r.bias.data, r.out.data, toCuda(r.g));
  });
  return info.Env().Undefined();
}

Napi::Value ConvBackwardInput(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardInput", kPrefix);
  auto r = avgk_binding::readConvBackwardInput<DeviceReader>(a);
  Live(a, r.gy, r.w, r.gx);
  Guarded(a, [&] { avgk_cuda::conv2d_backward_input(r.gy.data, r.w.data, r.gx.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value ConvBackwardWeight(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardWeight", kPrefix);
  auto r = avgk_binding::readConvBackwardWeight<DeviceReader>(a);
  Live(a, r.x, r.gy, r.gw);
  Guarded(a, [&] { avgk_cuda::conv2d_backward_weight(r.x.data, r.gy.data, r.gw.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value MaxPoolForward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dForward", kPrefix);
  auto r = avgk_binding::readMaxPoolForward<DeviceReader>(a);
  Live(a, r.x, r.out, r.arg);
  Guarded(a, [&] { avgk_cuda::maxpool2d_forward(r.x.data, r.out.data, r.arg.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dBackward", kPrefix);
  auto r = avgk_binding::readMaxPoolBackward<DeviceReader>(a);
  Live(a, r.gy, r.arg, r.gx);
  // the gather form only compares argmax with positions: invalid entries drop their gradient
  Guarded(a, [&] { avgk_cuda::maxpool2d_backward(r.gy.data, r.arg.data, r.gx.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value AvgPoolForward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dForward", kPrefix);
  auto r = avgk_binding::readAvgPoolForward<DeviceReader>(a);
  Live(a, r.in, r.out);
  Guarded(a, [&] { avgk_cuda::avgpool2d_forward(r.in.data, r.out.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dBackward", kPrefix);
  auto r = avgk_binding::readAvgPoolBackward<DeviceReader>(a);
  Live(a, r.in, r.out);
  Guarded(a, [&] { avgk_cuda::avgpool2d_backward(r.in.data, r.out.data, toCuda(r.g)); });
  return info.Env().Undefined();
}

Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormForward", kPrefix);
  auto r = avgk_binding::readBatchNormForward<DeviceReader>(a);
  Live(a, r.x, r.gamma, r.beta, r.out, r.mean, r.var);
  Guarded(a, [&] {
    avgk_cuda::batchnorm_forward(r.x.data, r.gamma.data, r.beta.data, r.out.data, r.mean.data, r.var.data, r.n, r.c,
                                 r.hw, r.eps, r.training, r.relu);
  });
  return info.Env().Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "batchNormBackward", kPrefix);
  auto r = avgk_binding::readBatchNormBackward<DeviceReader>(a);
  Live(a, r.x, r.gy, r.gamma, r.mean, r.var, r.gx, r.gg, r.gb, r.y);
  Guarded(a, [&] {
    avgk_cuda::batchnorm_backward(r.x.data, r.gy.data, r.y.null ? nullptr : r.y.data, r.gamma.data, r.mean.data,
                                  r.var.data, r.gx.data, r.gg.data, r.gb.data, r.n, r.c, r.hw, r.eps, r.training);
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
