// BLIS-style SGEMM driver: packing into MR/NR micro-panels, the five loops, run-time micro-kernel
// dispatch (AVX-512 / AVX2+FMA / portable) and OpenMP threading. Block sizes: blocking.h.
//
// The micro-kernel computes an MR x NR tile whose NR columns are SIMD vectors ("V" operand) and whose
// MR rows are broadcast scalars ("S" operand). Normally S = A and V = B (vectors run along the unit
// stride of C). For skinny problems (n small, m large) the problem is transposed, C^T = B^T A^T, so the
// long dimension m fills the vectors; the micro-kernel then writes C through its (rs, cs) strides.
#include "gemm.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "blocking.h"
#include "gemm_internal.h"

namespace avgk {
namespace gemm_detail {

void pack_generic(int W, int64_t nx, int64_t kc, const float* src, int64_t sx, int64_t sp, float* dst) {
  for (int64_t x0 = 0; x0 < nx; x0 += W) {
    const int64_t nvalid = std::min<int64_t>(W, nx - x0);
    float* d = dst + (x0 / W) * W * kc;
    const float* s0 = src + x0 * sx;
    if (sx == 1) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* s = s0 + p * sp;
        float* dp = d + p * W;
        int64_t x = 0;
        for (; x < nvalid; ++x) dp[x] = s[x];
        for (; x < W; ++x) dp[x] = 0.f;
      }
    } else {
      for (int64_t x = 0; x < nvalid; ++x) {
        const float* s = s0 + x * sx;
        for (int64_t p = 0; p < kc; ++p) d[p * W + x] = s[p * sp];
      }
      for (int64_t x = nvalid; x < W; ++x)
        for (int64_t p = 0; p < kc; ++p) d[p * W + x] = 0.f;
    }
  }
}

namespace {

KernelInfo select_kernel() {
  KernelInfo k{};
  const char* env = std::getenv("AVGK_GEMM_KERNEL");
  std::string want = env ? env : "";
  if (want == "portable") {
    get_kernel_portable(&k);
    return k;
  }
  if (want == "avx2") {
    if (get_kernel_avx2(&k)) return k;
    get_kernel_portable(&k);
    return k;
  }
  if (get_kernel_avx512(&k)) return k;
  if (get_kernel_avx2(&k)) return k;
  get_kernel_portable(&k);
  return k;
}

KernelInfo select_kernel_and_small() {
  KernelInfo k = select_kernel();
  // AVGK_GEMM_SMALL=0 disables the small-problem path (tests / benchmarks of the blocked driver).
  const char* env = std::getenv("AVGK_GEMM_SMALL");
  if (env && std::string(env) == "0") k.small = nullptr;
  return k;
}

const KernelInfo& kernel() {
  static const KernelInfo k = select_kernel_and_small();
  return k;
}
// Select once at static-initialisation time (not on the first hot call).
[[maybe_unused]] const KernelInfo& g_kernel_init = kernel();

// Per-thread, 64-byte aligned, grow-only packing buffer.
struct Buf {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      size_t bytes = ((need * sizeof(float) + 4095) / 4096) * 4096;
      p = static_cast<float*>(std::aligned_alloc(4096, bytes));
      n = bytes / sizeof(float);
    }
    return p;
  }
  ~Buf() { std::free(p); }
};
thread_local Buf t_bufS, t_bufV;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One thread: C[0:ms, 0:nv] (strides rsC along S, csC along V) = alpha * S V + beta * C.
//   S(s, p) = S[s*rsS + p*csS] (ms x k), V(p, v) = V[p*rsV + v*csV] (k x nv).
void gemm_serial(const KernelInfo& K, int64_t ms, int64_t nv, int64_t k, float alpha, const float* S,
                 int64_t rsS, int64_t csS, const float* V, int64_t rsV, int64_t csV, float beta, float* C,
                 int64_t rsC, int64_t csC) {
  const int MR = K.MR, NR = K.NR;
  const int64_t KC = K.KC, NC = K.NC;
  // Balance K blocks (avoid a tiny last block).
  const int64_t nkb = ceil_div(k, KC);
  const int64_t kcb = ceil_div(ceil_div(k, nkb), 4) * 4;
  const int64_t ncb = std::min<int64_t>(NC, ceil_div(ms, MR) * MR);
  const int64_t mcb = std::min<int64_t>(K.MC, ceil_div(nv, NR) * NR);
  float* bs = t_bufS.get((size_t)ncb * kcb + 64);
  float* bv = t_bufV.get((size_t)mcb * kcb + 64);
  for (int64_t jc = 0; jc < ms; jc += ncb) {
    const int64_t mcur = std::min(ncb, ms - jc);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      const float beta_eff = pc == 0 ? beta : 1.f;
      K.pack(MR, mcur, kc, S + jc * rsS + pc * csS, rsS, csS, bs);
      for (int64_t ic = 0; ic < nv; ic += mcb) {
        const int64_t ncur = std::min(mcb, nv - ic);
        K.pack(NR, ncur, kc, V + pc * rsV + ic * csV, csV, rsV, bv);
        for (int64_t jr = 0; jr < mcur; jr += MR) {
          const int mr = (int)std::min<int64_t>(MR, mcur - jr);
          const float* sp = bs + (jr / MR) * MR * kc;
          float* crow = C + (jc + jr) * rsC + ic * csC;
          for (int64_t ir = 0; ir < ncur; ir += NR) {
            const int nr = (int)std::min<int64_t>(NR, ncur - ir);
            K.ukr(kc, sp, bv + (ir / NR) * NR * kc, crow + ir * csC, rsC, csC, mr, nr, alpha, beta_eff);
          }
        }
      }
    }
  }
}

