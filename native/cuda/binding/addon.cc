// The avgk CUDA addon: only the exports table. Loading it touches no GPU; init() starts the device.
#include <napi.h>

#include "device_buffer.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  avgk_cuda_binding::InitMemory(env, exports);
  avgk_cuda_binding::InitKernels(env, exports);
  avgk_cuda_binding::InitNnKernels(env, exports);
  exports.Set("emulated", Napi::Boolean::New(env,
#ifdef AVGK_CUDA_EMULATE
                                                 true
#else
                                                 false
#endif
                                                 ));
  return exports;
}

}  // namespace

NODE_API_MODULE(avgk_cuda, Init)
