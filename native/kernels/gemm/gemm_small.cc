// Small-SGEMM path (AVX-512): for problems too small to amortise the blocked driver's packing, block
// loops and thread start-up (the classifier heads: m=128 k=64 n=10 and friends). One matrix is
// computed by one thread; nothing of A is packed, B at most once per matrix. Compiled WITHOUT -march
// flags: every function carries its own target attribute and is only reached through the kernel
// table of get_kernel_avx512() (gemm_kernel_avx512.cc), i.e. at level kAvx512 (cpu_features.h).
//
// Three plans, picked per call by a rough cost model (small_gemm_avx512 at the end):
//   N  (S/V form of the main driver, S = A, V = B): C(s, v) += S(s, p) * V(p, v) with V in zmm
//      vectors along the rows of C (16 columns each, masked at the edge) and S broadcast one scalar
//      at a time straight from memory through its strides. V is read in place when contiguous along
//      its vector dimension, else packed (k x ceil16(nv), 16x16 transposes when contiguous along k).
//   T  the same on C^T (S = B^T, V = A^T): vectors along the columns of C, for small n and larger m;
//      the tile is written back element by element.
//   G  grouped-k, for A rows contiguous along k and n far from a multiple of 16 (the head's x W^T,
//      n = 10): a vector holds 16/KK columns x KK consecutive k; see grp_tile.
// Every element of C is computed in a fixed order that depends on the shape, the strides and the
// plan only (never on the thread count): N and T run one FMA chain over p = 0..k-1 and then store
// C = alpha*acc (beta == 0: C is never read) or C = beta*C + alpha*acc, exactly like the blocked
// driver's micro-kernels for k <= KC; G sums KK interleaved chains at the end.
#include "../simd.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "../tuning.h"
#include "blocking.h"
#include "gemm_internal.h"
#include "avx512_transpose.h"

// GCC 12 false positive inside _mm512_undefined_ps() (used by shuffle intrinsics).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if defined(__x86_64__) || defined(__i386__)
#define AVGK_SMALL_X86 1
#define SMALL_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#endif

namespace avgk {
namespace gemm_detail {

#ifdef AVGK_SMALL_X86

namespace {

namespace B = gemm_blocking;

SMALL_TARGET inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}


// One tile: C(r, v) for r < MR (all rows valid), v < nr (<= 16*NV), over the full k.
//   S(r, p) = S[r*rsS + p*csS] (SU: rsS == 1, rows at immediate offsets);
//   V(p, v) = V[p*ldv + v] (unit stride along v);
//   C(r, v) = C[r*rsC + v] (CN) or C[r + v*csC] (transposed store; rsC == 1).
struct TileArgs {
  const float* S;
  int64_t rsS, csS;
  const float* V;
  int64_t ldv;
  float* C;
  int64_t rsC, csC;
  int64_t k;
  int nr;
  float alpha, beta;
};
using tile_fn = void (*)(const TileArgs&);

template <int MR, int NV, bool SU, bool CN>
SMALL_TARGET void tile(const TileArgs& t) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  __mmask16 mk[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mk[v] = lanes(t.nr - 16 * v);

  const float* __restrict s = t.S;
  const float* __restrict vp = t.V;
  const int64_t rsS = SU ? 1 : t.rsS, csS = t.csS, ldv = t.ldv;
  int64_t rofs[MR];  // row offsets of S (loop invariant; constant when SU)
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) rofs[r] = r * rsS;
#pragma GCC unroll 2
  for (int64_t p = 0; p < t.k; ++p) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (v + 1 < NV)
        b[v] = _mm512_loadu_ps(vp + 16 * v);
      else
        b[v] = _mm512_maskz_loadu_ps(mk[v], vp + 16 * v);
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(s[rofs[r]]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
    s += csS;
    vp += ldv;
  }

