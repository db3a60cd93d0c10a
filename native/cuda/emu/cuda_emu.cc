// The CPU emulation of CUDA declared in cuda_emu.h (AVGK_CUDA_EMULATE builds only).
//
// A launch runs the blocks in order. Within a block every thread is a fiber (ucontext) with its
// own stack; a scheduler runs them round-robin. A fiber runs until it finishes or reaches a barrier
// (__syncthreads, or a warp collective); a barrier completes when every unfinished thread of its
// scope (block or warp) waits on it. If a pass finds no fiber able to run and no barrier able to
// complete, the kernel has diverged around a barrier: the launch stops with an error.
#include "cuda_emu.h"

#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

thread_local dim3 threadIdx;
thread_local dim3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace avgk_emu {
namespace {

enum class Wait { None, Block, Warp };

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  dim3 idx;
  int linear = 0;
  bool done = false;
  Wait wait = Wait::None;
};

constexpr size_t kStack = 256 * 1024;

struct BlockRun {
  std::vector<Fiber> fibers;
  ucontext_t sched;
  int current = -1;
  const std::function<void()>* body = nullptr;
  bool syncs = false;
  std::vector<uint64_t> slots;  // one per thread: warp exchange
};

thread_local BlockRun* run = nullptr;
thread_local cudaError_t sticky = cudaSuccess;
thread_local std::string detail;

void trampoline() {
  BlockRun& r = *run;
  try {
    (*r.body)();
  } catch (...) {
    set_error(cudaErrorLaunchFailure, "exception in an emulated kernel");
  }
  r.fibers[r.current].done = true;
  swapcontext(&r.fibers[r.current].ctx, &r.sched);
}

void suspend(Wait w) {
  BlockRun* r = run;
  if (r == nullptr || !r->syncs) {
    set_error(cudaErrorLaunchFailure, "a barrier or warp collective in a kernel launched without syncs");
    throw std::runtime_error("emulator: barrier in a kernel launched without syncs");
  }
  Fiber& f = r->fibers[r->current];
  f.wait = w;
  swapcontext(&f.ctx, &r->sched);
  // resumed by the scheduler after the barrier completed
  threadIdx = f.idx;
}

// Runs one block: returns false on a barrier deadlock.
bool runBlockFibers(BlockRun& r, int nthreads) {
  for (;;) {
    bool progressed = false;
    for (int i = 0; i < nthreads; ++i) {
      Fiber& f = r.fibers[i];
      if (f.done || f.wait != Wait::None) continue;
      r.current = i;
      threadIdx = f.idx;
      swapcontext(&r.sched, &f.ctx);
      progressed = true;
    }
    // release complete barriers
    bool allDone = true, blockReady = true;
    for (int i = 0; i < nthreads; ++i) {
      const Fiber& f = r.fibers[i];
      if (!f.done) allDone = false;
      if (!f.done && f.wait != Wait::Block) blockReady = false;
    }
    if (allDone) return true;
    bool released = false;
    if (blockReady) {
      for (int i = 0; i < nthreads; ++i) r.fibers[i].wait = Wait::None;
      released = true;
    } else {
      for (int w = 0; w * 32 < nthreads; ++w) {
        const int lo = w * 32, hi = std::min(nthreads, lo + 32);
        bool ready = true, any = false;
        for (int i = lo; i < hi; ++i) {
          const Fiber& f = r.fibers[i];
          if (f.done) continue;
          if (f.wait != Wait::Warp) ready = false;
          any = true;
        }
        if (ready && any) {
          for (int i = lo; i < hi; ++i) r.fibers[i].wait = Wait::None;
          released = true;
        }
      }
    }
    if (!progressed && !released) return false;
  }
}

}  // namespace

void set_error(cudaError_t e, const char* what) {
  if (sticky == cudaSuccess) {
    sticky = e;
    detail = what;
  }
}
const char* last_error_detail() { return detail.c_str(); }

int lane_id() {
  if (run == nullptr || !run->syncs) return static_cast<int>(threadIdx.x & 31);
  return run->fibers[run->current].linear & 31;
}

void sync_block() { suspend(Wait::Block); }
void sync_warp() { suspend(Wait::Warp); }

