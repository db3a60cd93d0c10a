// Parity: softmax / log-softmax (+ backward), softmaxCrossEntropy, sigmoidBce.
#include <cstring>

#include "parity.h"

using parity::Dev;

namespace {

struct Shape {
  int64_t rows, cols;
};
// Every kernel variant: a lane per row (1, 2, 3 cols), lanes per row (6 .. 1000), one block per row
// (1025), rows split over several blocks (20000, 70001).
const Shape kShapes[] = {{1, 1}, {3, 2}, {40, 3}, {33, 6}, {1000, 10}, {9, 17}, {7, 33}, {12, 100}, {5, 1000},
                         {4, 1025}, {5, 20000}, {2, 70001}};

std::string shape_str(const Shape& s) { return std::to_string(s.rows) + "x" + std::to_string(s.cols); }

// Logits with special rows: some -inf entries (row 0), a NaN (row 1), all -inf (row 2), +inf (row 3).
std::vector<float> logits_with_specials(const Shape& s, uint32_t seed, bool specials) {
  auto x = parity::uniform(s.rows * s.cols, -6.0f, 6.0f, seed);
  if (!specials || s.cols < 2) return x;
  for (int64_t j = 0; j < s.cols; j += 3) x[j] = -INFINITY;
  if (s.rows > 1) x[s.cols + s.cols / 2] = NAN;
  if (s.rows > 2)
    for (int64_t j = 0; j < s.cols; ++j) x[2 * s.cols + j] = -INFINITY;
  if (s.rows > 3) x[3 * s.cols + 1] = INFINITY;
  return x;
}

// The same bits, or both NaN (NaN payloads differ between the CPU and the GPU).
bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0 || (a != a && b != b); }

}  // namespace

AVGK_PARITY(softmax_forward) {
  for (const Shape& s : kShapes) {
    for (int log = 0; log < 2; ++log) {
      for (int specials = 0; specials < 2; ++specials) {
        const std::string what = std::string(log ? "logSoftmax " : "softmax ") + shape_str(s) +
                                 (specials ? " with -inf/NaN/+inf rows" : "");
        const int64_t n = s.rows * s.cols;
        auto x = logits_with_specials(s, static_cast<uint32_t>(n + log), specials);
        std::vector<float> want(n);
        avgk::softmax(x.data(), want.data(), s.rows, s.cols, log);
        Dev<float> dx(x), dout(n);
        avgk_cuda::softmax(dx.p, dout.p, s.rows, s.cols, log);
        parity::close(dout.get(), want, 1e-5, log ? 2e-6 : 1e-7, what);
        avgk_cuda::softmax(dx.p, dx.p, s.rows, s.cols, log);  // in place
        parity::close(dx.get(), want, 1e-5, log ? 2e-6 : 1e-7, what + " in place");
      }
    }
  }
  // a single huge logit among many: p = 1 there, 0 (not NaN) elsewhere
  {
    std::vector<float> x(3000, 0.0f);
    x[1234] = 1e30f;
    std::vector<float> want(x.size());
    avgk::softmax(x.data(), want.data(), 1, 3000, false);
    Dev<float> dx(x), dout(x.size());
    avgk_cuda::softmax(dx.p, dout.p, 1, 3000, false);
    parity::close(dout.get(), want, 0, 0, "softmax with one huge logit");
  }
  // no rows / no columns: nothing to do, nothing written
  {
    Dev<float> d(std::vector<float>{7.0f});
    avgk_cuda::softmax(d.p, d.p, 0, 5, false);
    avgk_cuda::softmax(d.p, d.p, 5, 0, true);
    parity::close(d.get(), {7.0f}, 0, 0, "softmax of an empty shape");
  }
}

