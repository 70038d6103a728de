// Conformance cases of the math op family (runtime/ops/math_ops.cpp). Every reference is
// written here with plain loops in double, from the definitions of the ops: NumPy
// broadcasting by explicit multi-indices, reductions by visiting every element.

#include <cmath>
#include <functional>
#include <limits>

#include "runtime/ops/math_ops.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {
namespace {

using inputs = std::vector<ref_tensor>;
using outputs = std::vector<ref_tensor>;
using shape_vec = std::vector<int64_t>;

int64_t size_of(const shape_vec& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Inputs of the case dtype (unless `type` is given): random in [lo, hi), or fixed values.
input_spec random_input(shape_vec shape, double lo = -1, double hi = 1,
                        dtype type = dtype::invalid) {
  input_spec in;
  in.shape = std::move(shape);
  in.type = type;
  in.lo = lo;
  in.hi = hi;
  return in;
}
input_spec fixed_input(shape_vec shape, std::vector<double> values) {
  input_spec in;
  in.shape = std::move(shape);
  in.values = std::move(values);
  return in;
}

// NumPy broadcasting of shapes (the cases only use compatible ones).
shape_vec broadcast_shape(const std::vector<const ref_tensor*>& ts) {
  size_t rank = 0;
  for (const ref_tensor* t : ts) rank = std::max(rank, t->shape.size());
  shape_vec out(rank, 1);
  for (const ref_tensor* t : ts)
    for (size_t i = 0; i < t->shape.size(); ++i) {
      int64_t d = t->shape[i];
      size_t o = rank - t->shape.size() + i;
      if (d != 1) out[o] = d;
    }
  return out;
}

// The flat index in t of the output element at multi-index idx (size-1 dims repeat).
int64_t broadcast_source(const ref_tensor& t, const shape_vec& idx) {
  int64_t flat = 0;
  size_t off = idx.size() - t.shape.size();
  for (size_t i = 0; i < t.shape.size(); ++i)
    flat = flat * t.shape[i] + (t.shape[i] == 1 ? 0 : idx[off + i]);
  return flat;
}

shape_vec unflatten(int64_t flat, const shape_vec& shape) {
  shape_vec idx(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    idx[i] = flat % shape[i];
    flat /= shape[i];
  }
  return idx;
}

// out[i] = f(values of the inputs at i), the inputs broadcast together.
ref_tensor ref_map(const std::vector<const ref_tensor*>& ts,
                   const std::function<double(const std::vector<double>&)>& f) {
  ref_tensor out{broadcast_shape(ts), {}};
  std::vector<double> args(ts.size());
  for (int64_t i = 0; i < out.size(); ++i) {
    shape_vec idx = unflatten(i, out.shape);
    for (size_t k = 0; k < ts.size(); ++k)
      args[k] = ts[k]->values[size_t(broadcast_source(*ts[k], idx))];
    out.values.push_back(f(args));
  }
  return out;
}

ref_tensor ref_binary(const ref_tensor& a, const ref_tensor& b,
                      const std::function<double(double, double)>& f) {
  return ref_map({&a, &b}, [&](const std::vector<double>& v) { return f(v[0], v[1]); });
}

// Rounds a reference result to the case dtype, as the kernel's output holds it.
double to_dtype(dtype t, double v) {
  if (t == dtype::float32) return double(float(v));
  return v;
}

// Adds `c` with float32 split off under its own tolerance (long sums round more than
// the default allows); the other dtypes keep the defaults.
void add_with_f32_tolerance(std::vector<op_case>& cases, op_case c, double atol32,
                            double rtol32) {
  std::vector<dtype> rest;
  bool has32 = false;
  for (dtype t : c.dtypes) {
    if (t == dtype::float32) has32 = true;
    else rest.push_back(t);
  }
  if (has32) {
    op_case c32 = c;
    c32.name += "_f32tol";
    c32.dtypes = {dtype::float32};
    c32.atol = atol32;
    c32.rtol = rtol32;
    cases.push_back(std::move(c32));
  }
  if (!rest.empty()) {
    c.dtypes = rest;
    cases.push_back(std::move(c));
  }
}

// ---- binary arithmetic ----------------------------------------------------------------

struct shape_pair {
  const char* label;
  shape_vec x, y;
};

// Covers every path of the broadcast plan: one flat loop, a scalar on either side, a
// repeated row, a repeated value per row, both sides broadcast, a middle dimension, an
// empty output, and outputs big enough to be split across threads mid-row.
const std::vector<shape_pair> broadcast_shapes = {
    {"same", {3, 4}, {3, 4}},
    {"scalar_y", {2, 5}, {}},
    {"scalar_x", {}, {7}},
    {"row", {2, 3, 4}, {4}},
    {"column", {3, 4}, {3, 1}},
    {"outer", {3, 1}, {1, 4}},
    {"middle", {2, 1, 4}, {3, 1}},
    {"rank4_mixed", {2, 1, 3, 1}, {1, 4, 3, 2}},
    {"empty", {0, 3}, {3}},
    {"ones", {1, 1}, {1}},
    {"big_row", {211, 397}, {397}},
    {"big_column", {301, 257}, {301, 1}},
    {"big_same", {50021}, {50021}},
};

using binary_ref = std::function<double(double, double, dtype)>;
using binary_builder = output (*)(const scope&, output, output);

void add_binary_cases(std::vector<op_case>& cases, const std::string& op, binary_builder build,
                      binary_ref ref, std::vector<dtype> types, double lo, double hi,
                      double ylo, double yhi) {
  for (const shape_pair& sp : broadcast_shapes) {
    cases.push_back({
        .op = op,
        .name = str_cat(op, "_", sp.label),
        .dtypes = types,
        .inputs = {random_input(sp.x, lo, hi), random_input(sp.y, ylo, yhi)},
        .build = [build](const scope& s, const std::vector<output>& in,
                         dtype) -> std::vector<output> { return {build(s, in[0], in[1])}; },
        .reference = [ref](const inputs& in, dtype t) -> outputs {
          return {ref_binary(in[0], in[1], [&](double a, double b) { return ref(a, b, t); })};
        },
    });
  }
}

void add_arithmetic_cases(std::vector<op_case>& cases) {
  add_binary_cases(cases, "add", ops::add, [](double a, double b, dtype t) { return to_dtype(t, a + b); },
                   numeric_types, -50, 50, -50, 50);
  add_binary_cases(cases, "sub", ops::sub, [](double a, double b, dtype t) { return to_dtype(t, a - b); },
                   numeric_types, -50, 50, -50, 50);
  add_binary_cases(cases, "mul", ops::mul, [](double a, double b, dtype t) { return to_dtype(t, a * b); },
                   numeric_types, -50, 50, -50, 50);
  add_binary_cases(cases, "maximum", ops::maximum,
                   [](double a, double b, dtype) { return a > b ? a : b; }, numeric_types, -50, 50,
                   -50, 50);
  add_binary_cases(cases, "minimum", ops::minimum,
                   [](double a, double b, dtype) { return a < b ? a : b; }, numeric_types, -50, 50,
                   -50, 50);
  // Divisors in [1, 9): zero-free for integers; signs are covered by div_signs below.
  add_binary_cases(cases, "div", ops::div,
                   [](double a, double b, dtype t) {
                     return is_integer(t) ? std::trunc(a / b) : to_dtype(t, a / b);
                   },
                   numeric_types, -50, 50, 1, 9);
  add_binary_cases(cases, "pow", ops::pow,
                   [](double a, double b, dtype t) { return to_dtype(t, std::pow(a, b)); },
                   float_types, 0.5, 3, -2, 2);

  // Integer division truncates toward zero for every sign combination.
  cases.push_back({
      .op = "div",
      .name = "div_signs",
      .dtypes = numeric_types,
      .inputs = {fixed_input({8}, {7, -7, 7, -7, 0, 9, -9, 1}),
                 fixed_input({8}, {2, 2, -2, -2, 3, -4, 4, -3})},
      .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
        return {ops::div(s, in[0], in[1])};
      },
      .reference = [](const inputs& in, dtype t) -> outputs {
        return {ref_binary(in[0], in[1], [&](double a, double b) {
          return is_integer(t) ? std::trunc(a / b) : to_dtype(t, a / b);
        })};
      },
  });
  // A -1 divisor takes the integer path that guards lowest / -1 (see math_kernels.cpp).
  cases.push_back({
      .op = "div",
      .name = "div_minus_one",
      .dtypes = numeric_types,
      .inputs = {fixed_input({2, 3}, {5, -5, 0, 3, 8, -9}), fixed_input({3}, {-1, 2, -4})},
      .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
        return {ops::div(s, in[0], in[1])};
      },
      .reference = [](const inputs& in, dtype t) -> outputs {
        return {ref_binary(in[0], in[1], [&](double a, double b) {
          return is_integer(t) ? std::trunc(a / b) : to_dtype(t, a / b);
        })};
      },
  });
}

