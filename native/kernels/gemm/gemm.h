// Plain C++ SGEMM entry point (no N-API). See gemm.cc for the BLIS-style implementation.
#pragma once
#include <cstdint>

namespace avgk {

// Batched strided SGEMM: for t in [0, batch):
//   C_t = alpha * A_t * B_t + beta * C_t,  A_t m×k, B_t k×n, C_t m×n
//   A_t(i,p) = A[t*bsA + i*rsA + p*csA], B_t(p,j) = B[t*bsB + p*rsB + j*csB],
//   C_t(i,j) = C[t*bsC + i*rsC + j]   (unit column stride)
// beta == 0 overwrites C (NaN/Inf in C never propagate). Transposes are expressed through strides.
// Multi-threaded over the pool configured by set_num_threads().
void sgemm(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha,
           const float* A, int64_t rsA, int64_t csA, int64_t bsA,
           const float* B, int64_t rsB, int64_t csB, int64_t bsB,
           float beta, float* C, int64_t rsC, int64_t bsC);

// Left operand packed once and reused by many products with the same A (convolution weights: one
// pack per conv call instead of one per image chunk). Packed layout: for each K block (kcb deep,
// the last one shorter), ceil(m/MR) micro-panels of MR x kc, zero-padded; the storage is owned by
// the caller (packed_a_floats() floats, 64-byte aligned).
struct PackedA {
  const float* data = nullptr;
  int64_t m = 0, k = 0;
  int64_t kcb = 0;   // depth of the K blocks
  int64_t mpad = 0;  // m rounded up to MR
  int mr = 0;        // MR of the micro-kernel that will consume it
};
int64_t packed_a_floats(int64_t m, int64_t k);
// Packs A (m x k, A(i,p) = A[i*rsA + p*csA]) into buf; threaded over the pool unless called from
// inside a parallel region.
PackedA pack_a(int64_t m, int64_t k, const float* A, int64_t rsA, int64_t csA, float* buf);
// For t in [0, batch): C_t = alpha * A * B_t + beta * C_t with the pre-packed A (m x k),
//   B_t(p,j) = B[t*bsB + p*rsB + j*csB] (k x n), C_t(i,j) = C[t*bsC + i*rsC + j].
// Same threading rules as sgemm (one thread inside a parallel region).
void sgemm_packed_a(const PackedA& pa, int64_t batch, int64_t n, float alpha, const float* B, int64_t rsB,
                    int64_t csB, int64_t bsB, float beta, float* C, int64_t rsC, int64_t bsC);

// V operand supplied by a callback, straight in the micro-kernel's panel layout (convolution: im2col
// fused into the packing, so the im2col matrix is never written out). fill(ctx, p0, kc, v0, nv, nr, dst)
// writes ceil(nv / nr) panels of kc x nr floats, zero past nv:
//   dst[panel*kc*nr + p*nr + x] = V(p0 + p, v0 + panel*nr + x)   (nr = gemm_panel_width(); dst is
// 64-byte aligned). It is called once per (K block, V block) of the blocked loops.
using VPanelFill = void (*)(const void* ctx, int64_t p0, int64_t kc, int64_t v0, int64_t nv, int nr, float* dst);
int gemm_panel_width();
// C(i,j) = C[i*rsC + j] (m x n) = alpha * A * V + beta * C with the pre-packed A and V from fill;
// single-threaded (the caller runs one per thread).
void sgemm_packed_a_fill(const PackedA& pa, int64_t n, float alpha, VPanelFill fill, const void* ctx, float beta,
                         float* C, int64_t rsC);

// C (m x n, C(i,j) = C[i*rsC + j]) = alpha * A * V + beta * C with A(i,p) = A[i*rsA + p*csA] (m x k) and
// V (k x n) from fill; single-threaded.
void sgemm_fill(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA, int64_t csA,
                VPanelFill fill, const void* ctx, float beta, float* C, int64_t rsC);

// Thread count used by every multi-threaded kernel. Until set_num_threads is called: the physical
// cores less those other processes keep busy, re-measured every 200 ms (gemm.cc: auto_threads).
void set_num_threads(int n);
int get_num_threads();

// Name of the SGEMM micro-kernel in use: "avx512", "avx2" or "portable", the best the level of
// cpu_features.h allows (tests may force another one: tuning.h).
const char* gemm_kernel_name();

}  // namespace avgk
