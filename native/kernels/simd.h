// The x86 SIMD intrinsics, for every kernel file: include this instead of <immintrin.h>.
//
// GCC 12 reports false -Wmaybe-uninitialized / -Wuninitialized warnings inside the AVX-512
// intrinsic headers (their _mm512_undefined_* operands, GCC PR105593) wherever those functions are
// inlined. The warnings are located in the header's own lines, so they are silenced for those lines
// only; the kernels' own code keeps both warnings.
#pragma once
#if defined(__GNUC__) && defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
