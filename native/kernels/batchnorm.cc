// Batch normalisation over x viewed as [n, c, hw] (statistics per channel c).
// OpenMP-parallel over channels; each channel's data (n segments of hw floats) is processed with
// vectorisable loops: sums use 16 float lanes over blocks of at most kBlock elements, and the block
// sums are accumulated in double. Training statistics are two-pass (mean, then the centred sum of
// squares, corrected for the rounding of the mean), so large means do not cancel.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels.h"
#include "tuning.h"
#include "vmath.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include "simd.h"
#endif


namespace avgk {
namespace {

constexpr int64_t kBlock = 1024;
constexpr int kLanes = 16;

inline float hsum(const float* acc) {
  float t = 0.f;
  for (int l = 0; l < kLanes; ++l) t += acc[l];
  return t;
}

// Σ x over a segment (double result).
inline double seg_sum(const float* __restrict x, int64_t n) {
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float acc[kLanes] = {0};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
    float r = 0.f;
    for (; i < e; ++i) r += x[i];
    total += (double)hsum(acc) + (double)r;
  }
  return total;
}

// Σ (x-m) and Σ (x-m)^2 over a segment.
inline void seg_centred(const float* __restrict x, int64_t n, float m, double& s1, double& s2) {
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float a1[kLanes] = {0}, a2[kLanes] = {0};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = x[i + l] - m;
        a1[l] += d;
        a2[l] += d * d;
      }
    float r1 = 0.f, r2 = 0.f;
    for (; i < e; ++i) {
      const float d = x[i] - m;
      r1 += d;
      r2 += d * d;
    }
    s1 += (double)hsum(a1) + (double)r1;
    s2 += (double)hsum(a2) + (double)r2;
  }
}

// The output gradient as the batch norm sees it: with a fused ReLU (y = its output, non-null), gy
// where y > 0 and 0 elsewhere (as relu's own backward: 0 at y = 0 and for NaN).
inline float gate(const float* __restrict y, const float* __restrict gy, int64_t i) {
  return y == nullptr || y[i] > 0.f ? gy[i] : 0.f;
}

// Σ gy and Σ gy*(x-m) over a segment (gy gated by y, see gate).
inline void seg_grad_sums(const float* __restrict x, const float* __restrict gy, const float* __restrict y, int64_t n,
                          float m, double& sg, double& sgx) {
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float a1[kLanes] = {0}, a2[kLanes] = {0};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float g = gate(y, gy, i + l);
        a1[l] += g;
        a2[l] += g * (x[i + l] - m);
      }
    float r1 = 0.f, r2 = 0.f;
    for (; i < e; ++i) {
      const float g = gate(y, gy, i);
      r1 += g;
      r2 += g * (x[i] - m);
    }
    sg += (double)hsum(a1) + (double)r1;
    sgx += (double)hsum(a2) + (double)r2;
  }
}

// One channel of the forward pass. stride = c*hw (distance between images).
AVGK_INLINE void bn_fwd_channel_body(const float* __restrict x, float* __restrict out, int64_t n, int64_t hw,
                                     int64_t stride, float gamma, float beta, float eps, bool training, bool relu,
                                     float* mean_io, float* var_io) {
  float m, v;
  if (training) {
    const double N = (double)n * (double)hw;
    double s = 0.0;
    for (int64_t b = 0; b < n; ++b) s += seg_sum(x + b * stride, hw);
    const double md = s / N;
    const float mf = (float)md;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t b = 0; b < n; ++b) seg_centred(x + b * stride, hw, mf, s1, s2);
    const double d = s1 / N;  // mean(x) - mf
    double vd = s2 / N - d * d;
    if (vd < 0) vd = 0;
    m = (float)(md);
    v = (float)vd;
    *mean_io = m;
    *var_io = v;
  } else {
    m = *mean_io;
    v = *var_io;
  }
  const float scale = (float)((double)gamma / std::sqrt((double)v + (double)eps));
  for (int64_t b = 0; b < n; ++b) {
    const float* __restrict xs = x + b * stride;
    float* __restrict os = out + b * stride;
    if (relu) {
      for (int64_t i = 0; i < hw; ++i) {
        const float v = (xs[i] - m) * scale + beta;
        os[i] = v < 0.f ? 0.f : v;  // relu: NaN propagates
      }
    } else {
      for (int64_t i = 0; i < hw; ++i) os[i] = (xs[i] - m) * scale + beta;
    }
  }
}
AVGK_ARCH_VERSIONS(void, bn_fwd_channel,
                   (const float* __restrict x, float* __restrict out, int64_t n, int64_t hw, int64_t stride,
                    float gamma, float beta, float eps, bool training, bool relu, float* mean_io, float* var_io),
                   (x, out, n, hw, stride, gamma, beta, eps, training, relu, mean_io, var_io))

