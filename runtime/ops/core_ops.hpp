#pragma once

#include "runtime/graph/scope.hpp"

/// Graph plumbing: constants, placeholders (fed at run time), identity, no_op.
namespace troupe::ops {

/// A constant tensor.
output constant(const scope& s, tensor value);
template <class T>
output constant(const scope& s, T v) { return constant(s, tensor::scalar<T>(v)); }
template <class T>
output constant(const scope& s, const tensor_shape& shape, const std::vector<T>& values) {
  return constant(s, tensor::from_vector<T>(shape, values));
}
/// A value fed to session::run; `shape` may have unknown (-1) dimensions.
output placeholder(const scope& s, dtype t, partial_shape shape = partial_shape::unknown());
output identity(const scope& s, output x);
/// Does nothing; used to group control dependencies.
operation no_op(const scope& s);

}  // namespace troupe::ops

namespace troupe {
void register_core_ops(op_registry& reg);
}
