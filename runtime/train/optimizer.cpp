#include "runtime/train/optimizer.hpp"

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"

namespace troupe::train {
namespace {

bool is_float(dtype t) { return t == dtype::float32 || t == dtype::float64; }

std::string key_of(const variable& v) { return str_cat(v.container, "/", v.name); }

// The local name (within s's prefix) of the first unused node name starting with `base`.
std::string unique_local_name(const scope& s, std::string_view base) {
  std::string full = s.g().unique_name(s.full_name(base));
  return full.substr(s.full_name("").size());
}

// The errors recorded in a helper scope, passed on to the caller's.
error forward_status(const scope& from, const scope& to) {
  if (from.ok()) return {};
  to.record(from.status());
  return from.status();
}

}  // namespace

output scalar_arg::as(const scope& s, dtype t) const {
  if (!tensor.valid()) {
    if (t == dtype::float64) return ops::constant(s, number);
    return ops::constant(s, float(number));
  }
  return tensor.type() == t ? tensor : ops::cast(s, tensor, t);
}

variable make_global_step(const scope& s) {
  return make_variable(s, "global_step", ops::constant(s, int64_t(0)));
}

const variable* optimizer::slot(const variable& var, std::string_view slot) const {
  auto it = slots_of_.find(key_of(var));
  if (it == slots_of_.end()) return nullptr;
  for (size_t i = 0; i < rule_.slots.size(); ++i)
    if (rule_.slots[i].first == slot) return &slots_[it->second[i]];
  return nullptr;
}

expected<std::vector<variable>> optimizer::slots_for(const scope& s, const variable& var) {
  std::vector<variable> out;
  auto it = slots_of_.find(key_of(var));
  if (it != slots_of_.end()) {
    for (size_t i : it->second) out.push_back(slots_[i]);
    return out;
  }
  if (rule_.slots.empty()) return out;
  TROUPE_REQUIRE(var.shape.fully_known(), "optimizer '", rule_.name, "': variable '", var.name,
                 "' has the shape ", var.shape.to_string(),
                 ": its slots need a fully known shape (declare it when making the variable)");
  // A root scope: slot variables are named after their variable, whatever s's prefix.
  scope root = scope::root(s.g());
  std::vector<size_t> indices;
  for (const auto& [slot, initial] : rule_.slots) {
    std::string name = str_cat(var.name, "/", rule_.name, "/", slot);
    output init = ops::fill(root.sub(name), var.type, var.shape.to_shape(), initial);
    variable v = make_variable(root, name, init, var.shape, var.container);
    TROUPE_TRY(forward_status(root, s));
    indices.push_back(slots_.size());
    slots_.push_back(v);
    out.push_back(v);
  }
  slots_of_.emplace(key_of(var), std::move(indices));
  return out;
}

expected<variable> optimizer::iterations(const scope& s, const std::string& op_name) {
  if (iterations_ >= 0) return slots_[size_t(iterations_)];
  scope root = scope::root(s.g());
  variable v = make_variable(root, s.full_name(str_cat(op_name, "/iterations")),
                             ops::constant(root, int64_t(0)));
  TROUPE_TRY(forward_status(root, s));
  iterations_ = int(slots_.size());
  slots_.push_back(v);
  return v;
}

expected<operation> optimizer::minimize(const scope& s, output loss,
                                        const std::vector<variable>& vars,
                                        const variable* global_step) {
  TROUPE_REQUIRE(!vars.empty(), "optimizer '", rule_.name, "': minimize: no variables given");
  std::vector<output> xs;
  for (const variable& v : vars) {
    TROUPE_REQUIRE(v.valid(), "optimizer '", rule_.name, "': minimize: variable '", v.name,
                   "' is invalid (making it failed)");
    xs.push_back(v.value);
  }
  std::vector<gradient> grads = TROUPE_TRY(add_gradients(s.sub("gradients"), {loss}, xs));
  std::vector<std::pair<gradient, variable>> pairs;
  for (size_t i = 0; i < vars.size(); ++i) pairs.emplace_back(grads[i], vars[i]);
  return apply_gradients(s, pairs, global_step);
}

expected<operation> optimizer::apply_gradients(
    const scope& s, const std::vector<std::pair<gradient, variable>>& grads,
    const variable* global_step) {
  const std::string& name = rule_.name;
  TROUPE_TRY(s.status());
  bool any = false;
  std::string var_names;
  for (const auto& [g, v] : grads) {
    any = any || g.valid();
    var_names += str_cat(var_names.empty() ? "'" : ", '", v.name, "'");
  }
  TROUPE_REQUIRE(any, "optimizer '", name, "': no gradient for any variable (", var_names,
                 "): none of them affects the loss");
  if (global_step) {
    TROUPE_REQUIRE(global_step->valid() && global_step->type == dtype::int64, "optimizer '",
                   name, "': the global step '", global_step->name,
                   "' must be a valid int64 variable, got ", dtype_name(global_step->type));
  }
  // The update ops go under the name of the returned op: "adam", "adam_1", ...
  const std::string op_name = unique_local_name(s, name);
  const scope us = s.sub(op_name);

  output step;
  variable counter;  // what counts the updates: the global step or Adam's iterations
  if (global_step) counter = *global_step;
  if (rule_.needs_step) {
    if (!global_step) counter = TROUPE_TRY(iterations(s, op_name));
    step = ops::add(us.sub("step"), counter.value, ops::constant(us.sub("step"), int64_t(1)));
  }

  std::map<dtype, output> lrs;
  std::vector<operation> updates;
  for (const auto& [g, v] : grads) {
    if (!g.valid()) continue;
    TROUPE_REQUIRE(v.valid(), "optimizer '", name, "': variable '", v.name,
                   "' is invalid (making it failed)");
    TROUPE_REQUIRE(is_float(v.type), "optimizer '", name, "': variable '", v.name, "' is ",
                   dtype_name(v.type), "; only float32 and float64 variables can be trained");
    dtype gt = g.is_sparse() ? g.values.type() : g.dense.type();
    TROUPE_REQUIRE(gt == v.type, "optimizer '", name, "': the gradient of variable '", v.name,
                   "' is ", dtype_name(gt), " but the variable is ", dtype_name(v.type));
    std::vector<variable> slots = TROUPE_TRY(slots_for(s, v));

    attr_map attrs = rule_.attrs;
    attrs["var"] = v.name;
    attrs["container"] = v.container;
    for (size_t i = 0; i < slots.size(); ++i) attrs[rule_.slots[i].first] = slots[i].name;
    auto lr = lrs.find(v.type);
    if (lr == lrs.end()) lr = lrs.emplace(v.type, lr_.as(us.sub("learning_rate"), v.type)).first;

    std::vector<output> inputs;
    std::string op;
    if (g.is_sparse()) {
      output indices = g.indices, values = g.values;
      if (!indices.shape().rank_known() || indices.shape().rank() != 1) {
        // Rows given with indices of another rank: one row per index, in order.
        TROUPE_REQUIRE(v.shape.fully_known() && v.shape.rank() >= 1, "optimizer '", name,
                       "': the sparse gradient of variable '", v.name, "' has indices of shape ",
                       indices.shape().to_string(), " and the variable's shape ",
                       v.shape.to_string(), " is not fully known to flatten them");
        std::vector<int64_t> row_shape{-1};
        for (int d = 1; d < v.shape.rank(); ++d) row_shape.push_back(v.shape.dim(d));
        indices = ops::reshape(us, indices, {-1});
        values = ops::reshape(us, values, row_shape);
      }
      op = "sparse_apply_" + name;
      inputs = {indices, values, lr->second};
    } else {
      op = "apply_" + name;
      inputs = {g.dense, lr->second};
    }
    if (rule_.needs_step) inputs.push_back(step);
    operation update = us.add(op, inputs, std::move(attrs));
    TROUPE_TRY(s.status());
    updates.push_back(update);
  }

  std::vector<operation> done = updates;
  if (counter.valid()) {
    // Counted once every update has run (they read the count first).
    done = {ops::assign_add(us.sub("count").with_control_deps(updates), counter,
                            ops::constant(us.sub("count"), int64_t(1)))};
  }
  operation train = ops::group(s.with_name(op_name), done);
  TROUPE_TRY(s.status());
  return train;
}

sgd::sgd(scalar_arg lr) : optimizer({.name = "sgd"}, std::move(lr)) {}

momentum::momentum(scalar_arg lr, double mu, bool use_nesterov)
    : optimizer({.name = "momentum",
                 .slots = {{"accum", 0.0}},
                 .attrs = {{"momentum", mu}, {"use_nesterov", use_nesterov}}},
                std::move(lr)) {}

adagrad::adagrad(scalar_arg lr, double initial_accumulator, double epsilon)
    : optimizer({.name = "adagrad",
                 .slots = {{"accum", initial_accumulator}},
                 .attrs = {{"epsilon", epsilon}}},
                std::move(lr)) {}

adam::adam(scalar_arg lr, double beta1, double beta2, double epsilon)
    : optimizer({.name = "adam",
                 .slots = {{"m", 0.0}, {"v", 0.0}},
                 .attrs = {{"beta1", beta1}, {"beta2", beta2}, {"epsilon", epsilon}},
                 .needs_step = true},
                std::move(lr)) {}

ftrl::ftrl(scalar_arg lr, double l1, double l2, double initial_accumulator, double lr_power)
    : optimizer({.name = "ftrl",
                 .slots = {{"accum", initial_accumulator}, {"linear", 0.0}},
                 .attrs = {{"l1", l1}, {"l2", l2}, {"lr_power", lr_power}}},
                std::move(lr)) {}

expected<clipped_gradients> clip_by_global_norm(const scope& s, std::vector<gradient> grads,
                                                scalar_arg clip_norm) {
  const scope cs = s.sub("clip_by_global_norm");
  dtype t = dtype::invalid;
  output total;
  for (const gradient& g : grads) {
    if (!g.valid()) continue;
    output part = g.is_sparse() ? g.values : g.dense;
    TROUPE_REQUIRE(is_float(part.type()), "clip_by_global_norm: a gradient is ",
                   dtype_name(part.type()), "; only float32 and float64 can be clipped");
    if (t == dtype::invalid) t = part.type();
    output squares = ops::sum(cs, ops::square(cs, part));
    if (squares.valid() && squares.type() != t) squares = ops::cast(cs, squares, t);
    total = total.valid() ? ops::add(cs, total, squares) : squares;
  }
  TROUPE_REQUIRE(t != dtype::invalid, "clip_by_global_norm: no valid gradient given");
  clipped_gradients out;
  out.global_norm = ops::sqrt(cs, total);
  output clip = clip_norm.as(cs, t);
  // norm + (norm - norm) is NaN when the norm is infinite: the scale, and every gradient,
  // is then NaN (TensorFlow's behaviour); otherwise it is the norm.
  output use_norm =
      ops::add(cs, out.global_norm, ops::sub(cs, out.global_norm, out.global_norm));
  output scale = ops::div(cs, clip, ops::maximum(cs, use_norm, clip));
  std::map<dtype, output> scales{{t, scale}};
  for (gradient& g : grads) {
    if (!g.valid()) continue;
    output& part = g.is_sparse() ? g.values : g.dense;
    auto f = scales.find(part.type());
    if (f == scales.end()) f = scales.emplace(part.type(), ops::cast(cs, scale, part.type())).first;
    part = ops::mul(cs, part, f->second);
  }
  out.grads = std::move(grads);
  TROUPE_TRY(s.status());
  return out;
}

}  // namespace troupe::train
