// AVX-512 SGEMM micro-kernels and packing routines. Compiled WITHOUT -march flags: every function
// carries its own target attribute and is only selected at level kAvx512 (cpu_features.h).
#include "../simd.h"

#include <cstdlib>
#include <cstring>

#include "../cpu_features.h"
#include "blocking.h"
#include "gemm_internal.h"
#include "avx512_transpose.h"

// GCC 12 false positive inside _mm512_undefined_ps() (used by shuffle intrinsics).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if defined(__x86_64__) || defined(__i386__)
#define AVGK_HAVE_X86 1
#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#endif

#ifndef AVGK_PACK_PFD
#define AVGK_PACK_PFD 64
#endif

namespace avgk {
namespace gemm_detail {

#ifdef AVGK_HAVE_X86

namespace {

AVX512_TARGET inline __mmask16 lane_mask(int64_t lanes) {
  return lanes >= 16 ? (__mmask16)0xFFFF : lanes <= 0 ? (__mmask16)0 : (__mmask16)((1u << lanes) - 1);
}

template <int MR, int NV>
AVX512_TARGET inline void store_tile(__m512 (&acc)[MR][NV], float* __restrict C, int64_t rs_c,
                                     int64_t cs_c, int mr, int nr, float alpha, float beta) {
  constexpr int NR = 16 * NV;
  const __m512 va = _mm512_set1_ps(alpha);
  if (cs_c == 1) {
    __mmask16 mk[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) mk[v] = lane_mask(nr - 16 * v);
    if (beta == 0.f) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        float* c = C + r * rs_c;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + 16 * v, mk[v], _mm512_mul_ps(va, acc[r][v]));
      }
    } else {
      const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        float* c = C + r * rs_c;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          const __m512 old = _mm512_maskz_loadu_ps(mk[v], c + 16 * v);
          _mm512_mask_storeu_ps(c + 16 * v, mk[v], _mm512_fmadd_ps(vb, old, _mm512_mul_ps(va, acc[r][v])));
        }
      }
    }
  } else {
    alignas(64) float tmp[MR * NR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) _mm512_store_ps(tmp + r * NR + 16 * v, _mm512_mul_ps(va, acc[r][v]));
    // Column-major-ish store (cs_c != 1): walk C along its contiguous direction when rs_c == 1.
    if (beta == 0.f) {
      for (int c = 0; c < nr; ++c)
        for (int r = 0; r < mr; ++r) C[r * rs_c + c * cs_c] = tmp[r * NR + c];
    } else {
      for (int c = 0; c < nr; ++c)
        for (int r = 0; r < mr; ++r) {
          float* d = C + r * rs_c + c * cs_c;
          *d = tmp[r * NR + c] + beta * *d;
        }
    }
  }
}

