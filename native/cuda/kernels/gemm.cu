// Batched strided SGEMM with the semantics of avgk::sgemm (native/kernels/gemm/gemm.h), on the CUDA
// cores (fp32) or, with set_tf32(true), on the tensor cores (TF32 operands, fp32 accumulation).
//
// One kernel template per arithmetic, instantiated for a few block tiles and for the operand
// layouts: each operand is read either along k (A row-major, csA == 1; B column-major, rsB == 1) or
// along its other dimension (A column-major, rsA == 1; B row-major, csB == 1). A thread loads 4
// consecutive elements along that "fast" direction: one float4 when the stride there is 1 and every
// row start is 16-byte aligned (checked on the host), else 4 scalar loads through the strides, which
// also serves any other stride combination (including 0). Edge tiles are predicated and zero-filled.
//
//   CUDA cores: block tile BM x BN x BK, 8 warps (or fewer for the small tiles), each warp owns a
//   WTM x WTN sub-tile and each lane a TM x TN micro-tile made of 4x4 pieces spread over the warp
//   tile, so that the shared-memory reads of a k step are float4 and conflict-free. Both operands
//   are staged k-major in shared memory (As[k][m], Bs[k][n]), double-buffered: the next k tile is
//   loaded into registers while the current one is multiplied, then stored to the other buffer
//   (one barrier per k tile).
//   TF32: block tile BM x BN x 16, warps of 16x16x8 wmma fragments; operands are rounded to TF32
//   (wmma::__float_to_tf32) when staged in shared memory, in the layout that keeps the staging
//   stores float4 (row_major or col_major fragments), double-buffered as above. Accumulators go
//   through a per-warp shared tile for the alpha / bias / beta epilogue.
//
// The host picks the tile and a split of k (split-K) from a cost model of the device's waves:
// split-K runs the slices as extra blocks writing partial products to scratch, reduced in a fixed
// order (deterministic) by a second kernel that applies alpha, the bias and beta. Batch and
// k-slices share blockIdx.z (launches are repeated past 65535); the m x n tiles are numbered along
// blockIdx.x in groups of kGroup tile rows, so that blocks running together share operand panels
// in L2.
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#ifndef AVGK_CUDA_EMULATE
#include <mma.h>
#endif

#include "cuda_kernels.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {

// Test hooks (not in cuda_kernels.h; the parity test declares them extern): force a tile
// configuration (index into the fp32 or TF32 table below) and a split-K factor.
namespace gemm_tuning {
int force_config = -1;
int force_split = 0;
}  // namespace gemm_tuning