void scale_c(int64_t m, int64_t n, float beta, float* C, int64_t rsC) {
  for (int64_t i = 0; i < m; ++i) {
    float* c = C + i * rsC;
    if (beta == 0.f)
      std::memset(c, 0, sizeof(float) * n);
    else if (beta != 1.f)
      for (int64_t j = 0; j < n; ++j) c[j] *= beta;
  }
}

// Problem in S/V form.
struct Problem {
  int64_t ms, nv, k;
  float alpha, beta;
  const float* S;
  int64_t rsS, csS, bsS;
  const float* V;
  int64_t rsV, csV, bsV;
  float* C;
  int64_t rsC, csC, bsC;
};

// The problem in S/V form. Orientation: put the dimension that wastes less padding into the vectors.
Problem make_problem(const KernelInfo& K, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                     int64_t rsA, int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB,
                     int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC) {
  const double costN = (double)ceil_div(m, K.MR) * K.MR * (double)ceil_div(n, K.NR) * K.NR;
  const double costT = (double)ceil_div(n, K.MR) * K.MR * (double)ceil_div(m, K.NR) * K.NR;
  Problem P;
  P.k = k;
  P.alpha = alpha;
  P.beta = beta;
  P.C = C;
  P.bsC = bsC;
  if (costT * 1.15 < costN) {
    P.ms = n; P.nv = m;
    P.S = B; P.rsS = csB; P.csS = rsB; P.bsS = bsB;
    P.V = A; P.rsV = csA; P.csV = rsA; P.bsV = bsA;
    P.rsC = 1; P.csC = rsC;
  } else {
    P.ms = m; P.nv = n;
    P.S = A; P.rsS = rsA; P.csS = csA; P.bsS = bsA;
    P.V = B; P.rsV = rsB; P.csV = csB; P.bsV = bsB;
    P.rsC = rsC; P.csC = 1;
  }
  return P;
}

// Thread tid of a ts x tv grid computes its block of matrix t.
void run_part(const KernelInfo& K, const Problem& P, int64_t t, int ts, int tv, int tid) {
  const int is = tid / tv, iv = tid % tv;
  const int64_t sp = ceil_div(P.ms, K.MR), vp = ceil_div(P.nv, K.VG);
  const int64_t s0 = std::min(P.ms, (sp * is / ts) * K.MR), s1 = std::min(P.ms, (sp * (is + 1) / ts) * K.MR);
  const int64_t v0 = std::min(P.nv, (vp * iv / tv) * K.VG), v1 = std::min(P.nv, (vp * (iv + 1) / tv) * K.VG);
  if (s1 <= s0 || v1 <= v0) return;
  gemm_serial(K, s1 - s0, v1 - v0, P.k, P.alpha, P.S + t * P.bsS + s0 * P.rsS, P.rsS, P.csS,
              P.V + t * P.bsV + v0 * P.csV, P.rsV, P.csV, P.beta, P.C + t * P.bsC + s0 * P.rsC + v0 * P.csC,
              P.rsC, P.csC);
}

