// Kernels of the optimizer update ops and of the learning-rate schedule
// (runtime/ops/optimizer_ops.hpp). An update kernel finds its variable and slot variables
// in the device's resource containers each time it runs (see Note [Resource containers]),
// locks them (variable first, then the slots in attribute order: every update op takes
// the locks in this order, so two of them never deadlock) and updates them in place.

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"

namespace troupe {
namespace {

using cpu::array_map;
using cpu::const_array_map;

constexpr int max_slots = 2;

// The variable and the slot variables an update op names.
class update_target {
 public:
  // Exclusive access to the variable and its slots while it lives.
  class locked {
   public:
    tensor& var() { return guards_[0]->value(); }
    tensor& slot(int i) { return guards_[size_t(i) + 1]->value(); }

   private:
    friend class update_target;
    // Declared before the guards: they outlive the locks the guards hold.
    std::array<std::shared_ptr<variable_resource>, max_slots + 1> res_;
    std::array<std::optional<variable_resource::update_guard>, max_slots + 1> guards_;
  };

  error init(const kernel_construction& c, std::span<const char* const> slot_attrs) {
    var_ = c.attr<std::string>("var");
    container_ = c.attr<std::string>("container");
    TROUPE_REQUIRE(!var_.empty(), "node '", c.this_node().name, "': attribute 'var' is empty");
    TROUPE_ASSERT(slot_attrs.size() <= size_t(max_slots), "too many slots");
    for (const char* a : slot_attrs) {
      slots_.push_back(c.attr<std::string>(a));
      TROUPE_REQUIRE(!slots_.back().empty(), "node '", c.this_node().name, "': attribute '", a,
                     "' (the slot variable's name) is empty");
    }
    return {};
  }

  const std::string& name() const { return var_; }

  // Finds and locks the variable, then each slot; checks that the variable holds `t` and
  // that every slot has the variable's dtype and shape.
  expected<locked> lock(kernel_context& ctx, dtype t) const {
    locked l;
    l.res_[0] = TROUPE_TRY(find(ctx, var_, ""));
    for (size_t i = 0; i < slots_.size(); ++i)
      l.res_[i + 1] = TROUPE_TRY(find(ctx, slots_[i], var_));
    l.guards_[0].emplace(TROUPE_TRY(l.res_[0]->begin_update(var_)));
    const tensor& v = l.var();
    TROUPE_REQUIRE(v.dtype() == t, "variable '", var_, "' holds ", dtype_name(v.dtype()),
                   " but this op updates it as ", dtype_name(t));
    for (size_t i = 0; i < slots_.size(); ++i) {
      l.guards_[i + 1].emplace(TROUPE_TRY(l.res_[i + 1]->begin_update(slots_[i])));
      const tensor& s = l.slot(int(i));
      TROUPE_REQUIRE(s.dtype() == v.dtype() && s.shape() == v.shape(), "slot variable '",
                     slots_[i], "' is ", dtype_name(s.dtype()), " ", s.shape().to_string(),
                     " but its variable '", var_, "' is ", dtype_name(v.dtype()), " ",
                     v.shape().to_string());
    }
    return l;
  }

 private:
  // `owner` is empty for the variable itself, else the variable a slot belongs to.
  expected<std::shared_ptr<variable_resource>> find(kernel_context& ctx, const std::string& name,
                                                    const std::string& owner) const {
    auto v = ctx.device().resources().lookup<variable_resource>(container_, name);
    if (!v && v.error_value().code() == errc::not_found) {
      std::string where = container_.empty() ? "" : str_cat(" in container '", container_, "'");
      if (owner.empty()) {
        return make_error(errc::failed_precondition, "variable '", name, "'", where,
                          " is not initialized: run its initializer or restore a checkpoint "
                          "first");
      }
      return make_error(errc::failed_precondition, "slot variable '", name, "'", where,
                        " of variable '", owner, "' is not initialized: run the initializers "
                        "of the optimizer's slots() or restore a checkpoint first");
    }
    return v;
  }

