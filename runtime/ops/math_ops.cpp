#include "runtime/ops/math_ops.hpp"

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

std::string list_string(std::span<const int64_t> v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += str_cat(i ? "," : "", v[i]);
  return out + "]";
}

// select: condition, x and y broadcast together; the error names all three shapes.
error select_shape(shape_context& c) {
  auto cx = shape_fns::broadcast(c.input(0), c.input(1));
  auto all = cx ? shape_fns::broadcast(*cx, c.input(2)) : cx;
  TROUPE_REQUIRE(all.has_value(), "condition ", c.input(0).to_string(), ", x ",
                 c.input(1).to_string(), " and y ", c.input(2).to_string(),
                 " cannot be broadcast together: ", all.error_value().message());
  c.set_output(0, *all);
  return {};
}

error reduce_shape(shape_context& c) {
  const auto& axes = c.attr<std::vector<int64_t>>("axes");
  bool keep_dims = c.attr<bool>("keep_dims");
  const partial_shape& in = c.input(0);
  if (!in.rank_known()) {
    // Repeated literal axes are an error whatever the rank turns out to be.
    for (size_t i = 0; i < axes.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        TROUPE_REQUIRE(axes[i] != axes[j], "axis ", axes[i], " is repeated in axes ",
                       list_string(axes));
    c.set_output(0, axes.empty() && !keep_dims ? partial_shape(tensor_shape{})
                                               : partial_shape::unknown());
    return {};
  }
  uint32_t mask = TROUPE_TRY(reduction_axis_mask(axes, in.rank()));
  std::vector<int64_t> dims;
  for (int i = 0; i < in.rank(); ++i) {
    if (!((mask >> i) & 1u))
      dims.push_back(in.dim(i));
    else if (keep_dims)
      dims.push_back(1);
  }
  c.set_output(0, partial_shape(std::span<const int64_t>(dims)));
  return {};
}

error argmax_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  int64_t axis = c.attr<int64_t>("axis");
  if (!in.rank_known()) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  TROUPE_REQUIRE(in.rank() >= 1, "input must have rank >= 1, got a scalar");
  int a = TROUPE_TRY(shape_fns::normalize_axis(axis, in.rank()));
  std::vector<int64_t> dims;
  for (int i = 0; i < in.rank(); ++i)
    if (i != a) dims.push_back(in.dim(i));
  c.set_output(0, partial_shape(std::span<const int64_t>(dims)));
  return {};
}

op_spec spec(std::string signature, shape_fn shape, std::string doc, grad_fn grad = {}) {
  op_spec s;
  s.signature = std::move(signature);
  s.shape = std::move(shape);
  s.grad = std::move(grad);
  s.doc = std::move(doc);
  return s;
}

// ---- gradients ---------------------------------------------------------------------------
// Only float32/float64 edges carry gradients (see Note [Automatic differentiation]), so
// these functions only ever see float types, though the ops accept integers too.

// A scalar constant of float dtype t (a broadcast operand).
output scalar(const scope& s, dtype t, double v) {
  return t == dtype::float32 ? ops::constant(s, float(v)) : ops::constant(s, v);
}

// The gradient of a broadcasting op's input x from g, the gradient of its output z: g
// summed over the dimensions broadcasting added or stretched. No node when x statically
// has z's shape.
output reduce_to(const scope& s, output g, output x, output z) {
  const partial_shape& xs = x.shape();
  if (xs.fully_known() && xs == z.shape()) return g;
  return ops::sum_to_like(s, g, x);
}

error add_grad(grad_context& c) {
  output g = c.dense_grad(0);
  if (c.wants(0)) c.set(0, reduce_to(c.s(), g, c.input(0), c.out(0)));
  if (c.wants(1)) c.set(1, reduce_to(c.s(), g, c.input(1), c.out(0)));
  return {};
}

error sub_grad(grad_context& c) {
  output g = c.dense_grad(0);
  if (c.wants(0)) c.set(0, reduce_to(c.s(), g, c.input(0), c.out(0)));
  if (c.wants(1)) c.set(1, ops::neg(c.s(), reduce_to(c.s(), g, c.input(1), c.out(0))));
  return {};
}

