#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/graph/scope.hpp"

/// The conformance harness: one table of cases, each running an op through a real
/// session for every dtype it lists, checked against a float64 reference computed
/// independently (plain loops here, never the kernels). See conformance_test.cpp.
namespace troupe::conformance {

/// A tensor of the reference world: row-major values as doubles. bool is 0/1; a string
/// element is the decimal text of an integer value (so data-movement ops can be checked).
struct ref_tensor {
  std::vector<int64_t> shape;
  std::vector<double> values;
  int64_t size() const;
  /// Flat index of a multi-index.
  int64_t index(std::initializer_list<int64_t> idx) const;
};

/// One input of a case: fed through a placeholder.
struct input_spec {
  std::vector<int64_t> shape;
  /// dtype::invalid: the dtype the case is run with.
  dtype type = dtype::invalid;
  /// Random values uniform in [lo, hi) from a fixed seed; integers are rounded down,
  /// bool is value > (lo+hi)/2.
  double lo = -1.0, hi = 1.0;
  /// Fixed values instead (row-major), e.g. indices.
  std::vector<double> values;
};

struct op_case {
  std::string op;    ///< the op this case covers (for the coverage check)
  std::string name;  ///< unique label, e.g. "add_broadcast_row"
  std::vector<dtype> dtypes;
  std::vector<input_spec> inputs;
  /// Builds the op(s) on placeholders of the inputs; returns the outputs to check.
  std::function<std::vector<output>(const scope&, const std::vector<output>&, dtype)> build;
  /// The expected outputs from the input values (already rounded to their dtypes).
  std::function<std::vector<ref_tensor>(const std::vector<ref_tensor>&, dtype)> reference;
  /// Allowed |got - want| <= atol + rtol * |want|; < 0 = defaults for the output dtype:
  /// float32 atol 1e-5 rtol 1e-5, float64 1e-12 / 1e-12, integers, bool, string exact.
  double atol = -1.0, rtol = -1.0;
  /// The output dtypes differ from the case dtype (e.g. comparisons give bool): not
  /// checked by the harness beyond what the reference says; values compared as doubles.
};

/// Shorthands for tables.
inline const std::vector<dtype> float_types = {dtype::float32, dtype::float64};
inline const std::vector<dtype> int_types = {dtype::int32, dtype::int64};
inline const std::vector<dtype> numeric_types = {dtype::float32, dtype::float64, dtype::int32,
                                                  dtype::int64};
inline const std::vector<dtype> all_types = {dtype::float32, dtype::float64, dtype::int32,
                                              dtype::int64,   dtype::boolean, dtype::string};

/// Each op family adds its cases in its own file (tests/conformance/*_cases.cpp).
void add_core_cases(std::vector<op_case>& cases);
void add_math_cases(std::vector<op_case>& cases);
void add_nn_cases(std::vector<op_case>& cases);
void add_array_cases(std::vector<op_case>& cases);
void add_grad_op_cases(std::vector<op_case>& cases);  // runtime/ops/grad_ops.hpp
void add_schedule_cases(std::vector<op_case>& cases);  // learning_rate

}  // namespace troupe::conformance