AVGK_INLINE void bn_bwd_channel_body(const float* __restrict x, const float* __restrict gy, const float* __restrict y,
                                     float* __restrict gx, int64_t n, int64_t hw, int64_t stride, float gamma,
                                     float m, float v, float eps, bool training, float* ggamma, float* gbeta) {
  double sg = 0.0, sgx = 0.0;
  for (int64_t b = 0; b < n; ++b)
    seg_grad_sums(x + b * stride, gy + b * stride, y ? y + b * stride : nullptr, hw, m, sg, sgx);
  const double invstd = 1.0 / std::sqrt((double)v + (double)eps);
  *ggamma = (float)(sgx * invstd);
  *gbeta = (float)sg;
  const double k = (double)gamma * invstd;
  if (training) {
    // gx = k * (gy - Σgy/N - xhat * Σ(gy*xhat)/N),  xhat = (x-m)*invstd
    // = k * ((gy - mg) - (x - m) * q),  mg = Σgy/N,  q = invstd² Σ(gy*(x-m))/N
    const double N = (double)n * (double)hw;
    const float a = (float)k;
    const float q = (float)(invstd * invstd * sgx / N);
    const float mg = (float)(sg / N);
    for (int64_t b = 0; b < n; ++b) {
      const float* __restrict xs = x + b * stride;
      const float* __restrict gs = gy + b * stride;
      const float* __restrict ys = y ? y + b * stride : nullptr;
      float* __restrict os = gx + b * stride;
      for (int64_t i = 0; i < hw; ++i) os[i] = a * ((gate(ys, gs, i) - mg) - (xs[i] - m) * q);
    }
  } else {
    const float a = (float)k;
    for (int64_t b = 0; b < n; ++b) {
      const float* __restrict gs = gy + b * stride;
      const float* __restrict ys = y ? y + b * stride : nullptr;
      float* __restrict os = gx + b * stride;
      for (int64_t i = 0; i < hw; ++i) os[i] = a * gate(ys, gs, i);
    }
  }
}
AVGK_ARCH_VERSIONS(void, bn_bwd_channel,
                   (const float* __restrict x, const float* __restrict gy, const float* __restrict y,
                    float* __restrict gx, int64_t n, int64_t hw, int64_t stride, float gamma, float m, float v,
                    float eps, bool training, float* ggamma, float* gbeta),
                   (x, gy, y, gx, n, hw, stride, gamma, m, v, eps, training, ggamma, gbeta))

#if defined(__GNUC__) && defined(__x86_64__)
#define AVGK_HAVE_AVX512_BN 1
#define AVGK_AVX512 __attribute__((target("avx512f")))

inline bool bn_avx512() { return isa() == Isa::kAvx512 && tuning::bn_avx512; }

