// Warp and block reductions shared by the kernels (sums, max with first-index ties).
// block_* functions must be called by every thread of the block (they use __syncthreads) and
// return the result in every thread; blockDim.x must be a multiple of 32, at most 1024.
#pragma once
#include <cstdint>

namespace avgk_cuda {

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

template <class T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  T t = lane < nw ? part[lane] : T(0);
  return warp_sum(t);
}

template <class T>
__device__ __forceinline__ T block_max(T v, T lowest) {
  __shared__ T part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  T t = lane < nw ? part[lane] : lowest;
  return warp_max(t);
}

// (value, index) of the first maximum, NaN first (the first NaN wins): the order of reduceMax.
struct ArgMax {
  float v;
  int32_t i;
};
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  const bool an = a.v != a.v, bn = b.v != b.v;
  if (an || bn) {
    if (an && bn) return a.i <= b.i ? a : b;
    return an ? a : b;
  }
  if (a.v != b.v) return a.v > b.v ? a : b;
  return a.i <= b.i ? a : b;
}
__device__ __forceinline__ ArgMax warp_argmax(ArgMax a) {
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax b;
    b.v = __shfl_xor_sync(0xffffffffu, a.v, o);
    b.i = __shfl_xor_sync(0xffffffffu, a.i, o);
    a = better(a, b);
  }
  return a;
}
__device__ __forceinline__ ArgMax block_argmax(ArgMax a) {
  __shared__ float pv[32];
  __shared__ int32_t pi[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  a = warp_argmax(a);
  __syncthreads();
  if (lane == 0) {
    pv[warp] = a.v;
    pi[warp] = a.i;
  }
  __syncthreads();
  ArgMax t;
  t.v = lane < nw ? pv[lane] : -INFINITY;
  t.i = lane < nw ? pi[lane] : INT32_MAX;
  return warp_argmax(t);
}

}  // namespace avgk_cuda
