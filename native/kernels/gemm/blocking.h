// Block sizes for every SGEMM micro-kernel, in ONE place.
//
// Terminology (BLIS, seen on C^T so that the vector dimension of the micro-kernel is the contiguous
// dimension of row-major C):
//   MR  rows of the micro-tile, broadcast one scalar at a time from the packed "S" panel (MR x KC);
//   NR  columns of the micro-tile, held in SIMD vectors, loaded from the packed "V" panel (KC x NR);
//   KC  depth of one rank-KC update: the S micro-panel (MR*KC floats) lives in L1;
//   MC  width (along the vector dimension) of the packed V block (KC x MC floats): lives in L2;
//   NC  height (along the broadcast dimension) of the packed S block (NC x KC floats): lives in L3.
// Loop nest (per thread):  jc: S in NC steps / pc: K in KC steps [pack S] / ic: V in MC steps [pack V]
//                          / jr: S in MR steps / ir: V in NR steps -> micro-kernel.
// Tuned for AMD Zen4/Zen5 (48 KiB L1d, 1 MiB L2 per core, large shared L3, 2x512-bit FMA).
#pragma once

namespace avgk {
namespace gemm_blocking {

// AVX-512 micro-kernel (gemm_kernel_avx512.cc).
constexpr int AVX512_MR = 6;
constexpr int AVX512_NR = 64;  // 4 zmm
// KC = 512 (S micro-panel 12 KiB in L1, V block 384 KiB in L2): one K block up to k = 512, so C is
// read and written once there. Against KC = 384 on Zen 5 (interleaved runs, median GFLOP/s):
// 512^3 204 -> 209 on 1 thread and 354 -> 395 on 2; 1024^3 382 -> 397 on 2; others within noise.
constexpr int AVX512_KC = 512;
constexpr int AVX512_MC = 192;
constexpr int AVX512_NC = 4032;  // multiple of MR

// AVX2+FMA micro-kernel (gemm_kernel_avx2.cc): 6x16 (12 ymm accumulators).
constexpr int AVX2_MR = 6;
constexpr int AVX2_NR = 16;
constexpr int AVX2_KC = 256;
constexpr int AVX2_MC = 512;
constexpr int AVX2_NC = 4032;

// Portable scalar micro-kernel (gemm_kernel_portable.cc).
constexpr int PORTABLE_MR = 4;
constexpr int PORTABLE_NR = 16;
constexpr int PORTABLE_KC = 256;
constexpr int PORTABLE_MC = 512;
constexpr int PORTABLE_NC = 4096;

// Small-problem path (gemm_small.cc): matrices of at most SMALL_MAX_MACS multiply-adds (m*n*k) skip
// the blocked driver and never split one matrix between threads (the choice depends on the shape
// only, never on the thread count, so results do not either); V is packed only if it fits in
// SMALL_MAX_PACK floats. On one Zen 5 thread the small path beats the blocked driver up to 128^3
// and beyond (64^3: 2.4 vs 3.4 us, 128^3: 21 vs 23 us); the blocked driver on 2 threads catches up
// at about 112^3.
constexpr double SMALL_MAX_MACS = 112.0 * 112 * 112;
constexpr double SMALL_MAX_PACK = 64.0 * 1024;

// Threading heuristics.
// Below MIN_FLOPS_PER_THREAD flops per thread: fewer threads. Waking the OpenMP team costs several
// us (64^3 NN through JS: 3.8 us on 1 thread, 6.5-33 us on 2); 2 threads break even near 100^3.
constexpr double MIN_FLOPS_PER_THREAD = 2.0 * 96 * 96 * 96;
constexpr double BATCH_PARALLEL_MAX_FLOPS = 2.0 * 192 * 192 * 192;  // per-matrix; below: split the batch

}  // namespace gemm_blocking
}  // namespace avgk