  std::string var_;
  std::string container_;
  std::vector<std::string> slots_;
};

// A scalar input of type S.
template <class S>
expected<S> scalar_input(const kernel_context& ctx, int i, std::string_view what) {
  const tensor& t = ctx.input(i);
  TROUPE_REQUIRE(t.rank() == 0, what, " must be a scalar, got shape ", t.shape().to_string());
  return t.data<S>()[0];
}

// Note [Update rules]
// Each optimizer is a rule: init() reads its hyper-parameters once, start() takes this
// step's learning rate (and step count) and returns the coefficients of the update, and
// apply() updates n contiguous elements of the variable and of its slots with n gradient
// elements: a chunk of a dense variable, or one row of a sparse update. apply() builds
// Eigen array maps over the pointers (no allocation) and runs vectorized loops. `cost` is
// roughly the cycles per element, for parallel_for.

template <class T>
struct sgd_rule {
  static constexpr std::array<const char*, 0> slot_attrs{};
  static constexpr bool uses_step = false;
  static constexpr int64_t cost = 3;
  T lr{};

  error init(const kernel_construction&) { return {}; }
  error start(T lr_value, int64_t) {
    lr = lr_value;
    return {};
  }
  void apply(T* var, T* const*, const T* grad, int64_t n) const {
    array_map<T>(var, n) -= const_array_map<T>(grad, n) * lr;
  }
};

template <class T>
struct momentum_rule {
  static constexpr std::array<const char*, 1> slot_attrs{"accum"};
  static constexpr bool uses_step = false;
  static constexpr int64_t cost = 6;
  T lr{}, momentum{};
  bool nesterov = false;

  error init(const kernel_construction& c) {
    momentum = T(c.attr<double>("momentum"));
    nesterov = c.attr<bool>("use_nesterov");
    return {};
  }
  error start(T lr_value, int64_t) {
    lr = lr_value;
    return {};
  }
  void apply(T* var, T* const* slots, const T* grad, int64_t n) const {
    array_map<T> w(var, n), accum(slots[0], n);
    const_array_map<T> g(grad, n);
    accum = accum * momentum + g;
    if (nesterov) {
      w -= g * lr + accum * (momentum * lr);
    } else {
      w -= accum * lr;
    }
  }
};

template <class T>
struct adagrad_rule {
  static constexpr std::array<const char*, 1> slot_attrs{"accum"};
  static constexpr bool uses_step = false;
  static constexpr int64_t cost = 20;
  T lr{}, epsilon{};

  error init(const kernel_construction& c) {
    epsilon = T(c.attr<double>("epsilon"));
    return {};
  }
  error start(T lr_value, int64_t) {
    lr = lr_value;
    return {};
  }
  void apply(T* var, T* const* slots, const T* grad, int64_t n) const {
    array_map<T> w(var, n), accum(slots[0], n);
    const_array_map<T> g(grad, n);
    accum += g.square();
    w -= g * lr / (accum.sqrt() + epsilon);
  }
};

template <class T>
struct adam_rule {
  static constexpr std::array<const char*, 2> slot_attrs{"m", "v"};
  static constexpr bool uses_step = true;
  static constexpr int64_t cost = 30;
  double beta1 = 0.9, beta2 = 0.999;
  T epsilon{}, lr_t{}, one_minus_beta1{}, one_minus_beta2{};

