// Binding: conv2dForward, conv2dBackwardInput, conv2dBackwardWeight.
#include "common.h"

namespace avgk_binding {
namespace {

std::string geomStr(const avgk::ConvGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) +
         " w=" + std::to_string(g.w) + " o=" + std::to_string(g.o) + " kh=" + std::to_string(g.kh) +
         " kw=" + std::to_string(g.kw) + " stride=" + std::to_string(g.stride) + " pad=" + std::to_string(g.pad) +
         " oh=" + std::to_string(g.oh) + " ow=" + std::to_string(g.ow);
}

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dForward");
  a.count(5, "x, w, bias, out, geom");
  Buf<float> x = a.f32(0, "x");
  Buf<float> w = a.f32(1, "w");
  Buf<float> bias = a.f32OrNull(2, "bias");
  Buf<float> out = a.f32(3, "out");
  const avgk::ConvGeom g = a.convGeom(4);
  const std::string d = geomStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  if (!bias.null) a.needLen(bias, g.o, "bias [o] for " + d);
  a.needLen(out, g.n * g.o * g.oh * g.ow, "out [n,o,oh,ow] for " + d);
  a.disjoint({spanOf(out)}, {spanOf(x), spanOf(w), spanOf(bias)});
  guarded(a, [&] { avgk::conv2d_forward(x.data, w.data, bias.null ? nullptr : bias.data, out.data, g); });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardInput");
  a.count(4, "gy, w, gx, geom");
  Buf<float> gy = a.f32(0, "gy");
  Buf<float> w = a.f32(1, "w");
  Buf<float> gx = a.f32(2, "gx");
  const avgk::ConvGeom g = a.convGeom(3);
  const std::string d = geomStr(g);
  a.needLen(gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(w, g.o * g.c * g.kh * g.kw, "w [o,c,kh,kw] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy), spanOf(w)});
  guarded(a, [&] { avgk::conv2d_backward_input(gy.data, w.data, gx.data, g); });
  return info.Env().Undefined();
}

Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Args a(info, "conv2dBackwardWeight");
  a.count(4, "x, gy, gw, geom");
  Buf<float> x = a.f32(0, "x");
  Buf<float> gy = a.f32(1, "gy");
  Buf<float> gw = a.f32(2, "gw");
  const avgk::ConvGeom g = a.convGeom(3);
  const std::string d = geomStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(gy, g.n * g.o * g.oh * g.ow, "gy [n,o,oh,ow] for " + d);
  a.needLen(gw, g.o * g.c * g.kh * g.kw, "gw [o,c,kh,kw] for " + d);
  a.disjoint({spanOf(gw)}, {spanOf(x), spanOf(gy)});
  guarded(a, [&] { avgk::conv2d_backward_weight(x.data, gy.data, gw.data, g); });
  return info.Env().Undefined();
}

}  // namespace

void InitConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward, "conv2dForward"));
  exports.Set("conv2dBackwardInput", Napi::Function::New(env, Conv2dBackwardInput, "conv2dBackwardInput"));
  exports.Set("conv2dBackwardWeight", Napi::Function::New(env, Conv2dBackwardWeight, "conv2dBackwardWeight"));
}

}  // namespace avgk_binding
