// Kernels of the variable ops (runtime/ops/variable_ops.hpp): they find their variable in
// the device's resource containers each time they run (see Note [Resource containers]).

#include <cstring>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"

namespace troupe {
namespace {

// What every variable kernel knows about its target.
class variable_target {
 public:
  error init(const kernel_construction& c) {
    name_ = c.attr<std::string>("var");
    container_ = c.attr<std::string>("container");
    TROUPE_REQUIRE(!name_.empty(), "node '", c.this_node().name, "': attribute 'var' is empty");
    return {};
  }
  // Not created yet, or its container was reset: say what to do about it.
  expected<std::shared_ptr<variable_resource>> find(kernel_context& ctx) const {
    auto v = ctx.device().resources().lookup<variable_resource>(container_, name_);
    if (!v && v.error_value().code() == errc::not_found) {
      return make_error(errc::failed_precondition, "variable '", name_, "'",
                        container_.empty() ? std::string() : str_cat(" in container '", container_, "'"),
                        " is not initialized: run its initializer or restore a checkpoint first");
    }
    return v;
  }
  const std::string& name() const { return name_; }
  const std::string& container() const { return container_; }

 private:
  std::string name_;
  std::string container_;
};

class fill_kernel {
 public:
  error init(const kernel_construction& c) {
    value_ = c.attr<double>("value");
    return {};
  }
  error compute(kernel_context& ctx) const {
    tensor out = TROUPE_TRY(ctx.allocate_output(0, ctx.this_node().attr<partial_shape>("shape").to_shape()));
    visit_dtype(out.dtype(), [&]<class T>() {
      if constexpr (std::is_arithmetic_v<T>) out.flat<T>().setConstant(T(value_));
    });
    return {};
  }

 private:
  double value_ = 0;
};

class read_variable_kernel : public variable_target {
 public:
  error compute(kernel_context& ctx) const {
    auto var = TROUPE_TRY(find(ctx));
    TROUPE_REQUIRE(var->type() == ctx.output_type(0), "variable '", name(), "' holds ",
                   dtype_name(var->type()), " but node '", ctx.this_node().name, "' reads it as ",
                   dtype_name(ctx.output_type(0)));
    ctx.set_output(0, TROUPE_TRY(var->read(name())));
    return {};
  }
};

class assign_variable_kernel : public variable_target {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(variable_target::init(c));
    shape_ = c.attr<partial_shape>("shape");
    return {};
  }
  error compute(kernel_context& ctx) const {
    const tensor& value = ctx.input(0);
    auto var = TROUPE_TRY(ctx.device().resources().lookup_or_create<variable_resource>(
        container(), name(), [&]() -> expected<std::shared_ptr<variable_resource>> {
          return std::make_shared<variable_resource>(value.dtype(), shape_);
        }));
    // The variable keeps the value: copy it unless nobody else can see this buffer.
    return var->assign(value.buffer_is_unique() ? value : value.clone(), name());
  }

 private:
  partial_shape shape_;
};

template <bool Subtract>
class assign_add_kernel : public variable_target {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& delta = ctx.input(0);
    auto var = TROUPE_TRY(find(ctx));
    auto guard = TROUPE_TRY(var->begin_update(name()));
    tensor& v = guard.value();
    TROUPE_REQUIRE(v.dtype() == delta.dtype() && v.shape() == delta.shape(), "variable '", name(),
                   "' is ", dtype_name(v.dtype()), " ", v.shape().to_string(), " but the delta is ",
                   dtype_name(delta.dtype()), " ", delta.shape().to_string());
    visit_dtype(v.dtype(), [&]<class T>() {
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        if constexpr (Subtract) v.flat<T>() -= delta.flat<T>();
        else v.flat<T>() += delta.flat<T>();
      }
    });
    return {};
  }
};

