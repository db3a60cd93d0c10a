// Standalone correctness test for avgk::sgemm.
//   g++ -O3 -fopenmp -std=c++17 -I native/kernels native/tests/gemm_test.cc native/kernels/gemm/*.cc
//       native/kernels/cpu_features.cc -o build/gemm_test
//   build/gemm_test            (runs itself once per kernel: avx512, avx2, portable; for avx512 also
//                              once per small-problem plan, AVGK_GEMM_SMALL_PATH=n|t|g2|g4|g8, and
//                              once without the small-problem path, AVGK_GEMM_SMALL=0)
//   AVGK_GEMM_KERNEL=avx2 build/gemm_test   (one kernel; the variables: tuning_env.h)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gemm/gemm.h"
#include "tuning_env.h"

static std::mt19937_64 rng(12345);
static float urand() { return std::uniform_real_distribution<float>(-1.f, 1.f)(rng); }

static int g_fail = 0, g_cases = 0;

// One case. ta/tb: transposed storage of A / B. Extra padding in leading dims.
// shared: every matrix of the batch uses the same A and B (batch strides 0). packed: A goes through
// pack_a + sgemm_packed_a (one A shared by the whole batch).
static void run_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb, float alpha, float beta,
                     int threads, bool nan_c, bool shared = false, bool packed = false) {
  avgk::set_num_threads(threads);
  const int64_t pad = (m + n + k) % 3;  // leading-dimension padding
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + (pad ? 1 : 0);
  const int64_t rsA = ta ? 1 : lda, csA = ta ? lda : 1;
  const int64_t rsB = tb ? 1 : ldb, csB = tb ? ldb : 1;
  const int64_t sizeA = (ta ? k : m) * lda + 1, sizeB = (tb ? n : k) * ldb + 1, sizeC = m * ldc + 1;
  const int64_t bsA = (shared || packed) ? 0 : sizeA + 3, bsB = shared ? 0 : sizeB + 5, bsC = sizeC + 7;
  std::vector<float> A((shared || packed) ? sizeA : bsA * batch), B(shared ? sizeB : bsB * batch), C(bsC * batch), C0;
  for (auto& x : A) x = urand();
  for (auto& x : B) x = urand();
  for (auto& x : C) x = nan_c ? NAN : urand();
  C0 = C;
  if (packed) {
    std::vector<float> buf((size_t)avgk::packed_a_floats(m, k) + 16);
    const avgk::PackedA pa = avgk::pack_a(m, k, A.data(), rsA, csA, buf.data());
    avgk::sgemm_packed_a(pa, batch, n, alpha, B.data(), rsB, csB, bsB, beta, C.data(), ldc, bsC);
  } else {
    avgk::sgemm(batch, m, n, k, alpha, A.data(), rsA, csA, bsA, B.data(), rsB, csB, bsB, beta, C.data(), ldc, bsC);
  }
  ++g_cases;
  double maxerr = 0;
  for (int64_t t = 0; t < batch; ++t) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, sa = 0;
        for (int64_t p = 0; p < k; ++p) {
          double a = A[t * bsA + i * rsA + p * csA], b = B[t * bsB + p * rsB + j * csB];
          s += a * b;
          sa += std::fabs(a * b);
        }
        const double c0 = C0[t * bsC + i * ldc + j];
        double ref = alpha * s + (beta == 0.f ? 0.0 : beta * c0);
        double scale = std::fabs(alpha) * sa + (beta == 0.f ? 0.0 : std::fabs(beta * c0)) + 1e-30;
        double got = C[t * bsC + i * ldc + j];
        double err = std::fabs(got - ref) / scale;
        if (!(err <= 1e-5 * std::sqrt((double)k + 1))) {
          if (g_fail < 20)
            std::printf("FAIL%s b=%ld m=%ld n=%ld k=%ld ta=%d tb=%d alpha=%g beta=%g thr=%d  [t=%ld i=%ld j=%ld] got=%g ref=%g\n",
                        packed ? " (packed A)" : "", (long)batch, (long)m, (long)n, (long)k, ta, tb, alpha, beta, threads, (long)t, (long)i,
                        (long)j, got, ref);
          ++g_fail;
          return;
        }
        maxerr = std::max(maxerr, err);
      }
    // Padding between rows / batches must be untouched.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = n; j < ldc; ++j)
        if (std::memcmp(&C[t * bsC + i * ldc + j], &C0[t * bsC + i * ldc + j], 4)) {
          std::printf("FAIL padding overwritten m=%ld n=%ld k=%ld\n", (long)m, (long)n, (long)k);
          ++g_fail;
          return;
        }
    for (int64_t x = m * ldc; x < bsC; ++x)
      if (std::memcmp(&C[t * bsC + x], &C0[t * bsC + x], 4)) {
        std::printf("FAIL tail overwritten m=%ld n=%ld k=%ld\n", (long)m, (long)n, (long)k);
        ++g_fail;
        return;
      }
  }
}

