// Runner of the parity cases (see parity.h). Usage: cuda_parity_test [name-substring]
// Prints one line per case and exits non-zero when any check failed.
#include <cstring>

#include "parity.h"
#include "cuda/kernels/errors.h"

namespace parity {

int64_t g_checks = 0;
int64_t g_failures = 0;

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

void fail(const std::string& what) {
  ++g_failures;
  if (g_failures <= 50) std::printf("  FAIL %s\n", what.c_str());
}

std::vector<float> uniform(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<int32_t> labels(size_t n, int32_t classes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, classes - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

bool close_scalar(double got, double want, double rtol, double atol, const std::string& what) {
  ++g_checks;
  const bool ok = (std::isnan(got) && std::isnan(want)) ||
                  (std::isinf(want) ? got == want : std::fabs(got - want) <= atol + rtol * std::fabs(want));
  if (!ok) fail(what + ": got " + std::to_string(got) + ", want " + std::to_string(want));
  return ok;
}

bool close(const std::vector<float>& got, const std::vector<float>& want, double rtol, double atol,
           const std::string& what) {
  ++g_checks;
  if (got.size() != want.size()) {
    fail(what + ": size " + std::to_string(got.size()) + " vs " + std::to_string(want.size()));
    return false;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const bool ok = (std::isnan(g) && std::isnan(w)) ||
                    (std::isinf(w) ? g == w : std::fabs(g - w) <= atol + rtol * std::fabs(w));
    if (!ok) {
      fail(what + ": index " + std::to_string(i) + " got " + std::to_string(g) + ", want " + std::to_string(w));
      return false;
    }
  }
  return true;
}

}  // namespace parity

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  avgk::set_num_threads(1);
  try {
    avgk_cuda::init();
  } catch (const std::exception& e) {
    std::printf("cannot start the emulated device: %s\n", e.what());
    return 2;
  }
  int ran = 0;
  for (const auto& c : parity::registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    const int64_t f0 = parity::g_failures, c0 = parity::g_checks;
    try {
      c.fn();
    } catch (const std::exception& e) {
      parity::fail(std::string(c.name) + ": exception: " + e.what());
    }
    std::printf("%-32s %6lld checks %s\n", c.name, static_cast<long long>(parity::g_checks - c0),
                parity::g_failures == f0 ? "ok" : "FAILED");
    ++ran;
  }
  std::printf("%d cases, %lld checks, %lld failures\n", ran, static_cast<long long>(parity::g_checks),
              static_cast<long long>(parity::g_failures));
  return parity::g_failures == 0 && ran > 0 ? 0 : 1;
}
