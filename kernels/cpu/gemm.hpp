#pragma once

#include <cstdint>

#include "runtime/exec/cpu_device.hpp"

namespace troupe::cpu {

/// C = op(A) * op(B) for row-major matrices, op(X) = X or X^T. op(A) is m x k, op(B) is
/// k x n, C is m x n; ld* are the row strides (elements) of the matrices as stored.
/// Runs on the device's thread pool when the product is large enough.
/// Defined for float and double (kernels/cpu/gemm.cpp).
template <class T>
void gemm(cpu_device& dev, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
          const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc);

}  // namespace troupe::cpu
