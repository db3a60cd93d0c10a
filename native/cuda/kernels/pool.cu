// 2-D max / average pooling on NCHW data (square window k, stride, padding), with the semantics of
// the CPU kernels (native/kernels/pool.cc):
//  - max: padding counts as -inf; the first maximum in row-major window order wins; NaN beats
//    everything (the first NaN of a window wins). argmax is the flat index iy*w + ix in the input
//    plane, -1 for a window lying entirely in the padding (then out = -inf).
//  - average: count_include_pad, the divisor is always k*k.
// Forward: one thread per output. Backward: one thread per input, gathering gy from the output
// windows that cover it (no atomics), in ascending output order, so the sums are deterministic and
// add in the CPU kernels' order. Index arithmetic is 32-bit when every flat index fits (the
// divisions of a 64-bit index cost more than the memory traffic).
#include <cmath>
#include <cstdint>

#include "cuda_kernels.h"
#include "launch.h"

namespace avgk_cuda {
namespace pool_tuning {
bool force_wide_index = false;  // true: 64-bit index arithmetic at any size (tests)
}  // namespace pool_tuning
namespace {

template <class I>
struct Geom {
  I h, w, k, s, p, oh, ow;
};

template <class I>
Geom<I> geom_of(const PoolGeom& g) {
  return Geom<I>{static_cast<I>(g.h),   static_cast<I>(g.w),  static_cast<I>(g.k),  static_cast<I>(g.stride),
                 static_cast<I>(g.pad), static_cast<I>(g.oh), static_cast<I>(g.ow)};
}

// This thread's first index of a grid-stride loop.
template <class I>
__device__ __forceinline__ I first_index() {
  return static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
}

// The output positions [lo, hi) along one axis whose window covers input position i (clipped to
// [0, out)); dm::covering_outputs in the kernels' index type.
template <class I>
__device__ __forceinline__ void covering(I i, I k, I s, I p, I out, I& lo, I& hi) {
  const I ip = i + p;
  I a = ip - k + 1;
  a = a <= 0 ? I(0) : (a + s - 1) / s;
  I b = ip / s + 1;
  if (b > out) b = out;
  lo = a;
  hi = b < a ? a : b;
}

template <class I>
__global__ void maxpool_forward_kernel(const float* __restrict__ x, float* __restrict__ out,
                                       int32_t* __restrict__ argmax, I total, Geom<I> g) {
  const I step = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I t = first_index<I>(); t < total; t += step) {
    const I ox = t % g.ow;
    const I r = t / g.ow;
    const I oy = r % g.oh, plane = r / g.oh;
    const float* xp = x + plane * g.h * g.w;
    const I y0 = oy * g.s - g.p, x0 = ox * g.s - g.p;
    const I ya = y0 < 0 ? I(0) : y0, yb = y0 + g.k < g.h ? y0 + g.k : g.h;
    const I xa = x0 < 0 ? I(0) : x0, xb = x0 + g.k < g.w ? x0 + g.k : g.w;
    float best = -INFINITY;
    int32_t idx = -1;
    for (I iy = ya; iy < yb; ++iy)
      for (I ix = xa; ix < xb; ++ix) {
        const float v = xp[iy * g.w + ix];
        // the first element initialises; then v replaces best iff v > best, or v is NaN and best is not
        if (idx < 0 || (!(v <= best) && best == best)) {
          best = v;
          idx = static_cast<int32_t>(iy * g.w + ix);
        }
      }
    out[t] = best;
    argmax[t] = idx;
  }
}

template <class I>
__global__ void maxpool_backward_kernel(const float* __restrict__ gy, const int32_t* __restrict__ argmax,
                                        float* __restrict__ gx, I total, Geom<I> g) {
  const I step = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I t = first_index<I>(); t < total; t += step) {
    const I ix = t % g.w;
    const I r = t / g.w;
    const I iy = r % g.h, plane = r / g.h;
    I ylo, yhi, xlo, xhi;
    covering(iy, g.k, g.s, g.p, g.oh, ylo, yhi);
    covering(ix, g.k, g.s, g.p, g.ow, xlo, xhi);
    const int32_t me = static_cast<int32_t>(iy * g.w + ix);
    const I base = plane * g.oh * g.ow;
    float s = 0.0f;
    for (I oy = ylo; oy < yhi; ++oy)
      for (I ox = xlo; ox < xhi; ++ox) {
        const I q = base + oy * g.ow + ox;
        if (argmax[q] == me) s += gy[q];
      }
    gx[t] = s;
  }
}

