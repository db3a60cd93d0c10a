// PLACEHOLDER reference SGEMM (to be replaced by the BLIS-style implementation).
#include "gemm.h"
#include <omp.h>
#include <thread>

namespace avgk {
static int g_threads = 0;
void set_num_threads(int n) { g_threads = n < 1 ? 1 : n; }
int get_num_threads() {
  if (g_threads <= 0) { unsigned hc = std::thread::hardware_concurrency(); g_threads = hc ? (int)hc : 1; }
  return g_threads;
}

void sgemm(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
           const float* A, int64_t rsA, int64_t csA, int64_t bsA,
           const float* B, int64_t rsB, int64_t csB, int64_t bsB,
           float beta, float* C, int64_t rsC, int64_t bsC) {
  for (int64_t t = 0; t < batch; ++t) {
    const float* a = A + t * bsA; const float* b = B + t * bsB; float* c = C + t * bsC;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float s = 0.f;
        for (int64_t p = 0; p < k; ++p) s += a[i * rsA + p * csA] * b[p * rsB + j * csB];
        float* cij = c + i * rsC + j;
        *cij = beta == 0.f ? alpha * s : alpha * s + beta * *cij;
      }
  }
}
}  // namespace avgk
