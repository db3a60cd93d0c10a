// Row-wise softmax / log-softmax and their backward, the fused softmax cross-entropy and the sigmoid
// BCE, with the semantics of the CPU kernels (native/kernels/softmax.cc, losses.cc).
//
// Rows of up to kWarpCols columns: a group of WIDTH lanes per row (a power of two: one warp holds
// 32/WIDTH short rows, a lane alone a very short one), each lane keeping VPL values in registers:
// one read of the row, the max and sums by shuffles within the group. Longer rows: one block per row,
// the row read from global memory per pass (max and Σ exp in one online pass). Few long rows: each
// row split over several blocks, whose partial results a second kernel merges (see split_of).
//
// The losses are reduced without float atomics, so that they are the same on every run: each block
// writes the double sum of its rows (entries) to a partials array, then one block adds the partials
// in a fixed order.
#include <cmath>
#include <cstdint>

#include "block_reduce.h"
#include "cuda_kernels.h"
#include "device_math.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {
namespace {

constexpr int kRowThreads = 256;    // warp-per-row kernels
constexpr int kBlockThreads = 512;  // block-per-row kernels
constexpr int64_t kWarpCols = 1024;  // longest row of the warp kernels (32 lanes x 32 values)
constexpr int64_t kMaxPartials = 1024;  // blocks of the loss kernels
constexpr unsigned kMaxGrid = 65535u * 16u;
constexpr int64_t kBcePerThread = 8;
// Fewer rows than kFewRows of at least 2 * kSplitChunk entries: each row is cut into chunks of
// about kSplitChunk entries, one block each, so that a few long rows still fill the device.
constexpr int64_t kFewRows = 256;
constexpr int64_t kSplitChunk = 8192;
constexpr int64_t kSplitBlocks = 1024;  // blocks over all rows, at most about

// Max / sum over the WIDTH lanes of a row group (every lane of the warp takes part).
template <int WIDTH>
__device__ __forceinline__ float group_max(float v) {
  for (int o = WIDTH / 2; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o, WIDTH);
    v = w > v ? w : v;
  }
  return v;
}
template <int WIDTH>
__device__ __forceinline__ float group_sum(float v) {
  for (int o = WIDTH / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, WIDTH);
  return v;
}

__device__ __forceinline__ bool is_finite(float v) { return fabsf(v) < INFINITY; }

// Online softmax state of a set of entries: m = their max (-inf when none), s = Σ exp(x - m).
// -inf entries add nothing; NaN entries make s NaN.
__device__ __forceinline__ void online_add(float& m, float& s, float v) {
  if (v > m) {
    s = s * dm::f_exp(m - v) + 1.0f;
    m = v;
  } else if (v != -INFINITY) {
    s += dm::f_exp(v - m);
  }
}
__device__ __forceinline__ float online_rescale(float s, float m, float to) {
  return m == -INFINITY ? s : s * dm::f_exp(m - to);  // s is 0 (or NaN) when m is -inf
}
__device__ __forceinline__ void online_merge(float& m, float& s, float m2, float s2) {
  const float to = m2 > m ? m2 : m;
  s = online_rescale(s, m, to) + online_rescale(s2, m2, to);
  m = to;
}
// Block-wide merge of (m, s); the result in every thread.
__device__ __forceinline__ void block_online(float& m, float& s) {
  __shared__ float pm[32], ps[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
  __syncthreads();  // pm / ps may still be read by a previous call
  if (lane == 0) {
    pm[warp] = m;
    ps[warp] = s;
  }
  __syncthreads();
  m = lane < nw ? pm[lane] : -INFINITY;
  s = lane < nw ? ps[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    online_merge(m, s, m2, s2);
  }
}

// ------------------------------------------------------------------ softmax forward
// out may be exactly x: each row group reads its whole row before it writes.
template <int VPL, int WIDTH, bool LOG>
__global__ void __launch_bounds__(kRowThreads)
    softmax_warp_kernel(const float* x, float* out, int64_t rows, int cols) {
  constexpr int kRows = 32 / WIDTH;
  const int lane = threadIdx.x & 31, l = lane & (WIDTH - 1);
  const int64_t wpb = blockDim.x >> 5;
  for (int64_t w = blockIdx.x * wpb + (threadIdx.x >> 5); w * kRows < rows; w += gridDim.x * wpb) {
    const int64_t r = w * kRows + lane / WIDTH;
    const bool live = r < rows;
    const float* xr = x + (live ? r : 0) * cols;
    float v[VPL];
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int j = l + k * WIDTH;
      v[k] = live && j < cols ? xr[j] : -INFINITY;
      mx = v[k] > mx ? v[k] : mx;
    }
    mx = group_max<WIDTH>(mx);
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const float e = l + k * WIDTH < cols ? dm::f_exp(v[k] - mx) : 0.0f;  // NaN anywhere: s NaN
      if (!LOG) v[k] = e;
      s += e;
    }
    s = group_sum<WIDTH>(s);
    if (!live) continue;
    float* orow = out + r * cols;
    if (LOG) {
      const float ls = dm::f_log(s);
#pragma unroll
      for (int k = 0; k < VPL; ++k) {
        const int j = l + k * WIDTH;
        if (j < cols) orow[j] = (v[k] - mx) - ls;
      }
    } else {
      const float inv = 1.0f / s;
#pragma unroll
      for (int k = 0; k < VPL; ++k) {
        const int j = l + k * WIDTH;
        if (j < cols) orow[j] = v[k] * inv;
      }
    }
  }
}

