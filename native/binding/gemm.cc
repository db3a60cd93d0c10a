// Binding: gemm (batched strided SGEMM).
#include "common.h"

namespace avgk_binding {
namespace {

// Called per layer per step with tiny shapes: the arguments are read through FastArgs (one N-API
// call each, no allocation) and every message is built only on failure.
napi_value Gemm(napi_env env, napi_callback_info info) {
  FastArgs<20> a(env, info, "gemm");
  a.count("batch, m, n, k, alpha, a, aOffset, aRowStride, aColStride, aBatchStride, b, bOffset, bRowStride, "
          "bColStride, bBatchStride, beta, c, cOffset, cRowStride, cBatchStride");
  const int64_t batch = a.integer(0, "batch", 0, kMaxInt);
  const int64_t m = a.integer(1, "m", 0, kMaxInt);
  const int64_t n = a.integer(2, "n", 0, kMaxInt);
  const int64_t k = a.integer(3, "k", 0, kMaxInt);
  const float alpha = a.finiteF32(4, "alpha");
  Buf<float> A = a.f32(5, "a");
  const int64_t aOff = a.integer(6, "aOffset", 0, kMaxInt);
  const int64_t aRs = a.integer(7, "aRowStride", 0, kMaxInt);
  const int64_t aCs = a.integer(8, "aColStride", 0, kMaxInt);
  const int64_t aBs = a.integer(9, "aBatchStride", 0, kMaxInt);
  Buf<float> B = a.f32(10, "b");
  const int64_t bOff = a.integer(11, "bOffset", 0, kMaxInt);
  const int64_t bRs = a.integer(12, "bRowStride", 0, kMaxInt);
  const int64_t bCs = a.integer(13, "bColStride", 0, kMaxInt);
  const int64_t bBs = a.integer(14, "bBatchStride", 0, kMaxInt);
  const float beta = a.finiteF32(15, "beta");
  Buf<float> C = a.f32(16, "c");
  const int64_t cOff = a.integer(17, "cOffset", 0, kMaxInt);
  const int64_t cRs = a.integer(18, "cRowStride", 0, kMaxInt);
  const int64_t cBs = a.integer(19, "cBatchStride", 0, kMaxInt);
  if (batch == 0 || m == 0 || n == 0) return nullptr;  // undefined

  // Highest index reached in each operand (exact in __int128, then compared with the length).
  auto top = [](int64_t off, int64_t nb, int64_t bs, int64_t r, int64_t rs, int64_t c, int64_t cs) {
    return static_cast<__int128>(off) + static_cast<__int128>(nb - 1) * bs + static_cast<__int128>(r - 1) * rs +
           static_cast<__int128>(c - 1) * cs;
  };
  // Checks run first; the messages are only built on failure (the success path allocates nothing).
  auto need = [&](const Buf<float>& buf, __int128 hi, auto&& what) {
    if (hi >= buf.len) {
      const std::string needs = hi > static_cast<__int128>(kMaxInt) ? std::string("more than 2^53")
                                                                     : std::to_string(static_cast<int64_t>(hi + 1));
      a.fail(std::string(buf.name) + " has " + std::to_string(buf.len) + " elements but " + what() + " needs " + needs);
    }
  };
  auto bt = [&] { return "batch=" + std::to_string(batch) + ", "; };
  const __int128 cTop = top(cOff, batch, cBs, m, cRs, n, 1);
  need(C, cTop, [&] {
    return bt() + "m=" + std::to_string(m) + ", n=" + std::to_string(n) + " (offset " + std::to_string(cOff) +
           ", rows stride " + std::to_string(cRs) + ", batch stride " + std::to_string(cBs) + ")";
  });
  {
    const int64_t shape[3] = {batch, m, n}, strides[3] = {cBs, cRs, 1};
    if (!injective(shape, strides, 3)) {
      a.fail("c's strides (row " + std::to_string(cRs) + ", batch " + std::to_string(cBs) + ") make the " + bt() +
             "m=" + std::to_string(m) + ", n=" + std::to_string(n) + " outputs overlap");
    }
  }
  Span sc;
  sc.name = "c";
  sc.lo = C.bytesBegin() + cOff * 4;
  sc.hi = C.bytesBegin() + (static_cast<int64_t>(cTop) + 1) * 4;
  if (k > 0) {
    const __int128 aTop = top(aOff, batch, aBs, m, aRs, k, aCs);
    need(A, aTop, [&] {
      return bt() + "m=" + std::to_string(m) + ", k=" + std::to_string(k) + " (offset " + std::to_string(aOff) +
             ", strides row " + std::to_string(aRs) + " col " + std::to_string(aCs) + " batch " +
             std::to_string(aBs) + ")";
    });
    const __int128 bTop = top(bOff, batch, bBs, k, bRs, n, bCs);
    need(B, bTop, [&] {
      return bt() + "k=" + std::to_string(k) + ", n=" + std::to_string(n) + " (offset " + std::to_string(bOff) +
             ", strides row " + std::to_string(bRs) + " col " + std::to_string(bCs) + " batch " +
             std::to_string(bBs) + ")";
    });
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
  guarded(a, [&] {
    avgk::sgemm(batch, m, n, k, alpha, A.data + aOff, aRs, aCs, aBs, B.data + bOff, bRs, bCs, bBs, beta,
                C.data + cOff, cRs, cBs);
  });
  return nullptr;  // undefined
}

napi_value GemmCallback(napi_env env, napi_callback_info info) {
  return rawCallback(env, [&] { return Gemm(env, info); });
}

}  // namespace

void InitGemm(Napi::Env env, Napi::Object exports) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "gemm", NAPI_AUTO_LENGTH, GemmCallback, nullptr, &fn));
  exports.Set("gemm", Napi::Value(env, fn));
}

}  // namespace avgk_binding