#ifndef BNPF
#define BNPF 1  // (0: without the software prefetch, to measure it)
#endif
// Software prefetch of one image's segment of a channel (hw floats). The channel loops jump from
// image to image (stride c*hw), so the hardware prefetcher restarts at every segment; it pays when
// the activations come from L3 (figures in bench/RESULTS.md's history).
inline void prefetch_plane(const float* p, int64_t hw, bool write) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t o = 0; o < hw * 4; o += 64) _mm_prefetch(c + o, write ? _MM_HINT_ET0 : _MM_HINT_T0);
}

AVGK_AVX512 inline __mmask16 tail_mask(int64_t r) { return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1u); }

// Block statistics of one contiguous block (≤ kBlock floats, L1-resident): exact two-pass mean / M2,
// merged into the running (count, mean, M2) with Chan et al.'s pairwise update (in double).
AVGK_AVX512
void block_stats(const float* x, int64_t len, double& cnt, double& mean, double& m2) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < len; i += 16) a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(tail_mask(len - i), x + i));
  const double bm = (double)_mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) / (double)len;
  const __m512 mv = _mm512_set1_ps((float)bm);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), d0 = _mm512_setzero_ps();
  for (i = 0; i + 16 <= len; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), mv);
    d0 = _mm512_add_ps(d0, d);
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < len) {
    const __mmask16 m = tail_mask(len - i);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mv);
    d0 = _mm512_add_ps(d0, d);
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  // correct for the rounding of the block mean: M2 = Σd² - (Σd)²/len
  const double sd = (double)_mm512_reduce_add_ps(d0);
  double bm2 = (double)_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) - sd * sd / (double)len;
  if (bm2 < 0) bm2 = 0;
  const double bmean = (double)(float)bm + sd / (double)len;
  const double n = (double)len, tot = cnt + n, delta = bmean - mean;
  mean += delta * n / tot;
  m2 += bm2 + delta * delta * cnt * n / tot;
  cnt = tot;
}

AVGK_AVX512
void bn_fwd_channel_avx512(const float* x, float* out, int64_t n, int64_t hw, int64_t stride, float gamma,
                           float beta, float eps, bool training, bool relu, float* mean_io, float* var_io) {
  float m, v;
  if (training) {
    double cnt = 0, mean = 0, m2 = 0;
    for (int64_t b = 0; b < n; ++b) {
      if (BNPF && b + 1 < n) prefetch_plane(x + (b + 1) * stride, hw, false);
      for (int64_t o = 0; o < hw; o += kBlock) block_stats(x + b * stride + o, std::min(kBlock, hw - o), cnt, mean, m2);
    }
    m = (float)mean;
    v = (float)(m2 / cnt);
    *mean_io = m;
    *var_io = v;
  } else {
    m = *mean_io;
    v = *var_io;
  }
  const __m512 mv = _mm512_set1_ps(m);
  const __m512 sc = _mm512_set1_ps((float)((double)gamma / std::sqrt((double)v + (double)eps)));
  const __m512 bv = _mm512_set1_ps(beta);
  // fused relu: max(lo, v) with lo = 0 (vmaxps returns its second operand, v, when either is NaN:
  // NaN propagates and -0 stays -0, as in relu); without it lo = -inf, a no-op.
  const __m512 lo = _mm512_set1_ps(relu ? 0.f : -INFINITY);
  for (int64_t b = 0; b < n; ++b) {
    const float* xs = x + b * stride;
    float* os = out + b * stride;
    if (BNPF && b + 1 < n) prefetch_plane(out + (b + 1) * stride, hw, true);
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16)
      _mm512_storeu_ps(os + i, _mm512_max_ps(lo, _mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(xs + i), mv), sc, bv)));
    if (i < hw) {
      const __mmask16 mk = tail_mask(hw - i);
      _mm512_mask_storeu_ps(
          os + i, mk, _mm512_max_ps(lo, _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, xs + i), mv), sc, bv)));
    }
  }
}