// One block per row: one online pass for (max, Σ exp), one writing pass.
template <bool LOG>
__global__ void __launch_bounds__(kBlockThreads)
    softmax_block_kernel(const float* x, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) online_add(m, s, xr[j]);
    block_online(m, s);
    // an infinite max gives inf - inf (NaN) in the CPU kernel's sum, as does an all -inf row
    if (!is_finite(m)) s = NAN;
    if (LOG) {
      const float ls = dm::f_log(s);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = (xr[j] - m) - ls;
    } else {
      const float inv = 1.0f / s;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = dm::f_exp(xr[j] - m) * inv;
    }
  }
}

// ------------------------------------------------------------------ softmax backward
// softmax: gx = y (gy - Σ gy y); log-softmax: gx = gy - exp(y) Σ gy. gx may be exactly gy.
template <int VPL, int WIDTH, bool LOG>
__global__ void __launch_bounds__(kRowThreads)
    softmax_backward_warp_kernel(const float* y, const float* gy, float* gx, int64_t rows, int cols) {
  constexpr int kRows = 32 / WIDTH;
  const int lane = threadIdx.x & 31, l = lane & (WIDTH - 1);
  const int64_t wpb = blockDim.x >> 5;
  for (int64_t w = blockIdx.x * wpb + (threadIdx.x >> 5); w * kRows < rows; w += gridDim.x * wpb) {
    const int64_t r = w * kRows + lane / WIDTH;
    const bool live = r < rows;
    const int64_t off = (live ? r : 0) * cols;
    float yv[VPL], gv[VPL];
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int j = l + k * WIDTH;
      const bool in = live && j < cols;
      yv[k] = in ? y[off + j] : 0.0f;
      gv[k] = in ? gy[off + j] : 0.0f;
      s += LOG ? gv[k] : gv[k] * yv[k];
    }
    s = group_sum<WIDTH>(s);
    if (!live) continue;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int j = l + k * WIDTH;
      if (j < cols) gx[off + j] = LOG ? gv[k] - dm::f_exp(yv[k]) * s : yv[k] * (gv[k] - s);
    }
  }
}

template <bool LOG>
__global__ void __launch_bounds__(kBlockThreads)
    softmax_backward_block_kernel(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* xr = gx + r * cols;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += LOG ? gr[j] : gr[j] * yr[j];
    s = block_sum(s);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
      xr[j] = LOG ? gr[j] - dm::f_exp(yr[j]) * s : yr[j] * (gr[j] - s);
  }
}

// ------------------------------------------------------------------ softmax cross-entropy
// loss_r = log Σ_j e^{x_j - mx} + (1-ε)(mx - x_y) + ε mean_j(mx - x_j) (the CPU kernel's form,
// the log in float: Σ_j e^{x_j - mx} is in [1, cols]);
// grad = p - ε/cols - (1-ε) onehot(y). grad may be exactly the logits: every logit of a row is read
// before the row's gradient is written. A label outside [0, cols) is never used as an index: its
// row's loss and gradient are NaN.
struct CeParams {
  float eps;          // ε
  float eps_over_c;   // ε / cols
  float one_minus;    // 1 - ε
};

