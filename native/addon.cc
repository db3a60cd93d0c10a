// The avgk native addon: only the exports table. Each family's binding (native/binding/*.cc)
// validates its arguments and calls the plain C++ kernels of native/kernels/.
#include <napi.h>

#include "binding/common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  avgk_binding::InitThreads(env, exports);
  avgk_binding::InitElementwise(env, exports);
  avgk_binding::InitReduce(env, exports);
  avgk_binding::InitGemm(env, exports);
  avgk_binding::InitConv(env, exports);
  avgk_binding::InitPool(env, exports);
  avgk_binding::InitBatchNorm(env, exports);
  avgk_binding::InitSoftmaxLoss(env, exports);
  avgk_binding::InitSelect(env, exports);
  avgk_binding::InitOptim(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(avgk, Init)
