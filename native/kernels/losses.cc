// Fused losses: softmax cross-entropy with label smoothing, sigmoid binary cross-entropy.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

// Σ_rows loss; grad (nullable) may be exactly the logits array (in place).
AVGK_INLINE double softmax_ce_rows_body(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                                   float smoothing, float* grad) {
  const double eps = smoothing;
  const float eps_over_c = static_cast<float>(eps / static_cast<double>(cols));
  double total = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const int32_t y = labels[r];
    const float mx = vm::max_or_nan(xr, cols);
    const float xl = xr[y];
    // Σ_j (mx - x_j) for the smoothing term, before grad (which may alias x) is written
    const double dev = smoothing != 0.0f ? vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return mx - xr[j]; }) : 0.0;
    double s;
    if (grad) {
      float* gr = grad + r * cols;
      s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA {
        const float e = vm::exp(xr[j] - mx);
        gr[j] = e;
        return e;
      });
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t j = 0; j < cols; ++j) gr[j] = gr[j] * inv - eps_over_c;
      gr[y] -= static_cast<float>(1.0 - eps);
    } else {
      s = vm::lane_sum(cols, [&](int64_t j) AVGK_LAMBDA { return vm::exp(xr[j] - mx); });
    }
    // loss = log Σ e^{x-mx} + (1-ε)(mx - x_y) + ε * mean_j(mx - x_j)
    double loss = std::log(s) + (1.0 - eps) * (static_cast<double>(mx) - xl);
    if (smoothing != 0.0f) loss += eps * dev / static_cast<double>(cols);
    total += loss;
  }
  return total;
}
#if AVGK_X86
// All-lanes horizontal max / sum, result broadcast (no scalar round trip).
AVGK_V512 __m512 bcast_max(__m512 v) {
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}
AVGK_V512 __m512 bcast_sum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

// Max / sum of v[0..N) as a balanced tree (depth log2 N, not N - 1: these rows are latency-bound).
template <int N, bool MAX>
AVGK_V512 __m512 tree_reduce(const __m512* v) {
  if constexpr (N == 1) {
    return v[0];
  } else {
    const __m512 a = tree_reduce<N / 2, MAX>(v), b = tree_reduce<N - N / 2, MAX>(v + N / 2);
    return MAX ? _mm512_max_ps(b, a) : _mm512_add_ps(a, b);
  }
}

// Σ over rows of (log s_r + rest_r) with no log call in the row loop: Σ log s_r is kept as
// log(m) + k·ln2, where the running product m is brought back into [1, 2) every 8 rows by moving
// its binary exponent into the integer k (s_r ∈ [1, cols], so 8 factors cannot overflow). A call to
// log every 8 rows made the compiler spill the row's registers around it: about 8 % of the loop.
// A NaN or infinite product (NaN logits) goes into the total as log(m), so it propagates.
struct CeLossSum {
  double total = 0.0, prod = 1.0;
  int64_t k = 0;
  int nprod = 0;
  void add(double s, double rest) {
    total += rest;
    prod *= s;
    if (++nprod == 8) renormalise();
  }
  void renormalise() {
    nprod = 0;
    uint64_t b;
    std::memcpy(&b, &prod, sizeof b);
    const int64_t ex = static_cast<int64_t>(b >> 52);  // the sign bit is 0: every s_r >= 1 (or NaN)
    if (ex == 0x7FF || ex == 0) {  // NaN / inf (or a zero that cannot happen): let log carry it
      total += std::log(prod);
      prod = 1.0;
      return;
    }
    k += ex - 1023;
    b = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    std::memcpy(&prod, &b, sizeof b);
  }
  double result() const { return total + std::log(prod) + static_cast<double>(k) * 0.69314718055994530942; }
};

