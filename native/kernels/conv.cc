// 2-D convolution (NCHW activations, OIHW weights) through avgk::sgemm.
//
// im2col buffer ("wide" layout): for a chunk of nb images,
//   col[r][b*HW + q],  r = (c*kh + i)*kw + j  in [0, K = C*kh*kw),  q = oy*OW + ox in [0, HW = OH*OW),
// a K x (nb*HW) row-major matrix with leading dimension ldc = nb*HW. It serves two GEMM shapes:
//   * per-image ("direct", HW >= direct_min_hw): one batched sgemm over the nb images (batch stride
//     HW inside col) reading / writing the NCHW tensors in place;
//   * wide (small HW, deep ResNet layers): one sgemm with n = nb*HW; out / gy go through a
//     [O][nb*HW] scratch so the GEMM n is not tiny.
// Forward: out_b = W[O,K] col_b. Backward input: colGrad = W^T gy_b, then col2im (scatter-add).
// Backward weight: gW = sum over chunks of gy_chunk[O, nb*HW] col_chunk^T (k = nb*HW).
// 1x1/stride 1/pad 0 convs skip im2col in the per-image form; K <= 16 (first layer on 1-channel
// images) uses dedicated loops instead of sgemm.
// Fused im2col (AVX-512, "flat" convs: stride 1, OW == W, HW >= 16; forward: single-threaded GEMMs;
// backward weight: always, threads splitting the GEMM's columns): these GEMMs never see a col buffer; their V operand is filled straight from
// the input images into the micro-panels (sgemm_packed_a_fill / sgemm_fill with flat_fill_avx512 /
// flat_fill_t_avx512), so the im2col matrix never makes the round trip through L3 / DRAM. Backward
// input of stride-1 "same" convs (C >= 16) is the forward conv of gy with the weights transposed and
// rotated by 180 degrees (so it is fused too, and needs no col2im).
// im2col / col2im: a "flat" path when stride = 1 and OW = W (all 3x3 pad-1 and 1x1 convs): each col
// row is one contiguous shifted copy / add of the input plane plus border-column fix-ups; AVX-512
// masked row kernels for stride 2; portable row loops otherwise (x86-64-v4 / v3 / baseline versions,
// AVGK_ARCH_VERSIONS in cpu_features.h).
// Threading (see make_plan): with >= 2*threads images each thread runs whole chunks (im2col +
// single-threaded sgemm + col2im) on its own thread_local, cache-sized buffers (chunks sized to
// ~col_target_bytes of col); otherwise chunks run in sequence with parallel im2col and threaded sgemm.
// sgemm called inside our parallel regions runs on one thread (it checks omp_in_parallel()).
// Backward weight sums over the batch in chunks and groups that depend on the shapes only, with the
// partial sums added in a fixed order: the result does not depend on the thread count.
// Bounded scratch: a plan whose im2col buffers would exceed tuning::conv_max_col_bytes falls back
// to one shared buffer, and past that (one image's col alone too large: big kernels with big
// padding) to the tiled path, which im2col's tiles of K rows x output positions (see tile_of).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include <omp.h>
#include <stdexcept>
#include <string>

#include "kernels.h"
#include "region_errors.h"
#include "tuning.h"
#include "vmath.h"
#if defined(__GNUC__) && defined(__x86_64__)
#include "gemm/avx512_transpose.h"
#endif
#include "gemm/blocking.h"


namespace avgk {

namespace {

// Grow-only 64-byte aligned scratch buffer (uninitialised).
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) {
        cap = 0;
        throw std::runtime_error("conv2d: cannot allocate " + std::to_string((bytes + (1u << 20) - 1) >> 20) +
                                 " MB of scratch");
      }
      cap = n;
    }
    return p;
  }
};
thread_local Scratch t_col, t_tmp, t_part, t_wpack, t_wrot;

struct Geo {
  int64_t C, H, W, KH, KW, S, P, OH, OW, HW, K, O;
  explicit Geo(const ConvGeom& g)
      : C(g.c), H(g.h), W(g.w), KH(g.kh), KW(g.kw), S(g.stride), P(g.pad), OH(g.oh), OW(g.ow),
        HW(g.oh * g.ow), K(g.c * g.kh * g.kw), O(g.o) {}
  // valid ox range [lo, hi) for kernel column j: 0 <= ox*S - P + j < W
  void ox_range(int64_t j, int64_t& lo, int64_t& hi) const {
    int64_t a = P - j;  // need ox*S >= a
    lo = a <= 0 ? 0 : (a + S - 1) / S;
    int64_t b = W - 1 + P - j;  // need ox*S <= b
    hi = b < 0 ? 0 : b / S + 1;
    lo = std::min(lo, OW);
    hi = std::min(hi, OW);
    if (hi < lo) hi = lo;
  }
  bool pointwise() const { return KH == 1 && KW == 1 && S == 1 && P == 0; }
};

// ---------------------------------------------------------------------------------------------
// Plane kernels. Each handles one (image, channel) plane: the KH*KW col rows of that channel.
// Geometry is copied into locals first (stores through float* could otherwise alias it).

// Flat path: stride 1 and OW == W (e.g. 3x3 pad 1, 1x1 pad 0). Then a col row is the input plane
// shifted by (i-P)*W + (j-P) as one contiguous range; only the clipped ends and the border columns
// (ox < lo or ox >= hi) need zeroing.
AVGK_INLINE void im2col_plane_flat_body(const float* __restrict xp, float* __restrict col, int64_t ldc,
                                        const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, P = gr.P, OH = gr.OH;
  const int64_t HW = OH * W, plane = H * W;
  for (int64_t i = 0; i < KH; ++i) {
    const int64_t oy0 = std::min(std::max<int64_t>(P - i, 0), OH);
    const int64_t oy1 = std::max(oy0, std::min(H + P - i, OH));
    for (int64_t j = 0; j < KW; ++j) {
      float* __restrict d = col + (i * KW + j) * ldc;
      const int64_t shift = (i - P) * W + (j - P);
      const int64_t qa = std::max(oy0 * W, -shift);
      const int64_t qb = std::max(qa, std::min(oy1 * W, plane - shift));
      for (int64_t q = 0; q < qa; ++q) d[q] = 0.f;
      const float* __restrict src = xp + (qa + shift);
      for (int64_t q = 0; q < qb - qa; ++q) d[qa + q] = src[q];
      for (int64_t q = qb; q < HW; ++q) d[q] = 0.f;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      if (lo > 0 || hi < W)
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          float* __restrict r = d + oy * W;
          for (int64_t ox = 0; ox < lo; ++ox) r[ox] = 0.f;
          for (int64_t ox = hi; ox < W; ++ox) r[ox] = 0.f;
        }
    }
  }
}
AVGK_ARCH_VERSIONS(void, im2col_plane_flat,
                   (const float* __restrict xp, float* __restrict col, int64_t ldc, const Geo& gr),
                   (xp, col, ldc, gr))

// Flat col2im (same condition). Zeroes the border entries of the (scratch) col rows first, so one
// contiguous shifted add per col row is exact. Overwrites the gx plane.
AVGK_INLINE void col2im_plane_flat_body(float* __restrict col, int64_t ldc, float* __restrict gp, const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, P = gr.P, OH = gr.OH;
  const int64_t plane = H * W;
  for (int64_t t = 0; t < plane; ++t) gp[t] = 0.f;
  for (int64_t i = 0; i < KH; ++i) {
    const int64_t oy0 = std::min(std::max<int64_t>(P - i, 0), OH);
    const int64_t oy1 = std::max(oy0, std::min(H + P - i, OH));
    if (oy1 <= oy0) continue;
    for (int64_t j = 0; j < KW; ++j) {
      float* __restrict s = col + (i * KW + j) * ldc;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      if (lo > 0 || hi < W)
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          float* __restrict r = s + oy * W;
          for (int64_t ox = 0; ox < lo; ++ox) r[ox] = 0.f;
          for (int64_t ox = hi; ox < W; ++ox) r[ox] = 0.f;
        }
      const int64_t shift = (i - P) * W + (j - P);
      const int64_t qa = std::max(oy0 * W, -shift);
      const int64_t qb = std::max(qa, std::min(oy1 * W, plane - shift));
      float* __restrict d = gp + (qa + shift);
      const float* __restrict sq = s + qa;
      for (int64_t q = 0; q < qb - qa; ++q) d[q] += sq[q];
    }
  }
}
AVGK_ARCH_VERSIONS(void, col2im_plane_flat,
                   (float* __restrict col, int64_t ldc, float* __restrict gp, const Geo& gr),
                   (col, ldc, gp, gr))