namespace {

bool g_tf32 = false;

constexpr int kPad = 4;        // shared-memory row padding (floats): keeps float4 alignment, spreads banks
constexpr int64_t kGroup = 8;  // tile rows per group of the block order
constexpr unsigned kMaxGridZ = 65535;

struct GemmArgs {
  const float* A;
  const float* B;
  float* C;
  const float* bias;  // per row of C, nullable
  int64_t rsA, csA, bsA, rsB, csB, bsB, rsC, bsC;
  int64_t ssC;  // C stride between k-slices (split-K partials)
  int64_t m, n, k, batch;
  int64_t kslice;  // depth of each k-slice
  int64_t tiles_m, tiles_n;
  int64_t z0;  // first (batch, slice) index of this launch
  float alpha, beta;
  bool vecA, vecB, vecC;
};

template <class T>
__device__ __forceinline__ T clamp4(T v) {
  return v < 0 ? T(0) : (v > 4 ? T(4) : v);
}

// Four elements p[0], p[s], p[2s], p[3s], the first cnt of them (the rest 0); one float4 when vec
// and all four are in range.
__device__ __forceinline__ float4 load4(const float* p, int64_t s, int cnt, bool vec) {
  if (vec && cnt == 4) return *reinterpret_cast<const float4*>(p);
  float4 v;
  v.x = cnt > 0 ? p[0] : 0.0f;
  v.y = cnt > 1 ? p[s] : 0.0f;
  v.z = cnt > 2 ? p[2 * s] : 0.0f;
  v.w = cnt > 3 ? p[3 * s] : 0.0f;
  return v;
}

__device__ __forceinline__ float comp(const float4& v, int q) {
  return q == 0 ? v.x : (q == 1 ? v.y : (q == 2 ? v.z : v.w));
}

// C[0..3] = v[q] + beta * C[q] for the first `left` columns (beta == 0: C is not read).
__device__ __forceinline__ void store4(float* p, float v0, float v1, float v2, float v3, int64_t left, float beta,
                                       bool vec) {
  if (left <= 0) return;
  if (vec && left >= 4) {
    float4 o = make_float4(v0, v1, v2, v3);
    if (beta != 0.0f) {
      const float4 c = *reinterpret_cast<const float4*>(p);
      o.x += beta * c.x;
      o.y += beta * c.y;
      o.z += beta * c.z;
      o.w += beta * c.w;
    }
    *reinterpret_cast<float4*>(p) = o;
    return;
  }
  const float v[4] = {v0, v1, v2, v3};
#pragma unroll
  for (int q = 0; q < 4; ++q)
    if (q < left) p[q] = beta != 0.0f ? v[q] + beta * p[q] : v[q];
}

// The block's tile, batch entry and k-slice, with the operands offset to them.
struct Tile {
  int64_t m0, n0;
  int klen;  // < 2^30 (sgemm_bias splits deeper products)
  const float* A;
  const float* B;
  float* C;
};

__device__ __forceinline__ Tile block_tile(const GemmArgs& g, int BM, int BN) {
  const int64_t z = g.z0 + blockIdx.z;
  const int64_t t = z % g.batch, s = z / g.batch;
  const int64_t k0 = s * g.kslice;
  const int64_t bid = blockIdx.x;
  const int64_t per_group = kGroup * g.tiles_n;
  const int64_t grp = bid / per_group;
  const int64_t first = grp * kGroup;
  const int64_t rows = g.tiles_m - first < kGroup ? g.tiles_m - first : kGroup;
  const int64_t in = bid - grp * per_group;
  Tile tl;
  tl.m0 = (first + in % rows) * BM;
  tl.n0 = (in / rows) * BN;
  tl.klen = static_cast<int>(g.k - k0 < g.kslice ? g.k - k0 : g.kslice);
  tl.A = g.A + t * g.bsA + k0 * g.csA;
  tl.B = g.B + t * g.bsB + k0 * g.rsB;
  tl.C = g.C + t * g.bsC + s * g.ssC;
  return tl;
}

// Loads one operand's BK-deep tiles into registers: OUT x BK elements (OUT along m for A, along n
// for B), 4 per slot, L slots per thread; slot l covers outer index o.. and k index kq + l*DK.
// KFAST: the 4 run along k; each thread owns one row o and BK / (NT/OUT) consecutive k (whole
// sectors of a row-major row), and the 32 lanes of a warp own 32 consecutive rows, so that the
// transposed shared-memory stores are conflict-free. Otherwise the 4 run along the outer dimension
// (o..o+3). os / ks: the operand's strides along the outer dimension and along k (fs: the one along
// the 4). The tiles must be loaded in order, each once.
template <int OUT, int BK, int NT, bool KFAST>
struct Loader {
  static constexpr int L = OUT * BK / (4 * NT);
  static constexpr int DK = KFAST ? 4 : NT / (OUT / 4);
  static_assert(L >= 1 && L * 4 * NT == OUT * BK, "tile not divisible among the threads");
  static_assert(KFAST ? NT % OUT == 0 : NT % (OUT / 4) == 0, "slots not evenly spaced");
  const float* p[L];
  int o, kq;
  int lim;  // elements in range along the outer dimension (KFAST: 4 for a row in range, else 0)

