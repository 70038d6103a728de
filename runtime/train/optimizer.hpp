#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/variable_ops.hpp"

/// Optimizers (TensorFlow's tf.compat.v1.train.*Optimizer): they build the gradient and
/// the update ops of runtime/ops/optimizer_ops.hpp, which state the formulas, and own the
/// slot variables those updates need. Learning-rate schedules: runtime/train/schedules.hpp.
///
///   graph g(...); scope s = scope::root(g);
///   variable step = train::make_global_step(s);
///   train::adam opt(train::learning_rate(s, train::exponential_decay(0.01, 1000, 0.9),
///                                        step.value));
///   operation train_op = TROUPE_TRY(opt.minimize(s, loss, {w, b}, &step));
///   operation init = ops::initialize_all(s, concat of {w, b, step} and opt.slots());
namespace troupe::train {

/// A hyper-parameter given as a number, or as a scalar float tensor computed each step (a
/// schedule, a placeholder). Converted to the dtype each use needs.
struct scalar_arg {
  scalar_arg(double v) : number(v) {}        // NOLINT: implicit, as a number
  scalar_arg(output t) : tensor(t) {}        // NOLINT: implicit, as a tensor
  double number = 0.0;
  output tensor;  ///< used when valid

  /// A scalar of dtype t: a constant, or the tensor (cast when its dtype differs).
  output as(const scope& s, dtype t) const;
};

/// A new int64 scalar variable "global_step" (within s) starting at 0. Give it to minimize
/// or apply_gradients to count the updates, and to a schedule as its step.
variable make_global_step(const scope& s);

/// What an optimizer's update ops are: set by each optimizer class.
struct update_rule {
  std::string name;  ///< "adam": the ops are apply_adam and sparse_apply_adam
  /// The slots: the update ops' attribute naming the slot variable (also the last part of
  /// its name) and the slot's initial value.
  std::vector<std::pair<std::string, double>> slots;
  attr_map attrs;           ///< the update ops' hyper-parameter attributes
  bool needs_step = false;  ///< the ops take the 1-based update count (Adam)
};

/// An optimizer: builds one update op per variable and owns the slot variables. The
/// subclasses only choose the update rule.
/// Thread-safety: not synchronized (like the graph it builds).
class optimizer {
 public:
  /// add_gradients of `loss` for `vars`, then apply_gradients. Variables the loss does
  /// not depend on are skipped; if it depends on none, it is an error.
  expected<operation> minimize(const scope& s, output loss, const std::vector<variable>& vars,
                               const variable* global_step = nullptr);
  /// One update op per variable with a valid gradient (apply_<rule> for a dense gradient,
  /// sparse_apply_<rule> for a sparse one), grouped into the returned op. When
  /// `global_step` (an int64 scalar variable) is given it is incremented after every
  /// update has run. Creates the variable's slots on first use: "<var>/<rule>/<slot>"
  /// (e.g. "dense/w/adam/m"), in the variable's container, filled with the slot's initial
  /// value; a variable whose shape is not fully known cannot have slots (an error naming
  /// it). Errors: every gradient invalid, a gradient whose dtype is not its variable's, a
  /// variable that is not float32/float64.
  expected<operation> apply_gradients(const scope& s,
                                      const std::vector<std::pair<gradient, variable>>& grads,
                                      const variable* global_step = nullptr);

  /// The variables the optimizer created (slots, and Adam's "iterations" counter when it
  /// has no global step), in creation order: initialize and checkpoint them with the
  /// model's variables.
  const std::vector<variable>& slots() const { return slots_; }
  /// The slot `slot` ("m") of `var`, or nullptr if it has not been created.
  const variable* slot(const variable& var, std::string_view slot) const;
  const std::string& name() const { return rule_.name; }

 protected:
  optimizer(update_rule rule, scalar_arg lr) : rule_(std::move(rule)), lr_(std::move(lr)) {}

 private:
  // The slots of `var` (created if needed), in rule order.
  expected<std::vector<variable>> slots_for(const scope& s, const variable& var);
  // Adam's update count when there is no global step: created once, named
  // "<op_name>/iterations" after the first train op ("adam", "adam_1", ...).
  expected<variable> iterations(const scope& s, const std::string& op_name);

  update_rule rule_;
  scalar_arg lr_;
  std::vector<variable> slots_;
  std::map<std::string, std::vector<size_t>, std::less<>> slots_of_;  // by container/name
  int iterations_ = -1;                                                // index in slots_
};

/// var -= lr * grad.
class sgd final : public optimizer {
 public:
  explicit sgd(scalar_arg lr);
};

/// accum = momentum * accum + grad; var -= lr * accum (Nesterov: see apply_momentum).
class momentum final : public optimizer {
 public:
  momentum(scalar_arg lr, double momentum, bool use_nesterov = false);
};

/// accum (starting at initial_accumulator) += grad^2; var -= lr * grad / (sqrt(accum) +
/// epsilon). Keras's defaults.
class adagrad final : public optimizer {
 public:
  explicit adagrad(scalar_arg lr, double initial_accumulator = 0.1, double epsilon = 1e-7);
};

/// Adam; its step count is the global step + 1 when one is given, else its own int64
/// variable "adam/iterations" (within the scope; "adam_1/iterations" for a second Adam
/// optimizer, ...), in slots(). Sparse gradients update lazily (only
/// the rows they list).
class adam final : public optimizer {
 public:
  explicit adam(scalar_arg lr, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8);
};

/// FTRL-proximal with L1 and L2 regularization (see apply_ftrl).
class ftrl final : public optimizer {
 public:
  explicit ftrl(scalar_arg lr, double l1 = 0.0, double l2 = 0.0, double initial_accumulator = 0.1,
                double lr_power = -0.5);
};

/// TensorFlow's tf.clip_by_global_norm: global_norm = sqrt(sum over the gradients of
/// sum(g^2)) (a sparse gradient counts its values), and each gradient is scaled by
/// clip_norm / max(global_norm, clip_norm), so nothing changes when the norm is at most
/// clip_norm. Sparse gradients stay sparse (their values are scaled); invalid ones stay
/// invalid. A non-finite global norm makes every gradient NaN, as in TensorFlow. The norm
/// has the first valid gradient's dtype. Error: no valid gradient.
struct clipped_gradients {
  std::vector<gradient> grads;
  output global_norm;
};
expected<clipped_gradients> clip_by_global_norm(const scope& s, std::vector<gradient> grads,
                                                scalar_arg clip_norm);

}  // namespace troupe::train