// Row-by-row path for any geometry.
AVGK_INLINE void im2col_plane_rows_body(const float* __restrict xp, float* __restrict col, int64_t ldc,
                                        const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, S = gr.S, P = gr.P, OH = gr.OH, OW = gr.OW;
  for (int64_t i = 0; i < KH; ++i) {
    for (int64_t j = 0; j < KW; ++j) {
      float* __restrict dst = col + (i * KW + j) * ldc;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      const int64_t off = j - P;
      for (int64_t oy = 0; oy < OH; ++oy) {
        float* __restrict d = dst + oy * OW;
        const int64_t iy = oy * S - P + i;
        if (iy < 0 || iy >= H) {
          for (int64_t ox = 0; ox < OW; ++ox) d[ox] = 0.f;
          continue;
        }
        const float* __restrict src = xp + iy * W + off;
        for (int64_t ox = 0; ox < lo; ++ox) d[ox] = 0.f;
        if (S == 1) {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[ox];
        } else if (S == 2) {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[2 * ox];
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[ox * S];
        }
        for (int64_t ox = hi; ox < OW; ++ox) d[ox] = 0.f;
      }
    }
  }
}
AVGK_ARCH_VERSIONS(void, im2col_plane_rows,
                   (const float* __restrict xp, float* __restrict col, int64_t ldc, const Geo& gr),
                   (xp, col, ldc, gr))

AVGK_INLINE void col2im_plane_rows_body(float* __restrict col, int64_t ldc, float* __restrict gp, const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, S = gr.S, P = gr.P, OH = gr.OH, OW = gr.OW;
  for (int64_t t = 0; t < H * W; ++t) gp[t] = 0.f;
  for (int64_t i = 0; i < KH; ++i) {
    for (int64_t j = 0; j < KW; ++j) {
      const float* __restrict srcr = col + (i * KW + j) * ldc;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      const int64_t off = j - P;
      for (int64_t oy = 0; oy < OH; ++oy) {
        const int64_t iy = oy * S - P + i;
        if (iy < 0 || iy >= H) continue;
        const float* __restrict s = srcr + oy * OW;
        float* __restrict d = gp + iy * W + off;
        if (S == 1) {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] += s[ox];
        } else if (S == 2) {
          for (int64_t ox = lo; ox < hi; ++ox) d[2 * ox] += s[ox];
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox * S] += s[ox];
        }
      }
    }
  }
}
AVGK_ARCH_VERSIONS(void, col2im_plane_rows,
                   (float* __restrict col, int64_t ldc, float* __restrict gp, const Geo& gr),
                   (col, ldc, gp, gr))

#if defined(__GNUC__) && defined(__x86_64__)
#include "simd.h"
#define AVGK_HAVE_AVX512_PATH 1
#define AVGK_AVX512 __attribute__((target("avx512f")))

// Lane mask for the lanes [a, b) of a 16-lane block (a, b relative to the block, unclamped).
inline __mmask16 lane_range(int64_t a, int64_t b) {
  a = std::max<int64_t>(a, 0);
  b = std::min<int64_t>(b, 16);
  if (b <= a) return 0;
  const uint32_t hi = b >= 16 ? 0xFFFFu : ((1u << b) - 1u);
  const uint32_t lo = (1u << a) - 1u;
  return (__mmask16)(hi & ~lo);
}
// Spread the 16 bits of m to the even bits of a 32-bit word (bit t -> bit 2t).
inline uint32_t spread_even(uint32_t x) {
  x = (x | (x << 8)) & 0x00FF00FFu;
  x = (x | (x << 4)) & 0x0F0F0F0Fu;
  x = (x | (x << 2)) & 0x33333333u;
  x = (x | (x << 1)) & 0x55555555u;
  return x;
}

// AVX-512 im2col of one plane for stride 1 and 2 (masked loads do the zero padding).
AVGK_AVX512
void im2col_plane_avx512(const float* xp, float* col, int64_t ldc, const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, S = gr.S, P = gr.P, OH = gr.OH, OW = gr.OW;
  const __m512i even_idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < KH; ++i) {
    for (int64_t j = 0; j < KW; ++j) {
      float* dst = col + (i * KW + j) * ldc;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      const int64_t off = j - P;
      for (int64_t oy = 0; oy < OH; ++oy) {
        float* d = dst + oy * OW;
        const int64_t iy = oy * S - P + i;
        const bool row_ok = iy >= 0 && iy < H;
        // address of the source element for ox = 0 (may lie before the row; only valid lanes load)
        const intptr_t srow = (intptr_t)(xp + (row_ok ? iy : 0) * W) + (intptr_t)(off * (int64_t)sizeof(float));
        for (int64_t ox0 = 0; ox0 < OW; ox0 += 16) {
          const __mmask16 st = lane_range(0, OW - ox0);
          const __mmask16 m = row_ok ? lane_range(lo - ox0, hi - ox0) : (__mmask16)0;
          __m512 v;
          if (m == 0) {
            v = zero;
          } else if (S == 1) {
            v = _mm512_maskz_loadu_ps(m, (const float*)(srow + ox0 * (intptr_t)sizeof(float)));
          } else {
            const uint32_t m2 = spread_even(m);
            const float* base = (const float*)(srow + 2 * ox0 * (intptr_t)sizeof(float));
            const __m512 a = _mm512_maskz_loadu_ps((__mmask16)(m2 & 0xFFFFu), base);
            const __m512 b = _mm512_maskz_loadu_ps((__mmask16)(m2 >> 16), base + 16);
            v = _mm512_permutex2var_ps(a, even_idx, b);
          }
          if (st == 0xFFFF)
            _mm512_storeu_ps(d + ox0, v);
          else
            _mm512_mask_storeu_ps(d + ox0, st, v);
        }
      }
    }
  }
}

// AVX-512 col2im of one plane for stride 2 (scatter to every other column). Overwrites the gx plane.
AVGK_AVX512
void col2im_plane_avx512_s2(float* col, int64_t ldc, float* gp, const Geo& gr) {
  const int64_t H = gr.H, W = gr.W, KH = gr.KH, KW = gr.KW, P = gr.P, OH = gr.OH, OW = gr.OW;
  std::memset(gp, 0, sizeof(float) * H * W);
  const __m512i dup_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i dup_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  for (int64_t i = 0; i < KH; ++i) {
    for (int64_t j = 0; j < KW; ++j) {
      const float* srcr = col + (i * KW + j) * ldc;
      int64_t lo, hi;
      gr.ox_range(j, lo, hi);
      if (hi <= lo) continue;
      const int64_t off = j - P;
      for (int64_t oy = 0; oy < OH; ++oy) {
        const int64_t iy = oy * 2 - P + i;
        if (iy < 0 || iy >= H) continue;
        const float* s = srcr + oy * OW;
        const intptr_t drow = (intptr_t)(gp + iy * W) + (intptr_t)(off * (int64_t)sizeof(float));
        for (int64_t ox0 = (lo / 16) * 16; ox0 < hi; ox0 += 16) {
          const __mmask16 m = lane_range(lo - ox0, hi - ox0);
          const __m512 v = _mm512_maskz_loadu_ps(m, s + ox0);
          const uint32_t m2 = spread_even(m);
          float* d = (float*)(drow + 2 * ox0 * (intptr_t)sizeof(float));
          const __mmask16 ma = (__mmask16)(m2 & 0xFFFFu), mb = (__mmask16)(m2 >> 16);
          if (ma) {
            const __m512 dv = _mm512_maskz_loadu_ps(ma, d);
            _mm512_mask_storeu_ps(d, ma, _mm512_add_ps(dv, _mm512_permutexvar_ps(dup_lo, v)));
          }
          if (mb) {
            const __m512 dv = _mm512_maskz_loadu_ps(mb, d + 16);
            _mm512_mask_storeu_ps(d + 16, mb, _mm512_add_ps(dv, _mm512_permutexvar_ps(dup_hi, v)));
          }
        }
      }
    }
  }
}