  __device__ __forceinline__ void init(const float* X, int64_t os, int64_t ks, int64_t o0, int64_t outer) {
    const int t = threadIdx.x;
    if (KFAST) {
      o = t % OUT;
      kq = (t / OUT) * (4 * L);
      lim = o0 + o < outer ? 4 : 0;
    } else {
      kq = t / (OUT / 4);
      o = (t % (OUT / 4)) * 4;
      lim = static_cast<int>(clamp4(outer - o0 - o));
    }
#pragma unroll
    for (int l = 0; l < L; ++l) p[l] = X + (lim > 0 ? (o0 + o) * os : 0) + (kq + l * DK) * ks;
  }

  // The tile at depth kt of a slice klen deep.
  __device__ __forceinline__ void load(int kt, int klen, int64_t fs, int64_t ks, bool vec, float4 (&r)[L]) {
#pragma unroll
    for (int l = 0; l < L; ++l) {
      int cnt;
      if (KFAST)
        cnt = lim > 0 ? clamp4(klen - kt - kq - l * DK) : 0;
      else
        cnt = kt + kq + l * DK < klen ? lim : 0;
      r[l] = load4(p[l], fs, cnt, vec);
      p[l] += BK * ks;
    }
  }
};

// ------------------------------------------------------------------ CUDA-core kernel
// Warps WM x WN, each lane a TM x TN micro-tile: rows lm*4 + [0,4) + i*LM*4 of the warp tile, columns
// ln*4 + [0,4) + j*LN*4 (LM x LN lanes), so that a k step reads float4s of consecutive addresses.
template <int BM, int BN, int BK, int WM, int WN, int TM, int TN, int MINB, bool AK, bool BKF>
__global__ void __launch_bounds__(WM * WN * 32, MINB) sgemm_kernel(const GemmArgs g) {
  constexpr int NT = WM * WN * 32;
  constexpr int WTM = BM / WM, WTN = BN / WN;
  constexpr int LM = WTM / TM, LN = WTN / TN;
  static_assert(LM * LN == 32 && TM % 4 == 0 && TN % 4 == 0, "bad warp tiling");
  using LA = Loader<BM, BK, NT, AK>;
  using LB = Loader<BN, BK, NT, BKF>;
  struct alignas(16) Smem {
    float a[2][BK][BM + kPad];
    float b[2][BK][BN + kPad];
  };
  __shared__ Smem sm;

  const Tile tl = block_tile(g, BM, BN);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int row0 = (warp / WN) * WTM + (lane / LN) * 4;
  const int col0 = (warp % WN) * WTN + (lane % LN) * 4;

  LA la;
  LB lb;
  la.init(tl.A, g.rsA, g.csA, tl.m0, g.m);
  lb.init(tl.B, g.csB, g.rsB, tl.n0, g.n);
  float4 ra[LA::L], rb[LB::L];
  auto load = [&](int kt) {
    la.load(kt, tl.klen, AK ? g.csA : g.rsA, g.csA, g.vecA, ra);
    lb.load(kt, tl.klen, BKF ? g.rsB : g.csB, g.rsB, g.vecB, rb);
  };
  // both operands k-major in shared memory: transposed scalar stores for the k-fast ones
  auto stage = [&](int buf) {
#pragma unroll
    for (int l = 0; l < LA::L; ++l) {
      if (AK) {
#pragma unroll
        for (int q = 0; q < 4; ++q) sm.a[buf][la.kq + l * LA::DK + q][la.o] = comp(ra[l], q);
      } else {
        *reinterpret_cast<float4*>(&sm.a[buf][la.kq + l * LA::DK][la.o]) = ra[l];
      }
    }
#pragma unroll
    for (int l = 0; l < LB::L; ++l) {
      if (BKF) {
#pragma unroll
        for (int q = 0; q < 4; ++q) sm.b[buf][lb.kq + l * LB::DK + q][lb.o] = comp(rb[l], q);
      } else {
        *reinterpret_cast<float4*>(&sm.b[buf][lb.kq + l * LB::DK][lb.o]) = rb[l];
      }
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  load(0);
  stage(0);
  __syncthreads();
  int cur = 0;
  for (int kt = 0; kt < tl.klen; kt += BK) {
    const bool more = kt + BK < tl.klen;
    if (more) load(kt + BK);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(&sm.a[cur][kk][row0 + i * LM * 4]);
        a[4 * i] = v.x;
        a[4 * i + 1] = v.y;
        a[4 * i + 2] = v.z;
        a[4 * i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(&sm.b[cur][kk][col0 + j * LN * 4]);
        b[4 * j] = v.x;
        b[4 * j + 1] = v.y;
        b[4 * j + 2] = v.z;
        b[4 * j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    if (more) stage(cur ^ 1);
    __syncthreads();
    cur ^= 1;
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t row = tl.m0 + row0 + (i >> 2) * (LM * 4) + (i & 3);
    if (row >= g.m) continue;
    const float bi = g.bias ? g.bias[row] : 0.0f;
    float* crow = tl.C + row * g.rsC;
#pragma unroll
    for (int j = 0; j < TN / 4; ++j) {
      const int64_t col = tl.n0 + col0 + j * (LN * 4);
      store4(crow + col, g.alpha * acc[i][4 * j] + bi, g.alpha * acc[i][4 * j + 1] + bi,
             g.alpha * acc[i][4 * j + 2] + bi, g.alpha * acc[i][4 * j + 3] + bi, g.n - col, g.beta, g.vecC);
    }
  }
}

// ------------------------------------------------------------------ TF32 tensor-core kernel
// Shared layouts (ld = row length in floats): A as [BM][BK+4] (row_major fragments) when loaded
// along k, else [BK][BM+4] (col_major); B as [BN][BK+4] (col_major) when loaded along k, else
// [BK][BN+4] (row_major). Every fragment pointer is 32-byte aligned.
template <int BM, int BN, int WM, int WN, int MINB, bool AK, bool BKF>
__global__ void __launch_bounds__(WM * WN * 32, MINB) tf32_kernel(const GemmArgs g) {
  namespace wmma = nvcuda::wmma;
  constexpr int BK = 16;
  constexpr int NT = WM * WN * 32, NW = WM * WN;
  constexpr int WTM = BM / WM, WTN = BN / WN;
  constexpr int FM = WTM / 16, FN = WTN / 16;
  constexpr int LDA = AK ? BK + kPad : BM + kPad;
  constexpr int LDB = BKF ? BK + kPad : BN + kPad;
  constexpr int SA = AK ? BM * LDA : BK * LDA;
  constexpr int SB = BKF ? BN * LDB : BK * LDB;
  static_assert(FM * 16 == WTM && FN * 16 == WTN && SA % 8 == 0 && SB % 8 == 0, "bad tf32 tiling");
  using ALayout = typename std::conditional<AK, wmma::row_major, wmma::col_major>::type;
  using BLayout = typename std::conditional<BKF, wmma::col_major, wmma::row_major>::type;
  using LA = Loader<BM, BK, NT, AK>;
  using LB = Loader<BN, BK, NT, BKF>;
  struct Stages {
    float a[2][SA];
    float b[2][SB];
  };
  union alignas(128) Smem {
    Stages st;
    float c[NW][16 * 16];  // epilogue staging, one fragment per warp
  };
  __shared__ Smem sm;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // never launched there (tf32_supported)
#else
  const Tile tl = block_tile(g, BM, BN);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wr = (warp / WN) * WTM, wc = (warp % WN) * WTN;

  LA la;
  LB lb;
  la.init(tl.A, g.rsA, g.csA, tl.m0, g.m);
  lb.init(tl.B, g.csB, g.rsB, tl.n0, g.n);
  float4 ra[LA::L], rb[LB::L];
  auto load = [&](int kt) {
    la.load(kt, tl.klen, AK ? g.csA : g.rsA, g.csA, g.vecA, ra);
    lb.load(kt, tl.klen, BKF ? g.rsB : g.csB, g.rsB, g.vecB, rb);
  };
  auto stage = [&](int buf) {
#pragma unroll
    for (int l = 0; l < LA::L; ++l) {
      float4 v = ra[l];
      v.x = wmma::__float_to_tf32(v.x);
      v.y = wmma::__float_to_tf32(v.y);
      v.z = wmma::__float_to_tf32(v.z);
      v.w = wmma::__float_to_tf32(v.w);
      const int off = AK ? la.o * LDA + la.kq + l * LA::DK : (la.kq + l * LA::DK) * LDA + la.o;
      *reinterpret_cast<float4*>(&sm.st.a[buf][off]) = v;
    }
#pragma unroll
    for (int l = 0; l < LB::L; ++l) {
      float4 v = rb[l];
      v.x = wmma::__float_to_tf32(v.x);
      v.y = wmma::__float_to_tf32(v.y);
      v.z = wmma::__float_to_tf32(v.z);
      v.w = wmma::__float_to_tf32(v.w);
      const int off = BKF ? lb.o * LDB + lb.kq + l * LB::DK : (lb.kq + l * LB::DK) * LDB + lb.o;
      *reinterpret_cast<float4*>(&sm.st.b[buf][off]) = v;
    }
  };

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  load(0);
  stage(0);
  __syncthreads();
  int cur = 0;
  for (int kt = 0; kt < tl.klen; kt += BK) {
    const bool more = kt + BK < tl.klen;
    if (more) load(kt + BK);
#pragma unroll
    for (int ks = 0; ks < BK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, ALayout> af[FM];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = wr + i * 16;
        wmma::load_matrix_sync(af[i], &sm.st.a[cur][AK ? r * LDA + ks : ks * LDA + r], LDA);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {  // one B fragment live at a time (registers)
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, BLayout> bf;
        const int c = wc + j * 16;
        wmma::load_matrix_sync(bf, &sm.st.b[cur][BKF ? c * LDB + ks : ks * LDB + c], LDB);
#pragma unroll
        for (int i = 0; i < FM; ++i) wmma::mma_sync(acc[i][j], af[i], bf, acc[i][j]);
      }
    }
    if (more) stage(cur ^ 1);
    __syncthreads();
    cur ^= 1;
  }

  // the loop ended on a barrier: the staging buffers are free for the epilogue
  float* cs = sm.c[warp];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(cs, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int64_t row = tl.m0 + wr + i * 16 + (e >> 4);
        const int64_t col = tl.n0 + wc + j * 16 + (e & 15);
        if (row < g.m && col < g.n) {
          float* p = tl.C + row * g.rsC + col;
          float v = g.alpha * cs[e] + (g.bias ? g.bias[row] : 0.0f);
          if (g.beta != 0.0f) v += g.beta * *p;
          *p = v;
        }
      }
      __syncwarp();
    }
#endif
}

// ------------------------------------------------------------------ small kernels
// C = bias[i] + beta * C (k == 0 or alpha == 0).
__global__ void scale_kernel(float* C, int64_t rsC, int64_t bsC, int64_t m, int64_t n, int64_t total, float beta,
                             const float* bias) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = idx / (m * n), r = idx - t * (m * n);
    const int64_t i = r / n, j = r - i * n;
    float* p = C + t * bsC + i * rsC + j;
    const float b = bias ? bias[i] : 0.0f;
    *p = beta != 0.0f ? b + beta * *p : b;
  }
}

// C = alpha * Σ_s P[s] + bias[i] + beta * C over the split-K partials P[s][t][i][j] (dense), summed in
// slice order.
__global__ void splitk_reduce_kernel(const float* P, int64_t splits, float* C, int64_t rsC, int64_t bsC, int64_t m,
                                     int64_t n, int64_t total, float alpha, float beta, const float* bias) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int64_t q = 0; q < splits; ++q) s += P[q * total + idx];
    const int64_t t = idx / (m * n), r = idx - t * (m * n);
    const int64_t i = r / n, j = r - i * n;
    float* p = C + t * bsC + i * rsC + j;
    float v = alpha * s + (bias ? bias[i] : 0.0f);
    if (beta != 0.0f) v += beta * *p;
    *p = v;
  }
}

