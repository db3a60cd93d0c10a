// Declarations of every native kernel: plain C++17 on raw pointers, no N-API.
// They mirror the Backend interface in src/backend/types.ts (same semantics, same op codes).
// Kernels may throw std::invalid_argument / std::runtime_error; the binding layer turns those into
// JS errors. Argument validation (lengths, shapes) happens in the binding layer before the call.
#pragma once
#include <cstdint>
#include "gemm/gemm.h"
#include "../ops.h"

namespace avgk {

using namespace avgk_ops;  // op codes (native/ops.h, generated from src/backend/ops.ts)

struct ConvGeom { int64_t n, c, h, w, o, kh, kw, stride, pad, oh, ow; };
struct PoolGeom { int64_t n, c, h, w, k, stride, pad, oh, ow; };

// elementwise.cc
void unary(int op, const float* x, float* out, int64_t n, float p, float q);
void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p, float q);
void binary(int op, const float* a, const int64_t* aStrides, const float* b, const int64_t* bStrides,
            float* out, const int64_t* shape, int ndim);  // a, b already offset
template <typename T>
void copy_strided(const T* x, const int64_t* xStrides, T* out, const int64_t* outStrides,
                  const int64_t* shape, int ndim);  // x, out already offset

// reduce.cc
void reduce_sum(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);
void reduce_max(const float* x, float* out, int32_t* argmax, int64_t outer, int64_t mid, int64_t inner);

// conv.cc (through sgemm)
void conv2d_forward(const float* x, const float* w, const float* bias /*nullable*/, float* out, const ConvGeom& g);
void conv2d_backward_input(const float* gy, const float* w, float* gx, const ConvGeom& g);
void conv2d_backward_weight(const float* x, const float* gy, float* gw, const ConvGeom& g);

// pool.cc
void maxpool2d_forward(const float* x, float* out, int32_t* argmax, const PoolGeom& g);
void maxpool2d_backward(const float* gy, const int32_t* argmax, float* gx, const PoolGeom& g);
void avgpool2d_forward(const float* x, float* out, const PoolGeom& g);
void avgpool2d_backward(const float* gy, float* gx, const PoolGeom& g);

// batchnorm.cc
// relu: out = max(0, bn(x)) (a fused ReLU). Backward: y = that fused output (nullptr without the
// ReLU); the gradient is then taken through the ReLU first (gy where y > 0, else 0).
void batchnorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* var,
                       int64_t n, int64_t c, int64_t hw, float eps, bool training, bool relu);
void batchnorm_backward(const float* x, const float* gy, const float* y, const float* gamma, const float* mean,
                        const float* var, float* gx, float* ggamma, float* gbeta, int64_t n, int64_t c, int64_t hw,
                        float eps, bool training);

// softmax.cc / losses.cc
void softmax(const float* x, float* out, int64_t rows, int64_t cols, bool log);
void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log);
double softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int64_t cols,
                             float smoothing, float* grad /*nullable*/);
double sigmoid_bce(const float* logits, const float* targets, const float* weights /*nullable*/,
                   float* grad /*nullable*/, int64_t n);

// select.cc
float select_kth(const float* x, int64_t n, int64_t m, const uint8_t* mask /*nullable*/);

// optim.cc
void sgd_step(float* param, const float* grad, float* buf, int64_t n, float lr, float momentum, float wd,
              bool nesterov, bool first_step);
void adam_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
               float eps, float wd, int64_t step, bool decoupled);
// adam_step with the hyper-parameters in double (the binding's entry point: 1 - beta is formed in
// double, as the TypeScript backend does).
void adam_step_d(float* param, const float* grad, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
                 double eps, double wd, int64_t step, bool decoupled);

// memory.cc: keep freed large blocks in the heap (see the file), process-wide; the first call applies
// it, later calls return the same result. Returns whether it applied (false with
// AVGK_MALLOC_TUNING=0 or without glibc).
bool tune_allocator();

}  // namespace avgk