  const __m512 va = _mm512_set1_ps(t.alpha);
  const __m512 vb = _mm512_set1_ps(t.beta);
  const bool b0 = t.beta == 0.f;
  if (CN) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      float* c = t.C + r * t.rsC;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m512 x = _mm512_mul_ps(va, acc[r][v]);
        if (b0) {
          _mm512_mask_storeu_ps(c + 16 * v, mk[v], x);
        } else {
          const __m512 old = _mm512_maskz_loadu_ps(mk[v], c + 16 * v);
          _mm512_mask_storeu_ps(c + 16 * v, mk[v], _mm512_fmadd_ps(vb, old, x));
        }
      }
    }
  } else {
    // C(r, v) at C[r + v*csC] (r contiguous, v strided): through a stack tile, element by element.
    alignas(64) float tmp[MR][16 * NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_store_ps(&tmp[r][16 * v], _mm512_mul_ps(va, acc[r][v]));
    for (int j = 0; j < t.nr; ++j) {
      float* c = t.C + j * t.csC;
      if (b0) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) c[r] = tmp[r][j];
      } else {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) c[r] = t.beta * c[r] + tmp[r][j];
      }
    }
  }
}

// Largest MR per NV (registers: MR*NV accumulators + NV operand vectors <= 32 zmm; rows of S at
// general strides keep one offset register each).
constexpr int kMaxMR[5] = {0, 12, 12, 8, 6};

template <int NV, bool SU, bool CN>
struct TileTable {
  template <int... I>
  static constexpr auto make(std::integer_sequence<int, I...>) {
    return std::array<tile_fn, sizeof...(I)>{&tile<I + 1, NV, SU, CN>...};
  }
  static constexpr auto fns = make(std::make_integer_sequence<int, kMaxMR[NV]>());
};

template <bool SU, bool CN>
tile_fn pick_tile(int mr, int nv) {
  switch (nv) {
    case 1: return TileTable<1, SU, CN>::fns[mr - 1];
    case 2: return TileTable<2, SU, CN>::fns[mr - 1];
    case 3: return TileTable<3, SU, CN>::fns[mr - 1];
    default: return TileTable<4, SU, CN>::fns[mr - 1];
  }
}

// ---- Grouped-k tiles, for A rows contiguous along k and n not a multiple of 16 (e.g. the head's
// x W^T, n = 10). The 16 lanes of a vector hold J = 16/KK columns x KK consecutive k (KK = 2, 4, 8),
// so columns are padded to a multiple of J instead of 16 (n = 10, KK = 4: 12 instead of 16). A is
// read as KK-float groups broadcast to every J-block; B is packed once per matrix into
//   Bg[((s*ng + g)*J + jj)*KK + kk] = B(s*KK + kk, g*J + jj)   (zero padded);
// after the k loop a short transpose-and-add per KK rows x 1 group sums the KK k-lanes of each
// column and leaves lane rr*J + jj = C(i0 + rr, g*J + jj).
struct GrpArgs {
  const float* A;  // A(i, p) = A[i*lda + p]
  int64_t lda;
  const float* Bg;  // packed B of this segment, from its first group of the tile
  int64_t ng;       // groups in the segment (packed stride per k-group: ng*16 floats)
  float* C;         // C(i, j) = C[i*rsC + j], at the tile's first row and column
  int64_t rsC;
  int64_t k;
  int rv, jv;  // valid rows (<= R) and columns (<= J*NG) of this tile
  float alpha, beta;
};
using grp_fn = void (*)(const GrpArgs&);

// KK consecutive floats of A broadcast to every KK-block; `tail` (< KK): only the first tail.
template <int KK>
SMALL_TARGET inline __m512 bcast_group(const float* p) {
  if constexpr (KK == 1) return _mm512_set1_ps(*p);
  if constexpr (KK == 2) {
    double d;
    __builtin_memcpy(&d, p, sizeof d);
    return _mm512_castpd_ps(_mm512_set1_pd(d));
  }
  if constexpr (KK == 4) return _mm512_broadcast_f32x4(_mm_loadu_ps(p));
  return _mm512_broadcast_f32x8(_mm256_loadu_ps(p));
}
template <int KK>
SMALL_TARGET inline __m512 bcast_group_tail(const float* p, int tail) {
  const __mmask8 m = (__mmask8)((1u << tail) - 1);
  if constexpr (KK == 2) return _mm512_castpd_ps(_mm512_broadcastsd_pd(_mm_castps_pd(_mm_maskz_loadu_ps(m, p))));
  if constexpr (KK == 4) return _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(m, p));
  return _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(m, p));
}

