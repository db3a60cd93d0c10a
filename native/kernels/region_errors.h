// Exceptions out of OpenMP regions.
//
// A C++ exception must not leave an OpenMP region (the runtime would call std::terminate and take
// the process down): every thread's body runs in run(), the first exception is kept, and rethrow()
// raises it on the calling thread after the region. Used by the GEMM and the convolutions.
#pragma once
#include <atomic>
#include <exception>

namespace avgk {

class RegionErrors {
 public:
  // Runs f(); returns false (and keeps the exception if it is the first) when f threw.
  template <class F>
  bool run(F&& f) noexcept {
    try {
      f();
      return true;
    } catch (...) {
      if (!failed_.exchange(true)) first_ = std::current_exception();
      return false;
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::exception_ptr first_;
};

}  // namespace avgk