inline bool have_avx512() { return isa() == Isa::kAvx512 && tuning::conv_avx512; }
#else
inline bool have_avx512() { return false; }
#endif

inline bool flat_ok(const Geo& g) { return g.S == 1 && g.OW == g.W; }

// The plane loop of im2col / col2im for this geometry and level, picked once per call.
using Im2colPlane = void (*)(const float* xp, float* col, int64_t ldc, const Geo& g);
using Col2imPlane = void (*)(float* col, int64_t ldc, float* gp, const Geo& g);

Im2colPlane im2col_plane_for(const Geo& g) {
  if (flat_ok(g)) return im2col_plane_flat_version();
#ifdef AVGK_HAVE_AVX512_PATH
  if (have_avx512() && (g.S == 1 || g.S == 2)) return &im2col_plane_avx512;
#endif
  return im2col_plane_rows_version();
}

Col2imPlane col2im_plane_for(const Geo& g) {
  if (flat_ok(g)) return col2im_plane_flat_version();
#ifdef AVGK_HAVE_AVX512_PATH
  if (have_avx512() && g.S == 2) return &col2im_plane_avx512_s2;
#endif
  return col2im_plane_rows_version();
}

// im2col of nb images (x points at the first) into the wide col buffer; nt threads over planes.
void im2col_images(const float* x, int64_t nb, float* col, int64_t ldc, const Geo& g, int nt) {
  const int64_t planes = nb * g.C;
  const Im2colPlane plane = im2col_plane_for(g);
  if (nt > 1 && g.K * nb * g.HW < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
    const int64_t b = t / g.C, c = t % g.C;
    plane(x + t * g.H * g.W, col + c * g.KH * g.KW * ldc + b * g.HW, ldc, g);
  }
}

// col2im of nb images into gx (overwritten). col is scratch and may be modified.
void col2im_images(float* col, int64_t ldc, int64_t nb, float* gx, const Geo& g, int nt) {
  const int64_t planes = nb * g.C;
  const Col2imPlane plane = col2im_plane_for(g);
  if (nt > 1 && g.K * nb * g.HW < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
    const int64_t b = t / g.C, c = t % g.C;
    plane(col + c * g.KH * g.KW * ldc + b * g.HW, ldc, gx + t * g.H * g.W, g);
  }
}

AVGK_INLINE void copy_row_bias_body(const float* __restrict s, float* __restrict d, int64_t n, float bias) {
  for (int64_t q = 0; q < n; ++q) d[q] = s[q] + bias;
}
AVGK_ARCH_VERSIONS(void, copy_row_bias,
                   (const float* __restrict s, float* __restrict d, int64_t n, float bias),
                   (s, d, n, bias))

AVGK_INLINE void add_bias_row_body(float* __restrict d, int64_t n, float bias) {
  for (int64_t q = 0; q < n; ++q) d[q] += bias;
}
AVGK_ARCH_VERSIONS(void, add_bias_row, (float* __restrict d, int64_t n, float bias), (d, n, bias))

// [nb][R][HW] (NCHW chunk) -> [R][nb*HW] (wide).
void nchw_to_wide(const float* src, int64_t nb, int64_t R, int64_t HW, float* dst, int nt) {
  const int64_t ldc = nb * HW;
  if (nb * R * HW < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < nb * R; ++t) {
    const int64_t b = t / R, r = t % R;
    std::memcpy(dst + r * ldc + b * HW, src + t * HW, sizeof(float) * HW);
  }
}

// [R][nb*HW] (wide) -> [nb][R][HW] (NCHW chunk), adding bias[r] when given.
void wide_to_nchw(const float* src, int64_t nb, int64_t R, int64_t HW, const float* bias, float* dst, int nt) {
  const int64_t ldc = nb * HW;
  if (nb * R * HW < ((int64_t)1 << 15)) nt = 1;
  const auto copy_bias = copy_row_bias_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < nb * R; ++t) {
    const int64_t b = t / R, r = t % R;
    if (bias)
      copy_bias(src + r * ldc + b * HW, dst + t * HW, HW, bias[r]);
    else
      std::memcpy(dst + t * HW, src + r * ldc + b * HW, sizeof(float) * HW);
  }
}

// d[e] += s[e] for e < n (elementwise: the same bits on any number of threads).
void add_into(float* __restrict d, const float* __restrict s, int64_t n, int nt) {
  if (n < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t e = 0; e < n; ++e) d[e] += s[e];
}

void add_bias_nchw(float* out, int64_t nb, int64_t O, int64_t HW, const float* bias, int nt) {
  if (nb * O * HW < ((int64_t)1 << 15)) nt = 1;
  const auto add_bias = add_bias_row_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < nb * O; ++t) add_bias(out + t * HW, HW, bias[t % O]);
}

// ---------------------------------------------------------------------------------------------
// im2col fused into the GEMM's V packing (sgemm_packed_a_fill) for "flat" convolutions (stride 1,
// OW == W: every 3x3 pad-1 and 1x1 conv): the micro-panels are filled straight from the input
// images, so the K x (nb*HW) im2col matrix is never written to memory and read back (that round
// trip through L3 / DRAM was most of the gap between these convs and an in-cache GEMM). Columns are
// v = b*HW + q over the images of a chunk; row r = (c*KH + i)*KW + j reads
//   x[b][c][q + (i-P)*W + (j-P)]  when 0 <= oy+i-P < H and 0 <= ox+j-P < W, else 0.
struct FlatFill {
  const float* x;  // first image of the chunk
  int64_t CHW, plane, H, W, HW, KH, KW, P;
};
constexpr int kFillMaxTaps = 16;  // KH, KW up to this (masks per kernel row / column)

// The fused path applies: an AVX-512 CPU (the fills are AVX-512 code) and a flat geometry.
inline bool fill_ok(const Geo& g) {
  return have_avx512() && flat_ok(g) && g.HW >= 16 && g.KH <= kFillMaxTaps && g.KW <= kFillMaxTaps &&
         gemm_panel_width() % 16 == 0 && gemm_panel_width() <= 64;
}

#ifdef AVGK_HAVE_AVX512_PATH
// One vector of 16 consecutive chunk columns vf .. vf+15 (lanes at or past vend are off). With
// HW >= 16 its lanes span at most two images: segment A (image b) and B (image b + 1), each read
// through its own base offset. mi[i] / mj[j]: the lanes whose tap of kernel row i / column j lies
// inside the image (vertical / horizontal padding).
struct LaneVec {
  __mmask16 mA, mB;
  int64_t offA, offB;
  __mmask16 mi[kFillMaxTaps], mj[kFillMaxTaps];
};

AVGK_AVX512 inline void lane_vec(const FlatFill& f, int64_t vf, int64_t vend, LaneVec& L) {
  const __mmask16 lv = lane_range(0, vend - vf);
  const int64_t b = vf / f.HW, split = (b + 1) * f.HW - vf;
  L.mA = lv & lane_range(0, split);
  L.mB = lv & lane_range(split, 16);
  L.offA = b * f.CHW + (vf - b * f.HW);
  L.offB = (b + 1) * f.CHW + (vf - (b + 1) * f.HW);
  for (int i = 0; i < f.KH; ++i) L.mi[i] = 0;
  for (int j = 0; j < f.KW; ++j) L.mj[j] = 0;
  // (q, oy, ox) of lane 0, then stepped lane by lane (no divisions in the loop)
  const int64_t OH = f.HW / f.W;  // (flat geometry: OW == W)
  int64_t q = vf % f.HW, oy = q / f.W, ox = q % f.W;
  for (int l = 0; l < 16; ++l) {
    if (l > 0 && ++ox == f.W) {
      ox = 0;
      if (++oy == OH) oy = 0;  // the next image
    }
    for (int i = 0; i < f.KH; ++i) {
      const int64_t iy = oy + i - f.P;
      if (iy >= 0 && iy < f.H) L.mi[i] |= (__mmask16)(1u << l);
    }
    for (int j = 0; j < f.KW; ++j) {
      const int64_t ix = ox + j - f.P;
      if (ix >= 0 && ix < f.W) L.mj[j] |= (__mmask16)(1u << l);
    }
  }
  for (int i = 0; i < f.KH; ++i) L.mi[i] &= lv;
}

