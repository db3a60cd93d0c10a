// The CUDA kernels, run by the CPU emulator, against the CPU kernels of native/kernels (themselves
// checked against double-precision references and the TypeScript backend). One registry of cases;
// each parity_<family>.cc registers its own with AVGK_PARITY(name) { ... }.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda/kernels/cuda_kernels.h"
#include "cuda/kernels/runtime.h"
#include "kernels/kernels.h"

namespace parity {

struct Case {
  const char* name;
  void (*fn)();
};
std::vector<Case>& registry();
struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};
#define AVGK_PARITY(name)                                      \
  static void parity_##name();                                 \
  static ::parity::Register parity_reg_##name(#name, parity_##name); \
  static void parity_##name()

// Failure bookkeeping: every check counts; a failure prints what and where.
extern int64_t g_checks;
extern int64_t g_failures;
void fail(const std::string& what);

// Device buffer owned by the test (RAII), with upload/download helpers.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { p = static_cast<T*>(avgk_cuda::alloc(count * sizeof(T))); }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { avgk_cuda::upload(p, h.data(), h.size() * sizeof(T)); }
  ~Dev() { avgk_cuda::release(p, n * sizeof(T)); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    avgk_cuda::download(h.data(), p, n * sizeof(T));
    return h;
  }
};

// Random data: uniform in [lo, hi), seeded.
std::vector<float> uniform(size_t n, float lo, float hi, uint32_t seed);
std::vector<int32_t> labels(size_t n, int32_t classes, uint32_t seed);

// |got - want| <= atol + rtol * |want| everywhere (NaN must match NaN, ±Inf must match exactly).
bool close(const std::vector<float>& got, const std::vector<float>& want, double rtol, double atol,
           const std::string& what);
bool close_scalar(double got, double want, double rtol, double atol, const std::string& what);
template <typename T>
bool equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ++g_checks;
  if (got.size() != want.size()) {
    fail(what + ": size " + std::to_string(got.size()) + " vs " + std::to_string(want.size()));
    return false;
  }
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i])) {
      fail(what + ": differs at " + std::to_string(i) + " (" + std::to_string(static_cast<double>(got[i])) + " vs " +
           std::to_string(static_cast<double>(want[i])) + ")");
      return false;
    }
  return true;
}

}  // namespace parity
