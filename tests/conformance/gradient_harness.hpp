#pragma once

#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "tests/conformance/harness.hpp"

/// The gradient checks: every op with a gradient function is checked against central
/// finite differences in float64 (gradient_test.cpp). A case builds some outputs ys from
/// placeholders; the harness forms L = sum_k sum(ys[k] * w_k) with fixed random weights
/// w_k, computes dL/dx with add_gradients (densifying sparse gradients itself, from
/// their indices and values), and compares each element with
/// (L(x + eps e_j) - L(x - eps e_j)) / (2 eps).
namespace troupe::conformance {

struct grad_case {
  std::string op;    ///< the op whose gradient function this case covers
  std::string name;  ///< unique label
  /// Inputs (float inputs are float64 unless a type is given; integer inputs such as
  /// indices are fed but never differentiated). Keep them small: each element of each
  /// differentiated input costs two session runs.
  std::vector<input_spec> inputs;
  /// Builds the ys on placeholders of the inputs (all float64).
  std::function<std::vector<output>(const scope&, const std::vector<output>&)> build;
  /// Indices of the inputs to differentiate; empty = every float64 input.
  std::vector<int> wrt;
  /// The gradient of this input must come out sparse (gather, sparse_segment_*).
  std::set<int> expect_sparse;
  double eps = 1e-6;
  /// |analytic - numeric| <= tol * max(1, |numeric|).
  double tol = 1e-6;
};

/// Prints a case by its name in test logs.
void PrintTo(const grad_case* c, std::ostream* os);

/// Each family adds its cases in its own file (tests/conformance/*_grad_cases.cpp).
void add_math_grad_cases(std::vector<grad_case>& cases);   // core, math and array ops
void add_nn_grad_cases(std::vector<grad_case>& cases);     // nn ops

/// Registered ops that have no gradient on purpose (comparisons, argmax, random ops,
/// variables, ...): the coverage test fails for an op that has neither a gradient
/// function with a case nor an entry here.
const std::set<std::string>& non_differentiable_ops();

}  // namespace troupe::conformance
