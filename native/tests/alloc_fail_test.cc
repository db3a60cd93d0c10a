// Allocation failures inside the multi-threaded kernels: each must reach the caller as a C++
// exception (which the addon turns into a JS Error), never std::terminate or a null dereference.
// The test program interposes aligned_alloc (the kernels' scratch buffers come from it), makes it
// fail, and checks that sgemm, sgemm_packed_a and conv2d (forward, backward weight, backward input)
// throw on 1 and 2 threads, then that they compute the right result once memory is available again.
//   g++ -O3 -std=c++17 -fopenmp -Inative/kernels native/tests/alloc_fail_test.cc native/kernels/conv.cc
//       native/kernels/cpu_features.cc native/kernels/gemm/*.cc -o build/alloc_fail_test
// Exit status 0 iff every check passed; the last line is "N checks, F failures".
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm/gemm.h"
#include "kernels.h"

static std::atomic<bool> g_fail_alloc{false};
static std::atomic<long> g_refused{0};
static std::atomic<long> g_allow{0};  // while failing: this many allocations still succeed first

// Interposed for the whole program (the kernels are linked into this executable).
extern "C" void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (g_fail_alloc.load() && g_allow.fetch_sub(1) <= 0) {
    g_refused.fetch_add(1);
    return nullptr;
  }
  return memalign(alignment, size);
}

static int g_checks = 0, g_failures = 0;
static void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

// Runs f with allocation failing (after `allow` successful ones); expects an exception whose
// message contains `needle`.
template <class F>
static void expect_throw(const std::string& name, const char* needle, F&& f, long allow = 0) {
  g_allow = allow;
  g_fail_alloc = true;
  const long before = g_refused.load();
  std::string msg;
  bool threw = false;
  try {
    f();
  } catch (const std::exception& e) {
    threw = true;
    msg = e.what();
  }
  g_fail_alloc = false;
  check(g_refused.load() > before, name + ": an allocation was attempted (and refused)");
  check(threw, name + ": threw");
  check(msg.find(needle) != std::string::npos, name + ": message '" + msg + "' contains '" + needle + "'");
}

static float lcg(uint32_t& s) {
  s = s * 1664525u + 1013904223u;
  return (float)((s >> 8) & 0xFFFF) / 65536.f - 0.5f;
}

static double max_gemm_err(int64_t m, int64_t n, int64_t k, const std::vector<float>& A, const std::vector<float>& B,
                           const std::vector<float>& C) {
  double e = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double r = 0;
      for (int64_t p = 0; p < k; ++p) r += (double)A[i * k + p] * B[p * n + j];
      e = std::max(e, std::fabs(r - C[i * n + j]));
    }
  return e;
}

int main() {
  using namespace avgk;
  const int64_t m = 300, n = 280, k = 260;  // the blocked driver (above the small-problem size)
  uint32_t s = 7;
  std::vector<float> A(m * k), B(k * n), C(m * n, 0.f);
  for (auto& v : A) v = lcg(s);
  for (auto& v : B) v = lcg(s);

  for (int threads : {2, 1}) {
    set_num_threads(threads);
    const std::string t = " (" + std::to_string(threads) + " thread" + (threads > 1 ? "s)" : ")");
    expect_throw("sgemm" + t, "sgemm: cannot allocate", [&] {
      sgemm(1, m, n, k, 1.f, A.data(), k, 1, 0, B.data(), n, 1, 0, 0.f, C.data(), n, 0);
    });
    // a batch split between threads
    std::vector<float> Cb(3 * m * n);
    expect_throw("batched sgemm" + t, "sgemm: cannot allocate", [&] {
      sgemm(3, m, n, k, 1.f, A.data(), k, 1, 0, B.data(), n, 1, 0, 0.f, Cb.data(), n, m * n);
    });
    std::vector<float> pbuf(packed_a_floats(m, k));
    const PackedA pa = pack_a(m, k, A.data(), k, 1, pbuf.data());
    expect_throw("sgemm_packed_a" + t, "sgemm: cannot allocate", [&] {
      sgemm_packed_a(pa, 2, n, 1.f, B.data(), n, 1, 0, 0.f, Cb.data(), n, m * n);
    });
    ConvGeom g{8, 16, 20, 20, 24, 3, 3, 1, 1, 20, 20};
    std::vector<float> x(g.n * g.c * g.h * g.w), w(g.o * g.c * 9), out(g.n * g.o * g.oh * g.ow);
    for (auto& v : x) v = lcg(s);
    for (auto& v : w) v = lcg(s);
    expect_throw("conv2d_forward" + t, "cannot allocate", [&] { conv2d_forward(x.data(), w.data(), nullptr, out.data(), g); });
    // backward weight: per-thread partial sums inside the conv's own OpenMP region at 2 threads
    std::vector<float> gw(w.size()), gx(x.size());
    expect_throw("conv2d_backward_weight" + t, "cannot allocate",
                 [&] { conv2d_backward_weight(x.data(), out.data(), gw.data(), g); });
    if (threads == 2)  // the partial sums allocated, the threads' scratch refused (inside the region)
      expect_throw("conv2d_backward_weight, in the region" + t, "cannot allocate",
                   [&] { conv2d_backward_weight(x.data(), out.data(), gw.data(), g); }, 1);
    expect_throw("conv2d_backward_input" + t, "cannot allocate",
                 [&] { conv2d_backward_input(out.data(), w.data(), gx.data(), g); });
  }

  // memory is back: the same calls succeed and are right
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::fill(C.begin(), C.end(), 0.f);
    sgemm(1, m, n, k, 1.f, A.data(), k, 1, 0, B.data(), n, 1, 0, 0.f, C.data(), n, 0);
    const double e = max_gemm_err(m, n, k, A, B, C);
    check(e < 1e-3, "sgemm after the failures, " + std::to_string(threads) + " thread(s): max error " + std::to_string(e));
  }
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
