#include "runtime/exec/executor.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

namespace troupe {

// Note [Executor]
// A run keeps one tensor slot per node output, a pending-input count per node and a
// use count per slot. A thread takes a ready node, runs its kernel, decrements the
// pending counts of its successors and releases input slots whose last consumer it
// was. Of the successors that became ready, cheap ones (small inputs, or ops that only
// pass tensors along) run on the same thread right away; all but one expensive one go
// to the device's queue, so independent heavy nodes run in parallel (inter-op) while a
// chain of small ops never pays for a thread hand-off. `outstanding` counts nodes that
// are ready or running; the run ends when it reaches zero. Until then the caller runs
// whatever this run queued on the device (see Note [Waiting callers help]). After a
// failure no further node is started, the nodes already running finish, and the first
// error is returned.

namespace {
constexpr int64_t cheap_input_elements = 4096;
constexpr size_t min_forward_bytes = 4096;
bool is_always_cheap(const std::string& op) {
  return op == "const" || op == "identity" || op == "no_op" || op == "reshape" ||
         op == "placeholder";
}
}  // namespace

expected<std::shared_ptr<const executable>> executable::make(detail::plan p,
                                                             const kernel_source& kernels) {
  auto x = std::shared_ptr<executable>(new executable);
  // Plan node -> exec node, for live nodes only.
  std::vector<int> exec_id(p.nodes.size(), -1);
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    if (!p.nodes[i].alive) continue;
    exec_id[i] = int(x->nodes_.size());
    x->nodes_.emplace_back();
  }
  std::vector<int> slot_base(p.nodes.size(), -1);
  std::vector<std::vector<int>> succ(x->nodes_.size());
  int slots = 0;
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const detail::plan_node& pn = p.nodes[i];
    if (!pn.alive) continue;
    slot_base[i] = slots;
    slots += pn.num_outputs();
  }
  x->slot_uses_.assign(size_t(slots), 0);
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const detail::plan_node& pn = p.nodes[i];
    if (!pn.alive) continue;
    exec_node& en = x->nodes_[size_t(exec_id[i])];
    en.n = pn.n;
    en.feed_index = pn.feed_index;
    en.output_begin = slot_base[i];
    en.num_outputs = pn.num_outputs();
    en.always_cheap = pn.n == nullptr || is_always_cheap(pn.n->op);
    if (pn.n != nullptr) {
      en.kernel = TROUPE_TRY(kernels(*pn.n));
      en.forwards_inputs = en.kernel->forwards_inputs();
    }
    en.input_begin = int(x->input_slots_.size());
    for (endpoint in : pn.inputs) {
      TROUPE_ASSERT(p.nodes[size_t(in.node)].alive, "input of a live node is dead");
      int s = slot_base[size_t(in.node)] + in.index;
      x->input_slots_.push_back(s);
      ++x->slot_uses_[size_t(s)];
      succ[size_t(exec_id[size_t(in.node)])].push_back(exec_id[i]);
    }
    en.num_inputs = int(pn.inputs.size());
    for (int c : pn.control_inputs) succ[size_t(exec_id[size_t(c)])].push_back(exec_id[i]);
    en.initial_pending = int(pn.inputs.size() + pn.control_inputs.size());
  }
  for (size_t i = 0; i < x->nodes_.size(); ++i) {
    exec_node& en = x->nodes_[i];
    en.succ_begin = int(x->successors_.size());
    x->successors_.insert(x->successors_.end(), succ[i].begin(), succ[i].end());
    en.succ_end = int(x->successors_.size());
    if (en.initial_pending == 0) x->roots_.push_back(int(i));
  }
  for (endpoint f : p.fetches) {
    int s = slot_base[size_t(f.node)] + f.index;
    x->fetch_slots_.push_back(s);
    ++x->slot_uses_[size_t(s)];  // never released before the run ends
  }
  x->num_slots_ = slots;
  x->plan_ = std::move(p);
  return std::shared_ptr<const executable>(std::move(x));
}

