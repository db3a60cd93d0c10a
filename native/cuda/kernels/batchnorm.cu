// Batch normalisation over x viewed as [n, c, hw] (statistics per channel c), with the semantics of
// the CPU kernels (native/kernels/batchnorm.cc).
//
// Every pass runs on a 2-D grid: blockIdx.y picks the channel, blockIdx.x a chunk of the channel's
// N = n*hw elements (flat in-channel index j = b*hw + i), so that a few channels over a large batch
// still spread over many blocks. The per-channel sums are reduced in two steps without atomics:
// each block writes its chunk's partial sums (double) to scratch, then one thread per channel adds
// the partials in chunk order, so the results are deterministic.
//
// Training statistics are one pass over x, shifted by the channel's first element K and summed in
// double: Σ(x-K) and Σ(x-K)², var = Σ(x-K)²/N - (Σ(x-K)/N)² (biased). The shift keeps the
// cancellation small for data with a large mean, and double sums keep the rest exact enough.
#include <cmath>
#include <cstdint>

#include "block_reduce.h"
#include "cuda_kernels.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {
namespace {

// Chunking of each channel's N elements: at least kMinPerBlock elements per block (fewer blocks
// only when N is small), enough blocks over all channels to fill the device, at most kMaxChunks
// partials per channel.
constexpr int64_t kMinPerBlock = 2048;
constexpr int64_t kTargetBlocks = 2048;
constexpr int64_t kMaxChunks = 1024;
constexpr unsigned kMaxGridY = 65535;

struct Chunks {
  int64_t per;    // elements per chunk
  int64_t count;  // chunks per channel
};

Chunks chunking(int64_t N, int64_t c) {
  int64_t count = (kTargetBlocks + c - 1) / c;
  const int64_t by_work = (N + kMinPerBlock - 1) / kMinPerBlock;
  if (count > by_work) count = by_work;
  if (count > kMaxChunks) count = kMaxChunks;
  if (count < 1) count = 1;
  const int64_t per = (N + count - 1) / count;
  return Chunks{per, (N + per - 1) / per};
}

dim3 channel_grid(const Chunks& ch, int64_t c) {
  return dim3(static_cast<unsigned>(ch.count), static_cast<unsigned>(c < kMaxGridY ? c : kMaxGridY));
}

// Calls f(off) for this thread's elements of channel ch in the chunk [j0, j1): j = j0 + threadIdx.x,
// then every blockDim.x, at offset off = b*c*hw + ch*hw + i for j = b*hw + i. The position advances
// incrementally (no division per element).
template <class F>
__device__ __forceinline__ void for_chunk(int64_t j0, int64_t j1, int64_t c, int64_t hw, int64_t ch, F&& f) {
  int64_t j = j0 + threadIdx.x;
  if (j >= j1) return;
  const int64_t cs = c * hw;
  const int64_t step = blockDim.x;
  const int64_t sb = step / hw, si = step - sb * hw;
  const int64_t dstep = sb * cs + si, wrap = cs - hw;
  int64_t b = j / hw, i = j - b * hw;
  int64_t off = b * cs + ch * hw + i;
  for (; j < j1; j += step) {
    f(off);
    i += si;
    off += dstep;
    if (i >= hw) {
      i -= hw;
      off += wrap;
    }
  }
}

__device__ __forceinline__ float relu_gate(const float* y, const float* gy, int64_t off) {
  // with the fused ReLU (y = its output): gy where y > 0, else 0 (0 also at y = 0 and for NaN)
  return y == nullptr || y[off] > 0.0f ? gy[off] : 0.0f;
}

__device__ __forceinline__ double inv_std(float var, float eps) {
  return 1.0 / sqrt(static_cast<double>(var) + static_cast<double>(eps));
}

// Training statistics, step 1: per chunk Σ(x-K), Σ(x-K)² → part[(ch*chunks + chunk)*2 + {0,1}].
__global__ void stats_partial_kernel(const float* x, double* __restrict__ part, int64_t c, int64_t hw, int64_t N,
                                     int64_t per) {
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per;
  const int64_t j1 = j0 + per < N ? j0 + per : N;
  for (int64_t ch = blockIdx.y; ch < c; ch += gridDim.y) {
    const double K = x[ch * hw];
    double s1 = 0.0, s2 = 0.0;
    for_chunk(j0, j1, c, hw, ch, [&](int64_t off) {
      const double d = static_cast<double>(x[off]) - K;
      s1 += d;
      s2 += d * d;
    });
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    if (threadIdx.x == 0) {
      double* p = part + (ch * gridDim.x + blockIdx.x) * 2;
      p[0] = s1;
      p[1] = s2;
    }
  }
}

// Training statistics, step 2: one thread per channel adds the partials in order.
__global__ void stats_finish_kernel(const float* x, const double* __restrict__ part, float* __restrict__ mean,
                                    float* __restrict__ var, int64_t c, int64_t hw, int64_t chunks, double N) {
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c;
       ch += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double* p = part + ch * chunks * 2;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      s1 += p[2 * k];
      s2 += p[2 * k + 1];
    }
    const double d = s1 / N;  // mean - K
    double v = s2 / N - d * d;
    if (v < 0.0) v = 0.0;
    mean[ch] = static_cast<float>(static_cast<double>(x[ch * hw]) + d);
    var[ch] = static_cast<float>(v);
  }
}