  error init(const kernel_construction& c) {
    beta1 = c.attr<double>("beta1");
    beta2 = c.attr<double>("beta2");
    epsilon = T(c.attr<double>("epsilon"));
    one_minus_beta1 = T(1 - beta1);
    one_minus_beta2 = T(1 - beta2);
    return {};
  }
  // lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed in double.
  error start(T lr_value, int64_t step) {
    TROUPE_REQUIRE(step >= 1, "the step must be at least 1 (it is the 1-based count of "
                              "updates), got ", step);
    double t = double(step);
    lr_t = T(double(lr_value) * std::sqrt(1 - std::pow(beta2, t)) / (1 - std::pow(beta1, t)));
    return {};
  }
  void apply(T* var, T* const* slots, const T* grad, int64_t n) const {
    array_map<T> w(var, n), m(slots[0], n), v(slots[1], n);
    const_array_map<T> g(grad, n);
    m += (g - m) * one_minus_beta1;
    v += (g.square() - v) * one_minus_beta2;
    w -= (m * lr_t) / (v.sqrt() + epsilon);
  }
};

template <class T>
struct ftrl_rule {
  static constexpr std::array<const char*, 2> slot_attrs{"accum", "linear"};
  static constexpr bool uses_step = false;
  static constexpr int64_t cost = 60;
  T lr{}, l1{}, two_l2{}, lr_power{};

  error init(const kernel_construction& c) {
    l1 = T(c.attr<double>("l1"));
    two_l2 = T(2 * c.attr<double>("l2"));
    lr_power = T(c.attr<double>("lr_power"));
    TROUPE_REQUIRE(lr_power <= T(0), "node '", c.this_node().name,
                   "': lr_power must be <= 0, got ", c.attr<double>("lr_power"));
    return {};
  }
  error start(T lr_value, int64_t) {
    TROUPE_REQUIRE(lr_value > T(0), "the learning rate must be positive, got ", lr_value);
    lr = lr_value;
    return {};
  }
  void apply(T* var, T* const* slots, const T* grad, int64_t n) const {
    array_map<T> w(var, n), accum(slots[0], n), linear(slots[1], n);
    const_array_map<T> g(grad, n);
    auto accum_new = accum + g.square();
    if (lr_power == T(-0.5)) {
      linear += g - (accum_new.sqrt() - accum.sqrt()) / lr * w;
      auto quadratic = accum_new.sqrt() / lr + two_l2;
      w = (linear.abs() > l1).select((linear.sign() * l1 - linear) / quadratic, T(0));
    } else {
      linear += g - (accum_new.pow(-lr_power) - accum.pow(-lr_power)) / lr * w;
      auto quadratic = accum_new.pow(-lr_power) / lr + two_l2;
      w = (linear.abs() > l1).select((linear.sign() * l1 - linear) / quadratic, T(0));
    }
    accum += g.square();
  }
};

// The rule with this step's learning rate (input lr_input) and step (the next input).
template <template <class> class Rule, class T>
expected<Rule<T>> start_rule(const Rule<T>& base, const kernel_context& ctx, int lr_input) {
  Rule<T> rule = base;
  T lr = TROUPE_TRY(scalar_input<T>(ctx, lr_input, "the learning rate"));
  int64_t step = 0;
  if constexpr (Rule<T>::uses_step) step = TROUPE_TRY(scalar_input<int64_t>(ctx, lr_input + 1, "the step"));
  TROUPE_TRY(rule.start(lr, step));
  return rule;
}

// apply_*(grad, lr[, step]).
template <template <class> class Rule, class T>
class dense_update_kernel {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(target_.init(c, Rule<T>::slot_attrs));
    return rule_.init(c);
  }
  error compute(kernel_context& ctx) const {
    const tensor& grad = ctx.input(0);
    const Rule<T> rule = TROUPE_TRY((start_rule<Rule, T>(rule_, ctx, 1)));
    update_target::locked l = TROUPE_TRY(target_.lock(ctx, dtype_v<T>));
    tensor& var = l.var();
    TROUPE_REQUIRE(grad.shape() == var.shape(), "the gradient has shape ",
                   grad.shape().to_string(), " but variable '", target_.name(), "' has shape ",
                   var.shape().to_string());
    constexpr size_t k = Rule<T>::slot_attrs.size();
    std::array<T*, max_slots> slots{};
    for (size_t i = 0; i < k; ++i) slots[i] = l.slot(int(i)).template data<T>();
    T* w = var.data<T>();
    const T* g = grad.data<T>();
    ctx.parallel_for(var.num_elements(), Rule<T>::cost, [&](int64_t b, int64_t e) {
      std::array<T*, max_slots> s{};
      for (size_t i = 0; i < k; ++i) s[i] = slots[i] + b;
      rule.apply(w + b, s.data(), g + b, e - b);
    });
    return {};
  }

