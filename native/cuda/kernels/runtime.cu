// Device start-up, memory and copies (see runtime.h).
#include "runtime.h"

#include <mutex>
#include <string>

#include "launch.h"

namespace avgk_cuda {
namespace {

cudaStream_t g_stream = nullptr;
DeviceInfo g_info;
bool g_ready = false;
MemStats g_stats;

[[noreturn]] void fail(cudaError_t e, const std::string& what) {
  throw CudaError(cudaGetErrorName(e), what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(e, what);
}

#ifndef AVGK_CUDA_EMULATE
cudaMemPool_t g_pool = nullptr;
#endif

}  // namespace

cudaStream_t stream() { return g_stream; }

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(e, std::string("kernel ") + what);
}

const DeviceInfo& init() {
  if (g_ready) return g_info;
  int count = 0;
  check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (count < 1) fail(cudaErrorNoDevice, "cudaGetDeviceCount");
  check(cudaSetDevice(0), "cudaSetDevice");
#ifdef AVGK_CUDA_EMULATE
  g_info.name = "avgk CUDA emulator (CPU)";
  g_info.major = 9;
  g_info.minor = 0;
  g_info.multiprocessors = 1;
  g_info.totalMemory = 0;
  g_info.emulated = true;
#else
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  g_info.name = prop.name;
  g_info.major = prop.major;
  g_info.minor = prop.minor;
  g_info.multiprocessors = prop.multiProcessorCount;
  g_info.totalMemory = prop.totalGlobalMem;
  cudaRuntimeGetVersion(&g_info.runtimeVersion);
  cudaDriverGetVersion(&g_info.driverVersion);
  check(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check(cudaDeviceGetDefaultMemPool(&g_pool, 0), "cudaDeviceGetDefaultMemPool");
  // keep freed blocks in the pool: stream-ordered reuse without returning memory to the driver
  uint64_t keep = UINT64_MAX;
  check(cudaMemPoolSetAttribute(g_pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
#endif
  g_ready = true;
  return g_info;
}

void* alloc(size_t bytes) {
  init();
  void* p = nullptr;
  const cudaError_t e = cudaMallocAsync(&p, bytes == 0 ? 4 : bytes, g_stream);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) allocation error
    fail(e, "cudaMallocAsync of " + std::to_string(bytes) + " bytes");
  }
  g_stats.live += bytes;
  g_stats.allocations++;
  if (g_stats.live > g_stats.peak) g_stats.peak = g_stats.live;
  return p;
}

void release(void* p, size_t bytes) {
  if (p == nullptr) return;
  cudaFreeAsync(p, g_stream);
  g_stats.live -= bytes;
  g_stats.allocations--;
}

void upload(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpyAsync (host to device)");
  // from pageable memory the call returns once the source has been staged: the caller may reuse it
}

void download(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpyAsync (device to host)");
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize after a download");
}

void copy_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_stream), "cudaMemcpyAsync (device to device)");
}

void fill_bytes(void* p, int value, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(p, value, bytes, g_stream), "cudaMemsetAsync");
}

void synchronize() { check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize"); }

MemStats mem_stats() {
  MemStats s = g_stats;
#ifdef AVGK_CUDA_EMULATE
  s.reserved = s.live;
#else
  if (g_pool) {
    uint64_t v = 0;
    if (cudaMemPoolGetAttribute(g_pool, cudaMemPoolAttrReservedMemCurrent, &v) == cudaSuccess) s.reserved = v;
  }
#endif
  return s;
}

void reset_peak() { g_stats.peak = g_stats.live; }

void empty_cache() {
#ifndef AVGK_CUDA_EMULATE
  if (!g_ready) return;
  check(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
  check(cudaMemPoolTrimTo(g_pool, 0), "cudaMemPoolTrimTo");
#endif
}

}  // namespace avgk_cuda
