#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/exec/kernel.hpp"
#include "runtime/graph/scope.hpp"

namespace troupe {

struct session_options {
  /// Threads of the session's CPU device; <= 0: one per hardware thread. 1 runs every
  /// node on the calling thread in a fixed order (deterministic).
  int num_threads = 0;
  /// Run common-subexpression elimination and constant folding when preparing.
  bool optimize = true;
  /// Constant folding skips results with more elements than this.
  int64_t max_folded_elements = int64_t(1) << 20;
};

/// What preparing one (feeds, fetches, targets) signature did; see session::explain.
struct prepare_report {
  int graph_nodes = 0;       ///< nodes in the whole graph
  int pruned_nodes = 0;      ///< nodes the fetches and targets need
  int cse_removed = 0;       ///< nodes merged into an identical one
  int folded = 0;            ///< nodes replaced by a constant
  int dead_removed = 0;      ///< nodes no longer needed after the passes
  int executed_nodes = 0;    ///< nodes each run executes
};

class executable;

/// Runs fetches of a graph with fed values (TensorFlow's Session): prunes the graph to
/// what is needed (partial execution), optimizes it, caches the prepared executable per
/// (feeds, fetches, targets) signature, and executes the dataflow with inter-op
/// parallelism on its own CPU device.
/// Thread-safety: run() may be called from several threads at once. The graph must
/// outlive the session and must not be changed while a run is in progress; nodes added
/// between runs are seen by later runs.
class session {
 public:
  session(const graph& g, const kernel_registry& kernels, session_options opts = {});
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  using feed_list = std::vector<std::pair<std::string, tensor>>;

  /// Feeds tensors to endpoints ("name" or "name:i"), computes the fetched endpoints and
  /// runs the target nodes. Errors: an unknown name (not_found), a placeholder needed but
  /// not fed, a fed tensor of the wrong dtype or shape (invalid_argument), a failing node
  /// (its error, prefixed by the node's name and op). The session stays usable.
  expected<std::vector<tensor>> run(const feed_list& feeds, const std::vector<std::string>& fetches,
                                    const std::vector<std::string>& targets = {});
  /// The same with builder handles.
  expected<std::vector<tensor>> run(const std::vector<std::pair<output, tensor>>& feeds,
                                    const std::vector<output>& fetches,
                                    const std::vector<operation>& targets = {});

  /// Prepares (or finds in the cache) the executable for a signature and says what the
  /// passes did.
  expected<prepare_report> explain(const std::vector<std::string>& feeds,
                                   const std::vector<std::string>& fetches,
                                   const std::vector<std::string>& targets = {});

  size_t cached_executables() const;
  cpu_device& device() { return *device_; }
  const graph& source_graph() const { return graph_; }

 private:
  expected<std::shared_ptr<const executable>> prepare(const std::vector<std::string>& feeds,
                                                      const std::vector<std::string>& fetches,
                                                      const std::vector<std::string>& targets);

  const graph& graph_;
  const kernel_registry& kernels_;
  session_options opts_;
  std::unique_ptr<cpu_device> device_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const executable>> cache_;
  // Kernels of stateful nodes, shared by every executable of this session.
  std::unordered_map<int, std::shared_ptr<op_kernel>> stateful_kernels_;
  std::atomic<int64_t> next_step_id_{1};
};

}  // namespace troupe
