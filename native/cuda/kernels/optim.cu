// Optimiser updates in place (PyTorch semantics; the per-element math is in device_math.h).
#include <cmath>

#include "cuda_kernels.h"
#include "device_math.h"
#include "launch.h"

namespace avgk_cuda {
namespace {

__global__ void sgd_kernel(float* param, const float* __restrict__ grad, float* buf, int64_t n, float lr,
                           float momentum, float wd, bool nesterov, bool first) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dm::sgd_update(param[i], grad[i], momentum != 0.0f ? buf + i : nullptr, lr, momentum, wd, nesterov, first);
}

__global__ void adam_kernel(float* param, const float* __restrict__ grad, float* m, float* v, int64_t n,
                            dm::AdamHyper h) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dm::adam_update(param[i], grad[i], m[i], v[i], h);
}

}  // namespace

void sgd_step(float* param, const float* grad, float* buf, int64_t n, float lr, float momentum, float wd,
              bool nesterov, bool first_step) {
  if (n <= 0) return;
  AVGK_LAUNCH(sgd_kernel, blocks_for(n), kThreads, param, grad, buf, n, lr, momentum, wd, nesterov, first_step);
  check_launch("sgdStep");
}

void adam_step(float* param, const float* grad, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
               double eps, double wd, int64_t step, bool decoupled) {
  if (n <= 0) return;
  dm::AdamHyper h;
  h.lr = static_cast<float>(lr);
  h.beta1 = static_cast<float>(beta1);
  h.beta2 = static_cast<float>(beta2);
  h.eps = static_cast<float>(eps);
  h.wd = static_cast<float>(wd);
  h.omb1 = static_cast<float>(1.0 - beta1);
  h.omb2 = static_cast<float>(1.0 - beta2);
  h.c1 = static_cast<float>(1.0 - std::pow(beta1, static_cast<double>(step)));
  h.c2 = static_cast<float>(1.0 - std::pow(beta2, static_cast<double>(step)));
  h.decoupled = decoupled;
  AVGK_LAUNCH(adam_kernel, blocks_for(n), kThreads, param, grad, m, v, n, h);
  check_launch("adamStep");
}

}  // namespace avgk_cuda
