// 2-D max / average pooling on NCHW data. OpenMP-parallel over (image, channel) planes.
// Max pooling: padding counts as -inf, the first maximum (row-major window order) wins, and NaN is
// treated as larger than everything (the first NaN of a window wins and propagates). argmax holds
// the flat index iy*w + ix in the input plane; a window lying entirely in the padding (impossible
// when pad <= k/2) yields -inf and argmax -1, which the backward pass skips.
// Average pooling: count_include_pad, i.e. the divisor is always k*k.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__) && defined(__x86_64__)
#include "simd.h"
#endif

#include "kernels.h"
#include "tuning.h"
#include "vmath.h"


namespace avgk {
namespace {

inline int nthreads_for(int64_t work) {
  int nt = get_num_threads();
  if (work < (int64_t)1 << 15) return 1;
  return nt < 1 ? 1 : nt;
}

// "v replaces best": v > best, or v is NaN while best is not.  == !(v <= best) && best == best.
inline bool takes(float v, float best) { return !(v <= best) && best == best; }

// k=2, s=2, p=0 fast path for one plane. Window order (0,0),(0,1),(1,0),(1,1).
AVGK_INLINE void max2x2_plane_body(const float* __restrict x, float* __restrict out, int32_t* __restrict am,
                                   int64_t W, int64_t OH, int64_t OW) {
  for (int64_t oy = 0; oy < OH; ++oy) {
    const float* __restrict r0 = x + (2 * oy) * W;
    const float* __restrict r1 = r0 + W;
    float* __restrict o = out + oy * OW;
    int32_t* __restrict a = am + oy * OW;
    const int32_t base = (int32_t)(2 * oy * W);
    const int32_t w32 = (int32_t)W;
    for (int64_t ox = 0; ox < OW; ++ox) {
      float b = r0[2 * ox];
      int32_t idx = base + 2 * (int32_t)ox;
      float v = r0[2 * ox + 1];
      bool t = !(v <= b) && b == b;
      b = t ? v : b;
      idx = t ? base + 2 * (int32_t)ox + 1 : idx;
      v = r1[2 * ox];
      t = !(v <= b) && b == b;
      b = t ? v : b;
      idx = t ? base + w32 + 2 * (int32_t)ox : idx;
      v = r1[2 * ox + 1];
      t = !(v <= b) && b == b;
      b = t ? v : b;
      idx = t ? base + w32 + 2 * (int32_t)ox + 1 : idx;
      o[ox] = b;
      a[ox] = idx;
    }
  }
}
AVGK_ARCH_VERSIONS(void, max2x2_plane,
                   (const float* __restrict x, float* __restrict out, int32_t* __restrict am, int64_t W, int64_t OH,
                    int64_t OW),
                   (x, out, am, W, OH, OW))

#if defined(__GNUC__) && defined(__x86_64__)
#define AVGK_HAVE_AVX512_POOL 1
// AVX-512 version of max2x2_plane: 16 outputs per step; even/odd columns split with permutes.
__attribute__((target("avx512f")))
void max2x2_plane_avx512(const float* x, float* out, int32_t* am, int64_t W, int64_t OH, int64_t OW) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i iota2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i wv = _mm512_set1_epi32((int32_t)W);
  for (int64_t oy = 0; oy < OH; ++oy) {
    const float* r0 = x + (2 * oy) * W;
    const float* r1 = r0 + W;
    float* o = out + oy * OW;
    int32_t* a = am + oy * OW;
    const __m512i rowbase = _mm512_set1_epi32((int32_t)(2 * oy * W));
    for (int64_t ox0 = 0; ox0 < OW; ox0 += 16) {
      const int64_t cnt = std::min<int64_t>(16, OW - ox0);
      const __mmask16 st = cnt >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cnt) - 1u);
      const int64_t in = 2 * cnt;  // input floats used per row
      const __mmask16 la = in >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << in) - 1u);
      const __mmask16 lb = in >= 32 ? (__mmask16)0xFFFF : (in <= 16 ? (__mmask16)0 : (__mmask16)((1u << (in - 16)) - 1u));
      const float* p0 = r0 + 2 * ox0;
      const float* p1 = r1 + 2 * ox0;
      const __m512 a0 = _mm512_maskz_loadu_ps(la, p0), a1 = _mm512_maskz_loadu_ps(lb, p0 + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(la, p1), b1 = _mm512_maskz_loadu_ps(lb, p1 + 16);
      const __m512 v00 = _mm512_permutex2var_ps(a0, even, a1), v01 = _mm512_permutex2var_ps(a0, odd, a1);
      const __m512 v10 = _mm512_permutex2var_ps(b0, even, b1), v11 = _mm512_permutex2var_ps(b0, odd, b1);
      __m512i idx = _mm512_add_epi32(rowbase, _mm512_add_epi32(iota2, _mm512_set1_epi32((int32_t)(2 * ox0))));
      __m512 best = v00;
      __m512i bi = idx;
      // candidate replaces best iff !(v <= best) && best is not NaN
      __mmask16 ord = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
      __mmask16 t = _mm512_mask_cmp_ps_mask(ord, v01, best, _CMP_NLE_UQ);
      best = _mm512_mask_mov_ps(best, t, v01);
      bi = _mm512_mask_add_epi32(bi, t, idx, one);
      ord = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
      t = _mm512_mask_cmp_ps_mask(ord, v10, best, _CMP_NLE_UQ);
      best = _mm512_mask_mov_ps(best, t, v10);
      bi = _mm512_mask_add_epi32(bi, t, idx, wv);
      ord = _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
      t = _mm512_mask_cmp_ps_mask(ord, v11, best, _CMP_NLE_UQ);
      best = _mm512_mask_mov_ps(best, t, v11);
      bi = _mm512_mask_add_epi32(bi, t, _mm512_add_epi32(idx, wv), one);
      _mm512_mask_storeu_ps(o + ox0, st, best);
      _mm512_mask_storeu_epi32(a + ox0, st, bi);
    }
  }
}
inline bool pool_avx512() { return isa() == Isa::kAvx512 && tuning::pool_avx512; }
#endif

