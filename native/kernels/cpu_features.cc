// Instruction-set detection for every kernel family (see cpu_features.h).
#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace avgk {

namespace {

Isa hardware_isa() {
#if AVGK_X86
  __builtin_cpu_init();
#if !defined(__clang__)
  // The test GCC's resolvers make for code built with target("arch=x86-64-vN").
  const bool v3 = __builtin_cpu_supports("x86-64-v3");
  const bool v4 = v3 && __builtin_cpu_supports("x86-64-v4");
#else
  // clang builds no AVGK_ARCH_VERSIONS: the features of the AVGK_MULTIVERSION targets.
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                  __builtin_cpu_supports("popcnt");
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512cd");
#endif
  return v4 ? Isa::kAvx512 : v3 ? Isa::kAvx2 : Isa::kBase;
#else
  return Isa::kBase;
#endif
}

}  // namespace

Isa detect_isa() {
  Isa level = hardware_isa();
  if (const char* env = std::getenv("AVGK_NATIVE_ISA")) {  // may only lower the level
    Isa want = level;
    if (std::strcmp(env, "base") == 0) want = Isa::kBase;
    if (std::strcmp(env, "avx2") == 0) want = Isa::kAvx2;
    if (static_cast<int>(want) < static_cast<int>(level)) level = want;
  }
  return level;
}

namespace cpu_features_detail {
int level = -1;
int detect_level() {
  const int v = static_cast<int>(detect_isa());  // concurrent first calls store the same value
  __atomic_store_n(&level, v, __ATOMIC_RELAXED);
  return v;
}
}  // namespace cpu_features_detail

const char* isa_name() {
  switch (isa()) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "base";
  }
}

}  // namespace avgk
