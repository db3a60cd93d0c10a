// Parity: sgemm (fp32 and TF32) and conv2d forward / backward against the CPU kernels, with an fp64
// reference for the error bounds.
//
// Operand buffers hold NaN wherever the operand has no element (padding of the leading dimension,
// the slack of batch strides and offsets), so that a kernel reading one of them poisons its result;
// C's padding holds a sentinel that must survive. The tile configuration and the split-K factor are
// forced through gemm_tuning to reach every kernel on small problems.
#include <algorithm>
#include <cmath>
#include <limits>

#include "parity.h"

using parity::Dev;

namespace avgk_cuda {
namespace gemm_tuning {
extern int force_config;  // gemm.cu: tile configuration index (-1: heuristic)
extern int force_split;   // gemm.cu: split-K factor (0: heuristic)
}  // namespace gemm_tuning
namespace conv_tuning {
extern int64_t scratch_bytes;  // conv.cu: scratch per call (chunking over images)
extern int64_t direct_min_hw;  // conv.cu: OH*OW from which the direct (per-image) layout is used
}  // namespace conv_tuning
}  // namespace avgk_cuda

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Restores the tuning knobs and the TF32 switch when a case ends (also on exceptions).
struct Knobs {
  int cfg = avgk_cuda::gemm_tuning::force_config, split = avgk_cuda::gemm_tuning::force_split;
  int64_t scratch = avgk_cuda::conv_tuning::scratch_bytes, direct = avgk_cuda::conv_tuning::direct_min_hw;
  bool tf32 = avgk_cuda::tf32();
  ~Knobs() {
    avgk_cuda::gemm_tuning::force_config = cfg;
    avgk_cuda::gemm_tuning::force_split = split;
    avgk_cuda::conv_tuning::scratch_bytes = scratch;
    avgk_cuda::conv_tuning::direct_min_hw = direct;
    avgk_cuda::set_tf32(tf32);
  }
};

// ------------------------------------------------------------------ sgemm
struct GemmCase {
  int64_t batch, m, n, k;
  char la, lb;          // 'r' row-major, 'c' column-major, 'g' no unit stride
  float alpha, beta;
  int off;              // 1: every operand starts one float past a 16-byte boundary, odd batch strides
  int pad;              // extra floats per leading dimension
  bool bcastA, bcastB;  // batch stride 0
};

struct Operand {
  int64_t rs = 0, cs = 0, bs = 0, off = 0, size = 0;
  std::vector<float> h;
};

int64_t round4(int64_t v) { return (v + 3) / 4 * 4; }

// rows x cols operand of the given layout, NaN outside its elements.
Operand make_operand(char layout, int64_t rows, int64_t cols, int64_t batch, bool bcast, int off, int pad,
                     uint32_t seed) {
  Operand o;
  if (layout == 'r') {
    o.rs = cols + pad;
    o.cs = 1;
  } else if (layout == 'c') {
    o.rs = 1;
    o.cs = rows + pad;
  } else {
    o.cs = 2;
    o.rs = 2 * cols + 1 + pad;
  }
  const int64_t extent = rows > 0 && cols > 0 ? (rows - 1) * o.rs + (cols - 1) * o.cs + 1 : 0;
  o.bs = bcast ? 0 : round4(extent) + off;
  o.off = off;
  const int64_t nb = bcast ? 1 : batch;
  o.size = o.off + (nb - 1) * o.bs + extent + 8;
  o.h.assign(o.size, kNaN);
  const auto v = parity::uniform(nb * rows * cols, -1.0f, 1.0f, seed);
  for (int64_t t = 0, q = 0; t < nb; ++t)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) o.h[o.off + t * o.bs + i * o.rs + j * o.cs] = v[q++];
  return o;
}

