#include "runtime/ops/variable_ops.hpp"

#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// Whether some tensor shape has both partial shapes.
bool compatible(const partial_shape& a, const partial_shape& b) {
  if (!a.rank_known() || !b.rank_known()) return true;
  if (a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (a.dim(i) >= 0 && b.dim(i) >= 0 && a.dim(i) != b.dim(i)) return false;
  return true;
}

error fill_shape(shape_context& c) {
  const partial_shape& s = c.attr<partial_shape>("shape");
  TROUPE_REQUIRE(s.fully_known(), "fill: the shape must be fully known, not ", s.to_string());
  c.set_output(0, s);
  return {};
}

// The value assigned must fit the declared shape.
error assign_shape(shape_context& c) {
  const partial_shape& declared = c.attr<partial_shape>("shape");
  TROUPE_REQUIRE(compatible(declared, c.input(0)), "variable '", c.attr<std::string>("var"),
                 "' is declared with shape ", declared.to_string(), " but the value has shape ",
                 c.input(0).to_string());
  return {};
}

error no_outputs(shape_context&) { return {}; }

// indices [...] and updates indices.shape + var.shape[1:]: checked where known.
error scatter_shape(shape_context& c) {
  const partial_shape& idx = c.input(0);
  const partial_shape& upd = c.input(1);
  if (idx.rank_known() && upd.rank_known()) {
    TROUPE_REQUIRE(upd.rank() >= idx.rank(), "updates ", upd.to_string(),
                   " must start with the shape of indices ", idx.to_string());
    for (int i = 0; i < idx.rank(); ++i) {
      TROUPE_REQUIRE(idx.dim(i) < 0 || upd.dim(i) < 0 || idx.dim(i) == upd.dim(i), "updates ",
                     upd.to_string(), " must start with the shape of indices ", idx.to_string());
    }
  }
  return {};
}

}  // namespace

void register_variable_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  const std::string target = "; var: string; container: string = \"\"";
  ok(reg.add({.signature = "fill() -> (output: dtype); dtype in numeric_types; shape: shape; "
                           "value: float = 0",
              .shape = fill_shape,
              .doc = "A tensor of a fully known shape filled with one value."}));
  ok(reg.add({.signature = "read_variable() -> (value: dtype); dtype: type; shape: shape = ?" +
                           target,
              .shape = shape_fns::from_shape_attr,
              .is_stateful = true,
              .doc = "A snapshot of a variable's value; fails if it is not initialized."}));
  ok(reg.add({.signature = "assign_variable(value: T) -> (); shape: shape = ?" + target,
              .shape = assign_shape,
              .is_stateful = true,
              .doc = "var = value, creating the variable with this dtype and declared shape."}));
  ok(reg.add({.signature = "assign_add_variable(delta: T) -> (); T in numeric_types" + target,
              .shape = no_outputs,
              .is_stateful = true,
              .doc = "var += delta (same shape)."}));
  ok(reg.add({.signature = "assign_sub_variable(delta: T) -> (); T in numeric_types" + target,
              .shape = no_outputs,
              .is_stateful = true,
              .doc = "var -= delta (same shape)."}));
  ok(reg.add({.signature = "scatter_add_variable(indices: Tidx, updates: T) -> (); "
                           "T in numeric_types; Tidx in {int32, int64}" + target,
              .shape = scatter_shape,
              .is_stateful = true,
              .doc = "var[indices[i]] += updates[i] along dimension 0; repeats add up."}));
  ok(reg.add({.signature = "scatter_update_variable(indices: Tidx, updates: T) -> (); "
                           "Tidx in {int32, int64}" + target,
              .shape = scatter_shape,
              .is_stateful = true,
              .doc = "var[indices[i]] = updates[i] along dimension 0; the last repeat wins."}));
  ok(reg.add({.signature = "variable_is_initialized() -> (initialized: bool)" + target,
              .shape = shape_fns::scalar,
              .is_stateful = true,
              .doc = "Whether the variable holds a value."}));
}

variable make_variable(const scope& s, const std::string& name, output initial_value,
                       partial_shape shape, const std::string& container) {
  variable v;
  v.name = s.full_name(name);
  v.container = container;
  if (!initial_value.valid()) {
    s.record(make_error(errc::invalid_argument, "variable '", v.name,
                        "': the initial value is invalid (the op that should have produced it "
                        "failed)"));
    return v;
  }
  v.type = initial_value.type();
  v.shape = shape.rank_known() ? shape : initial_value.shape();
  v.initializer = s.with_name(name + "/init")
                      .add("assign_variable", {initial_value},
                           {{"var", v.name}, {"container", container}, {"shape", v.shape}});
  v.value = s.with_name(name).add1(
      "read_variable", {},
      {{"dtype", v.type}, {"shape", v.shape}, {"var", v.name}, {"container", container}});
  return v;
}

variable make_variable(const scope& s, const std::string& name, output initial_value,
                       const std::string& container) {
  return make_variable(s, name, initial_value, partial_shape::unknown(), container);
}

namespace ops {

output fill(const scope& s, dtype t, tensor_shape shape, double value) {
  return s.add1("fill", {}, {{"dtype", t}, {"shape", partial_shape(shape)}, {"value", value}});
}

output read_variable(const scope& s, const std::string& var, dtype t, partial_shape shape,
                     const std::string& container) {
  return s.add1("read_variable", {},
                {{"dtype", t}, {"shape", shape}, {"var", var}, {"container", container}});
}

namespace {
attr_map target_of(const variable& var) {
  return {{"var", var.name}, {"container", var.container}};
}
}  // namespace

operation assign(const scope& s, const variable& var, output value) {
  attr_map a = target_of(var);
  a["shape"] = var.shape;
  return s.add("assign_variable", {value}, std::move(a));
}

operation assign_add(const scope& s, const variable& var, output delta) {
  return s.add("assign_add_variable", {delta}, target_of(var));
}

operation assign_sub(const scope& s, const variable& var, output delta) {
  return s.add("assign_sub_variable", {delta}, target_of(var));
}

operation scatter_add(const scope& s, const variable& var, output indices, output updates) {
  return s.add("scatter_add_variable", {indices, updates}, target_of(var));
}

operation scatter_update(const scope& s, const variable& var, output indices, output updates) {
  return s.add("scatter_update_variable", {indices, updates}, target_of(var));
}

output is_initialized(const scope& s, const variable& var) {
  return s.add1("variable_is_initialized", {}, target_of(var));
}

operation group(const scope& s, const std::vector<operation>& deps) {
  return no_op(s.with_control_deps(deps));
}

operation initialize_all(const scope& s, const std::vector<variable>& vars) {
  std::vector<operation> inits;
  for (const variable& v : vars) inits.push_back(v.initializer);
  return group(s, inits);
}

}  // namespace ops
}  // namespace troupe