// ---- unary --------------------------------------------------------------------------------

void add_unary_case(std::vector<op_case>& cases, const std::string& op,
                    output (*build)(const scope&, output), std::function<double(double)> ref,
                    std::vector<dtype> types, double lo, double hi) {
  for (const auto& [label, shape] :
       std::vector<std::pair<std::string, shape_vec>>{{"matrix", {3, 5}},
                                                      {"scalar", {}},
                                                      {"empty", {2, 0}},
                                                      {"big", {45007}}}) {
    cases.push_back({
        .op = op,
        .name = str_cat(op, "_", label),
        .dtypes = types,
        .inputs = {random_input(shape, lo, hi)},
        .build = [build](const scope& s, const std::vector<output>& in,
                         dtype) -> std::vector<output> { return {build(s, in[0])}; },
        .reference = [ref](const inputs& in, dtype t) -> outputs {
          ref_tensor out{in[0].shape, {}};
          for (double v : in[0].values) out.values.push_back(to_dtype(t, ref(v)));
          return {out};
        },
    });
  }
}

void add_unary_cases(std::vector<op_case>& cases) {
  add_unary_case(cases, "neg", ops::neg, [](double v) { return -v; }, numeric_types, -50, 50);
  add_unary_case(cases, "abs", ops::abs, [](double v) { return std::fabs(v); }, numeric_types,
                 -50, 50);
  add_unary_case(cases, "square", ops::square, [](double v) { return v * v; }, numeric_types,
                 -50, 50);
  add_unary_case(cases, "sqrt", ops::sqrt, [](double v) { return std::sqrt(v); }, float_types,
                 0, 10);
  add_unary_case(cases, "exp", ops::exp, [](double v) { return std::exp(v); }, float_types, -5, 5);
  add_unary_case(cases, "log", ops::log, [](double v) { return std::log(v); }, float_types, 0.1,
                 10);
  // Beyond one period, so range reduction is exercised too.
  add_unary_case(cases, "sin", ops::sin, [](double v) { return std::sin(v); }, float_types, -20,
                 20);
  add_unary_case(cases, "cos", ops::cos, [](double v) { return std::cos(v); }, float_types, -20,
                 20);
  add_unary_case(cases, "logical_not", ops::logical_not, [](double v) { return v != 0 ? 0 : 1; },
                 {dtype::boolean}, -1, 1);
}

