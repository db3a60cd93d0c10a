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
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "../tuning.h"
#include "blocking.h"
#include "gemm_internal.h"

namespace avgk {
namespace gemm_detail {

// 64-byte aligned, so that the speed of its gather loop does not depend on where the linker puts it.
__attribute__((aligned(64))) void pack_generic(int W, int64_t nx, int64_t kc, const float* src, int64_t sx,
                                                int64_t sp, float* dst) {
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

// The micro-kernel for `want` (kAuto: the best isa() allows; each get_kernel_* declines a level above
// isa()), with or without the small-problem path.
KernelInfo select_kernel(tuning::GemmKernel want, bool small) {
  using tuning::GemmKernel;
  KernelInfo k{};
  const bool found = (want != GemmKernel::kPortable && want != GemmKernel::kAvx2 && get_kernel_avx512(&k)) ||
                     (want != GemmKernel::kPortable && get_kernel_avx2(&k));
  if (!found) get_kernel_portable(&k);
  if (!small) k.small = nullptr;
  return k;
}

KernelInfo& kernel_slot() {
  static KernelInfo k = select_kernel(tuning::GemmKernel::kAuto, true);
  return k;
}
const KernelInfo& kernel() { return kernel_slot(); }
// Select once at static-initialisation time (not on the first hot call).
[[maybe_unused]] const KernelInfo& g_kernel_init = kernel();

thread_local AlignedBuf t_bufS, t_bufV;  // packing buffers (gemm_internal.h)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// K blocking shared by gemm_serial and the pre-packed path: balanced blocks, multiples of 4.
inline int64_t k_block(const KernelInfo& K, int64_t k) {
  const int64_t nkb = ceil_div(k, K.KC);
  return ceil_div(ceil_div(k, nkb), 4) * 4;
}


// One thread: C[0:ms, 0:nv] (strides rsC along S, csC along V) = alpha * S V + beta * C.
//   S(s, p) = S[s*rsS + p*csS] (ms x k); pack_v(pc, kc, ic, ncur, dst) packs the V block (rows
//   [pc, pc+kc), columns [ic, ic+ncur)) into NR-wide panels.
template <class PackV>
void gemm_serial_t(const KernelInfo& K, int64_t ms, int64_t nv, int64_t k, float alpha, const float* S,
                   int64_t rsS, int64_t csS, PackV&& pack_v, float beta, float* C, int64_t rsC, int64_t csC) {
  const int MR = K.MR, NR = K.NR;
  const int64_t KC = K.KC, NC = K.NC;
  // Balance K blocks (avoid a tiny last block).
  (void)KC;
  const int64_t kcb = k_block(K, k);
  const int64_t ncb = std::min<int64_t>(NC, ceil_div(ms, MR) * MR);
  const int64_t mcb = std::min<int64_t>(K.MC, ceil_div(nv, NR) * NR);
  float* bs = t_bufS.get_or_throw((size_t)ncb * kcb + 64, "sgemm");
  float* bv = t_bufV.get_or_throw((size_t)mcb * kcb + 64, "sgemm");
  for (int64_t jc = 0; jc < ms; jc += ncb) {
    const int64_t mcur = std::min(ncb, ms - jc);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      const float beta_eff = pc == 0 ? beta : 1.f;
      K.pack(MR, mcur, kc, S + jc * rsS + pc * csS, rsS, csS, bs);
      for (int64_t ic = 0; ic < nv; ic += mcb) {
        const int64_t ncur = std::min(mcb, nv - ic);
        pack_v(pc, kc, ic, ncur, bv);
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

// gemm_serial_t with V(p, v) = V[p*rsV + v*csV] (k x nv).
void gemm_serial(const KernelInfo& K, int64_t ms, int64_t nv, int64_t k, float alpha, const float* S,
                 int64_t rsS, int64_t csS, const float* V, int64_t rsV, int64_t csV, float beta, float* C,
                 int64_t rsC, int64_t csC) {
  gemm_serial_t(
      K, ms, nv, k, alpha, S, rsS, csS,
      [&](int64_t pc, int64_t kc, int64_t ic, int64_t ncur, float* bv) {
        K.pack(K.NR, ncur, kc, V + pc * rsV + ic * csV, csV, rsV, bv);
      },
      beta, C, rsC, csC);
}

// One thread, pre-packed S: C rows [s0, s1) (s0 a multiple of MR) x V columns [0, nv).
//   C points at row 0 / column 0 of the whole C; pack_v(pc, kc, ic, ncur, dst) packs the V block
//   (rows [pc, pc+kc), columns [ic, ic+ncur) of this thread's V range) into NR-wide panels.
template <class PackV>
void gemm_serial_packed_t(const KernelInfo& K, const PackedA& pa, int64_t s0, int64_t s1, int64_t nv, float alpha,
                          PackV&& pack_v, float beta, float* C, int64_t rsC) {
  const int MR = K.MR, NR = K.NR;
  const int64_t k = pa.k, kcb = pa.kcb;
  const int64_t ncb = std::min<int64_t>(K.NC, ceil_div(s1 - s0, MR) * MR);
  const int64_t mcb = std::min<int64_t>(K.MC, ceil_div(nv, NR) * NR);
  float* bv = t_bufV.get_or_throw((size_t)mcb * kcb + 64, "sgemm");
  for (int64_t jc = s0; jc < s1; jc += ncb) {
    const int64_t jend = std::min(s1, jc + ncb);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      const float beta_eff = pc == 0 ? beta : 1.f;
      const float* sblk = pa.data + pc * pa.mpad;
      for (int64_t ic = 0; ic < nv; ic += mcb) {
        const int64_t ncur = std::min(mcb, nv - ic);
        pack_v(pc, kc, ic, ncur, bv);
        for (int64_t jr = jc; jr < jend; jr += MR) {
          const int mr = (int)std::min<int64_t>(MR, jend - jr);
          const float* sp = sblk + jr * kc;  // panel jr/MR of this K block: (jr/MR)*MR*kc
          float* crow = C + jr * rsC + ic;
          for (int64_t ir = 0; ir < ncur; ir += NR) {
            const int nr = (int)std::min<int64_t>(NR, ncur - ir);
            K.ukr(kc, sp, bv + (ir / NR) * NR * kc, crow + ir, rsC, 1, mr, nr, alpha, beta_eff);
          }
        }
      }
    }
  }
}

// gemm_serial_packed_t with V a strided matrix (V at column 0 of this thread's V range).
void gemm_serial_packed(const KernelInfo& K, const PackedA& pa, int64_t s0, int64_t s1, int64_t nv, float alpha,
                        const float* V, int64_t rsV, int64_t csV, float beta, float* C, int64_t rsC) {
  gemm_serial_packed_t(
      K, pa, s0, s1, nv, alpha,
      [&](int64_t pc, int64_t kc, int64_t ic, int64_t ncur, float* bv) {
        K.pack(K.NR, ncur, kc, V + pc * rsV + ic * csV, csV, rsV, bv);
      },
      beta, C, rsC);
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
struct Problem : SvForm {
  int64_t k;
  float alpha, beta;
  float* C;
  int64_t bsC;
};

// The problem in S/V form. Orientation: put the dimension that wastes less padding into the vectors.
Problem make_problem(const KernelInfo& K, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                     int64_t rsA, int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB,
                     int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC) {
  const double costN = (double)ceil_div(m, K.MR) * K.MR * (double)ceil_div(n, K.NR) * K.NR;
  const double costT = (double)ceil_div(n, K.MR) * K.MR * (double)ceil_div(m, K.NR) * K.NR;
  Problem P;
  static_cast<SvForm&>(P) = sv_form(costT * 1.15 < costN, m, n, A, rsA, csA, bsA, B, rsB, csB, bsB, rsC);
  P.k = k;
  P.alpha = alpha;
  P.beta = beta;
  P.C = C;
  P.bsC = bsC;
  return P;
}

// 2-D partition of C among nt threads: ts blocks along S times tv along V, tile-aligned, chosen to
// minimise the largest block's cost per unit of k: padded tile work (MACs) plus packing (an element
// packed costs about as much as 16 MACs; a pre-packed S costs nothing).
struct Grid {
  int ts, tv;
};
Grid choose_grid(const KernelInfo& K, int64_t ms, int64_t nv, int nt, bool s_prepacked) {
  const int64_t sp = ceil_div(ms, K.MR), vp = ceil_div(nv, K.VG);
  Grid g{1, nt};
  double best = 1e300;
  for (int ts = 1; ts <= nt; ++ts) {
    if (nt % ts) continue;
    const int tv = nt / ts;
    const double ms_t = (double)ceil_div(sp, ts) * K.MR, nv_t = (double)ceil_div(vp, tv) * K.VG;
    const double w = ms_t * nv_t + 16.0 * ((s_prepacked ? 0.0 : ms_t) + nv_t);
    if (w < best * 0.999 || (w < best * 1.001 && tv > g.tv)) {
      best = w;
      g = Grid{ts, tv};
    }
  }
  return g;
}

// Thread tid's block [s0, s1) x [v0, v1) of the grid (empty when s1 <= s0 or v1 <= v0).
struct Block {
  int64_t s0, s1, v0, v1;
};
Block grid_block(const KernelInfo& K, int64_t ms, int64_t nv, Grid g, int tid) {
  const int is = tid / g.tv, iv = tid % g.tv;
  const int64_t sp = ceil_div(ms, K.MR), vp = ceil_div(nv, K.VG);
  return Block{std::min(ms, (sp * is / g.ts) * K.MR), std::min(ms, (sp * (is + 1) / g.ts) * K.MR),
               std::min(nv, (vp * iv / g.tv) * K.VG), std::min(nv, (vp * (iv + 1) / g.tv) * K.VG)};
}

// Thread tid of grid g computes its block of matrix t.
void run_part(const KernelInfo& K, const Problem& P, int64_t t, Grid g, int tid) {
  const Block b = grid_block(K, P.ms, P.nv, g, tid);
  if (b.s1 <= b.s0 || b.v1 <= b.v0) return;
  gemm_serial(K, b.s1 - b.s0, b.v1 - b.v0, P.k, P.alpha, P.S + t * P.bsS + b.s0 * P.rsS,
              P.rsS, P.csS, P.V + t * P.bsV + b.v0 * P.csV, P.rsV, P.csV, P.beta,
              P.C + t * P.bsC + b.s0 * P.rsC + b.v0 * P.csC, P.rsC, P.csC);
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

std::atomic<int> g_threads{0};  // set_num_threads(n); 0: the automatic count below

// The automatic count: the physical cores, less the cores that other processes keep busy. OpenMP
// teams divide work statically and wait at every barrier, so a thread sharing its core with another
// process holds the whole team up for a scheduler slice at each barrier (2 threads beside a busy
// loop on 2 cores ran slower than 1). Every kSamplePeriodNs the first caller compares the busy time
// of our CPUs (/proc/stat) with this process's CPU time (getrusage) over the period: a core's
// worth of other work, rounded to the nearest whole core, takes one thread away (never below 1).
// Without /proc/stat: the physical cores.
constexpr int64_t kSamplePeriodNs = 200'000'000;
std::atomic<int> g_auto{0};                  // last automatic count (0: not yet)
std::atomic<int64_t> g_next_sample_ns{0};    // steady clock
std::mutex g_sample_mutex;

struct CpuSample {
  int64_t wall_ns = 0;
  double busy_s = 0;  // busy time of our CPUs, all processes
  double self_s = 0;  // this process's CPU time
  bool ok = false;
};
CpuSample g_last;  // under g_sample_mutex

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

CpuSample take_sample() {
  CpuSample s;
  s.wall_ns = now_ns();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return s;
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return s;
  static const double tick = [] {
    const long t = sysconf(_SC_CLK_TCK);
    return t > 0 ? 1.0 / t : 0.01;
  }();
  char line[512];
  unsigned long long busy = 0;
  int cpus = 0;
  while (std::fgets(line, sizeof line, f)) {
    int cpu;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    if (std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &user, &nice, &sys, &idle, &iowait,
                    &irq, &softirq, &steal) != 9)
      continue;
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set)) continue;
    busy += user + nice + sys + irq + softirq + steal;
    ++cpus;
  }
  std::fclose(f);
  struct rusage ru;
  if (cpus == 0 || getrusage(RUSAGE_SELF, &ru) != 0) return s;
  s.busy_s = busy * tick;
  s.self_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  s.ok = true;
  return s;
}

int auto_threads() {
  static const int cores = std::max(1, detect_physical_cores());
  int t = g_auto.load(std::memory_order_relaxed);
  if (cores == 1) return 1;
  const int64_t now = now_ns();
  if (t > 0 && now < g_next_sample_ns.load(std::memory_order_relaxed)) return t;
  std::unique_lock<std::mutex> lock(g_sample_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return t > 0 ? t : cores;  // another thread is sampling
  const CpuSample s = take_sample();
  int next = cores;
  if (s.ok && g_last.ok && s.wall_ns > g_last.wall_ns) {
    const double others = ((s.busy_s - g_last.busy_s) - (s.self_s - g_last.self_s)) / (1e-9 * (s.wall_ns - g_last.wall_ns));
    next = std::max(1, cores - (int)std::floor(std::max(0.0, others) + 0.5));
  } else if (t > 0) {
    next = t;
  }
  g_last = s;
  g_auto.store(next, std::memory_order_relaxed);
  g_next_sample_ns.store(now + kSamplePeriodNs, std::memory_order_relaxed);
  return next;
}

}  // namespace
}  // namespace gemm_detail

using namespace gemm_detail;

void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n); }

int get_num_threads() {
  const int t = g_threads.load(std::memory_order_relaxed);
  return t > 0 ? t : auto_threads();
}

const char* gemm_kernel_name() { return kernel().name; }

const char* tuning::set_gemm_kernel(GemmKernel k, bool small) {
  kernel_slot() = select_kernel(k, small);
  return kernel().name;
}

#ifdef AVGK_GEMM_TUNING
bool tuning::set_gemm_avx512_tile(int mr, int nr, int kc, int mc, int nc) {
  KernelInfo k{};
  if (!get_kernel_avx512_tile(&k, mr, nr, kc, mc, nc)) return false;
  kernel_slot() = k;
  return true;
}
#endif

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
      RegionErrors errs;
#pragma omp parallel for num_threads(nt) schedule(static)
      for (int64_t t = 0; t < batch; ++t)
        errs.run([&] {
          if (!K.small(1, m, n, k, alpha, A + t * bsA, rsA, csA, 0, B + t * bsB, rsB, csB, 0, beta, C + t * bsC,
                       rsC, 0))
            run_part(K, P, t, Grid{1, 1}, 0);
        });
      errs.rethrow();
      return;
    }
  }

  const Problem P = make_problem(K, m, n, k, alpha, A, rsA, csA, bsA, B, rsB, csB, bsB, beta, C, rsC, bsC);

  if (nt <= 1) {
    for (int64_t t = 0; t < batch; ++t) run_part(K, P, t, Grid{1, 1}, 0);
    return;
  }

  // Batch-parallel when every matrix is small or the batch splits evenly.
  if (batch >= nt && (flops1 < gemm_blocking::BATCH_PARALLEL_MAX_FLOPS || batch % nt == 0 || batch >= 4 * nt)) {
    RegionErrors errs;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < batch; ++t) errs.run([&] { run_part(K, P, t, Grid{1, 1}, 0); });
    errs.rethrow();
    return;
  }

  const Grid g = choose_grid(K, P.ms, P.nv, nt, false);
  RegionErrors errs;
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const int tn = omp_get_num_threads();
    errs.run([&] {
      for (int64_t t = 0; t < batch; ++t) {
        if (tn == nt)
          run_part(K, P, t, g, tid);
        else if (tid == 0)
          run_part(K, P, t, Grid{1, 1}, 0);  // runtime gave us fewer threads
      }
    });
  }
  errs.rethrow();
}

