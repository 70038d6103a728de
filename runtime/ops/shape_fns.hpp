#pragma once

#include "runtime/graph/graph.hpp"

/// Shape functions shared by several op families.
namespace troupe::shape_fns {

/// Output i has the shape of input I (for every output).
template <int I>
error same_as_input(shape_context& c) {
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, c.input(I));
  return {};
}

/// Outputs are scalars.
error scalar(shape_context& c);

/// NumPy broadcasting of two partial shapes; an error names both shapes.
expected<partial_shape> broadcast(const partial_shape& a, const partial_shape& b);

/// Output 0 is the broadcast of all inputs.
error broadcast_inputs(shape_context& c);

/// Normalizes axis (may be negative) for a tensor of this rank; error names the axis.
expected<int> normalize_axis(int64_t axis, int rank);

/// The output shape from the "shape" attribute (placeholder, random, const-like ops).
error from_shape_attr(shape_context& c);

}  // namespace troupe::shape_fns