// ---- comparisons and logic ---------------------------------------------------------------

// Fixed values with many ties, so equal and the orderings see every outcome; bool and
// string inputs get them too (as 0/1 and as decimal text).
const std::vector<double> cmp_x = {-2, -1, 0, 1, 2, 3, 1, 0, -1, 3, 3, 0};
const std::vector<double> cmp_y = {1, 0, 3, -1};

void add_comparison_case(std::vector<op_case>& cases, const std::string& op,
                         binary_builder build, std::function<bool(double, double)> ref,
                         std::vector<dtype> types) {
  auto reference = [ref](const inputs& in, dtype) -> outputs {
    return {ref_binary(in[0], in[1], [&](double a, double b) { return ref(a, b) ? 1.0 : 0.0; })};
  };
  auto builder = [build](const scope& s, const std::vector<output>& in,
                         dtype) -> std::vector<output> { return {build(s, in[0], in[1])}; };
  cases.push_back({.op = op,
                   .name = op + "_row",
                   .dtypes = types,
                   .inputs = {fixed_input({3, 4}, cmp_x), fixed_input({4}, cmp_y)},
                   .build = builder,
                   .reference = reference});
  cases.push_back({.op = op,
                   .name = op + "_same",
                   .dtypes = types,
                   .inputs = {fixed_input({12}, cmp_x),
                              fixed_input({12}, {-2, 0, 0, 2, 1, 3, 1, -1, -1, 4, 3, 1})},
                   .build = builder,
                   .reference = reference});
  cases.push_back({.op = op,
                   .name = op + "_big_column",
                   .dtypes = types,
                   .inputs = {random_input({200, 250}, -3, 3), random_input({200, 1}, -3, 3)},
                   .build = builder,
                   .reference = reference});
}