// Per-panel tables of a fill: for each kernel tap t = i*KW + j, the offset of its input from the
// output pixel ((i-P)*W + j-P) and, for each of the panel's vectors, the lanes of its segments A
// and B whose tap lies inside the image (so the inner loop is one mask load per vector, no mask
// arithmetic and no (c, i, j) stepping). Sized for every geometry fill_ok admits.
constexpr int kFillMaxKhw = kFillMaxTaps * kFillMaxTaps;
struct TapTable {
  int64_t shift[kFillMaxKhw];
  __mmask16 a[4][kFillMaxKhw], b[4][kFillMaxKhw];
};
AVGK_AVX512 inline void tap_table(const FlatFill& f, const LaneVec* L, int nvec, TapTable& T) {
  for (int64_t i = 0, t = 0; i < f.KH; ++i)
    for (int64_t j = 0; j < f.KW; ++j, ++t) {
      T.shift[t] = (i - f.P) * f.W + (j - f.P);
      for (int u = 0; u < nvec; ++u) {
        const __mmask16 m = L[u].mi[i] & L[u].mj[j];
        T.a[u][t] = m & L[u].mA;
        T.b[u][t] = m & L[u].mB;
      }
    }
}

// V = the im2col matrix (rows r = K index, columns v = chunk columns): forward convolution.
AVGK_AVX512 void flat_fill_avx512(const void* vctx, int64_t p0, int64_t kc, int64_t v0, int64_t nv, int nr,
                                  float* dst) {
  const FlatFill& f = *static_cast<const FlatFill*>(vctx);
  const int nvec = nr / 16;
  const int64_t npan = (nv + nr - 1) / nr;
  const int64_t KHW = f.KH * f.KW;
  LaneVec L[4];
  TapTable T;
  for (int64_t pan = 0; pan < npan; ++pan) {
    float* dp = dst + pan * kc * nr;
    bool anyB = false;
    for (int u = 0; u < nvec; ++u) {
      lane_vec(f, v0 + pan * nr + 16 * u, v0 + nv, L[u]);
      anyB |= L[u].mB != 0;
    }
    tap_table(f, L, nvec, T);
    int64_t t = p0 % KHW;
    const float* xc = f.x + (p0 / KHW) * f.plane;
    for (int64_t p = 0; p < kc; ++p) {
      const float* xr = xc + T.shift[t];
      for (int u = 0; u < nvec; ++u) {
        __m512 v = _mm512_maskz_loadu_ps(T.a[u][t], xr + L[u].offA);
        if (anyB) v = _mm512_mask_loadu_ps(v, T.b[u][t], xr + L[u].offB);
        _mm512_store_ps(dp + p * nr + 16 * u, v);
      }
      if (++t == KHW) {
        t = 0;
        xc += f.plane;
      }
    }
  }
}

// V = the im2col matrix transposed (rows p = chunk columns, columns v = K index): backward weight,
// gw = gy col^T. 16 taps x 16 columns at a time, transposed in registers.
AVGK_AVX512 void flat_fill_t_avx512(const void* vctx, int64_t p0, int64_t kc, int64_t v0, int64_t nv, int nr,
                                    float* dst) {
  const FlatFill& f = *static_cast<const FlatFill*>(vctx);
  const int64_t npan = (nv + nr - 1) / nr;
  const int64_t KHW = f.KH * f.KW;
  LaneVec L;
  TapTable T;
  for (int64_t pb = 0; pb < kc; pb += 16) {
    lane_vec(f, p0 + pb, p0 + kc, L);
    tap_table(f, &L, 1, T);
    const int64_t rows = std::min<int64_t>(16, kc - pb);
    // tap and channel of K index r0, carried from block to block (r0 steps by 16)
    int64_t tap = v0 % KHW;
    const float* xc = f.x + (v0 / KHW) * f.plane;
    for (int64_t pan = 0; pan < npan; ++pan) {
      for (int rg = 0; rg < nr; rg += 16) {
        const int64_t r0 = v0 + pan * nr + rg, valid = std::min<int64_t>(16, v0 + nv - r0);
        __m512 t[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; ++l) {
          if (l >= valid) {  // past the last K index (only in the last block)
            t[l] = _mm512_setzero_ps();
            continue;
          }
          const float* xr = xc + T.shift[tap];
          __m512 v = _mm512_maskz_loadu_ps(T.a[0][tap], xr + L.offA);
          if (L.mB) v = _mm512_mask_loadu_ps(v, T.b[0][tap], xr + L.offB);
          t[l] = v;
          if (++tap == KHW) {
            tap = 0;
            xc += f.plane;
          }
        }
        gemm_detail::transpose16(t);
        float* d = dst + pan * kc * nr + pb * nr + rg;
        for (int64_t l = 0; l < rows; ++l) _mm512_store_ps(d + l * nr, t[l]);
      }
    }
  }
}

// flat_fill_t_avx512 from column v0 of the K index on (one thread's columns of fused_wgrad_gemm).
struct FillFrom {
  const FlatFill* f;
  int64_t v0;
};
void flat_fill_t_from(const void* vctx, int64_t p0, int64_t kc, int64_t v0, int64_t nv, int nr, float* dst) {
  const FillFrom& c = *static_cast<const FillFrom*>(vctx);
  flat_fill_t_avx512(c.f, p0, kc, c.v0 + v0, nv, nr, dst);
}

// C (O x K) = beta*C + A (O x k, rows of k floats) * col^T (k x K) of the chunk f with the im2col
// fused into the packing. nt threads split the columns of C in whole micro-panels, each a
// single-threaded sgemm_fill: every element is computed as on one thread.
void fused_wgrad_gemm(int64_t O, int64_t K, int64_t k, const float* A, const FlatFill& f, float beta, float* C,
                      int nt) {
  const int64_t nr = gemm_panel_width(), panels = (K + nr - 1) / nr;
  nt = (int)std::max<double>(1, std::min<double>(std::min<int64_t>(nt, panels),
                                                  std::floor(2.0 * O * K * k / gemm_blocking::MIN_FLOPS_PER_THREAD)));
  if (nt <= 1) {
    sgemm_fill(O, K, k, 1.f, A, k, 1, &flat_fill_t_avx512, &f, beta, C, K);
    return;
  }
  RegionErrors errs;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; ++t)
    errs.run([&] {
      const int64_t v0 = std::min(K, panels * t / nt * nr), v1 = std::min(K, panels * (t + 1) / nt * nr);
      if (v1 <= v0) return;
      const FillFrom ff{&f, v0};
      sgemm_fill(O, v1 - v0, k, 1.f, A, k, 1, &flat_fill_t_from, &ff, beta, C + v0, K);
    });
  errs.rethrow();
}
#endif

FlatFill flat_fill_of(const Geo& g, const float* x) {
  return FlatFill{x, g.C * g.H * g.W, g.H * g.W, g.H, g.W, g.HW, g.KH, g.KW, g.P};
}

// ---------------------------------------------------------------------------------------------
// Tiny-K GEMMs (K = C*kh*kw <= kSmallK, e.g. the first layer of a CNN on 1-channel images): sgemm is
// store-bound there (k of a few), so use plain vectorised loops instead.
constexpr int64_t kSmallK = 16;

// C_b[O][HW] = W[O][K] * col[K][b*HW ...] (+ bias) for the nb images of a chunk, written to NCHW.
// 16 outputs at a time stay in registers across the K taps.
AVGK_INLINE void smallk_forward_body(const float* __restrict w, const float* __restrict col, int64_t ldc, int64_t nb,
                                     int64_t O, int64_t K, int64_t HW, const float* __restrict bias,
                                     float* __restrict out) {
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t o = 0; o < O; ++o) {
      float* __restrict c = out + (b * O + o) * HW;
      const float* __restrict wo = w + o * K;
      const float* __restrict cb = col + b * HW;
      const float b0 = bias ? bias[o] : 0.f;
      int64_t q = 0;
      for (; q + 16 <= HW; q += 16) {
        float acc[16];
        for (int l = 0; l < 16; ++l) acc[l] = b0;
        for (int64_t r = 0; r < K; ++r) {
          const float wr = wo[r];
          const float* __restrict rr = cb + r * ldc + q;
          for (int l = 0; l < 16; ++l) acc[l] += wr * rr[l];
        }
        for (int l = 0; l < 16; ++l) c[q + l] = acc[l];
      }
      for (; q < HW; ++q) {
        float a = b0;
        for (int64_t r = 0; r < K; ++r) a += wo[r] * cb[r * ldc + q];
        c[q] = a;
      }
    }
}
AVGK_ARCH_VERSIONS(void, smallk_forward,
                   (const float* __restrict w, const float* __restrict col, int64_t ldc, int64_t nb, int64_t O,
                    int64_t K, int64_t HW, const float* __restrict bias, float* __restrict out),
                   (w, col, ldc, nb, O, K, HW, bias, out))