// Register-tiled micro-kernel: MR rows (broadcast) x NV*16 columns (vectors).
template <int MR, int NV>
AVX512_TARGET void ukr_avx512(int64_t kc, const float* __restrict Sp, const float* __restrict Vp,
                              float* __restrict C, int64_t rs_c, int64_t cs_c, int mr, int nr,
                              float alpha, float beta) {
  constexpr int NR = 16 * NV;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();

  if (cs_c == 1) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
      if (r < mr) _mm_prefetch((const char*)(C + r * rs_c), _MM_HINT_T0);
  }

  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      _mm_prefetch((const char*)(Vp + 8 * NR), _MM_HINT_T0);
      __m512 b[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(Vp + 16 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 a = _mm512_set1_ps(Sp[r]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
      }
      Sp += MR;
      Vp += NR;
    }
  }
  for (; p < kc; ++p) {
    __m512 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(Vp + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(Sp[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    Sp += MR;
    Vp += NR;
  }

  store_tile<MR, NV>(acc, C, rs_c, cs_c, mr, nr, alpha, beta);
}


// Edge micro-kernel: only MRC rows / NVC vectors of a packed MR x NR panel pair (strides PS, PV) are
// computed, so partial tiles cost what they use (e.g. m=32 with MR=6: the last 2-row panel).
template <int MRC, int NVC, int PS, int PV>
AVX512_TARGET void ukr_edge(int64_t kc, const float* __restrict Sp, const float* __restrict Vp,
                            float* __restrict C, int64_t rs_c, int64_t cs_c, int mr, int nr, float alpha,
                            float beta) {
  __m512 acc[MRC][NVC];
#pragma GCC unroll 16
  for (int r = 0; r < MRC; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NVC; ++v) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    __m512 b[NVC];
#pragma GCC unroll 8
    for (int v = 0; v < NVC; ++v) b[v] = _mm512_load_ps(Vp + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MRC; ++r) {
      const __m512 a = _mm512_set1_ps(Sp[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NVC; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    Sp += PS;
    Vp += PV;
  }
  store_tile<MRC, NVC>(acc, C, rs_c, cs_c, mr, nr, alpha, beta);
}

template <int MRC>
struct EdgeRow {
  static constexpr ukr_fn f[4] = {&ukr_edge<MRC, 1, 6, 64>, &ukr_edge<MRC, 2, 6, 64>, &ukr_edge<MRC, 3, 6, 64>,
                                  &ukr_edge<MRC, 4, 6, 64>};
};
const ukr_fn kEdge6x64[6][4] = {
    {EdgeRow<1>::f[0], EdgeRow<1>::f[1], EdgeRow<1>::f[2], EdgeRow<1>::f[3]},
    {EdgeRow<2>::f[0], EdgeRow<2>::f[1], EdgeRow<2>::f[2], EdgeRow<2>::f[3]},
    {EdgeRow<3>::f[0], EdgeRow<3>::f[1], EdgeRow<3>::f[2], EdgeRow<3>::f[3]},
    {EdgeRow<4>::f[0], EdgeRow<4>::f[1], EdgeRow<4>::f[2], EdgeRow<4>::f[3]},
    {EdgeRow<5>::f[0], EdgeRow<5>::f[1], EdgeRow<5>::f[2], EdgeRow<5>::f[3]},
    {EdgeRow<6>::f[0], EdgeRow<6>::f[1], EdgeRow<6>::f[2], EdgeRow<6>::f[3]},
};

// Hand-scheduled 6x64 micro-kernel: 24 zmm accumulators (zmm0-23), 4 zmm of V, 2 broadcast registers.
// (GCC's register allocation of the intrinsics template spills in this shape.)
AVX512_TARGET void ukr_avx512_6x64(int64_t kc, const float* __restrict Sp, const float* __restrict Vp,
                                   float* __restrict C, int64_t rs_c, int64_t cs_c, int mr, int nr,
                                   float alpha, float beta) {
  if (mr < 6 || nr <= 48) {
    kEdge6x64[mr - 1][(nr + 15) / 16 - 1](kc, Sp, Vp, C, rs_c, cs_c, mr, nr, alpha, beta);
    return;
  }
  if (cs_c == 1) {
    for (int r = 0; r < 6; ++r)
      if (r < mr) {
        _mm_prefetch((const char*)(C + r * rs_c), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + r * rs_c + 16), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + r * rs_c + 32), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + r * rs_c + 48), _MM_HINT_T0);
        _mm_prefetch((const char*)(C + r * rs_c + 63), _MM_HINT_T0);
      }
  }
  int64_t k4 = kc >> 2, k1 = kc & 3;
  const float* sp = Sp;
  const float* vp = Vp;
  alignas(64) __m512 acc[6][4];
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm1, %%zmm1, %%zmm1\n\t"
      "vpxord %%zmm2, %%zmm2, %%zmm2\n\t"
      "vpxord %%zmm3, %%zmm3, %%zmm3\n\t"
      "vpxord %%zmm4, %%zmm4, %%zmm4\n\t"
      "vpxord %%zmm5, %%zmm5, %%zmm5\n\t"
      "vpxord %%zmm6, %%zmm6, %%zmm6\n\t"
      "vpxord %%zmm7, %%zmm7, %%zmm7\n\t"
      "vpxord %%zmm8, %%zmm8, %%zmm8\n\t"
      "vpxord %%zmm9, %%zmm9, %%zmm9\n\t"
      "vpxord %%zmm10, %%zmm10, %%zmm10\n\t"
      "vpxord %%zmm11, %%zmm11, %%zmm11\n\t"
      "vpxord %%zmm12, %%zmm12, %%zmm12\n\t"
      "vpxord %%zmm13, %%zmm13, %%zmm13\n\t"
      "vpxord %%zmm14, %%zmm14, %%zmm14\n\t"
      "vpxord %%zmm15, %%zmm15, %%zmm15\n\t"
      "vpxord %%zmm16, %%zmm16, %%zmm16\n\t"
      "vpxord %%zmm17, %%zmm17, %%zmm17\n\t"
      "vpxord %%zmm18, %%zmm18, %%zmm18\n\t"
      "vpxord %%zmm19, %%zmm19, %%zmm19\n\t"
      "vpxord %%zmm20, %%zmm20, %%zmm20\n\t"
      "vpxord %%zmm21, %%zmm21, %%zmm21\n\t"
      "vpxord %%zmm22, %%zmm22, %%zmm22\n\t"
      "vpxord %%zmm23, %%zmm23, %%zmm23\n\t"
      "testq %[k4], %[k4]\n\t"
      "jz 3f\n\t"
      ".p2align 5\n\t"
      "1:\n\t"
      "prefetcht0 1024(%[vp])\n\t"
      "prefetcht0 1088(%[vp])\n\t"
      "vmovaps 0(%[vp]), %%zmm24\n\t"
      "vmovaps 64(%[vp]), %%zmm25\n\t"
      "vmovaps 128(%[vp]), %%zmm26\n\t"
      "vmovaps 192(%[vp]), %%zmm27\n\t"
      "vbroadcastss 0(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm0\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm1\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm2\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm3\n\t"
      "vbroadcastss 4(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm4\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm5\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm6\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm7\n\t"
      "vbroadcastss 8(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm8\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm9\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm10\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm11\n\t"
      "vbroadcastss 12(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm12\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm13\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm14\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm15\n\t"
      "vbroadcastss 16(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm16\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm17\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm18\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm19\n\t"
      "vbroadcastss 20(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm20\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm21\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm22\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm23\n\t"
      "prefetcht0 1152(%[vp])\n\t"
      "prefetcht0 1216(%[vp])\n\t"
      "vmovaps 256(%[vp]), %%zmm24\n\t"
      "vmovaps 320(%[vp]), %%zmm25\n\t"
      "vmovaps 384(%[vp]), %%zmm26\n\t"
      "vmovaps 448(%[vp]), %%zmm27\n\t"
      "vbroadcastss 24(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm0\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm1\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm2\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm3\n\t"
      "vbroadcastss 28(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm4\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm5\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm6\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm7\n\t"
      "vbroadcastss 32(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm8\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm9\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm10\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm11\n\t"
      "vbroadcastss 36(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm12\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm13\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm14\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm15\n\t"
      "vbroadcastss 40(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm16\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm17\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm18\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm19\n\t"
      "vbroadcastss 44(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm20\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm21\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm22\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm23\n\t"
      "prefetcht0 1280(%[vp])\n\t"
      "prefetcht0 1344(%[vp])\n\t"
      "vmovaps 512(%[vp]), %%zmm24\n\t"
      "vmovaps 576(%[vp]), %%zmm25\n\t"
      "vmovaps 640(%[vp]), %%zmm26\n\t"
      "vmovaps 704(%[vp]), %%zmm27\n\t"
      "vbroadcastss 48(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm0\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm1\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm2\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm3\n\t"
      "vbroadcastss 52(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm4\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm5\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm6\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm7\n\t"
      "vbroadcastss 56(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm8\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm9\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm10\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm11\n\t"
      "vbroadcastss 60(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm12\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm13\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm14\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm15\n\t"
      "vbroadcastss 64(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm16\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm17\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm18\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm19\n\t"
      "vbroadcastss 68(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm20\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm21\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm22\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm23\n\t"
      "prefetcht0 1408(%[vp])\n\t"
      "prefetcht0 1472(%[vp])\n\t"
      "vmovaps 768(%[vp]), %%zmm24\n\t"
      "vmovaps 832(%[vp]), %%zmm25\n\t"
      "vmovaps 896(%[vp]), %%zmm26\n\t"
      "vmovaps 960(%[vp]), %%zmm27\n\t"
      "vbroadcastss 72(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm0\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm1\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm2\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm3\n\t"
      "vbroadcastss 76(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm4\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm5\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm6\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm7\n\t"
      "vbroadcastss 80(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm8\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm9\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm10\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm11\n\t"
      "vbroadcastss 84(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm12\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm13\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm14\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm15\n\t"
      "vbroadcastss 88(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm16\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm17\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm18\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm19\n\t"
      "vbroadcastss 92(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm20\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm21\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm22\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm23\n\t"
      "addq $1024, %[vp]\n\t"
      "addq $96, %[sp]\n\t"
      "decq %[k4]\n\t"
      "jnz 1b\n\t"
      "3:\n\t"
      "testq %[k1], %[k1]\n\t"
      "jz 4f\n\t"
      "2:\n\t"
      "vmovaps 0(%[vp]), %%zmm24\n\t"
      "vmovaps 64(%[vp]), %%zmm25\n\t"
      "vmovaps 128(%[vp]), %%zmm26\n\t"
      "vmovaps 192(%[vp]), %%zmm27\n\t"
      "vbroadcastss 0(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm0\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm1\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm2\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm3\n\t"
      "vbroadcastss 4(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm4\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm5\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm6\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm7\n\t"
      "vbroadcastss 8(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm8\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm9\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm10\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm11\n\t"
      "vbroadcastss 12(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm12\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm13\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm14\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm15\n\t"
      "vbroadcastss 16(%[sp]), %%zmm28\n\t"
      "vfmadd231ps %%zmm24, %%zmm28, %%zmm16\n\t"
      "vfmadd231ps %%zmm25, %%zmm28, %%zmm17\n\t"
      "vfmadd231ps %%zmm26, %%zmm28, %%zmm18\n\t"
      "vfmadd231ps %%zmm27, %%zmm28, %%zmm19\n\t"
      "vbroadcastss 20(%[sp]), %%zmm29\n\t"
      "vfmadd231ps %%zmm24, %%zmm29, %%zmm20\n\t"
      "vfmadd231ps %%zmm25, %%zmm29, %%zmm21\n\t"
      "vfmadd231ps %%zmm26, %%zmm29, %%zmm22\n\t"
      "vfmadd231ps %%zmm27, %%zmm29, %%zmm23\n\t"
      "addq $256, %[vp]\n\t"
      "addq $24, %[sp]\n\t"
      "decq %[k1]\n\t"
      "jnz 2b\n\t"
      "4:\n\t"
      "vmovaps %%zmm0, 0(%[acc])\n\t"
      "vmovaps %%zmm1, 64(%[acc])\n\t"
      "vmovaps %%zmm2, 128(%[acc])\n\t"
      "vmovaps %%zmm3, 192(%[acc])\n\t"
      "vmovaps %%zmm4, 256(%[acc])\n\t"
      "vmovaps %%zmm5, 320(%[acc])\n\t"
      "vmovaps %%zmm6, 384(%[acc])\n\t"
      "vmovaps %%zmm7, 448(%[acc])\n\t"
      "vmovaps %%zmm8, 512(%[acc])\n\t"
      "vmovaps %%zmm9, 576(%[acc])\n\t"
      "vmovaps %%zmm10, 640(%[acc])\n\t"
      "vmovaps %%zmm11, 704(%[acc])\n\t"
      "vmovaps %%zmm12, 768(%[acc])\n\t"
      "vmovaps %%zmm13, 832(%[acc])\n\t"
      "vmovaps %%zmm14, 896(%[acc])\n\t"
      "vmovaps %%zmm15, 960(%[acc])\n\t"
      "vmovaps %%zmm16, 1024(%[acc])\n\t"
      "vmovaps %%zmm17, 1088(%[acc])\n\t"
      "vmovaps %%zmm18, 1152(%[acc])\n\t"
      "vmovaps %%zmm19, 1216(%[acc])\n\t"
      "vmovaps %%zmm20, 1280(%[acc])\n\t"
      "vmovaps %%zmm21, 1344(%[acc])\n\t"
      "vmovaps %%zmm22, 1408(%[acc])\n\t"
      "vmovaps %%zmm23, 1472(%[acc])\n\t"
      : [sp] "+r"(sp), [vp] "+r"(vp), [k4] "+r"(k4), [k1] "+r"(k1)
      : [acc] "r"(&acc[0][0])
      : "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "cc", "memory");
  store_tile<6, 4>(acc, C, rs_c, cs_c, mr, nr, alpha, beta);
}


// Packs 6 rows contiguous along k (sp == 1) into one 6-wide panel: dst[p*6 + x] = row_x[p].
// Per 16 values of p: 6 loads, 6 vpermt2ps pairing rows (01, 23, 45) into 64-bit pairs, then per
// output vector one vpermt2pd and one masked vpermpd (3 pair sources), 6 stores. The generic 16x16
// transpose did 16 loads (10 of zero rows), 64 shuffles and 16 masked stores (512x512: 40 -> 26 us).
struct Pack6Idx {
  __m512i lo, hi, ab[3], c[3];
};
alignas(64) const int32_t kPack6Lo[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
alignas(64) const int32_t kPack6Hi[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
// Output double q of vector j (e = 8j + q = 3p + s) is pair s of p. kPack6Ab picks pair A (s = 0, p)
// or B (s = 1, 8 + p); the masked permute (kPack6Mask) then takes pair C (s = 2, kPack6C).
alignas(64) const int64_t kPack6Ab[3][8] = {{0, 8, 0, 1, 9, 1, 2, 10}, {2, 3, 11, 3, 4, 12, 4, 5},
                                            {13, 5, 6, 14, 6, 7, 15, 7}};
alignas(64) const int64_t kPack6C[3][8] = {{0, 0, 0, 0, 0, 1, 0, 0}, {2, 0, 0, 3, 0, 0, 4, 0},
                                           {0, 5, 0, 0, 6, 0, 0, 7}};
const __mmask8 kPack6Mask[3] = {0x24, 0x49, 0x92};

// 16 (or, masked by lm, fewer) values of p from the 6 rows r[0..rows) -> nout floats at out.
AVX512_TARGET inline void pack6_block(const Pack6Idx& ix, const float* const* r, int64_t rows, __mmask16 lm,
                                      float* out, int64_t nout) {
  __m512 v[6];
  for (int i = 0; i < 6; ++i) v[i] = i < rows ? _mm512_maskz_loadu_ps(lm, r[i]) : _mm512_setzero_ps();
  __m512d h[2][3];
  for (int pr = 0; pr < 3; ++pr) {
    h[0][pr] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * pr], ix.lo, v[2 * pr + 1]));
    h[1][pr] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * pr], ix.hi, v[2 * pr + 1]));
  }
  for (int j = 0; j < 6; ++j) {
    const __m512d* hh = h[j / 3];
    const __m512d ab = _mm512_permutex2var_pd(hh[0], ix.ab[j % 3], hh[1]);
    const __m512 o = _mm512_castpd_ps(_mm512_mask_permutexvar_pd(ab, kPack6Mask[j % 3], ix.c[j % 3], hh[2]));
    if (nout >= 16 * (j + 1))
      _mm512_storeu_ps(out + 16 * j, o);
    else if (nout > 16 * j)
      _mm512_mask_storeu_ps(out + 16 * j, lane_mask(nout - 16 * j), o);
  }
}

