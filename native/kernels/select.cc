// selectKth: the m-th largest float (1-based) among the selected entries, on the order-preserving
// uint32 image of the float bits ("keys").
// - n >= 2^16: sample-bracketed selection (select_sampled). A random sample picks two keys that
//   bracket the answer; one streaming pass over x counts the entries above the bracket and gathers
//   those inside it (~5 % of n for the median); the gathered entries are selected the same way,
//   down to the radix path. One pass over x in the common case.
// - otherwise, or when the bracket missed: radix selection (11 + 11 + 10 bits), a histogram pass
//   and a gather pass over x, then passes over the candidates.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include "simd.h"
#endif

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

constexpr int kBins = 2048;

AVGK_INLINE uint32_t key_of(uint32_t u) {
  // larger float -> larger key; negative floats are bit-flipped, positive ones get the top bit
  const uint32_t m = static_cast<uint32_t>(static_cast<int32_t>(u) >> 31) | 0x80000000u;
  return u ^ m;
}
AVGK_INLINE float float_of(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k ^ 0x80000000u) : ~k;
  return vm::as_float(u);
}

struct Hist1 {
  uint32_t h[4][kBins];
  int64_t nan = 0;
  int64_t selected = 0;
};

// Histogram of the top 11 key bits over [0, n); 4 interleaved sub-histograms so that runs of equal
// values do not serialise on one counter.
AVGK_INLINE void hist_top_body(const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, Hist1* H) {
  std::memset(H->h, 0, sizeof H->h);
  int64_t nan = 0, sel = 0;
  int64_t i = 0;
  if (mask) {
    for (; i + 4 <= n; i += 4) {
      for (int l = 0; l < 4; ++l) {
        const uint32_t v = u[i + l];
        const uint32_t on = mask[i + l] != 0;
        H->h[l][key_of(v) >> 21] += on;
        nan += on & ((v & 0x7FFFFFFFu) > 0x7F800000u);
        sel += on;
      }
    }
    for (; i < n; ++i) {
      const uint32_t v = u[i];
      const uint32_t on = mask[i] != 0;
      H->h[0][key_of(v) >> 21] += on;
      nan += on & ((v & 0x7FFFFFFFu) > 0x7F800000u);
      sel += on;
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      for (int l = 0; l < 4; ++l) {
        const uint32_t v = u[i + l];
        ++H->h[l][key_of(v) >> 21];
        nan += (v & 0x7FFFFFFFu) > 0x7F800000u;
      }
    }
    for (; i < n; ++i) {
      const uint32_t v = u[i];
      ++H->h[0][key_of(v) >> 21];
      nan += (v & 0x7FFFFFFFu) > 0x7F800000u;
    }
    sel = n;
  }
  for (int l = 1; l < 4; ++l)
    for (int b = 0; b < kBins; ++b) H->h[0][b] += H->h[l][b];
  H->nan = nan;
  H->selected = sel;
}
AVGK_MULTIVERSION(void, hist_top, (const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, Hist1* H), (u, mask, n, H))


// Keys whose top 11 bits equal `bucket` (and whose mask byte is set), appended to out; returns the
// count. Branch-free: out must have one spare slot.
AVGK_INLINE int64_t gather_bucket_body(const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n,
                                  uint32_t bucket, uint32_t* __restrict out) {
  int64_t pos = 0;
  if (mask) {
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t k = key_of(u[i]);
      out[pos] = k;
      pos += ((k >> 21) == bucket) & (mask[i] != 0);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t k = key_of(u[i]);
      out[pos] = k;
      pos += (k >> 21) == bucket;
    }
  }
  return pos;
}
AVGK_MULTIVERSION(int64_t, gather_bucket, (const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, uint32_t bucket, uint32_t* __restrict out), (u, mask, n, bucket, out))


// Finds the bin (from the top) that holds the m-th largest; m becomes the rank inside that bin.
int pick(const int64_t* hist, int bins, int64_t& m) {
  int64_t cum = 0;
  for (int b = bins - 1; b >= 0; --b) {
    if (cum + hist[b] >= m) {
      m -= cum;
      return b;
    }
    cum += hist[b];
  }
  return -1;
}

}  // namespace