// C[O][K] = beta*C + sum over the chunk of gy_b[O][HW] * col_b[K][HW]^T  (beta 0 or 1).
// Per image and output channel the gy row (L1) is dotted with the K col rows (L1/L2).
AVGK_INLINE void smallk_wgrad_body(const float* __restrict gy, const float* __restrict col, int64_t ldc, int64_t nb,
                                   int64_t O, int64_t K, int64_t HW, float* __restrict C, float beta) {
  double tot[kSmallK];
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t r = 0; r < K; ++r) tot[r] = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      const float* __restrict g = gy + (b * O + o) * HW;
      for (int64_t r = 0; r < K; ++r) {
        const float* __restrict x = col + r * ldc + b * HW;
        float acc[16] = {0};
        int64_t q = 0;
        for (; q + 16 <= HW; q += 16)
          for (int l = 0; l < 16; ++l) acc[l] += g[q + l] * x[q + l];
        float t = 0.f;
        for (; q < HW; ++q) t += g[q] * x[q];
        for (int l = 0; l < 16; ++l) t += acc[l];
        tot[r] += (double)t;
      }
    }
    for (int64_t r = 0; r < K; ++r)
      C[o * K + r] = (float)(beta == 0.f ? tot[r] : (double)C[o * K + r] + tot[r]);
  }
}
AVGK_ARCH_VERSIONS(void, smallk_wgrad,
                   (const float* __restrict gy, const float* __restrict col, int64_t ldc, int64_t nb, int64_t O,
                    int64_t K, int64_t HW, float* __restrict C, float beta),
                   (gy, col, ldc, nb, O, K, HW, C, beta))

#ifdef AVGK_HAVE_AVX512_PATH
AVGK_AVX512
void smallk_forward_avx512(const float* w, const float* col, int64_t ldc, int64_t nb, int64_t O, int64_t K,
                           int64_t HW, const float* bias, float* out) {
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t o = 0; o < O; ++o) {
      float* c = out + (b * O + o) * HW;
      const float* wo = w + o * K;
      const float* cb = col + b * HW;
      const __m512 b0 = _mm512_set1_ps(bias ? bias[o] : 0.f);
      for (int64_t q = 0; q < HW; q += 32) {
        const __mmask16 m0 = lane_range(0, HW - q), m1 = lane_range(0, HW - q - 16);
        __m512 a0 = b0, a1 = b0;
        for (int64_t r = 0; r < K; ++r) {
          const __m512 wr = _mm512_set1_ps(wo[r]);
          const float* rr = cb + r * ldc + q;
          a0 = _mm512_fmadd_ps(wr, _mm512_maskz_loadu_ps(m0, rr), a0);
          a1 = _mm512_fmadd_ps(wr, _mm512_maskz_loadu_ps(m1, rr + 16), a1);
        }
        _mm512_mask_storeu_ps(c + q, m0, a0);
        _mm512_mask_storeu_ps(c + q + 16, m1, a1);
      }
    }
}

// All KK dot products of one gy row at once: KK independent accumulator chains, gy loaded once.
template <int KK>
AVGK_AVX512 void smallk_wgrad_avx512_t(const float* gy, const float* col, int64_t ldc, int64_t nb, int64_t O,
                                       int64_t HW, float* C, float beta) {
  for (int64_t o = 0; o < O; ++o) {
    double tot[KK];
    for (int r = 0; r < KK; ++r) tot[r] = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      const float* g = gy + (b * O + o) * HW;
      const float* x = col + b * HW;
      __m512 acc[KK];
      for (int r = 0; r < KK; ++r) acc[r] = _mm512_setzero_ps();
      for (int64_t q = 0; q < HW; q += 16) {
        const __mmask16 m = lane_range(0, HW - q);
        const __m512 gv = _mm512_maskz_loadu_ps(m, g + q);
        for (int r = 0; r < KK; ++r) acc[r] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, x + r * ldc + q), acc[r]);
      }
      for (int r = 0; r < KK; ++r) tot[r] += (double)_mm512_reduce_add_ps(acc[r]);  // ≤ HW/16 terms per lane
    }
    for (int r = 0; r < KK; ++r) C[o * KK + r] = (float)(beta == 0.f ? tot[r] : (double)C[o * KK + r] + tot[r]);
  }
}

void smallk_wgrad_avx512(const float* gy, const float* col, int64_t ldc, int64_t nb, int64_t O, int64_t K,
                         int64_t HW, float* C, float beta) {
  using Fn = void (*)(const float*, const float*, int64_t, int64_t, int64_t, int64_t, float*, float);
  static const Fn table[kSmallK + 1] = {
      nullptr, smallk_wgrad_avx512_t<1>, smallk_wgrad_avx512_t<2>, smallk_wgrad_avx512_t<3>,
      smallk_wgrad_avx512_t<4>, smallk_wgrad_avx512_t<5>, smallk_wgrad_avx512_t<6>, smallk_wgrad_avx512_t<7>,
      smallk_wgrad_avx512_t<8>, smallk_wgrad_avx512_t<9>, smallk_wgrad_avx512_t<10>, smallk_wgrad_avx512_t<11>,
      smallk_wgrad_avx512_t<12>, smallk_wgrad_avx512_t<13>, smallk_wgrad_avx512_t<14>, smallk_wgrad_avx512_t<15>,
      smallk_wgrad_avx512_t<16>};
  table[K](gy, col, ldc, nb, O, HW, C, beta);
}
#endif

void smallk_forward_any(const float* w, const float* col, int64_t ldc, int64_t nb, int64_t O, int64_t K, int64_t HW,
                        const float* bias, float* out) {
#ifdef AVGK_HAVE_AVX512_PATH
  if (have_avx512()) return smallk_forward_avx512(w, col, ldc, nb, O, K, HW, bias, out);
#endif
  smallk_forward(w, col, ldc, nb, O, K, HW, bias, out);
}

void smallk_wgrad_any(const float* gy, const float* col, int64_t ldc, int64_t nb, int64_t O, int64_t K, int64_t HW,
                      float* C, float beta) {
#ifdef AVGK_HAVE_AVX512_PATH
  if (have_avx512()) return smallk_wgrad_avx512(gy, col, ldc, nb, O, K, HW, C, beta);
#endif
  smallk_wgrad(gy, col, ldc, nb, O, K, HW, C, beta);
}

// ---------------------------------------------------------------------------------------------
// Work decomposition.
//   per-thread mode (enough images): one parallel region, each thread runs whole chunks (im2col +
//     single-threaded sgemm — sgemm runs on one thread inside a parallel region — + col2im) on its
//     own thread_local, cache-resident buffers: no fork/join per step, no shared-L2 traffic;
//   shared mode (few images): chunks in sequence, im2col/col2im parallel over planes and sgemm
//     threaded internally.
struct Plan {
  int64_t nb;      // images per chunk
  int nt;          // threads
  bool per_thread;
  bool wide;       // wide GEMM (n = nb*HW) instead of per-image batched GEMM
};

constexpr int64_t HW_ALIGN = 64;

// Backward weight: the number of groups whose partial sums are added in a fixed order (and the
// least number of chunks, when there are that many images). Bounds the parallelism of per-thread
// mode; more threads work inside the chunks' GEMMs.
constexpr int64_t kWgradGroups = 16;
// Per-thread mode keeps every group's partial sum at once up to this size (else fewer at a time).
constexpr int64_t kWgradPartBytes = 64 << 20;

