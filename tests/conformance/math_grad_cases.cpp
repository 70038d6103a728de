// Finite-difference gradient cases of the core, math and array ops (the gradient
// functions in runtime/ops/core_ops.cpp, math_ops.cpp and array_ops.cpp).

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "tests/conformance/gradient_harness.hpp"

namespace troupe::conformance {
namespace {

using shape_vec = std::vector<int64_t>;
using ins = const std::vector<output>&;
using outs = std::vector<output>;

input_spec random_input(shape_vec shape, double lo = -1, double hi = 1) {
  input_spec in;
  in.shape = std::move(shape);
  in.lo = lo;
  in.hi = hi;
  return in;
}

input_spec fixed_input(shape_vec shape, std::vector<double> values,
                       dtype type = dtype::invalid) {
  input_spec in;
  in.shape = std::move(shape);
  in.values = std::move(values);
  in.type = type;
  return in;
}

// ---- binary arithmetic, with broadcasting ------------------------------------------------

struct shape_pair {
  const char* label;
  shape_vec x, y;
};

const std::vector<shape_pair> binary_shapes = {
    {"same", {2, 3}, {2, 3}},
    {"row", {2, 3}, {3}},        // y repeated for each row
    {"outer", {2, 1}, {1, 3}},   // both stretched
    {"scalar_y", {2, 3}, {}},
    {"scalar_x", {}, {3}},
    {"middle", {2, 3, 2}, {3, 1}},
};

using binary_builder = output (*)(const scope&, output, output);

void add_binary_cases(std::vector<grad_case>& cases, const std::string& op, binary_builder f,
                      double lo, double hi, double ylo, double yhi) {
  for (const shape_pair& p : binary_shapes) {
    cases.push_back({.op = op,
                     .name = str_cat(op, "_", p.label),
                     .inputs = {random_input(p.x, lo, hi), random_input(p.y, ylo, yhi)},
                     .build = [f](const scope& s, ins in) -> outs { return {f(s, in[0], in[1])}; }});
  }
}

void add_arithmetic_cases(std::vector<grad_case>& cases) {
  add_binary_cases(cases, "add", ops::add, -2, 2, -2, 2);
  add_binary_cases(cases, "sub", ops::sub, -2, 2, -2, 2);
  add_binary_cases(cases, "mul", ops::mul, -2, 2, -2, 2);
  add_binary_cases(cases, "div", ops::div, -2, 2, 0.5, 2);
  // Random values never tie, where maximum and minimum are not differentiable.
  add_binary_cases(cases, "maximum", ops::maximum, -2, 2, -2, 2);
  add_binary_cases(cases, "minimum", ops::minimum, -2, 2, -2, 2);
  add_binary_cases(cases, "pow", ops::pow, 0.5, 2, -2, 2);  // x > 0: dy is defined
  // A value used on both sides gets both gradients.
  cases.push_back({.op = "mul",
                   .name = "mul_same_input_twice",
                   .inputs = {random_input({3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::mul(s, in[0], in[0])};
                   }});
}

// ---- unary -------------------------------------------------------------------------------

void add_unary_cases(std::vector<grad_case>& cases) {
  struct unary {
    const char* op;
    output (*f)(const scope&, output);
    double lo, hi;
  };
  for (const unary& u : std::vector<unary>{
           {"neg", ops::neg, -2, 2},
           {"abs", ops::abs, -2, 2},  // random values are never 0, where |x| has a kink
           {"square", ops::square, -2, 2},
           {"sqrt", ops::sqrt, 0.5, 3},
           {"exp", ops::exp, -2, 2},
           {"log", ops::log, 0.5, 3},
           {"sin", ops::sin, -4, 4},
           {"cos", ops::cos, -4, 4},
           {"identity", ops::identity, -2, 2},
       }) {
    auto f = u.f;
    cases.push_back({.op = u.op,
                     .name = str_cat(u.op, "_matrix"),
                     .inputs = {random_input({2, 3}, u.lo, u.hi)},
                     .build = [f](const scope& s, ins in) -> outs { return {f(s, in[0])}; }});
    cases.push_back({.op = u.op,
                     .name = str_cat(u.op, "_scalar"),
                     .inputs = {random_input({}, u.lo, u.hi)},
                     .build = [f](const scope& s, ins in) -> outs { return {f(s, in[0])}; }});
  }
  // abs at both signs, fixed.
  cases.push_back({.op = "abs",
                   .name = "abs_signs",
                   .inputs = {fixed_input({4}, {-1.5, 0.25, -0.5, 2})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::abs(s, in[0])}; }});
  // A chain: the gradients compose.
  cases.push_back({.op = "exp",
                   .name = "exp_chain",
                   .inputs = {random_input({3, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     output e = ops::exp(s, ops::sin(s, in[0]));
                     return {ops::sum(s, ops::mul(s, e, ops::square(s, in[0])), {1})};
                   }});
}

// ---- select, cast, identity of sparse gradients --------------------------------------------

void add_select_cast_cases(std::vector<grad_case>& cases) {
  cases.push_back({.op = "select",
                   .name = "select_same",
                   .inputs = {fixed_input({2, 3}, {1, 0, 0, 1, 1, 0}, dtype::boolean),
                              random_input({2, 3}), random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::select(s, in[0], in[1], in[2])};
                   }});
  cases.push_back({.op = "select",
                   .name = "select_broadcast",
                   .inputs = {fixed_input({3}, {1, 0, 1}, dtype::boolean), random_input({2, 3}),
                              random_input({})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::select(s, in[0], in[1], in[2])};
                   }});
  cases.push_back({.op = "select",
                   .name = "select_row_condition",
                   .inputs = {fixed_input({2, 1}, {0, 1}, dtype::boolean), random_input({3}),
                              random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::select(s, in[0], in[1], in[2])};
                   }});
  // float64 -> float32 -> float64. Values pass through float32, so the differences need a
  // larger step (exact for these linear and quadratic functions up to float32 rounding).
  cases.push_back({.op = "cast",
                   .name = "cast_float32_round_trip",
                   .inputs = {random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     output x32 = ops::cast(s, in[0], dtype::float32);
                     return {ops::cast(s, ops::square(s, x32), dtype::float64)};
                   },
                   .eps = 1e-2,
                   .tol = 1e-4});
  cases.push_back({.op = "cast",
                   .name = "cast_float64_to_float64",
                   .inputs = {random_input({3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::cast(s, in[0], dtype::float64)};
                   }});
  // A sparse gradient stays sparse through cast and identity.
  cases.push_back({.op = "cast",
                   .name = "cast_of_gathered_rows_stays_sparse",
                   .inputs = {random_input({4, 2}), fixed_input({3}, {3, 0, 3}, dtype::int32)},
                   .build = [](const scope& s, ins in) -> outs {
                     output x32 = ops::cast(s, in[0], dtype::float32);
                     return {ops::cast(s, ops::gather(s, x32, in[1]), dtype::float64)};
                   },
                   .expect_sparse = {0},
                   .eps = 1e-2,
                   .tol = 1e-4});
  cases.push_back({.op = "identity",
                   .name = "identity_of_gathered_rows_stays_sparse",
                   .inputs = {random_input({4, 2}), fixed_input({2}, {1, 1}, dtype::int64)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, ops::identity(s, in[0]), in[1])};
                   },
                   .expect_sparse = {0}});
}