AVGK_PARITY(softmax_backward) {
  for (const Shape& s : kShapes) {
    for (int log = 0; log < 2; ++log) {
      for (int specials = 0; specials < 2; ++specials) {
        const std::string what = std::string(log ? "logSoftmaxBackward " : "softmaxBackward ") + shape_str(s) +
                                 (specials ? " with -inf/NaN rows" : "");
        const int64_t n = s.rows * s.cols;
        auto x = logits_with_specials(s, static_cast<uint32_t>(3 * n + log), specials);
        std::vector<float> y(n), want(n);
        avgk::softmax(x.data(), y.data(), s.rows, s.cols, log);  // y: the forward output (-inf in log-softmax)
        auto gy = parity::uniform(n, -1.0f, 1.0f, static_cast<uint32_t>(n + 17));
        avgk::softmax_backward(y.data(), gy.data(), want.data(), s.rows, s.cols, log);
        Dev<float> dy(y), dgy(gy), dgx(n);
        avgk_cuda::softmax_backward(dy.p, dgy.p, dgx.p, s.rows, s.cols, log);
        parity::close(dgx.get(), want, 1e-5, 1e-6, what);
        avgk_cuda::softmax_backward(dy.p, dgy.p, dgy.p, s.rows, s.cols, log);  // gx = gy, in place
        parity::close(dgy.get(), want, 1e-5, 1e-6, what + " in place");
      }
    }
  }
}

AVGK_PARITY(softmax_cross_entropy) {
  for (const Shape& s : kShapes) {
    for (float eps : {0.0f, 0.1f}) {
      for (int withGrad = 0; withGrad < 2; ++withGrad) {
        for (int specials = 0; specials < 2; ++specials) {
          const std::string what = "softmaxCrossEntropy " + shape_str(s) + " eps=" + std::to_string(eps) +
                                   (withGrad ? " grad" : "") + (specials ? " specials" : "");
          const int64_t n = s.rows * s.cols;
          // a non-zero mean: the smoothing term Σ (mx - x) does not cancel
          auto x = parity::uniform(n, -4.0f, 12.0f, static_cast<uint32_t>(n * 7 + withGrad));
          auto lab = parity::labels(s.rows, static_cast<int32_t>(s.cols), static_cast<uint32_t>(n + 5));
          if (specials && s.cols >= 2) {
            // -inf away from the label (gradient exactly -eps/cols there), a NaN row if there are
            // several (its loss NaN, so the sum NaN)
            for (int64_t r = 0; r < s.rows; ++r)
              for (int64_t j = r % 2; j < s.cols; j += 2)
                if (j != lab[r]) x[r * s.cols + j] = -INFINITY;
            if (s.rows >= 3) x[2 * s.cols + (lab[2] + 1) % s.cols] = NAN;
          }
          std::vector<float> wantGrad(n);
          const double want = avgk::softmax_cross_entropy(x.data(), lab.data(), s.rows, s.cols, eps,
                                                          withGrad ? wantGrad.data() : nullptr);
          Dev<float> dx(x), dgrad(withGrad ? n : 1), dloss(1);
          Dev<int32_t> dlab(lab);
          avgk_cuda::softmax_cross_entropy(dx.p, dlab.p, s.rows, s.cols, eps, withGrad ? dgrad.p : nullptr, dloss.p);
          const float got = dloss.get()[0];
          parity::close_scalar(got, want, 2e-6, 1e-6, what + " loss");
          if (withGrad) {
            const auto g = dgrad.get();
            parity::close(g, wantGrad, 1e-5, 5e-7, what + " grad");  // p - 1 near p = 1: ulp(1)
            if (specials && s.cols >= 2) {  // exactly the CPU kernel's value where p = 0
              ++parity::g_checks;
              for (int64_t i = 0; i < n; ++i)
                if (x[i] == -INFINITY && !same_bits(g[i], wantGrad[i])) {
                  parity::fail(what + ": -inf logit's gradient at " + std::to_string(i) + " is " + std::to_string(g[i]));
                  break;
                }
            }
            // in place: grad = logits
            avgk_cuda::softmax_cross_entropy(dx.p, dlab.p, s.rows, s.cols, eps, dx.p, dloss.p);
            parity::close(dx.get(), wantGrad, 1e-5, 5e-7, what + " grad in place");
            parity::close_scalar(dloss.get()[0], want, 2e-6, 1e-6, what + " loss in place");
          } else {
            // deterministic: the same bits on every run
            avgk_cuda::softmax_cross_entropy(dx.p, dlab.p, s.rows, s.cols, eps, nullptr, dloss.p);
            ++parity::g_checks;
            if (!same_bits(dloss.get()[0], got)) parity::fail(what + ": the loss differs between two runs");
          }
        }
      }
    }
  }
  // a label outside [0, cols) (not validated by the binding): its row's loss and gradient are NaN,
  // the other rows are untouched by it
  for (int64_t cols : {10, 2000}) {
    const int64_t rows = 3, n = rows * cols;
    auto x = parity::uniform(n, -2.0f, 2.0f, 9);
    std::vector<int32_t> lab = {1, static_cast<int32_t>(cols), 0};
    Dev<float> dx(x), dgrad(n), dloss(1);
    Dev<int32_t> dlab(lab);
    avgk_cuda::softmax_cross_entropy(dx.p, dlab.p, rows, cols, 0.1f, dgrad.p, dloss.p);
    parity::close_scalar(dloss.get()[0], NAN, 0, 0, "softmaxCrossEntropy, a label out of range: loss");
    const auto g = dgrad.get();
    std::vector<int32_t> ok = {1, 1, 0};
    std::vector<float> wantGrad(n);
    avgk::softmax_cross_entropy(x.data(), ok.data(), rows, cols, 0.1f, wantGrad.data());
    for (int64_t j = 0; j < cols; ++j) wantGrad[cols + j] = NAN;
    parity::close(g, wantGrad, 1e-5, 1e-7, "softmaxCrossEntropy, a label out of range: grad (cols " +
                                               std::to_string(cols) + ")");
  }
}