template <int VPL, int WIDTH>
__global__ void __launch_bounds__(kRowThreads)
    ce_warp_kernel(const float* x, const int32_t* labels, int64_t rows, int cols, CeParams p, float* grad,
                   double* partial) {
  constexpr int kRows = 32 / WIDTH;
  const int lane = threadIdx.x & 31, l = lane & (WIDTH - 1);
  const int64_t wpb = blockDim.x >> 5;
  double acc = 0.0;
  for (int64_t w = blockIdx.x * wpb + (threadIdx.x >> 5); w * kRows < rows; w += gridDim.x * wpb) {
    const int64_t r = w * kRows + lane / WIDTH;
    const bool live = r < rows;
    const float* xr = x + (live ? r : 0) * cols;
    const int32_t y = live ? labels[r] : 0;
    const bool valid = y >= 0 && y < cols;
    float v[VPL];
    float mx = -INFINITY, mine = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int j = l + k * WIDTH;
      v[k] = live && j < cols ? xr[j] : -INFINITY;
      mx = v[k] > mx ? v[k] : mx;
      if (j == y) mine = v[k];
    }
    mx = group_max<WIDTH>(mx);
    // the label's logit, from the lane that holds it
    const float xl = __shfl_sync(0xffffffffu, mine, valid ? (y & (WIDTH - 1)) : 0, WIDTH);
    float s = 0.0f, dev = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      if (l + k * WIDTH < cols) {
        dev += mx - v[k];
        v[k] = dm::f_exp(v[k] - mx);
        s += v[k];
      }
    }
    s = group_sum<WIDTH>(s);
    if (p.eps != 0.0f) dev = group_sum<WIDTH>(dev);
    if (!live) continue;
    if (l == 0) {
      double loss = static_cast<double>(dm::f_log(s)) + (1.0 - static_cast<double>(p.eps)) * (static_cast<double>(mx) - xl);
      if (p.eps != 0.0f) loss += static_cast<double>(p.eps) * static_cast<double>(dev) / cols;
      acc += valid ? loss : static_cast<double>(NAN);
    }
    if (grad) {
      float* gr = grad + r * cols;
      const float inv = 1.0f / s;
#pragma unroll
      for (int k = 0; k < VPL; ++k) {
        const int j = l + k * WIDTH;
        if (j < cols) {
          float g = v[k] * inv - p.eps_over_c;
          if (j == y) g -= p.one_minus;
          gr[j] = valid ? g : NAN;
        }
      }
    }
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// One block per row: the max (and the label's logit), Σ exp and Σ (mx - x), then the gradient.
__global__ void __launch_bounds__(kBlockThreads)
    ce_block_kernel(const float* x, const int32_t* labels, int64_t rows, int64_t cols, CeParams p, float* grad,
                    double* partial) {
  double acc = 0.0;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    const int32_t y = labels[r];
    const bool valid = y >= 0 && y < cols;
    const float xl = threadIdx.x == 0 && valid ? xr[y] : 0.0f;  // read before any gradient is written
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) mx = xr[j] > mx ? xr[j] : mx;
    mx = block_max(mx, -INFINITY);
    float s = 0.0f, dev = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      s += dm::f_exp(xr[j] - mx);
      dev += mx - xr[j];
    }
    s = block_sum(s);
    if (p.eps != 0.0f) dev = block_sum(dev);
    if (threadIdx.x == 0) {
      double loss = static_cast<double>(dm::f_log(s)) + (1.0 - static_cast<double>(p.eps)) * (static_cast<double>(mx) - xl);
      if (p.eps != 0.0f) loss += static_cast<double>(p.eps) * static_cast<double>(dev) / static_cast<double>(cols);
      acc += valid ? loss : static_cast<double>(NAN);
    }
    if (grad) {
      float* gr = grad + r * cols;
      const float inv = 1.0f / s;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        float g = dm::f_exp(xr[j] - mx) * inv - p.eps_over_c;
        if (j == y) g -= p.one_minus;
        gr[j] = valid ? g : NAN;
      }
    }
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// ------------------------------------------------------------------ few long rows: split rows
// Grid (splits, rows): block (c, r) handles entries [c*chunk, (c+1)*chunk) of row r. A first kernel
// writes each chunk's partial results, a second merges the row's partials (every block the same
// way, in chunk order) and writes its chunk. Any aliasing of the output with the input is safe: the
// first kernel has read every entry before the second writes.
struct Chunk {
  int64_t j0, j1;
};
__device__ __forceinline__ Chunk chunk_of(int64_t cols, int64_t chunk) {
  const int64_t j0 = blockIdx.x * chunk;
  return Chunk{j0, j0 + chunk < cols ? j0 + chunk : cols};
}

