// The CUDA addon's error type: a CUDA runtime error with its name (cudaErrorNoDevice, ...), or a
// plain argument error from a launcher. The binding turns both into JS errors.
#pragma once
#include <stdexcept>
#include <string>

namespace avgk_cuda {

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& name, const std::string& what) : std::runtime_error(what), name_(name) {}
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace avgk_cuda