error mul_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), x = c.input(0), y = c.input(1);
  if (c.wants(0)) c.set(0, reduce_to(s, ops::mul(s, g, y), x, c.out(0)));
  if (c.wants(1)) c.set(1, reduce_to(s, ops::mul(s, x, g), y, c.out(0)));
  return {};
}

// z = x / y: dx = g / y, dy = -g x / y^2 = -g z / y.
error div_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), y = c.input(1), z = c.out(0);
  if (c.wants(0)) c.set(0, reduce_to(s, ops::div(s, g, y), c.input(0), z));
  if (c.wants(1)) c.set(1, reduce_to(s, ops::neg(s, ops::div(s, ops::mul(s, g, z), y)), y, z));
  return {};
}

// maximum: g goes to x where x >= y, else to y (ties to x); minimum: where x <= y.
template <bool Max>
error extremum_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), x = c.input(0), y = c.input(1), z = c.out(0);
  output to_x = Max ? ops::greater_equal(s, x, y) : ops::less_equal(s, x, y);
  output zero = scalar(s, g.type(), 0);
  if (c.wants(0)) c.set(0, reduce_to(s, ops::select(s, to_x, g, zero), x, z));
  if (c.wants(1)) c.set(1, reduce_to(s, ops::select(s, to_x, zero, g), y, z));
  return {};
}

// z = x^y: dx = g y x^(y-1); dy = g z log(x), taken as 0 where x <= 0 (as TensorFlow).
error pow_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), x = c.input(0), y = c.input(1), z = c.out(0);
  const dtype t = g.type();
  if (c.wants(0)) {
    output d = ops::mul(s, y, ops::pow(s, x, ops::sub(s, y, scalar(s, t, 1))));
    c.set(0, reduce_to(s, ops::mul(s, g, d), x, z));
  }
  if (c.wants(1)) {
    output log_x = ops::select(s, ops::greater(s, x, scalar(s, t, 0)), ops::log(s, x),
                               scalar(s, t, 0));
    c.set(1, reduce_to(s, ops::mul(s, ops::mul(s, g, z), log_x), y, z));
  }
  return {};
}

error neg_grad(grad_context& c) {
  c.set(0, ops::neg(c.s(), c.dense_grad(0)));
  return {};
}

// d|x| = sign(x) (0 at 0).
error abs_grad(grad_context& c) {
  const scope& s = c.s();
  output x = c.input(0);
  output zero = scalar(s, x.type(), 0);
  output sign = ops::sub(s, ops::cast(s, ops::greater(s, x, zero), x.type()),
                         ops::cast(s, ops::less(s, x, zero), x.type()));
  c.set(0, ops::mul(s, c.dense_grad(0), sign));
  return {};
}

error square_grad(grad_context& c) {
  const scope& s = c.s();
  output x = c.input(0);
  c.set(0, ops::mul(s, c.dense_grad(0), ops::mul(s, x, scalar(s, x.type(), 2))));
  return {};
}

// d sqrt(x) = 1 / (2 y), from the output y.
error sqrt_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0);
  c.set(0, ops::div(s, ops::mul(s, g, scalar(s, g.type(), 0.5)), c.out(0)));
  return {};
}

error exp_grad(grad_context& c) {
  c.set(0, ops::mul(c.s(), c.dense_grad(0), c.out(0)));
  return {};
}

error log_grad(grad_context& c) {
  c.set(0, ops::div(c.s(), c.dense_grad(0), c.input(0)));
  return {};
}

error sin_grad(grad_context& c) {
  c.set(0, ops::mul(c.s(), c.dense_grad(0), ops::cos(c.s(), c.input(0))));
  return {};
}

error cos_grad(grad_context& c) {
  const scope& s = c.s();
  c.set(0, ops::neg(s, ops::mul(s, c.dense_grad(0), ops::sin(s, c.input(0)))));
  return {};
}

