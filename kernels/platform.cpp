#include "kernels/platform.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

namespace troupe {

platform::platform() {
  register_builtin_ops(ops_);
  register_cpu_kernels(kernels_);
}

}  // namespace troupe