// ------------------------------------------------------------------ host side
using KernelFn = void (*)(GemmArgs);

struct Config {
  int bm, bn, threads;
  int occ;       // resident blocks per multiprocessor
  double eff;    // relative throughput per multiprocessor when full
  double alone;  // fraction of that throughput one resident block reaches
};

// CUDA cores: 128x128x16 (256 threads, 8x8 per lane), 64x64x16 (128 threads, 8x4), 32x32x16 (64, 4x4).
const Config kSimt[] = {{128, 128, 256, 2, 1.0, 0.6}, {64, 64, 128, 4, 0.8, 0.35}, {32, 32, 64, 8, 0.55, 0.2}};
// TF32: 128x128x16 (8 warps of 64x32), 64x64x16 (4 warps of 32x32).
const Config kTf32[] = {{128, 128, 256, 2, 1.0, 0.6}, {64, 64, 128, 4, 0.8, 0.35}};

template <bool AK, bool BKF>
KernelFn simt_kernel(int cfg) {
  switch (cfg) {
    case 0: return sgemm_kernel<128, 128, 16, 4, 2, 8, 8, 2, AK, BKF>;
    case 1: return sgemm_kernel<64, 64, 16, 2, 2, 8, 4, 4, AK, BKF>;
    default: return sgemm_kernel<32, 32, 16, 2, 1, 4, 4, 8, AK, BKF>;
  }
}

