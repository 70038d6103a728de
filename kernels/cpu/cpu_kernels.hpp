#pragma once

#include "runtime/exec/kernel.hpp"

/// Registration of the CPU kernels, one function per op family (kernels/cpu/*_kernels.cpp).
namespace troupe {
void register_core_kernels(kernel_registry& reg);
void register_math_kernels(kernel_registry& reg);  // also calls register_reduce_kernels
void register_reduce_kernels(kernel_registry& reg);
void register_nn_kernels(kernel_registry& reg);  // also calls register_nn_grad_kernels
void register_nn_grad_kernels(kernel_registry& reg);  // relu_grad, bias_add_grad, ...
void register_array_kernels(kernel_registry& reg);  // also calls register_random_kernels
void register_random_kernels(kernel_registry& reg);
void register_grad_kernels(kernel_registry& reg);
void register_variable_kernels(kernel_registry& reg);
void register_optimizer_kernels(kernel_registry& reg);
void register_queue_kernels(kernel_registry& reg);

/// All of the above.
void register_cpu_kernels(kernel_registry& reg);
}  // namespace troupe
