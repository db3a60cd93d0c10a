// AVX2+FMA SGEMM micro-kernel (6x16). Compiled without -march flags: per-function target attribute,
// only selected at level kAvx2 or above (cpu_features.h).
#include "../simd.h"

#include "../cpu_features.h"
#include "blocking.h"
#include "gemm_internal.h"

namespace avgk {
namespace gemm_detail {

#if defined(__x86_64__) || defined(__i386__)
#define AVX2_TARGET __attribute__((target("avx2,fma")))

namespace {

template <int MR, int NV>
AVX2_TARGET void ukr_avx2(int64_t kc, const float* __restrict Sp, const float* __restrict Vp,
                          float* __restrict C, int64_t rs_c, int64_t cs_c, int mr, int nr, float alpha,
                          float beta) {
  constexpr int NR = 8 * NV;
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm256_load_ps(Vp + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(Sp + r);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
    Sp += MR;
    Vp += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (cs_c == 1 && mr == MR && nr == NR) {
    if (beta == 0.f) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) _mm256_storeu_ps(C + r * rs_c + 8 * v, _mm256_mul_ps(va, acc[r][v]));
    } else {
      const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          float* c = C + r * rs_c + 8 * v;
          _mm256_storeu_ps(c, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), _mm256_mul_ps(va, acc[r][v])));
        }
    }
    return;
  }
  alignas(32) float tmp[MR * NR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm256_store_ps(tmp + r * NR + 8 * v, _mm256_mul_ps(va, acc[r][v]));
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < nr; ++c) {
      float* d = C + r * rs_c + c * cs_c;
      *d = beta == 0.f ? tmp[r * NR + c] : tmp[r * NR + c] + beta * *d;
    }
}

}  // namespace

bool get_kernel_avx2(KernelInfo* out) {
  if (!isa_at_least(Isa::kAvx2)) return false;
  namespace B = gemm_blocking;
  static_assert(B::AVX2_NR % 8 == 0, "AVX2_NR must be a multiple of 8");
  *out = KernelInfo{"avx2", B::AVX2_MR, B::AVX2_NR, B::AVX2_KC, B::AVX2_MC, B::AVX2_NC, B::AVX2_NR,
                    &ukr_avx2<B::AVX2_MR, B::AVX2_NR / 8>, &pack_generic};
  return true;
}

#else
bool get_kernel_avx2(KernelInfo*) { return false; }
#endif

}  // namespace gemm_detail
}  // namespace avgk