 private:
  update_target target_;
  Rule<T> rule_;
};

// The distinct rows a sparse update touches, in range, and where their gradient rows
// are: `values` itself when no index repeats, else `summed` (one row per distinct index,
// the values of its repeats added in the order they came).
template <class T>
struct sparse_rows {
  std::vector<int64_t> rows;
  const T* grads = nullptr;
  tensor summed;
};

template <class T>
expected<sparse_rows<T>> gather_rows(const tensor& indices, const tensor& values, int64_t num_rows,
                                     int64_t row_size, const std::string& var) {
  const size_t k = size_t(indices.num_elements());
  sparse_rows<T> out;
  out.rows.resize(k);
  error bad;
  visit_dtype(indices.dtype(), [&]<class I>() {
    if constexpr (std::is_same_v<I, int32_t> || std::is_same_v<I, int64_t>) {
      const I* idx = indices.data<I>();
      for (size_t i = 0; i < k; ++i) {
        if (idx[i] < 0 || int64_t(idx[i]) >= num_rows) {
          bad = make_error(errc::invalid_argument, "index ", int64_t(idx[i]), " at position ", i,
                           " is out of range for variable '", var, "' with ", num_rows,
                           " rows (valid: [0, ", num_rows, "))");
          return;
        }
        out.rows[i] = int64_t(idx[i]);
      }
    }
  });
  if (bad) return bad;
  out.grads = values.template data<T>();
  bool increasing = true;
  for (size_t i = 1; i < k && increasing; ++i) increasing = out.rows[i - 1] < out.rows[i];
  if (increasing) return out;
  // Which distinct row each index is (numbered in order of first appearance): with a
  // table over the rows when it is small next to the indices, else by sorting.
  std::vector<int64_t> distinct_of(k);
  std::vector<int64_t> distinct_rows;
  if (num_rows <= 8 * int64_t(k) + 4096) {
    std::vector<int64_t> seen(size_t(num_rows), -1);
    for (size_t i = 0; i < k; ++i) {
      int64_t& d = seen[size_t(out.rows[i])];
      if (d < 0) {
        d = int64_t(distinct_rows.size());
        distinct_rows.push_back(out.rows[i]);
      }
      distinct_of[i] = d;
    }
  } else {
    std::vector<std::pair<int64_t, int64_t>> order(k);  // (row, position)
    for (size_t i = 0; i < k; ++i) order[i] = {out.rows[i], int64_t(i)};
    std::sort(order.begin(), order.end());
    for (size_t i = 0; i < k; ++i) {
      if (i == 0 || order[i].first != order[i - 1].first) distinct_rows.push_back(order[i].first);
      distinct_of[size_t(order[i].second)] = int64_t(distinct_rows.size()) - 1;
    }
  }
  if (distinct_rows.size() == k) return out;  // shuffled but distinct: each row once
  // Sum the rows of repeated indices in the order they came.
  out.summed =
      TROUPE_TRY(tensor::allocate(dtype_v<T>, tensor_shape{int64_t(distinct_rows.size()), row_size}));
  T* sum = out.summed.template data<T>();
  out.summed.template flat<T>().setZero();
  for (size_t i = 0; i < k; ++i) {
    array_map<T>(sum + distinct_of[i] * row_size, row_size) +=
        const_array_map<T>(out.grads + int64_t(i) * row_size, row_size);
  }
  out.rows = std::move(distinct_rows);
  out.grads = sum;
  return out;
}

// sparse_apply_*(indices, values, lr[, step]).
template <template <class> class Rule, class T>
class sparse_update_kernel {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(target_.init(c, Rule<T>::slot_attrs));
    return rule_.init(c);
  }
  error compute(kernel_context& ctx) const {
    const tensor& indices = ctx.input(0);
    const tensor& values = ctx.input(1);
    const Rule<T> rule = TROUPE_TRY((start_rule<Rule, T>(rule_, ctx, 2)));
    TROUPE_REQUIRE(indices.rank() == 1, "indices must be a vector, got shape ",
                   indices.shape().to_string());
    TROUPE_REQUIRE(values.rank() >= 1 && values.dim(0) == indices.dim(0), "values ",
                   values.shape().to_string(), " must have one row per index: indices are ",
                   indices.shape().to_string());
    update_target::locked l = TROUPE_TRY(target_.lock(ctx, dtype_v<T>));
    tensor& var = l.var();
    bool rows_match = var.rank() == values.rank();
    for (int i = 1; rows_match && i < var.rank(); ++i) rows_match = var.dim(i) == values.dim(i);
    TROUPE_REQUIRE(rows_match, "the gradient rows (values ", values.shape().to_string(),
                   ") do not match the rows of variable '", target_.name(), "' with shape ",
                   var.shape().to_string());
    const int64_t row_size = var.dim(0) == 0 ? 0 : var.num_elements() / var.dim(0);
    sparse_rows<T> rows =
        TROUPE_TRY(gather_rows<T>(indices, values, var.dim(0), row_size, target_.name()));
    constexpr size_t k = Rule<T>::slot_attrs.size();
    std::array<T*, max_slots> slots{};
    for (size_t i = 0; i < k; ++i) slots[i] = l.slot(int(i)).template data<T>();
    T* w = var.data<T>();
    ctx.parallel_for(int64_t(rows.rows.size()), Rule<T>::cost * row_size + 10,
                     [&](int64_t b, int64_t e) {
                       std::array<T*, max_slots> s{};
                       for (int64_t u = b; u < e; ++u) {
                         int64_t offset = rows.rows[size_t(u)] * row_size;
                         for (size_t i = 0; i < k; ++i) s[i] = slots[i] + offset;
                         rule.apply(w + offset, s.data(), rows.grads + u * row_size, row_size);
                       }
                     });
    return {};
  }

