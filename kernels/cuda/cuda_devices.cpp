#include "kernels/cuda/cuda_devices.hpp"

#include "kernels/cuda/cuda_runtime_shim.hpp"

namespace troupe::cuda {

int device_count() { return shim::device_count(); }

expected<std::vector<float>> add_vectors(int device, const std::vector<float>& a,
                                         const std::vector<float>& b) {
  TROUPE_REQUIRE(a.size() == b.size(), "cuda::add_vectors: sizes differ: ", a.size(), " vs ",
                 b.size());
  if (device < 0 || device >= device_count())
    return make_error(errc::unavailable, "cuda::add_vectors: no CUDA device ", device);
  std::vector<float> out(a.size());
  std::string err = shim::add_vectors(device, a.data(), b.data(), out.data(), int(a.size()));
  if (!err.empty()) return make_error(errc::internal, "cuda::add_vectors: ", err);
  return out;
}

}  // namespace troupe::cuda
