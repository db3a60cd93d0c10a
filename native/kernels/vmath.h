// Vectorisable float32 math (exp, log, log1p, sigmoid, tanh) and the parallel-for helpers shared
// by the elementwise / reduce / softmax / loss / select / optim kernels.
//
// The math functions are branch-free scalar code (bit casts, selects, polynomials) that GCC
// auto-vectorises when they are inlined into a loop compiled for AVX2 / AVX-512 (AVGK_MULTIVERSION,
// cpu_features.h).
// Accuracy: exp and log within ~2 ulp (Cephes polynomials), so ~2e-7 relative.
#pragma once
#include <omp.h>
#include "simd.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "gemm/gemm.h"

namespace avgk {
namespace vm {

// Largest of x[0..n), or NaN when any entry is NaN (softmax rows: NaN must reach every output).
AVGK_INLINE float max_or_nan(const float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  bool nan = false;
  for (int64_t j = 0; j < n; ++j) {
    mx = x[j] > mx ? x[j] : mx;
    nan |= x[j] != x[j];
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : mx;
}

AVGK_INLINE float as_float(uint32_t u) { return __builtin_bit_cast(float, u); }
AVGK_INLINE float as_float(int32_t u) { return __builtin_bit_cast(float, u); }
AVGK_INLINE uint32_t as_u32(float f) { return __builtin_bit_cast(uint32_t, f); }
AVGK_INLINE int32_t as_i32(float f) { return __builtin_bit_cast(int32_t, f); }
// c ? a : b as a bitwise blend. A plain ?: whose arms are a constant and a long computation is
// often turned into a branch by GCC, which then blocks if-conversion and vectorisation.
AVGK_INLINE float sel(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return as_float((as_u32(a) & m) | (as_u32(b) & ~m));
}

// exp(x): +inf above ln(FLT_MAX), gradual underflow to 0 below, NaN propagates.
AVGK_INLINE float exp(float x) {
  const float hi = 88.72283905206835f;
  const float lo = -104.5f;  // exp(lo) rounds to 0 even as a denormal
  const bool isnan = x != x;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  xc = isnan ? 0.0f : xc;  // keeps the int conversion below defined
  // round to nearest by truncation (floorf does not vectorise without -fno-trapping-math)
  const float t = xc * 1.44269504088896341f;
  const float half = t < 0.0f ? -0.5f : 0.5f;
  const int32_t ni = static_cast<int32_t>(t + half);  // in [-150, 128]
  const float n = static_cast<float>(ni);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r2 + r + 1.0f;
  const int32_t n1 = ni >> 1;
  const int32_t n2 = ni - n1;
  const float s1 = as_float(static_cast<int32_t>((n1 + 127) << 23));
  const float s2 = as_float(static_cast<int32_t>((n2 + 127) << 23));
  float res = p * s1 * s2;
  res = sel(x > hi, std::numeric_limits<float>::infinity(), res);
  return sel(isnan, x, res);
}

// log(x): -inf at 0, NaN below 0 and for NaN, +inf at +inf; denormals handled.
AVGK_INLINE float log(float x) {
  const bool denorm = x < 1.17549435e-38f;
  float xs = denorm ? x * 8388608.0f : x;  // 2^23
  int32_t u = as_i32(xs);
  float e = static_cast<float>((u >> 23) - 126) - (denorm ? 23.0f : 0.0f);
  float m = as_float(static_cast<int32_t>((u & 0x007FFFFF) | 0x3F000000));  // [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  float t = small ? m + m - 1.0f : m - 1.0f;
  float z = t * t;
  float y = 7.0376836292E-2f;
  y = y * t - 1.1514610310E-1f;
  y = y * t + 1.1676998740E-1f;
  y = y * t - 1.2420140846E-1f;
  y = y * t + 1.4249322787E-1f;
  y = y * t - 1.6668057665E-1f;
  y = y * t + 2.0000714765E-1f;
  y = y * t - 2.4999993993E-1f;
  y = y * t + 3.3333331174E-1f;
  y = y * t * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = t + y;
  r = r + e * 0.693359375f;
  r = sel(x == std::numeric_limits<float>::infinity(), x, r);
  r = sel(x == 0.0f, -std::numeric_limits<float>::infinity(), r);
  r = sel((x < 0.0f) | (x != x), std::numeric_limits<float>::quiet_NaN(), r);
  return r;
}

// log(1 + t) for t ≥ 0 (accurate for tiny t: Goldberg's trick).
AVGK_INLINE float log1p_pos(float t) {
  float u = 1.0f + t;
  float d = u - 1.0f;
  float l = log(u);
  return sel(d == 0.0f, t, l * (t / d));
}

// σ(x) = 1/(1+e^{-x}), accurate in both tails.
AVGK_INLINE float sigmoid(float x) {
  float ax = x < 0.0f ? -x : x;
  float e = exp(-ax);
  float inv = 1.0f / (1.0f + e);
  return sel(x >= 0.0f, inv, sel(x != x, x, e * inv));
}

AVGK_INLINE float tanh(float x) {
  float ax = x < 0.0f ? -x : x;
  // |x| < 0.625: odd polynomial (Cephes tanhf)
  float z = x * x;
  float p = -5.70498872745E-3f;
  p = p * z + 2.06390887954E-2f;
  p = p * z - 5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z - 3.33332819422E-1f;
  float small = p * z * x + x;
  // otherwise 1 - 2/(e^{2|x|}+1), with the sign of x
  float e = exp(ax + ax);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = sel(x < 0.0f, -big, big);
  return sel(ax < 0.625f, small, sel(x != x, x, big));
}

// Σ_{i<n} f(i) in double with 16 independent lanes. (An `omp simd reduction` inside a function
// with a target attribute is sized for the baseline ISA and does not vectorise.) f may have side
// effects (e.g. write a gradient); it is called exactly once per i, in blocks of 16.
template <class F>
AVGK_INLINE double lane_sum(int64_t n, F&& f) {
  constexpr int L = 16;
  double acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    for (int j = 0; j < L; ++j) acc[j] += static_cast<double>(f(i + j));
  }
  double s = 0.0;
  for (; i < n; ++i) s += static_cast<double>(f(i));
  for (int j = 0; j < L; ++j) s += acc[j];
  return s;
}

}  // namespace vm

#if AVGK_X86
// ------------------------------------------------------------------ explicit AVX-512 math
// 16-lane versions of exp / log1p / reciprocal for the hot loss and softmax loops. Only callable
// from functions compiled with AVGK_T512 (and only reached when isa() == kAvx512).
namespace v512 {
#define AVGK_V512 AVGK_T512 inline __attribute__((always_inline))

// exp(x) for x <= 0 (or NaN) with a 16-entry table of 2^(j/16) and a degree-3 polynomial.
// y = x·16/ln2 + 1.5·2^23 holds n = round(x·16/ln2) in its low bits; permutexvar reads j = n & 15
// from them, and n >> 4 goes into the exponent by an integer add of n << 19 onto entries stored as
// bits(2^(j/16)) - (j << 19) (the j << 19 part cancels). r = x - n·ln2/16, |r| <= ln2/32,
// e^r - 1 = r + r²(1/2 + r/6) (error below 1e-8). Max relative error 3.1e-7 against double exp
// over [-87.33, 0]. Below -87.33 (where e^x is subnormal, down to -inf) it returns 0: the last FMA
// is masked off there, which also discards the integer arithmetic's out-of-range exponent. NaN
// lanes stay on (unordered compare) and propagate.
// It replaced a Cody-Waite + degree-5 + scalef exp with as many vector operations, of which 7 ran
// on the FMA pipes plus a half-rate scalef, against 6 here: softmax CE at 10^7 logits went from
// 0.23 to 0.21 ns per logit on Zen 5 (0.20 with the log-free loss sum in losses.cc).
AVGK_V512 __m512 exp_nonpos_tab(__m512 x) {
  alignas(64) static const int32_t kT[16] = {
#define E(j, v) static_cast<int32_t>(v - (j << 19))
    E(0, 0x3f800000), E(1, 0x3f85aac3), E(2, 0x3f8b95c2), E(3, 0x3f91c3d3), E(4, 0x3f9837f0), E(5, 0x3f9ef532),
    E(6, 0x3fa5fed7), E(7, 0x3fad583f), E(8, 0x3fb504f3), E(9, 0x3fbd08a4), E(10, 0x3fc5672a), E(11, 0x3fce248c),
    E(12, 0x3fd744fd), E(13, 0x3fe0ccdf), E(14, 0x3feac0c7), E(15, 0x3ff5257d)
#undef E
  };
  const __mmask16 ok = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33f), _CMP_NLT_UQ);
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  const __m512 y = _mm512_fmadd_ps(x, _mm512_set1_ps(23.083120654223414f), magic);
  const __m512 n = _mm512_sub_ps(y, magic);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147182464599609375f / 16.0f), x);
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 q = _mm512_fmadd_ps(r2, _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f)), r);
  const __m512i yi = _mm512_castps_si512(y);
  const __m512i t = _mm512_permutexvar_epi32(yi, _mm512_load_si512(kT));
  const __m512 sc = _mm512_castsi512_ps(_mm512_add_epi32(t, _mm512_slli_epi32(yi, 19)));
  return _mm512_maskz_fmadd_ps(ok, sc, q, sc);
}