uint64_t exchange(uint64_t bits, int src) {
  if (run == nullptr || !run->syncs) suspend(Wait::Warp);  // throws: not a fiber launch
  BlockRun& r = *run;
  const int me = r.fibers[r.current].linear;
  const int base = me & ~31;
  r.slots[me] = bits;
  suspend(Wait::Warp);
  const int from = base + src;
  const uint64_t out = (from < static_cast<int>(r.fibers.size()) && !r.fibers[from].done) ? r.slots[from] : bits;
  suspend(Wait::Warp);
  return out;
}

unsigned ballot(bool pred) {
  if (run == nullptr || !run->syncs) suspend(Wait::Warp);  // throws: not a fiber launch
  BlockRun& r = *run;
  const int me = r.fibers[r.current].linear;
  const int base = me & ~31;
  r.slots[me] = pred ? 1 : 0;
  suspend(Wait::Warp);
  unsigned m = 0;
  const int n = static_cast<int>(r.fibers.size());
  for (int l = 0; l < 32 && base + l < n; ++l)
    if (!r.fibers[base + l].done && r.slots[base + l]) m |= 1u << l;
  suspend(Wait::Warp);
  return m;
}

void launch(dim3 grid, dim3 block, bool syncs, const std::function<void()>& body) {
  const unsigned long long nthreads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || nthreads == 0 || nthreads > 1024 || block.z > 64 ||
      grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
    set_error(cudaErrorInvalidConfiguration, "launch configuration out of range");
    return;
  }
  if (sticky != cudaSuccess) return;  // a previous fault: the context is unusable, as on a GPU
  gridDim = grid;
  blockDim = block;
  const int nt = static_cast<int>(nthreads);
  BlockRun r;
  r.body = &body;
  r.syncs = syncs;
  if (syncs) {
    r.fibers.resize(nt);
    r.slots.assign(nt, 0);
    for (auto& f : r.fibers) f.stack.reset(new char[kStack]);
  }
  BlockRun* outer = run;
  run = &r;
  try {
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          blockIdx = dim3(bx, by, bz);
          if (!syncs) {
            for (unsigned tz = 0; tz < block.z; ++tz)
              for (unsigned ty = 0; ty < block.y; ++ty)
                for (unsigned tx = 0; tx < block.x; ++tx) {
                  threadIdx = dim3(tx, ty, tz);
                  body();
                }
            continue;
          }
          int i = 0;
          for (unsigned tz = 0; tz < block.z; ++tz)
            for (unsigned ty = 0; ty < block.y; ++ty)
              for (unsigned tx = 0; tx < block.x; ++tx, ++i) {
                Fiber& f = r.fibers[i];
                f.idx = dim3(tx, ty, tz);
                f.linear = i;
                f.done = false;
                f.wait = Wait::None;
                getcontext(&f.ctx);
                f.ctx.uc_stack.ss_sp = f.stack.get();
                f.ctx.uc_stack.ss_size = kStack;
                f.ctx.uc_link = nullptr;
                makecontext(&f.ctx, trampoline, 0);
              }
          if (!runBlockFibers(r, nt)) {
            set_error(cudaErrorLaunchFailure, "barrier deadlock: threads of a block wait at different barriers");
            run = outer;
            return;
          }
        }
  } catch (...) {
    run = outer;
    if (sticky == cudaSuccess) set_error(cudaErrorLaunchFailure, "exception in an emulated kernel");
    return;
  }
  run = outer;
}

}  // namespace avgk_emu

// ------------------------------------------------------------------ runtime API subset
namespace {
struct CUstream_dummy {};
}  // namespace

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  if (e == avgk_emu::sticky && e != cudaSuccess) return avgk_emu::last_error_detail();
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  cudaError_t e = avgk_emu::sticky;
  avgk_emu::sticky = cudaSuccess;
  return e;
}

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }

cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) {
  // 256-byte alignment, as cudaMalloc guarantees
  void* q = nullptr;
  if (posix_memalign(&q, 256, bytes == 0 ? 256 : bytes) != 0) return cudaErrorMemoryAllocation;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