// AVX-512 rows: vector max pass; exp(x - max) pass (stores e into grad, sums e and x - max); grad pass.
template <bool G, bool S>
AVGK_V512 double softmax_ce512(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                               float smoothing, float* grad) {
  const double eps = smoothing;
  const __m512 eps_over_c = _mm512_set1_ps(static_cast<float>(eps / static_cast<double>(cols)));
  const int64_t cv = cols & ~int64_t{15};
  const __mmask16 tm = v512::tail_mask(cols - cv);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // Σ (x - mx) is accumulated pre-scaled by 1/cols so the float partials stay within max |x - mx|.
  const __m512 inv_c = _mm512_set1_ps(static_cast<float>(1.0 / static_cast<double>(cols)));
  CeLossSum sum;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* gr = G ? grad + r * cols : nullptr;
    const int32_t y = labels[r];
    const float xl = xr[y];
    // NaN is skipped by the max (first operand NaN -> second returned) but then propagates through
    // exp into the sum, the loss and every gradient entry, as in the scalar path.
    __m512 mv0 = ninf, mv1 = ninf;
    int64_t j = 0;
    for (; j + 32 <= cv; j += 32) {
      mv0 = _mm512_max_ps(_mm512_loadu_ps(xr + j), mv0);
      mv1 = _mm512_max_ps(_mm512_loadu_ps(xr + j + 16), mv1);
    }
    if (j < cv) mv0 = _mm512_max_ps(_mm512_loadu_ps(xr + j), mv0);
    if (tm) mv1 = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tm, xr + cv), mv1);
    const __m512 mx = bcast_max(_mm512_max_ps(mv0, mv1));
    const float mxs = _mm512_cvtss_f32(mx);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), d0 = _mm512_setzero_ps();
    for (j = 0; j + 32 <= cv; j += 32) {
      const __m512 a = _mm512_sub_ps(_mm512_loadu_ps(xr + j), mx);
      const __m512 b = _mm512_sub_ps(_mm512_loadu_ps(xr + j + 16), mx);
      const __m512 ea = v512::exp_nonpos_tab(a), eb = v512::exp_nonpos_tab(b);
      if (G) {
        _mm512_storeu_ps(gr + j, ea);
        _mm512_storeu_ps(gr + j + 16, eb);
      }
      s0 = _mm512_add_ps(s0, ea);
      s1 = _mm512_add_ps(s1, eb);
      if (S) d0 = _mm512_fmadd_ps(a, inv_c, _mm512_fmadd_ps(b, inv_c, d0));
    }
    if (j < cv) {
      const __m512 a = _mm512_sub_ps(_mm512_loadu_ps(xr + j), mx);
      const __m512 ea = v512::exp_nonpos_tab(a);
      if (G) _mm512_storeu_ps(gr + j, ea);
      s0 = _mm512_add_ps(s0, ea);
      if (S) d0 = _mm512_fmadd_ps(a, inv_c, d0);
    }
    if (tm) {
      const __m512 a = _mm512_sub_ps(_mm512_maskz_loadu_ps(tm, xr + cv), mx);
      const __m512 ea = v512::exp_nonpos_tab(a);
      if (G) _mm512_mask_storeu_ps(gr + cv, tm, ea);
      s1 = _mm512_mask_add_ps(s1, tm, s1, ea);
      if (S) d0 = _mm512_mask3_fmadd_ps(a, inv_c, d0, tm);
    }
    const __m512 sv = bcast_sum(_mm512_add_ps(s0, s1));
    const float s = _mm512_cvtss_f32(sv);
    if (G) {
      const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), sv);
      for (j = 0; j < cv; j += 16) _mm512_storeu_ps(gr + j, _mm512_fmsub_ps(_mm512_loadu_ps(gr + j), inv, eps_over_c));
      if (tm) _mm512_mask_storeu_ps(gr + cv, tm, _mm512_fmsub_ps(_mm512_maskz_loadu_ps(tm, gr + cv), inv, eps_over_c));
      gr[y] -= static_cast<float>(1.0 - eps);
    }
    // loss = log Σ e^{x-mx} + (1-ε)(mx - x_y) + ε * mean_j(mx - x_j)
    double loss = (1.0 - eps) * (static_cast<double>(mxs) - xl);
    if (S) loss -= eps * static_cast<double>(_mm512_reduce_add_ps(d0));
    sum.add(static_cast<double>(s), loss);
  }
  return sum.result();
}