struct run_state {
  const executable& x;
  const std::vector<tensor>& feeds;
  cpu_device& dev;
  int64_t step_id;
  bool single_threaded;
  std::vector<tensor> slots;
  std::unique_ptr<std::atomic<int>[]> pending;
  std::unique_ptr<std::atomic<int>[]> uses;
  std::atomic<int> outstanding{0};
  std::atomic<bool> aborted{false};
  std::mutex mu;
  error first_error;
  // Tasks on the pool hold a reference, so the state outlives the last notify even when
  // the caller returns first. Reset by the caller at the end of the run.
  std::shared_ptr<run_state> self;

  run_state(const executable& ex, const std::vector<tensor>& f, cpu_device& d, int64_t step)
      : x(ex), feeds(f), dev(d), step_id(step), single_threaded(d.num_threads() <= 1 || d.contended()),
        slots(size_t(ex.num_slots_)),
        pending(new std::atomic<int>[ex.nodes_.size()]),
        uses(new std::atomic<int>[size_t(ex.num_slots_)]) {
    for (size_t i = 0; i < ex.nodes_.size(); ++i)
      pending[i].store(ex.nodes_[i].initial_pending, std::memory_order_relaxed);
    for (size_t i = 0; i < size_t(ex.num_slots_); ++i)
      uses[i].store(ex.slot_uses_[i], std::memory_order_relaxed);
  }

  void fail(error e) {
    std::lock_guard<std::mutex> lock(mu);
    if (!first_error) first_error = std::move(e);
    aborted.store(true, std::memory_order_release);
  }

  bool is_expensive(const executable::exec_node& en) const {
    if (en.always_cheap) return false;
    if (en.num_inputs == 0) return true;
    int64_t elements = 0;
    for (int i = 0; i < en.num_inputs; ++i)
      elements += slots[size_t(x.input_slots_[size_t(en.input_begin + i)])].num_elements();
    return elements >= cheap_input_elements;
  }

  error execute(const executable::exec_node& en) {
    tensor* out = slots.data() + en.output_begin;
    if (en.feed_index >= 0) {
      out[0] = feeds[size_t(en.feed_index)];
      return {};
    }
    constexpr int inline_inputs = 8;
    const tensor* small[inline_inputs];
    std::vector<const tensor*> large;
    const tensor** in = small;
    if (en.num_inputs > inline_inputs) {
      large.resize(size_t(en.num_inputs));
      in = large.data();
    }
    for (int i = 0; i < en.num_inputs; ++i)
      in[i] = &slots[size_t(x.input_slots_[size_t(en.input_begin + i)])];
    if (!en.forwards_inputs) return run_kernel(en, in, out, {});
    // An input slot this node is the last reader of (its use count is down to this one
    // read: other readers have finished, and fetched slots keep an extra use) is moved
    // out of the slot, so the kernel may compute in place over it (forward_or_allocate).
    // Only for the first two inputs, and only for buffers that are not small: small ones
    // come from a per-thread free list at a cost below that of the bookkeeping.
    uint8_t forwardable[2] = {0, 0};
    bool any = false;
    for (int i = 0; i < std::min(en.num_inputs, 2); ++i) {
      int s = x.input_slots_[size_t(en.input_begin + i)];
      const buffer_ref& b = slots[size_t(s)].buffer_handle();
      forwardable[i] = b && b->size() >= min_forward_bytes &&
                       uses[size_t(s)].load(std::memory_order_acquire) == 1;
      any |= forwardable[i] != 0;
    }
    if (!any) return run_kernel(en, in, out, {});
    tensor owned[2];
    for (int i = 0; i < 2; ++i) {
      if (!forwardable[i]) continue;
      owned[i] = std::move(slots[size_t(x.input_slots_[size_t(en.input_begin + i)])]);
      in[i] = &owned[i];
    }
    return run_kernel(en, in, out, {forwardable, size_t(std::min(en.num_inputs, 2))});
  }