void max_generic_plane(const float* __restrict x, float* __restrict out, int32_t* __restrict am, const PoolGeom& g) {
  const int64_t H = g.h, W = g.w, K = g.k, S = g.stride, P = g.pad;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * S - P;
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + K, H);
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * S - P;
      const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + K, W);
      float best = -std::numeric_limits<float>::infinity();
      int32_t idx = -1;
      for (int64_t iy = ya; iy < yb; ++iy)
        for (int64_t ix = xa; ix < xb; ++ix) {
          const float v = x[iy * W + ix];
          if (idx < 0 || takes(v, best)) {  // the first valid element always initialises
            best = v;
            idx = (int32_t)(iy * W + ix);
          }
        }
      out[oy * g.ow + ox] = best;
      am[oy * g.ow + ox] = idx;
    }
  }
}

AVGK_INLINE void avg2x2_plane_body(const float* __restrict x, float* __restrict out, int64_t W, int64_t OH,
                                   int64_t OW) {
  for (int64_t oy = 0; oy < OH; ++oy) {
    const float* __restrict r0 = x + (2 * oy) * W;
    const float* __restrict r1 = r0 + W;
    float* __restrict o = out + oy * OW;
    for (int64_t ox = 0; ox < OW; ++ox)
      o[ox] = ((r0[2 * ox] + r0[2 * ox + 1]) + (r1[2 * ox] + r1[2 * ox + 1])) * 0.25f;
  }
}
AVGK_ARCH_VERSIONS(void, avg2x2_plane,
                   (const float* __restrict x, float* __restrict out, int64_t W, int64_t OH, int64_t OW),
                   (x, out, W, OH, OW))

AVGK_INLINE float plane_sum_body(const float* __restrict x, int64_t n) {
  // 16 independent partial sums (vectorisable without -ffast-math)
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += x[i + l];
  float s = 0.f;
  for (; i < n; ++i) s += x[i];
  float t = 0.f;
  for (int l = 0; l < 16; ++l) t += acc[l];
  return t + s;
}
AVGK_ARCH_VERSIONS(float, plane_sum, (const float* __restrict x, int64_t n), (x, n))

void avg_generic_plane(const float* __restrict x, float* __restrict out, const PoolGeom& g) {
  const int64_t H = g.h, W = g.w, K = g.k, S = g.stride, P = g.pad;
  const float inv = 1.f / (float)(K * K);
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * S - P;
    const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + K, H);
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * S - P;
      const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + K, W);
      float s = 0.f;
      for (int64_t iy = ya; iy < yb; ++iy)
        for (int64_t ix = xa; ix < xb; ++ix) s += x[iy * W + ix];
      out[oy * g.ow + ox] = s * inv;
    }
  }
}