void add_comparison_cases(std::vector<op_case>& cases) {
  const std::vector<dtype> eq_types = all_types;
  add_comparison_case(cases, "equal", ops::equal, [](double a, double b) { return a == b; }, eq_types);
  add_comparison_case(cases, "not_equal", ops::not_equal, [](double a, double b) { return a != b; },
                      eq_types);
  add_comparison_case(cases, "less", ops::less, [](double a, double b) { return a < b; },
                      numeric_types);
  add_comparison_case(cases, "less_equal", ops::less_equal,
                      [](double a, double b) { return a <= b; }, numeric_types);
  add_comparison_case(cases, "greater", ops::greater, [](double a, double b) { return a > b; },
                      numeric_types);
  add_comparison_case(cases, "greater_equal", ops::greater_equal,
                      [](double a, double b) { return a >= b; }, numeric_types);
  add_comparison_case(cases, "logical_and", ops::logical_and,
                      [](double a, double b) { return a != 0 && b != 0; }, {dtype::boolean});
  add_comparison_case(cases, "logical_or", ops::logical_or,
                      [](double a, double b) { return a != 0 || b != 0; }, {dtype::boolean});
}

// ---- select ------------------------------------------------------------------------------

void add_select_cases(std::vector<op_case>& cases) {
  struct shapes {
    const char* label;
    shape_vec c, x, y;
  };
  for (const shapes& sh : std::vector<shapes>{{"same", {2, 3}, {2, 3}, {2, 3}},
                                             {"scalar_condition", {}, {2, 3}, {2, 3}},
                                             {"all_broadcast", {2, 1, 4}, {3, 1}, {4}},
                                             {"scalar_y", {3, 4}, {3, 4}, {}},
                                             {"big", {301, 1}, {301, 199}, {199}}}) {
    cases.push_back({
        .op = "select",
        .name = str_cat("select_", sh.label),
        .dtypes = all_types,
        .inputs = {random_input(sh.c, -1, 1, dtype::boolean), random_input(sh.x, -50, 50),
                   random_input(sh.y, -50, 50)},
        .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
          return {ops::select(s, in[0], in[1], in[2])};
        },
        .reference = [](const inputs& in, dtype) -> outputs {
          return {ref_map({&in[0], &in[1], &in[2]},
                          [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; })};
        },
    });
  }
}