// Rows of indices into a variable's first dimension, as int64, checked for range before
// anything is written.
expected<std::vector<int64_t>> checked_rows(const tensor& indices, int64_t rows,
                                            const std::string& var) {
  std::vector<int64_t> out(size_t(indices.num_elements()));
  error bad;
  visit_dtype(indices.dtype(), [&]<class I>() {
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      auto v = indices.values<I>();
      for (size_t i = 0; i < out.size(); ++i) {
        if (v[i] < 0 || int64_t(v[i]) >= rows) {
          bad = make_error(errc::invalid_argument, "index ", int64_t(v[i]), " at position ", i,
                           " is out of range for variable '", var, "' with ", rows,
                           " rows (valid: [0, ", rows, "))");
          return;
        }
        out[i] = int64_t(v[i]);
      }
    }
  });
  if (bad) return bad;
  return out;
}

template <bool Add>
class scatter_kernel : public variable_target {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& indices = ctx.input(0);
    const tensor& updates = ctx.input(1);
    auto var = TROUPE_TRY(find(ctx));
    auto guard = TROUPE_TRY(var->begin_update(name()));
    tensor& v = guard.value();
    TROUPE_REQUIRE(v.rank() >= 1, "variable '", name(), "' is a scalar: scatter needs rows");
    TROUPE_REQUIRE(v.dtype() == updates.dtype(), "variable '", name(), "' is ",
                   dtype_name(v.dtype()), " but the updates are ", dtype_name(updates.dtype()));
    int64_t row = v.dim(0) == 0 ? 0 : v.num_elements() / v.dim(0);
    bool shape_ok = updates.rank() == indices.rank() + v.rank() - 1;
    for (int i = 0; shape_ok && i < indices.rank(); ++i) shape_ok = updates.dim(i) == indices.dim(i);
    for (int i = 1; shape_ok && i < v.rank(); ++i)
      shape_ok = updates.dim(indices.rank() + i - 1) == v.dim(i);
    TROUPE_REQUIRE(shape_ok, "updates ", updates.shape().to_string(),
                   " must be the shape of indices ", indices.shape().to_string(),
                   " followed by the row shape of variable '", name(), "' ",
                   v.shape().to_string());
    std::vector<int64_t> rows = TROUPE_TRY(checked_rows(indices, v.dim(0), name()));
    visit_dtype(v.dtype(), [&]<class T>() {
      T* dst = v.data<T>();
      const T* src = updates.data<T>();
      for (size_t i = 0; i < rows.size(); ++i) {
        T* d = dst + rows[i] * row;
        const T* s = src + int64_t(i) * row;
        if constexpr (Add) {
          if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
            for (int64_t j = 0; j < row; ++j) d[j] += s[j];
          }
        } else {
          std::copy(s, s + row, d);
        }
      }
    });
    return {};
  }
};

class is_initialized_kernel : public variable_target {
 public:
  error compute(kernel_context& ctx) const {
    auto var = ctx.device().resources().lookup<variable_resource>(container(), name());
    tensor out = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{}));
    out.data<bool>()[0] = var.has_value() && (*var)->initialized();
    return {};
  }
};

}  // namespace

void register_variable_kernels(kernel_registry& reg) {
  reg.add_any<fill_kernel>("fill", device_kind::cpu);
  reg.add_any<read_variable_kernel>("read_variable", device_kind::cpu);
  reg.add_any<assign_variable_kernel>("assign_variable", device_kind::cpu);
  reg.add_any<assign_add_kernel<false>>("assign_add_variable", device_kind::cpu);
  reg.add_any<assign_add_kernel<true>>("assign_sub_variable", device_kind::cpu);
  reg.add_any<scatter_kernel<true>>("scatter_add_variable", device_kind::cpu);
  reg.add_any<scatter_kernel<false>>("scatter_update_variable", device_kind::cpu);
  reg.add_any<is_initialized_kernel>("variable_is_initialized", device_kind::cpu);
}

}  // namespace troupe