AVGK_PARITY(softmax_family_sigmoid_bce) {
  for (int64_t n : {1, 7, 1000, 100003}) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool withW = variant & 1, withGrad = variant & 2;
      const std::string what = "sigmoidBce n=" + std::to_string(n) + (withW ? " weights" : "") + (withGrad ? " grad" : "");
      auto z = parity::uniform(n, -12.0f, 12.0f, static_cast<uint32_t>(n + variant));
      auto t = parity::uniform(n, 0.0f, 1.0f, static_cast<uint32_t>(n + 11));
      auto w = parity::uniform(n, 0.0f, 2.0f, static_cast<uint32_t>(n + 13));
      // extreme logits and hard targets
      const float ext[] = {80.0f, -80.0f, 30.0f, -30.0f, 0.0f, -0.0f, 1e-8f};
      for (size_t k = 0; k < sizeof ext / sizeof *ext && static_cast<int64_t>(k * 5) < n; ++k) {
        z[k * 5] = ext[k];
        t[k * 5] = static_cast<float>(k % 2);
      }
      std::vector<float> wantGrad(n);
      const double want = avgk::sigmoid_bce(z.data(), t.data(), withW ? w.data() : nullptr,
                                            withGrad ? wantGrad.data() : nullptr, n);
      Dev<float> dz(z), dt(t), dw(w), dgrad(n), dloss(1);
      avgk_cuda::sigmoid_bce(dz.p, dt.p, withW ? dw.p : nullptr, withGrad ? dgrad.p : nullptr, n, dloss.p);
      const float got = dloss.get()[0];
      parity::close_scalar(got, want, 2e-6, 1e-6, what + " loss");
      if (withGrad) {
        // σ(z) - t near σ = t = 1: ulp(1) (times the weight)
        parity::close(dgrad.get(), wantGrad, 1e-5, 1e-6, what + " grad");
        avgk_cuda::sigmoid_bce(dz.p, dt.p, withW ? dw.p : nullptr, dz.p, n, dloss.p);  // grad = logits
        parity::close(dz.get(), wantGrad, 1e-5, 1e-6, what + " grad in place");
        parity::close_scalar(dloss.get()[0], want, 2e-6, 1e-6, what + " loss in place");
      } else {
        avgk_cuda::sigmoid_bce(dz.p, dt.p, withW ? dw.p : nullptr, nullptr, n, dloss.p);
        ++parity::g_checks;
        if (!same_bits(dloss.get()[0], got)) parity::fail(what + ": the loss differs between two runs");
      }
    }
  }
  // no entries: loss 0
  {
    Dev<float> dz(1), dloss(std::vector<float>{5.0f});
    avgk_cuda::sigmoid_bce(dz.p, dz.p, nullptr, nullptr, 0, dloss.p);
    parity::close_scalar(dloss.get()[0], 0.0, 0, 0, "sigmoidBce of no entries");
  }
}