AVX512_TARGET void pack6_rows(int64_t rows, int64_t kc, const float* src, int64_t sx, float* d) {
  Pack6Idx ix;
  ix.lo = _mm512_load_si512(kPack6Lo);
  ix.hi = _mm512_load_si512(kPack6Hi);
  for (int j = 0; j < 3; ++j) {
    ix.ab[j] = _mm512_load_si512(kPack6Ab[j]);
    ix.c[j] = _mm512_load_si512(kPack6C[j]);
  }
  const float* r[6];
  for (int i = 0; i < 6; ++i) r[i] = src + (i < rows ? i : 0) * sx;
  int64_t p0 = 0;
  for (; p0 + 16 <= kc; p0 += 16) {
    const float* rp[6];
    for (int i = 0; i < 6; ++i) {
      rp[i] = r[i] + p0;
      _mm_prefetch((const char*)(rp[i] + AVGK_PACK_PFD), _MM_HINT_T0);
    }
    pack6_block(ix, rp, rows, 0xFFFF, d + p0 * 6, 96);
  }
  if (p0 < kc) {
    const float* rp[6];
    for (int i = 0; i < 6; ++i) rp[i] = r[i] + p0;
    pack6_block(ix, rp, rows, lane_mask(kc - p0), d + p0 * 6, 6 * (kc - p0));
  }
}

