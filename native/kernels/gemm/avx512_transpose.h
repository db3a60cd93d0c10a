// 16x16 in-register transpose of floats, shared by the AVX-512 packing routine
// (gemm_kernel_avx512.cc) and the small-GEMM path (gemm_small.cc). Include only from translation
// units whose callers carry the AVX-512 target attribute and run after the CPU check.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include "../simd.h"

#define AVGK_AVX512_TRANSPOSE_TARGET __attribute__((target("avx512f")))

namespace avgk {
namespace gemm_detail {

// r[i] holds row i on entry and column i on return.
AVGK_AVX512_TRANSPOSE_TARGET inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h) {
    const int b = 8 * h;
    for (int i = 0; i < 4; ++i) {
      t[b + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0x88);
      t[b + 4 + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0xDD);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
  }
}

}  // namespace gemm_detail
}  // namespace avgk
#endif
