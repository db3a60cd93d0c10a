// Per-element math and index arithmetic of the CUDA kernels, as __host__ __device__ functions so
// that the host test program (native/cuda/tests/device_math_test.cc) checks them on the CPU.
// Semantics follow the TypeScript backend (src/backend/js), the oracle of every parity test.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../../ops.h"

#ifdef __CUDACC__
#define AVGK_HD __host__ __device__ __forceinline__
#else
#define AVGK_HD inline
#endif

namespace avgk_cuda {
namespace dm {

using namespace avgk_ops;

AVGK_HD float f_exp(float x) { return expf(x); }
AVGK_HD float f_log(float x) { return logf(x); }

AVGK_HD uint32_t bits_of(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
AVGK_HD float float_of(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
AVGK_HD bool is_nan(float x) { return x != x; }

// Numerically stable logistic function.
AVGK_HD float sigmoid(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + f_exp(-z));
  const float e = f_exp(z);
  return e / (1.0f + e);
}

// out = f(x; p, q) for the unary op codes of src/backend/ops.ts.
AVGK_HD float unary(int op, float x, float p, float q) {
  switch (op) {
    case U_NEG: return -x;
    case U_EXP: return f_exp(x);
    case U_LOG: return f_log(x);
    case U_SQRT: return sqrtf(x);
    case U_RELU: return x < 0.0f ? 0.0f : x;  // NaN and -0 pass through
    case U_SIGMOID: return sigmoid(x);
    case U_TANH: return tanhf(x);
    case U_ABS: return fabsf(x);
    case U_POW:
      if (p == 2.0f) return x * x;
      if (p == 1.0f) return x;
      if (p == 0.0f) return 1.0f;
      if (p == 3.0f) return x * x * x;
      return powf(x, p);
    case U_AFFINE: return static_cast<float>(static_cast<double>(p) * x + static_cast<double>(q));
    case U_CLAMP: return x < p ? p : (x > q ? q : x);
    default: return 0.0f;
  }
}

// Which of the forward's input x and output y the backward of `op` reads.
AVGK_HD bool backward_uses_x(int op) {
  return op == U_LOG || op == U_RELU || op == U_ABS || op == U_POW || op == U_CLAMP;
}
AVGK_HD bool backward_uses_y(int op) {
  return op == U_EXP || op == U_SQRT || op == U_SIGMOID || op == U_TANH;
}

// gx = gy * f'(x) given the forward's input x and output y (see backward_uses_x / _y).
AVGK_HD float unary_grad(int op, float x, float y, float gy, float p, float q) {
  switch (op) {
    case U_NEG: return -gy;
    case U_EXP: return gy * y;
    case U_LOG: return gy / x;
    case U_SQRT: return gy / (2.0f * y);
    case U_RELU: return x > 0.0f ? gy : 0.0f;
    case U_SIGMOID: return gy * (y * (1.0f - y));
    case U_TANH: return gy * ((1.0f - y) * (1.0f + y));
    case U_ABS: {
      const float s = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (is_nan(x) ? x : 0.0f));
      return gy * s;
    }
    case U_POW:
      if (p == 0.0f) return 0.0f;  // exactly 0 (PyTorch), even at x = 0
      if (p == 1.0f) return gy;
      if (p == 2.0f) return gy * (2.0f * x);
      if (p == 3.0f) return gy * (3.0f * (x * x));
      return gy * (p * powf(x, p - 1.0f));
    case U_AFFINE: return gy * p;
    case U_CLAMP: return (x >= p && x <= q) ? gy : 0.0f;
    default: return 0.0f;
  }
}

AVGK_HD float binary(int op, float a, float b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_MAX: return (is_nan(a) || is_nan(b)) ? a + b : (a > b ? a : b);  // NaN propagates
    case B_MIN: return (is_nan(a) || is_nan(b)) ? a + b : (a < b ? a : b);
    case B_GE: return a >= b ? 1.0f : 0.0f;
    default: return 0.0f;
  }
}

// Sigmoid BCE with logits for one entry, stable for any finite z:
//   max(z, 0) - z t + log(1 + exp(-|z|)), and its derivative σ(z) - t.
AVGK_HD float bce_loss(float z, float t) {
  const float az = fabsf(z);
  return (z > 0.0f ? z : 0.0f) - z * t + log1pf(f_exp(-az));
}
AVGK_HD float bce_grad(float z, float t) { return sigmoid(z) - t; }

// An unsigned key with the order of the floats: key(a) < key(b) iff a < b, for non-NaN a and b
// (-0 sorts just below +0). NaN keys lie beyond ±Infinity's.
AVGK_HD uint32_t order_key(float f) {
  const uint32_t u = bits_of(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
AVGK_HD float key_to_float(uint32_t k) {
  return float_of((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Element offset of the `linear`-th index (row-major over shape) in a strided view.
AVGK_HD int64_t strided_offset(int64_t linear, const int64_t* shape, const int64_t* strides, int nd) {
  int64_t off = 0;
  for (int d = nd - 1; d >= 0; --d) {
    const int64_t s = shape[d];
    const int64_t i = linear % s;
    linear /= s;
    off += i * strides[d];
  }
  return off;
}

// Adam's update of one parameter (PyTorch semantics; see Backend.adamStep). c1 = 1 - beta1^step,
// c2 = 1 - beta2^step are computed once on the host.
struct AdamHyper {
  float lr, beta1, beta2, eps, wd, omb1, omb2, c1, c2;
  bool decoupled;
};
AVGK_HD void adam_update(float& param, float grad, float& m, float& v, const AdamHyper& h) {
  float g = grad;
  if (h.decoupled) {
    param = param * (1.0f - h.lr * h.wd);
  } else if (h.wd != 0.0f) {
    g = g + h.wd * param;
  }
  m = h.beta1 * m + h.omb1 * g;
  v = h.beta2 * v + h.omb2 * g * g;
  const float mhat = m / h.c1;
  const float vhat = v / h.c2;
  param = param - h.lr * mhat / (sqrtf(vhat) + h.eps);
}

// SGD with momentum (PyTorch semantics; see Backend.sgdStep) for one parameter.
AVGK_HD void sgd_update(float& param, float grad, float* buf, float lr, float momentum, float wd, bool nesterov,
                        bool first) {
  float g = grad + wd * param;
  if (momentum != 0.0f) {
    const float b = first ? g : momentum * (*buf) + g;
    *buf = b;
    g = nesterov ? g + momentum * b : b;
  }
  param = param - lr * g;
}

// Output size of a convolution or pooling window along one axis.
AVGK_HD int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// The output positions o (along one axis) whose window covers input position i:
// o*stride - pad <= i < o*stride - pad + k, clipped to [0, out). Returns [lo, hi).
AVGK_HD void covering_outputs(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t* lo,
                              int64_t* hi) {
  const int64_t ip = i + pad;
  int64_t a = ip - k + 1;
  a = a <= 0 ? 0 : (a + stride - 1) / stride;
  int64_t b = ip / stride + 1;
  if (b > out) b = out;
  *lo = a;
  *hi = b < a ? a : b;
}

}  // namespace dm
}  // namespace avgk_cuda