// Rows of at most 16·NV columns (the usual class counts), two rows at a time, each row held in
// registers from its load to its gradient store: no second pass over the row, and two independent
// max -> exp -> sum -> scale chains in flight (these rows are latency-bound, not bandwidth-bound).
template <int NV, bool G, bool S>
AVGK_V512 double softmax_ce512_regs(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                                    float smoothing, float* grad) {
  const double eps = smoothing;
  const __m512 eps_over_c = _mm512_set1_ps(static_cast<float>(eps / static_cast<double>(cols)));
  const __m512 inv_c = _mm512_set1_ps(static_cast<float>(1.0 / static_cast<double>(cols)));
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __mmask16 tm = v512::tail_mask(cols - 16 * (NV - 1));  // the last vector's lanes (all 16: 0xFFFF)
  CeLossSum acc;
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {
    __m512 v[2][NV], e[2][NV];
    __m512 mx[2], sum[2], d[2];
    float xl[2];
    {
      // Software prefetch 8 rows ahead, of the logits and (for writing) of the gradient: at 10^7
      // logits this took the row loop from 0.34 to 0.28 ns per logit here (the hardware prefetcher
      // alone leaves the row-to-row latency exposed); in cache it costs ~3 %.
      const int64_t ahead = std::min(r + 8, r1 - 2);
      const char* px = reinterpret_cast<const char*>(x + ahead * cols);
      for (int64_t o = 0; o < 2 * cols * 4; o += 64) _mm_prefetch(px + o, _MM_HINT_T0);
      if (G) {
        char* pg = reinterpret_cast<char*>(grad + ahead * cols);
        for (int64_t o = 0; o < 2 * cols * 4; o += 64) _mm_prefetch(pg + o, _MM_HINT_ET0);
      }
    }
    for (int q = 0; q < 2; ++q) {
      const float* xr = x + (r + q) * cols;
      xl[q] = xr[labels[r + q]];  // read before an in-place gradient overwrites the row
      for (int j = 0; j < NV - 1; ++j) v[q][j] = _mm512_loadu_ps(xr + 16 * j);
      v[q][NV - 1] = _mm512_mask_loadu_ps(ninf, tm, xr + 16 * (NV - 1));
      mx[q] = bcast_max(tree_reduce<NV, true>(v[q]));  // (NaN lanes may be skipped: exp brings NaN back)
    }
    for (int q = 0; q < 2; ++q) {
      __m512 dd = _mm512_setzero_ps();
      for (int j = 0; j < NV; ++j) {
        const __m512 a = _mm512_sub_ps(v[q][j], mx[q]);
        e[q][j] = v512::exp_nonpos_tab(a);  // the -inf padding lanes give 0
        if (S) dd = j == NV - 1 ? _mm512_mask3_fmadd_ps(a, inv_c, dd, tm) : _mm512_fmadd_ps(a, inv_c, dd);
      }
      sum[q] = bcast_sum(tree_reduce<NV, false>(e[q]));
      d[q] = dd;
    }
    for (int q = 0; q < 2; ++q) {
      if (G) {
        float* gr = grad + (r + q) * cols;
        const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), sum[q]);
        for (int j = 0; j < NV - 1; ++j) _mm512_storeu_ps(gr + 16 * j, _mm512_fmsub_ps(e[q][j], inv, eps_over_c));
        _mm512_mask_storeu_ps(gr + 16 * (NV - 1), tm, _mm512_fmsub_ps(e[q][NV - 1], inv, eps_over_c));
      }
    }
    for (int q = 0; q < 2; ++q) {
      if (G) grad[(r + q) * cols + labels[r + q]] -= static_cast<float>(1.0 - eps);
      double loss = (1.0 - eps) * (static_cast<double>(_mm512_cvtss_f32(mx[q])) - xl[q]);
      if (S) loss -= eps * static_cast<double>(_mm512_reduce_add_ps(d[q]));
      acc.add(static_cast<double>(_mm512_cvtss_f32(sum[q])), loss);
    }
  }
  if (r < r1) acc.total += softmax_ce512<G, S>(x, labels, r, r1, cols, smoothing, grad);  // an odd last row
  return acc.result();
}

