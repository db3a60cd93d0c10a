// The CUDA kernels' launchers: plain C++ on device pointers, no N-API. They mirror the Backend
// interface of src/backend/types.ts (same semantics and op codes as the CPU kernels of
// native/kernels/kernels.h); pointers are device pointers, already offset. Every launcher enqueues
// its work on the addon's stream and returns without waiting, except where a comment says it
// synchronises. Failures throw CudaError (errors.h); the binding validated every size before.
#pragma once
#include <cstdint>

#include "../../ops.h"

namespace avgk_cuda {

using namespace avgk_ops;

struct ConvGeom { int64_t n, c, h, w, o, kh, kw, stride, pad, oh, ow; };
struct PoolGeom { int64_t n, c, h, w, k, stride, pad, oh, ow; };
constexpr int kMaxDims = 8;

// ---------------------------------------------------------------- elementwise.cu
void unary(int op, const float* x, float* out, int64_t n, float p, float q);
// x / y may be null when the op's backward does not read them (dm::backward_uses_x / _y).
void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p, float q);
// out (contiguous, of shape) = a (op) b read through strides (0 = broadcast); ndim <= kMaxDims.
void binary(int op, const float* a, const int64_t* aStrides, const float* b, const int64_t* bStrides, float* out,
            const int64_t* shape, int ndim);
// out[Σ i_d outStrides[d]] = x[Σ i_d xStrides[d]] over every index of shape (element size 4 bytes:
// float32 and int32 alike).
void copy_strided(const void* x, const int64_t* xStrides, void* out, const int64_t* outStrides, const int64_t* shape,
                  int ndim);
void fill(float* x, int64_t n, float value);
// y = a*y + b*x
void axpby(const float* x, float* y, int64_t n, float a, float b);

// ---------------------------------------------------------------- reduce.cu
void reduce_sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);
void reduce_max(const float* x, float* out, int32_t* argmax, int64_t outer, int64_t mid, int64_t inner);
// gx (outer*mid*inner, overwritten) = gy scattered at argmax, zero elsewhere.
void reduce_max_backward(const float* gy, const int32_t* argmax, float* gx, int64_t outer, int64_t mid, int64_t inner);

// ---------------------------------------------------------------- index.cu
// Indices outside [0, length) are never dereferenced: take reads NaN for them, the puts skip them.
// out[k] = x[idx[k]] for k < n.
void take(const float* x, int64_t nx, const int32_t* idx, float* out, int64_t n);
// gx[idx[k]] += g[k] for k < n (atomic: duplicates accumulate).
void put_add(const float* g, const int32_t* idx, float* gx, int64_t ngx, int64_t n);
// x[idx[k]] = value for k < n.
void put_value(float* x, int64_t nx, const int32_t* idx, int64_t n, float value);

// ---------------------------------------------------------------- gemm.cu
// Batched strided SGEMM with the semantics of avgk::sgemm (native/kernels/gemm/gemm.h):
//   C_t = alpha * A_t B_t + beta * C_t, A_t(i,p) = A[t*bsA + i*rsA + p*csA], B_t likewise,
//   C_t(i,j) = C[t*bsC + i*rsC + j]; beta == 0 overwrites C (NaN in C never propagates).
void sgemm(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA, int64_t csA,
           int64_t bsA, const float* B, int64_t rsB, int64_t csB, int64_t bsB, float beta, float* C, int64_t rsC,
           int64_t bsC);
// sgemm with a per-row bias (nullable) added in the epilogue: C = alpha*AB + bias[i] + beta*C (the
// convolutions' forward).
void sgemm_bias(int64_t batch, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t rsA,
                int64_t csA, int64_t bsA, const float* B, int64_t rsB, int64_t csB, int64_t bsB, float beta, float* C,
                int64_t rsC, int64_t bsC, const float* bias);
// TF32 tensor cores for sgemm (and the convolutions through it), fp32 accumulation. Off by default.
void set_tf32(bool on);
bool tf32();

// ---------------------------------------------------------------- conv.cu
void conv2d_forward(const float* x, const float* w, const float* bias /*nullable*/, float* out, const ConvGeom& g);
void conv2d_backward_input(const float* gy, const float* w, float* gx, const ConvGeom& g);
void conv2d_backward_weight(const float* x, const float* gy, float* gw, const ConvGeom& g);

// ---------------------------------------------------------------- pool.cu
void maxpool2d_forward(const float* x, float* out, int32_t* argmax, const PoolGeom& g);
void maxpool2d_backward(const float* gy, const int32_t* argmax, float* gx, const PoolGeom& g);
void avgpool2d_forward(const float* x, float* out, const PoolGeom& g);
void avgpool2d_backward(const float* gy, float* gx, const PoolGeom& g);

// ---------------------------------------------------------------- batchnorm.cu
void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* var,
                       int64_t n, int64_t c, int64_t hw, float eps, bool training, bool relu);
// y: the fused-ReLU forward output, or null without the ReLU.
void batchnorm_backward(const float* x, const float* gy, const float* y, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        float eps, bool training);

// ---------------------------------------------------------------- softmax.cu
void softmax(const float* x, float* out, int64_t rows, int64_t cols, bool log);
void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log);
// loss[0] = Σ_i loss_i (a device scalar); grad (nullable) as Backend.softmaxCrossEntropy.
// Labels are validated by the caller.
void softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols, float smoothing,
                           float* grad, float* loss);
void sigmoid_bce(const float* logits, const float* targets, const float* weights /*nullable*/, float* grad /*nullable*/,
                 int64_t n, float* loss);

// ---------------------------------------------------------------- select.cu
// out[0] = the m-th largest (m = 1: the maximum) among the entries whose mask byte is non-zero (all
// when mask is null); NaN when a selected entry is NaN or m is outside [1, #selected]. On device:
// no synchronisation.
void select_kth(const float* x, int64_t n, int64_t m, const uint8_t* mask, float* out);
// targets[i] = 1 for the m largest selected entries (ties at the threshold: lowest index first);
// other entries untouched. m <= 0 marks nothing.
void mark_top(const float* x, int64_t n, int64_t m, const uint8_t* mask, float* targets);
// Counts the entries > t[0] and == t[0] (t: a device scalar). Synchronises; results on the host.
void count_above_equal(const float* x, int64_t n, const float* t, int64_t* above, int64_t* equal);

// ---------------------------------------------------------------- optim.cu
void sgd_step(float* param, const float* grad, float* buf, int64_t n, float lr, float momentum, float wd,
              bool nesterov, bool first_step);
void adam_step(float* param, const float* grad, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
               double eps, double wd, int64_t step, bool decoupled);

}  // namespace avgk_cuda