int gemm_panel_width() { return kernel().NR; }

void sgemm_packed_a_fill(const PackedA& pa, int64_t n, float alpha, VPanelFill fill, const void* ctx, float beta,
                         float* C, int64_t rsC) {
  const int64_t m = pa.m, k = pa.k;
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    scale_c(m, n, beta, C, rsC);
    return;
  }
  const KernelInfo& K = kernel();
  if (pa.mr != K.MR) throw std::logic_error("sgemm_packed_a_fill: A was packed for another micro-kernel");
  gemm_serial_packed_t(
      K, pa, 0, m, n, alpha,
      [&](int64_t pc, int64_t kc, int64_t ic, int64_t ncur, float* bv) { fill(ctx, pc, kc, ic, ncur, K.NR, bv); },
      beta, C, rsC);
}

void sgemm_fill(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA, int64_t csA,
                VPanelFill fill, const void* ctx, float beta, float* C, int64_t rsC) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    scale_c(m, n, beta, C, rsC);
    return;
  }
  const KernelInfo& K = kernel();
  gemm_serial_t(
      K, m, n, k, alpha, A, rsA, csA,
      [&](int64_t pc, int64_t kc, int64_t ic, int64_t ncur, float* bv) { fill(ctx, pc, kc, ic, ncur, K.NR, bv); },
      beta, C, rsC, 1);
}

