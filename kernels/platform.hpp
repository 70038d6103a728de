#pragma once

#include "runtime/exec/kernel.hpp"

namespace troupe {

/// The ops and kernels troupe ships, registered explicitly at construction (no static
/// initializers). Create one per process and keep it alive while graphs and sessions
/// that use it exist.
/// Thread-safety: immutable after construction; share it freely.
class platform {
 public:
  platform();
  platform(const platform&) = delete;
  platform& operator=(const platform&) = delete;

  const op_registry& ops() const { return ops_; }
  const kernel_registry& kernels() const { return kernels_; }

 private:
  op_registry ops_;
  kernel_registry kernels_;
};

}  // namespace troupe
