#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/graph/scope.hpp"

/// Math: elementwise arithmetic and comparisons with NumPy broadcasting, select, cast,
/// reductions and argmax. The op name is the builder's name.
namespace troupe::ops {

// Binary, numeric types (pow: float types), NumPy broadcasting of x and y.
output add(const scope& s, output x, output y);
output sub(const scope& s, output x, output y);
output mul(const scope& s, output x, output y);
/// Integer division truncates toward zero; an integer division by zero fails the run.
output div(const scope& s, output x, output y);
output maximum(const scope& s, output x, output y);
output minimum(const scope& s, output x, output y);
output pow(const scope& s, output x, output y);

// Unary: neg, abs, square for numeric types; sqrt, exp, log, sin, cos for float types.
output neg(const scope& s, output x);
output abs(const scope& s, output x);
output square(const scope& s, output x);
output sqrt(const scope& s, output x);
output exp(const scope& s, output x);
output log(const scope& s, output x);
output sin(const scope& s, output x);
output cos(const scope& s, output x);

// Comparisons with broadcasting, giving bool: equal and not_equal for every dtype,
// the orderings for numeric types.
output equal(const scope& s, output x, output y);
output not_equal(const scope& s, output x, output y);
output less(const scope& s, output x, output y);
output less_equal(const scope& s, output x, output y);
output greater(const scope& s, output x, output y);
output greater_equal(const scope& s, output x, output y);

// Logic on bool tensors (and, or with broadcasting).
output logical_and(const scope& s, output x, output y);
output logical_or(const scope& s, output x, output y);
output logical_not(const scope& s, output x);

/// condition ? x : y elementwise, the three broadcast together (tf.where, v2); any dtype.
output select(const scope& s, output condition, output x, output y);

/// Converts between float32, float64, int32, int64 and bool: float to integer truncates
/// toward zero (out-of-range values are undefined, as in C++), anything to bool is x != 0.
output cast(const scope& s, output x, dtype to);

// Reductions over `axes` (empty: every axis; negative axes count from the end), for
// numeric types. keep_dims leaves the reduced axes as size 1. Over zero elements: sum is
// 0, prod 1, mean NaN (an error for integers), max and min an error. mean of integers
// truncates.
output sum(const scope& s, output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
output mean(const scope& s, output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
output max(const scope& s, output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
output min(const scope& s, output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
output prod(const scope& s, output x, std::vector<int64_t> axes = {}, bool keep_dims = false);

/// The int64 index of the largest value along `axis` (the first one on ties; a NaN counts
/// as the largest), the axis removed; numeric types.
output argmax(const scope& s, output x, int64_t axis = -1);

}  // namespace troupe::ops

namespace troupe {

void register_math_ops(op_registry& reg);

/// Which axes of a rank-`rank` tensor a reduction over `axes` reduces, as a bit mask
/// (bit i: axis i). Empty `axes` reduces every axis. An axis out of [-rank, rank) or
/// given twice (counting negative axes) is an invalid_argument error naming it.
/// Shared by the reduction ops' shape functions and their kernels.
expected<uint32_t> reduction_axis_mask(std::span<const int64_t> axes, int rank);

}  // namespace troupe
