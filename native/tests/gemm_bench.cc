// SGEMM benchmark (median of repeats), same size convention as bench/peers/numpy_gemm.py.
//   g++ -O3 -fopenmp -std=c++17 -ffp-contract=fast -Inative/kernels native/tests/gemm_bench.cc native/kernels/gemm/*.cc
//       native/kernels/cpu_features.cc -o build/gemm_bench   (add -DAVGK_GEMM_TUNING for AVGK_GEMM_TUNE)
//   build/gemm_bench 256,512,1024,2048,128x4096x10 [threads]
// The kernel knobs' environment variables (AVGK_GEMM_KERNEL, ...): tuning_env.h.
// Spec: N (square) or MxKxN, optional suffix :nn :tn :nt :tt (A / B stored transposed), *B for batch B.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <ctime>
#include <vector>

#include "gemm/gemm.h"
#include "tuning_env.h"

int main(int argc, char** argv) {
  avgk_test::apply_tuning_env();
  std::string specs = argc > 1 ? argv[1] : "256,512,1024,2048";
  int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  if (threads > 0) avgk::set_num_threads(threads);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> U(0.f, 1.f);
  std::stringstream ss(specs);
  std::string spec;
  while (std::getline(ss, spec, ',')) {
    std::string tr = "nn";
    int64_t batch = 1;
    auto star = spec.find('*');
    if (star != std::string::npos) { batch = std::atoll(spec.c_str() + star + 1); spec = spec.substr(0, star); }
    auto colon = spec.find(':');
    if (colon != std::string::npos) { tr = spec.substr(colon + 1); spec = spec.substr(0, colon); }
    int64_t m, k, n;
    if (spec.find('x') != std::string::npos) std::sscanf(spec.c_str(), "%ldx%ldx%ld", &m, &k, &n);
    else m = k = n = std::atoll(spec.c_str());
    const bool ta = tr[0] == 't', tb = tr[1] == 't';
    std::vector<float> A(m * k * batch), B(k * n * batch), C(m * n * batch);
    for (auto& x : A) x = U(rng);
    for (auto& x : B) x = U(rng);
    const int64_t rsA = ta ? 1 : k, csA = ta ? m : 1, rsB = tb ? 1 : n, csB = tb ? k : 1;
    auto run = [&] {
      avgk::sgemm(batch, m, n, k, 1.f, A.data(), rsA, csA, m * k, B.data(), rsB, csB, k * n, 0.f, C.data(), n, m * n);
    };
    const double flop = 2.0 * m * n * k * batch;
    for (int i = 0; i < 3; ++i) run();
    const int reps = std::max<int>(3, (int)(2e9 / flop));
    // BENCH_MODE=cpu: process CPU time / threads and min of samples (for tuning on a noisy machine).
    static const bool cpu_mode = std::getenv("BENCH_MODE") && std::string(std::getenv("BENCH_MODE")) == "cpu";
    auto now = [] {
      if (!cpu_mode) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      timespec ts;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec + 1e-9 * ts.tv_nsec;
    };
    std::vector<double> ts;
    for (int r = 0; r < (cpu_mode ? 7 : 5); ++r) {
      const double t0 = now();
      for (int i = 0; i < reps; ++i) run();
      ts.push_back((now() - t0) / reps / (cpu_mode ? avgk::get_num_threads() : 1));
    }
    std::sort(ts.begin(), ts.end());
    const double t = cpu_mode ? ts[0] : ts[ts.size() / 2];
    std::printf("{\"impl\": \"avgk-%s\", \"threads\": %d, \"m\": %ld, \"k\": %ld, \"n\": %ld, \"trans\": \"%s\", \"batch\": %ld, \"seconds\": %.3e, \"gflops\": %.1f}\n",
                avgk::gemm_kernel_name(), avgk::get_num_threads(), (long)m, (long)k, (long)n, tr.c_str(), (long)batch,
                t, flop / t / 1e9);
    std::fflush(stdout);
  }
}