// Sums the KK k-lanes of KK accumulators x[0..KK) (rows rr) into lane rr*J + jj.
template <int KK>
SMALL_TARGET inline __m512 reduce_group(const __m512* x[KK]) {
  if constexpr (KK == 1) return *x[0];
  if constexpr (KK == 2) {
    // per 128-bit block b: [(0, 2b), (0, 2b+1), (1, 2b), (1, 2b+1)]
    const __m512 u = _mm512_add_ps(_mm512_shuffle_ps(*x[0], *x[1], 0x88), _mm512_shuffle_ps(*x[0], *x[1], 0xDD));
    const __m512i idx = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    return _mm512_permutexvar_ps(idx, u);
  }
  if constexpr (KK == 4) {
    // per 128-bit block jj: rows 0..3
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(*x[0], *x[1]), _mm512_unpackhi_ps(*x[0], *x[1]));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(*x[2], *x[3]), _mm512_unpackhi_ps(*x[2], *x[3]));
    const __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44), _mm512_shuffle_ps(t0, t1, 0xEE));
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, u);
  }
  // KK == 8: block (rr/4)*2 + jj holds rows 4*(rr/4) .. +3
  __m512 t[4], u[2];
  for (int i = 0; i < 4; ++i)
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(*x[2 * i], *x[2 * i + 1]), _mm512_unpackhi_ps(*x[2 * i], *x[2 * i + 1]));
  for (int i = 0; i < 2; ++i)
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0x44), _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0xEE));
  const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
  const __m512i idx = _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  return _mm512_permutexvar_ps(idx, w);
}

template <int KK, int R, int NG>
SMALL_TARGET void grp_tile(const GrpArgs& d) {
  static_assert(R % KK == 0, "rows are reduced in groups of KK");
  constexpr int J = 16 / KK;
  const float* ar[R];
  // Rows past the valid ones repeat the last valid one (computed, never stored).
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) ar[r] = d.A + (r < d.rv ? r : d.rv - 1) * d.lda;
  __m512 acc[R][NG];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_setzero_ps();
  const int64_t kg = d.k / KK, bstep = d.ng * 16;
  const float* __restrict bg = d.Bg;
  int64_t p = 0;
  for (int64_t st = 0; st < kg; ++st, p += KK, bg += bstep) {
    __m512 b[NG];
#pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) b[g] = _mm512_load_ps(bg + 16 * g);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = bcast_group<KK>(ar[r] + p);
#pragma GCC unroll 4
      for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_fmadd_ps(a, b[g], acc[r][g]);
    }
  }
  if (KK > 1 && p < d.k) {  // last 1..KK-1 k: masked loads (B is zero padded)
    const int tail = (int)(d.k - p);
    __m512 b[NG];
#pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) b[g] = _mm512_load_ps(bg + 16 * g);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = bcast_group_tail<KK>(ar[r] + p, tail);
#pragma GCC unroll 4
      for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_fmadd_ps(a, b[g], acc[r][g]);
    }
  }
  const __m512 va = _mm512_set1_ps(d.alpha), vb = _mm512_set1_ps(d.beta);
#pragma GCC unroll 8
  for (int r0 = 0; r0 < R; r0 += KK) {
    if (r0 >= d.rv) break;
#pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) {
      const int cols = d.jv - J * g;
      if (cols <= 0) break;
      const __m512* x[KK];
#pragma GCC unroll 8
      for (int rr = 0; rr < KK; ++rr) x[rr] = &acc[r0 + rr][g];
      const __m512 y = _mm512_mul_ps(va, reduce_group<KK>(x));
      const unsigned cm = cols >= J ? (J == 16 ? 0xFFFFu : (1u << J) - 1) : (1u << cols) - 1;
#pragma GCC unroll 8
      for (int rr = 0; rr < KK; ++rr) {
        const int r = r0 + rr;
        if (r >= d.rv) break;
        // Lane rr*J + jj goes to C(r, g*J + jj): a masked access based rr*J floats before it.
        float* base = reinterpret_cast<float*>(reinterpret_cast<uintptr_t>(d.C + r * d.rsC + J * g) -
                                               sizeof(float) * J * rr);
        const __mmask16 m = (__mmask16)(cm << (J * rr));
        if (d.beta == 0.f) {
          _mm512_mask_storeu_ps(base, m, y);
        } else {
          const __m512 old = _mm512_maskz_loadu_ps(m, base);
          _mm512_mask_storeu_ps(base, m, _mm512_fmadd_ps(vb, old, y));
        }
      }
    }
  }
}