int main(int argc, char** argv) {
  if (!std::getenv("AVGK_GEMM_KERNEL")) {
    int rc = 0;
    for (const char* kname : {"avx512", "avx2", "portable"}) {
      std::string cmd = std::string("AVGK_GEMM_KERNEL=") + kname + " " + argv[0];
      rc |= std::system(cmd.c_str());
    }
    for (const char* path : {"n", "t", "g2", "g4", "g8"}) {
      std::string cmd = std::string("AVGK_GEMM_KERNEL=avx512 AVGK_GEMM_SMALL_PATH=") + path + " " + argv[0];
      rc |= std::system(cmd.c_str());
    }
    rc |= std::system((std::string("AVGK_GEMM_KERNEL=avx512 AVGK_GEMM_SMALL=0 ") + argv[0]).c_str());
    std::printf(rc ? "SOME FAILED\n" : "ALL PASSED\n");
    return rc ? 1 : 0;
  }
  avgk_test::apply_tuning_env();
  const char* path = std::getenv("AVGK_GEMM_SMALL_PATH");
  const char* small = std::getenv("AVGK_GEMM_SMALL");
  std::printf("kernel: %s%s%s%s (threads default %d)\n", avgk::gemm_kernel_name(), path ? ", small path " : "",
              path ? path : "", small && std::string(small) == "0" ? ", small path off" : "", avgk::get_num_threads());
  const int64_t dims[] = {1, 2, 3, 5, 7, 13, 16, 17, 31, 48, 65, 97};
  // Small random shapes, all transpose combos, several alpha/beta.
  for (int64_t m : dims)
    for (int64_t n : dims)
      for (int64_t k : {1L, 4L, 19L, 64L}) {
        const int combo = (int)((m * 7 + n * 3 + k) % 4);
        run_case(1, m, n, k, combo & 1, combo & 2, 1.f, 0.f, 1, (m + n) % 2);
      }
  std::uniform_int_distribution<int> pick(0, 3);
  const float alphas[] = {1.f, -0.5f, 2.f, 0.75f};
  const float betas[] = {0.f, 1.f, -1.5f, 0.5f};
  struct S { int64_t m, n, k; };
  const S shapes[] = {{1, 1, 1},     {1, 300, 7},    {300, 1, 9},     {67, 131, 513},  {131, 67, 1031},
                      {128, 10, 4096}, {128, 10, 64}, {32, 3000, 288}, {64, 785, 576},  {288, 1500, 32},
                      {32, 288, 3001}, {200, 193, 257}, {257, 263, 269}, {6, 64, 1000}, {70, 4100, 20},
                      {4100, 20, 40},  {100, 100, 0},  {0, 5, 5},      {5, 0, 5},      {33, 129, 600}};
  for (const S& s : shapes)
    for (int combo = 0; combo < 4; ++combo)
      for (int thr : {1, 2}) {
        const float a = alphas[pick(rng)], b = betas[pick(rng)];
        run_case(1, s.m, s.n, s.k, combo & 1, combo & 2, a, b, thr, b == 0.f);
      }
  // beta == 0 with NaN C, k == 0.
  run_case(1, 17, 19, 0, false, false, 1.f, 0.f, 2, true);
  run_case(1, 17, 19, 0, false, false, 1.f, 2.f, 2, false);
  run_case(1, 37, 41, 23, false, false, 0.f, 0.5f, 2, false);
  // Small-problem sizes (gemm_small.cc): every layout, primes and non-multiples of the tiles,
  // alpha != 1, beta 0 (NaN in C) / 1 / 0.5, batch 1 and 3 (own or shared operands), 1 and 2 threads.
  {
    const int64_t sd[] = {1, 2, 3, 7, 10, 13, 16, 17, 31, 33, 64, 65, 128};
    const float sb[] = {0.f, 1.f, 0.5f};
    int i = 0;
    for (int64_t m : sd)
      for (int64_t n : sd)
        for (int j = 0; j < 3; ++j, ++i) {
          const int64_t k = sd[(i * 5 + j) % 13];
          const int combo = i % 4;
          const float b = sb[(i / 4) % 3];
          const int64_t batch = i % 7 == 0 ? 3 : 1;
          run_case(batch, m, n, k, combo & 1, combo & 2, -1.25f, b, 1 + (i / 12) % 2, b == 0.f, i % 14 == 7);
        }
  }
  // Batched.
  for (int thr : {1, 2})
    for (int64_t batch : {2L, 3L, 5L, 8L}) {
      run_case(batch, 33, 17, 29, false, true, 1.f, 0.f, thr, true);
      run_case(batch, 7, 130, 65, true, false, -1.f, 1.f, thr, false);
      run_case(batch, 129, 250, 300, true, true, 0.5f, 0.25f, thr, false);
      run_case(batch, 128, 10, 64, false, true, 1.f, 0.f, thr, true, true);
      run_case(batch, 10, 64, 128, true, false, 2.f, 1.f, thr, false, true);
    }
  // Pre-packed A (conv weights): every shape above, batches sharing one packed A, 1 and 2 threads.
  for (const S& s : shapes)
    for (int combo = 0; combo < 4; ++combo) {
      const float a = alphas[pick(rng)], b = betas[pick(rng)];
      run_case(1 + combo % 3, s.m, s.n, s.k, combo & 1, combo & 2, a, b, 1 + combo % 2, b == 0.f, false, true);
    }
  for (int thr : {1, 2})
    for (int64_t batch : {1L, 4L, 7L}) {
      run_case(batch, 4608, 64, 40, true, false, 1.f, 0.f, thr, true, false, true);  // m > NC: several S blocks
      run_case(batch, 70, 300, 600, false, false, -0.5f, 1.f, thr, false, false, true);  // K blocks
    }
  std::printf("%s: %d cases, %d failures\n", avgk::gemm_kernel_name(), g_cases, g_fail);
  return g_fail ? 1 : 0;
}
