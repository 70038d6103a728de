#pragma once

// Graphs for measuring the executor's per-op overhead (bench/executor_bench.cpp and
// bench/executor_instructions.cpp).

#include <string>

#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"

namespace troupe::bench {

/// x -> op -> op -> ... (n ops), each op a scalar add of x (or identity), fetched at the end.
/// Returns the name to fetch.
inline std::string build_chain(const scope& s, int n, bool identity) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, partial_shape(tensor_shape{}));
  output y = x;
  for (int i = 0; i < n; ++i) y = identity ? ops::identity(s, y) : ops::add(s, y, x);
  return ops::identity(s.with_name("chain_out"), y).op_node().name;
}

/// n scalar adds all reading x (each with its own constant, so none is merged), grouped
/// by one no_op target. Returns the target's name.
inline std::string build_fan_out(const scope& s, int n) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, partial_shape(tensor_shape{}));
  std::vector<operation> all;
  for (int i = 0; i < n; ++i) all.push_back(ops::add(s, x, ops::constant(s, float(i))));
  return s.g().at(ops::no_op(s.with_name("fan_out_done").with_control_deps(all)).node).name;
}

}  // namespace troupe::bench
