#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>

#include "runtime/exec/cpu_device.hpp"
#include "runtime/graph/graph.hpp"

namespace troupe {

/// What a kernel sees when it is constructed: the node (attributes, dtypes, shapes).
/// Validate attributes here, so compute() only computes.
class kernel_construction {
 public:
  kernel_construction(const node& n, device_kind d) : node_(n), device_(d) {}
  const node& this_node() const { return node_; }
  device_kind device() const { return device_; }
  template <class T>
  const T& attr(std::string_view name) const { return node_.attr<T>(name); }
  dtype output_type(int i) const { return node_.output_types[size_t(i)]; }
  dtype input_type(int i) const { return node_.input_types[size_t(i)]; }
  int num_inputs() const { return int(node_.inputs.size()); }

 private:
  const node& node_;
  device_kind device_;
};

/// What a kernel sees when it runs: its inputs, its outputs, its device.
/// One context per node execution; not shared between threads.
class kernel_context {
 public:
  /// `forwardable[i]` != 0 says input i is read by no one after this node, so its
  /// buffer may become an output's (see forward_or_allocate); empty = none is.
  kernel_context(const node& n, std::span<const tensor* const> inputs, std::span<tensor> outputs,
                 cpu_device& dev, int64_t step_id, std::span<const uint8_t> forwardable = {})
      : node_(n), inputs_(inputs), outputs_(outputs), device_(dev), step_id_(step_id),
        forwardable_(forwardable) {}

  const node& this_node() const { return node_; }
  int num_inputs() const { return int(inputs_.size()); }
  const tensor& input(int i) const { return *inputs_[size_t(i)]; }
  int num_outputs() const { return int(outputs_.size()); }
  dtype output_type(int i) const { return node_.output_types[size_t(i)]; }
  /// "node 'name' (op)": prefix for error messages.
  std::string describe() const { return str_cat("node '", node_.name, "' (", node_.op, ")"); }

  /// Allocates output i (uninitialized) with the node's output dtype and this shape.
  expected<tensor> allocate_output(int i, const tensor_shape& s) {
    tensor t = TROUPE_TRY(tensor::allocate(output_type(i), s));
    outputs_[size_t(i)] = t;
    return t;
  }
  /// Output o with shape s, computed in place over input i's buffer when nothing else can
  /// see it any more (this node is its last reader, nobody else holds the buffer, same
  /// dtype and size); otherwise a fresh allocation. Only for kernels that may write each
  /// output element after reading the input elements it depends on (elementwise ops).
  /// The first of `candidates` that qualifies is used.
  expected<tensor> forward_or_allocate(std::initializer_list<int> candidates, int o,
                                       const tensor_shape& s) {
    if (forwardable_.empty()) return allocate_output(o, s);
    for (int i : candidates) {
      if (size_t(i) >= forwardable_.size() || !forwardable_[size_t(i)]) continue;
      const tensor& in = input(i);
      if (in.dtype() == output_type(o) && in.dtype() != dtype::string && in.buffer_is_unique() &&
          in.num_elements() == s.num_elements()) {
        tensor t = TROUPE_TRY(in.reshaped(s));
        outputs_[size_t(o)] = t;
        return t;
      }
    }
    return allocate_output(o, s);
  }
  /// Sets output i to an existing tensor (identity, reshape: a view, no copy).
  void set_output(int i, tensor t) { outputs_[size_t(i)] = std::move(t); }
  const tensor& output(int i) const { return outputs_[size_t(i)]; }

  cpu_device& device() const { return device_; }
  int64_t step_id() const { return step_id_; }
  /// See cpu_device::parallel_for.
  void parallel_for(int64_t n, int64_t cost_per_unit,
                    const std::function<void(int64_t, int64_t)>& fn) const {
    device_.parallel_for(n, cost_per_unit, fn);
  }

 private:
  const node& node_;
  std::span<const tensor* const> inputs_;
  std::span<tensor> outputs_;
  cpu_device& device_;
  int64_t step_id_;
  std::span<const uint8_t> forwardable_;
};

/// The interface every kernel is run through. Implementations are the final
/// kernel_adapter<K> below; kernels themselves are plain classes with
///   error compute(kernel_context&) const;        (required, thread-safe)
///   error init(const kernel_construction&);     (optional: validate attributes)
class op_kernel {
 public:
  virtual ~op_kernel() = default;
  virtual error compute(kernel_context& ctx) const = 0;
  /// True if compute() may call forward_or_allocate: only then does the executor hand
  /// the node inputs it may overwrite. Kernels say so with
  /// `static constexpr bool forwards_inputs = true;`.
  virtual bool forwards_inputs() const = 0;
};

template <class K>
class kernel_adapter final : public op_kernel {
 public:
  static expected<std::unique_ptr<op_kernel>> make(const kernel_construction& c) {
    auto k = std::make_unique<kernel_adapter>();
    if constexpr (requires(K & x) { x.init(c); }) TROUPE_TRY(k->k_.init(c));
    return std::unique_ptr<op_kernel>(std::move(k));
  }
  error compute(kernel_context& ctx) const override { return k_.compute(ctx); }
  bool forwards_inputs() const override {
    if constexpr (requires { K::forwards_inputs; }) return K::forwards_inputs;
    return false;
  }

 private:
  K k_;
};

using kernel_factory =
    std::function<expected<std::unique_ptr<op_kernel>>(const kernel_construction&)>;

/// Kernels by (op, device kind, dtype of the op's kernel type attribute). A kernel added
/// with dtype::invalid serves every dtype. Registered explicitly (register_cpu_kernels).
/// Thread-safety: add() during set-up only; create() is then safe from any thread.
class kernel_registry {
 public:
  error add(std::string op, device_kind d, dtype t, kernel_factory f);
  /// reg.add_for<relu_kernel, float, double>("relu", device_kind::cpu)
  template <template <class> class K, class... Ts>
  void add_for(const std::string& op, device_kind d) {
    (add_or_die(op, d, dtype_v<Ts>, &kernel_adapter<K<Ts>>::make), ...);
  }
  /// One kernel class for every dtype (it dispatches on dtype itself).
  template <class K>
  void add_any(const std::string& op, device_kind d) {
    add_or_die(op, d, dtype::invalid, &kernel_adapter<K>::make);
  }

  /// The kernel for node `n` on device kind `d`: unimplemented error naming the op, the
  /// device and the dtype when there is none.
  expected<std::unique_ptr<op_kernel>> create(const node& n, device_kind d) const;
  bool has(std::string_view op, device_kind d, dtype t) const;
  /// Every (op, dtype) registered for device kind d; dtype::invalid = any.
  std::vector<std::pair<std::string, dtype>> list(device_kind d) const;

 private:
  void add_or_die(const std::string& op, device_kind d, dtype t, kernel_factory f);
  std::map<std::tuple<std::string, device_kind, dtype>, kernel_factory, std::less<>> kernels_;
};

}  // namespace troupe
