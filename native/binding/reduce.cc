// Binding: reduceSum, reduceMax.
#include "common.h"

namespace avgk_binding {
namespace {

std::string dims(int64_t outer, int64_t mid, int64_t inner) {
  return "outer=" + std::to_string(outer) + ", mid=" + std::to_string(mid) + ", inner=" + std::to_string(inner);
}

Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  Args a(info, "reduceSum");
  a.count(5, "x, out, outer, mid, inner");
  Buf<float> x = a.f32(0, "x");
  Buf<float> out = a.f32(1, "out");
  const int64_t outer = a.integer(2, "outer", 0, kMaxInt);
  const int64_t mid = a.integer(3, "mid", 0, kMaxInt);
  const int64_t inner = a.integer(4, "inner", 0, kMaxInt);
  const std::string d = dims(outer, mid, inner);
  a.needLen(x, a.mul({outer, mid, inner}, "outer*mid*inner"), d);
  a.needLen(out, a.mul({outer, inner}, "outer*inner"), d);
  a.disjoint({spanOf(out)}, {spanOf(x)});
  guarded(a, [&] { avgk::reduce_sum(x.data, out.data, outer, mid, inner); });
  return info.Env().Undefined();
}

Napi::Value ReduceMax(const Napi::CallbackInfo& info) {
  Args a(info, "reduceMax");
  a.count(6, "x, out, argmax, outer, mid, inner");
  Buf<float> x = a.f32(0, "x");
  Buf<float> out = a.f32(1, "out");
  Buf<int32_t> arg = a.i32(2, "argmax");
  const int64_t outer = a.integer(3, "outer", 0, kMaxInt);
  const int64_t mid = a.integer(4, "mid", 0, 2147483647.0);
  const int64_t inner = a.integer(5, "inner", 0, kMaxInt);
  const std::string d = dims(outer, mid, inner);
  a.needLen(x, a.mul({outer, mid, inner}, "outer*mid*inner"), d);
  const int64_t no = a.mul({outer, inner}, "outer*inner");
  a.needLen(out, no, d);
  a.needLen(arg, no, d);
  if (no == 0) return info.Env().Undefined();
  if (mid == 0) a.fail("cannot take the max over an empty axis (" + d + ")");
  a.disjoint({spanOf(out), spanOf(arg)}, {spanOf(x), spanOf(out), spanOf(arg)});
  guarded(a, [&] { avgk::reduce_max(x.data, out.data, arg.data, outer, mid, inner); });
  return info.Env().Undefined();
}

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum, "reduceSum"));
  exports.Set("reduceMax", Napi::Function::New(env, ReduceMax, "reduceMax"));
}

}  // namespace avgk_binding
