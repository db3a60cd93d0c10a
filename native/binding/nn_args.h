// The arguments of the convolution, pooling and batch-norm kernels, read and checked once for
// both addons: the CPU binding reads host typed arrays (HostReader below), the CUDA binding device
// views (native/cuda/binding/device_buffer.h); the checks (lengths for the geometry, aliasing,
// scalar ranges) and their messages are the same. The geometry and scalars are read before the
// buffers: geometry getters run JavaScript, which must not run once a pointer is taken (common.h).
#pragma once
#include <string>

#include "common.h"

namespace avgk_binding {

/** Reads typed-array arguments (the CPU addon). */
struct HostReader {
  using F = Buf<float>;
  using I = Buf<int32_t>;
  static F f32(const Args& a, size_t i, const char* name) { return a.f32(i, name); }
  static F f32OrNull(const Args& a, size_t i, const char* name) { return a.f32OrNull(i, name); }
  static I i32(const Args& a, size_t i, const char* name) { return a.i32(i, name); }
};

inline std::string convStr(const avgk::ConvGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) +
         " w=" + std::to_string(g.w) + " o=" + std::to_string(g.o) + " kh=" + std::to_string(g.kh) +
         " kw=" + std::to_string(g.kw) + " stride=" + std::to_string(g.stride) + " pad=" + std::to_string(g.pad) +
         " oh=" + std::to_string(g.oh) + " ow=" + std::to_string(g.ow);
}

inline std::string poolStr(const avgk::PoolGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) +
         " w=" + std::to_string(g.w) + " k=" + std::to_string(g.k) + " stride=" + std::to_string(g.stride) +
         " pad=" + std::to_string(g.pad) + " oh=" + std::to_string(g.oh) + " ow=" + std::to_string(g.ow);
}

