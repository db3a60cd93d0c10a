// 2-D convolution (NCHW activations, OIHW weights, square stride and padding) through the SGEMM of
// gemm.cu, with the semantics of the CPU kernels (native/kernels/conv.cc).
//
// im2col matrix of a chunk of nb images: col(r, b, q) at col[r*ldr + b*ldb + q], with
// r = (c*kh + i)*kw + j in [0, K = C*kh*kw) and q = oy*OW + ox in [0, HW = OH*OW). Two layouts:
//   direct: per image [K][HWp] (ldr = HWp, HW rounded up to 4 so that the GEMM loads float4;
//     ldb = K*HWp). The GEMMs are batched over the images of the chunk and read / write the NCHW
//     tensors in place. Used when HW >= direct_min_hw or when a chunk holds one image.
//   wide: [K][ldw] with the images side by side (ldw >= nb*HW, ldb = HW), so that a small HW (deep
//     layers) still gives the GEMM a long n = nb*HW; out / gy then go through a [O][ldw] copy.
// Forward: out_b = W[O,K] col_b, the bias added in the GEMM's epilogue (direct) or in the copy back
//   from the wide layout.
// Backward input: colG = W^T gy, then col2im as a gather: each input pixel sums the entries of the
//   output positions whose window covers it (dm::covering_outputs): no atomics, deterministic.
//   Stride 1 with square kernels, pad <= k-1 and C >= kRotateMinC: the forward convolution of gy
//   with the weights transposed (O <-> C) and rotated by 180 degrees, padding k-1-pad, instead: its
//   GEMM is C x (O*k*k) deep rather than (C*k*k) x O, and no col2im.
// Backward weight: gW = Σ_chunks gy_chunk[O, nb*HW] col_chunk^T: one GEMM per chunk with
//   k = nb*HW (beta = 1 after the first), wide layout; gemm.cu splits a deep k over more blocks.
// 1x1 kernels with stride 1 and no padding need no im2col in the direct layout: x is its own col.
// Scratch comes from the device pool, chunked over images to stay within scratch_bytes (a chunk
// holds at least one image), and is released on every path. A call whose one-image scratch exceeds
// max_image_scratch_bytes is refused before anything is allocated.
#include <cstdint>
#include <cstdio>
#include <string>

#include "cuda_kernels.h"
#include "device_math.h"
#include "launch.h"
#include "runtime.h"

namespace avgk_cuda {

// Tuning knobs (not in cuda_kernels.h; the parity test declares them extern to reach every path).
namespace conv_tuning {
int64_t scratch_bytes = 256LL << 20;  // scratch per call (soft: at least one image per chunk)
int64_t direct_min_hw = 256;          // OH*OW from which the direct layout is used
int64_t max_image_scratch_bytes = 2LL << 30;  // hard: a call needing more for one image is refused
}  // namespace conv_tuning

namespace {

int64_t round4(int64_t v) { return (v + 3) / 4 * 4; }

struct Scratch {
  float* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(int64_t floats) : bytes(static_cast<size_t>(floats) * sizeof(float)) {
    if (floats > 0) p = static_cast<float*>(alloc(bytes));
  }
  ~Scratch() { release(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// One thread per output position (b, q) of the chunk; blockIdx.y strides over the channels, whose
// kh*kw taps the thread writes down its column of col (coalesced along q).
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ col, int64_t nb, int64_t C, int64_t H,
                              int64_t W, int kh, int kw, int64_t stride, int64_t pad, int64_t oh, int64_t ow,
                              int64_t ldr, int64_t ldb) {
  const int64_t hw = oh * ow, total = nb * hw, plane = H * W;
  for (int64_t pos = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; pos < total;
       pos += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = pos / hw, q = pos - b * hw;
    const int64_t oy = q / ow, ox = q - oy * ow;
    const int64_t iy0 = oy * stride - pad, ix0 = ox * stride - pad;
    for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
      const float* xp = x + (b * C + c) * plane;
      float* cp = col + c * kh * kw * ldr + b * ldb + q;
      for (int i = 0; i < kh; ++i) {
        const int64_t iy = iy0 + i;
        const bool row_in = iy >= 0 && iy < H;
        for (int j = 0; j < kw; ++j) {
          const int64_t ix = ix0 + j;
          *cp = row_in && ix >= 0 && ix < W ? xp[iy * W + ix] : 0.0f;
          cp += ldr;
        }
      }
    }
  }
}

// gx (the chunk, NCHW, overwritten) from colG: one thread per input pixel (b, y, x), summing the
// taps (i, j) = (y + pad - oy*stride, x + pad - ox*stride) of the output positions covering it.
__global__ void col2im_kernel(const float* __restrict__ col, float* __restrict__ gx, int64_t nb, int64_t C, int64_t H,
                              int64_t W, int kh, int kw, int64_t stride, int64_t pad, int64_t oh, int64_t ow,
                              int64_t ldr, int64_t ldb) {
  const int64_t plane = H * W, total = nb * plane;
  for (int64_t pos = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; pos < total;
       pos += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = pos / plane, rem = pos - b * plane;
    const int64_t y = rem / W, x = rem - y * W;
    int64_t ylo, yhi, xlo, xhi;
    dm::covering_outputs(y, kh, stride, pad, oh, &ylo, &yhi);
    dm::covering_outputs(x, kw, stride, pad, ow, &xlo, &xhi);
    for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
      const float* cb = col + c * kh * kw * ldr + b * ldb;
      float s = 0.0f;
      for (int64_t oy = ylo; oy < yhi; ++oy) {
        const int64_t i = y + pad - oy * stride;
        const float* rp = cb + i * kw * ldr + oy * ow;
        for (int64_t ox = xlo; ox < xhi; ++ox) {
          const int64_t j = x + pad - ox * stride;
          s += rp[j * ldr + ox];
        }
      }
      gx[(b * C + c) * plane + rem] = s;
    }
  }
}

// wr[c][o][kk-1-t] = w[o][c][t] (t = i*kw + j over the kk = kh*kw taps): transposed, rotated by 180.
__global__ void rotate_weights_kernel(const float* __restrict__ w, float* __restrict__ wr, int64_t O, int64_t C,
                                      int64_t kk) {
  const int64_t ckk = C * kk, total = O * ckk;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = idx / ckk, r = idx - o * ckk;
    const int64_t c = r / kk, t = r - c * kk;
    wr[(c * O + o) * kk + (kk - 1 - t)] = w[idx];
  }
}

// dst[o*ldw + b*hw + q] = src[(b*O + o)*hw + q]: a chunk of NCHW planes into the wide layout.
__global__ void to_wide_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t nb, int64_t O,
                               int64_t hw, int64_t ldw) {
  const int64_t ohw = O * hw, total = nb * ohw;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = idx / ohw, r = idx - b * ohw;
    const int64_t o = r / hw, q = r - o * hw;
    dst[o * ldw + b * hw + q] = src[idx];
  }
}

