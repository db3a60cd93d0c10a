// A CPU emulation of the part of CUDA that avgk's kernels use, so that the same .cu sources run
// (slowly, deterministically) on machines without a GPU: `npm test` and CI execute every kernel
// through it and compare with the TypeScript backend.
//
// Only for AVGK_CUDA_EMULATE builds, where every .cu file is compiled as C++ with this header
// force-included. Threads of a block run as fibers on one OS thread: __syncthreads() and the warp
// collectives switch fibers, so shared memory, barriers and shuffles behave as on a GPU, and a
// barrier that can never complete (a divergent __syncthreads) is reported as an error instead of
// hanging. Blocks run one after another. Not emulated: timing, memory coalescing, races between
// blocks (atomics are plain read-modify-writes here), and anything not declared below.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict
// One block runs at a time per OS thread, so a function-local static per OS thread is per block.
#define __shared__ static thread_local

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
using uint3 = dim3;

extern thread_local dim3 threadIdx;
extern thread_local dim3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

// ------------------------------------------------------------------ runtime API subset
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t s);
cudaError_t cudaFreeAsync(void* p, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);

// ------------------------------------------------------------------ launches and collectives
namespace avgk_emu {
// Runs body once per thread of every block. `syncs`: the kernel may use barriers or warp
// collectives (threads then run as fibers); otherwise threads run as plain calls, which is much
// faster, and a barrier is reported as an error.
void launch(dim3 grid, dim3 block, bool syncs, const std::function<void()>& body);
void sync_block();
void sync_warp();
int lane_id();
// Warp exchange: publish `bits`, then read lane `src`'s (a lane outside the warp reads its own).
uint64_t exchange(uint64_t bits, int src);
// Per-warp vote over `pred` (bit i = lane i).
unsigned ballot(bool pred);
// Accumulated device-side fault (out-of-range launch, barrier deadlock), cleared by cudaGetLastError.
void set_error(cudaError_t e, const char* what);
const char* last_error_detail();

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of an unsupported type");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
}  // namespace avgk_emu

inline void __syncthreads() { avgk_emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { avgk_emu::sync_warp(); }

template <class T>
inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int lane = avgk_emu::lane_id();
  const int base = lane & ~(width - 1);
  return avgk_emu::from_bits<T>(avgk_emu::exchange(avgk_emu::to_bits(v), base + (src & (width - 1))));
}
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int lane = avgk_emu::lane_id();
  const int src = lane ^ mask;
  const bool in = (src & ~(width - 1)) == (lane & ~(width - 1));
  return avgk_emu::from_bits<T>(avgk_emu::exchange(avgk_emu::to_bits(v), in ? src : lane));
}
template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = avgk_emu::lane_id();
  const int src = lane + static_cast<int>(delta);
  const bool in = (src & ~(width - 1)) == (lane & ~(width - 1));
  return avgk_emu::from_bits<T>(avgk_emu::exchange(avgk_emu::to_bits(v), in ? src : lane));
}
template <class T>
inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = avgk_emu::lane_id();
  const int src = lane - static_cast<int>(delta);
  const bool in = src >= (lane & ~(width - 1));
  return avgk_emu::from_bits<T>(avgk_emu::exchange(avgk_emu::to_bits(v), in ? src : lane));
}
inline unsigned __ballot_sync(unsigned, int pred) { return avgk_emu::ballot(pred != 0); }
inline int __any_sync(unsigned, int pred) { return avgk_emu::ballot(pred != 0) != 0; }

// ------------------------------------------------------------------ atomics (one OS thread: plain)
template <class T>
inline T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
inline T atomicMax(T* p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
inline T atomicOr(T* p, T v) {
  T old = *p;
  *p = old | v;
  return old;
}
template <class T>
inline T atomicCAS(T* p, T cmp, T v) {
  T old = *p;
  if (old == cmp) *p = v;
  return old;
}
template <class T>
inline T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
inline void __threadfence() {}

// ------------------------------------------------------------------ math and bit intrinsics
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
template <class T>
inline T __ldg(const T* p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
using std::fmaxf;
using std::fminf;

// ------------------------------------------------------------------ TF32 tensor cores (wmma)
// Each lane of the warp holds the whole tile: loads and the product are computed redundantly by
// every lane, stores write the same values. The operands are rounded to TF32 (10-bit mantissa,
// round to nearest, ties away from zero, as cvt.rna.tf32.f32) and products accumulate in fp32.
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };

inline float __float_to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  unsigned u = __float_as_uint(x);
  u = (u + 0x1000u) & 0xffffe000u;
  return __uint_as_float(u);
}

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = std::is_same<Use, matrix_b>::value ? K : M;
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = rows * cols;
  float x[rows * cols];
};

template <class Use, int M, int N, int K, class T, class Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ld) {
  using F = fragment<Use, M, N, K, T, Layout>;
  const bool col = std::is_same<Layout, col_major>::value;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = col ? p[c * ld + r] : p[r * ld + c];
}
template <int M, int N, int K, class T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const float* p, unsigned ld, layout_t l) {
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = l == mem_col_major ? p[c * ld + r] : p[r * ld + c];
}
template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (float& e : f.x) e = v;
}
template <int M, int N, int K, class T>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, T>& f, unsigned ld, layout_t l) {
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (l == mem_col_major ? p[c * ld + r] : p[r * ld + c]) = f.x[r * N + c];
}
template <int M, int N, int K, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, precision::tf32, LA>& a,
                     const fragment<matrix_b, M, N, K, precision::tf32, LB>& b,
                     const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int p = 0; p < K; ++p) s += __float_to_tf32(a.x[i * K + p]) * __float_to_tf32(b.x[p * N + j]);
      out[i * N + j] = s;
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = out[i];
}
}  // namespace wmma
}  // namespace nvcuda