 private:
  update_target target_;
  Rule<T> rule_;
};

// Note [Learning-rate schedules]
// learning_rate(step) evaluates, in double, for each step (see runtime/train/schedules.hpp):
//   step < warmup_steps:  warmup_start + (initial - warmup_start) * step / warmup_steps
//   otherwise, with t = step - warmup_steps:
//     constant:     initial
//     exponential:  initial * decay_rate^(t / decay_steps)   (floor of the ratio: staircase)
//     cosine:       initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, decay_steps) /
//                   decay_steps)) + alpha)
template <class T>
class learning_rate_kernel {
 public:
  error init(const kernel_construction& c) {
    const std::string& kind = c.attr<std::string>("schedule");
    kind_ = kind == "exponential" ? schedule_kind::exponential
            : kind == "cosine"    ? schedule_kind::cosine
                                  : schedule_kind::constant;
    initial_ = c.attr<double>("initial");
    decay_steps_ = double(c.attr<int64_t>("decay_steps"));
    decay_rate_ = c.attr<double>("decay_rate");
    staircase_ = c.attr<bool>("staircase");
    alpha_ = c.attr<double>("alpha");
    warmup_steps_ = c.attr<int64_t>("warmup_steps");
    warmup_start_ = c.attr<double>("warmup_start");
    return {};
  }
  error compute(kernel_context& ctx) const {
    const tensor& step = ctx.input(0);
    const int64_t* s = step.data<int64_t>();
    const int64_t n = step.num_elements();
    for (int64_t i = 0; i < n; ++i) {
      TROUPE_REQUIRE(s[i] >= 0, "the step must not be negative, got ", s[i], " at position ", i);
    }
    tensor out = TROUPE_TRY(ctx.allocate_output(0, step.shape()));
    T* lr = out.data<T>();
    for (int64_t i = 0; i < n; ++i) lr[i] = T(at(s[i]));
    return {};
  }

