#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "runtime/ops/optimizer_ops.hpp"
#include "runtime/ops/queue_ops.hpp"
#include "runtime/ops/variable_ops.hpp"

namespace troupe {

void register_builtin_ops(op_registry& reg) {
  register_core_ops(reg);
  register_math_ops(reg);
  register_nn_ops(reg);
  register_array_ops(reg);
  register_grad_ops(reg);
  register_variable_ops(reg);
  register_optimizer_ops(reg);
  register_queue_ops(reg);
}

}  // namespace troupe
