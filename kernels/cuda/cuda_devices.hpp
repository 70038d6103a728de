#pragma once

#include <string>
#include <vector>

#include "runtime/core/expected.hpp"

/// CUDA support, compiled when nvcc is found (TROUPE_HAVE_CUDA). Nothing in the
/// foundation needs a GPU; this is the seam later GPU devices and kernels build on.
namespace troupe::cuda {

/// Number of usable CUDA devices; 0 when there is no driver or no device.
int device_count();

/// Adds two float vectors on device `device` (a smoke test of the toolchain and driver):
/// unavailable error when there is no device, the CUDA error text otherwise.
expected<std::vector<float>> add_vectors(int device, const std::vector<float>& a,
                                         const std::vector<float>& b);

}  // namespace troupe::cuda