template <class R>
struct ConvForwardArgs {
  typename R::F x, w, bias, out;
  avgk::ConvGeom g;
};
template <class R>
ConvForwardArgs<R> readConvForward(const Args& a) {
  a.count(5, "x, w, bias, out, geom");
  const avgk::ConvGeom geom = a.convGeom(4);
  ConvForwardArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "w"), R::f32OrNull(a, 2, "bias"), R::f32(a, 3, "out"), geom};
  const auto& g = r.g;
  const std::string d = convStr(g);
  a.needLen(r.x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(r.w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  if (!r.bias.null) a.needLen(r.bias, g.o, "bias [o] for " + d);
  a.needLen(r.out, g.n * g.o * g.oh * g.ow, "out [n,o,oh,ow] for " + d);
  a.disjoint({spanOf(r.out)}, {spanOf(r.x), spanOf(r.w), spanOf(r.bias)});
  return r;
}

template <class R>
struct ConvBackwardInputArgs {
  typename R::F gy, w, gx;
  avgk::ConvGeom g;
};
template <class R>
ConvBackwardInputArgs<R> readConvBackwardInput(const Args& a) {
  a.count(4, "gy, w, gx, geom");
  const avgk::ConvGeom geom = a.convGeom(3);
  ConvBackwardInputArgs<R> r{R::f32(a, 0, "gy"), R::f32(a, 1, "w"), R::f32(a, 2, "gx"), geom};
  const auto& g = r.g;
  const std::string d = convStr(g);
  a.needLen(r.gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(r.w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  a.needLen(r.gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(r.gx)}, {spanOf(r.gy), spanOf(r.w)});
  return r;
}

template <class R>
struct ConvBackwardWeightArgs {
  typename R::F x, gy, gw;
  avgk::ConvGeom g;
};
template <class R>
ConvBackwardWeightArgs<R> readConvBackwardWeight(const Args& a) {
  a.count(4, "x, gy, gw, geom");
  const avgk::ConvGeom geom = a.convGeom(3);
  ConvBackwardWeightArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "gy"), R::f32(a, 2, "gw"), geom};
  const auto& g = r.g;
  const std::string d = convStr(g);
  a.needLen(r.x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(r.gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(r.gw, g.o * g.c * g.kh * g.kw, "gw [o,c,kh,kw] for " + d);
  a.disjoint({spanOf(r.gw)}, {spanOf(r.x), spanOf(r.gy)});
  return r;
}

inline void checkPlane(const Args& a, const avgk::PoolGeom& g) {
  if (g.h * g.w > 2147483647) a.fail("h*w = " + std::to_string(g.h * g.w) + " does not fit an Int32 argmax");
}

template <class R>
struct MaxPoolForwardArgs {
  typename R::F x, out;
  typename R::I arg;
  avgk::PoolGeom g;
};
template <class R>
MaxPoolForwardArgs<R> readMaxPoolForward(const Args& a) {
  a.count(4, "x, out, argmax, geom");
  const avgk::PoolGeom geom = a.poolGeom(3);
  MaxPoolForwardArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "out"), R::i32(a, 2, "argmax"), geom};
  const auto& g = r.g;
  checkPlane(a, g);
  const std::string d = poolStr(g);
  a.needLen(r.x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(r.out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.needLen(r.arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(r.out), spanOf(r.arg)}, {spanOf(r.x), spanOf(r.out), spanOf(r.arg)});
  return r;
}

template <class R>
struct MaxPoolBackwardArgs {
  typename R::F gy;
  typename R::I arg;
  typename R::F gx;
  avgk::PoolGeom g;
};
template <class R>
MaxPoolBackwardArgs<R> readMaxPoolBackward(const Args& a) {
  a.count(4, "gy, argmax, gx, geom");
  const avgk::PoolGeom geom = a.poolGeom(3);
  MaxPoolBackwardArgs<R> r{R::f32(a, 0, "gy"), R::i32(a, 1, "argmax"), R::f32(a, 2, "gx"), geom};
  const auto& g = r.g;
  checkPlane(a, g);
  const std::string d = poolStr(g);
  a.needLen(r.gy, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(r.arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.needLen(r.gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(r.gx)}, {spanOf(r.gy), spanOf(r.arg)});
  return r;
}

template <class R>
struct AvgPoolArgs {
  typename R::F in, out;  // forward: x → out; backward: gy → gx
  avgk::PoolGeom g;
};
template <class R>
AvgPoolArgs<R> readAvgPoolForward(const Args& a) {
  a.count(3, "x, out, geom");
  const avgk::PoolGeom geom = a.poolGeom(2);
  AvgPoolArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "out"), geom};
  const auto& g = r.g;
  const std::string d = poolStr(g);
  a.needLen(r.in, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(r.out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(r.out)}, {spanOf(r.in)});
  return r;
}
template <class R>
AvgPoolArgs<R> readAvgPoolBackward(const Args& a) {
  a.count(3, "gy, gx, geom");
  const avgk::PoolGeom geom = a.poolGeom(2);
  AvgPoolArgs<R> r{R::f32(a, 0, "gy"), R::f32(a, 1, "gx"), geom};
  const auto& g = r.g;
  const std::string d = poolStr(g);
  a.needLen(r.in, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(r.out, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(r.out)}, {spanOf(r.in)});
  return r;
}

inline std::string bnDims(int64_t n, int64_t c, int64_t hw) {
  return "n=" + std::to_string(n) + ", c=" + std::to_string(c) + ", hw=" + std::to_string(hw);
}

