#include "runtime/ops/optimizer_ops.hpp"

#include <string>

namespace troupe {
namespace {

// A scalar input (the learning rate, the step), where its rank is known.
error require_scalar(shape_context& c, int i, std::string_view what) {
  const partial_shape& s = c.input(i);
  TROUPE_REQUIRE(!s.rank_known() || s.rank() == 0, what, " must be a scalar, got shape ",
                 s.to_string());
  return {};
}

// apply_*(grad, lr[, step]): the gradient's shape is checked against the variable's when
// the kernel runs (the graph does not know the variable's shape).
error dense_update_shape(shape_context& c) {
  TROUPE_TRY(require_scalar(c, 1, "the learning rate (input 'lr')"));
  if (c.num_inputs() > 2) TROUPE_TRY(require_scalar(c, 2, "the step (input 'step')"));
  return {};
}

// sparse_apply_*(indices, values, lr[, step]): indices [K], values [K, ...].
error sparse_update_shape(shape_context& c) {
  const partial_shape& idx = c.input(0);
  const partial_shape& val = c.input(1);
  TROUPE_REQUIRE(!idx.rank_known() || idx.rank() == 1, "indices must be a vector, got shape ",
                 idx.to_string());
  TROUPE_REQUIRE(!val.rank_known() || val.rank() >= 1,
                 "values must have a row dimension, got a scalar");
  if (idx.rank_known() && val.rank_known()) {
    TROUPE_REQUIRE(idx.dim(0) < 0 || val.dim(0) < 0 || idx.dim(0) == val.dim(0), "values ",
                   val.to_string(), " must have one row per index: indices are ",
                   idx.to_string());
  }
  TROUPE_TRY(require_scalar(c, 2, "the learning rate (input 'lr')"));
  if (c.num_inputs() > 3) TROUPE_TRY(require_scalar(c, 3, "the step (input 'step')"));
  return {};
}

// The schedule attributes make sense (see runtime/train/schedules.hpp).
error learning_rate_shape(shape_context& c) {
  const std::string& kind = c.attr<std::string>("schedule");
  TROUPE_REQUIRE(kind == "constant" || kind == "exponential" || kind == "cosine",
                 "unknown schedule '", kind, "': expected constant, exponential or cosine");
  if (kind != "constant") {
    TROUPE_REQUIRE(c.attr<int64_t>("decay_steps") >= 1, "decay_steps must be at least 1, got ",
                   c.attr<int64_t>("decay_steps"));
  }
  TROUPE_REQUIRE(c.attr<int64_t>("warmup_steps") >= 0, "warmup_steps must not be negative, got ",
                 c.attr<int64_t>("warmup_steps"));
  c.set_output(0, c.input(0));
  return {};
}

}  // namespace

void register_optimizer_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  const std::string target = "; T in float_types; var: string; container: string = \"\"";
  const std::string sparse =
      "; T in float_types; Tidx in {int32, int64}; var: string; container: string = \"\"";
  const std::string sparse_doc =
      " Sparse: indices [K] (int32/int64) and values [K, ...row shape] are the rows of the "
      "gradient; values of repeated indices are summed first, then only the listed rows of "
      "the variable and of its slots are updated.";

  // Plain gradient descent (TensorFlow's ApplyGradientDescent).
  const std::string sgd_doc = "var -= lr * grad.";
  ok(reg.add({.signature = "apply_sgd(grad: T, lr: T) -> ()" + target,
              .shape = dense_update_shape,
              .is_stateful = true,
              .doc = sgd_doc}));
  ok(reg.add({.signature = "sparse_apply_sgd(indices: Tidx, values: T, lr: T) -> ()" + sparse,
              .shape = sparse_update_shape,
              .is_stateful = true,
              .doc = sgd_doc + sparse_doc}));

  // Momentum (TensorFlow's ApplyMomentum).
  const std::string momentum_doc =
      "accum = accum * momentum + grad; var -= lr * accum, or with use_nesterov "
      "var -= lr * grad + lr * momentum * accum.";
  const std::string momentum_attrs = "; accum: string; momentum: float; use_nesterov: bool = false";
  ok(reg.add({.signature = "apply_momentum(grad: T, lr: T) -> ()" + target + momentum_attrs,
              .shape = dense_update_shape,
              .is_stateful = true,
              .doc = momentum_doc}));
  ok(reg.add({.signature = "sparse_apply_momentum(indices: Tidx, values: T, lr: T) -> ()" +
                           sparse + momentum_attrs,
              .shape = sparse_update_shape,
              .is_stateful = true,
              .doc = momentum_doc + sparse_doc}));