// ---- cast --------------------------------------------------------------------------------

void add_cast_cases(std::vector<op_case>& cases) {
  const std::vector<dtype> cast_types = {dtype::float32, dtype::float64, dtype::int32,
                                         dtype::int64, dtype::boolean};
  // Every source dtype to every destination dtype; fractional and negative values check
  // truncation toward zero, zeros the conversion to bool.
  cases.push_back({
      .op = "cast",
      .name = "cast_all_pairs",
      .dtypes = cast_types,
      .inputs = {fixed_input({2, 5}, {-2.75, -1.0, -0.5, 0.0, 0.5, 1.9, 3.0, 100.25, -7.5, 42.0})},
      .build = [cast_types](const scope& s, const std::vector<output>& in,
                            dtype) -> std::vector<output> {
        std::vector<output> out;
        for (dtype to : cast_types) out.push_back(ops::cast(s, in[0], to));
        return out;
      },
      .reference = [cast_types](const inputs& in, dtype) -> outputs {
        outputs out;
        for (dtype to : cast_types) {
          ref_tensor r{in[0].shape, {}};
          for (double v : in[0].values) {
            if (to == dtype::boolean) r.values.push_back(v != 0 ? 1 : 0);
            else if (is_integer(to)) r.values.push_back(std::trunc(v));
            else r.values.push_back(to_dtype(to, v));
          }
          out.push_back(r);
        }
        return out;
      },
  });
  cases.push_back({
      .op = "cast",
      .name = "cast_big_to_int32",
      .dtypes = {dtype::float32, dtype::float64, dtype::int64},
      .inputs = {random_input({60013}, -1000, 1000)},
      .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
        return {ops::cast(s, in[0], dtype::int32)};
      },
      .reference = [](const inputs& in, dtype) -> outputs {
        ref_tensor r{in[0].shape, {}};
        for (double v : in[0].values) r.values.push_back(std::trunc(v));
        return {r};
      },
  });
}

// ---- reductions --------------------------------------------------------------------------

enum class reduce_kind { sum, mean, max, min, prod };

// Visits every element, adding it to the output element it reduces into.
ref_tensor ref_reduce(const ref_tensor& x, shape_vec axes, bool keep_dims, reduce_kind kind,
                      dtype t) {
  const size_t rank = x.shape.size();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) reduced[size_t(a < 0 ? a + int64_t(rank) : a)] = true;
  shape_vec out_shape, kept_shape;
  for (size_t i = 0; i < rank; ++i) {
    if (!reduced[i]) kept_shape.push_back(x.shape[i]);
    if (!reduced[i] || keep_dims) out_shape.push_back(reduced[i] ? 1 : x.shape[i]);
  }
  const int64_t n_out = size_of(kept_shape);
  std::vector<double> acc(size_t(n_out), kind == reduce_kind::prod ? 1.0 : 0.0);
  std::vector<int64_t> count(size_t(n_out), 0);
  for (int64_t i = 0; i < x.size(); ++i) {
    shape_vec idx = unflatten(i, x.shape);
    int64_t o = 0;
    for (size_t d = 0; d < rank; ++d)
      if (!reduced[d]) o = o * x.shape[d] + idx[d];
    double v = x.values[size_t(i)];
    double& a = acc[size_t(o)];
    switch (kind) {
      case reduce_kind::sum:
      case reduce_kind::mean: a += v; break;
      case reduce_kind::prod: a *= v; break;
      case reduce_kind::max: a = count[size_t(o)] == 0 || v > a ? v : a; break;
      case reduce_kind::min: a = count[size_t(o)] == 0 || v < a ? v : a; break;
    }
    ++count[size_t(o)];
  }
  ref_tensor out{out_shape, {}};
  for (int64_t o = 0; o < n_out; ++o) {
    double v = acc[size_t(o)];
    if (kind == reduce_kind::mean) {
      int64_t c = count[size_t(o)];
      v = c == 0 ? std::numeric_limits<double>::quiet_NaN()
                 : (is_integer(t) ? std::trunc(v / double(c)) : v / double(c));
    }
    out.values.push_back(to_dtype(t, v));
  }
  return out;
}