namespace {

[[noreturn]] void throw_nan(int64_t nan) {
  throw std::invalid_argument("x contains " + std::to_string(nan) + " NaN entries");
}
[[noreturn]] void throw_m(int64_t m, int64_t selected) {
  throw std::invalid_argument("m = " + std::to_string(m) + " exceeds the " + std::to_string(selected) +
                              " selected entries");
}

// Radix selection: a histogram pass and a gather pass over x, then passes over the candidates.
float select_radix(const uint32_t* u, int64_t n, int64_t m, const uint8_t* mask) {

  int nt = threads_for(n);
  std::vector<Hist1> H(static_cast<size_t>(nt));
  std::vector<int64_t> beg(nt + 1);
  for (int t = 0; t <= nt; ++t) beg[t] = n * t / nt;
  if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; ++t) hist_top(u + beg[t], mask ? mask + beg[t] : nullptr, beg[t + 1] - beg[t], &H[t]);
  } else {
    hist_top(u, mask, n, &H[0]);
  }
  int64_t nan = 0, selected = 0;
  std::vector<int64_t> hist(kBins, 0);
  for (int t = 0; t < nt; ++t) {
    nan += H[t].nan;
    selected += H[t].selected;
    for (int b = 0; b < kBins; ++b) hist[b] += H[t].h[0][b];
  }
  if (nan > 0) throw_nan(nan);
  if (m > selected) throw_m(m, selected);
  int64_t rank = m;
  const uint32_t b1 = static_cast<uint32_t>(pick(hist.data(), kBins, rank));

  // gather the keys of bucket b1, one padded segment per thread
  std::vector<int64_t> segBase(nt + 1, 0), segCount(nt, 0);
  for (int t = 0; t < nt; ++t) segBase[t + 1] = segBase[t] + H[t].h[0][b1] + 1;
  // reused between calls (no page faults, no zero fill); grows only
  static thread_local std::unique_ptr<uint32_t[]> candBuf;
  static thread_local size_t candCap = 0;
  const size_t needCand = static_cast<size_t>(segBase[nt]);
  if (candCap < needCand) {
    candBuf.reset(new uint32_t[needCand]);
    candCap = needCand;
  }
  uint32_t* const cand = candBuf.get();
  if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; ++t)
      segCount[t] = gather_bucket(u + beg[t], mask ? mask + beg[t] : nullptr, beg[t + 1] - beg[t], b1,
                                  cand + segBase[t]);
  } else {
    segCount[0] = gather_bucket(u, mask, n, b1, cand);
  }
  // compact the segments
  int64_t total = segCount[0];
  for (int t = 1; t < nt; ++t) {
    std::memmove(cand + total, cand + segBase[t], static_cast<size_t>(segCount[t]) * 4);
    total += segCount[t];
  }

  // middle 11 bits, then low 10 bits, over the candidates (4 interleaved sub-histograms, as above:
  // heavy ties would otherwise serialise on one counter). The first pass's buffers are free now.
  uint32_t* const h4 = &H[0].h[0][0];
  auto hist_of = [&](auto&& bin_of) {
    std::fill(h4, h4 + 4 * kBins, 0u);
    int64_t i = 0;
    for (; i + 4 <= total; i += 4)
      for (int l = 0; l < 4; ++l) h4[l * kBins + bin_of(cand[i + l])] += 1;
    for (; i < total; ++i) h4[bin_of(cand[i])] += 1;
    for (int b = 0; b < kBins; ++b) hist[b] = int64_t{h4[b]} + h4[kBins + b] + h4[2 * kBins + b] + h4[3 * kBins + b];
  };
  hist_of([](uint32_t k) { return (k >> 10) & 0x7FFu; });
  const uint32_t b2 = static_cast<uint32_t>(pick(hist.data(), kBins, rank));
  // keys outside bin b2 count in the spare bin 1024 (above the 10-bit range, never picked)
  hist_of([b2](uint32_t k) { return ((k >> 10) & 0x7FFu) == b2 ? (k & 0x3FFu) : 1024u; });
  const uint32_t b3 = static_cast<uint32_t>(pick(hist.data(), 1024, rank));
  return float_of((b1 << 21) | (b2 << 10) | b3);
}