// ---- reductions ----------------------------------------------------------------------------

struct reduction_variant {
  const char* label;
  shape_vec shape;
  std::vector<int64_t> axes;
  bool keep_dims;
};

const std::vector<reduction_variant> reduction_variants = {
    {"all", {2, 3}, {}, false},
    {"all_keep", {2, 3}, {}, true},
    {"axis0", {3, 2}, {0}, false},
    {"axis1_keep", {2, 3}, {1}, true},
    {"negative_axis", {2, 3}, {-1}, false},
    {"rank3_outer_axes", {2, 3, 2}, {0, 2}, false},
    {"rank3_middle_keep", {2, 3, 2}, {1}, true},
    {"vector", {4}, {0}, false},
};

using reduction_builder = output (*)(const scope&, output, std::vector<int64_t>, bool);

void add_reduction_cases(std::vector<grad_case>& cases, const std::string& op,
                         reduction_builder f, double lo, double hi) {
  for (const reduction_variant& v : reduction_variants) {
    cases.push_back({.op = op,
                     .name = str_cat(op, "_", v.label),
                     .inputs = {random_input(v.shape, lo, hi)},
                     .build = [f, v](const scope& s, ins in) -> outs {
                       return {f(s, in[0], v.axes, v.keep_dims)};
                     }});
  }
}

