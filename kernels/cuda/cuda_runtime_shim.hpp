#pragma once

// The plain C++17 boundary between nvcc-compiled code and the rest of troupe (C++20):
// no troupe headers here, status as a message string (empty = success).

#include <string>
#include <vector>

namespace troupe::cuda::shim {

int device_count();
/// c = a + b on `device`; returns an error message or "".
std::string add_vectors(int device, const float* a, const float* b, float* c, int n);

}  // namespace troupe::cuda::shim