AVGK_INLINE void fill_plane_body(float* __restrict d, int64_t n, float v) {
  for (int64_t i = 0; i < n; ++i) d[i] = v;
}
AVGK_ARCH_VERSIONS(void, fill_plane, (float* __restrict d, int64_t n, float v), (d, n, v))

}  // namespace

void maxpool2d_forward(const float* x, float* out, int32_t* argmax, const PoolGeom& g) {
  const int64_t planes = g.n * g.c, HWi = g.h * g.w, HWo = g.oh * g.ow;
  if (planes <= 0 || HWo <= 0) return;
  const bool fast = g.k == 2 && g.stride == 2 && g.pad == 0 && 2 * g.oh <= g.h && 2 * g.ow <= g.w;
  const int nt = nthreads_for(planes * HWi);
#ifdef AVGK_HAVE_AVX512_POOL
  const bool v512 = fast && pool_avx512();
#else
  const bool v512 = false;
#endif
  const auto max2x2 = max2x2_plane_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
#ifdef AVGK_HAVE_AVX512_POOL
    if (v512) {
      max2x2_plane_avx512(x + t * HWi, out + t * HWo, argmax + t * HWo, g.w, g.oh, g.ow);
      continue;
    }
#endif
    if (fast)
      max2x2(x + t * HWi, out + t * HWo, argmax + t * HWo, g.w, g.oh, g.ow);
    else
      max_generic_plane(x + t * HWi, out + t * HWo, argmax + t * HWo, g);
  }
}

void maxpool2d_backward(const float* gy, const int32_t* argmax, float* gx, const PoolGeom& g) {
  const int64_t planes = g.n * g.c, HWi = g.h * g.w, HWo = g.oh * g.ow;
  if (planes <= 0 || HWi <= 0) return;
  const int nt = nthreads_for(planes * HWi);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
    float* __restrict d = gx + t * HWi;
    std::memset(d, 0, sizeof(float) * HWi);
    const float* __restrict s = gy + t * HWo;
    const int32_t* __restrict a = argmax + t * HWo;
    for (int64_t q = 0; q < HWo; ++q) {
      const int32_t i = a[q];
      if (i >= 0) d[i] += s[q];
    }
  }
}

void avgpool2d_forward(const float* x, float* out, const PoolGeom& g) {
  const int64_t planes = g.n * g.c, HWi = g.h * g.w, HWo = g.oh * g.ow;
  if (planes <= 0 || HWo <= 0) return;
  const bool fast = g.k == 2 && g.stride == 2 && g.pad == 0 && 2 * g.oh <= g.h && 2 * g.ow <= g.w;
  const bool global = g.pad == 0 && g.k == g.h && g.k == g.w && g.oh == 1 && g.ow == 1;
  const float inv = 1.f / (float)(g.k * g.k);
  const int nt = nthreads_for(planes * HWi);
  const auto sum = plane_sum_version();
  const auto avg2x2 = avg2x2_plane_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
    if (global)
      out[t] = sum(x + t * HWi, HWi) * inv;
    else if (fast)
      avg2x2(x + t * HWi, out + t * HWo, g.w, g.oh, g.ow);
    else
      avg_generic_plane(x + t * HWi, out + t * HWo, g);
  }
}

void avgpool2d_backward(const float* gy, float* gx, const PoolGeom& g) {
  const int64_t planes = g.n * g.c, HWi = g.h * g.w, HWo = g.oh * g.ow;
  if (planes <= 0 || HWi <= 0) return;
  const int64_t H = g.h, W = g.w, K = g.k, S = g.stride, P = g.pad;
  const bool global = g.pad == 0 && g.k == g.h && g.k == g.w && g.oh == 1 && g.ow == 1;
  const float inv = 1.f / (float)(K * K);
  const int nt = nthreads_for(planes * HWi);
  const auto fill = fill_plane_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < planes; ++t) {
    float* __restrict d = gx + t * HWi;
    const float* __restrict s = gy + t * HWo;
    if (global) {
      fill(d, HWi, s[0] * inv);
      continue;
    }
    std::memset(d, 0, sizeof(float) * HWi);
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const int64_t y0 = oy * S - P;
      const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + K, H);
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const int64_t x0 = ox * S - P;
        const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + K, W);
        const float v = s[oy * g.ow + ox] * inv;
        for (int64_t iy = ya; iy < yb; ++iy)
          for (int64_t ix = xa; ix < xb; ++ix) d[iy * W + ix] += v;
      }
    }
  }
}

}  // namespace avgk