template <class R>
struct BatchNormForwardArgs {
  typename R::F x, gamma, beta, out, mean, var;
  int64_t n, c, hw;
  float eps;
  bool training, relu;
};
template <class R>
BatchNormForwardArgs<R> readBatchNormForward(const Args& a) {
  a.count(12, "x, gamma, beta, out, mean, variance, n, c, hw, eps, training, relu");
  const int64_t n = a.integer(6, "n", 0, kMaxInt);
  const int64_t c = a.integer(7, "c", 0, kMaxInt);
  const int64_t hw = a.integer(8, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(9, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(10, "training");
  const bool relu = a.boolean(11, "relu");
  BatchNormForwardArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "gamma"), R::f32(a, 2, "beta"), R::f32(a, 3, "out"),
                            R::f32(a, 4, "mean"), R::f32(a, 5, "variance"), n, c, hw, static_cast<float>(eps),
                            training, relu};
  const std::string d = bnDims(r.n, r.c, r.hw);
  const int64_t total = a.mul({r.n, r.c, r.hw}, "n*c*hw");
  a.needLen(r.x, total, d);
  a.needLen(r.gamma, r.c, d);
  a.needLen(r.beta, r.c, d);
  a.needLen(r.out, total, d);
  a.needLen(r.mean, r.c, d);
  a.needLen(r.var, r.c, d);
  if (r.training && r.n * r.hw == 0 && r.c > 0) a.fail("training needs at least one value per channel (" + d + ")");
  const Span all[] = {spanOf(r.x), spanOf(r.gamma), spanOf(r.beta), spanOf(r.out), spanOf(r.mean), spanOf(r.var)};
  a.disjoint({spanOf(r.out)}, {all[0], all[1], all[2], all[3], all[4], all[5]});
  if (r.training) a.disjoint({spanOf(r.mean), spanOf(r.var)}, {all[0], all[1], all[2], all[3], all[4], all[5]});
  return r;
}

template <class R>
struct BatchNormBackwardArgs {
  typename R::F x, gy, gamma, mean, var, gx, gg, gb;
  int64_t n, c, hw;
  float eps;
  bool training;
  typename R::F y;
};
template <class R>
BatchNormBackwardArgs<R> readBatchNormBackward(const Args& a) {
  a.count(14, "x, gy, gamma, mean, variance, gx, ggamma, gbeta, n, c, hw, eps, training, y");
  const int64_t n = a.integer(8, "n", 0, kMaxInt);
  const int64_t c = a.integer(9, "c", 0, kMaxInt);
  const int64_t hw = a.integer(10, "hw", 0, kMaxInt);
  const double eps = a.finiteF32(11, "eps");
  if (eps < 0) a.fail("eps must be >= 0, got " + std::to_string(eps));
  const bool training = a.boolean(12, "training");
  BatchNormBackwardArgs<R> r{R::f32(a, 0, "x"), R::f32(a, 1, "gy"), R::f32(a, 2, "gamma"), R::f32(a, 3, "mean"),
                             R::f32(a, 4, "variance"), R::f32(a, 5, "gx"), R::f32(a, 6, "ggamma"), R::f32(a, 7, "gbeta"),
                             n, c, hw, static_cast<float>(eps), training, R::f32OrNull(a, 13, "y")};
  const std::string d = bnDims(r.n, r.c, r.hw);
  const int64_t total = a.mul({r.n, r.c, r.hw}, "n*c*hw");
  a.needLen(r.x, total, d);
  a.needLen(r.gy, total, d);
  if (!r.y.null) a.needLen(r.y, total, d);
  a.needLen(r.gamma, r.c, d);
  a.needLen(r.mean, r.c, d);
  a.needLen(r.var, r.c, d);
  a.needLen(r.gx, total, d);
  a.needLen(r.gg, r.c, d);
  a.needLen(r.gb, r.c, d);
  a.disjoint({spanOf(r.gx), spanOf(r.gg), spanOf(r.gb)}, {spanOf(r.x), spanOf(r.gy), spanOf(r.gamma), spanOf(r.mean),
                                                          spanOf(r.var), spanOf(r.gx), spanOf(r.gg), spanOf(r.gb)});
  if (!r.y.null) a.disjoint({spanOf(r.gx), spanOf(r.gg), spanOf(r.gb)}, {spanOf(r.y)});
  return r;
}

}  // namespace avgk_binding