// (max, Σ exp) of a chunk, in the online form.
__global__ void __launch_bounds__(kBlockThreads)
    split_softmax_stats_kernel(const float* x, int64_t cols, int64_t chunk, float2* part) {
  const Chunk c = chunk_of(cols, chunk);
  const float* xr = x + blockIdx.y * cols;
  float m = -INFINITY, s = 0.0f;
  for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) online_add(m, s, xr[j]);
  block_online(m, s);
  if (threadIdx.x == 0) part[blockIdx.y * gridDim.x + blockIdx.x] = make_float2(m, s);
}

__device__ __forceinline__ void merge_row(const float2* part, unsigned splits, float& m, float& s) {
  m = -INFINITY;
  s = 0.0f;
  for (unsigned c = 0; c < splits; ++c) online_merge(m, s, part[c].x, part[c].y);
  if (!is_finite(m)) s = NAN;
}

template <bool LOG>
__global__ void __launch_bounds__(kBlockThreads)
    split_softmax_write_kernel(const float* x, float* out, int64_t cols, int64_t chunk, const float2* part) {
  const Chunk c = chunk_of(cols, chunk);
  const int64_t off = blockIdx.y * cols;
  float m, s;
  merge_row(part + blockIdx.y * gridDim.x, gridDim.x, m, s);
  if (LOG) {
    const float ls = dm::f_log(s);
    for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) out[off + j] = (x[off + j] - m) - ls;
  } else {
    const float inv = 1.0f / s;
    for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) out[off + j] = dm::f_exp(x[off + j] - m) * inv;
  }
}

template <bool LOG>
__global__ void __launch_bounds__(kBlockThreads)
    split_backward_stats_kernel(const float* y, const float* gy, int64_t cols, int64_t chunk, float* part) {
  const Chunk c = chunk_of(cols, chunk);
  const int64_t off = blockIdx.y * cols;
  float s = 0.0f;
  for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) s += LOG ? gy[off + j] : gy[off + j] * y[off + j];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.y * gridDim.x + blockIdx.x] = s;
}

template <bool LOG>
__global__ void __launch_bounds__(kBlockThreads)
    split_backward_write_kernel(const float* y, const float* gy, float* gx, int64_t cols, int64_t chunk,
                                const float* part) {
  const Chunk c = chunk_of(cols, chunk);
  const int64_t off = blockIdx.y * cols;
  float s = 0.0f;
  for (unsigned k = 0; k < gridDim.x; ++k) s += part[blockIdx.y * gridDim.x + k];
  for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x)
    gx[off + j] = LOG ? gy[off + j] - dm::f_exp(y[off + j]) * s : y[off + j] * (gy[off + j] - s);
}

// Cross-entropy: per chunk (max, Σ exp), Σ x in double (Σ_j (mx - x_j) = cols mx - Σ x) and the
// label's logit when the chunk holds it.
struct CePart {
  double sum_x;
  float m, s, xl;
};