// Adds the 16 float lanes of f into two double vectors.
AVGK_AVX512 inline void flush(__m512 f, __m512d& d0, __m512d& d1) {
  d0 = _mm512_add_pd(d0, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
  d1 = _mm512_add_pd(d1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
}

// gy gated by the fused relu's output y (see gate); y == nullptr: gy.
AVGK_AVX512 inline __m512 gate16(const float* y, const float* gy, int64_t i) {
  const __m512 g = _mm512_loadu_ps(gy + i);
  if (y == nullptr) return g;
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(y + i), _mm512_setzero_ps(), _CMP_GT_OQ), g);
}
AVGK_AVX512 inline __m512 gate16_tail(const float* y, const float* gy, int64_t i, __mmask16 mk) {
  const __m512 g = _mm512_maskz_loadu_ps(mk, gy + i);
  if (y == nullptr) return g;
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(mk, y + i), _mm512_setzero_ps(), _CMP_GT_OQ), g);
}

AVGK_AVX512
void bn_bwd_channel_avx512(const float* x, const float* gy, const float* y, float* gx, int64_t n, int64_t hw,
                           int64_t stride, float gamma, float m, float v, float eps, bool training, float* ggamma,
                           float* gbeta) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512d g0 = _mm512_setzero_pd(), g1 = _mm512_setzero_pd(), h0 = _mm512_setzero_pd(), h1 = _mm512_setzero_pd();
  for (int64_t b = 0; b < n; ++b) {
    const float* xs = x + b * stride;
    const float* gs = gy + b * stride;
    const float* ys = y ? y + b * stride : nullptr;
    if (BNPF && b + 1 < n) {
      prefetch_plane(x + (b + 1) * stride, hw, false);
      prefetch_plane(gy + (b + 1) * stride, hw, false);
      if (y) prefetch_plane(y + (b + 1) * stride, hw, false);
    }
    for (int64_t o = 0; o < hw; o += kBlock) {
      const int64_t e = std::min(hw, o + kBlock);
      __m512 sg = _mm512_setzero_ps(), sgx = _mm512_setzero_ps();
      int64_t i = o;
      for (; i + 16 <= e; i += 16) {
        const __m512 g = gate16(ys, gs, i);
        sg = _mm512_add_ps(sg, g);
        sgx = _mm512_fmadd_ps(g, _mm512_sub_ps(_mm512_loadu_ps(xs + i), mv), sgx);
      }
      if (i < e) {
        const __mmask16 mk = tail_mask(e - i);
        const __m512 g = gate16_tail(ys, gs, i, mk);
        sg = _mm512_add_ps(sg, g);
        sgx = _mm512_fmadd_ps(g, _mm512_maskz_sub_ps(mk, _mm512_maskz_loadu_ps(mk, xs + i), mv), sgx);
      }
      flush(sg, g0, g1);
      flush(sgx, h0, h1);
    }
  }
  const double sgv = _mm512_reduce_add_pd(_mm512_add_pd(g0, g1));
  const double sgxv = _mm512_reduce_add_pd(_mm512_add_pd(h0, h1));
  const double invstd = 1.0 / std::sqrt((double)v + (double)eps);
  *ggamma = (float)(sgxv * invstd);
  *gbeta = (float)sgv;
  const double k = (double)gamma * invstd;
  const __m512 a = _mm512_set1_ps((float)k);
  if (training) {
    const double N = (double)n * (double)hw;
    const __m512 q = _mm512_set1_ps((float)(invstd * invstd * sgxv / N));
    const __m512 mg = _mm512_set1_ps((float)(sgv / N));
    for (int64_t b = 0; b < n; ++b) {
      const float* xs = x + b * stride;
      const float* gs = gy + b * stride;
      const float* ys = y ? y + b * stride : nullptr;
      float* os = gx + b * stride;
      if (BNPF && b + 1 < n) {
        prefetch_plane(x + (b + 1) * stride, hw, false);
        prefetch_plane(gy + (b + 1) * stride, hw, false);
        if (y) prefetch_plane(y + (b + 1) * stride, hw, false);
        prefetch_plane(gx + (b + 1) * stride, hw, true);
      }
      int64_t i = 0;
      for (; i + 16 <= hw; i += 16) {
        const __m512 t = _mm512_fnmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(xs + i), mv), q,
                                          _mm512_sub_ps(gate16(ys, gs, i), mg));
        _mm512_storeu_ps(os + i, _mm512_mul_ps(a, t));
      }
      if (i < hw) {
        const __mmask16 mk = tail_mask(hw - i);
        const __m512 t = _mm512_fnmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, xs + i), mv), q,
                                          _mm512_sub_ps(gate16_tail(ys, gs, i, mk), mg));
        _mm512_mask_storeu_ps(os + i, mk, _mm512_mul_ps(a, t));
      }
    }
  } else {
    for (int64_t b = 0; b < n; ++b) {
      const float* gs = gy + b * stride;
      const float* ys = y ? y + b * stride : nullptr;
      float* os = gx + b * stride;
      int64_t i = 0;
      for (; i + 16 <= hw; i += 16) _mm512_storeu_ps(os + i, _mm512_mul_ps(a, gate16(ys, gs, i)));
      if (i < hw) {
        const __mmask16 mk = tail_mask(hw - i);
        _mm512_mask_storeu_ps(os + i, mk, _mm512_mul_ps(a, gate16_tail(ys, gs, i, mk)));
      }
    }
  }
}
#endif