AVX512_TARGET void pack_avx512(int W, int64_t nx, int64_t kc, const float* src, int64_t sx, int64_t sp,
                               float* dst) {
  const int64_t npan = (nx + W - 1) / W;
  if (sx == 1) {
    // Contiguous along the panel width: row by row over all panels (long in-page runs), with software
    // prefetch PD rows ahead (rows are usually on different pages: the HW prefetcher can't follow).
    constexpr int64_t PD = 12;
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = src + p * sp;
      if (p + PD < kc) {
        const float* pf = s + PD * sp;
        for (int64_t x = 0; x < nx; x += 16) _mm_prefetch((const char*)(pf + x), _MM_HINT_T0);
        _mm_prefetch((const char*)(pf + nx - 1), _MM_HINT_T0);
      }
      for (int64_t pan = 0; pan < npan; ++pan) {
        const int64_t x0 = pan * W;
        const int64_t nvalid = nx - x0 < W ? nx - x0 : W;
        float* dp = dst + pan * W * kc + p * W;
        if (nvalid == W && (W & 15) == 0) {
          for (int c = 0; c < W; c += 16) _mm512_store_ps(dp + c, _mm512_loadu_ps(s + x0 + c));
        } else {
          for (int c = 0; c < W; c += 16) {
            const __m512 v = _mm512_maskz_loadu_ps(lane_mask(nvalid - c), s + x0 + c);
            _mm512_mask_storeu_ps(dp + c, lane_mask(W - c), v);
          }
        }
      }
    }
    return;
  }
  for (int64_t pan = 0; pan < npan; ++pan) {
    const int64_t x0 = pan * W;
    const int64_t nvalid = nx - x0 < W ? nx - x0 : W;
    float* d = dst + pan * W * kc;
    const float* s0 = src + x0 * sx;
    if (sp == 1 && W == 6) {
      pack6_rows(nvalid, kc, s0, sx, d);
    } else if (sp == 1) {
      // Contiguous along k: 16x16 in-register transposes.
      for (int rg = 0; rg < W; rg += 16) {
        const int64_t rows = nvalid - rg > 16 ? 16 : nvalid - rg;
        const __mmask16 wm = lane_mask(W - rg);
        if (rows <= 0) {
          for (int64_t p = 0; p < kc; ++p) _mm512_mask_storeu_ps(d + p * W + rg, wm, _mm512_setzero_ps());
          continue;
        }
        const float* sr = s0 + rg * sx;
        int64_t p0 = 0;
        for (; p0 + 16 <= kc; p0 += 16) {
          __m512 r[16];
          for (int i = 0; i < 16; ++i) {
            if (i < rows) {
              _mm_prefetch((const char*)(sr + i * sx + p0 + AVGK_PACK_PFD), _MM_HINT_T0);
              r[i] = _mm512_loadu_ps(sr + i * sx + p0);
            } else {
              r[i] = _mm512_setzero_ps();
            }
          }
          transpose16(r);
          if (W - rg >= 16) {
            for (int j = 0; j < 16; ++j) _mm512_storeu_ps(d + (p0 + j) * W + rg, r[j]);
          } else {
            for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(d + (p0 + j) * W + rg, wm, r[j]);
          }
        }
        if (p0 < kc) {
          const int64_t pl = kc - p0;
          const __mmask16 m = lane_mask(pl);
          __m512 r[16];
          for (int i = 0; i < 16; ++i)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(m, sr + i * sx + p0) : _mm512_setzero_ps();
          transpose16(r);
          for (int j = 0; j < pl; ++j) _mm512_mask_storeu_ps(d + (p0 + j) * W + rg, wm, r[j]);
        }
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* dp = d + p * W;
        int64_t x = 0;
        for (; x < nvalid; ++x) dp[x] = s0[x * sx + p * sp];
        for (; x < W; ++x) dp[x] = 0.f;
      }
    }
  }
}

}  // namespace

