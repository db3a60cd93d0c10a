// Reductions over the middle axis of x viewed as [outer, mid, inner]: sum, max with argmax, and
// the backward of max. Deterministic: every sum is reduced in a fixed order (no atomics).
#include "block_reduce.h"
#include "cuda_kernels.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {
namespace {

// inner == 1: one block per row (grid-stride over rows).
__global__ void sum_rows_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t rows, int64_t mid) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = x + r * mid;
    float s = 0.0f;
    for (int64_t m = threadIdx.x; m < mid; m += blockDim.x) s += row[m];
    s = block_sum(s);
    if (threadIdx.x == 0) out[r] = s;
  }
}

// inner > 1: one thread per (o, i) over a slice [m0, m1) of mid; slices > 1 write partial sums
// out[(slice*outer + o)*inner + i].
__global__ void sum_cols_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t outer, int64_t mid,
                                int64_t inner, int64_t per_slice) {
  const int64_t total = outer * inner;
  const int64_t slice = blockIdx.y;
  const int64_t m0 = slice * per_slice;
  int64_t m1 = m0 + per_slice;
  if (m1 > mid) m1 = mid;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    const float* p = x + (o * mid + m0) * inner + i;
    float s = 0.0f;
    for (int64_t m = m0; m < m1; ++m, p += inner) s += *p;
    out[slice * total + t] = s;
  }
}

__global__ void max_rows_kernel(const float* __restrict__ x, float* __restrict__ out, int32_t* __restrict__ argmax,
                                int64_t rows, int64_t mid) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = x + r * mid;
    ArgMax a{-INFINITY, INT32_MAX};
    for (int64_t m = threadIdx.x; m < mid; m += blockDim.x) a = better(a, ArgMax{row[m], static_cast<int32_t>(m)});
    a = block_argmax(a);
    if (threadIdx.x == 0) {
      out[r] = a.v;
      argmax[r] = a.i;
    }
  }
}

__global__ void max_cols_kernel(const float* __restrict__ x, float* __restrict__ out, int32_t* __restrict__ argmax,
                                int64_t outer, int64_t mid, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    const float* p = x + o * mid * inner + i;
    float best = p[0];
    int32_t bi = 0;
    for (int64_t m = 1; m < mid; ++m) {
      const float v = p[m * inner];
      // strictly larger replaces; a NaN replaces unless a NaN is already held (first NaN wins)
      if (v > best || (v != v && best == best)) {
        best = v;
        bi = static_cast<int32_t>(m);
      }
    }
    out[t] = best;
    argmax[t] = bi;
  }
}

__global__ void max_backward_kernel(const float* __restrict__ gy, const int32_t* __restrict__ argmax,
                                    float* __restrict__ gx, int64_t outer, int64_t mid, int64_t inner) {
  const int64_t total = outer * mid * inner;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = t % inner;
    const int64_t om = t / inner;
    const int64_t m = om % mid, o = om / mid;
    const int64_t r = o * inner + i;
    gx[t] = argmax[r] == m ? gy[r] : 0.0f;
  }
}

}  // namespace

void reduce_sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner) {
  const int64_t total = outer * inner;
  if (total <= 0) return;
  if (mid == 0) {
    fill(out, total, 0.0f);
    return;
  }
  if (inner == 1) {
    AVGK_LAUNCH_SYNC(sum_rows_kernel, blocks_for(outer, 1), kThreads, x, out, outer, mid);
    check_launch("reduceSum");
    return;
  }
  // Few output columns over a long axis: split the axis into slices, then sum the partials.
  int64_t slices = 1;
  if (total < 16384 && mid >= 256) {
    slices = (16384 + total - 1) / total;
    if (slices > mid / 64) slices = mid / 64;
    if (slices > 1024) slices = 1024;
    if (slices < 1) slices = 1;
  }
  if (slices == 1) {
    AVGK_LAUNCH(sum_cols_kernel, blocks_for(total), kThreads, x, out, outer, mid, inner, mid);
    check_launch("reduceSum");
    return;
  }
  const int64_t per = (mid + slices - 1) / slices;
  slices = (mid + per - 1) / per;
  float* part = static_cast<float*>(alloc(static_cast<size_t>(slices * total) * sizeof(float)));
  try {
    AVGK_LAUNCH(sum_cols_kernel, dim3(blocks_for(total), static_cast<unsigned>(slices)), kThreads, x, part, outer, mid,
                inner, per);
    check_launch("reduceSum");
    reduce_sum(part, out, 1, slices, total);
  } catch (...) {
    release(part, static_cast<size_t>(slices * total) * sizeof(float));
    throw;
  }
  release(part, static_cast<size_t>(slices * total) * sizeof(float));
}

void reduce_max(const float* x, float* out, int32_t* argmax, int64_t outer, int64_t mid, int64_t inner) {
  const int64_t total = outer * inner;
  if (total <= 0) return;
  if (inner == 1 && mid >= 64) {
    AVGK_LAUNCH_SYNC(max_rows_kernel, blocks_for(outer, 1), kThreads, x, out, argmax, outer, mid);
  } else {
    AVGK_LAUNCH(max_cols_kernel, blocks_for(total), kThreads, x, out, argmax, outer, mid, inner);
  }
  check_launch("reduceMax");
}

void reduce_max_backward(const float* gy, const int32_t* argmax, float* gx, int64_t outer, int64_t mid, int64_t inner) {
  const int64_t total = outer * mid * inner;
  if (total <= 0) return;
  AVGK_LAUNCH(max_backward_kernel, blocks_for(total), kThreads, gy, argmax, gx, outer, mid, inner);
  check_launch("reduceMaxBackward");
}

}  // namespace avgk_cuda
