// Threshold search: the m-th largest selected entry (select_kth), marking the top m (mark_top), and
// counting the entries above / equal to a threshold (count_above_equal).
//
// select_kth is a radix select on dm::order_key (unsigned keys in the order of the floats), entirely
// on the device: three histogram passes over the digits of 11, 11 and 10 bits, from the top. Each
// pass reads every entry, counts those whose key matches the prefix found so far into shared-memory
// histograms (4 or 8 replicas, picked by lane, so that skewed data such as probabilities that share
// a few exponents spreads its atomics), and adds them to a global histogram; a one-block kernel then
// finds the digit that holds the rank sought and updates the prefix and the remaining rank in a
// small device state. Up to kSmallN entries, one block does all three passes in shared memory.
// mark_top runs the same search with the rank clamped to the selected count, then marks the entries
// above λ and the first ties in index order (see its section). Nothing here waits for the device
// except count_above_equal, whose counts go to the host.
#include <cmath>
#include <cstdint>

#include "block_reduce.h"
#include "cuda_kernels.h"
#include "device_math.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {
namespace {

constexpr int kHistThreads = 512;
constexpr int kDigitThreads = 256;  // the digit kernels' and the one-block kernel's threads divide the
constexpr int kSmallThreads = 512;  // bin counts (1024, 2048): see find_digit
constexpr int kTieItems = 8;         // consecutive entries per thread per chunk of the tie pass
constexpr int64_t kMinTile = 4096;   // mark_top: entries per tile at least
constexpr int64_t kMaxTiles = 1024;
constexpr int64_t kSmallN = 16384;   // one block selects up to this many entries
constexpr int64_t kPerThread = 16;   // entries per thread at least, in the histogram passes

using u64 = unsigned long long;

// The search state, in device memory.
struct SelectState {
  u64 total;         // selected entries
  u64 above;         // mark_top: selected entries > λ
  long long target;  // the rank sought (1 = the largest); mark_top clamps it to total
  long long rank;    // its rank among the entries that match prefix
  unsigned prefix;   // key digits found so far (the whole key at the end)
  int nan;           // a selected entry is NaN
  int invalid;       // no answer: a selected NaN, or the rank outside [1, total]
};

// The digits: bits [SHIFT, SHIFT + BITS) of the key.
constexpr int kShift0 = 21, kBits0 = 11;
constexpr int kShift1 = 10, kBits1 = 11;
constexpr int kShift2 = 0, kBits2 = 10;

__device__ __forceinline__ bool selected(const uint8_t* mask, int64_t i) { return mask == nullptr || mask[i] != 0; }

// Whether key k matches the prefix above the digit at SHIFT + BITS (the first digit: always).
template <int SHIFT, int BITS>
__device__ __forceinline__ bool matches(uint32_t k, unsigned prefix) {
  return (static_cast<u64>(k) >> (SHIFT + BITS)) == (static_cast<u64>(prefix) >> (SHIFT + BITS));
}

template <int SHIFT, int BITS>
__device__ __forceinline__ unsigned digit_of(uint32_t k) {
  return (k >> SHIFT) & ((1u << BITS) - 1u);
}

// Exclusive prefix sum over the block's threads (in thread order) and the block total, in every
// thread. Every thread of the block must call it.
struct Scan {
  u64 before, total;
};
__device__ __forceinline__ Scan block_scan(u64 v) {
  __shared__ u64 ws[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  u64 x = v;
  for (int o = 1; o < 32; o <<= 1) {
    const u64 y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  __syncthreads();  // ws may still be read by a previous call
  if (lane == 31) ws[warp] = x;
  __syncthreads();
  if (warp == 0) {
    u64 t = lane < nw ? ws[lane] : 0;
    for (int o = 1; o < 32; o <<= 1) {
      const u64 y = __shfl_up_sync(0xffffffffu, t, o);
      if (lane >= o) t += y;
    }
    ws[lane] = t;
  }
  __syncthreads();
  return Scan{x - v + (warp > 0 ? ws[warp - 1] : 0), ws[nw - 1]};
}

// Every thread's share of the NB bins, from the top: bins top, top-1, ..., top-per+1.
template <int NB, class C>
__device__ __forceinline__ u64 my_bins_sum(const C* h) {
  const int per = NB / blockDim.x, top = NB - 1 - threadIdx.x * per;
  u64 s = 0;
  for (int i = 0; i < per; ++i) s += h[top - i];
  return s;
}

// Finds the digit d whose bin holds rank r (1 = the largest): Σ_{b > d} h[b] < r <= Σ_{b >= d} h[b].
// Needs 1 <= r <= Σ h. The one thread that finds it writes *digit and *rank (the rank within
// bin d). Every thread of the block must call it; NB must be a multiple of blockDim.x.
template <int NB, class C>
__device__ __forceinline__ void find_digit(const C* h, u64 r, unsigned* digit, long long* rank) {
  const int per = NB / blockDim.x, top = NB - 1 - threadIdx.x * per;
  const u64 mine = my_bins_sum<NB>(h);
  const Scan sc = block_scan(mine);
  if (sc.before < r && r <= sc.before + mine) {
    u64 acc = sc.before;
    for (int i = 0; i < per; ++i) {
      const u64 c = h[top - i];
      if (r <= acc + c) {
        *digit = static_cast<unsigned>(top - i);
        *rank = static_cast<long long>(r - acc);
        break;
      }
      acc += c;
    }
  }
}

// ------------------------------------------------------------------ one block (n <= kSmallN)
template <int SHIFT, int BITS>
__device__ __forceinline__ void small_hist(const float* x, const uint8_t* mask, int64_t n, unsigned prefix,
                                           unsigned* h, bool& nan) {
  for (int i = threadIdx.x; i < (1 << BITS); i += blockDim.x) h[i] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (!selected(mask, i)) continue;
    const float v = x[i];
    nan |= v != v;
    const uint32_t k = dm::order_key(v);
    if (matches<SHIFT, BITS>(k, prefix)) atomicAdd(h + digit_of<SHIFT, BITS>(k), 1u);
  }
  __syncthreads();
}

template <int SHIFT, int BITS>
__device__ __forceinline__ void small_digit(unsigned* h, unsigned& prefix, long long& r) {
  __shared__ unsigned s_digit;
  __shared__ long long s_rank;
  find_digit<1 << BITS>(h, static_cast<u64>(r), &s_digit, &s_rank);
  __syncthreads();
  prefix |= s_digit << SHIFT;
  r = s_rank;
}

// All three passes in one block; writes the whole state (and out[0] when out is not null).
__global__ void __launch_bounds__(kSmallThreads)
    select_small_kernel(const float* x, const uint8_t* mask, int64_t n, int64_t m, int clamp, SelectState* st,
                        float* out) {
  __shared__ unsigned h[1 << 11];
  bool nan = false;
  unsigned prefix = 0;
  small_hist<kShift0, kBits0>(x, mask, n, prefix, h, nan);
  const u64 total = block_sum(my_bins_sum<1 << kBits0>(h));
  const bool any_nan = block_sum(nan ? 1 : 0) != 0;
  long long r = clamp && static_cast<u64>(m) > total ? static_cast<long long>(total) : m;
  const bool invalid = any_nan || r < 1 || static_cast<u64>(r) > total;
  if (threadIdx.x == 0) {
    st->total = total;
    st->above = 0;
    st->target = r;
    st->nan = any_nan;
    st->invalid = invalid;
  }
  if (invalid) {
    if (threadIdx.x == 0) {
      st->rank = 0;
      st->prefix = 0;
      if (out) out[0] = NAN;
    }
    return;
  }
  small_digit<kShift0, kBits0>(h, prefix, r);
  small_hist<kShift1, kBits1>(x, mask, n, prefix, h, nan);
  small_digit<kShift1, kBits1>(h, prefix, r);
  small_hist<kShift2, kBits2>(x, mask, n, prefix, h, nan);
  small_digit<kShift2, kBits2>(h, prefix, r);
  if (threadIdx.x == 0) {
    st->prefix = prefix;
    st->rank = r;
    if (out) out[0] = dm::key_to_float(prefix);
  }
}

// ------------------------------------------------------------------ many blocks
// One histogram pass over all n entries: the keys that match st->prefix, counted by digit into
// ghist (zeroed before). The first pass also flags selected NaNs. VEC: x is 16-byte aligned and
// mask (if any) 4-byte aligned, read 4 entries at a time.
template <int SHIFT, int BITS, bool VEC>
__global__ void __launch_bounds__(kHistThreads)
    hist_kernel(const float* __restrict__ x, const uint8_t* __restrict__ mask, int64_t n, SelectState* st,
                u64* ghist) {
  constexpr int NB = 1 << BITS;
  constexpr int C = NB == 2048 ? 4 : 8;  // replicas: 32 KiB of shared memory either way
  constexpr bool kFirst = SHIFT + BITS == 32;
  __shared__ unsigned h[NB * C];  // bin b of replica c at b*C + c: replicas sit in different banks
  if (!kFirst && st->invalid) return;
  const unsigned prefix = kFirst ? 0u : st->prefix;
  for (int i = threadIdx.x; i < NB * C; i += blockDim.x) h[i] = 0;
  __syncthreads();
  unsigned* hc = h + (threadIdx.x & (C - 1));
  bool nan = false;
  auto add = [&](float v) {
    if (kFirst) nan |= v != v;
    const uint32_t k = dm::order_key(v);
    if (matches<SHIFT, BITS>(k, prefix)) atomicAdd(hc + digit_of<SHIFT, BITS>(k) * C, 1u);
  };
  const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
  int64_t tail = 0;
  if (VEC) {
    const int64_t n4 = n >> 2;
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const uint32_t* m4 = reinterpret_cast<const uint32_t*>(mask);
    for (int64_t q = tid; q < n4; q += stride) {
      const float4 v = x4[q];
      const uint32_t mb = mask ? m4[q] : 0xffffffffu;  // byte j (little-endian) flags entry 4q + j
      if (mb & 0xffu) add(v.x);
      if (mb & 0xff00u) add(v.y);
      if (mb & 0xff0000u) add(v.z);
      if (mb & 0xff000000u) add(v.w);
    }
    tail = n4 << 2;
  }
  for (int64_t i = tail + tid; i < n; i += stride)
    if (selected(mask, i)) add(x[i]);
  if (kFirst && nan) atomicOr(&st->nan, 1);
  __syncthreads();
  for (int b = threadIdx.x; b < NB; b += blockDim.x) {
    unsigned s = 0;
    for (int c = 0; c < C; ++c) s += h[b * C + c];
    if (s) atomicAdd(ghist + b, static_cast<u64>(s));
  }
}

// After the histogram pass of the digit at SHIFT: the digit holding the rank sought; updates the
// state. The first pass also checks the rank against the count (clamping it for mark_top); the last
// writes out[0] (when not null): the value, or NaN without an answer.
template <int SHIFT, int BITS>
__global__ void __launch_bounds__(kDigitThreads)
    digit_kernel(SelectState* st, const u64* ghist, int64_t m, int clamp, float* out) {
  constexpr int NB = 1 << BITS;
  constexpr bool kFirst = SHIFT + BITS == 32, kLast = SHIFT == 0;
  __shared__ unsigned s_digit;
  __shared__ long long s_rank;
  long long r;
  unsigned prefix;
  if (kFirst) {
    const u64 total = block_sum(my_bins_sum<NB>(ghist));
    r = clamp && static_cast<u64>(m) > total ? static_cast<long long>(total) : m;
    const bool invalid = st->nan != 0 || r < 1 || static_cast<u64>(r) > total;
    if (threadIdx.x == 0) {
      st->total = total;
      st->target = r;
      st->invalid = invalid;
      if (invalid && out) out[0] = NAN;
    }
    if (invalid) return;
    prefix = 0;
  } else {
    if (st->invalid) {
      if (kLast && out && threadIdx.x == 0) out[0] = NAN;
      return;
    }
    r = st->rank;
    prefix = st->prefix;
  }
  find_digit<NB>(ghist, static_cast<u64>(r), &s_digit, &s_rank);
  __syncthreads();
  if (threadIdx.x == 0) {
    prefix |= s_digit << SHIFT;
    st->prefix = prefix;
    st->rank = s_rank;
    if (kLast && out) out[0] = dm::key_to_float(prefix);
  }
}

// ------------------------------------------------------------------ mark_top
// The entries are cut into tiles of contiguous indices, one block each. The first kernel marks the
// selected entries > λ, counts them into st->above and counts each tile's ties (selected entries
// == λ) into ties[tile]; the second marks the first need = target - above ties in index order: a
// tile whose ties all come after the first need (by the counts of the tiles before it) does nothing,
// the others scan their tile in chunks with a block scan.
__global__ void __launch_bounds__(kThreads)
    mark_above_kernel(const float* x, const uint8_t* mask, int64_t n, int64_t tile, SelectState* st, u64* ties,
                      float* targets) {
  if (st->invalid) return;
  const float lambda = dm::key_to_float(st->prefix);
  const int64_t i0 = blockIdx.x * tile, i1 = i0 + tile < n ? i0 + tile : n;
  u64 above = 0, equal = 0;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    if (!selected(mask, i)) continue;
    const float v = x[i];
    if (v > lambda) {
      targets[i] = 1.0f;
      ++above;
    }
    equal += v == lambda;
  }
  above = block_sum(above);
  equal = block_sum(equal);
  if (threadIdx.x == 0) {
    ties[blockIdx.x] = equal;
    if (above) atomicAdd(&st->above, above);
  }
}

__global__ void __launch_bounds__(kThreads)
    mark_ties_kernel(const float* x, const uint8_t* mask, int64_t n, int64_t tile, const SelectState* st,
                     const u64* ties, float* targets) {
  if (st->invalid || ties[blockIdx.x] == 0) return;
  const long long need = st->target - static_cast<long long>(st->above);
  if (need <= 0) return;
  u64 before = 0;  // ties in the tiles before this one
  for (unsigned b = threadIdx.x; b < blockIdx.x; b += blockDim.x) before += ties[b];
  long long taken = static_cast<long long>(block_sum(before));
  if (taken >= need) return;
  const float lambda = dm::key_to_float(st->prefix);
  const int64_t i1 = (blockIdx.x + 1) * tile < n ? (blockIdx.x + 1) * tile : n;
  for (int64_t base = blockIdx.x * tile; base < i1; base += static_cast<int64_t>(blockDim.x) * kTieItems) {
    const int64_t j0 = base + static_cast<int64_t>(threadIdx.x) * kTieItems;
    unsigned flags = 0, cnt = 0;
#pragma unroll
    for (int j = 0; j < kTieItems; ++j) {
      const int64_t i = j0 + j;
      if (i < i1 && selected(mask, i) && x[i] == lambda) {
        flags |= 1u << j;
        ++cnt;
      }
    }
    const Scan sc = block_scan(cnt);
    long long pos = taken + static_cast<long long>(sc.before);
    for (int j = 0; j < kTieItems && pos < need; ++j) {
      if (flags >> j & 1u) {
        targets[j0 + j] = 1.0f;
        ++pos;
      }
    }
    taken += static_cast<long long>(sc.total);
    if (taken >= need) break;
  }
}

// ------------------------------------------------------------------ count_above_equal
__global__ void __launch_bounds__(kThreads) count_kernel(const float* x, int64_t n, const float* t, u64* counts) {
  const float tv = t[0];
  u64 above = 0, equal = 0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = x[i];
    above += v > tv;
    equal += v == tv;
  }
  above = block_sum(above);
  equal = block_sum(equal);
  if (threadIdx.x == 0) {
    if (above) atomicAdd(counts, above);
    if (equal) atomicAdd(counts + 1, equal);
  }
}