AVGK_T512 double softmax_ce_rows_avx512(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                                        float smoothing, float* grad) {
#define AVGK_CE_ROWS(FN, ...)                                                        \
  (smoothing != 0.0f ? (grad ? FN<__VA_ARGS__ __VA_OPT__(,) true, true>(x, labels, r0, r1, cols, smoothing, grad)     \
                             : FN<__VA_ARGS__ __VA_OPT__(,) false, true>(x, labels, r0, r1, cols, smoothing, grad))  \
                     : (grad ? FN<__VA_ARGS__ __VA_OPT__(,) true, false>(x, labels, r0, r1, cols, smoothing, grad)    \
                             : FN<__VA_ARGS__ __VA_OPT__(,) false, false>(x, labels, r0, r1, cols, smoothing, grad)))
  switch ((cols + 15) / 16) {  // rows of up to 128 columns stay in registers
    case 1: return AVGK_CE_ROWS(softmax_ce512_regs, 1);
    case 2: return AVGK_CE_ROWS(softmax_ce512_regs, 2);
    case 3: return AVGK_CE_ROWS(softmax_ce512_regs, 3);
    case 4: return AVGK_CE_ROWS(softmax_ce512_regs, 4);
    case 5: return AVGK_CE_ROWS(softmax_ce512_regs, 5);
    case 6: return AVGK_CE_ROWS(softmax_ce512_regs, 6);
    case 7: return AVGK_CE_ROWS(softmax_ce512_regs, 7);
    case 8: return AVGK_CE_ROWS(softmax_ce512_regs, 8);
    default: return AVGK_CE_ROWS(softmax_ce512);
  }
#undef AVGK_CE_ROWS
}
AVGK_T256 double softmax_ce_rows_avx2(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                                      float smoothing, float* grad) {
  return softmax_ce_rows_body(x, labels, r0, r1, cols, smoothing, grad);
}
double softmax_ce_rows_base(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols,
                            float smoothing, float* grad) {
  return softmax_ce_rows_body(x, labels, r0, r1, cols, smoothing, grad);
}
double softmax_ce_rows(const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols, float smoothing,
                       float* grad) {
  switch (isa()) {
    case Isa::kAvx512: return softmax_ce_rows_avx512(x, labels, r0, r1, cols, smoothing, grad);
    case Isa::kAvx2: return softmax_ce_rows_avx2(x, labels, r0, r1, cols, smoothing, grad);
    default: return softmax_ce_rows_base(x, labels, r0, r1, cols, smoothing, grad);
  }
}
#else
AVGK_MULTIVERSION(double, softmax_ce_rows, (const float* x, const int32_t* labels, int64_t r0, int64_t r1, int64_t cols, float smoothing, float* grad), (x, labels, r0, r1, cols, smoothing, grad))
#endif


