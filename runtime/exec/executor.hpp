#pragma once

// Internal to the session: a prepared, immutable executable and its dataflow executor.

#include <functional>
#include <memory>
#include <vector>

#include "runtime/exec/plan.hpp"

namespace troupe {

/// A plan lowered to flat arrays: kernels created once, inputs and outputs as slot
/// numbers, successors as lists, so a run touches no strings and no maps.
/// See Note [Executor].
/// Thread-safety: immutable after make(); run() may be called from several threads.
class executable {
 public:
  /// Creates a kernel for a node; stateful ops' kernels (random generators, later
  /// variables and queues) come from the session, shared by all its executables, so
  /// their state does not restart when a new signature is prepared.
  using kernel_source = std::function<expected<std::shared_ptr<op_kernel>>(const node&)>;

  static expected<std::shared_ptr<const executable>> make(detail::plan p,
                                                          const kernel_source& kernels);

  /// Runs one step. `feeds` are in the order of the signature's feeds.
  expected<std::vector<tensor>> run(const std::vector<tensor>& feeds, cpu_device& dev,
                                    int64_t step_id) const;

  const prepare_report& report() const { return plan_.report; }

  struct exec_node {
    const node* n = nullptr;
    std::shared_ptr<op_kernel> kernel;
    int feed_index = -1;
    int input_begin = 0, num_inputs = 0;    // into input_slots_
    int output_begin = 0, num_outputs = 0;  // slots
    int succ_begin = 0, succ_end = 0;       // into successors_
    int initial_pending = 0;
    bool always_cheap = false;
    bool forwards_inputs = false;  // the kernel may compute in place over an input
  };

 private:
  friend struct run_state;
  detail::plan plan_;  // owns synthetic nodes the kernels point at
  std::vector<exec_node> nodes_;
  std::vector<int> input_slots_;
  std::vector<int> successors_;
  std::vector<int> slot_uses_;  // consumers per slot (+1 when fetched)
  std::vector<int> roots_;
  std::vector<int> fetch_slots_;
  int num_slots_ = 0;
};

}  // namespace troupe