// out = (x - mean) * scale + beta, scale = gamma / sqrt(var + eps); relu: max(0, ·), NaN passing.
// out may alias x.
__global__ void normalise_kernel(const float* x, const float* __restrict__ gamma, const float* __restrict__ beta,
                                 const float* __restrict__ mean, const float* __restrict__ var, float* out, int64_t c,
                                 int64_t hw, int64_t N, int64_t per, float eps, bool relu) {
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per;
  const int64_t j1 = j0 + per < N ? j0 + per : N;
  for (int64_t ch = blockIdx.y; ch < c; ch += gridDim.y) {
    const float m = mean[ch], b = beta[ch];
    const float scale = static_cast<float>(static_cast<double>(gamma[ch]) * inv_std(var[ch], eps));
    if (relu) {
      for_chunk(j0, j1, c, hw, ch, [&](int64_t off) {
        const float v = (x[off] - m) * scale + b;
        out[off] = v < 0.0f ? 0.0f : v;
      });
    } else {
      for_chunk(j0, j1, c, hw, ch, [&](int64_t off) { out[off] = (x[off] - m) * scale + b; });
    }
  }
}

// Backward sums, step 1: per chunk Σg and Σg(x-mean), g = gy gated by the fused ReLU.
__global__ void grad_partial_kernel(const float* x, const float* gy, const float* y, const float* __restrict__ mean,
                                    double* __restrict__ part, int64_t c, int64_t hw, int64_t N, int64_t per) {
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per;
  const int64_t j1 = j0 + per < N ? j0 + per : N;
  for (int64_t ch = blockIdx.y; ch < c; ch += gridDim.y) {
    const double m = mean[ch];
    double s1 = 0.0, s2 = 0.0;
    for_chunk(j0, j1, c, hw, ch, [&](int64_t off) {
      const double g = relu_gate(y, gy, off);
      s1 += g;
      s2 += g * (static_cast<double>(x[off]) - m);
    });
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    if (threadIdx.x == 0) {
      double* p = part + (ch * gridDim.x + blockIdx.x) * 2;
      p[0] = s1;
      p[1] = s2;
    }
  }
}

// Backward sums, step 2: ggamma = Σg(x-m)·invstd, gbeta = Σg; coef = (Σg/N, invstd²·Σg(x-m)/N) for
// the training input gradient.
__global__ void grad_finish_kernel(const double* __restrict__ part, const float* __restrict__ var,
                                   float* __restrict__ ggamma, float* __restrict__ gbeta, float* __restrict__ coef,
                                   int64_t c, int64_t chunks, double N, float eps) {
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c;
       ch += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double* p = part + ch * chunks * 2;
    double sg = 0.0, sgx = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      sg += p[2 * k];
      sgx += p[2 * k + 1];
    }
    const double invstd = inv_std(var[ch], eps);
    ggamma[ch] = static_cast<float>(sgx * invstd);
    gbeta[ch] = static_cast<float>(sg);
    coef[2 * ch] = static_cast<float>(sg / N);
    coef[2 * ch + 1] = static_cast<float>(invstd * invstd * sgx / N);
  }
}

