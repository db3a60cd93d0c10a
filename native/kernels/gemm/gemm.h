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

// Thread count used by every multi-threaded kernel. Defaults to the number of physical cores.
void set_num_threads(int n);
int get_num_threads();

// Name of the SGEMM micro-kernel selected at start-up: "avx512", "avx2" or "portable"
// (override with env AVGK_GEMM_KERNEL=portable|avx2|avx512).
const char* gemm_kernel_name();

}  // namespace avgk