template <bool W, bool G>
AVGK_INLINE double bce_body(const float* z, const float* t, const float* w, float* g, int64_t n) {
  return vm::lane_sum(n, [&](int64_t i) AVGK_LAMBDA {
    const float zi = z[i], ti = t[i];
    const float az = zi < 0.0f ? -zi : zi;
    const float e = vm::exp(-az);
    // the linear part and the weighting in double: |z| near FLT_MAX (or weights > 1) would overflow
    // a float (the sum is a double anyway, as in the TypeScript twin)
    const double l = (static_cast<double>(zi > 0.0f ? zi : 0.0f) - static_cast<double>(zi) * ti) + vm::log1p_pos(e);
    if (G) {
      const float inv = 1.0f / (1.0f + e);
      const float sig = vm::sel(zi >= 0.0f, inv, e * inv);
      g[i] = W ? w[i] * (sig - ti) : (sig - ti);
    }
    return W ? static_cast<double>(w[i]) * l : l;
  });
}

// Σ loss over [0, n) entirely in double: the AVX-512 path's fallback for a block whose float
// partial sums are huge, infinite or NaN (the float lanes overflow long before a double would).
template <bool W>
double bce_sum_double(const float* z, const float* t, const float* w, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double zi = z[i], ti = t[i];
    const double l = ((zi > 0.0 ? zi : 0.0) - zi * ti) + std::log1p(std::exp(-std::fabs(zi)));
    s += W ? static_cast<double>(w[i]) * l : l;
  }
  return s;
}

AVGK_INLINE double bce_chunk_body(const float* z, const float* t, const float* w, float* g, int64_t n) {
  if (w) return g ? bce_body<true, true>(z, t, w, g, n) : bce_body<true, false>(z, t, w, g, n);
  return g ? bce_body<false, true>(z, t, w, g, n) : bce_body<false, false>(z, t, w, g, n);
}
#if AVGK_X86
// One 16-lane step of the BCE: returns the (weighted) per-lane losses, writes the gradient.
template <bool W, bool G>
AVGK_V512 __m512 bce_vec512(__m512 z, __m512 t, __m512 w, float* g, __mmask16 m) {
  const __m512 nabs = _mm512_or_ps(z, _mm512_set1_ps(-0.0f));  // -|z|
  const __m512 e = v512::exp_nonpos_tab(nabs);                 // e^{-|z|} ∈ [0, 1]
  // max(z,0) - z t + log1p(e^{-|z|})
  __m512 l = _mm512_add_ps(_mm512_fnmadd_ps(z, t, _mm512_max_ps(z, _mm512_setzero_ps())), v512::log1p_01_tab(e));
  if (W) l = _mm512_mul_ps(w, l);
  if (G) {
    const __m512 inv = v512::recip_12(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
    const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 sig = _mm512_mask_mul_ps(inv, neg, e, inv);  // σ(z): 1/(1+e) or e/(1+e)
    __m512 d = _mm512_sub_ps(sig, t);
    if (W) d = _mm512_mul_ps(w, d);
    if (m == 0xFFFF) _mm512_storeu_ps(g, d);
    else _mm512_mask_storeu_ps(g, m, d);
  }
  return l;
}

// True when a lane is NaN, infinite or beyond 1e30 in magnitude (float partials no longer trusted).
AVGK_V512 bool huge_lanes(__m512 v) {
  const __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), v);
  return _mm512_cmp_ps_mask(a, _mm512_set1_ps(1e30f), _CMP_NLT_UQ) != 0;
}

