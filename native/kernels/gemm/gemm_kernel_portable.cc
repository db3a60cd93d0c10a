// Portable scalar SGEMM micro-kernel (any CPU; the compiler may auto-vectorise with the baseline ISA).
#include "blocking.h"
#include "gemm_internal.h"

namespace avgk {
namespace gemm_detail {

namespace {

template <int MR, int NR>
void ukr_portable(int64_t kc, const float* __restrict Sp, const float* __restrict Vp, float* __restrict C,
                  int64_t rs_c, int64_t cs_c, int mr, int nr, float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int r = 0; r < MR; ++r) {
      const float a = Sp[r];
      for (int c = 0; c < NR; ++c) acc[r][c] += a * Vp[c];
    }
    Sp += MR;
    Vp += NR;
  }
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < nr; ++c) {
      float* d = C + r * rs_c + c * cs_c;
      *d = beta == 0.f ? alpha * acc[r][c] : alpha * acc[r][c] + beta * *d;
    }
}

}  // namespace

bool get_kernel_portable(KernelInfo* out) {
  namespace B = gemm_blocking;
  *out = KernelInfo{"portable", B::PORTABLE_MR, B::PORTABLE_NR, B::PORTABLE_KC, B::PORTABLE_MC,
                    B::PORTABLE_NC, B::PORTABLE_NR, &ukr_portable<B::PORTABLE_MR, B::PORTABLE_NR>, &pack_generic};
  return true;
}

}  // namespace gemm_detail
}  // namespace avgk