// The condition gets no gradient (bool); x and y get g where they were picked.
error select_grad(grad_context& c) {
  const scope& s = c.s();
  output cond = c.input(0), g = c.dense_grad(0), z = c.out(0);
  output zero = scalar(s, g.type(), 0);
  if (c.wants(1)) c.set(1, reduce_to(s, ops::select(s, cond, g, zero), c.input(1), z));
  if (c.wants(2)) c.set(2, reduce_to(s, ops::select(s, cond, zero, g), c.input(2), z));
  return {};
}

// Between float types the gradient is cast back (sparse rows stay sparse); a cast from
// or to an integer or bool has none.
error cast_grad(grad_context& c) {
  const dtype src = c.attr<dtype>("SrcT"), dst = c.attr<dtype>("DstT");
  if (!is_floating(src) || !is_floating(dst)) return {};
  const gradient& g = c.grad(0);
  if (g.is_sparse())
    c.set_sparse(0, g.indices, ops::cast(c.s(), g.values, src));
  else
    c.set(0, ops::cast(c.s(), c.dense_grad(0), src));
  return {};
}

// sum and mean: g spread back over the reduced elements (divided by their count).
template <bool Mean>
error sum_grad(grad_context& c) {
  c.set(0, ops::reduction_grad(c.s(), c.dense_grad(0), c.input(0),
                               c.attr<std::vector<int64_t>>("axes"), c.attr<bool>("keep_dims"),
                               Mean));
  return {};
}

// max and min: g split evenly between the elements equal to the extreme of their group
// (as TensorFlow). A NaN extreme matches nothing, so its group gets NaN.
error extreme_reduce_grad(grad_context& c) {
  const scope& s = c.s();
  output x = c.input(0), g = c.dense_grad(0);
  const auto& axes = c.attr<std::vector<int64_t>>("axes");
  const bool keep = c.attr<bool>("keep_dims");
  output y = ops::reduction_grad(s, c.out(0), x, axes, keep, false);
  output hit = ops::cast(s, ops::equal(s, x, y), x.type());
  output count = ops::sum(s, hit, axes, keep);
  c.set(0, ops::mul(s, hit, ops::reduction_grad(s, ops::div(s, g, count), x, axes, keep, false)));
  return {};
}

// prod: d/dx_i = the product of the others. With p the product of a group's non-zero
// elements and n its number of zeros: g p / x_i for every x_i when n = 0; g p for the
// zero and 0 for the rest when n = 1; 0 for all when n >= 2. Exact at zeros, with no
// division by zero.
error prod_grad(grad_context& c) {
  const scope& s = c.s();
  output x = c.input(0), g = c.dense_grad(0);
  const dtype t = x.type();
  const auto& axes = c.attr<std::vector<int64_t>>("axes");
  const bool keep = c.attr<bool>("keep_dims");
  output zero = scalar(s, t, 0), one = scalar(s, t, 1);
  output is_zero = ops::equal(s, x, zero);
  output x_safe = ops::select(s, is_zero, one, x);
  output p = ops::prod(s, x_safe, axes, keep);
  output n = ops::sum(s, ops::cast(s, is_zero, t), axes, keep);
  output gp = ops::mul(s, g, p);
  output none = ops::mul(s, gp, ops::cast(s, ops::equal(s, n, zero), t));
  output single = ops::mul(s, gp, ops::cast(s, ops::equal(s, n, one), t));
  output for_nonzero = ops::div(s, ops::reduction_grad(s, none, x, axes, keep, false), x_safe);
  output for_zero = ops::reduction_grad(s, single, x, axes, keep, false);
  c.set(0, ops::select(s, is_zero, for_zero, for_nonzero));
  return {};
}

}  // namespace

