#include "kernels/cpu/cpu_kernels.hpp"

namespace troupe {
namespace {

class const_kernel {
 public:
  error init(const kernel_construction& c) {
    value_ = c.attr<tensor>("value");
    return {};
  }
  error compute(kernel_context& ctx) const {
    ctx.set_output(0, value_);
    return {};
  }

 private:
  tensor value_;
};

// A placeholder that runs was not fed: the session reports it before running, so this
// only fires when a placeholder is reached some other way.
class placeholder_kernel {
 public:
  error compute(kernel_context& ctx) const {
    return make_error(errc::invalid_argument, "placeholder '", ctx.this_node().name,
                      "' must be fed a value");
  }
};

class identity_kernel {
 public:
  error compute(kernel_context& ctx) const {
    ctx.set_output(0, ctx.input(0));
    return {};
  }
};

class no_op_kernel {
 public:
  error compute(kernel_context&) const { return {}; }
};

}  // namespace

void register_core_kernels(kernel_registry& reg) {
  reg.add_any<const_kernel>("const", device_kind::cpu);
  reg.add_any<placeholder_kernel>("placeholder", device_kind::cpu);
  reg.add_any<identity_kernel>("identity", device_kind::cpu);
  reg.add_any<no_op_kernel>("no_op", device_kind::cpu);
}

void register_cpu_kernels(kernel_registry& reg) {
  register_core_kernels(reg);
  register_math_kernels(reg);
  register_nn_kernels(reg);
  register_array_kernels(reg);
  register_grad_kernels(reg);
  register_variable_kernels(reg);
  register_optimizer_kernels(reg);
  register_queue_kernels(reg);
}

}  // namespace troupe