// shared_only: never per-thread mode (one scratch buffer instead of one per thread). min_chunks > 0:
// chunks of at most ceil(N / min_chunks) images, and the chunk size depends on the shapes only (not
// on the thread count).
Plan make_plan(const Geo& g, int64_t N, int64_t floats_per_image, int64_t mult, bool shared_only = false,
               int64_t min_chunks = 0) {
  Plan p;
  p.nt = std::max(1, get_num_threads());
  p.wide = g.HW < tuning::conv_direct_min_hw;
  const int fm = tuning::conv_mode;
  p.per_thread = p.nt > 1 && (fm == 2 || (fm == 0 && N >= 2 * p.nt));
  if (fm == 1 || shared_only) p.per_thread = false;
  const int64_t per = std::max<int64_t>(1, floats_per_image * (int64_t)sizeof(float));
  int64_t nb = std::max<int64_t>(1, tuning::conv_col_target_bytes * std::max<int64_t>(1, mult) / per);
  if (min_chunks > 0)
    nb = std::min(nb, std::max<int64_t>(1, (N + min_chunks - 1) / min_chunks));
  else if (p.per_thread)
    nb = std::min(nb, std::max<int64_t>(1, (N + 4 * p.nt - 1) / (4 * p.nt)));  // >= ~4 chunks/thread
  nb = std::min(nb, std::max<int64_t>(N, 1));
  // Wide GEMMs have n = nb*HW: keep it a multiple of 64 (the AVX-512 micro-tile width) when HW is
  // small, so no micro-tile runs mostly empty (4x4 maps: whole groups of 4 images).
  int64_t q = 1;
  if (p.wide && g.HW < HW_ALIGN && HW_ALIGN % g.HW == 0) q = std::min<int64_t>(HW_ALIGN / g.HW, std::max<int64_t>(N, 1));
  const int64_t units = (N + q - 1) / q;
  int64_t groups = std::max<int64_t>(1, (nb + q / 2) / q);  // chunk size in groups of q images
  const int64_t nchunks = (units + groups - 1) / groups;    // balance: no tiny last chunk
  if (nchunks > 0) groups = (units + nchunks - 1) / nchunks;
  p.nb = std::max<int64_t>(std::min(groups * q, std::max<int64_t>(N, 1)), 1);
  return p;
}

// Runs fn(b0, nb, inner_threads) over the chunks. Exceptions inside the region are rethrown.
template <class F>
void run_chunks(const Plan& p, int64_t N, F&& fn) {
  const int64_t nchunks = (N + p.nb - 1) / p.nb;
  if (!p.per_thread) {
    for (int64_t c = 0; c < nchunks; ++c) fn(c * p.nb, std::min(p.nb, N - c * p.nb), p.nt);
    return;
  }
  RegionErrors errs;
#pragma omp parallel for num_threads(p.nt) schedule(dynamic, 1)
  for (int64_t c = 0; c < nchunks; ++c) errs.run([&] { fn(c * p.nb, std::min(p.nb, N - c * p.nb), 1); });
  errs.rethrow();
}

#ifdef AVGK_HAVE_AVX512_PATH
constexpr bool kFusedBuilt = true;
#else
constexpr bool kFusedBuilt = false;
#endif

// Bytes of im2col scratch that plan p allocates (one buffer per thread in per-thread mode), for
// `uses_col` chunks; double, as the product can pass int64.
double col_bytes(const Plan& p, int64_t K, int64_t HW, bool uses_col) {
  return uses_col ? 4.0 * (p.per_thread ? p.nt : 1) * static_cast<double>(p.nb) * K * HW : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Tiled path: the GEMMs over tiles of kc rows of K by nq output positions of one image, each
// im2col'd on its own, so the scratch is one tile of at most min(conv_max_col_bytes, kTileBytes).
// Images and tiles run in sequence (sgemm threaded inside, im2col / col2im over threads).
constexpr int64_t kTileBytes = 16 << 20;

struct Tile {
  int64_t nq, kc;
};
Tile tile_of(const Geo& g) {
  const int64_t cap = std::max<int64_t>(1, std::min(tuning::conv_max_col_bytes, kTileBytes) / (int64_t)sizeof(float));
  const int64_t nq = std::min(g.HW, std::max(std::min<int64_t>(256, cap), cap / g.K));  // GEMM n >= 256 if it can
  return {nq, std::min(g.K, std::max<int64_t>(1, cap / nq))};
}

// The part [ox0, ox1) of output row oy that positions [q, end) cover.
struct RowPart {
  int64_t oy, ox0, ox1;
};
inline RowPart row_part(const Geo& g, int64_t q, int64_t end) {
  const int64_t oy = q / g.OW, ox0 = q - oy * g.OW;
  return {oy, ox0, std::min(g.OW, ox0 + (end - q))};
}

// col[r][t] = im2col row k0 + r at position q0 + t of image x (r < kc, t < nq); threads over rows.
void im2col_tile(const float* x, const Geo& g, int64_t k0, int64_t kc, int64_t q0, int64_t nq, float* col, int nt) {
  const int64_t KHW = g.KH * g.KW;
  if (kc * nq < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < kc; ++r) {
    const int64_t k = k0 + r, c = k / KHW, i = k % KHW / g.KW, j = k % g.KW;
    const float* xp = x + c * g.H * g.W;
    int64_t lo, hi;
    g.ox_range(j, lo, hi);
    for (int64_t q = q0, end = q0 + nq; q < end;) {
      const RowPart rp = row_part(g, q, end);
      float* d = col + r * nq + (q - q0);  // d[ox - ox0], ox in [ox0, ox1)
      const int64_t iy = rp.oy * g.S - g.P + i;
      const int64_t a = std::max(rp.ox0, std::min(lo, rp.ox1)), b = std::max(a, std::min(hi, rp.ox1));
      if (iy < 0 || iy >= g.H) {
        std::fill(d, d + (rp.ox1 - rp.ox0), 0.f);
      } else {
        std::fill(d, d + (a - rp.ox0), 0.f);
        if (b > a) {
          const float* xr = xp + iy * g.W + (a * g.S - g.P + j);  // input of output column a
          float* da = d + (a - rp.ox0);
          for (int64_t t = 0; t < b - a; ++t) da[t] = xr[t * g.S];
        }
        std::fill(d + (b - rp.ox0), d + (rp.ox1 - rp.ox0), 0.f);
      }
      q += rp.ox1 - rp.ox0;
    }
  }
}

// gx (one image) += col2im of a tile laid out as im2col_tile's; threads over channels.
void col2im_tile_add(const float* col, const Geo& g, int64_t k0, int64_t kc, int64_t q0, int64_t nq, float* gx,
                     int nt) {
  const int64_t KHW = g.KH * g.KW, c0 = k0 / KHW, c1 = (k0 + kc - 1) / KHW + 1;
  if (kc * nq < ((int64_t)1 << 15)) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t c = c0; c < c1; ++c) {
    float* gp = gx + c * g.H * g.W;
    for (int64_t k = std::max(k0, c * KHW), kend = std::min(k0 + kc, (c + 1) * KHW); k < kend; ++k) {
      const int64_t i = k % KHW / g.KW, j = k % g.KW;
      int64_t lo, hi;
      g.ox_range(j, lo, hi);
      for (int64_t q = q0, end = q0 + nq; q < end;) {
        const RowPart rp = row_part(g, q, end);
        const int64_t iy = rp.oy * g.S - g.P + i;
        const int64_t a = std::max(rp.ox0, std::min(lo, rp.ox1)), b = std::max(a, std::min(hi, rp.ox1));
        if (iy >= 0 && iy < g.H && b > a) {
          const float* sa = col + (k - k0) * nq + (q - q0) + (a - rp.ox0);  // entry of output column a
          float* gr = gp + iy * g.W + (a * g.S - g.P + j);
          for (int64_t t = 0; t < b - a; ++t) gr[t * g.S] += sa[t];
        }
        q += rp.ox1 - rp.ox0;
      }
    }
  }
}