struct Bracket {
  int64_t gt = 0, sel = 0, nan = 0;
  int64_t count = 0;      // selected entries within the bracket (all of them, even past an overflow)
  bool overflow = false;  // out was too small: only the first entries within it were stored
};

// One entry of a bracket pass (on = its mask bit): counts it, and appends its float bits to out when
// it is selected, not NaN and its key lies within [klo, khi]. Branch-free: with STORE, out[pos] is
// always written.
template <bool STORE>
AVGK_INLINE void bracket_step(uint32_t v, uint32_t on, uint32_t klo, uint32_t khi, uint32_t* __restrict out,
                              int64_t& pos, int64_t& gt, int64_t& sel, int64_t& nan) {
  const uint32_t k = key_of(v);
  const uint32_t isnan = (v & 0x7FFFFFFFu) > 0x7F800000u;
  const uint32_t ok = on & (isnan ^ 1u);
  gt += ok & static_cast<uint32_t>(k > khi);
  sel += on;
  nan += on & isnan;
  if (STORE) out[pos] = v;
  pos += ok & static_cast<uint32_t>(k >= klo) & static_cast<uint32_t>(k <= khi);
}

constexpr int64_t kBracketBlock = 4096;

// One streaming pass: counts the selected keys above khi (and the selected entries and NaNs, and
// those within [klo, khi]), and appends the selected entries within [klo, khi] to out while a whole
// block still fits in its capacity cap (then it only counts, with overflow = true).
template <bool MASK>
AVGK_INLINE void bracket_t(const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, uint32_t klo,
                           uint32_t khi, uint32_t* __restrict out, int64_t cap, Bracket* B) {
  int64_t pos = 0, gt = 0, sel = 0, nan = 0;
  bool store = true;
  for (int64_t i0 = 0; i0 < n; i0 += kBracketBlock) {
    const int64_t e = std::min(n, i0 + kBracketBlock);
    store = store && pos + (e - i0) + 1 <= cap;
    for (int64_t i = i0; i < e; ++i) {
      const uint32_t on = MASK ? static_cast<uint32_t>(mask[i] != 0) : 1u;
      if (store) bracket_step<true>(u[i], on, klo, khi, out, pos, gt, sel, nan);
      else bracket_step<false>(u[i], on, klo, khi, out, pos, gt, sel, nan);
    }
  }
  *B = Bracket{gt, sel, nan, pos, !store};
}
AVGK_INLINE void bracket_body(const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, uint32_t klo,
                              uint32_t khi, uint32_t* __restrict out, int64_t cap, Bracket* B) {
  if (mask) {
    bracket_t<true>(u, mask, n, klo, khi, out, cap, B);
  } else {
    bracket_t<false>(u, mask, n, klo, khi, out, cap, B);
  }
}
AVGK_MULTIVERSION(void, bracket, (const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, uint32_t klo, uint32_t khi, uint32_t* __restrict out, int64_t cap, Bracket* B), (u, mask, n, klo, khi, out, cap, B))

#if AVGK_X86
// key_of on 16 lanes.
AVGK_V512 __m512i key_of_zmm(__m512i v) {
  return _mm512_xor_si512(v, _mm512_or_si512(_mm512_srai_epi32(v, 31), _mm512_set1_epi32(static_cast<int>(0x80000000u))));
}