 private:
  enum class schedule_kind { constant, exponential, cosine };

  double at(int64_t step) const {
    if (step < warmup_steps_) {
      return warmup_start_ +
             (initial_ - warmup_start_) * double(step) / double(warmup_steps_);
    }
    double t = double(step - warmup_steps_);
    switch (kind_) {
      case schedule_kind::constant: return initial_;
      case schedule_kind::exponential: {
        double p = t / decay_steps_;
        if (staircase_) p = std::floor(p);
        return initial_ * std::pow(decay_rate_, p);
      }
      case schedule_kind::cosine: {
        double c = 0.5 * (1 + std::cos(std::numbers::pi * std::min(t, decay_steps_) / decay_steps_));
        return initial_ * ((1 - alpha_) * c + alpha_);
      }
    }
    return initial_;
  }

  schedule_kind kind_ = schedule_kind::constant;
  double initial_ = 0, decay_steps_ = 1, decay_rate_ = 1, alpha_ = 0, warmup_start_ = 0;
  bool staircase_ = false;
  int64_t warmup_steps_ = 0;
};

template <class T>
using apply_sgd_kernel = dense_update_kernel<sgd_rule, T>;
template <class T>
using apply_momentum_kernel = dense_update_kernel<momentum_rule, T>;
template <class T>
using apply_adagrad_kernel = dense_update_kernel<adagrad_rule, T>;
template <class T>
using apply_adam_kernel = dense_update_kernel<adam_rule, T>;
template <class T>
using apply_ftrl_kernel = dense_update_kernel<ftrl_rule, T>;

// The sparse ops are keyed by their first type attribute, Tidx (the indices' dtype);
// the kernel is picked by T here. Indices of either dtype are read as int64 rows.
template <template <class> class Rule>
void add_sparse(kernel_registry& reg, const std::string& op) {
  kernel_factory make = [](const kernel_construction& c) -> expected<std::unique_ptr<op_kernel>> {
    if (c.attr<dtype>("T") == dtype::float64)
      return kernel_adapter<sparse_update_kernel<Rule, double>>::make(c);
    return kernel_adapter<sparse_update_kernel<Rule, float>>::make(c);
  };
  for (dtype t : {dtype::int32, dtype::int64}) {
    error e = reg.add(op, device_kind::cpu, t, make);
    TROUPE_ASSERT(!e, e.message());
  }
}

}  // namespace

void register_optimizer_kernels(kernel_registry& reg) {
  reg.add_for<apply_sgd_kernel, float, double>("apply_sgd", device_kind::cpu);
  reg.add_for<apply_momentum_kernel, float, double>("apply_momentum", device_kind::cpu);
  reg.add_for<apply_adagrad_kernel, float, double>("apply_adagrad", device_kind::cpu);
  reg.add_for<apply_adam_kernel, float, double>("apply_adam", device_kind::cpu);
  reg.add_for<apply_ftrl_kernel, float, double>("apply_ftrl", device_kind::cpu);
  add_sparse<sgd_rule>(reg, "sparse_apply_sgd");
  add_sparse<momentum_rule>(reg, "sparse_apply_momentum");
  add_sparse<adagrad_rule>(reg, "sparse_apply_adagrad");
  add_sparse<adam_rule>(reg, "sparse_apply_adam");
  add_sparse<ftrl_rule>(reg, "sparse_apply_ftrl");
  reg.add_for<learning_rate_kernel, float, double>("learning_rate", device_kind::cpu);
}

}  // namespace troupe