void add_reduction_cases(std::vector<grad_case>& cases) {
  add_reduction_cases(cases, "sum", ops::sum, -2, 2);
  add_reduction_cases(cases, "mean", ops::mean, -2, 2);
  add_reduction_cases(cases, "max", ops::max, -2, 2);
  add_reduction_cases(cases, "min", ops::min, -2, 2);
  add_reduction_cases(cases, "prod", ops::prod, 0.5, 1.5);
  // Two-way ties: the gradient is split evenly, which is what central differences see
  // (one side moves the extreme, the other does not).
  cases.push_back({.op = "max",
                   .name = "max_ties_split_evenly",
                   .inputs = {fixed_input({2, 3}, {1, 3, 3, 2, -1, 2})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::max(s, in[0], {1})}; }});
  cases.push_back({.op = "min",
                   .name = "min_ties_split_evenly",
                   .inputs = {fixed_input({3, 2}, {0.5, 1, 0.5, -2, 4, -2})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::min(s, in[0], {0})}; }});
  // prod at zeros: a group with one zero (the zero gets the product of the others), one
  // with two (all zero) and one with none.
  cases.push_back({.op = "prod",
                   .name = "prod_with_zeros",
                   .inputs = {fixed_input({3, 3}, {2, 0, -1.5, 0, 3, 0, 0.5, 2, -3})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::prod(s, in[0], {1})}; }});
  cases.push_back({.op = "prod",
                   .name = "prod_all_with_one_zero",
                   .inputs = {fixed_input({2, 2}, {1.5, -2, 0, 0.5})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::prod(s, in[0])}; }});
}

// ---- array ops -------------------------------------------------------------------------------

void add_array_cases(std::vector<grad_case>& cases) {
  cases.push_back({.op = "reshape",
                   .name = "reshape_matrix",
                   .inputs = {random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::reshape(s, in[0], {3, 2})};
                   }});
  cases.push_back({.op = "reshape",
                   .name = "reshape_flatten",
                   .inputs = {random_input({2, 2, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::reshape(s, in[0], {-1})};
                   }});
  cases.push_back({.op = "transpose",
                   .name = "transpose_matrix",
                   .inputs = {random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::transpose(s, in[0], {1, 0})};
                   }});
  cases.push_back({.op = "transpose",
                   .name = "transpose_rank3",
                   .inputs = {random_input({2, 3, 4})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::transpose(s, in[0], {2, 0, 1})};
                   }});
  cases.push_back({.op = "concat",
                   .name = "concat_three_axis1",
                   .inputs = {random_input({2, 1}), random_input({2, 3}), random_input({2, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::concat(s, {in[0], in[1], in[2]}, 1)};
                   }});
  cases.push_back({.op = "concat",
                   .name = "concat_two_axis0",
                   .inputs = {random_input({1, 3}), random_input({2, 3})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::concat(s, {in[0], in[1]}, 0)};
                   }});
  cases.push_back({.op = "concat",
                   .name = "concat_same_input_twice",
                   .inputs = {random_input({2, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::concat(s, {in[0], in[0]}, -1)};
                   }});
  cases.push_back({.op = "concat",
                   .name = "concat_single",
                   .inputs = {random_input({3})},
                   .build = [](const scope& s, ins in) -> outs { return {ops::concat(s, {in[0]}, 0)}; }});
  cases.push_back({.op = "split",
                   .name = "split_three_axis1",
                   .inputs = {random_input({2, 6})},
                   .build = [](const scope& s, ins in) -> outs { return ops::split(s, in[0], 3, 1); }});
  // Pieces nobody uses get zeros.
  cases.push_back({.op = "split",
                   .name = "split_some_pieces_unused",
                   .inputs = {random_input({6, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     std::vector<output> p = ops::split(s, in[0], 3, 0);
                     return {ops::mul(s, p[1], p[1])};
                   }});
  cases.push_back({.op = "slice",
                   .name = "slice_block",
                   .inputs = {random_input({4, 5})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::slice(s, in[0], {1, 2}, {2, 3})};
                   }});
  cases.push_back({.op = "slice",
                   .name = "slice_to_the_end",
                   .inputs = {random_input({3, 4, 2})},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::slice(s, in[0], {1, 0, 1}, {-1, 3, -1})};
                   }});
}