// Σ loss over [0, n): float partials per block of kBlock elements, added to double lanes per block;
// a block whose partials are huge (|z| near FLT_MAX, large weights) is summed again in double.
template <bool W, bool G>
AVGK_V512 double bce512(const float* z, const float* t, const float* w, float* g, int64_t n) {
  constexpr int64_t kBlock = 1024;
  __m512d dlo = _mm512_setzero_pd(), dhi = _mm512_setzero_pd();
  const __m512 one = _mm512_set1_ps(1.0f);
  double slow = 0.0;
  int64_t i = 0, b0 = 0;  // b0: start of the current block
  while (i + 16 <= n) {
    const int64_t end = std::min(n & ~int64_t{15}, i + kBlock);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (; i + 32 <= end; i += 32) {
      acc0 = _mm512_add_ps(acc0, bce_vec512<W, G>(_mm512_loadu_ps(z + i), _mm512_loadu_ps(t + i),
                                                  W ? _mm512_loadu_ps(w + i) : one, g + i, 0xFFFF));
      acc1 = _mm512_add_ps(acc1, bce_vec512<W, G>(_mm512_loadu_ps(z + i + 16), _mm512_loadu_ps(t + i + 16),
                                                  W ? _mm512_loadu_ps(w + i + 16) : one, g + i + 16, 0xFFFF));
    }
    for (; i < end; i += 16) {
      acc0 = _mm512_add_ps(acc0, bce_vec512<W, G>(_mm512_loadu_ps(z + i), _mm512_loadu_ps(t + i),
                                                  W ? _mm512_loadu_ps(w + i) : one, g + i, 0xFFFF));
    }
    const __m512 blk = _mm512_add_ps(acc0, acc1);
    if (huge_lanes(blk)) slow += bce_sum_double<W>(z + b0, t + b0, w ? w + b0 : nullptr, i - b0);
    else v512::add_to_double(blk, dlo, dhi);
    b0 = i;
  }
  if (i < n) {
    const __mmask16 m = v512::tail_mask(n - i);
    const __m512 l = _mm512_maskz_mov_ps(m, bce_vec512<W, G>(_mm512_maskz_loadu_ps(m, z + i), _mm512_maskz_loadu_ps(m, t + i),
                                                             W ? _mm512_maskz_loadu_ps(m, w + i) : one, g + i, m));
    if (huge_lanes(l)) slow += bce_sum_double<W>(z + i, t + i, w ? w + i : nullptr, n - i);
    else v512::add_to_double(l, dlo, dhi);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(dlo, dhi)) + slow;
}

AVGK_T512 double bce_chunk_avx512(const float* z, const float* t, const float* w, float* g, int64_t n) {
  if (w) return g ? bce512<true, true>(z, t, w, g, n) : bce512<true, false>(z, t, w, g, n);
  return g ? bce512<false, true>(z, t, w, g, n) : bce512<false, false>(z, t, w, g, n);
}
AVGK_T256 double bce_chunk_avx2(const float* z, const float* t, const float* w, float* g, int64_t n) {
  return bce_chunk_body(z, t, w, g, n);
}
double bce_chunk_base(const float* z, const float* t, const float* w, float* g, int64_t n) {
  return bce_chunk_body(z, t, w, g, n);
}
double bce_chunk(const float* z, const float* t, const float* w, float* g, int64_t n) {
  switch (isa()) {
    case Isa::kAvx512: return bce_chunk_avx512(z, t, w, g, n);
    case Isa::kAvx2: return bce_chunk_avx2(z, t, w, g, n);
    default: return bce_chunk_base(z, t, w, g, n);
  }
}
#else
double bce_chunk(const float* z, const float* t, const float* w, float* g, int64_t n) {
  return bce_chunk_body(z, t, w, g, n);
}
#endif


}  // namespace

double softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols, float smoothing,
                             float* grad) {
  if (rows <= 0) return 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= cols) {
      throw std::invalid_argument("label " + std::to_string(labels[r]) + " of row " + std::to_string(r) +
                                  " is outside [0, " + std::to_string(cols) + ")");
    }
  }
  return parallel_sum(
      rows, [&](int64_t b, int64_t e) { return softmax_ce_rows(logits, labels, b, e, cols, smoothing, grad); },
      cols * 2);
}

double sigmoid_bce(const float* logits, const float* targets, const float* weights, float* grad, int64_t n) {
  return parallel_sum(n, [&](int64_t b, int64_t e) {
    return bce_chunk(logits + b, targets + b, weights ? weights + b : nullptr, grad ? grad + b : nullptr, e - b);
  }, 2);
}

}  // namespace avgk