// The reverse, plus bias[o] (nullable).
__global__ void from_wide_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t nb, int64_t O,
                                 int64_t hw, int64_t ldw, const float* __restrict__ bias) {
  const int64_t ohw = O * hw, total = nb * ohw;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = idx / ohw, r = idx - b * ohw;
    const int64_t o = r / hw, q = r - o * hw;
    dst[idx] = src[o * ldw + b * hw + q] + (bias ? bias[o] : 0.0f);
  }
}

// Grid of the im2col / col2im kernels: blocks over `positions` along x, channels along y while the
// positions alone give few blocks.
dim3 channel_grid(int64_t positions, int64_t channels) {
  const unsigned bx = blocks_for(positions);
  int64_t by = (8192 + bx - 1) / bx;
  if (by > channels) by = channels;
  if (by > 65535) by = 65535;
  if (by < 1) by = 1;
  return dim3(bx, static_cast<unsigned>(by));
}

void im2col(const float* x, float* col, int64_t nb, const ConvGeom& g, int64_t ldr, int64_t ldb) {
  AVGK_LAUNCH(im2col_kernel, channel_grid(nb * g.oh * g.ow, g.c), kThreads, x, col, nb, g.c, g.h, g.w,
              static_cast<int>(g.kh), static_cast<int>(g.kw), g.stride, g.pad, g.oh, g.ow, ldr, ldb);
  check_launch("conv2d (im2col)");
}

void col2im(const float* col, float* gx, int64_t nb, const ConvGeom& g, int64_t ldr, int64_t ldb) {
  AVGK_LAUNCH(col2im_kernel, channel_grid(nb * g.h * g.w, g.c), kThreads, col, gx, nb, g.c, g.h, g.w,
              static_cast<int>(g.kh), static_cast<int>(g.kw), g.stride, g.pad, g.oh, g.ow, ldr, ldb);
  check_launch("conv2d (col2im)");
}

void to_wide(const float* src, float* dst, int64_t nb, int64_t O, int64_t hw, int64_t ldw) {
  const int64_t total = nb * O * hw;
  AVGK_LAUNCH(to_wide_kernel, blocks_for(total), kThreads, src, dst, nb, O, hw, ldw);
  check_launch("conv2d (wide copy)");
}

void from_wide(const float* src, float* dst, int64_t nb, int64_t O, int64_t hw, int64_t ldw, const float* bias) {
  const int64_t total = nb * O * hw;
  AVGK_LAUNCH(from_wide_kernel, blocks_for(total), kThreads, src, dst, nb, O, hw, ldw, bias);
  check_launch("conv2d (wide copy back)");
}