// [KK: 2, 4, 8][R: 8, 4 (KK = 8: 8)][NG - 1]
constexpr grp_fn kGrp[3][2][3] = {
    {{&grp_tile<2, 8, 1>, &grp_tile<2, 8, 2>, &grp_tile<2, 8, 3>}, {&grp_tile<2, 4, 1>, &grp_tile<2, 4, 2>, &grp_tile<2, 4, 3>}},
    {{&grp_tile<4, 8, 1>, &grp_tile<4, 8, 2>, &grp_tile<4, 8, 3>}, {&grp_tile<4, 4, 1>, &grp_tile<4, 4, 2>, &grp_tile<4, 4, 3>}},
    {{&grp_tile<8, 8, 1>, &grp_tile<8, 8, 2>, &grp_tile<8, 8, 3>}, {&grp_tile<8, 8, 1>, &grp_tile<8, 8, 2>, &grp_tile<8, 8, 3>}},
};

// Bg (see above) from B(p, j) = B[p*rsB + j*csB], ng groups of J = 16/KK columns (columns >= n and
// k >= the last group's end: zero).
SMALL_TARGET void pack_groups(int KK, int64_t k, int64_t n, int64_t ng, const float* B, int64_t rsB, int64_t csB,
                              float* dst) {
  const int J = 16 / KK;
  const int64_t kg = (k + KK - 1) / KK, ncol = ng * J;
  if (rsB == 1) {  // columns of B contiguous along k: KK-float copies
    const __mmask8 full = (__mmask8)((1u << KK) - 1);
    for (int64_t c = 0; c < ncol; ++c) {
      const int64_t j = c;
      const float* src = B + j * csB;
      float* d = dst + (c / J) * 16 + (c % J) * KK;  // + st*ng*16
      for (int64_t st = 0; st < kg; ++st) {
        const int64_t p = st * KK;
        __m256 v = _mm256_setzero_ps();
        if (j < n) v = _mm256_maskz_loadu_ps(p + KK <= k ? full : (__mmask8)((1u << (k - p)) - 1), src + p);
        _mm256_mask_storeu_ps(d + st * ng * 16, full, v);
      }
    }
    return;
  }
  for (int64_t st = 0; st < kg; ++st) {
    const int64_t kv = std::min<int64_t>(KK, k - st * KK);
    const float* src = B + st * KK * rsB;
    float* d = dst + st * ng * 16;
    for (int64_t g = 0; g < ng; ++g)
      for (int jj = 0; jj < J; ++jj, d += KK) {
        const int64_t j = g * J + jj;
        int kk = 0;
        if (j < n)
          for (; kk < kv; ++kk) d[kk] = src[kk * rsB + j * csB];
        for (; kk < KK; ++kk) d[kk] = 0.f;
      }
  }
}

// Packs V(p, v) = src[p*sp + v*sv] (p < k, v < nv) into dst[p*ld + v], ld = 16*ceil(nv/16), zero
// padded. sp == 1 (V stored transposed, the usual case): 16x16 in-register transposes.
SMALL_TARGET void pack_v(int64_t k, int64_t nv, const float* src, int64_t sp, int64_t sv, float* dst,
                         int64_t ld) {
  if (sp == 1) {
    for (int64_t v0 = 0; v0 < nv; v0 += 16) {
      const int64_t rows = std::min<int64_t>(16, nv - v0);
      for (int64_t p0 = 0; p0 < k; p0 += 16) {
        const int64_t pl = std::min<int64_t>(16, k - p0);
        const __mmask16 m = lanes(pl);
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + (v0 + i) * sv + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < pl; ++j) _mm512_store_ps(dst + (p0 + j) * ld + v0, r[j]);
      }
    }
    return;
  }
  for (int64_t p = 0; p < k; ++p) {
    float* d = dst + p * ld;
    const float* s = src + p * sp;
    int64_t v = 0;
    for (; v < nv; ++v) d[v] = s[v * sv];
    for (; v < ld; ++v) d[v] = 0.f;
  }
}