template <bool AK, bool BKF>
KernelFn tf32_kernel_for(int cfg) {
  if (cfg == 0) return tf32_kernel<128, 128, 2, 4, 2, AK, BKF>;
  return tf32_kernel<64, 64, 2, 2, 4, AK, BKF>;
}

KernelFn pick_kernel(bool tf32, int cfg, bool ak, bool bk) {
  if (tf32) {
    if (ak) return bk ? tf32_kernel_for<true, true>(cfg) : tf32_kernel_for<true, false>(cfg);
    return bk ? tf32_kernel_for<false, true>(cfg) : tf32_kernel_for<false, false>(cfg);
  }
  if (ak) return bk ? simt_kernel<true, true>(cfg) : simt_kernel<true, false>(cfg);
  return bk ? simt_kernel<false, true>(cfg) : simt_kernel<false, false>(cfg);
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Multiprocessors the cost model plans for (the emulator plans as for an H200, so that the tests
// exercise the paths a GPU takes).
int64_t sm_count() {
#ifdef AVGK_CUDA_EMULATE
  return 132;
#else
  static const int64_t n = init().multiprocessors;
  return n > 0 ? n : 1;
#endif
}

// TF32 tensor cores: compute capability 8.0 and later.
bool tf32_supported() {
#ifdef AVGK_CUDA_EMULATE
  return true;
#else
  static const bool ok = init().major >= 8;
  return ok;
#endif
}

constexpr int64_t kMaxDepth = 1LL << 30;          // k per call of a kernel (32-bit k indices)
constexpr int64_t kSliceMin = 128;                // shallowest k-slice worth a split
constexpr int64_t kMaxSplit = 64;
constexpr int64_t kSplitScratch = 64LL << 20;     // bytes of partials at most
constexpr double kBytesPerCycle = 2000.0;         // device memory bandwidth, bytes per SM clock
constexpr double kLaunchCycles = 4000.0;          // cost of a second launch

struct Plan {
  int cfg;
  int64_t split, kslice;
};

// Estimated cycles of one configuration: waves of blocks over the multiprocessors, each block's
// multiply-adds at the configuration's throughput for the blocks sharing its multiprocessor, plus
// the partial sums' traffic and launch when split.
double cost(const Config& c, int64_t m, int64_t n, int64_t kslice, int64_t splits, int64_t batch) {
  const double sms = static_cast<double>(sm_count());
  const double blocks = static_cast<double>(cdiv(m, c.bm) * cdiv(n, c.bn) * batch * splits);
  double per_sm = std::ceil(blocks / sms);
  if (per_sm > c.occ) per_sm = c.occ;
  const double waves = std::ceil(blocks / (sms * per_sm));
  const double rate = 128.0 * c.eff * (per_sm * c.alone > 1.0 ? 1.0 : per_sm * c.alone);  // FMA per cycle per SM
  double t = waves * per_sm * (static_cast<double>(c.bm) * c.bn * (kslice + 32)) / rate;
  if (splits > 1) t += kLaunchCycles + (2.0 * splits + 2.0) * m * n * batch * 4.0 / kBytesPerCycle;
  return t;
}

Plan plan_gemm(bool tf32, int64_t m, int64_t n, int64_t k, int64_t batch) {
  const Config* cfgs = tf32 ? kTf32 : kSimt;
  const int ncfg = tf32 ? 2 : 3;
  Plan best{0, 1, k};
  double best_t = -1.0;
  for (int c = 0; c < ncfg; ++c) {
    if (gemm_tuning::force_config >= 0 && c != (gemm_tuning::force_config < ncfg ? gemm_tuning::force_config : ncfg - 1))
      continue;
    int64_t max_split = k / kSliceMin;
    if (max_split > kMaxSplit) max_split = kMaxSplit;
    const double slice_bytes = 4.0 * m * n * batch;
    while (max_split > 1 && max_split * slice_bytes > kSplitScratch) --max_split;
    if (max_split < 1) max_split = 1;
    for (int64_t s = 1; s <= max_split; ++s) {
      if (gemm_tuning::force_split > 0 && s != 1) break;
      const int64_t kslice = cdiv(cdiv(k, s), 16) * 16;
      const int64_t splits = cdiv(k, kslice);
      if (splits != s) continue;
      const double t = cost(cfgs[c], m, n, kslice, splits, batch);
      if (best_t < 0 || t < best_t * 0.97) {  // prefer fewer splits and bigger tiles on near-ties
        best_t = t;
        best = Plan{c, splits, kslice};
      }
    }
  }
  if (gemm_tuning::force_split > 0) {
    const int64_t kslice = cdiv(cdiv(k, gemm_tuning::force_split), 16) * 16;
    best.kslice = kslice;
    best.split = cdiv(k, kslice);
  }
  return best;
}

// Scratch from the device pool, released on every path.
struct Scratch {
  float* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t floats) : bytes(floats * sizeof(float)) { p = static_cast<float*>(alloc(bytes)); }
  ~Scratch() { release(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

void launch_tiles(KernelFn kern, const Config& c, GemmArgs a, const char* what) {
  const int64_t tiles = a.tiles_m * a.tiles_n;
  if (tiles > 0x7fffffffLL) throw CudaError("cudaErrorInvalidValue", std::string(what) + ": too many tiles");
  const int64_t zs = a.batch * cdiv(a.k, a.kslice);
  for (int64_t z0 = 0; z0 < zs; z0 += kMaxGridZ) {
    a.z0 = z0;
    const int64_t nz = zs - z0 < kMaxGridZ ? zs - z0 : kMaxGridZ;
    const dim3 grid(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(nz));
    AVGK_LAUNCH_SYNC(kern, grid, c.threads, a);
    check_launch(what);
  }
}

}  // namespace

void set_tf32(bool on) { g_tf32 = on; }
bool tf32() { return g_tf32; }

void sgemm_bias(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA,
                int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB, int64_t bsB, float beta, float* C,
                int64_t rsC, int64_t bsC, const float* bias) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    if (beta == 1.0f && bias == nullptr) return;
    const int64_t total = batch * m * n;
    AVGK_LAUNCH(scale_kernel, blocks_for(total), kThreads, C, rsC, bsC, m, n, total, beta, bias);
    check_launch("sgemm (scale)");
    return;
  }
  if (k > kMaxDepth) {
    // products deeper than a kernel's int range: consecutive k ranges accumulated into C
    for (int64_t k0 = 0; k0 < k; k0 += kMaxDepth) {
      const int64_t kc = k - k0 < kMaxDepth ? k - k0 : kMaxDepth;
      sgemm_bias(batch, m, n, kc, alpha, A + k0 * csA, rsA, csA, bsA, B + k0 * rsB, rsB, csB, bsB,
                 k0 == 0 ? beta : 1.0f, C, rsC, bsC, k0 == 0 ? bias : nullptr);
    }
    return;
  }
  // Which direction each operand is loaded along: its unit stride if it has one, else the smaller
  // stride (4 scalar loads either way).
  auto mag = [](int64_t s) { return s < 0 ? -s : s; };
  bool ak;
  if (csA == 1 && rsA != 1) ak = true;
  else if (rsA == 1 && csA != 1) ak = false;
  else if (csA == 1) ak = k >= m;
  else ak = mag(csA) <= mag(rsA);
  bool bk;
  if (rsB == 1 && csB != 1) bk = true;
  else if (csB == 1 && rsB != 1) bk = false;
  else if (rsB == 1) bk = k >= n;
  else bk = mag(rsB) <= mag(csB);

  const bool tf = g_tf32 && tf32_supported();
  const Plan pl = plan_gemm(tf, m, n, k, batch);
  const Config& cfg = (tf ? kTf32 : kSimt)[pl.cfg];

  // float4 loads: unit stride along the fast direction and every row start (other stride, batch
  // stride) a multiple of 4 floats from a 16-byte aligned base (k-slices start at multiples of 16).
  auto vec_ok = [&](const float* X, int64_t fast, int64_t other, int64_t other_n, int64_t bs) {
    return fast == 1 && aligned16(X) && (other_n == 1 || other % 4 == 0) && (batch == 1 || bs % 4 == 0);
  };
  GemmArgs a;
  a.A = A;
  a.B = B;
  a.rsA = rsA;
  a.csA = csA;
  a.bsA = bsA;
  a.rsB = rsB;
  a.csB = csB;
  a.bsB = bsB;
  a.m = m;
  a.n = n;
  a.k = k;
  a.batch = batch;
  a.kslice = pl.kslice;
  a.tiles_m = cdiv(m, cfg.bm);
  a.tiles_n = cdiv(n, cfg.bn);
  a.z0 = 0;
  a.vecA = ak ? vec_ok(A, csA, rsA, m, bsA) : vec_ok(A, rsA, csA, k, bsA);
  a.vecB = bk ? vec_ok(B, rsB, csB, n, bsB) : vec_ok(B, csB, rsB, k, bsB);
  const KernelFn kern = pick_kernel(tf, pl.cfg, ak, bk);

  if (pl.split == 1) {
    a.C = C;
    a.rsC = rsC;
    a.bsC = bsC;
    a.ssC = 0;
    a.bias = bias;
    a.alpha = alpha;
    a.beta = beta;
    a.vecC = aligned16(C) && (m == 1 || rsC % 4 == 0) && (batch == 1 || bsC % 4 == 0);
    launch_tiles(kern, cfg, a, "sgemm");
    return;
  }
  // split-K: dense partials [split][batch][m][n], then the ordered reduction into C
  const int64_t total = batch * m * n;
  Scratch part(static_cast<size_t>(pl.split * total));
  a.C = part.p;
  a.rsC = n;
  a.bsC = m * n;
  a.ssC = total;
  a.bias = nullptr;
  a.alpha = 1.0f;
  a.beta = 0.0f;
  a.vecC = n % 4 == 0;
  launch_tiles(kern, cfg, a, "sgemm (split-K)");
  AVGK_LAUNCH(splitk_reduce_kernel, blocks_for(total), kThreads, part.p, pl.split, C, rsC, bsC, m, n, total, alpha,
              beta, bias);
  check_launch("sgemm (split-K reduction)");
}

void sgemm(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA, int64_t csA,
           int64_t bsA, const float* B, int64_t rsB, int64_t csB, int64_t bsB, float beta, float* C, int64_t rsC,
           int64_t bsC) {
  sgemm_bias(batch, m, n, k, alpha, A, rsA, csA, bsA, B, rsB, csB, bsB, beta, C, rsC, bsC, nullptr);
}

}  // namespace avgk_cuda