std::string describe(const GemmCase& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "batch %lld m %lld n %lld k %lld %c%c alpha %g beta %g off %d pad %d%s%s",
                (long long)c.batch, (long long)c.m, (long long)c.n, (long long)c.k, c.la, c.lb, c.alpha, c.beta, c.off,
                c.pad, c.bcastA ? " bcastA" : "", c.bcastB ? " bcastB" : "");
  return buf;
}

struct GemmErr {
  double max_rel = 0;      // max |got - ref| / (|alpha| Σ|a b| + |beta c|)
  double max_scaled = 0;   // max |got - ref| / (|alpha| sqrt(k) max|a| max|b|)
};

// Runs one case on the device and on the CPU; checks the device result against the fp64 reference
// (|err| <= tol * (|alpha| Σ|a b| + |beta c|)) and the CPU kernel (twice that), and C's padding.
GemmErr run_gemm(const GemmCase& c, double tol, const std::string& tag) {
  const uint32_t seed = static_cast<uint32_t>(c.m * 7919 + c.n * 31 + c.k * 3 + c.batch + c.la * 5 + c.lb);
  const Operand A = make_operand(c.la, c.m, c.k, c.batch, c.bcastA, c.off, c.pad, seed);
  const Operand B = make_operand(c.lb, c.k, c.n, c.batch, c.bcastB, c.off, c.pad, seed + 1);
  const int64_t rsC = c.n + c.pad, bsC = c.m * rsC + c.off, offC = c.off;
  const int64_t sizeC = offC + (c.batch - 1) * bsC + (c.m - 1) * rsC + c.n + 8;
  std::vector<float> hc(sizeC, 7.0f);  // sentinel outside C's elements
  std::vector<char> inside(sizeC, 0);
  const auto cv = parity::uniform(c.batch * c.m * c.n, -1.0f, 1.0f, seed + 2);
  for (int64_t t = 0, q = 0; t < c.batch; ++t)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j, ++q) {
        const int64_t at = offC + t * bsC + i * rsC + j;
        hc[at] = c.beta == 0.0f ? kNaN : cv[q];  // beta == 0 must overwrite NaN
        inside[at] = 1;
      }

  // fp64 reference and magnitude
  std::vector<double> ref(sizeC, 0.0), mag(sizeC, 0.0);
  double amax = 0, bmax = 0;
  for (float v : A.h)
    if (!std::isnan(v)) amax = std::max(amax, (double)std::fabs(v));
  for (float v : B.h)
    if (!std::isnan(v)) bmax = std::max(bmax, (double)std::fabs(v));
  for (int64_t t = 0; t < c.batch; ++t)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0, sa = 0;
        for (int64_t p = 0; p < c.k; ++p) {
          const double a = A.h[A.off + t * A.bs + i * A.rs + p * A.cs];
          const double b = B.h[B.off + t * B.bs + p * B.rs + j * B.cs];
          s += a * b;
          sa += std::fabs(a * b);
        }
        const int64_t at = offC + t * bsC + i * rsC + j;
        const double c0 = c.beta == 0.0f ? 0.0 : (double)c.beta * hc[at];
        ref[at] = (c.alpha == 0.0f || c.k == 0 ? 0.0 : (double)c.alpha * s) + c0;
        mag[at] = std::fabs((double)c.alpha) * sa + std::fabs(c0);
      }

  std::vector<float> cpu = hc;
  avgk::sgemm(c.batch, c.m, c.n, c.k, c.alpha, A.h.data() + A.off, A.rs, A.cs, A.bs, B.h.data() + B.off, B.rs, B.cs,
              B.bs, c.beta, cpu.data() + offC, rsC, bsC);

  Dev<float> dA(A.h), dB(B.h), dC(hc);
  avgk_cuda::sgemm(c.batch, c.m, c.n, c.k, c.alpha, dA.p + A.off, A.rs, A.cs, A.bs, dB.p + B.off, B.rs, B.cs, B.bs,
                   c.beta, dC.p + offC, rsC, bsC);
  const auto got = dC.get();

  GemmErr e;
  const std::string what = tag + " " + describe(c);
  ++parity::g_checks;
  const double scale = std::fabs((double)c.alpha) * std::sqrt((double)std::max<int64_t>(c.k, 1)) * amax * bmax;
  for (int64_t at = 0; at < sizeC; ++at) {
    const double g = got[at];
    if (!inside[at]) {
      if (!(got[at] == hc[at])) {
        parity::fail(what + ": wrote outside C at " + std::to_string(at));
        return e;
      }
      continue;
    }
    const double err = std::fabs(g - ref[at]);
    const double bound = tol * mag[at] + 1e-30;
    if (!(err <= bound) || !(std::fabs(g - (double)cpu[at]) <= 2 * bound + 1e-30)) {
      parity::fail(what + ": at " + std::to_string(at) + " got " + std::to_string(g) + ", fp64 " +
                   std::to_string(ref[at]) + ", cpu " + std::to_string(cpu[at]));
      return e;
    }
    if (mag[at] > 0) e.max_rel = std::max(e.max_rel, err / mag[at]);
    if (scale > 0) e.max_scaled = std::max(e.max_scaled, err / scale);
  }
  return e;
}

