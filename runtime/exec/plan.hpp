#pragma once

// Internal to the session: the graph a signature needs, rewritten by the passes, before
// it is lowered to an executable. Not a public API.

#include <deque>
#include <string>
#include <vector>

#include "runtime/exec/kernel.hpp"
#include "runtime/exec/session.hpp"

namespace troupe::detail {

/// One node of a plan: a node of the source graph, a folded constant, or a feed.
struct plan_node {
  const node* n = nullptr;     ///< the node (for feeds: nullptr)
  int feed_index = -1;         ///< >= 0: outputs the feed of this index
  dtype feed_type = dtype::invalid;
  std::vector<endpoint> inputs;  ///< plan node ids
  std::vector<int> control_inputs;
  bool alive = true;
  /// Where each output went when the node was merged or folded ({-1,0}: nowhere).
  std::vector<endpoint> forward;

  int num_outputs() const { return n ? n->num_outputs() : 1; }
  bool is_const() const { return n != nullptr && n->op == "const"; }
};

/// A pruned, optimized graph for one (feeds, fetches, targets) signature.
struct plan {
  std::vector<plan_node> nodes;  ///< topological order
  std::deque<node> synthetic;    ///< nodes made by the passes (folded constants)
  std::vector<endpoint> fetches;
  std::vector<int> targets;
  prepare_report report;

  /// Follows forward links of merged and folded nodes.
  endpoint resolve(endpoint e) const;
};

/// Builds the plan: the nodes the fetches and targets need, with fed endpoints replaced
/// by feed nodes. Errors: unknown names, a placeholder that is needed but not fed.
expected<plan> build_plan(const graph& g, const std::vector<endpoint>& feeds,
                          const std::vector<endpoint>& fetches, const std::vector<int>& targets);

/// Common-subexpression elimination: stateless nodes with the same op, attributes and
/// inputs are merged into the first of them.
void eliminate_common_subexpressions(plan& p);

/// Constant folding: stateless nodes whose inputs are all constants are evaluated once
/// with their CPU kernel and replaced by constants (results above `max_elements` are not).
void fold_constants(plan& p, const op_registry& ops, const kernel_registry& kernels,
                    cpu_device& dev, int64_t max_elements);

/// Marks nodes that no fetch or target needs any more as dead.
void remove_dead_nodes(plan& p);

}  // namespace troupe::detail