// log(1 + e) for e in [0, 1] (or NaN), 16-entry table: k = the top 4 mantissa bits of 1 + e,
// A_k = (a short float near) 1/(1 + (k+½)/16), so r = (1+e)·A_k - 1 = fma(e, A_k, A_k - 1) is exact up to
// one rounding and |r| < 1/16; log1p(e) = -log A_k + log1p(r) (degree-6 Taylor, error < 1e-8 · r).
// A_0 = 1 makes r = e exactly, so tiny e keep full relative accuracy. ~1-2 ulp.
AVGK_V512 __m512 log1p_01_tab(__m512 e) {
  alignas(64) static const float kA[16] = {1.0f, 0.9140625f, 0.86328125f, 0.8203125f, 0.78125f, 0.74609375f, 0.7109375f, 0.6796875f, 0.65234375f, 0.62890625f, 0.60546875f, 0.58203125f, 0.5625f, 0.54296875f, 0.5234375f, 0.5078125f};
  alignas(64) static const float kB[16] = {0.0f, -0.0859375f, -0.13671875f, -0.1796875f, -0.21875f, -0.25390625f, -0.2890625f, -0.3203125f, -0.34765625f, -0.37109375f, -0.39453125f, -0.41796875f, -0.4375f, -0.45703125f, -0.4765625f, -0.4921875f};
  alignas(64) static const float kL[16] = {0.0f, 8.985632912e-02f, 1.470147430e-01f, 1.980699138e-01f, 2.468600779e-01f, 2.929040164e-01f, 3.411707574e-01f, 3.861221453e-01f, 4.271836321e-01f, 4.637730795e-01f, 5.017523276e-01f, 5.412311385e-01f, 5.753641449e-01f, 6.107035113e-01f, 6.473376445e-01f, 6.776429940e-01f};
  // (1 - 2^-23)·e + 1 < 2 even for e = 1, so the index is always the mantissa of a number in [1, 2)
  const __m512 u = _mm512_fmadd_ps(e, _mm512_set1_ps(0.99999988079071044921875f), _mm512_set1_ps(1.0f));
  const __m512i k = _mm512_srli_epi32(_mm512_castps_si512(u), 19);  // permutexvar reads the low 4 bits
  const __m512 r = _mm512_fmadd_ps(e, _mm512_permutexvar_ps(k, _mm512_load_ps(kA)),
                                   _mm512_permutexvar_ps(k, _mm512_load_ps(kB)));
  // 1 - r/2 + r²/3 - r³/4 + r⁴/5 - r⁵/6 by Estrin's scheme (3 dependent FMAs instead of 5)
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 a = _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), r, _mm512_set1_ps(1.0f));
  const __m512 b = _mm512_fmadd_ps(_mm512_set1_ps(-0.25f), r, _mm512_set1_ps(1.0f / 3.0f));
  const __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(-1.0f / 6.0f), r, _mm512_set1_ps(0.2f));
  const __m512 p = _mm512_fmadd_ps(r2, _mm512_fmadd_ps(r2, c, b), a);
  return _mm512_fmadd_ps(p, r, _mm512_permutexvar_ps(k, _mm512_load_ps(kL)));
}

