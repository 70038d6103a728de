#include "runtime/ops/math_ops.hpp"

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

// An op_spec without a gradient (gradients come with the training core).
op_spec spec(std::string signature, shape_fn shape, std::string doc) {
  op_spec s;
  s.signature = std::move(signature);
  s.shape = std::move(shape);
  s.doc = std::move(doc);
  return s;
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
  auto binary = [&](const char* name, const char* types, const char* doc) {
    ok(reg.add(spec(str_cat(name, "(x: T, y: T) -> (z: T); T in ", types),
                    shape_fns::broadcast_inputs, doc)));
  };
  binary("add", "numeric_types", "x + y, broadcast.");
  binary("sub", "numeric_types", "x - y, broadcast.");
  binary("mul", "numeric_types", "x * y, broadcast.");
  binary("div", "numeric_types",
         "x / y, broadcast; integer division truncates and fails on a zero divisor.");
  binary("maximum", "numeric_types", "max(x, y), broadcast; NaN if either is NaN.");
  binary("minimum", "numeric_types", "min(x, y), broadcast; NaN if either is NaN.");
  binary("pow", "float_types", "x to the power y, broadcast.");

  auto unary = [&](const char* name, const char* types, const char* doc) {
    ok(reg.add(spec(str_cat(name, "(x: T) -> (y: T); T in ", types),
                    shape_fns::same_as_input<0>, doc)));
  };
  unary("neg", "numeric_types", "-x.");
  unary("abs", "numeric_types", "|x|.");
  unary("square", "numeric_types", "x * x.");
  unary("sqrt", "float_types", "The square root of x.");
  unary("exp", "float_types", "e to the power x.");
  unary("log", "float_types", "The natural logarithm of x.");

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
                  "condition ? x : y elementwise, the three broadcast together.")));
  ok(reg.add(spec("cast(x: SrcT) -> (y: DstT); "
                  "SrcT in {float32, float64, int32, int64, bool}; "
                  "DstT in {float32, float64, int32, int64, bool}",
                  shape_fns::same_as_input<0>,
                  "x converted to DstT: float to integer truncates, to bool is x != 0.")));

  auto reduction = [&](const char* name, const char* doc) {
    ok(reg.add(spec(str_cat(name,
                            "(input: T) -> (output: T); T in numeric_types; "
                            "axes: list(int) = []; keep_dims: bool = false"),
                    reduce_shape, doc)));
  };
  reduction("sum", "The sum over axes (all if empty); 0 over no elements.");
  reduction("mean", "The mean over axes (all if empty); integers truncate.");
  reduction("max", "The largest value over axes (all if empty); NaN if any is NaN.");
  reduction("min", "The smallest value over axes (all if empty); NaN if any is NaN.");
  reduction("prod", "The product over axes (all if empty); 1 over no elements.");

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
