// Elementwise kernels: unary and its backward, strided/broadcast binary, strided copy, fill, axpby.
// Grid-stride loops; the per-element math is in device_math.h.
#include <cstring>

#include "device_math.h"
#include "cuda_kernels.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {
namespace {

struct StridedPlan {
  int nd;
  int64_t shape[kMaxDims];
  int64_t s0[kMaxDims];
  int64_t s1[kMaxDims];
};

StridedPlan plan(const int64_t* shape, const int64_t* s0, const int64_t* s1, int ndim, int64_t* total) {
  StridedPlan p;
  std::memset(&p, 0, sizeof p);
  // drop size-1 dimensions; merge neighbours contiguous in both operands
  int nd = 0;
  int64_t t = 1;
  for (int d = 0; d < ndim; ++d) {
    t *= shape[d];
    if (shape[d] == 1) continue;
    if (nd > 0 && p.s0[nd - 1] == s0[d] * shape[d] && p.s1[nd - 1] == s1[d] * shape[d]) {
      p.shape[nd - 1] *= shape[d];
      p.s0[nd - 1] = s0[d];
      p.s1[nd - 1] = s1[d];
      continue;
    }
    p.shape[nd] = shape[d];
    p.s0[nd] = s0[d];
    p.s1[nd] = s1[d];
    ++nd;
  }
  if (nd == 0) {
    p.shape[0] = 1;
    nd = 1;
  }
  p.nd = nd;
  *total = t;
  return p;
}

__global__ void unary_kernel(int op, const float* __restrict__ x, float* out, int64_t n, float p, float q) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = dm::unary(op, x[i], p, q);
}

__global__ void unary_backward_kernel(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                                      float p, float q) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    gx[i] = dm::unary_grad(op, x ? x[i] : 0.0f, y ? y[i] : 0.0f, gy[i], p, q);
}

__global__ void binary_kernel(int op, const float* a, const float* b, float* out, StridedPlan pl, int64_t total) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i, oa = 0, ob = 0;
    for (int d = pl.nd - 1; d >= 0; --d) {
      const int64_t s = pl.shape[d];
      const int64_t j = r % s;
      r /= s;
      oa += j * pl.s0[d];
      ob += j * pl.s1[d];
    }
    out[i] = dm::binary(op, a[oa], b[ob]);
  }
}

__global__ void copy_kernel(const int32_t* x, int32_t* out, StridedPlan pl, int64_t total) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i, ox = 0, oo = 0;
    for (int d = pl.nd - 1; d >= 0; --d) {
      const int64_t s = pl.shape[d];
      const int64_t j = r % s;
      r /= s;
      ox += j * pl.s0[d];
      oo += j * pl.s1[d];
    }
    out[oo] = x[ox];
  }
}

__global__ void fill_kernel(float* x, int64_t n, float v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) x[i] = v;
}

__global__ void axpby_kernel(const float* x, float* y, int64_t n, float a, float b) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = a * y[i] + b * x[i];
}

}  // namespace

void unary(int op, const float* x, float* out, int64_t n, float p, float q) {
  if (n <= 0) return;
  AVGK_LAUNCH(unary_kernel, blocks_for(n), kThreads, op, x, out, n, p, q);
  check_launch("unary");
}

void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p, float q) {
  if (n <= 0) return;
  AVGK_LAUNCH(unary_backward_kernel, blocks_for(n), kThreads, op, x, y, gy, gx, n, p, q);
  check_launch("unaryBackward");
}

void binary(int op, const float* a, const int64_t* aStrides, const float* b, const int64_t* bStrides, float* out,
            const int64_t* shape, int ndim) {
  int64_t total = 0;
  const StridedPlan pl = plan(shape, aStrides, bStrides, ndim, &total);
  if (total <= 0) return;
  AVGK_LAUNCH(binary_kernel, blocks_for(total), kThreads, op, a, b, out, pl, total);
  check_launch("binary");
}

void copy_strided(const void* x, const int64_t* xStrides, void* out, const int64_t* outStrides, const int64_t* shape,
                  int ndim) {
  int64_t total = 0;
  const StridedPlan pl = plan(shape, xStrides, outStrides, ndim, &total);
  if (total <= 0) return;
  if (pl.nd == 1 && pl.s0[0] == 1 && pl.s1[0] == 1) {
    copy_device(out, x, static_cast<size_t>(total) * 4);
    return;
  }
  AVGK_LAUNCH(copy_kernel, blocks_for(total), kThreads, static_cast<const int32_t*>(x), static_cast<int32_t*>(out), pl,
              total);
  check_launch("copy");
}

void fill(float* x, int64_t n, float value) {
  if (n <= 0) return;
  AVGK_LAUNCH(fill_kernel, blocks_for(n), kThreads, x, n, value);
  check_launch("fill");
}

void axpby(const float* x, float* y, int64_t n, float a, float b) {
  if (n <= 0) return;
  AVGK_LAUNCH(axpby_kernel, blocks_for(n), kThreads, x, y, n, a, b);
  check_launch("axpby");
}

}  // namespace avgk_cuda