constexpr double kTolFp32 = 1e-5;  // relative to Σ|a b|: fp32 accumulation
constexpr double kTolTf32 = 2e-3;  // two operands rounded to 10-bit mantissas: |err| <= ~2^-10 Σ|a b|

// Edge shapes and layouts under the heuristic plan.
AVGK_PARITY(gemm_shapes) {
  Knobs keep;
  avgk_cuda::set_tf32(false);
  const GemmCase cases[] = {
      {1, 64, 64, 64, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 127, 129, 33, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 127, 129, 33, 'r', 'c', 1, 0, 0, 0, false, false},
      {1, 127, 129, 33, 'c', 'r', 1, 0, 0, 0, false, false},
      {1, 127, 129, 33, 'c', 'c', 1, 0, 0, 0, false, false},
      {1, 1, 129, 70, 'r', 'c', 1, 0, 0, 0, false, false},    // m = 1
      {1, 1, 129, 70, 'c', 'r', 1, 0, 0, 0, false, false},
      {1, 130, 1, 70, 'c', 'r', 1, 0.5f, 0, 0, false, false},  // n = 1
      {1, 130, 1, 70, 'r', 'c', 1, 0, 0, 0, false, false},
      {1, 1, 1, 5, 'r', 'r', 1, 0, 0, 0, false, false},
      {2, 17, 19, 0, 'r', 'r', 1.5f, 0.5f, 0, 0, false, false},  // k = 0
      {2, 17, 19, 0, 'r', 'r', 1.5f, 0, 0, 0, false, false},
      {1, 33, 65, 1, 'r', 'r', 1, 0, 0, 0, false, false},  // k = 1
      {1, 33, 65, 1, 'c', 'c', 1, 0.5f, 1, 0, false, false},
      {1, 20, 21, 22, 'r', 'r', 0, 0.5f, 0, 0, false, false},  // alpha = 0
      {3, 70, 50, 90, 'r', 'r', -2, 0.5f, 0, 0, true, false},  // broadcast A
      {3, 70, 50, 90, 'c', 'r', 1, 0, 0, 0, true, false},
      {3, 40, 70, 33, 'c', 'c', 1, 1, 0, 0, false, true},      // broadcast B
      {2, 67, 69, 45, 'r', 'r', 1, 0, 1, 0, false, false},     // misaligned: scalar loads
      {2, 67, 69, 45, 'c', 'c', -2, 0.5f, 1, 0, false, false},
      {2, 67, 69, 45, 'r', 'c', 1, 0, 1, 3, false, false},
      {2, 37, 41, 29, 'g', 'g', 1, 0, 0, 0, false, false},     // no unit stride
      {1, 37, 41, 29, 'g', 'r', 1, 0.5f, 0, 1, false, false},
      {1, 37, 41, 29, 'c', 'g', 1, 0, 1, 0, false, false},
      {1, 100, 90, 80, 'r', 'c', 1, 0, 0, 3, false, false},    // padded leading dimensions
      {1, 40, 36, 3000, 'r', 'c', 1, 0, 0, 0, false, false},   // deep k: split-K
      {2, 64, 64, 1500, 'c', 'r', 1, 0.5f, 0, 0, false, false},
      {1, 257, 127, 129, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 300, 260, 200, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 128, 10, 512, 'r', 'c', 1, 0, 0, 0, false, false},   // classifier head
      {1, 512, 10, 128, 'c', 'r', 1, 1, 0, 0, false, false},
      {1, 128, 512, 10, 'r', 'r', 1, 0, 0, 0, false, false},
  };
  for (const auto& c : cases) run_gemm(c, kTolFp32, "sgemm");
}