inline int nthreads_for(int64_t work, int64_t c) {
  int nt = get_num_threads();
  if (work < (int64_t)1 << 15) return 1;
  nt = (int)std::min<int64_t>(nt, c);
  return nt < 1 ? 1 : nt;
}

}  // namespace

void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* var,
                       int64_t n, int64_t c, int64_t hw, float eps, bool training, bool relu) {
  if (c <= 0) return;
  if (n <= 0 || hw <= 0) {
    // empty batch: statistics are undefined (0/0); leave them as NaN like the mathematical definition
    if (training)
      for (int64_t ch = 0; ch < c; ++ch) mean[ch] = var[ch] = NAN;
    return;
  }
  const int64_t stride = c * hw;
  const int nt = nthreads_for(n * c * hw, c);
#ifdef AVGK_HAVE_AVX512_BN
  if (bn_avx512()) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t ch = 0; ch < c; ++ch)
      bn_fwd_channel_avx512(x + ch * hw, out + ch * hw, n, hw, stride, gamma[ch], beta[ch], eps, training, relu,
                            mean + ch, var + ch);
    return;
  }
#endif
  const auto fwd = bn_fwd_channel_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t ch = 0; ch < c; ++ch)
    fwd(x + ch * hw, out + ch * hw, n, hw, stride, gamma[ch], beta[ch], eps, training, relu, mean + ch, var + ch);
}

void batchnorm_backward(const float* x, const float* gy, const float* y, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        float eps, bool training) {
  if (c <= 0) return;
  if (n <= 0 || hw <= 0) {
    for (int64_t ch = 0; ch < c; ++ch) ggamma[ch] = gbeta[ch] = 0.f;
    return;
  }
  const int64_t stride = c * hw;
  const int nt = nthreads_for(n * c * hw, c);
#ifdef AVGK_HAVE_AVX512_BN
  if (bn_avx512()) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t ch = 0; ch < c; ++ch)
      bn_bwd_channel_avx512(x + ch * hw, gy + ch * hw, y ? y + ch * hw : nullptr, gx + ch * hw, n, hw, stride,
                            gamma[ch], mean[ch], var[ch], eps, training, ggamma + ch, gbeta + ch);
    return;
  }
#endif
  const auto bwd = bn_bwd_channel_version();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t ch = 0; ch < c; ++ch)
    bwd(x + ch * hw, gy + ch * hw, y ? y + ch * hw : nullptr, gx + ch * hw, n, hw, stride, gamma[ch], mean[ch],
        var[ch], eps, training, ggamma + ch, gbeta + ch);
}

}  // namespace avgk