int64_t packed_a_floats(int64_t m, int64_t k) {
  const KernelInfo& K = kernel();
  return ceil_div(m, K.MR) * K.MR * std::max<int64_t>(k, 1) + 64;
}

PackedA pack_a(int64_t m, int64_t k, const float* A, int64_t rsA, int64_t csA, float* buf) {
  const KernelInfo& K = kernel();
  PackedA pa;
  pa.data = buf;
  pa.m = m;
  pa.k = k;
  pa.mr = K.MR;
  pa.mpad = ceil_div(m, K.MR) * K.MR;
  pa.kcb = k > 0 ? k_block(K, k) : 1;
  if (m <= 0 || k <= 0) return pa;
  const int64_t panels = ceil_div(m, K.MR);
  int nt = omp_in_parallel() ? 1 : get_num_threads();
  if ((double)m * k < 65536.0) nt = 1;
  nt = (int)std::min<int64_t>(nt, panels);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), tn = omp_get_num_threads();
    const int64_t r0 = (panels * tid / tn) * K.MR, r1 = std::min(m, (panels * (tid + 1) / tn) * K.MR);
    if (r1 > r0)
      for (int64_t pc = 0; pc < k; pc += pa.kcb) {
        const int64_t kc = std::min(pa.kcb, k - pc);
        K.pack(K.MR, r1 - r0, kc, A + r0 * rsA + pc * csA, rsA, csA, buf + pc * pa.mpad + r0 * kc);
      }
  }
  return pa;
}