// 1/u for u in [1, 2] (or NaN): rcp14 + one Newton step (~1 ulp).
AVGK_V512 __m512 recip_12(__m512 u) {
  const __m512 r = _mm512_rcp14_ps(u);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(u, r, _mm512_set1_ps(2.0f)));
}

// Adds the 16 float lanes of v to two double accumulators (lo / hi halves).
AVGK_V512 void add_to_double(__m512 v, __m512d& lo, __m512d& hi) {
  lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

AVGK_V512 __mmask16 tail_mask(int64_t k) { return static_cast<__mmask16>((1u << k) - 1u); }

}  // namespace v512
#endif

// ------------------------------------------------------------------ parallel helpers
// Element count above which a kernel splits its work across threads.
constexpr int64_t kParallelMin = 1 << 16;

inline int threads_for(int64_t work) {
  if (work < kParallelMin) return 1;
  int nt = get_num_threads();
  int64_t cap = work / (kParallelMin / 2);
  if (cap < nt) nt = static_cast<int>(cap);
  return nt < 1 ? 1 : nt;
}

// f(begin, end) over [0, n) in contiguous chunks (aligned to 16 elements), one per thread.
template <class F>
void parallel_for(int64_t n, F&& f, int64_t work_per_item = 1) {
  int nt = threads_for(n * work_per_item);
  if (nt <= 1 || n < 2) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  if (nt > n) nt = static_cast<int>(n);
  const bool align = work_per_item == 1;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (align) {
      b = t == 0 ? 0 : (b & ~int64_t{15});
      e = t == nt - 1 ? n : (e & ~int64_t{15});
    }
    if (e > b) f(b, e);
  }
}

// Σ over chunks of f(begin, end) -> double, added in chunk order. The chunks depend on n and
// work_per_item only (as many as threads_for would allow on unlimited threads, at most
// kSumChunksMax; aligned to 16 elements), never on the thread count: the same sum on any number
// of threads.
constexpr int kSumChunksMax = 64;
template <class F>
double parallel_sum(int64_t n, F&& f, int64_t work_per_item = 1) {
  if (n <= 0) return 0.0;
  const int64_t work = n * work_per_item;
  const int64_t nc = work < kParallelMin ? 1 : std::min<int64_t>({kSumChunksMax, n, work / (kParallelMin / 2)});
  if (nc <= 1) return f(int64_t{0}, n);
  double part[kSumChunksMax];
  const bool align = work_per_item == 1;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(work), nc));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t c = 0; c < nc; ++c) {
    int64_t b = n * c / nc, e = n * (c + 1) / nc;
    if (align) {
      b = c == 0 ? 0 : (b & ~int64_t{15});
      e = c == nc - 1 ? n : (e & ~int64_t{15});
    }
    part[c] = e > b ? f(b, e) : 0.0;
  }
  double s = 0.0;
  for (int64_t c = 0; c < nc; ++c) s += part[c];
  return s;
}

}  // namespace avgk
