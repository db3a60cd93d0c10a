// Kernel launch helpers shared by every .cu file: the stream, grid sizing and error checks.
// Launches go through AVGK_LAUNCH / AVGK_LAUNCH_SYNC so that the same source runs under the CPU
// emulator (emu/cuda_emu.h), where a launch is a function call; SYNC marks kernels that use
// __syncthreads or warp collectives (the emulator runs their threads as fibers).
#pragma once
#ifndef AVGK_CUDA_EMULATE
#include <cuda_runtime.h>
#endif
#include <cstdint>

#include "errors.h"

namespace avgk_cuda {

// The one stream every kernel and copy of the addon is ordered on.
cudaStream_t stream();

// Throws CudaError naming `what` when the last launch failed.
void check_launch(const char* what);

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (at least 1, at most 65535 * 16).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return static_cast<unsigned>(b);
}

}  // namespace avgk_cuda

#ifdef AVGK_CUDA_EMULATE
#define AVGK_LAUNCH(kernel, grid, block, ...) \
  ::avgk_emu::launch(dim3(grid), dim3(block), false, [&] { kernel(__VA_ARGS__); })
#define AVGK_LAUNCH_SYNC(kernel, grid, block, ...) \
  ::avgk_emu::launch(dim3(grid), dim3(block), true, [&] { kernel(__VA_ARGS__); })
#else
#define AVGK_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block), 0, ::avgk_cuda::stream()>>>(__VA_ARGS__)
#define AVGK_LAUNCH_SYNC(kernel, grid, block, ...) AVGK_LAUNCH(kernel, grid, block, __VA_ARGS__)
#endif