void sgemm_packed_a(const PackedA& pa, int64_t batch, int64_t n, float alpha, const float* B, int64_t rsB,
                    int64_t csB, int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC) {
  const int64_t m = pa.m, k = pa.k;
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    for (int64_t t = 0; t < batch; ++t) scale_c(m, n, beta, C + t * bsC, rsC);
    return;
  }
  const KernelInfo& K = kernel();
  if (pa.mr != K.MR) throw std::logic_error("sgemm_packed_a: A was packed for another micro-kernel");
  int nt = omp_in_parallel() ? 1 : get_num_threads();
  const double flops1 = 2.0 * m * n * k;
  nt = (int)std::max<double>(1, std::min<double>(nt, std::floor(flops1 * batch / gemm_blocking::MIN_FLOPS_PER_THREAD)));
  if (nt <= 1) {
    for (int64_t t = 0; t < batch; ++t)
      gemm_serial_packed(K, pa, 0, m, n, alpha, B + t * bsB, rsB, csB, beta, C + t * bsC, rsC);
    return;
  }
  if (batch >= nt && (flops1 < gemm_blocking::BATCH_PARALLEL_MAX_FLOPS || batch % nt == 0 || batch >= 4 * nt)) {
    RegionErrors errs;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < batch; ++t)
      errs.run([&] { gemm_serial_packed(K, pa, 0, m, n, alpha, B + t * bsB, rsB, csB, beta, C + t * bsC, rsC); });
    errs.rethrow();
    return;
  }
  const Grid g = choose_grid(K, m, n, nt, true);  // S = the packed A rows, V = the columns of B / C
  RegionErrors errs;
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const int tn = omp_get_num_threads();
    errs.run([&] {
      for (int64_t t = 0; t < batch; ++t) {
        if (tn == nt) {
          const Block b = grid_block(K, m, n, g, tid);
          if (b.s1 > b.s0 && b.v1 > b.v0)
            gemm_serial_packed(K, pa, b.s0, b.s1, b.v1 - b.v0, alpha, B + t * bsB + b.v0 * csB, rsB, csB, beta,
                               C + t * bsC + b.v0, rsC);
        } else if (tid == 0) {
          gemm_serial_packed(K, pa, 0, m, n, alpha, B + t * bsB, rsB, csB, beta, C + t * bsC, rsC);
        }
      }
    });
  }
  errs.rethrow();
}

}  // namespace avgk
