// Parity: unary, unaryBackward, binary (broadcast, strided), copy, fill, axpby.
#include "parity.h"

using parity::Dev;

namespace {

std::vector<float> with_specials(std::vector<float> v) {
  const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, 1e-30f, -88.0f, 88.0f, 30.0f, -30.0f};
  for (size_t i = 0; i < sizeof specials / sizeof *specials && i < v.size(); ++i) v[i * 7 % v.size()] = specials[i];
  return v;
}

}  // namespace

AVGK_PARITY(unary) {
  for (int64_t n : {1, 7, 256, 1000, 70001}) {
    for (int op = avgk_ops::U_NEG; op <= avgk_ops::U_LAST; ++op) {
      const bool positive = op == avgk_ops::U_LOG || op == avgk_ops::U_SQRT;
      auto x = parity::uniform(n, positive ? 0.01f : -5.0f, 5.0f, 11 + op + n);
      if (n > 20) x = with_specials(x);
      const float p = op == avgk_ops::U_POW ? 2.5f : (op == avgk_ops::U_CLAMP ? -1.0f : 0.5f);
      const float q = op == avgk_ops::U_CLAMP ? 2.0f : -0.25f;
      std::vector<float> want(n);
      avgk::unary(op, x.data(), want.data(), n, p, q);
      Dev<float> dx(x), dout(n);
      avgk_cuda::unary(op, dx.p, dout.p, n, p, q);
      parity::close(dout.get(), want, 2e-6, 1e-6, "unary op " + std::to_string(op) + " n=" + std::to_string(n));
      // in place
      avgk_cuda::unary(op, dx.p, dx.p, n, p, q);
      parity::close(dx.get(), want, 2e-6, 1e-6, "unary in place op " + std::to_string(op));
    }
  }
}

AVGK_PARITY(unary_backward) {
  for (int64_t n : {1, 33, 5000}) {
    for (int op = avgk_ops::U_NEG; op <= avgk_ops::U_LAST; ++op) {
      const bool positive = op == avgk_ops::U_LOG || op == avgk_ops::U_SQRT || op == avgk_ops::U_POW;
      auto x = parity::uniform(n, positive ? 0.05f : -3.0f, 3.0f, 5 + op);
      const float p = op == avgk_ops::U_POW ? 1.5f : (op == avgk_ops::U_CLAMP ? -1.0f : 0.5f);
      const float q = op == avgk_ops::U_CLAMP ? 1.0f : 0.0f;
      std::vector<float> y(n), gy = parity::uniform(n, -1, 1, 99), want(n);
      avgk::unary(op, x.data(), y.data(), n, p, q);
      avgk::unary_backward(op, x.data(), y.data(), gy.data(), want.data(), n, p, q);
      Dev<float> dx(x), dy(y), dgy(gy), dgx(n);
      avgk_cuda::unary_backward(op, dx.p, dy.p, dgy.p, dgx.p, n, p, q);
      parity::close(dgx.get(), want, 2e-6, 1e-6, "unaryBackward op " + std::to_string(op));
    }
  }
}

AVGK_PARITY(binary_broadcast) {
  struct Shape {
    std::vector<int64_t> out, a, b;  // a and b: broadcast strides over out
  };
  const std::vector<Shape> shapes = {
      {{5}, {1}, {1}},
      {{3, 4}, {4, 1}, {0, 1}},        // b is a row vector
      {{2, 3, 4}, {12, 4, 1}, {0, 1, 0}},  // b broadcast over two axes
      {{2, 3, 4}, {1, 2, 6}, {12, 4, 1}},  // a is a permuted view
      {{64, 130}, {130, 1}, {1, 0}},
      {{}, {}, {}},
  };
  for (int op = avgk_ops::B_ADD; op <= avgk_ops::B_LAST; ++op) {
    for (const auto& s : shapes) {
      int64_t total = 1;
      for (auto d : s.out) total *= d;
      // storage large enough for any of the strided reads
      auto a = with_specials(parity::uniform(total + 16, -3, 3, op * 7 + 1));
      auto b = parity::uniform(total + 16, 0.5f, 3, op * 7 + 2);
      std::vector<float> want(total);
      const int nd = static_cast<int>(s.out.size());
      avgk::binary(op, a.data(), s.a.data(), b.data(), s.b.data(), want.data(), s.out.data(), nd);
      Dev<float> da(a), db(b), dout(total);
      avgk_cuda::binary(op, da.p, s.a.data(), db.p, s.b.data(), dout.p, s.out.data(), nd);
      parity::close(dout.get(), want, 1e-6, 0, "binary op " + std::to_string(op) + " nd=" + std::to_string(nd));
    }
  }
}

AVGK_PARITY(copy_strided) {
  const std::vector<int64_t> shape = {3, 5, 7};
  const std::vector<int64_t> xs = {1, 21, 3};    // a permuted view of a 7x5x3 array
  const std::vector<int64_t> os = {35, 7, 1};
  std::vector<float> x = parity::uniform(105, -1, 1, 3), want(105, 0.0f);
  avgk::copy_strided<float>(x.data(), xs.data(), want.data(), os.data(), shape.data(), 3);
  Dev<float> dx(x), dout(105);
  avgk_cuda::copy_strided(dx.p, xs.data(), dout.p, os.data(), shape.data(), 3);
  parity::close(dout.get(), want, 0, 0, "copy permuted");
  // into a slice of a larger buffer (slice backward), int32 data
  std::vector<int32_t> xi = parity::labels(12, 1000, 4), wi(40, 0);
  const std::vector<int64_t> sh = {3, 4}, ci = {4, 1}, co = {10, 1};
  avgk::copy_strided<int32_t>(xi.data(), ci.data(), wi.data() + 3, co.data(), sh.data(), 2);
  Dev<int32_t> dxi(xi), dwi(std::vector<int32_t>(40, 0));
  avgk_cuda::copy_strided(dxi.p, ci.data(), dwi.p + 3, co.data(), sh.data(), 2);
  parity::equal(dwi.get(), wi, "copy int32 into a slice");
  // contiguous: one memcpy; broadcast read (stride 0)
  const std::vector<int64_t> sb = {4, 6}, bx = {0, 1}, bo = {6, 1};
  std::vector<float> row = parity::uniform(6, -1, 1, 8), wb(24);
  avgk::copy_strided<float>(row.data(), bx.data(), wb.data(), bo.data(), sb.data(), 2);
  Dev<float> drow(row), dwb(24);
  avgk_cuda::copy_strided(drow.p, bx.data(), dwb.p, bo.data(), sb.data(), 2);
  parity::close(dwb.get(), wb, 0, 0, "copy broadcast");
}

AVGK_PARITY(fill_axpby) {
  const int64_t n = 3001;
  Dev<float> d(n);
  avgk_cuda::fill(d.p, n, 2.5f);
  parity::close(d.get(), std::vector<float>(n, 2.5f), 0, 0, "fill");
  auto x = parity::uniform(n, -1, 1, 1), y = parity::uniform(n, -1, 1, 2);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = 0.9f * y[i] + 0.1f * x[i];
  Dev<float> dx(x), dy(y);
  avgk_cuda::axpby(dx.p, dy.p, n, 0.9f, 0.1f);
  parity::close(dy.get(), want, 1e-6, 1e-7, "axpby");
}