template <class I>
__global__ void avgpool_forward_kernel(const float* __restrict__ x, float* __restrict__ out, I total, Geom<I> g,
                                       float inv) {
  const I step = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I t = first_index<I>(); t < total; t += step) {
    const I ox = t % g.ow;
    const I r = t / g.ow;
    const I oy = r % g.oh, plane = r / g.oh;
    const float* xp = x + plane * g.h * g.w;
    const I y0 = oy * g.s - g.p, x0 = ox * g.s - g.p;
    const I ya = y0 < 0 ? I(0) : y0, yb = y0 + g.k < g.h ? y0 + g.k : g.h;
    const I xa = x0 < 0 ? I(0) : x0, xb = x0 + g.k < g.w ? x0 + g.k : g.w;
    float s = 0.0f;
    for (I iy = ya; iy < yb; ++iy)
      for (I ix = xa; ix < xb; ++ix) s += xp[iy * g.w + ix];
    out[t] = s * inv;
  }
}

template <class I>
__global__ void avgpool_backward_kernel(const float* __restrict__ gy, float* __restrict__ gx, I total, Geom<I> g,
                                        float inv) {
  const I step = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I t = first_index<I>(); t < total; t += step) {
    const I ix = t % g.w;
    const I r = t / g.w;
    const I iy = r % g.h, plane = r / g.h;
    I ylo, yhi, xlo, xhi;
    covering(iy, g.k, g.s, g.p, g.oh, ylo, yhi);
    covering(ix, g.k, g.s, g.p, g.ow, xlo, xhi);
    const I base = plane * g.oh * g.ow;
    float s = 0.0f;
    for (I oy = ylo; oy < yhi; ++oy)
      for (I ox = xlo; ox < xhi; ++ox) s += gy[base + oy * g.ow + ox] * inv;
    gx[t] = s;
  }
}

// 32-bit indices when every flat index, plus one grid stride, stays below 2^31.
bool narrow(const PoolGeom& g) {
  const int64_t limit = (int64_t(1) << 31) - (int64_t(65535) * 16 * kThreads) - 1;
  return !pool_tuning::force_wide_index && g.n * g.c * g.h * g.w < limit && g.n * g.c * g.oh * g.ow < limit;
}

}  // namespace

void maxpool2d_forward(const float* x, float* out, int32_t* argmax, const PoolGeom& g) {
  const int64_t total = g.n * g.c * g.oh * g.ow;
  if (total <= 0) return;
  if (narrow(g)) {
    auto k = maxpool_forward_kernel<int32_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, x, out, argmax, static_cast<int32_t>(total), geom_of<int32_t>(g));
  } else {
    auto k = maxpool_forward_kernel<int64_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, x, out, argmax, total, geom_of<int64_t>(g));
  }
  check_launch("maxPool2dForward");
}

void maxpool2d_backward(const float* gy, const int32_t* argmax, float* gx, const PoolGeom& g) {
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total <= 0) return;
  if (narrow(g)) {
    auto k = maxpool_backward_kernel<int32_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, gy, argmax, gx, static_cast<int32_t>(total), geom_of<int32_t>(g));
  } else {
    auto k = maxpool_backward_kernel<int64_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, gy, argmax, gx, total, geom_of<int64_t>(g));
  }
  check_launch("maxPool2dBackward");
}

void avgpool2d_forward(const float* x, float* out, const PoolGeom& g) {
  const int64_t total = g.n * g.c * g.oh * g.ow;
  if (total <= 0) return;
  const float inv = 1.0f / static_cast<float>(g.k * g.k);
  if (narrow(g)) {
    auto k = avgpool_forward_kernel<int32_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, x, out, static_cast<int32_t>(total), geom_of<int32_t>(g), inv);
  } else {
    auto k = avgpool_forward_kernel<int64_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, x, out, total, geom_of<int64_t>(g), inv);
  }
  check_launch("avgPool2dForward");
}

void avgpool2d_backward(const float* gy, float* gx, const PoolGeom& g) {
  const int64_t total = g.n * g.c * g.h * g.w;
  if (total <= 0) return;
  const float inv = 1.0f / static_cast<float>(g.k * g.k);
  if (narrow(g)) {
    auto k = avgpool_backward_kernel<int32_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, gy, gx, static_cast<int32_t>(total), geom_of<int32_t>(g), inv);
  } else {
    auto k = avgpool_backward_kernel<int64_t>;
    AVGK_LAUNCH(k, blocks_for(total), kThreads, gy, gx, total, geom_of<int64_t>(g), inv);
  }
  check_launch("avgPool2dBackward");
}

}  // namespace avgk_cuda
