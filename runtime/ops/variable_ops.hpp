#pragma once

#include <string>
#include <vector>

#include "runtime/graph/scope.hpp"

/// Variables: tensors that keep their value across steps, held in the device's resource
/// containers (runtime/exec/resource.hpp) and named by (container, name). The ops
/// refer to a variable by the attributes `var` (its name) and `container` ("" = the
/// default one). Kernels: kernels/cpu/variable_kernels.cpp.
namespace troupe {

/// A variable as the builder API sees it.
struct variable {
  std::string name;       ///< the resource name (the scope's prefix + the given name)
  std::string container;  ///< "" = the default container
  dtype type = dtype::invalid;
  partial_shape shape;
  output value;           ///< this step's value (one read_variable node, named `name`)
  operation initializer;  ///< assigns the initial value (named `name`/init)

  bool valid() const { return value.valid() && initializer.valid(); }
};

/// Adds a variable initialized by `initial_value` (its dtype and shape become the
/// variable's). The read node is named `name` within s, so fetching "name" gives the
/// value.
variable make_variable(const scope& s, const std::string& name, output initial_value,
                       const std::string& container = "");
/// The same with a declared shape that may be partial (the initial value must fit it).
variable make_variable(const scope& s, const std::string& name, output initial_value,
                       partial_shape shape, const std::string& container);

namespace ops {
/// A tensor of `shape` filled with `value` (numeric types).
output fill(const scope& s, dtype t, tensor_shape shape, double value);
/// Reads a variable (a snapshot, see variable_resource); fails if not initialized.
output read_variable(const scope& s, const std::string& var, dtype t, partial_shape shape,
                     const std::string& container = "");
/// var = value (creating the variable if needed).
operation assign(const scope& s, const variable& var, output value);
/// var += delta, var -= delta (same shape; numeric types).
operation assign_add(const scope& s, const variable& var, output delta);
operation assign_sub(const scope& s, const variable& var, output delta);
/// var[indices[i]] += updates[i] (rows along dimension 0; indices int32/int64 of any
/// shape, updates shaped indices.shape + var.shape[1:]); repeated indices add up. An
/// index out of range fails naming it, and nothing is written.
operation scatter_add(const scope& s, const variable& var, output indices, output updates);
/// var[indices[i]] = updates[i]; with repeated indices the last one wins.
operation scatter_update(const scope& s, const variable& var, output indices, output updates);
/// Whether the variable holds a value (bool scalar).
output is_initialized(const scope& s, const variable& var);
/// A no_op that runs after every op in `deps` (tf.group).
operation group(const scope& s, const std::vector<operation>& deps);
/// The initializers of `vars` as one target (tf.variables_initializer).
operation initialize_all(const scope& s, const std::vector<variable>& vars);
}  // namespace ops

void register_variable_ops(op_registry& reg);

}  // namespace troupe