void forward_tiled(const float* x, const float* w, const float* bias, float* out, const Geo& g, int64_t N) {
  const Tile t = tile_of(g);
  const int nt = std::max(1, get_num_threads());
  const int64_t CHW = g.C * g.H * g.W;
  float* col = t_col.get((size_t)(t.kc * t.nq));
  const auto add_bias = add_bias_row_version();
  for (int64_t b = 0; b < N; ++b) {
    float* ob = out + b * g.O * g.HW;
    for (int64_t q0 = 0; q0 < g.HW; q0 += t.nq) {
      const int64_t nq = std::min(t.nq, g.HW - q0);
      for (int64_t k0 = 0; k0 < g.K; k0 += t.kc) {
        const int64_t kc = std::min(t.kc, g.K - k0);
        im2col_tile(x + b * CHW, g, k0, kc, q0, nq, col, nt);
        // out[:, q0 : q0+nq] (+)= W[:, k0 : k0+kc] col
        sgemm(1, g.O, nq, kc, 1.f, w + k0, g.K, 1, 0, col, nq, 1, 0, k0 == 0 ? 0.f : 1.f, ob + q0, g.HW, 0);
      }
      if (bias)
        for (int64_t o = 0; o < g.O; ++o) add_bias(ob + o * g.HW + q0, nq, bias[o]);
    }
  }
}

void backward_input_tiled(const float* gy, const float* w, float* gx, const Geo& g, int64_t N) {
  const Tile t = tile_of(g);
  const int nt = std::max(1, get_num_threads());
  const int64_t CHW = g.C * g.H * g.W;
  float* col = t_col.get((size_t)(t.kc * t.nq));
  std::memset(gx, 0, sizeof(float) * N * CHW);
  for (int64_t b = 0; b < N; ++b) {
    const float* gyb = gy + b * g.O * g.HW;
    for (int64_t q0 = 0; q0 < g.HW; q0 += t.nq) {
      const int64_t nq = std::min(t.nq, g.HW - q0);
      for (int64_t k0 = 0; k0 < g.K; k0 += t.kc) {
        const int64_t kc = std::min(t.kc, g.K - k0);
        // colGrad tile = W[:, k0 : k0+kc]^T gy_b[:, q0 : q0+nq]
        sgemm(1, kc, nq, g.O, 1.f, w + k0, 1, g.K, 0, gyb + q0, g.HW, 1, 0, 0.f, col, nq, 0);
        col2im_tile_add(col, g, k0, kc, q0, nq, gx + b * CHW, nt);
      }
    }
  }
}

void backward_weight_tiled(const float* x, const float* gy, float* gw, const Geo& g, int64_t N) {
  const Tile t = tile_of(g);
  const int nt = std::max(1, get_num_threads());
  const int64_t CHW = g.C * g.H * g.W;
  float* col = t_col.get((size_t)(t.kc * t.nq));
  for (int64_t b = 0; b < N; ++b) {
    for (int64_t q0 = 0; q0 < g.HW; q0 += t.nq) {
      const int64_t nq = std::min(t.nq, g.HW - q0);
      for (int64_t k0 = 0; k0 < g.K; k0 += t.kc) {
        const int64_t kc = std::min(t.kc, g.K - k0);
        im2col_tile(x + b * CHW, g, k0, kc, q0, nq, col, nt);
        // gw[:, k0 : k0+kc] (+)= gy_b[:, q0 : q0+nq] col^T (the first tile of each column block overwrites)
        sgemm(1, g.O, kc, nq, 1.f, gy + b * g.O * g.HW + q0, g.HW, 1, 0, col, 1, nq, 0,
              b == 0 && q0 == 0 ? 0.f : 1.f, gw + k0, g.K, 0);
      }
    }
  }
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* bias, float* out, const ConvGeom& cg) {
  const Geo g(cg);
  const int64_t N = cg.n, O = g.O, HW = g.HW, K = g.K, CHW = g.C * g.H * g.W;
  if (N <= 0 || O <= 0 || HW <= 0) return;
  if (K <= 0) {  // no input channels: out = bias (or 0)
    for (int64_t t = 0; t < N * O; ++t)
      for (int64_t q = 0; q < HW; ++q) out[t * HW + q] = bias ? bias[t % O] : 0.f;
    return;
  }
  Plan p = make_plan(g, N, K * HW, 1);
  const bool smallk = K <= kSmallK && tuning::conv_smallk;
  const bool fused = !smallk && !g.pointwise() && fill_ok(g);  // (false without the AVX-512 path)
  (void)fused;
  auto uses_col = [&](const Plan& q) {
    return !(!q.wide && g.pointwise() && !smallk) && !(kFusedBuilt && fused && q.per_thread);
  };
  const double cap = (double)tuning::conv_max_col_bytes;
  if (col_bytes(p, K, HW, uses_col(p)) > cap) p = make_plan(g, N, K * HW, 1, true);
  if (col_bytes(p, K, HW, uses_col(p)) > cap) return forward_tiled(x, w, bias, out, g, N);
  // W (O x K) packed once for every chunk's GEMM.
  PackedA pw;
  if (!smallk) pw = pack_a(O, K, w, K, 1, t_wpack.get((size_t)packed_a_floats(O, K)));
  run_chunks(p, N, [&](int64_t b0, int64_t nb, int nt) {
    const float* xb = x + b0 * CHW;
    float* ob = out + b0 * O * HW;
    const int64_t ldc = nb * HW;
    if (!p.wide && g.pointwise() && !smallk) {  // x_b is already the [C][HW] matrix
      sgemm_packed_a(pw, nb, HW, 1.f, xb, HW, 1, CHW, 0.f, ob, HW, O * HW);
      if (bias) add_bias_nchw(ob, nb, O, HW, bias, nt);
      return;
    }
#ifdef AVGK_HAVE_AVX512_PATH
    if (fused && nt == 1) {  // im2col inside the packing (single-threaded GEMMs: per-thread chunks)
      if (!p.wide) {
        for (int64_t b = 0; b < nb; ++b) {
          const FlatFill f = flat_fill_of(g, xb + b * CHW);
          sgemm_packed_a_fill(pw, HW, 1.f, &flat_fill_avx512, &f, 0.f, ob + b * O * HW, HW);
        }
        if (bias) add_bias_nchw(ob, nb, O, HW, bias, 1);
      } else {
        const FlatFill f = flat_fill_of(g, xb);
        float* tmp = t_tmp.get((size_t)O * ldc);
        sgemm_packed_a_fill(pw, ldc, 1.f, &flat_fill_avx512, &f, 0.f, tmp, ldc);
        wide_to_nchw(tmp, nb, O, HW, bias, ob, 1);
      }
      return;
    }
#endif
    float* col = t_col.get((size_t)K * ldc);
    im2col_images(xb, nb, col, ldc, g, nt);
    if (smallk) {
      smallk_forward_any(w, col, ldc, nb, O, K, HW, bias, ob);
    } else if (!p.wide) {
      sgemm_packed_a(pw, nb, HW, 1.f, col, ldc, 1, HW, 0.f, ob, HW, O * HW);
      if (bias) add_bias_nchw(ob, nb, O, HW, bias, nt);
    } else {
      float* tmp = t_tmp.get((size_t)O * ldc);
      sgemm_packed_a(pw, 1, ldc, 1.f, col, ldc, 1, 0, 0.f, tmp, ldc, 0);
      wide_to_nchw(tmp, nb, O, HW, bias, ob, nt);
    }
  });
}