// Every tile configuration and layout, with and without split-K.
AVGK_PARITY(gemm_configs) {
  Knobs keep;
  avgk_cuda::set_tf32(false);
  const GemmCase cases[] = {
      {1, 127, 129, 33, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 130, 70, 257, 'c', 'c', 1, 0.5f, 0, 0, false, false},
      {2, 67, 69, 45, 'r', 'c', -2, 0, 1, 0, false, false},
      {1, 33, 200, 100, 'g', 'r', 1, 0, 0, 1, false, false},
      {3, 45, 37, 70, 'c', 'r', 1, 0.5f, 0, 0, true, false},
      {1, 1, 70, 129, 'r', 'c', 1, 0, 0, 0, false, false},
  };
  for (int cfg = 0; cfg < 3; ++cfg)
    for (int split : {1, 3}) {
      avgk_cuda::gemm_tuning::force_config = cfg;
      avgk_cuda::gemm_tuning::force_split = split;
      for (const auto& c : cases)
        run_gemm(c, kTolFp32, "sgemm config " + std::to_string(cfg) + " split " + std::to_string(split));
    }
}

// TF32: fp64 reference, error at the TF32 level; reports the largest errors measured.
AVGK_PARITY(gemm_tf32) {
  Knobs keep;
  avgk_cuda::set_tf32(true);
  const GemmCase cases[] = {
      {1, 70, 90, 50, 'r', 'r', 1, 0, 0, 0, false, false},
      {2, 33, 40, 75, 'c', 'c', -2, 0.5f, 0, 0, false, false},
      {1, 64, 64, 64, 'r', 'c', 1, 0, 0, 0, false, false},
      {1, 47, 35, 66, 'c', 'r', 1, 1, 1, 0, false, false},
      {2, 30, 20, 40, 'g', 'r', 1, 0, 0, 0, true, false},
      {1, 1, 17, 9, 'r', 'r', 1, 0, 0, 0, false, false},
      {1, 40, 30, 600, 'r', 'c', 1, 0, 0, 0, false, false},
  };
  GemmErr worst;
  int64_t worst_k = 0;
  for (int cfg = -1; cfg < 2; ++cfg)
    for (int split : {0, 2}) {
      avgk_cuda::gemm_tuning::force_config = cfg;
      avgk_cuda::gemm_tuning::force_split = split;
      for (const auto& c : cases) {
        const GemmErr e =
            run_gemm(c, kTolTf32, "sgemm tf32 config " + std::to_string(cfg) + " split " + std::to_string(split));
        if (e.max_rel > worst.max_rel) worst_k = c.k;
        worst.max_rel = std::max(worst.max_rel, e.max_rel);
        worst.max_scaled = std::max(worst.max_scaled, e.max_scaled);
      }
    }
  std::printf("  tf32: max |err| / (|alpha| sum|a*b| + |beta*c|) = %.3g (k = %lld); "
              "max |err| / (|alpha| sqrt(k) max|a| max|b|) = %.3g\n",
              worst.max_rel, (long long)worst_k, worst.max_scaled);
  // the tensor-core path must actually round: errors well above fp32's
  parity::close_scalar(worst.max_rel > 1e-5 ? 1 : 0, 1, 0, 0, "tf32 rounding visible");
}

