// Gathers and scatters by precomputed element offsets (gather, indexSelect and their backwards,
// ROLE's label-estimate updates).
#include <cmath>

#include "cuda_kernels.h"
#include "launch.h"

namespace avgk_cuda {
namespace {

__global__ void take_kernel(const float* __restrict__ x, int64_t nx, const int32_t* __restrict__ idx,
                            float* __restrict__ out, int64_t n) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = idx[k];
    out[k] = (j >= 0 && j < nx) ? x[j] : NAN;
  }
}

__global__ void put_add_kernel(const float* __restrict__ g, const int32_t* __restrict__ idx, float* gx, int64_t ngx,
                               int64_t n) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = idx[k];
    if (j >= 0 && j < ngx) atomicAdd(gx + j, g[k]);
  }
}

__global__ void put_value_kernel(float* x, int64_t nx, const int32_t* __restrict__ idx, int64_t n, float v) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = idx[k];
    if (j >= 0 && j < nx) x[j] = v;
  }
}

}  // namespace

void take(const float* x, int64_t nx, const int32_t* idx, float* out, int64_t n) {
  if (n <= 0) return;
  AVGK_LAUNCH(take_kernel, blocks_for(n), kThreads, x, nx, idx, out, n);
  check_launch("take");
}

void put_add(const float* g, const int32_t* idx, float* gx, int64_t ngx, int64_t n) {
  if (n <= 0) return;
  AVGK_LAUNCH(put_add_kernel, blocks_for(n), kThreads, g, idx, gx, ngx, n);
  check_launch("putAdd");
}

void put_value(float* x, int64_t nx, const int32_t* idx, int64_t n, float value) {
  if (n <= 0) return;
  AVGK_LAUNCH(put_value_kernel, blocks_for(n), kThreads, x, nx, idx, n, value);
  check_launch("putValue");
}

}  // namespace avgk_cuda
