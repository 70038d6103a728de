// Kernels of the queue ops (runtime/ops/queue_ops.hpp): they find their queue in the
// device's resource containers each time they run (see Note [Resource containers]) and
// may block in it (see Note [Queues]).

#include <cstring>

#include "kernels/cpu/cpu_kernels.hpp"
#include "runtime/exec/queue.hpp"

namespace troupe {
namespace {

std::string dtype_list(std::span<const dtype> types) {
  std::string out = "[";
  for (size_t i = 0; i < types.size(); ++i) out += str_cat(i ? "," : "", dtype_name(types[i]));
  return out + "]";
}

// What every queue kernel knows about its target.
class queue_target {
 public:
  error init(const kernel_construction& c) {
    name_ = c.attr<std::string>("queue");
    container_ = c.attr<std::string>("container");
    TROUPE_REQUIRE(!name_.empty(), "node '", c.this_node().name, "': attribute 'queue' is empty");
    return {};
  }
  // Not created yet, or its container was reset: say what to do about it.
  expected<std::shared_ptr<queue_resource>> find(kernel_context& ctx) const {
    auto q = ctx.device().resources().lookup<queue_resource>(container_, name_);
    if (!q && q.error_value().code() == errc::not_found) {
      return make_error(errc::failed_precondition, "queue '", name_, "' does not exist in ",
                        resource_mgr::describe_container(container_),
                        ": run its creation op (fifo_queue or random_shuffle_queue) first; ops "
                        "built through make_fifo_queue / make_random_shuffle_queue do so");
    }
    return q;
  }
  const std::string& name() const { return name_; }
  const std::string& container() const { return container_; }

 private:
  std::string name_;
  std::string container_;
};

// fifo_queue, random_shuffle_queue: create the queue unless it exists; if it does, its
// configuration must be this node's.
class create_queue_kernel : public queue_target {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(queue_target::init(c));
    config_.component_types = c.attr<std::vector<dtype>>("component_types");
    config_.shapes = TROUPE_TRY(decode_queue_shapes(c.attr<std::vector<int64_t>>("shapes")));
    config_.capacity = c.attr<int64_t>("capacity");
    config_.shuffle = c.this_node().op == "random_shuffle_queue";
    if (config_.shuffle) {
      config_.min_after_dequeue = c.attr<int64_t>("min_after_dequeue");
      config_.seed = c.attr<int64_t>("seed");
    }
    return config_.validate(name());
  }
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(ctx.device().resources().lookup_or_create<queue_resource>(
        container(), name(), [&]() -> expected<std::shared_ptr<queue_resource>> {
          return std::make_shared<queue_resource>(name(), config_);
        }));
    return q->check_same_config(config_);
  }

 private:
  queue_config config_;
};

// Copies row `row` of `batch` (along dimension 0) into a tensor of its own.
expected<tensor> copy_row(const tensor& batch, int64_t row) {
  std::span<const int64_t> dims = batch.shape().dims();
  tensor_shape row_shape(dims.subspan(1));
  tensor out = TROUPE_TRY(tensor::allocate(batch.dtype(), row_shape));
  const int64_t n = row_shape.num_elements();
  if (batch.dtype() == dtype::string) {
    const std::string* src = batch.data<std::string>() + row * n;
    std::copy(src, src + n, out.data<std::string>());
  } else if (n > 0) {
    const size_t bytes = size_t(n) * dtype_size(batch.dtype());
    std::memcpy(out.raw_data(), static_cast<const char*>(batch.raw_data()) + size_t(row) * bytes,
                bytes);
  }
  return out;
}

// queue_enqueue (Batched = false), queue_enqueue_many (true).
template <bool Batched>
class enqueue_kernel : public queue_target {
 public:
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(find(ctx));
    std::vector<const tensor*> components(size_t(ctx.num_inputs()));
    for (int i = 0; i < ctx.num_inputs(); ++i) components[size_t(i)] = &ctx.input(i);
    const int64_t count = TROUPE_TRY(q->check_components(components, Batched));
    std::vector<queue_element> elements;
    if constexpr (Batched) {
      elements.resize(size_t(count));
      for (int64_t j = 0; j < count; ++j) {
        elements[size_t(j)].reserve(components.size());
        for (const tensor* c : components)
          elements[size_t(j)].push_back(TROUPE_TRY(copy_row(*c, j)));
      }
    } else {
      // The queue keeps the tensors: share their buffers (nobody writes a buffer another
      // tensor holds), but copy memory troupe does not own (it may change under us).
      queue_element e;
      e.reserve(components.size());
      for (const tensor* c : components) {
        const buffer_ref& b = c->buffer_handle();
        e.push_back(b && !b->owns_memory() ? c->clone() : *c);
      }
      elements.push_back(std::move(e));
    }
    return q->enqueue(std::move(elements));
  }
};