// ------------------------------------------------------------------ conv2d
struct ConvShape {
  int64_t n, c, h, w, o, kh, kw, stride, pad;
  bool bias;
};

const ConvShape kConvShapes[] = {
    {3, 5, 7, 6, 4, 1, 1, 1, 0, true},     // 1x1 (no im2col)
    {2, 3, 8, 8, 4, 1, 1, 2, 0, false},    // 1x1 stride 2: uncovered inputs
    {3, 5, 9, 11, 6, 3, 3, 1, 1, true},    // 3x3 same
    {2, 4, 10, 9, 7, 3, 3, 2, 1, false},   // 3x3 stride 2
    {1, 1, 12, 10, 3, 5, 5, 1, 2, true},   // 5x5, n = 1, c = 1
    {2, 2, 9, 12, 3, 5, 5, 1, 0, false},   // 5x5 no padding
    {2, 3, 15, 13, 8, 7, 7, 2, 3, true},   // 7x7 stride 2 pad 3 (stem)
    {3, 5, 9, 8, 4, 3, 3, 2, 0, false},    // kernel larger than stride
    {2, 2, 10, 11, 3, 4, 4, 2, 1, true},   // even kernel
    {1, 5, 6, 7, 2, 3, 3, 3, 1, false},    // stride = kernel
    {2, 16, 20, 20, 32, 3, 3, 1, 1, true}, // HW = 400: direct layout by default
    {3, 8, 16, 16, 5, 1, 1, 1, 0, false},  // 1x1, HW = 256
    {2, 3, 32, 30, 8, 3, 3, 1, 1, false},  // deep backward-weight k (split-K)
    {2, 16, 9, 7, 5, 5, 5, 1, 2, true},    // c >= 16, stride 1: backward input as a rotated forward
    {3, 16, 6, 6, 4, 3, 3, 1, 0, false},   // the same without padding (rotated padding 2)
    {3, 16, 6, 5, 4, 1, 1, 1, 0, false},   // 1x1 through the rotated form (wide layout)
    {1, 16, 8, 8, 4, 2, 2, 1, 1, false},   // even kernel, stride 1
    {1, 1, 1, 1, 1, 1, 1, 1, 0, true},
};

avgk::ConvGeom cpu_geom(const ConvShape& s) {
  avgk::ConvGeom g;
  g.n = s.n;
  g.c = s.c;
  g.h = s.h;
  g.w = s.w;
  g.o = s.o;
  g.kh = s.kh;
  g.kw = s.kw;
  g.stride = s.stride;
  g.pad = s.pad;
  g.oh = (s.h + 2 * s.pad - s.kh) / s.stride + 1;
  g.ow = (s.w + 2 * s.pad - s.kw) / s.stride + 1;
  return g;
}

avgk_cuda::ConvGeom cuda_geom(const avgk::ConvGeom& g) {
  return avgk_cuda::ConvGeom{g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow};
}

std::string conv_tag(const avgk::ConvGeom& g, const std::string& variant) {
  return "conv " + variant + " " + std::to_string(g.n) + "x" + std::to_string(g.c) + "x" + std::to_string(g.h) + "x" +
         std::to_string(g.w) + " o" + std::to_string(g.o) + " k" + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
         " s" + std::to_string(g.stride) + " p" + std::to_string(g.pad);
}

