// Allocator tuning for the whole process (glibc only), applied only when the program asks for it
// (the addon's tuneAllocator(): the CLI and the benchmarks), never on load.
//
// Tensors are typed arrays whose memory Node gets from calloc. glibc serves large blocks with
// fresh mmap()s and returns them with munmap(), so every new activation or gradient buffer pays
// first-touch page faults again. Raising the mmap threshold and the trim threshold keeps freed
// blocks in the heap for reuse. AVGK_MALLOC_TUNING=0 turns it off.
#include "kernels.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace avgk {

namespace {

bool apply_allocator_tuning() {
  const char* env = std::getenv("AVGK_MALLOC_TUNING");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
#if defined(__GLIBC__)
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1;  // glibc's maximum on 64-bit
  ok = mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 64 * 1024 * 1024) == 1 && ok;
  // Blocks above the mmap threshold's 32 MB cap (a batch-128 activation of 64x32x32 is 33.5 MB)
  // would still get a fresh mmap each time: serve every size from the heap instead. (If the heap
  // cannot grow, glibc still falls back to mmap for it, so this never makes an allocation fail.)
  ok = mallopt(M_MMAP_MAX, 0) == 1 && ok;
  return ok;
#else
  return false;
#endif
}

}  // namespace

bool tune_allocator() {
  static const bool applied = apply_allocator_tuning();  // once per process
  return applied;
}

}  // namespace avgk
