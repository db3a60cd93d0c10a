// The test and benchmark programs' environment variables for the kernels' test-only knobs
// (native/kernels/tuning.h). Only these programs read them; the addon does not.
//   AVGK_GEMM_KERNEL=avx512|avx2|portable   force an SGEMM micro-kernel (never above the level of
//                                           cpu_features.h, which AVGK_NATIVE_ISA may lower)
//   AVGK_GEMM_SMALL=0                       no small-problem path
//   AVGK_GEMM_SMALL_PATH=n|t|g2|g4|g8       force a small-problem plan
//   AVGK_GEMM_TUNE=MR,NR,KC,MC,NC           AVX-512 tile / blocking experiments (programs built with
//                                           -DAVGK_GEMM_TUNING)
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tuning.h"

namespace avgk_test {

inline void apply_tuning_env() {
  using namespace avgk::tuning;
  const char* kernel = std::getenv("AVGK_GEMM_KERNEL");
  const char* small = std::getenv("AVGK_GEMM_SMALL");
  GemmKernel k = GemmKernel::kAuto;
  if (kernel && std::strcmp(kernel, "avx512") == 0) k = GemmKernel::kAvx512;
  if (kernel && std::strcmp(kernel, "avx2") == 0) k = GemmKernel::kAvx2;
  if (kernel && std::strcmp(kernel, "portable") == 0) k = GemmKernel::kPortable;
  set_gemm_kernel(k, !(small && std::strcmp(small, "0") == 0));
  if (const char* p = std::getenv("AVGK_GEMM_SMALL_PATH")) {
    if (std::strcmp(p, "n") == 0) gemm_small_plan = SmallPlan::kN;
    if (std::strcmp(p, "t") == 0) gemm_small_plan = SmallPlan::kT;
    if (std::strcmp(p, "g2") == 0) gemm_small_plan = SmallPlan::kG2;
    if (std::strcmp(p, "g4") == 0) gemm_small_plan = SmallPlan::kG4;
    if (std::strcmp(p, "g8") == 0) gemm_small_plan = SmallPlan::kG8;
  }
#ifdef AVGK_GEMM_TUNING
  if (const char* t = std::getenv("AVGK_GEMM_TUNE")) {
    int mr, nr, kc, mc, nc;
    if (std::sscanf(t, "%d,%d,%d,%d,%d", &mr, &nr, &kc, &mc, &nc) != 5 || !set_gemm_avx512_tile(mr, nr, kc, mc, nc))
      std::fprintf(stderr, "AVGK_GEMM_TUNE=%s: no such AVX-512 tile here; using the default kernel\n", t);
  }
#endif
}

}  // namespace avgk_test
