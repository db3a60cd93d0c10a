// In-place optimiser updates: SGD (momentum, Nesterov, weight decay) and Adam / AdamW.
#include <cmath>

#include "kernels.h"
#include "vmath.h"

namespace avgk {
namespace {

AVGK_INLINE void sgd_chunk_body(float* __restrict param, const float* __restrict grad, float* __restrict buf, int64_t n,
                           float lr, float momentum, float wd, bool nesterov, bool first) {
  if (momentum == 0.0f) {
    for (int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
    return;
  }
  if (first) {
    if (nesterov) {
      for (int64_t i = 0; i < n; ++i) {
        const float g = grad[i] + wd * param[i];
        buf[i] = g;
        param[i] -= lr * (g + momentum * g);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const float g = grad[i] + wd * param[i];
        buf[i] = g;
        param[i] -= lr * g;
      }
    }
    return;
  }
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad[i] + wd * param[i];
      const float b = momentum * buf[i] + g;
      buf[i] = b;
      param[i] -= lr * (g + momentum * b);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad[i] + wd * param[i];
      const float b = momentum * buf[i] + g;
      buf[i] = b;
      param[i] -= lr * b;
    }
  }
}
AVGK_MULTIVERSION(void, sgd_chunk, (float* __restrict param, const float* __restrict grad, float* __restrict buf, int64_t n, float lr, float momentum, float wd, bool nesterov, bool first), (param, grad, buf, n, lr, momentum, wd, nesterov, first))


AVGK_INLINE void adam_chunk_body(float* __restrict param, const float* __restrict grad, float* __restrict m,
                            float* __restrict v, int64_t n, float lr, float b1, float b2, float c1, float c2, float eps,
                            float wd, float decay, float bc1, float bc2, bool decoupled) {
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i];
    float g = grad[i];
    if (decoupled) {
      p *= decay;
    } else {
      g += wd * p;
    }
    const float mi = b1 * m[i] + c1 * g;
    const float vi = b2 * v[i] + c2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    p -= lr * (mi / bc1) / (__builtin_sqrtf(vi / bc2) + eps);
    param[i] = p;
  }
}
AVGK_MULTIVERSION(void, adam_chunk, (float* __restrict param, const float* __restrict grad, float* __restrict m, float* __restrict v, int64_t n, float lr, float b1, float b2, float c1, float c2, float eps, float wd, float decay, float bc1, float bc2, bool decoupled), (param, grad, m, v, n, lr, b1, b2, c1, c2, eps, wd, decay, bc1, bc2, decoupled))


}  // namespace

void sgd_step(float* param, const float* grad, float* buf, int64_t n, float lr, float momentum, float wd,
              bool nesterov, bool first_step) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    sgd_chunk(param + b, grad + b, buf ? buf + b : nullptr, e - b, lr, momentum, wd, nesterov, first_step);
  });
}

void adam_step_d(float* param, const float* grad, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
                 double eps, double wd, int64_t step, bool decoupled) {
  // (1 - beta) and the bias corrections in double: 1 - 0.999f is off by 1.3e-5 relative
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const float c1 = static_cast<float>(1.0 - beta1), c2 = static_cast<float>(1.0 - beta2);
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float decay = static_cast<float>(1.0 - lr * wd);
  parallel_for(n, [&](int64_t b, int64_t e) {
    adam_chunk(param + b, grad + b, m + b, v + b, e - b, static_cast<float>(lr), b1, b2, c1, c2, static_cast<float>(eps),
               static_cast<float>(wd), decay, static_cast<float>(bc1), static_cast<float>(bc2), decoupled);
  });
}

void adam_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
               float eps, float wd, int64_t step, bool decoupled) {
  adam_step_d(param, grad, m, v, n, lr, beta1, beta2, eps, wd, step, decoupled);
}

}  // namespace avgk