// Refuses (CudaError, before any allocation) a call of `op` on g whose one image needs more than
// max_image_scratch_bytes of scratch: `k` rows of `cols` floats (the direct im2col of one image).
void check_image_scratch(const char* op, const ConvGeom& g, int64_t k, int64_t cols) {
  const int64_t cap = conv_tuning::max_image_scratch_bytes;
  if (k <= 0 || cols <= 0 || k <= cap / 4 / cols) return;
  char msg[400];
  std::snprintf(msg, sizeof msg,
                "%s: one image needs %.0f bytes of im2col scratch (%lld x %lld floats), more than the %lld-byte "
                "cap, for n=%lld c=%lld h=%lld w=%lld o=%lld kh=%lld kw=%lld stride=%lld pad=%lld",
                op, 4.0 * static_cast<double>(k) * static_cast<double>(cols), static_cast<long long>(k),
                static_cast<long long>(cols), static_cast<long long>(cap), static_cast<long long>(g.n),
                static_cast<long long>(g.c), static_cast<long long>(g.h), static_cast<long long>(g.w),
                static_cast<long long>(g.o), static_cast<long long>(g.kh), static_cast<long long>(g.kw),
                static_cast<long long>(g.stride), static_cast<long long>(g.pad));
  throw CudaError("cudaErrorInvalidValue", msg);
}

// Images per chunk for `per_image` floats of scratch each.
int64_t chunk_images(int64_t n, int64_t per_image) {
  int64_t nb = per_image > 0 ? conv_tuning::scratch_bytes / (4 * per_image) : n;
  if (nb > n) nb = n;
  return nb < 1 ? 1 : nb;
}

bool pointwise(const ConvGeom& g) { return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0; }

constexpr int64_t kRotateMinC = 16;  // below, the rotated form's GEMM (m = C) is too thin

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* bias, float* out, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, hw = g.oh * g.ow, chw = g.c * g.h * g.w, ohw = g.o * hw;
  if (g.n <= 0 || g.o <= 0 || hw <= 0) return;
  const bool direct = hw >= conv_tuning::direct_min_hw || g.n == 1;
  if (K == 0 || (direct && pointwise(g))) {
    // out_b[O, HW] = W[O, C] x_b[C, HW] for every image at once (K == 0: the bias alone)
    sgemm_bias(g.n, g.o, hw, K, 1.0f, w, K, 1, 0, x, hw, 1, chw, 0.0f, out, hw, ohw, bias);
    return;
  }
  const int64_t hwp = round4(hw);
  check_image_scratch("conv2d forward", g, K, hwp);
  const int64_t nb = chunk_images(g.n, direct ? K * hwp : (K + g.o) * (hw + 1));
  if (direct || nb == 1) {
    Scratch col(nb * K * hwp);
    for (int64_t b0 = 0; b0 < g.n; b0 += nb) {
      const int64_t nbc = g.n - b0 < nb ? g.n - b0 : nb;
      im2col(x + b0 * chw, col.p, nbc, g, hwp, K * hwp);
      sgemm_bias(nbc, g.o, hw, K, 1.0f, w, K, 1, 0, col.p, hwp, 1, K * hwp, 0.0f, out + b0 * ohw, hw, ohw, bias);
    }
    return;
  }
  const int64_t ldmax = round4(nb * hw);
  Scratch col(K * ldmax), tmp(g.o * ldmax);
  for (int64_t b0 = 0; b0 < g.n; b0 += nb) {
    const int64_t nbc = g.n - b0 < nb ? g.n - b0 : nb;
    const int64_t ldw = round4(nbc * hw);
    im2col(x + b0 * chw, col.p, nbc, g, ldw, hw);
    sgemm_bias(1, g.o, nbc * hw, K, 1.0f, w, K, 1, 0, col.p, ldw, 1, 0, 0.0f, tmp.p, ldw, 0, nullptr);
    from_wide(tmp.p, out + b0 * ohw, nbc, g.o, hw, ldw, bias);
  }
}