// ---- gather and the sparse segment reductions ------------------------------------------------

void add_gather_cases(std::vector<grad_case>& cases) {
  cases.push_back({.op = "gather",
                   .name = "gather_axis0_sparse",
                   .inputs = {random_input({5, 3}), fixed_input({3}, {4, 0, 2}, dtype::int32)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1])};
                   },
                   .expect_sparse = {0}});
  cases.push_back({.op = "gather",
                   .name = "gather_repeated_indices",
                   .inputs = {random_input({4, 2}), fixed_input({5}, {1, 3, 1, 1, 0}, dtype::int64)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1])};
                   },
                   .expect_sparse = {0}});
  cases.push_back({.op = "gather",
                   .name = "gather_2d_indices",
                   .inputs = {random_input({4, 2, 2}),
                              fixed_input({2, 3}, {3, 0, 3, 1, 2, 1}, dtype::int32)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1])};
                   },
                   .expect_sparse = {0}});
  cases.push_back({.op = "gather",
                   .name = "gather_scalar_index",
                   .inputs = {random_input({3, 2}), fixed_input({}, {2}, dtype::int64)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1])};
                   },
                   .expect_sparse = {0}});
  cases.push_back({.op = "gather",
                   .name = "gather_vector_params",
                   .inputs = {random_input({5}), fixed_input({4}, {4, 4, 0, 2}, dtype::int32)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1])};
                   },
                   .expect_sparse = {0}});
  cases.push_back({.op = "gather",
                   .name = "gather_axis1_dense",
                   .inputs = {random_input({2, 4, 2}), fixed_input({3}, {3, 1, 3}, dtype::int32)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1], 1)};
                   }});
  cases.push_back({.op = "gather",
                   .name = "gather_last_axis_2d_indices_dense",
                   .inputs = {random_input({3, 4}), fixed_input({2, 2}, {0, 3, 3, 2}, dtype::int64)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1], -1)};
                   }});
  // A table looked up twice: the sparse rows of both look-ups are concatenated.
  cases.push_back({.op = "gather",
                   .name = "gather_two_lookups",
                   .inputs = {random_input({4, 2}), fixed_input({2}, {0, 3}, dtype::int32),
                              fixed_input({3}, {3, 3, 1}, dtype::int64)},
                   .build = [](const scope& s, ins in) -> outs {
                     return {ops::gather(s, in[0], in[1]), ops::gather(s, in[0], in[2])};
                   },
                   .expect_sparse = {0}});

  for (const char* op : {"sparse_segment_sum", "sparse_segment_mean"}) {
    auto f = std::string_view(op) == "sparse_segment_sum" ? ops::sparse_segment_sum
                                                          : ops::sparse_segment_mean;
    // Repeated rows, a segment with several rows and an empty segment (2).
    cases.push_back({.op = op,
                     .name = str_cat(op, "_rows"),
                     .inputs = {random_input({5, 3}), fixed_input({5}, {0, 2, 2, 4, 1}, dtype::int32),
                                fixed_input({5}, {0, 0, 1, 3, 3}, dtype::int64)},
                     .build = [f](const scope& s, ins in) -> outs {
                       return {f(s, in[0], in[1], in[2], -1)};
                     },
                     .expect_sparse = {0}});
    cases.push_back({.op = op,
                     .name = str_cat(op, "_num_segments_rank3"),
                     .inputs = {random_input({3, 2, 2}), fixed_input({3}, {2, 0, 2}, dtype::int64),
                                fixed_input({3}, {1, 1, 2}, dtype::int32)},
                     .build = [f](const scope& s, ins in) -> outs {
                       return {f(s, in[0], in[1], in[2], 4)};
                     },
                     .expect_sparse = {0}});
  }
}

}  // namespace

void add_math_grad_cases(std::vector<grad_case>& cases) {
  add_arithmetic_cases(cases);
  add_unary_cases(cases);
  add_select_cast_cases(cases);
  add_reduction_cases(cases);
  add_array_cases(cases);
  add_gather_cases(cases);
}

}  // namespace troupe::conformance