struct reduce_config {
  const char* label;
  shape_vec shape;
  shape_vec axes;
  bool keep_dims;
};

// Every path of the reduction kernels: inner rows, outer rows (axis 0 of [N, C]), middle
// axes, several passes, size-1 axes only, empty inputs, and blocks big enough to be split
// into pieces (rows, columns and row blocks).
const std::vector<reduce_config> reduce_configs = {
    {"all", {3, 4}, {}, false},
    {"all_keep_dims", {3, 4}, {}, true},
    {"scalar", {}, {}, false},
    {"axis0", {5, 6}, {0}, false},
    {"axis1", {5, 6}, {1}, false},
    {"last_keep_dims", {2, 3, 4}, {-1}, true},
    {"middle", {2, 3, 4}, {1}, false},
    {"outer_and_inner", {3, 4, 5}, {0, 2}, false},
    {"two_passes_keep_dims", {2, 3, 2, 3, 2}, {1, -2}, true},
    {"with_size1", {2, 1, 3}, {0, 1}, false},
    {"size1_only", {3, 1}, {1}, false},
    {"empty_kept", {0, 3}, {1}, false},
    {"big_axis0_narrow", {20001, 7}, {0}, false},
    {"big_axis0_wide", {40, 2100}, {0}, false},
    {"big_rows", {2, 40000}, {1}, false},
    {"big_all", {70001}, {}, false},
    {"big_many_rows", {2000, 33}, {-1}, false},
};

using reduce_builder = output (*)(const scope&, output, std::vector<int64_t>, bool);

void add_reduce_cases(std::vector<op_case>& cases, const std::string& op, reduce_builder build,
                      reduce_kind kind, double lo, double hi) {
  for (const reduce_config& rc : reduce_configs) {
    const bool big = size_of(rc.shape) > 10000;
    if (kind == reduce_kind::prod && big) continue;  // products of many values overflow
    op_case c{
        .op = op,
        .name = str_cat(op, "_", rc.label),
        .dtypes = numeric_types,
        .inputs = {random_input(rc.shape, lo, hi)},
        .build = [build, rc](const scope& s, const std::vector<output>& in,
                             dtype) -> std::vector<output> {
          return {build(s, in[0], rc.axes, rc.keep_dims)};
        },
        .reference = [rc, kind](const inputs& in, dtype t) -> outputs {
          return {ref_reduce(in[0], rc.axes, rc.keep_dims, kind, t)};
        },
    };
    // float32 sums round at every addition, and cancel: an absolute tolerance that
    // grows with the number and the size of the values summed.
    if (kind == reduce_kind::sum || kind == reduce_kind::mean)
      add_with_f32_tolerance(cases, std::move(c), big ? 0.05 : 1e-3, big ? 1e-4 : 1e-5);
    else
      cases.push_back(std::move(c));
  }
}

