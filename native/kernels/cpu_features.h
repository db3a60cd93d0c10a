// The instruction-set level of the CPU, detected in ONE place (cpu_features.cc), and the macros that
// build and pick per-level versions of the kernels. Every kernel family takes its SIMD decision from
// isa(): the GEMM micro-kernel and small-problem path, convolution fills, pooling, batch norm,
// losses, selection, softmax, elementwise, reductions and optimisers.
//
// Levels: kAvx512 = x86-64-v4 (AVX-512 F/BW/CD/DQ/VL on top of v3), kAvx2 = x86-64-v3 (AVX2, FMA,
// BMI1/2, F16C, LZCNT, MOVBE), kBase = baseline x86-64 (or any other architecture). A level
// guarantees every feature that code compiled for it may use. AVGK_NATIVE_ISA=avx2|base lowers the
// level (for tests and comparisons); it never raises it.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__)
#define AVGK_X86 1
// Targets of the per-level versions built by AVGK_MULTIVERSION.
#define AVGK_T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,popcnt,prefer-vector-width=512")))
#define AVGK_T256 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
#else
#define AVGK_X86 0
#endif
#define AVGK_INLINE inline __attribute__((always_inline))
#define AVGK_LAMBDA __attribute__((always_inline))

namespace avgk {

enum class Isa : int { kBase = 0, kAvx2 = 1, kAvx512 = 2 };

// The CPU's level lowered by AVGK_NATIVE_ISA; cpu_features.cc. Use isa(), which caches it.
Isa detect_isa();

namespace cpu_features_detail {
// isa() as an int, -1 until the first call. Constant-initialised (so valid before any static
// constructor runs) and hidden, so that isa() is one direct load and a compare.
extern int level __attribute__((visibility("hidden")));
int detect_level();  // detects, stores and returns the level
}  // namespace cpu_features_detail

inline Isa isa() {
  const int v = __atomic_load_n(&cpu_features_detail::level, __ATOMIC_RELAXED);
  return static_cast<Isa>(__builtin_expect(v < 0, 0) ? cpu_features_detail::detect_level() : v);
}
inline bool isa_at_least(Isa level) { return static_cast<int>(isa()) >= static_cast<int>(level); }
const char* isa_name();  // "avx512", "avx2" or "base"

}  // namespace avgk

// Per-function dispatch without -march=native: each hot loop is written once as an always-inline
// "NAME_body" function, and the macros below compile it once per level and define NAME, which calls
// the version isa() picks.
//
// AVGK_MULTIVERSION: explicit AVX-512 / AVX2+FMA target lists with 512-bit vectors preferred
// (elementwise, reductions, softmax, losses, selection, optimisers).
#if AVGK_X86
#define AVGK_MULTIVERSION(RET, NAME, PARAMS, ARGS)                   \
  AVGK_T512 RET NAME##_avx512 PARAMS { return NAME##_body ARGS; }    \
  AVGK_T256 RET NAME##_avx2 PARAMS { return NAME##_body ARGS; }      \
  RET NAME##_base PARAMS { return NAME##_body ARGS; }                \
  RET NAME PARAMS {                                                  \
    switch (::avgk::isa()) {                                         \
      case ::avgk::Isa::kAvx512: return NAME##_avx512 ARGS;          \
      case ::avgk::Isa::kAvx2: return NAME##_avx2 ARGS;              \
      default: return NAME##_base ARGS;                              \
    }                                                                \
  }
#else
#define AVGK_MULTIVERSION(RET, NAME, PARAMS, ARGS) \
  RET NAME PARAMS { return NAME##_body ARGS; }
#endif

// AVGK_ARCH_VERSIONS: whole x86-64-v4 / v3 / baseline versions with the compiler's default tuning
// (the convolution, pooling and batch-norm loops that GCC vectorises well on its own). Besides NAME,
// it defines NAME_version(), the pointer to the version for isa(): loops over planes or channels
// take it once, before the loop, and call through it.
#if AVGK_X86 && !defined(__clang__)
#define AVGK_ARCH_VERSIONS(RET, NAME, PARAMS, ARGS)                                              \
  __attribute__((target("arch=x86-64-v4"))) RET NAME##_v4 PARAMS { return NAME##_body ARGS; }   \
  __attribute__((target("arch=x86-64-v3"))) RET NAME##_v3 PARAMS { return NAME##_body ARGS; }   \
  RET NAME##_v1 PARAMS { return NAME##_body ARGS; }                                             \
  inline auto NAME##_version() {                                                                 \
    switch (::avgk::isa()) {                                                                     \
      case ::avgk::Isa::kAvx512: return &NAME##_v4;                                              \
      case ::avgk::Isa::kAvx2: return &NAME##_v3;                                                \
      default: return &NAME##_v1;                                                                \
    }                                                                                            \
  }                                                                                              \
  inline RET NAME PARAMS { return NAME##_version() ARGS; }
#else
#define AVGK_ARCH_VERSIONS(RET, NAME, PARAMS, ARGS)       \
  RET NAME PARAMS { return NAME##_body ARGS; }            \
  inline auto NAME##_version() { return &NAME; }
#endif