// gx = a·((g - mg) - (x - m)·q) in training, a·g in eval; a = gamma·invstd. gx may alias gy.
__global__ void grad_input_kernel(const float* x, const float* gy, const float* y, const float* __restrict__ gamma,
                                  const float* __restrict__ mean, const float* __restrict__ var,
                                  const float* __restrict__ coef, float* gx, int64_t c, int64_t hw, int64_t N,
                                  int64_t per, float eps, bool training) {
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per;
  const int64_t j1 = j0 + per < N ? j0 + per : N;
  for (int64_t ch = blockIdx.y; ch < c; ch += gridDim.y) {
    const float a = static_cast<float>(static_cast<double>(gamma[ch]) * inv_std(var[ch], eps));
    if (training) {
      const float m = mean[ch], mg = coef[2 * ch], q = coef[2 * ch + 1];
      for_chunk(j0, j1, c, hw, ch,
                [&](int64_t off) { gx[off] = a * ((relu_gate(y, gy, off) - mg) - (x[off] - m) * q); });
    } else {
      for_chunk(j0, j1, c, hw, ch, [&](int64_t off) { gx[off] = a * relu_gate(y, gy, off); });
    }
  }
}

// Device scratch released at scope exit (stream-ordered: kernels enqueued before still see it).
struct Scratch {
  void* p;
  size_t bytes;
  explicit Scratch(size_t b) : p(alloc(b)), bytes(b) {}
  ~Scratch() {
    try {
      release(p, bytes);
    } catch (...) {  // a destructor must not throw; a failed free leaves the context failed anyway
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace

void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* var,
                       int64_t n, int64_t c, int64_t hw, float eps, bool training, bool relu) {
  if (c <= 0) return;
  const int64_t N = n * hw;
  if (N <= 0) {
    // empty batch: the statistics are 0/0
    if (training) {
      fill(mean, c, NAN);
      fill(var, c, NAN);
    }
    return;
  }
  const Chunks ch = chunking(N, c);
  const dim3 grid = channel_grid(ch, c);
  if (training) {
    Scratch part(static_cast<size_t>(2 * ch.count * c) * sizeof(double));
    double* pp = static_cast<double*>(part.p);
    AVGK_LAUNCH_SYNC(stats_partial_kernel, grid, kThreads, x, pp, c, hw, N, ch.per);
    check_launch("batchNormForward statistics");
    AVGK_LAUNCH(stats_finish_kernel, blocks_for(c), kThreads, x, pp, mean, var, c, hw, ch.count,
                static_cast<double>(N));
    check_launch("batchNormForward statistics");
  }
  AVGK_LAUNCH(normalise_kernel, grid, kThreads, x, gamma, beta, mean, var, out, c, hw, N, ch.per, eps, relu);
  check_launch("batchNormForward");
}

void batchnorm_backward(const float* x, const float* gy, const float* y, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        float eps, bool training) {
  if (c <= 0) return;
  const int64_t N = n * hw;
  if (N <= 0) {
    fill(ggamma, c, 0.0f);
    fill(gbeta, c, 0.0f);
    return;
  }
  const Chunks ch = chunking(N, c);
  const dim3 grid = channel_grid(ch, c);
  const size_t part_bytes = static_cast<size_t>(2 * ch.count * c) * sizeof(double);
  Scratch scratch(part_bytes + static_cast<size_t>(2 * c) * sizeof(float));
  double* part = static_cast<double*>(scratch.p);
  float* coef = reinterpret_cast<float*>(static_cast<char*>(scratch.p) + part_bytes);
  // the sums read gy before the input gradient overwrites it (gx may alias gy)
  AVGK_LAUNCH_SYNC(grad_partial_kernel, grid, kThreads, x, gy, y, mean, part, c, hw, N, ch.per);
  check_launch("batchNormBackward sums");
  AVGK_LAUNCH(grad_finish_kernel, blocks_for(c), kThreads, part, var, ggamma, gbeta, coef, c, ch.count,
              static_cast<double>(N), eps);
  check_launch("batchNormBackward sums");
  AVGK_LAUNCH(grad_input_kernel, grid, kThreads, x, gy, y, gamma, mean, var, coef, gx, c, hw, N, ch.per, eps,
              training);
  check_launch("batchNormBackward");
}

}  // namespace avgk_cuda