bool get_kernel_avx512(KernelInfo* out) {
  if (!isa_at_least(Isa::kAvx512)) return false;
  namespace B = gemm_blocking;
  *out = KernelInfo{"avx512", B::AVX512_MR, B::AVX512_NR, B::AVX512_KC, B::AVX512_MC, B::AVX512_NC, 16,
                    &ukr_avx512<B::AVX512_MR, B::AVX512_NR / 16>, &pack_avx512};
  if (B::AVX512_MR == 6 && B::AVX512_NR == 64) out->ukr = &ukr_avx512_6x64;
  out->small = &small_gemm_avx512;
  return true;
}

#ifdef AVGK_GEMM_TUNING
bool get_kernel_avx512_tile(KernelInfo* out, int mr, int nr, int kc, int mc, int nc) {
  if (!isa_at_least(Isa::kAvx512)) return false;
  ukr_fn f = nullptr;
  if (mr == 6 && nr == 64) f = &ukr_avx512_6x64;
  if (mr == 6 && nr == -64) { f = &ukr_avx512<6, 4>; nr = 64; }  // the generic 6x64 template
  if (mr == 8 && nr == 48) f = &ukr_avx512<8, 3>;
  if (mr == 12 && nr == 32) f = &ukr_avx512<12, 2>;
  if (mr == 14 && nr == 32) f = &ukr_avx512<14, 2>;
  if (mr == 4 && nr == 96) f = &ukr_avx512<4, 6>;
  if (mr == 7 && nr == 64) f = &ukr_avx512<7, 4>;
  if (mr == 24 && nr == 16) f = &ukr_avx512<24, 1>;
  if (!f) return false;
  *out = KernelInfo{"avx512-tune", mr, nr, kc, mc, nc / mr * mr, nr, f, &pack_avx512};
  return true;
}
#endif

#else
bool get_kernel_avx512(KernelInfo*) { return false; }
#ifdef AVGK_GEMM_TUNING
bool get_kernel_avx512_tile(KernelInfo*, int, int, int, int, int) { return false; }
#endif
#endif

}  // namespace gemm_detail
}  // namespace avgk