expected<uint32_t> reduction_axis_mask(std::span<const int64_t> axes, int rank) {
  if (axes.empty()) return rank >= 32 ? ~0u : (1u << rank) - 1u;
  uint32_t mask = 0;
  for (int64_t axis : axes) {
    TROUPE_REQUIRE(axis >= -rank && axis < rank, "axis ", axis, " in axes ", list_string(axes),
                   " is out of range for an input of rank ", rank, ": expected -", rank,
                   " <= axis < ", rank);
    int a = int(axis < 0 ? axis + rank : axis);
    TROUPE_REQUIRE(!((mask >> a) & 1u), "axis ", axis, " is repeated in axes ",
                   list_string(axes), " (input of rank ", rank, ")");
    mask |= 1u << a;
  }
  return mask;
}

void register_math_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  auto binary = [&](const char* name, const char* types, const char* doc, grad_fn grad) {
    ok(reg.add(spec(str_cat(name, "(x: T, y: T) -> (z: T); T in ", types),
                    shape_fns::broadcast_inputs, doc, std::move(grad))));
  };
  binary("add", "numeric_types", "x + y, broadcast.", add_grad);
  binary("sub", "numeric_types", "x - y, broadcast.", sub_grad);
  binary("mul", "numeric_types", "x * y, broadcast.", mul_grad);
  binary("div", "numeric_types",
         "x / y, broadcast; integer division truncates and fails on a zero divisor.", div_grad);
  binary("maximum", "numeric_types", "max(x, y), broadcast; NaN if either is NaN.",
         extremum_grad<true>);
  binary("minimum", "numeric_types", "min(x, y), broadcast; NaN if either is NaN.",
         extremum_grad<false>);
  binary("pow", "float_types", "x to the power y, broadcast.", pow_grad);

  auto unary = [&](const char* name, const char* types, const char* doc, grad_fn grad) {
    ok(reg.add(spec(str_cat(name, "(x: T) -> (y: T); T in ", types),
                    shape_fns::same_as_input<0>, doc, std::move(grad))));
  };
  unary("neg", "numeric_types", "-x.", neg_grad);
  unary("abs", "numeric_types", "|x|.", abs_grad);
  unary("square", "numeric_types", "x * x.", square_grad);
  unary("sqrt", "float_types", "The square root of x.", sqrt_grad);
  unary("exp", "float_types", "e to the power x.", exp_grad);
  unary("log", "float_types", "The natural logarithm of x.", log_grad);
  unary("sin", "float_types", "The sine of x (radians).", sin_grad);
  unary("cos", "float_types", "The cosine of x (radians).", cos_grad);

  // Comparisons and logic have no gradient: their results are piecewise constant.
  auto compare = [&](const char* name, const char* types, const char* doc) {
    ok(reg.add(spec(str_cat(name, "(x: T, y: T) -> (z: bool); T in ", types),
                    shape_fns::broadcast_inputs, doc)));
  };
  compare("equal", "all_types", "x == y, broadcast.");
  compare("not_equal", "all_types", "x != y, broadcast.");
  compare("less", "numeric_types", "x < y, broadcast.");
  compare("less_equal", "numeric_types", "x <= y, broadcast.");
  compare("greater", "numeric_types", "x > y, broadcast.");
  compare("greater_equal", "numeric_types", "x >= y, broadcast.");

  ok(reg.add(spec("logical_and(x: bool, y: bool) -> (z: bool)", shape_fns::broadcast_inputs,
                  "x and y, broadcast.")));
  ok(reg.add(spec("logical_or(x: bool, y: bool) -> (z: bool)", shape_fns::broadcast_inputs,
                  "x or y, broadcast.")));
  ok(reg.add(spec("logical_not(x: bool) -> (y: bool)", shape_fns::same_as_input<0>, "not x.")));

  ok(reg.add(spec("select(condition: bool, x: T, y: T) -> (output: T)", select_shape,
                  "condition ? x : y elementwise, the three broadcast together.", select_grad)));
  ok(reg.add(spec("cast(x: SrcT) -> (y: DstT); "
                  "SrcT in {float32, float64, int32, int64, bool}; "
                  "DstT in {float32, float64, int32, int64, bool}",
                  shape_fns::same_as_input<0>,
                  "x converted to DstT: float to integer truncates, to bool is x != 0.",
                  cast_grad)));

  auto reduction = [&](const char* name, const char* doc, grad_fn grad) {
    ok(reg.add(spec(str_cat(name,
                            "(input: T) -> (output: T); T in numeric_types; "
                            "axes: list(int) = []; keep_dims: bool = false"),
                    reduce_shape, doc, std::move(grad))));
  };
  reduction("sum", "The sum over axes (all if empty); 0 over no elements.", sum_grad<false>);
  reduction("mean", "The mean over axes (all if empty); integers truncate.", sum_grad<true>);
  reduction("max", "The largest value over axes (all if empty); NaN if any is NaN.",
            extreme_reduce_grad);
  reduction("min", "The smallest value over axes (all if empty); NaN if any is NaN.",
            extreme_reduce_grad);
  reduction("prod", "The product over axes (all if empty); 1 over no elements.", prod_grad);

  // argmax has no gradient: an index.
  ok(reg.add(spec("argmax(input: T) -> (index: int64); T in numeric_types; axis: int = -1",
                  argmax_shape,
                  "The index of the largest value along axis (the first on ties).")));
}

