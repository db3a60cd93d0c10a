// Internal interfaces shared by the SGEMM driver (gemm.cc) and the micro-kernel files.
#pragma once
#include <cstdint>

namespace avgk {
namespace gemm_detail {

// Micro-kernel: C[0:mr, 0:nr] = alpha * Sp^T Vp + beta * C  (beta == 0: C is not read).
//   Sp: packed S micro-panel, kc x MR (Sp[p*MR + r]); Vp: packed V micro-panel, kc x NR (Vp[p*NR + c]).
//   C(r, c) = C[r*rs_c + c*cs_c]; mr <= MR, nr <= NR.
using ukr_fn = void (*)(int64_t kc, const float* Sp, const float* Vp, float* C, int64_t rs_c,
                        int64_t cs_c, int mr, int nr, float alpha, float beta);

// Packs a (nx x kc) operand into ceil(nx/W) panels of W x kc (panel stride W*kc), zero-padded:
//   dst[panel*W*kc + p*W + x] = src[(panel*W + x)*sx + p*sp]
using pack_fn = void (*)(int W, int64_t nx, int64_t kc, const float* src, int64_t sx, int64_t sp,
                         float* dst);

struct KernelInfo {
  const char* name;
  int MR, NR, KC, MC, NC;
  int VG;  // granularity (columns) at which V may be split between threads without losing efficiency
  ukr_fn ukr;
  pack_fn pack;
};

// Generic (any ISA) packer, in gemm.cc.
void pack_generic(int W, int64_t nx, int64_t kc, const float* src, int64_t sx, int64_t sp, float* dst);

// Kernel tables; each returns false if the CPU / build can't run it.
bool get_kernel_avx512(KernelInfo* out);
bool get_kernel_avx2(KernelInfo* out);
bool get_kernel_portable(KernelInfo* out);

}  // namespace gemm_detail
}  // namespace avgk