// AVX-512 version of bracket: 16 entries per step, in-bracket ones appended with vpcompressd
// (register form + a plain store).
AVGK_T512 void bracket_zmm_masked(const uint32_t* __restrict u, const uint8_t* __restrict mask, int64_t n, uint32_t klo,
                                  uint32_t khi, uint32_t* __restrict out, int64_t cap, Bracket* B) {
  const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i inf = _mm512_set1_epi32(0x7F800000);
  const __m512i vlo = _mm512_set1_epi32(static_cast<int>(klo));
  const __m512i vhi = _mm512_set1_epi32(static_cast<int>(khi));
  int64_t pos = 0, gt = 0, sel = 0, nan = 0;
  bool store = true;
  for (int64_t i0 = 0; i0 < n; i0 += kBracketBlock) {
    const int64_t e = std::min(n, i0 + kBracketBlock);
    store = store && pos + (e - i0) + 16 <= cap;
    int64_t i = i0;
    for (; i + 16 <= e; i += 16) {
      const __m512i v = _mm512_loadu_si512(u + i);
      const __m512i k = key_of_zmm(v);
      const __m128i mb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mask + i));
      const __mmask16 on = _mm_test_epi8_mask(mb, mb);
      const __mmask16 isnan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, absm), inf);
      const __mmask16 ok = static_cast<__mmask16>(on & ~isnan);
      gt += __builtin_popcount(_mm512_mask_cmpgt_epu32_mask(ok, k, vhi));
      sel += __builtin_popcount(on);
      nan += __builtin_popcount(static_cast<unsigned>(on & isnan));
      const __mmask16 inb = _mm512_mask_cmple_epu32_mask(_mm512_mask_cmpge_epu32_mask(ok, k, vlo), k, vhi);
      // Compress in a register, then one full-width store: the memory form of vpcompressd is
      // microcoded on Zen 4 (~5x slower for the whole pass). The 16 lanes past pos are spare
      // room (cap keeps 16 slots free); the next store overwrites what is not kept.
      if (store) _mm512_storeu_si512(out + pos, _mm512_maskz_compress_epi32(inb, v));
      pos += __builtin_popcount(inb);
    }
    for (; i < e; ++i) {
      const uint32_t on = static_cast<uint32_t>(mask[i] != 0);
      if (store) bracket_step<true>(u[i], on, klo, khi, out, pos, gt, sel, nan);
      else bracket_step<false>(u[i], on, klo, khi, out, pos, gt, sel, nan);
    }
  }
  *B = Bracket{gt, sel, nan, pos, !store};
}

// The same without a mask, with less work per vector (this pass is most of a selection's time):
// the count above khi goes into vector counters (reduced once per block), every entry is selected,
// and NaN is looked for once per block (the running max of |bits|). NaN keys sort above every
// number, so a NaN counts in gt and may sit inside the bracket; that does not matter, because
// any NaN makes the caller throw, and a block that has one is counted exactly (its NaNs only).
AVGK_T512 void bracket_zmm_all(const uint32_t* __restrict u, int64_t n, uint32_t klo, uint32_t khi,
                               uint32_t* __restrict out, int64_t cap, Bracket* B) {
  const __m512i absm = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i inf = _mm512_set1_epi32(0x7F800000);
  const __m512i vlo = _mm512_set1_epi32(static_cast<int>(klo));
  const __m512i vhi = _mm512_set1_epi32(static_cast<int>(khi));
  const __m512i minus1 = _mm512_set1_epi32(-1);
  int64_t pos = 0, gt = 0, sel = 0, nan = 0;
  bool store = true;
  for (int64_t i0 = 0; i0 < n; i0 += kBracketBlock) {
    const int64_t e = std::min(n, i0 + kBracketBlock);
    store = store && pos + (e - i0) + 16 <= cap;
    __m512i gtv = _mm512_setzero_si512(), amax = _mm512_setzero_si512();
    int64_t i = i0;
    for (; i + 16 <= e; i += 16) {
      const __m512i v = _mm512_loadu_si512(u + i);
      const __m512i k = key_of_zmm(v);
      amax = _mm512_max_epu32(amax, _mm512_and_si512(v, absm));
      gtv = _mm512_mask_sub_epi32(gtv, _mm512_cmpgt_epu32_mask(k, vhi), gtv, minus1);  // +1 where k > khi
      const __mmask16 inb = _mm512_mask_cmple_epu32_mask(_mm512_cmpge_epu32_mask(k, vlo), k, vhi);
      if (store) _mm512_storeu_si512(out + pos, _mm512_maskz_compress_epi32(inb, v));
      pos += __builtin_popcount(inb);
    }
    gt += _mm512_reduce_add_epi32(gtv);
    sel += i - i0;
    if (_mm512_cmpgt_epu32_mask(amax, inf)) {
      for (int64_t j = i0; j < i; ++j) nan += (u[j] & 0x7FFFFFFFu) > 0x7F800000u;
    }
    for (; i < e; ++i) {
      if (store) bracket_step<true>(u[i], 1u, klo, khi, out, pos, gt, sel, nan);
      else bracket_step<false>(u[i], 1u, klo, khi, out, pos, gt, sel, nan);
    }
  }
  *B = Bracket{gt, sel, nan, pos, !store};
}
#endif