// ------------------------------------------------------------------ host side
// Scratch: the state, then mark_top's tie counts (kMaxTiles), then the three global histograms
// (2048 + 2048 + 1024 bins) when n > kSmallN.
constexpr size_t kStateBytes = 256;
constexpr size_t kTiesBytes = kMaxTiles * sizeof(u64);
constexpr size_t kHistBins = (1u << kBits0) + (1u << kBits1) + (1u << kBits2);

struct Scratch {
  void* p;
  size_t bytes;
  explicit Scratch(size_t b) : p(alloc(b)), bytes(b) {}
  ~Scratch() { release(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  SelectState* state() const { return static_cast<SelectState*>(p); }
  u64* ties() const { return reinterpret_cast<u64*>(static_cast<char*>(p) + kStateBytes); }
  u64* hist() const { return reinterpret_cast<u64*>(static_cast<char*>(p) + kStateBytes + kTiesBytes); }
};

static_assert(sizeof(SelectState) <= kStateBytes, "the state outgrew its slot");

size_t scratch_bytes(int64_t n) { return kStateBytes + kTiesBytes + (n <= kSmallN ? 0 : kHistBins * sizeof(u64)); }

// Blocks of threads_per_block for a grid-stride pass over n entries: at least per_thread entries
// per thread, at most enough blocks to fill the device (the counts are exact in any grid).
unsigned pass_grid(int64_t n, int threads_per_block, int64_t per_thread) {
  const int64_t max_blocks = static_cast<int64_t>(init().multiprocessors) * (2048 / threads_per_block);
  int64_t blocks = (n + threads_per_block * per_thread - 1) / (threads_per_block * per_thread);
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

template <int SHIFT, int BITS>
void hist_pass(const float* x, const uint8_t* mask, int64_t n, SelectState* st, u64* ghist, unsigned grid, bool vec) {
  auto k = vec ? hist_kernel<SHIFT, BITS, true> : hist_kernel<SHIFT, BITS, false>;
  AVGK_LAUNCH_SYNC(k, grid, kHistThreads, x, mask, n, st, ghist);
  check_launch("selectKth (histogram)");
}

template <int SHIFT, int BITS>
void digit_pass(SelectState* st, const u64* ghist, int64_t m, bool clamp, float* out) {
  auto k = digit_kernel<SHIFT, BITS>;
  AVGK_LAUNCH_SYNC(k, 1, kDigitThreads, st, ghist, m, clamp ? 1 : 0, out);
  check_launch("selectKth (digit)");
}

// The radix select into s's state (and out[0] when not null). clamp: the rank sought is
// min(m, #selected) (mark_top) rather than NaN beyond it. Needs n >= 1, m >= 1.
void radix_select(const float* x, int64_t n, int64_t m, const uint8_t* mask, bool clamp, const Scratch& s,
                  float* out) {
  SelectState* st = s.state();
  if (n <= kSmallN) {
    AVGK_LAUNCH_SYNC(select_small_kernel, 1, kSmallThreads, x, mask, n, m, clamp ? 1 : 0, st, out);
    check_launch("selectKth");
    return;
  }
  u64* h0 = s.hist();
  u64* h1 = h0 + (1 << kBits0);
  u64* h2 = h1 + (1 << kBits1);
  fill_bytes(s.p, 0, s.bytes);  // the state and the histograms (and the tie counts)
  const unsigned grid = pass_grid(n, kHistThreads, kPerThread);
  const bool vec = (reinterpret_cast<uintptr_t>(x) & 15) == 0 && (reinterpret_cast<uintptr_t>(mask) & 3) == 0;
  hist_pass<kShift0, kBits0>(x, mask, n, st, h0, grid, vec);
  digit_pass<kShift0, kBits0>(st, h0, m, clamp, nullptr);
  hist_pass<kShift1, kBits1>(x, mask, n, st, h1, grid, vec);
  digit_pass<kShift1, kBits1>(st, h1, m, clamp, nullptr);
  hist_pass<kShift2, kBits2>(x, mask, n, st, h2, grid, vec);
  digit_pass<kShift2, kBits2>(st, h2, m, clamp, out);
}

}  // namespace

void select_kth(const float* x, int64_t n, int64_t m, const uint8_t* mask, float* out) {
  if (n <= 0 || m < 1 || m > n) {  // no answer whatever the mask
    fill(out, 1, NAN);
    return;
  }
  Scratch s(scratch_bytes(n));
  radix_select(x, n, m, mask, false, s, out);
}

void mark_top(const float* x, int64_t n, int64_t m, const uint8_t* mask, float* targets) {
  if (n <= 0 || m <= 0) return;
  Scratch s(scratch_bytes(n));
  radix_select(x, n, m > n ? n : m, mask, true, s, nullptr);
  int64_t tiles = (n + kMinTile - 1) / kMinTile;
  if (tiles > kMaxTiles) tiles = kMaxTiles;
  const int64_t tile = (n + tiles - 1) / tiles;
  tiles = (n + tile - 1) / tile;
  const unsigned grid = static_cast<unsigned>(tiles);
  AVGK_LAUNCH_SYNC(mark_above_kernel, grid, kThreads, x, mask, n, tile, s.state(), s.ties(), targets);
  check_launch("markTop");
  AVGK_LAUNCH_SYNC(mark_ties_kernel, grid, kThreads, x, mask, n, tile, s.state(), s.ties(), targets);
  check_launch("markTop (ties)");
}

void count_above_equal(const float* x, int64_t n, const float* t, int64_t* above, int64_t* equal) {
  *above = 0;
  *equal = 0;
  if (n <= 0) return;
  Scratch s(2 * sizeof(u64));
  u64* counts = static_cast<u64*>(s.p);
  fill_bytes(counts, 0, 2 * sizeof(u64));
  AVGK_LAUNCH_SYNC(count_kernel, pass_grid(n, kThreads, kPerThread), kThreads, x, n, t, counts);
  check_launch("countAboveEqual");
  u64 h[2];
  download(h, counts, sizeof h);
  *above = static_cast<int64_t>(h[0]);
  *equal = static_cast<int64_t>(h[1]);
}

}  // namespace avgk_cuda
