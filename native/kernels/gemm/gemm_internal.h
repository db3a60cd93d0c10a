// Internal interfaces shared by the SGEMM driver (gemm.cc) and the micro-kernel files.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "../region_errors.h"

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

// Small-problem path: computes the whole (batched) problem single-threaded, without the blocked
// driver; same contract as avgk::sgemm (k > 0, alpha != 0 here). Returns false if it declined.
using small_fn = bool (*)(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                          int64_t rsA, int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB,
                          int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC);

struct KernelInfo {
  const char* name;
  int MR, NR, KC, MC, NC;
  int VG;  // granularity (columns) at which V may be split between threads without losing efficiency
  ukr_fn ukr;
  pack_fn pack;
  small_fn small = nullptr;  // small-problem path of this ISA, if any (gemm_small.cc)
};

// Grow-only, page-aligned scratch buffer (one per thread: thread_local). get() returns nullptr, and
// keeps nothing, when the allocation fails (the small-problem path then declines).
struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      n = 0;
      const size_t bytes = ((need * sizeof(float) + 4095) / 4096) * 4096;
      p = static_cast<float*>(std::aligned_alloc(4096, bytes));
      if (p) n = bytes / sizeof(float);
    }
    return p;
  }
  // get(), or a std::runtime_error naming `op` and the size when the allocation fails.
  float* get_or_throw(size_t need, const char* op) {
    float* q = get(need);
    if (!q)
      throw std::runtime_error(std::string(op) + ": cannot allocate a " +
                               std::to_string((need * sizeof(float) + (1u << 20) - 1) >> 20) + " MB packing buffer");
    return q;
  }
  ~AlignedBuf() { std::free(p); }
};

// C = A B seen as C' = S V with the vectors along V's columns (BLIS terminology, see blocking.h).
// trans = false: S = A, V = B, C' = C. trans = true: S = B^T, V = A^T, C' = C^T (strides swapped).
struct SvForm {
  int64_t ms, nv;
  const float* S;
  int64_t rsS, csS, bsS;
  const float* V;
  int64_t rsV, csV, bsV;
  int64_t rsC, csC;  // of C'
};
inline SvForm sv_form(bool trans, int64_t m, int64_t n, const float* A, int64_t rsA, int64_t csA, int64_t bsA,
                      const float* B, int64_t rsB, int64_t csB, int64_t bsB, int64_t rsC) {
  if (trans) return SvForm{n, m, B, csB, rsB, bsB, A, csA, rsA, bsA, 1, rsC};
  return SvForm{m, n, A, rsA, csA, bsA, B, rsB, csB, bsB, rsC, 1};
}

// Generic (any ISA) packer, in gemm.cc.
void pack_generic(int W, int64_t nx, int64_t kc, const float* src, int64_t sx, int64_t sp, float* dst);

// AVX-512 small-problem path (gemm_small.cc); only called once get_kernel_avx512() succeeded.
bool small_gemm_avx512(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                       int64_t rsA, int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB,
                       int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC);

// Kernel tables; each returns false if the build or the level of cpu_features.h can't run it.
bool get_kernel_avx512(KernelInfo* out);
bool get_kernel_avx2(KernelInfo* out);
bool get_kernel_portable(KernelInfo* out);
#ifdef AVGK_GEMM_TUNING
// The AVX-512 kernel with another tile and blocking (tuning::set_gemm_avx512_tile).
bool get_kernel_avx512_tile(KernelInfo* out, int mr, int nr, int kc, int mc, int nc);
#endif

}  // namespace gemm_detail
}  // namespace avgk