void conv2d_backward_input(const float* gy, const float* w, float* gx, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, hw = g.oh * g.ow, chw = g.c * g.h * g.w, ohw = g.o * hw;
  if (g.n <= 0 || chw <= 0) return;
  if (hw <= 0 || g.o <= 0) {
    // no output position: the gradient is zero
    fill_bytes(gx, 0, static_cast<size_t>(g.n * chw) * sizeof(float));
    return;
  }
  const bool direct = hw >= conv_tuning::direct_min_hw || g.n == 1;
  // A = W^T: A(r, o) = w[o*K + r]
  if (direct && pointwise(g)) {
    sgemm_bias(g.n, g.c, hw, g.o, 1.0f, w, 1, K, 0, gy, hw, 1, ohw, 0.0f, gx, hw, chw, nullptr);
    return;
  }
  if (g.stride == 1 && g.kh == g.kw && g.pad <= g.kh - 1 && g.c >= kRotateMinC) {
    // gx = conv(gy, rot180(W^T)) with padding k-1-pad: output size (OH + k-1 - 2 pad) = H
    const int64_t kk = g.kh * g.kw;
    check_image_scratch("conv2d backward input", g, g.o * kk, round4(g.h * g.w));
    Scratch wr(g.o * g.c * kk);
    AVGK_LAUNCH(rotate_weights_kernel, blocks_for(g.o * g.c * kk), kThreads, w, wr.p, g.o, g.c, kk);
    check_launch("conv2d (rotated weights)");
    const ConvGeom t{g.n, g.o, g.oh, g.ow, g.c, g.kh, g.kw, 1, g.kh - 1 - g.pad, g.h, g.w};
    conv2d_forward(gy, wr.p, nullptr, gx, t);
    return;
  }
  const int64_t hwp = round4(hw);
  check_image_scratch("conv2d backward input", g, K, hwp);
  const int64_t nb = chunk_images(g.n, direct ? K * hwp : (K + g.o) * (hw + 1));
  if (direct || nb == 1) {
    Scratch col(nb * K * hwp);
    for (int64_t b0 = 0; b0 < g.n; b0 += nb) {
      const int64_t nbc = g.n - b0 < nb ? g.n - b0 : nb;
      sgemm_bias(nbc, K, hw, g.o, 1.0f, w, 1, K, 0, gy + b0 * ohw, hw, 1, ohw, 0.0f, col.p, hwp, K * hwp, nullptr);
      col2im(col.p, gx + b0 * chw, nbc, g, hwp, K * hwp);
    }
    return;
  }
  const int64_t ldmax = round4(nb * hw);
  Scratch col(K * ldmax), gyw(g.o * ldmax);
  for (int64_t b0 = 0; b0 < g.n; b0 += nb) {
    const int64_t nbc = g.n - b0 < nb ? g.n - b0 : nb;
    const int64_t ldw = round4(nbc * hw);
    to_wide(gy + b0 * ohw, gyw.p, nbc, g.o, hw, ldw);
    sgemm_bias(1, K, nbc * hw, g.o, 1.0f, w, 1, K, 0, gyw.p, ldw, 1, 0, 0.0f, col.p, ldw, 0, nullptr);
    col2im(col.p, gx + b0 * chw, nbc, g, ldw, hw);
  }
}

void conv2d_backward_weight(const float* x, const float* gy, float* gw, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, hw = g.oh * g.ow, chw = g.c * g.h * g.w, ohw = g.o * hw;
  if (g.o <= 0 || K <= 0) return;
  if (g.n <= 0 || hw <= 0) {
    // no output position: the gradient is zero (a GEMM with k = 0)
    sgemm_bias(1, g.o, K, 0, 1.0f, nullptr, 0, 0, 0, nullptr, 0, 0, 0, 0.0f, gw, K, 0, nullptr);
    return;
  }
  const bool pw = pointwise(g);
  const int64_t hwp = round4(hw);
  if (!pw) check_image_scratch("conv2d backward weight", g, K, hwp);
  const int64_t nb = chunk_images(g.n, (K + g.o) * (hw + 1));
  if (nb == 1) {
    // per image: gW (+)= gy_b[O, HW] col_b^T, B(q, r) = col[r*ld + q]
    Scratch col(pw ? 0 : K * hwp);
    for (int64_t b = 0; b < g.n; ++b) {
      const float* cb = x + b * chw;
      int64_t ld = hw;
      if (!pw) {
        im2col(cb, col.p, 1, g, hwp, K * hwp);
        cb = col.p;
        ld = hwp;
      }
      sgemm_bias(1, g.o, K, hw, 1.0f, gy + b * ohw, hw, 1, 0, cb, 1, ld, 0, b == 0 ? 0.0f : 1.0f, gw, K, 0,
                 nullptr);
    }
    return;
  }
  const int64_t ldmax = round4(nb * hw);
  Scratch col(K * ldmax), gyw(g.o * ldmax);
  for (int64_t b0 = 0; b0 < g.n; b0 += nb) {
    const int64_t nbc = g.n - b0 < nb ? g.n - b0 : nb;
    const int64_t ldw = round4(nbc * hw);
    to_wide(gy + b0 * ohw, gyw.p, nbc, g.o, hw, ldw);
    im2col(x + b0 * chw, col.p, nbc, g, ldw, hw);
    sgemm_bias(1, g.o, K, nbc * hw, 1.0f, gyw.p, ldw, 1, 0, col.p, 1, ldw, 0, b0 == 0 ? 0.0f : 1.0f, gw, K, 0,
               nullptr);
  }
}

}  // namespace avgk_cuda