__global__ void __launch_bounds__(kBlockThreads)
    split_ce_stats_kernel(const float* x, const int32_t* labels, int64_t cols, int64_t chunk, bool smoothing,
                          CePart* part) {
  const Chunk c = chunk_of(cols, chunk);
  const float* xr = x + blockIdx.y * cols;
  float m = -INFINITY, s = 0.0f;
  double sx = 0.0;
  for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) {
    const float v = xr[j];
    online_add(m, s, v);
    sx += v;
  }
  block_online(m, s);
  if (smoothing) sx = block_sum(sx);
  if (threadIdx.x == 0) {
    const int32_t y = labels[blockIdx.y];
    CePart p;
    p.m = m;
    p.s = s;
    p.sum_x = sx;
    p.xl = y >= c.j0 && y < c.j1 ? xr[y] : 0.0f;
    part[blockIdx.y * gridDim.x + blockIdx.x] = p;
  }
}

// Grid (splits, rows) with a gradient, (1, rows) without: block (0, r) writes row r's loss.
__global__ void __launch_bounds__(kBlockThreads)
    split_ce_finish_kernel(const int32_t* labels, const float* x, int64_t cols, int64_t chunk, unsigned splits,
                           CeParams p, const CePart* part, float* grad, double* row_loss) {
  const CePart* pr = part + blockIdx.y * splits;
  float m = -INFINITY, s = 0.0f;
  double sx = 0.0;
  for (unsigned k = 0; k < splits; ++k) {
    online_merge(m, s, pr[k].m, pr[k].s);
    sx += pr[k].sum_x;
  }
  if (!is_finite(m)) s = NAN;
  const int32_t y = labels[blockIdx.y];
  const bool valid = y >= 0 && y < cols;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const float xl = valid ? pr[y / chunk].xl : 0.0f;
    double loss = static_cast<double>(dm::f_log(s)) + (1.0 - static_cast<double>(p.eps)) * (static_cast<double>(m) - xl);
    if (p.eps != 0.0f) {
      const double dev = static_cast<double>(cols) * static_cast<double>(m) - sx;
      loss += static_cast<double>(p.eps) * dev / static_cast<double>(cols);
    }
    row_loss[blockIdx.y] = valid ? loss : static_cast<double>(NAN);
  }
  if (!grad) return;
  const Chunk c = chunk_of(cols, chunk);
  const int64_t off = blockIdx.y * cols;
  const float inv = 1.0f / s;
  for (int64_t j = c.j0 + threadIdx.x; j < c.j1; j += blockDim.x) {
    float g = dm::f_exp(x[off + j] - m) * inv - p.eps_over_c;
    if (j == y) g -= p.one_minus;
    grad[off + j] = valid ? g : NAN;
  }
}

// ------------------------------------------------------------------ sigmoid BCE
// grad may be exactly logits, targets or weights: each entry is read before it is written.
template <bool W, bool G>
__global__ void __launch_bounds__(kThreads)
    bce_kernel(const float* z, const float* t, const float* w, float* grad, int64_t n, double* partial) {
  double acc = 0.0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float zi = z[i], ti = t[i];
    const float wi = W ? w[i] : 1.0f;
    const float l = dm::bce_loss(zi, ti);
    acc += W ? static_cast<double>(wi * l) : static_cast<double>(l);
    if (G) grad[i] = W ? wi * dm::bce_grad(zi, ti) : dm::bce_grad(zi, ti);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// out[0] = Σ part[0..np), in a fixed order (one block).
__global__ void __launch_bounds__(kThreads) sum_partials_kernel(const double* part, int64_t np, float* out) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < np; i += blockDim.x) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = static_cast<float>(s);
}