void conv2d_backward_input(const float* gy, const float* w, float* gx, const ConvGeom& cg) {
  const Geo g(cg);
  const int64_t N = cg.n, O = g.O, HW = g.HW, K = g.K, CHW = g.C * g.H * g.W;
  if (N <= 0 || CHW <= 0) return;
  if (O <= 0 || HW <= 0) {
    std::memset(gx, 0, sizeof(float) * N * CHW);
    return;
  }
  // Stride 1 with the output as large as the input ("same" padding, odd square kernel, C >= 16):
  // gx is the forward convolution of gy with the weights transposed (O <-> C) and rotated by 180
  // degrees, at the same padding. That is an im2col GEMM (fused into the packing where possible),
  // with no col2im scatter-add and no zeroing of gx.
  if (g.S == 1 && g.KH == g.KW && 2 * g.P == g.KH - 1 && g.OH == g.H && g.OW == g.W && g.C >= 16 && !g.pointwise()) {
    const int64_t KHW = g.KH * g.KW;
    float* wr = t_wrot.get((size_t)O * K);  // wr[c][o][i][j] = w[o][c][KH-1-i][KW-1-j]
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t t = 0; t < KHW; ++t) wr[(c * O + o) * KHW + t] = w[(o * g.C + c) * KHW + (KHW - 1 - t)];
    ConvGeom tg = cg;
    tg.c = O;
    tg.h = g.OH;
    tg.w = g.OW;
    tg.o = g.C;
    tg.oh = g.H;
    tg.ow = g.W;
    conv2d_forward(gy, wr, nullptr, gx, tg);
    return;
  }
  Plan p = make_plan(g, N, K * HW, 1);
  auto uses_col = [&](const Plan& q) { return !(!q.wide && g.pointwise()); };
  const double cap = (double)tuning::conv_max_col_bytes;
  if (col_bytes(p, K, HW, uses_col(p)) > cap) p = make_plan(g, N, K * HW, 1, true);
  if (col_bytes(p, K, HW, uses_col(p)) > cap) return backward_input_tiled(gy, w, gx, g, N);
  // W^T (K x O) packed once for every chunk's GEMM.
  const PackedA pwt = pack_a(K, O, w, 1, K, t_wpack.get((size_t)packed_a_floats(K, O)));
  run_chunks(p, N, [&](int64_t b0, int64_t nb, int nt) {
    const float* gyb = gy + b0 * O * HW;
    float* gxb = gx + b0 * CHW;
    const int64_t ldc = nb * HW;
    if (!p.wide && g.pointwise()) {  // gx_b[C][HW] = W^T[C][O] * gy_b[O][HW]
      sgemm_packed_a(pwt, nb, HW, 1.f, gyb, HW, 1, O * HW, 0.f, gxb, HW, CHW);
      return;
    }
    float* col = t_col.get((size_t)K * ldc);
    if (!p.wide) {  // colGrad_b[K][HW] = W^T[K][O] * gy_b[O][HW]
      sgemm_packed_a(pwt, nb, HW, 1.f, gyb, HW, 1, O * HW, 0.f, col, ldc, HW);
    } else {
      float* tmp = t_tmp.get((size_t)O * ldc);
      nchw_to_wide(gyb, nb, O, HW, tmp, nt);
      sgemm_packed_a(pwt, 1, ldc, 1.f, tmp, ldc, 1, 0, 0.f, col, ldc, 0);
    }
    col2im_images(col, ldc, nb, gxb, g, nt);
  });
}

void conv2d_backward_weight(const float* x, const float* gy, float* gw, const ConvGeom& cg) {
  const Geo g(cg);
  const int64_t N = cg.n, O = g.O, HW = g.HW, K = g.K, CHW = g.C * g.H * g.W;
  if (O <= 0 || K <= 0) return;
  if (N <= 0 || HW <= 0) {
    std::memset(gw, 0, sizeof(float) * O * K);
    return;
  }
  // gw[O][K] = sum_b gy_b[O][HW] * col_b[K][HW]^T, with the images of a chunk concatenated along the
  // GEMM k dimension (wide layout): long inner products, few sgemm calls. The chunks (at least
  // kWgradGroups of them when there are that many images) form up to kWgradGroups groups; a group's
  // partial sum accumulates its chunks in order and the partials are added in group order. Chunks
  // and groups depend on the shapes only, and a chunk's GEMM gives the same bits on any number of
  // threads (gemm.h), so gw does not depend on the thread count.
  Plan p = make_plan(g, N, (K + O) * HW, tuning::conv_wgrad_chunk_mult, true, kWgradGroups);
  const int64_t nchunks = (N + p.nb - 1) / p.nb;
  const int64_t groups = std::min(kWgradGroups, nchunks);
  // per-thread mode: each thread computes whole groups (single-threaded GEMMs); shared mode: the
  // groups in sequence, with threads inside each chunk.
  const int fm = tuning::conv_mode;
  p.per_thread = p.nt > 1 && groups > 1 && fm != 1 && (fm == 2 || groups >= p.nt);
  if (p.per_thread) p.nt = (int)std::min<int64_t>(p.nt, groups);
  const bool pw = g.pointwise();
  const bool fused = !(K <= kSmallK && tuning::conv_smallk) && !pw && fill_ok(g);
  (void)fused;
  auto uses_col = [&](const Plan& q) { return !(pw && q.nb == 1) && !(kFusedBuilt && fused); };
  const double cap = (double)tuning::conv_max_col_bytes;
  if (col_bytes(p, K, HW, uses_col(p)) > cap) p.per_thread = false;
  if (col_bytes(p, K, HW, uses_col(p)) > cap) return backward_weight_tiled(x, gy, gw, g, N);
  // One chunk's contribution into C (O x K): C = beta*C + gy_chunk * col_chunk^T.
  auto chunk = [&](int64_t b0, int64_t nb, int nt, float* C, float beta) {
    const float* xb = x + b0 * CHW;
    const float* gyb = gy + b0 * O * HW;
    const int64_t ldc = nb * HW;
#ifdef AVGK_HAVE_AVX512_PATH
    if (fused) {  // col^T straight into the GEMM's packing
      const float* A = gyb;
      if (nb > 1) {
        float* tmp = t_tmp.get((size_t)O * ldc);
        nchw_to_wide(gyb, nb, O, HW, tmp, nt);
        A = tmp;
      }
      fused_wgrad_gemm(O, K, ldc, A, flat_fill_of(g, xb), beta, C, nt);
      return;
    }
#endif
    const float* B = xb;
    if (!(pw && nb == 1)) {
      float* col = t_col.get((size_t)K * ldc);
      im2col_images(xb, nb, col, ldc, g, nt);
      B = col;
    }
    if (K <= kSmallK && tuning::conv_smallk) {  // gy read in place, no wide copy
      smallk_wgrad_any(gyb, B, B == xb ? HW : ldc, nb, O, K, HW, C, beta);
      return;
    }
    const float* A = gyb;
    if (nb > 1) {
      float* tmp = t_tmp.get((size_t)O * ldc);
      nchw_to_wide(gyb, nb, O, HW, tmp, nt);
      A = tmp;
    }
    sgemm(1, O, K, ldc, 1.f, A, ldc, 1, 0, B, 1, ldc, 0, beta, C, K, 0);
  };
  // Group gi's partial sum into C.
  auto group = [&](int64_t gi, int nt, float* C) {
    const int64_t c0 = nchunks * gi / groups, c1 = nchunks * (gi + 1) / groups;
    for (int64_t c = c0; c < c1; ++c) chunk(c * p.nb, std::min(p.nb, N - c * p.nb), nt, C, c == c0 ? 0.f : 1.f);
  };
  const int64_t OK = O * K;
  if (!p.per_thread) {
    float* part = groups > 1 ? t_part.get((size_t)OK) : nullptr;
    for (int64_t gi = 0; gi < groups; ++gi) {
      group(gi, p.nt, gi == 0 ? gw : part);
      if (gi > 0) add_into(gw, part, OK, p.nt);
    }
    return;
  }
  // Partial sums of up to `slots` groups at once (all of them when they fit in kWgradPartBytes):
  // a wave computes its groups (threads take them in turn) and then adds them to gw in group order.
  const int64_t slots = std::max<int64_t>(
      p.nt, std::min<int64_t>(groups, kWgradPartBytes / (OK * (int64_t)sizeof(float))));
  float* parts = t_part.get((size_t)(slots * OK));
  RegionErrors errs;
#pragma omp parallel num_threads(p.nt)
  {
    for (int64_t g0 = 0; g0 < groups; g0 += slots) {
      const int64_t ng = std::min(slots, groups - g0);
#pragma omp for schedule(dynamic, 1)
      for (int64_t s = 0; s < ng; ++s) {
        float* part = parts + s * OK;
        if (!errs.run([&] { group(g0 + s, 1, part); }))
          std::memset(part, 0, sizeof(float) * OK);  // (the call throws after the region)
      }
#pragma omp for schedule(static)
      for (int64_t e0 = 0; e0 < OK; e0 += 1024) {
        const int64_t e1 = std::min(OK, e0 + 1024);
        int64_t s = 0;
        if (g0 == 0) {
          for (int64_t e = e0; e < e1; ++e) gw[e] = parts[e];
          s = 1;
        }
        for (; s < ng; ++s) {
          const float* ps = parts + s * OK;
          for (int64_t e = e0; e < e1; ++e) gw[e] += ps[e];
        }
      }
    }
  }
  errs.rethrow();
}

}  // namespace avgk