int detect_physical_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int avail = 0;
  std::set<std::string> cores;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (!CPU_ISSET(c, &set)) continue;
      ++avail;
      std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/thread_siblings_list");
      std::string s;
      if (f && std::getline(f, s) && !s.empty()) cores.insert(s);
    }
  }
  if (!cores.empty()) return (int)cores.size();
  if (avail > 0) return avail;
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? (int)hc : 1;
}

std::atomic<int> g_threads{0};

}  // namespace
}  // namespace gemm_detail

using namespace gemm_detail;

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

int get_num_threads() {
  int t = g_threads.load();
  if (t <= 0) {
    int d = detect_physical_cores();
    int expected = 0;
    g_threads.compare_exchange_strong(expected, d < 1 ? 1 : d);
    t = g_threads.load();
  }
  return t;
}

const char* gemm_kernel_name() { return kernel().name; }

void sgemm(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA,
           int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB, int64_t bsB, float beta,
           float* C, int64_t rsC, int64_t bsC) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    for (int64_t t = 0; t < batch; ++t) scale_c(m, n, beta, C + t * bsC, rsC);
    return;
  }
  const KernelInfo& K = kernel();

  int nt = omp_in_parallel() ? 1 : get_num_threads();
  const double flops1 = 2.0 * m * n * k;
  const double flops = flops1 * batch;
  nt = (int)std::max<double>(1, std::min<double>(nt, std::floor(flops / gemm_blocking::MIN_FLOPS_PER_THREAD)));

  // Small matrices: the small-problem path (one matrix never split between threads; batches split
  // by matrix). It declines only up front, before writing C; a declined matrix takes the blocked
  // driver, so every matrix is computed exactly once.
  if (K.small && (double)m * n * k <= gemm_blocking::SMALL_MAX_MACS) {
    if (nt <= 1 || batch < 2) {
      if (K.small(batch, m, n, k, alpha, A, rsA, csA, bsA, B, rsB, csB, bsB, beta, C, rsC, bsC)) return;
    } else {
      const Problem P = make_problem(K, m, n, k, alpha, A, rsA, csA, bsA, B, rsB, csB, bsB, beta, C, rsC, bsC);
#pragma omp parallel for num_threads(nt) schedule(static)
      for (int64_t t = 0; t < batch; ++t)
        if (!K.small(1, m, n, k, alpha, A + t * bsA, rsA, csA, 0, B + t * bsB, rsB, csB, 0, beta, C + t * bsC,
                     rsC, 0))
          run_part(K, P, t, 1, 1, 0);
      return;
    }
  }

  const Problem P = make_problem(K, m, n, k, alpha, A, rsA, csA, bsA, B, rsB, csB, bsB, beta, C, rsC, bsC);

  if (nt <= 1) {
    for (int64_t t = 0; t < batch; ++t) run_part(K, P, t, 1, 1, 0);
    return;
  }

  // Batch-parallel when every matrix is small or the batch splits evenly.
  if (batch >= nt && (flops1 < gemm_blocking::BATCH_PARALLEL_MAX_FLOPS || batch % nt == 0 || batch >= 4 * nt)) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < batch; ++t) run_part(K, P, t, 1, 1, 0);
    return;
  }

  // 2-D partition of C into ts x tv blocks (tile-aligned), minimising the largest block.
  const int64_t sp = ceil_div(P.ms, K.MR), vp = ceil_div(P.nv, K.VG);
  int best_ts = 1, best_tv = nt;
  double best = 1e300;
  for (int ts = 1; ts <= nt; ++ts) {
    if (nt % ts) continue;
    const int tv = nt / ts;
    // Per-thread cost per unit of k: padded tile work (MACs) + packing of both operands (an element
    // packed costs about as much as 16 MACs).
    const double ms_t = (double)ceil_div(sp, ts) * K.MR, nv_t = (double)ceil_div(vp, tv) * K.VG;
    const double w = ms_t * nv_t + 16.0 * (ms_t + nv_t);
    if (w < best * 0.999 || (w < best * 1.001 && tv > best_tv)) {
      best = w;
      best_ts = ts;
      best_tv = tv;
    }
  }
  const int ts = best_ts, tv = best_tv;
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const int tn = omp_get_num_threads();
    for (int64_t t = 0; t < batch; ++t) {
      if (tn == nt)
        run_part(K, P, t, ts, tv, tid);
      else if (tid == 0)
        run_part(K, P, t, 1, 1, 0);  // runtime gave us fewer threads
    }
  }
}

}  // namespace avgk