// ------------------------------------------------------------------ host side
// Device scratch of count T, released on every path.
template <class T>
struct Buffer {
  T* p;
  size_t n;
  explicit Buffer(size_t count) : p(static_cast<T*>(alloc(count * sizeof(T)))), n(count) {}
  ~Buffer() { release(p, n * sizeof(T)); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};
using Partials = Buffer<double>;

void finish_sum(const Partials& part, float* loss) {
  AVGK_LAUNCH_SYNC(sum_partials_kernel, 1, kThreads, part.p, static_cast<int64_t>(part.n), loss);
  check_launch("lossSum");
}

// Blocks of a warp kernel over rows: 32/WIDTH rows per warp, at most cap.
template <int WIDTH>
unsigned warp_grid(int64_t rows, int64_t cap) {
  constexpr int64_t per_block = (kRowThreads / 32) * (32 / WIDTH);
  int64_t b = (rows + per_block - 1) / per_block;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

// Calls Op<VPL, WIDTH>::run(args...) for rows of cols <= kWarpCols entries: WIDTH lanes of VPL
// values per row, at least 4 values per lane once a row has 4 entries (loads in flight per warp).
template <template <int, int> class Op, class... A>
void by_cols(int64_t cols, A... a) {
  if (cols <= 1) Op<1, 1>::run(a...);
  else if (cols <= 2) Op<2, 1>::run(a...);
  else if (cols <= 4) Op<4, 1>::run(a...);
  else if (cols <= 8) Op<4, 2>::run(a...);
  else if (cols <= 16) Op<4, 4>::run(a...);
  else if (cols <= 32) Op<4, 8>::run(a...);
  else if (cols <= 64) Op<4, 16>::run(a...);
  else if (cols <= 128) Op<4, 32>::run(a...);
  else if (cols <= 256) Op<8, 32>::run(a...);
  else if (cols <= 512) Op<16, 32>::run(a...);
  else Op<32, 32>::run(a...);
}

template <int VPL, int WIDTH>
struct SoftmaxWarp {
  static void run(const float* x, float* out, int64_t rows, int64_t cols, bool log) {
    const unsigned grid = warp_grid<WIDTH>(rows, kMaxGrid);
    auto k = log ? softmax_warp_kernel<VPL, WIDTH, true> : softmax_warp_kernel<VPL, WIDTH, false>;
    AVGK_LAUNCH_SYNC(k, grid, kRowThreads, x, out, rows, static_cast<int>(cols));
  }
};

template <int VPL, int WIDTH>
struct SoftmaxBackwardWarp {
  static void run(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log) {
    const unsigned grid = warp_grid<WIDTH>(rows, kMaxGrid);
    auto k = log ? softmax_backward_warp_kernel<VPL, WIDTH, true> : softmax_backward_warp_kernel<VPL, WIDTH, false>;
    AVGK_LAUNCH_SYNC(k, grid, kRowThreads, y, gy, gx, rows, static_cast<int>(cols));
  }
};

template <int VPL, int WIDTH>
struct CeWarp {
  static void run(const float* x, const int32_t* labels, int64_t rows, int64_t cols, CeParams p, float* grad,
                  float* loss) {
    const unsigned grid = warp_grid<WIDTH>(rows, kMaxPartials);
    Partials part(grid);
    auto k = ce_warp_kernel<VPL, WIDTH>;
    AVGK_LAUNCH_SYNC(k, grid, kRowThreads, x, labels, rows, static_cast<int>(cols), p, grad, part.p);
    check_launch("softmaxCrossEntropy");
    finish_sum(part, loss);
  }
};

unsigned row_grid(int64_t rows, int64_t cap) { return static_cast<unsigned>(rows < cap ? rows : cap); }

// Chunks per row for the split kernels (1: not split).
struct Split {
  unsigned splits;
  int64_t chunk;
};
Split split_of(int64_t rows, int64_t cols) {
  if (rows >= kFewRows || cols < 2 * kSplitChunk) return Split{1, cols};
  int64_t splits = (cols + kSplitChunk - 1) / kSplitChunk;
  const int64_t cap = (kSplitBlocks + rows - 1) / rows;
  if (splits > cap) splits = cap;
  const int64_t chunk = (cols + splits - 1) / splits;
  return Split{static_cast<unsigned>((cols + chunk - 1) / chunk), chunk};
}

}  // namespace

void softmax(const float* x, float* out, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  const Split sp = split_of(rows, cols);
  if (cols <= kWarpCols) {
    by_cols<SoftmaxWarp>(cols, x, out, rows, cols, log);
  } else if (sp.splits > 1) {
    Buffer<float2> part(static_cast<size_t>(rows) * sp.splits);
    const dim3 grid(sp.splits, static_cast<unsigned>(rows));
    AVGK_LAUNCH_SYNC(split_softmax_stats_kernel, grid, kBlockThreads, x, cols, sp.chunk, part.p);
    check_launch("softmax");
    auto k = log ? split_softmax_write_kernel<true> : split_softmax_write_kernel<false>;
    AVGK_LAUNCH(k, grid, kBlockThreads, x, out, cols, sp.chunk, part.p);
  } else {
    auto k = log ? softmax_block_kernel<true> : softmax_block_kernel<false>;
    AVGK_LAUNCH_SYNC(k, row_grid(rows, kMaxGrid), kBlockThreads, x, out, rows, cols);
  }
  check_launch("softmax");
}

void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  const Split sp = split_of(rows, cols);
  if (cols <= kWarpCols) {
    by_cols<SoftmaxBackwardWarp>(cols, y, gy, gx, rows, cols, log);
  } else if (sp.splits > 1) {
    Buffer<float> part(static_cast<size_t>(rows) * sp.splits);
    const dim3 grid(sp.splits, static_cast<unsigned>(rows));
    auto ks = log ? split_backward_stats_kernel<true> : split_backward_stats_kernel<false>;
    AVGK_LAUNCH_SYNC(ks, grid, kBlockThreads, y, gy, cols, sp.chunk, part.p);
    check_launch("softmaxBackward");
    auto kw = log ? split_backward_write_kernel<true> : split_backward_write_kernel<false>;
    AVGK_LAUNCH(kw, grid, kBlockThreads, y, gy, gx, cols, sp.chunk, part.p);
  } else {
    auto k = log ? softmax_backward_block_kernel<true> : softmax_backward_block_kernel<false>;
    AVGK_LAUNCH_SYNC(k, row_grid(rows, kMaxGrid), kBlockThreads, y, gy, gx, rows, cols);
  }
  check_launch("softmaxBackward");
}

void softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols, float smoothing,
                           float* grad, float* loss) {
  if (rows <= 0 || cols <= 0) {
    fill(loss, 1, 0.0f);
    return;
  }
  CeParams p;
  p.eps = smoothing;
  p.eps_over_c = static_cast<float>(static_cast<double>(smoothing) / static_cast<double>(cols));
  p.one_minus = static_cast<float>(1.0 - static_cast<double>(smoothing));
  if (cols <= kWarpCols) {
    by_cols<CeWarp>(cols, logits, labels, rows, cols, p, grad, loss);
    return;
  }
  const Split sp = split_of(rows, cols);
  if (sp.splits > 1) {
    Buffer<CePart> part(static_cast<size_t>(rows) * sp.splits);
    Partials row_loss(rows);
    const dim3 grid(sp.splits, static_cast<unsigned>(rows));
    AVGK_LAUNCH_SYNC(split_ce_stats_kernel, grid, kBlockThreads, logits, labels, cols, sp.chunk, smoothing != 0.0f,
                     part.p);
    check_launch("softmaxCrossEntropy");
    const dim3 fgrid(grad ? sp.splits : 1u, static_cast<unsigned>(rows));
    AVGK_LAUNCH(split_ce_finish_kernel, fgrid, kBlockThreads, labels, logits, cols, sp.chunk, sp.splits, p, part.p,
                grad, row_loss.p);
    check_launch("softmaxCrossEntropy");
    finish_sum(row_loss, loss);
    return;
  }
  const unsigned grid = row_grid(rows, kMaxPartials);
  Partials part(grid);
  AVGK_LAUNCH_SYNC(ce_block_kernel, grid, kBlockThreads, logits, labels, rows, cols, p, grad, part.p);
  check_launch("softmaxCrossEntropy");
  finish_sum(part, loss);
}

void sigmoid_bce(const float* logits, const float* targets, const float* weights, float* grad, int64_t n,
                 float* loss) {
  if (n <= 0) {
    fill(loss, 1, 0.0f);
    return;
  }
  // at least kBcePerThread entries per thread: fewer partials, the same bandwidth
  unsigned grid = blocks_for((n + kBcePerThread - 1) / kBcePerThread);
  if (grid > kMaxPartials) grid = kMaxPartials;
  Partials part(grid);
  auto k = weights ? (grad ? bce_kernel<true, true> : bce_kernel<true, false>)
                   : (grad ? bce_kernel<false, true> : bce_kernel<false, false>);
  AVGK_LAUNCH_SYNC(k, grid, kThreads, logits, targets, weights, grad, n, part.p);
  check_launch("sigmoidBce");
  finish_sum(part, loss);
}

}  // namespace avgk_cuda