thread_local AlignedBuf t_pack;  // the packed V (gemm_internal.h)

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// S/V tile plan: column blocks of NVb <= 4 vectors (balanced), row tiles of <= kMaxMR[NVb] rows
// (balanced), and its estimated cost.
struct SvPlan {
  int64_t nvec, nblk, ntile;
  double cost;
};
SvPlan plan_sv(bool trans, int64_t m, int64_t n, int64_t k, double packCost, double storeCost) {
  const int64_t ms = trans ? n : m, nv = trans ? m : n;
  SvPlan p;
  p.nvec = cdiv(nv, 16);
  p.nblk = cdiv(p.nvec, 4);
  const int NVb = (int)cdiv(p.nvec, p.nblk);
  p.ntile = cdiv(ms, kMaxMR[NVb]);
  const int64_t mr = cdiv(ms, p.ntile);
  const double eff = NVb == 1 ? 0.7 : 0.9;  // one vector per row: one load per FMA, spilled row offsets
  const double tile = std::max((double)mr * NVb * k / (2 * eff), 4.0 * k) + 20;
  p.cost = (double)p.nblk * p.ntile * tile + packCost + storeCost;
  return p;
}

// Grouped-k plan: one KK (2, 4 or 8) for all columns, groups of 16/KK columns in blocks of <= 3
// (balanced), row tiles of 8 rows. (Mixing KK across columns, e.g. 8 + 2 for n = 10, is slower:
// one-group tiles re-broadcast A for every FMA.)
struct GrpPlan {
  int KK = 4;
  int64_t ng = 0;  // column groups
  double packFloats = 0, cost = 1e300;
};
GrpPlan plan_groups(int64_t m, int64_t n, int64_t k, double packPerFloat, int onlyKK = 0) {
  GrpPlan best;
  for (int KK : {2, 4, 8}) {
    if (onlyKK && KK != onlyKK) continue;
    GrpPlan p;
    p.KK = KK;
    p.ng = cdiv(n, 16 / KK);
    const int64_t kg = cdiv(k, KK), nblk = cdiv(p.ng, 3), ngb = cdiv(p.ng, nblk);
    const double eff = ngb == 1 ? 0.65 : ngb == 2 ? 0.8 : 0.85;  // A broadcast shared by ngb FMAs
    const double tile = std::max(8.0 * ngb * kg / (2 * eff), 4.0 * kg) + 20;
    const double reduce = KK == 2 ? 4 : KK == 4 ? 8 : 16;  // cycles per reduced vector
    p.packFloats = (double)kg * p.ng * 16;
    p.cost = (double)nblk * cdiv(m, 8) * tile + reduce * cdiv(m, KK) * p.ng + p.packFloats * packPerFloat;
    if (p.cost < best.cost) best = p;
  }
  return best;
}

}  // namespace