namespace ops {

output add(const scope& s, output x, output y) { return s.add1("add", {x, y}); }
output sub(const scope& s, output x, output y) { return s.add1("sub", {x, y}); }
output mul(const scope& s, output x, output y) { return s.add1("mul", {x, y}); }
output div(const scope& s, output x, output y) { return s.add1("div", {x, y}); }
output maximum(const scope& s, output x, output y) { return s.add1("maximum", {x, y}); }
output minimum(const scope& s, output x, output y) { return s.add1("minimum", {x, y}); }
output pow(const scope& s, output x, output y) { return s.add1("pow", {x, y}); }

output neg(const scope& s, output x) { return s.add1("neg", {x}); }
output abs(const scope& s, output x) { return s.add1("abs", {x}); }
output square(const scope& s, output x) { return s.add1("square", {x}); }
output sqrt(const scope& s, output x) { return s.add1("sqrt", {x}); }
output exp(const scope& s, output x) { return s.add1("exp", {x}); }
output log(const scope& s, output x) { return s.add1("log", {x}); }
output sin(const scope& s, output x) { return s.add1("sin", {x}); }
output cos(const scope& s, output x) { return s.add1("cos", {x}); }

output equal(const scope& s, output x, output y) { return s.add1("equal", {x, y}); }
output not_equal(const scope& s, output x, output y) { return s.add1("not_equal", {x, y}); }
output less(const scope& s, output x, output y) { return s.add1("less", {x, y}); }
output less_equal(const scope& s, output x, output y) { return s.add1("less_equal", {x, y}); }
output greater(const scope& s, output x, output y) { return s.add1("greater", {x, y}); }
output greater_equal(const scope& s, output x, output y) {
  return s.add1("greater_equal", {x, y});
}

output logical_and(const scope& s, output x, output y) { return s.add1("logical_and", {x, y}); }
output logical_or(const scope& s, output x, output y) { return s.add1("logical_or", {x, y}); }
output logical_not(const scope& s, output x) { return s.add1("logical_not", {x}); }

output select(const scope& s, output condition, output x, output y) {
  return s.add1("select", {condition, x, y});
}

output cast(const scope& s, output x, dtype to) { return s.add1("cast", {x}, {{"DstT", to}}); }

output sum(const scope& s, output x, std::vector<int64_t> axes, bool keep_dims) {
  return s.add1("sum", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
output mean(const scope& s, output x, std::vector<int64_t> axes, bool keep_dims) {
  return s.add1("mean", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
output max(const scope& s, output x, std::vector<int64_t> axes, bool keep_dims) {
  return s.add1("max", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
output min(const scope& s, output x, std::vector<int64_t> axes, bool keep_dims) {
  return s.add1("min", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
output prod(const scope& s, output x, std::vector<int64_t> axes, bool keep_dims) {
  return s.add1("prod", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}

output argmax(const scope& s, output x, int64_t axis) {
  return s.add1("argmax", {x}, {{"axis", axis}});
}

}  // namespace ops
}  // namespace troupe