void bracket_best(const uint32_t* u, const uint8_t* mask, int64_t n, uint32_t klo, uint32_t khi, uint32_t* out,
                  int64_t cap, Bracket* B) {
#if AVGK_X86
  if (isa() == Isa::kAvx512) {
    if (mask) return bracket_zmm_masked(u, mask, n, klo, khi, out, cap, B);
    return bracket_zmm_all(u, n, klo, khi, out, cap, B);
  }
#endif
  bracket(u, mask, n, klo, khi, out, cap, B);
}

constexpr int64_t kSampledMin = int64_t{1} << 16;  // below this, the radix path
constexpr int kMaxDepth = 4;                        // sampled levels before the radix path

float select_from(const uint32_t* u, int64_t n, int64_t m, const uint8_t* mask, int depth);

// Sample-bracketed selection (Floyd-Rivest style): a random sample gives two keys that bracket the
// answer with overwhelming probability; one streaming pass counts what lies above the bracket and
// gathers what lies inside it (about 5 % of n for the median, less towards the ends); the inside is
// then selected the same way (depth + 1), down to the radix path. A bracket that holds a single
// value answers at once. Returns false when the bracket missed (the caller runs the radix path).
bool select_sampled(const uint32_t* u, int64_t n, int64_t m, const uint8_t* mask, int depth, float* result) {
  // 8192 samples at 10^7 entries, 2048 for the (in-cache) next levels
  const int kTries = static_cast<int>(std::clamp<int64_t>(n >> 8, 2048, 8192));
  std::vector<uint32_t> sample;
  sample.reserve(static_cast<size_t>(kTries));
  uint64_t s = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(n) * 0x100000001B3ull;
  for (int t = 0; t < kTries; ++t) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const int64_t i = static_cast<int64_t>((static_cast<unsigned __int128>(s) * static_cast<uint64_t>(n)) >> 64);
    const uint32_t v = u[i];
    if ((mask && mask[i] == 0) || (v & 0x7FFFFFFFu) > 0x7F800000u) continue;
    sample.push_back(key_of(v));
  }
  const int64_t S = static_cast<int64_t>(sample.size());
  if (S < kTries / 8) return false;
  const double est = static_cast<double>(n) * static_cast<double>(S) / kTries;  // selected entries
  const double f = std::min(1.0, static_cast<double>(m) / est);
  const double c = f * static_cast<double>(S);
  const double delta = 4.0 * std::sqrt(static_cast<double>(S) * f * (1.0 - f)) + 16.0;
  const int64_t hiIdx = static_cast<int64_t>(std::floor(c - delta));
  const int64_t loIdx = static_cast<int64_t>(std::ceil(c + delta));
  const double frac = static_cast<double>(std::min<int64_t>(loIdx, S) - std::max<int64_t>(hiIdx, 0) + 1) / S;
  if (frac > 0.25) return false;  // the bracket would not save much over the radix path
  // the two sample order statistics (descending), by selection rather than a full sort
  const auto gtr = std::greater<uint32_t>();
  uint32_t khi = 0xFFFFFFFFu, klo = 0u;
  if (hiIdx >= 0) {
    std::nth_element(sample.begin(), sample.begin() + hiIdx, sample.end(), gtr);
    khi = sample[static_cast<size_t>(hiIdx)];
  }
  if (loIdx < S) {
    const auto from = sample.begin() + std::max<int64_t>(hiIdx + 1, 0);
    std::nth_element(from, sample.begin() + loIdx, sample.end(), gtr);
    klo = sample[static_cast<size_t>(loIdx)];
  }

  const int nt = threads_for(n);
  std::vector<int64_t> beg(nt + 1), capOf(nt), base(nt + 1, 0);
  for (int t = 0; t <= nt; ++t) beg[t] = n * t / nt;
  for (int t = 0; t < nt; ++t) {
    capOf[t] = static_cast<int64_t>(static_cast<double>(beg[t + 1] - beg[t]) * frac * 2.0) + 3 * kBracketBlock;
  }
  // one buffer per level (the next level reads this one); reused between calls, grows only
  static thread_local std::unique_ptr<uint32_t[]> bufs[kMaxDepth];
  static thread_local int64_t bufCaps[kMaxDepth] = {};
  std::vector<Bracket> B(nt);
  auto run = [&] {
    for (int t = 0; t < nt; ++t) base[t + 1] = base[t] + capOf[t];
    if (bufCaps[depth] < base[nt]) {
      bufs[depth].reset(new uint32_t[static_cast<size_t>(base[nt])]);
      bufCaps[depth] = base[nt];
    }
    uint32_t* const out = bufs[depth].get();
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static, 1)
      for (int t = 0; t < nt; ++t)
        bracket_best(u + beg[t], mask ? mask + beg[t] : nullptr, beg[t + 1] - beg[t], klo, khi, out + base[t],
                     capOf[t], &B[t]);
    } else {
      bracket_best(u, mask, n, klo, khi, out, capOf[0], &B[0]);
    }
  };
  run();
  int64_t gt = 0, sel = 0, nan = 0, cnt = 0;
  bool overflow = false;
  for (int t = 0; t < nt; ++t) {
    gt += B[t].gt;
    sel += B[t].sel;
    nan += B[t].nan;
    cnt += B[t].count;
    overflow = overflow || B[t].overflow;
  }
  if (nan > 0) throw_nan(nan);
  if (m > sel) throw_m(m, sel);
  if (!(gt < m && m <= gt + cnt)) return false;
  if (klo == khi) {  // every entry within the bracket is this one value (ties)
    *result = float_of(klo);
    return true;
  }
  if (overflow) {  // ties at a bracket end made it larger than the sample said: again, with room
    if (depth > 0) return false;  // (in cache already: the radix path costs no more)
    for (int t = 0; t < nt; ++t) capOf[t] = B[t].count + kBracketBlock + 16;
    run();
  }
  uint32_t* const out = bufs[depth].get();
  int64_t total = 0;
  for (int t = 0; t < nt; ++t) {
    if (t > 0) std::memmove(out + total, out + base[t], static_cast<size_t>(B[t].count) * 4);
    total += B[t].count;
  }
  // a bracket that hardly shrank the input (a few heavily tied values) goes straight to radix
  *result = total * 4 > n ? select_radix(out, total, m - gt, nullptr)
                          : select_from(out, total, m - gt, nullptr, depth + 1);
  return true;
}

float select_from(const uint32_t* u, int64_t n, int64_t m, const uint8_t* mask, int depth) {
  if (n >= kSampledMin && depth < kMaxDepth) {
    float r;
    if (select_sampled(u, n, m, mask, depth, &r)) return r;
  }
  return select_radix(u, n, m, mask);
}

}  // namespace

float select_kth(const float* x, int64_t n, int64_t m, const uint8_t* mask) {
  if (n <= 0) throw std::invalid_argument("selectKth of an empty array");
  if (m < 1) throw std::invalid_argument("m = " + std::to_string(m) + " must be at least 1");
  return select_from(reinterpret_cast<const uint32_t*>(x), n, m, mask, 0);
}

}  // namespace avgk
