// Binding: maxPool2dForward/Backward, avgPool2dForward/Backward.
#include "common.h"

namespace avgk_binding {
namespace {

std::string geomStr(const avgk::PoolGeom& g) {
  return "n=" + std::to_string(g.n) + " c=" + std::to_string(g.c) + " h=" + std::to_string(g.h) +
         " w=" + std::to_string(g.w) + " k=" + std::to_string(g.k) + " stride=" + std::to_string(g.stride) +
         " pad=" + std::to_string(g.pad) + " oh=" + std::to_string(g.oh) + " ow=" + std::to_string(g.ow);
}

void checkPlane(const Args& a, const avgk::PoolGeom& g) {
  if (g.h * g.w > 2147483647) a.fail("h*w = " + std::to_string(g.h * g.w) + " does not fit an Int32 argmax");
}

Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dForward");
  a.count(4, "x, out, argmax, geom");
  Buf<float> x = a.f32(0, "x");
  Buf<float> out = a.f32(1, "out");
  Buf<int32_t> arg = a.i32(2, "argmax");
  const avgk::PoolGeom g = a.poolGeom(3);
  checkPlane(a, g);
  const std::string d = geomStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.needLen(arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(out), spanOf(arg)}, {spanOf(x), spanOf(out), spanOf(arg)});
  guarded(a, [&] { avgk::maxpool2d_forward(x.data, out.data, arg.data, g); });
  return info.Env().Undefined();
}

Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2dBackward");
  a.count(4, "gy, argmax, gx, geom");
  Buf<float> gy = a.f32(0, "gy");
  Buf<int32_t> arg = a.i32(1, "argmax");
  Buf<float> gx = a.f32(2, "gx");
  const avgk::PoolGeom g = a.poolGeom(3);
  checkPlane(a, g);
  const std::string d = geomStr(g);
  a.needLen(gy, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(arg, g.n * g.c * g.oh * g.ow, "argmax [n,c,oh,ow] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy), spanOf(arg)});
  // every argmax entry is an index into its h*w plane (or -1 for an all-padding window)
  const int64_t plane = g.h * g.w;
  for (int64_t i = 0; i < arg.len; ++i) {
    const int32_t v = arg.data[i];
    if (v < -1 || v >= plane) {
      a.fail("argmax[" + std::to_string(i) + "] = " + std::to_string(v) + " is outside [-1, " + std::to_string(plane) +
             ") (h*w for " + d + ")");
    }
  }
  guarded(a, [&] { avgk::maxpool2d_backward(gy.data, arg.data, gx.data, g); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dForward");
  a.count(3, "x, out, geom");
  Buf<float> x = a.f32(0, "x");
  Buf<float> out = a.f32(1, "out");
  const avgk::PoolGeom g = a.poolGeom(2);
  const std::string d = geomStr(g);
  a.needLen(x, g.n * g.c * g.h * g.w, "x [n,c,h,w] for " + d);
  a.needLen(out, g.n * g.c * g.oh * g.ow, "out [n,c,oh,ow] for " + d);
  a.disjoint({spanOf(out)}, {spanOf(x)});
  guarded(a, [&] { avgk::avgpool2d_forward(x.data, out.data, g); });
  return info.Env().Undefined();
}

Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "avgPool2dBackward");
  a.count(3, "gy, gx, geom");
  Buf<float> gy = a.f32(0, "gy");
  Buf<float> gx = a.f32(1, "gx");
  const avgk::PoolGeom g = a.poolGeom(2);
  const std::string d = geomStr(g);
  a.needLen(gy, g.n * g.c * g.oh * g.ow, "gy [n,c,oh,ow] for " + d);
  a.needLen(gx, g.n * g.c * g.h * g.w, "gx [n,c,h,w] for " + d);
  a.disjoint({spanOf(gx)}, {spanOf(gy)});
  guarded(a, [&] { avgk::avgpool2d_backward(gy.data, gx.data, g); });
  return info.Env().Undefined();
}

}  // namespace

void InitPool(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool2dForward", Napi::Function::New(env, MaxPool2dForward, "maxPool2dForward"));
  exports.Set("maxPool2dBackward", Napi::Function::New(env, MaxPool2dBackward, "maxPool2dBackward"));
  exports.Set("avgPool2dForward", Napi::Function::New(env, AvgPool2dForward, "avgPool2dForward"));
  exports.Set("avgPool2dBackward", Napi::Function::New(env, AvgPool2dBackward, "avgPool2dBackward"));
}

}  // namespace avgk_binding
