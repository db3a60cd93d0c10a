// The CUDA addon's runtime layer: device start-up, device memory, copies, statistics.
// Plain C++ (no N-API): the binding calls these, and they throw CudaError on failure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace avgk_cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;      // compute capability
  int multiprocessors = 0;
  size_t totalMemory = 0;        // bytes
  int runtimeVersion = 0;
  int driverVersion = 0;
  bool emulated = false;         // the CPU emulator (AVGK_CUDA_EMULATE builds)
};

// Starts the device (device 0, one non-blocking stream, a caching memory pool). Idempotent; throws
// CudaError with the CUDA error name when no usable GPU is present.
const DeviceInfo& init();

// Device memory, stream-ordered on the addon's stream (freed blocks are cached by the pool).
void* alloc(size_t bytes);
void release(void* p, size_t bytes);

void upload(void* dst, const void* src, size_t bytes);          // host → device
void download(void* dst, const void* src, size_t bytes);        // device → host (synchronises)
void copy_device(void* dst, const void* src, size_t bytes);     // device → device
void fill_bytes(void* p, int value, size_t bytes);
void synchronize();

struct MemStats {
  size_t live = 0;       // bytes held by live allocations of this addon
  size_t peak = 0;       // high-water mark of `live` since the last reset
  size_t reserved = 0;   // bytes the pool holds from the driver (live + cached)
  int64_t allocations = 0;  // number of live allocations
};
MemStats mem_stats();
void reset_peak();
// Returns cached, unused pool memory to the driver.
void empty_cache();

}  // namespace avgk_cuda