  // Adagrad (TensorFlow's ApplyAdagradV2; epsilon = 0 is ApplyAdagrad).
  const std::string adagrad_doc = "accum += grad^2; var -= lr * grad / (sqrt(accum) + epsilon).";
  const std::string adagrad_attrs = "; accum: string; epsilon: float = 0";
  ok(reg.add({.signature = "apply_adagrad(grad: T, lr: T) -> ()" + target + adagrad_attrs,
              .shape = dense_update_shape,
              .is_stateful = true,
              .doc = adagrad_doc}));
  ok(reg.add({.signature = "sparse_apply_adagrad(indices: Tidx, values: T, lr: T) -> ()" +
                           sparse + adagrad_attrs,
              .shape = sparse_update_shape,
              .is_stateful = true,
              .doc = adagrad_doc + sparse_doc}));

  // Adam (TensorFlow's ApplyAdam, with beta1^t and beta2^t computed from the step).
  const std::string adam_doc =
      "step t >= 1 is the 1-based update count; lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); "
      "m += (grad - m) * (1 - beta1); v += (grad^2 - v) * (1 - beta2); "
      "var -= lr_t * m / (sqrt(v) + epsilon).";
  const std::string adam_attrs =
      "; m: string; v: string; beta1: float = 0.9; beta2: float = 0.999; epsilon: float = 1e-8";
  ok(reg.add({.signature = "apply_adam(grad: T, lr: T, step: int64) -> ()" + target + adam_attrs,
              .shape = dense_update_shape,
              .is_stateful = true,
              .doc = adam_doc}));
  ok(reg.add({.signature = "sparse_apply_adam(indices: Tidx, values: T, lr: T, step: int64) -> ()" +
                           sparse + adam_attrs,
              .shape = sparse_update_shape,
              .is_stateful = true,
              .doc = adam_doc + sparse_doc +
                     " Lazy Adam: the moments of rows not listed are not decayed (as "
                     "TensorFlow's LazyAdamOptimizer), so they keep their values until their row "
                     "gets a gradient."}));

  // FTRL-proximal (TensorFlow's ApplyFtrl).
  const std::string ftrl_doc =
      "accum_new = accum + grad^2; "
      "linear += grad - (accum_new^(-lr_power) - accum^(-lr_power)) / lr * var; "
      "quadratic = accum_new^(-lr_power) / lr + 2 * l2; "
      "var = |linear| > l1 ? (sign(linear) * l1 - linear) / quadratic : 0; accum = accum_new.";
  const std::string ftrl_attrs =
      "; accum: string; linear: string; l1: float = 0; l2: float = 0; lr_power: float = -0.5";
  ok(reg.add({.signature = "apply_ftrl(grad: T, lr: T) -> ()" + target + ftrl_attrs,
              .shape = dense_update_shape,
              .is_stateful = true,
              .doc = ftrl_doc}));
  ok(reg.add({.signature = "sparse_apply_ftrl(indices: Tidx, values: T, lr: T) -> ()" + sparse +
                           ftrl_attrs,
              .shape = sparse_update_shape,
              .is_stateful = true,
              .doc = ftrl_doc + sparse_doc}));

  ok(reg.add({.signature = "learning_rate(step: int64) -> (lr: dtype); dtype in float_types; "
                           "schedule: string = \"constant\"; initial: float; "
                           "decay_steps: int = 1; decay_rate: float = 1; staircase: bool = false; "
                           "alpha: float = 0; warmup_steps: int = 0; warmup_start: float = 0",
              .shape = learning_rate_shape,
              .doc = "A learning-rate schedule at each step (int64 >= 0): constant, exponential "
                     "or cosine decay, after an optional linear warm-up. See "
                     "runtime/train/schedules.hpp for the formulas."}));
}

}  // namespace troupe
