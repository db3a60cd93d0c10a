// Test-only knobs of the kernels, in ONE place. The addon never changes them and reads no
// environment variable for them: the C++ test and benchmark programs of native/tests/ set them
// (native/tests/tuning_env.h maps their environment variables onto them). Defaults are the shipped
// behaviour. None of them can raise the instruction-set level of cpu_features.h.
#pragma once
#include <cstdint>

namespace avgk {
namespace tuning {

// ---- SGEMM (gemm/)
enum class GemmKernel : int { kAuto, kAvx512, kAvx2, kPortable };
// Re-selects the SGEMM micro-kernel: kAuto takes the best one isa() allows; a forced kernel above
// isa() falls back to the best allowed one. small = false disables the small-problem path.
// Returns the name of the selected kernel. Not thread-safe: call it between kernel calls.
const char* set_gemm_kernel(GemmKernel kernel, bool small = true);
// Plan of the small-problem path (gemm_small.cc): kAuto lets its cost model choose; kG* (grouped-k
// with KK = 2, 4, 8) applies only when A's rows are contiguous along k.
enum class SmallPlan : int { kAuto, kN, kT, kG2, kG4, kG8 };
inline SmallPlan gemm_small_plan = SmallPlan::kAuto;
#ifdef AVGK_GEMM_TUNING
// Block-size experiments (gemm_bench built with -DAVGK_GEMM_TUNING): the AVX-512 kernel with another
// tile MR x NR (pairs listed in gemm_kernel_avx512.cc) and blocking; false if there is no such tile
// or the level is below AVX-512.
bool set_gemm_avx512_tile(int mr, int nr, int kc, int mc, int nc);
#endif

// ---- Convolution (conv.cc)
inline int64_t conv_col_target_bytes = 2 << 20;  // im2col chunk size target (per chunk, i.e. per thread)
inline int64_t conv_direct_min_hw = 256;         // HW >= this: per-image batched GEMM straight into NCHW
inline int64_t conv_wgrad_chunk_mult = 1;        // backward-weight chunk = mult x forward chunk (bigger GEMM k)
inline bool conv_smallk = true;                  // tiny-K loops instead of sgemm (K <= 16)
inline int conv_mode = 0;                        // 0 auto, 1 shared (threads inside sgemm), 2 per-thread chunks
inline int64_t conv_max_col_bytes = 256LL << 20; // im2col scratch bound of a call: past it, tiles (conv.cc)

// ---- Hand-written AVX-512 loops (used only at level kAvx512): false takes the portable loops.
inline bool conv_avx512 = true;  // im2col / col2im, fused im2col fills, tiny-K loops
inline bool pool_avx512 = true;  // 2x2 max pooling
inline bool bn_avx512 = true;    // batch norm

}  // namespace tuning
}  // namespace avgk