bool small_gemm_avx512(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                       int64_t rsA, int64_t csA, int64_t bsA, const float* Bm, int64_t rsB, int64_t csB,
                       int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC) {
  // Pick the cheapest of three plans by a rough cost model (cycles, calibrated on Zen 5): per
  // tile, FMAs at 2 per cycle and a tile-shape efficiency, but at least the 4-cycle latency of its
  // k-long FMA chains; plus packing and (orientation T) the element-wise stores.
  const SvPlan pn = plan_sv(false, m, n, k, csB == 1 ? 0.0 : (double)k * n * (rsB == 1 ? 0.2 : 1.0), 0.0);
  const SvPlan pt = plan_sv(true, m, n, k, rsA == 1 ? 0.0 : (double)k * m * (csA == 1 ? 0.2 : 1.0), (double)m * n);
  GrpPlan pg = plan_groups(m, n, k, rsB == 1 ? 0.3 : 1.0);
  int which = pt.cost < pn.cost ? 1 : 0;  // 0: N, 1: T, 2: grouped-k
  if (csA == 1 && pg.cost < std::min(pn.cost, pt.cost) && pg.packFloats <= B::SMALL_MAX_PACK) which = 2;
  // Tests and benchmarks may force a plan (tuning.h; grouped-k only when A's rows are contiguous along k).
  using tuning::SmallPlan;
  const SmallPlan force = tuning::gemm_small_plan;
  if (force == SmallPlan::kN) which = 0;
  if (force == SmallPlan::kT) which = 1;
  if ((force == SmallPlan::kG2 || force == SmallPlan::kG4 || force == SmallPlan::kG8) && csA == 1) {
    pg = plan_groups(m, n, k, 0.0, force == SmallPlan::kG2 ? 2 : force == SmallPlan::kG4 ? 4 : 8);
    if (pg.packFloats <= B::SMALL_MAX_PACK) which = 2;
  }

  if (which == 2) {
    float* bg = t_pack.get((size_t)pg.packFloats);
    if (!bg) return false;
    const int KK = pg.KK, J = 16 / KK;
    const int64_t ng = pg.ng, nblk = cdiv(ng, 3);
    GrpArgs d;
    d.lda = rsA;
    d.ng = ng;
    d.rsC = rsC;
    d.k = k;
    d.alpha = alpha;
    d.beta = beta;
    for (int64_t t = 0; t < batch; ++t) {
      if (t == 0 || bsB != 0) pack_groups(KK, k, n, ng, Bm + t * bsB, rsB, csB, bg);
      for (int64_t gb = 0; gb < nblk; ++gb) {
        const int64_t g0 = gb * ng / nblk, g1 = (gb + 1) * ng / nblk;  // balanced blocks of <= 3 groups
        d.Bg = bg + g0 * 16;
        d.jv = (int)(std::min(n, g1 * J) - g0 * J);
        for (int64_t i0 = 0; i0 < m; i0 += 8) {
          d.rv = (int)std::min<int64_t>(8, m - i0);
          d.A = A + t * bsA + i0 * rsA;
          d.C = C + t * bsC + i0 * rsC + g0 * J;
          kGrp[KK == 2 ? 0 : KK == 4 ? 1 : 2][d.rv > 4 ? 0 : 1][g1 - g0 - 1](d);
        }
      }
    }
    return true;
  }
  const bool trans = which == 1;
  const SvPlan& pl = trans ? pt : pn;

  const SvForm f = sv_form(trans, m, n, A, rsA, csA, bsA, Bm, rsB, csB, bsB, rsC);
  const int64_t ms = f.ms, nv = f.nv, rsS = f.rsS, csS = f.csS, bsS = f.bsS, rsV = f.rsV, csV = f.csV,
                bsV = f.bsV, rsCt = f.rsC, csCt = f.csC;
  const float *S = f.S, *V = f.V;
  const bool pack = csV != 1;
  const int64_t ld = cdiv(nv, 16) * 16;
  float* buf = nullptr;
  if (pack) {
    if ((double)k * ld > (double)B::SMALL_MAX_PACK) return false;
    buf = t_pack.get((size_t)(k * ld));
    if (!buf) return false;  // let the main path try (and report out of memory)
  }

  const int64_t nvec = pl.nvec, nblk = pl.nblk, ntile = pl.ntile;
  const bool su = rsS == 1;

  TileArgs ta;
  ta.csS = csS;
  ta.rsS = rsS;
  ta.rsC = rsCt;
  ta.csC = csCt;
  ta.k = k;
  ta.alpha = alpha;
  ta.beta = beta;
  for (int64_t t = 0; t < batch; ++t) {
    const float* St = S + t * bsS;
    const float* Vt = V + t * bsV;
    float* Ct = C + t * bsC;
    int64_t ldv = rsV;
    if (pack) {
      if (t == 0 || bsV != 0) pack_v(k, nv, Vt, rsV, csV, buf, ld);
      Vt = buf;
      ldv = ld;
    }
    ta.ldv = ldv;
    for (int64_t v0 = 0, vb = 0; v0 < nv; ++vb) {
      // block vb covers vectors [vb*nvec/nblk, (vb+1)*nvec/nblk)
      const int64_t e = std::min(nv, ((vb + 1) * nvec / nblk) * 16);
      const int nvv = (int)cdiv(e - v0, 16);
      ta.V = Vt + v0;
      ta.nr = (int)(e - v0);
      for (int64_t it = 0; it < ntile; ++it) {
        const int64_t s0 = it * ms / ntile, s1 = (it + 1) * ms / ntile;
        const int mr = (int)(s1 - s0);
        if (mr <= 0) continue;
        ta.S = St + s0 * rsS;
        ta.C = Ct + s0 * rsCt + v0 * csCt;
        tile_fn f = trans ? (su ? pick_tile<true, false>(mr, nvv) : pick_tile<false, false>(mr, nvv))
                          : (su ? pick_tile<true, true>(mr, nvv) : pick_tile<false, true>(mr, nvv));
        f(ta);
      }
      v0 = e;
    }
  }
  return true;
}

#else
bool small_gemm_avx512(int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, int64_t,
                       const float*, int64_t, int64_t, int64_t, float, float*, int64_t, int64_t) {
  return false;
}
#endif

}  // namespace gemm_detail
}  // namespace avgk
