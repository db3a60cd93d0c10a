// Binding: selectKth.
#include "common.h"

namespace avgk_binding {
namespace {

Napi::Value SelectKth(const Napi::CallbackInfo& info) {
  Args a(info, "selectKth");
  a.count(3, "x, m, mask");
  Buf<float> x = a.f32(0, "x");
  const int64_t m = a.integer(1, "m", 1, kMaxInt);
  Buf<uint8_t> mask = a.u8OrNull(2, "mask");
  if (!mask.null) a.needLen(mask, x.len, "x of length " + std::to_string(x.len));
  if (m > x.len) {
    a.fail("m=" + std::to_string(m) + " is out of range [1, " + std::to_string(x.len) + "] (x has " +
           std::to_string(x.len) + " entries)");
  }
  // The kernel rejects NaN among the selected entries and m above the number of selected entries.
  const float v = guarded(a, [&] { return avgk::select_kth(x.data, x.len, m, mask.null ? nullptr : mask.data); });
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

}  // namespace

void InitSelect(Napi::Env env, Napi::Object exports) {
  exports.Set("selectKth", Napi::Function::New(env, SelectKth, "selectKth"));
}

}  // namespace avgk_binding