// What the dequeue kernels check before taking anything: the node's component dtypes and
// shapes are the queue's, so what it takes fits its outputs (nothing is lost to a
// mismatch found afterwards).
class dequeue_target : public queue_target {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(queue_target::init(c));
    types_ = c.attr<std::vector<dtype>>("component_types");
    shapes_ = TROUPE_TRY(decode_queue_shapes(c.attr<std::vector<int64_t>>("shapes")));
    return {};
  }
  error check(const queue_resource& q) const {
    if (q.config().component_types != types_)
      return make_error(errc::invalid_argument, "queue '", name(), "' holds components ",
                        dtype_list(q.config().component_types), " but this node dequeues ",
                        dtype_list(types_));
    if (!shapes_.empty() && q.config().shapes != shapes_) {
      std::string want = encode_text(q.config().shapes), got = encode_text(shapes_);
      return make_error(errc::invalid_argument, "queue '", name(), "' has shapes ", want,
                        " but this node declares ", got);
    }
    return {};
  }

 private:
  static std::string encode_text(const std::vector<partial_shape>& shapes) {
    if (shapes.empty()) return "(any)";
    std::string out;
    for (const partial_shape& s : shapes) out += str_cat(out.empty() ? "" : ", ", s.to_string());
    return out;
  }
  std::vector<dtype> types_;
  std::vector<partial_shape> shapes_;
};

class dequeue_kernel : public dequeue_target {
 public:
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(find(ctx));
    TROUPE_TRY(check(*q));
    std::vector<queue_element> taken = TROUPE_TRY(q->dequeue(1, false, false));
    for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, std::move(taken[0][size_t(i)]));
    return {};
  }
};

class dequeue_many_kernel : public dequeue_target {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(dequeue_target::init(c));
    n_ = c.attr<int64_t>("n");
    allow_smaller_ = c.attr<bool>("allow_smaller_final_batch");
    return {};
  }
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(find(ctx));
    TROUPE_TRY(check(*q));
    std::vector<queue_element> taken = TROUPE_TRY(q->dequeue(n_, allow_smaller_, true));
    const int64_t k = int64_t(taken.size());
    for (int c = 0; c < ctx.num_outputs(); ++c) {
      const tensor& first = taken[0][size_t(c)];
      std::vector<int64_t> dims{k};
      dims.insert(dims.end(), first.shape().dims().begin(), first.shape().dims().end());
      TROUPE_REQUIRE(dims.size() <= size_t(max_rank), "queue '", name(), "': stacking component ",
                     c, " of shape ", first.shape().to_string(), " exceeds the maximum rank ",
                     max_rank);
      tensor out = TROUPE_TRY(ctx.allocate_output(c, tensor_shape(std::span<const int64_t>(dims))));
      const int64_t per = first.num_elements();
      if (first.dtype() == dtype::string) {
        std::string* dst = out.data<std::string>();
        for (int64_t j = 0; j < k; ++j) {
          const std::string* src = taken[size_t(j)][size_t(c)].data<std::string>();
          std::copy(src, src + per, dst + j * per);
        }
        continue;
      }
      const size_t bytes = size_t(per) * dtype_size(first.dtype());
      if (bytes == 0) continue;
      char* dst = static_cast<char*>(out.raw_data());
      ctx.parallel_for(k, int64_t(bytes) / 4 + 1, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j)
          std::memcpy(dst + size_t(j) * bytes, taken[size_t(j)][size_t(c)].raw_data(), bytes);
      });
    }
    return {};
  }

 private:
  int64_t n_ = 1;
  bool allow_smaller_ = false;
};

class close_kernel : public queue_target {
 public:
  error init(const kernel_construction& c) {
    TROUPE_TRY(queue_target::init(c));
    cancel_ = c.attr<bool>("cancel_pending_enqueues");
    return {};
  }
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(find(ctx));
    q->close(cancel_);
    return {};
  }

 private:
  bool cancel_ = false;
};

class size_kernel : public queue_target {
 public:
  error compute(kernel_context& ctx) const {
    auto q = TROUPE_TRY(find(ctx));
    tensor out = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{}));
    out.data<int32_t>()[0] = int32_t(std::min<int64_t>(q->size(), INT32_MAX));
    return {};
  }
};

}  // namespace

void register_queue_kernels(kernel_registry& reg) {
  reg.add_any<create_queue_kernel>("fifo_queue", device_kind::cpu);
  reg.add_any<create_queue_kernel>("random_shuffle_queue", device_kind::cpu);
  reg.add_any<enqueue_kernel<false>>("queue_enqueue", device_kind::cpu);
  reg.add_any<enqueue_kernel<true>>("queue_enqueue_many", device_kind::cpu);
  reg.add_any<dequeue_kernel>("queue_dequeue", device_kind::cpu);
  reg.add_any<dequeue_many_kernel>("queue_dequeue_many", device_kind::cpu);
  reg.add_any<close_kernel>("queue_close", device_kind::cpu);
  reg.add_any<size_kernel>("queue_size", device_kind::cpu);
}

}  // namespace troupe