// Forward, backward input and backward weight of one geometry against the CPU kernels; tol is
// relative to the number of products summed per output (values in [-1, 1]).
void run_conv(const ConvShape& s, const std::string& variant, double tol) {
  const avgk::ConvGeom g = cpu_geom(s);
  const int64_t xs = g.n * g.c * g.h * g.w, ws = g.o * g.c * g.kh * g.kw, ys = g.n * g.o * g.oh * g.ow;
  const uint32_t seed = static_cast<uint32_t>(xs * 13 + ws * 7 + ys);
  const auto x = parity::uniform(xs, -1, 1, seed), w = parity::uniform(ws, -1, 1, seed + 1),
             b = parity::uniform(g.o, -1, 1, seed + 2), gy = parity::uniform(ys, -1, 1, seed + 3);
  const std::string tag = conv_tag(g, variant);

  std::vector<float> out(ys), gx(xs), gw(ws);
  avgk::conv2d_forward(x.data(), w.data(), s.bias ? b.data() : nullptr, out.data(), g);
  avgk::conv2d_backward_input(gy.data(), w.data(), gx.data(), g);
  avgk::conv2d_backward_weight(x.data(), gy.data(), gw.data(), g);

  Dev<float> dx(x), dw(w), db(b), dgy(gy);
  Dev<float> dout(std::vector<float>(ys, kNaN)), dgx(std::vector<float>(xs, kNaN)), dgw(std::vector<float>(ws, kNaN));
  const avgk_cuda::ConvGeom cg = cuda_geom(g);
  avgk_cuda::conv2d_forward(dx.p, dw.p, s.bias ? db.p : nullptr, dout.p, cg);
  avgk_cuda::conv2d_backward_input(dgy.p, dw.p, dgx.p, cg);
  avgk_cuda::conv2d_backward_weight(dx.p, dgy.p, dgw.p, cg);

  const double kf = static_cast<double>(g.c * g.kh * g.kw + 1);
  const double kb = static_cast<double>(g.o * g.kh * g.kw);
  const double kw = static_cast<double>(g.n * g.oh * g.ow);
  parity::close(dout.get(), out, tol, tol * kf, tag + " forward" + (s.bias ? " +bias" : ""));
  parity::close(dgx.get(), gx, tol, tol * kb, tag + " backward input");
  parity::close(dgw.get(), gw, tol, tol * kw, tag + " backward weight");
}

AVGK_PARITY(conv_paths) {
  Knobs keep;
  avgk_cuda::set_tf32(false);
  struct Variant {
    const char* name;
    int64_t scratch, direct;
  };
  const Variant variants[] = {
      {"default", 256LL << 20, 256},
      {"direct", 256LL << 20, 0},          // per-image layout everywhere
      {"wide", 256LL << 20, 1LL << 40},    // wide layout everywhere (n > 1)
      {"one-image chunks", 1, 1LL << 40},  // scratch for one image at a time
      {"two-image chunks", 0, 1LL << 40},  // sized per shape below
  };
  for (const auto& v : variants)
    for (const auto& s : kConvShapes) {
      avgk_cuda::conv_tuning::direct_min_hw = v.direct;
      int64_t scratch = v.scratch;
      if (scratch == 0) {
        // two images of the wide layout's scratch (col + the wide copy), the last chunk shorter
        const avgk::ConvGeom g = cpu_geom(s);
        scratch = 2 * 4 * (g.c * g.kh * g.kw + g.o) * (g.oh * g.ow + 1) + 4;
      }
      avgk_cuda::conv_tuning::scratch_bytes = scratch;
      run_conv(s, v.name, 1e-5);
    }
}

AVGK_PARITY(conv_tf32) {
  Knobs keep;
  avgk_cuda::set_tf32(true);
  const ConvShape shapes[] = {
      {2, 3, 9, 11, 6, 3, 3, 1, 1, true},
      {2, 4, 8, 8, 5, 1, 1, 1, 0, false},
  };
  for (const auto& s : shapes) run_conv(s, "tf32", kTolTf32);
}

}  // namespace