void add_reduction_cases(std::vector<op_case>& cases) {
  add_reduce_cases(cases, "sum", ops::sum, reduce_kind::sum, -50, 50);
  add_reduce_cases(cases, "mean", ops::mean, reduce_kind::mean, -50, 50);
  add_reduce_cases(cases, "max", ops::max, reduce_kind::max, -50, 50);
  add_reduce_cases(cases, "min", ops::min, reduce_kind::min, -50, 50);
  // Integers in [-2, 2] and floats near 1 keep the products in range.
  add_reduce_cases(cases, "prod", ops::prod, reduce_kind::prod, -2, 3);

  // Reducing an axis of size 0: sum 0, prod 1, mean NaN (floats; integers fail, as max
  // and min do: see math_ops_test.cpp).
  struct empty_case {
    const char* op;
    reduce_builder build;
    reduce_kind kind;
    std::vector<dtype> types;
  };
  for (const empty_case& e :
       std::vector<empty_case>{{"sum", ops::sum, reduce_kind::sum, numeric_types},
                               {"prod", ops::prod, reduce_kind::prod, numeric_types},
                               {"mean", ops::mean, reduce_kind::mean, float_types}}) {
    reduce_builder build = e.build;
    reduce_kind kind = e.kind;
    cases.push_back({
        .op = e.op,
        .name = str_cat(e.op, "_zero_size_axis"),
        .dtypes = e.types,
        .inputs = {random_input({0, 3})},
        .build = [build](const scope& s, const std::vector<output>& in,
                         dtype) -> std::vector<output> {
          return {build(s, in[0], {0}, false), build(s, in[0], {}, false)};
        },
        .reference = [kind](const inputs& in, dtype t) -> outputs {
          return {ref_reduce(in[0], {0}, false, kind, t), ref_reduce(in[0], {}, false, kind, t)};
        },
    });
  }
}

// ---- argmax ------------------------------------------------------------------------------

ref_tensor ref_argmax(const ref_tensor& x, int64_t axis) {
  const int64_t rank = int64_t(x.shape.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1, n = x.shape[size_t(axis)];
  shape_vec out_shape;
  for (int64_t i = 0; i < rank; ++i) {
    if (i < axis) outer *= x.shape[size_t(i)];
    if (i > axis) inner *= x.shape[size_t(i)];
    if (i != axis) out_shape.push_back(x.shape[size_t(i)]);
  }
  ref_tensor out{out_shape, {}};
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t best = 0;
      for (int64_t r = 1; r < n; ++r)
        if (x.values[size_t((o * n + r) * inner + j)] > x.values[size_t((o * n + best) * inner + j)])
          best = r;
      out.values.push_back(double(best));
    }
  return out;
}

void add_argmax_cases(std::vector<op_case>& cases) {
  struct config {
    const char* label;
    shape_vec shape;
    int64_t axis;
    std::vector<double> values;
  };
  // Ties everywhere: the first index must win.
  const std::vector<double> ties = {1, 3, 3, 0, 3, 2, 2, 2, 2, 2, -1, 4, 0, 4, 4, 5, 5, 5, 5, 5};
  for (const config& cf : std::vector<config>{{"last_axis", {4, 5}, -1, {}},
                                              {"axis0", {4, 5}, 0, {}},
                                              {"middle", {2, 3, 4}, 1, {}},
                                              {"vector", {9}, 0, {}},
                                              {"ties_rows", {4, 5}, 1, ties},
                                              {"ties_columns", {4, 5}, 0, ties},
                                              {"empty_outer", {0, 5}, 1, {}},
                                              {"big_rows", {300, 200}, -1, {}},
                                              {"big_columns", {300, 700}, 0, {}}}) {
    int64_t axis = cf.axis;
    cases.push_back({
        .op = "argmax",
        .name = str_cat("argmax_", cf.label),
        .dtypes = numeric_types,
        .inputs = {cf.values.empty() ? random_input(cf.shape, -1000, 1000) : fixed_input(cf.shape, cf.values)},
        .build = [axis](const scope& s, const std::vector<output>& in,
                        dtype) -> std::vector<output> { return {ops::argmax(s, in[0], axis)}; },
        .reference = [axis](const inputs& in, dtype) -> outputs {
          return {ref_argmax(in[0], axis)};
        },
    });
  }
}

}  // namespace

void add_math_cases(std::vector<op_case>& cases) {
  add_arithmetic_cases(cases);
  add_unary_cases(cases);
  add_comparison_cases(cases);
  add_select_cases(cases);
  add_cast_cases(cases);
  add_reduction_cases(cases);
  add_argmax_cases(cases);
}

}  // namespace troupe::conformance
