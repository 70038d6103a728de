#pragma once

#include "runtime/graph/scope.hpp"

/// Optimizer update ops and the learning-rate schedule op.
///
/// The update ops change a variable and its slot variables in place and have no outputs.
/// They name the variable with the attributes `var` and `container` (as the variable ops
/// do, runtime/ops/variable_ops.hpp) and each slot with an attribute holding the slot
/// variable's name (`accum`, `m`, `v`, `linear`; same container). The learning rate is a
/// scalar input of the variable's dtype, so a schedule can compute it each step; the other
/// hyper-parameters are float attributes. float32 and float64.
///
///   apply_sgd(grad, lr)              sparse_apply_sgd(indices, values, lr)
///   apply_momentum(grad, lr)         sparse_apply_momentum(indices, values, lr)
///   apply_adagrad(grad, lr)          sparse_apply_adagrad(indices, values, lr)
///   apply_adam(grad, lr, step)       sparse_apply_adam(indices, values, lr, step)
///   apply_ftrl(grad, lr)             sparse_apply_ftrl(indices, values, lr)
///
/// The formulas are those of TensorFlow's training ops (ApplyGradientDescent,
/// ApplyMomentum, ApplyAdagradV2, ApplyAdam, ApplyFtrl); each op's doc states its own.
/// The sparse forms take the rows of a sparse gradient (runtime/autodiff/gradients.hpp):
/// `indices` (int32 or int64 vector of K row numbers) and `values` [K, ...row shape]; they
/// sum the values of repeated indices first (the true gradient) and then update only the
/// listed rows of the variable and of its slots. Kernels: kernels/cpu/optimizer_kernels.cpp.
/// The optimizer classes that build these ops are in runtime/train/optimizer.hpp.
///
///   learning_rate(step) -> (lr)
///
/// A learning-rate schedule evaluated at an int64 step (elementwise): constant,
/// exponential or cosine decay, optionally after a linear warm-up. Built by
/// runtime/train/schedules.hpp, which documents the formulas.
namespace troupe {
void register_optimizer_ops(op_registry& reg);
}