  error run_kernel(const executable::exec_node& en, const tensor** in, tensor* out,
                   std::span<const uint8_t> forwardable) {
    const node& n = *en.n;
    kernel_context ctx(n, {in, size_t(en.num_inputs)}, {out, size_t(en.num_outputs)}, dev, step_id,
                       forwardable);
    error e;
    try {
      e = en.kernel->compute(ctx);
    } catch (const std::bad_alloc&) {
      e = make_error(errc::resource_exhausted, "out of memory");
    } catch (const std::exception& ex) {
      e = make_error(errc::internal, "kernel threw: ", ex.what());
    }
    if (e) return std::move(e).with_context(str_cat("node '", n.name, "' (", n.op, ")"));
    for (int i = 0; i < en.num_outputs; ++i) {
      const tensor& t = out[i];
      if (!t.valid() || t.dtype() != n.output_types[size_t(i)] ||
          !n.output_shapes[size_t(i)].is_compatible_with(t.shape()))
        return make_error(errc::internal, "node '", n.name, "' (", n.op, "): output ", i, " is ",
                          t.valid() ? str_cat(dtype_name(t.dtype()), " ", t.shape().to_string())
                                    : std::string("not set"),
                          " but inference said ", dtype_name(n.output_types[size_t(i)]), " ",
                          n.output_shapes[size_t(i)].to_string());
    }
    return {};
  }

  // Runs `first` and whatever it makes ready that is cheap (see Note [Executor]).
  void process(int first) {
    int local_small[32];
    std::vector<int> local;
    local.reserve(0);
    int top = 0;
    auto push = [&](int id) {
      if (top < 32) local_small[top++] = id;
      else local.push_back(id);
    };
    auto pop = [&]() {
      if (!local.empty()) {
        int id = local.back();
        local.pop_back();
        return id;
      }
      return local_small[--top];
    };
    push(first);
    while (top > 0 || !local.empty()) {
      int id = pop();
      const executable::exec_node& en = x.nodes_[size_t(id)];
      if (!aborted.load(std::memory_order_acquire)) {
        if (error e = execute(en)) fail(std::move(e));
      }
      bool ok = !aborted.load(std::memory_order_acquire);
      // Release inputs whose last consumer this was, and outputs nobody consumes.
      for (int i = 0; i < en.num_inputs; ++i) {
        int s = x.input_slots_[size_t(en.input_begin + i)];
        if (uses[size_t(s)].fetch_sub(1, std::memory_order_acq_rel) == 1) slots[size_t(s)] = tensor();
      }
      for (int i = 0; i < en.num_outputs; ++i)
        if (x.slot_uses_[size_t(en.output_begin + i)] == 0) slots[size_t(en.output_begin + i)] = tensor();
      if (ok) {
        int kept_expensive = -1;
        for (int k = en.succ_begin; k < en.succ_end; ++k) {
          int s = x.successors_[size_t(k)];
          if (pending[size_t(s)].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
          outstanding.fetch_add(1, std::memory_order_relaxed);
          if (single_threaded || !is_expensive(x.nodes_[size_t(s)])) {
            push(s);
          } else if (kept_expensive < 0) {
            kept_expensive = s;
          } else {
            dev.schedule([keep = self, s] { keep->process(s); });
          }
        }
        if (kept_expensive >= 0) push(kept_expensive);
      }
      if (outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) dev.wake();
    }
  }

  void run() {
    // Tasks this run schedules are this run's: the caller runs them while it waits
    // (Note [Waiting callers help] in cpu_device.cpp).
    cpu_device::owner_scope owner(this);
    const auto& roots = x.roots_;
    outstanding.store(int(roots.size()), std::memory_order_relaxed);
    // Expensive roots (e.g. big random initializers) go to the pool; the rest run here.
    std::vector<int> here;
    for (int r : roots) {
      if (!single_threaded && is_expensive(x.nodes_[size_t(r)]) && !here.empty())
        dev.schedule([keep = self, r] { keep->process(r); });
      else
        here.push_back(r);
    }
    for (int r : here) process(r);
    dev.help_until(this, [this] { return outstanding.load(std::memory_order_acquire) == 0; });
  }
};

expected<std::vector<tensor>> executable::run(const std::vector<tensor>& feeds, cpu_device& dev,
                                              int64_t step_id) const {
  auto st = std::make_shared<run_state>(*this, feeds, dev, step_id);
  st->self = st;
  if (!nodes_.empty()) st->run();
  st->self.reset();
  if (st->first_error) return std::move(st->first_error);
  std::vector<tensor> out;
  out.reserve(fetch_slots_.size());
  for (int s : fetch_slots_) out.push_back(st->slots[size_t(s)]);
  return out;
}

}  // namespace troupe
