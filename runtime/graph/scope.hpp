#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/graph/graph.hpp"

namespace troupe {

/// A handle to one output of a node while building a graph. Invalid (node < 0) when
/// the op that should have produced it failed; see scope::status().
struct output {
  graph* g = nullptr;
  endpoint ep;

  bool valid() const { return g != nullptr && ep.valid(); }
  const node& op_node() const { return g->at(ep.node); }
  std::string name() const { return g->endpoint_name(ep); }
  dtype type() const { return g->type_of(ep); }
  const partial_shape& shape() const { return g->shape_of(ep); }
};

/// A node added through the builder API; invalid when adding it failed.
struct operation {
  graph* g = nullptr;
  int node = -1;

  operation() = default;
  operation(graph* gr, int id) : g(gr), node(id) {}
  operation(const output& o) : g(o.g), node(o.ep.node) {}  // NOLINT: an output's node
  bool valid() const { return g != nullptr && node >= 0; }
  /// Output i (invalid if the operation is invalid).
  output out(int i = 0) const { return valid() ? output{g, {node, i}} : output{}; }
  int num_outputs() const { return valid() ? g->at(node).num_outputs() : 0; }
};

/// The builder API's context: which graph, the name prefix, the device and the control
/// dependencies for the ops added through it. Copies share one status: the first error
/// of any op added through a scope derived from the same root. An op given an invalid
/// input adds nothing and returns invalid outputs, so a chain of builder calls can be
/// checked once, at the end, with status().
/// Thread-safety: not synchronized (like the graph it builds).
class scope {
 public:
  /// The root scope of a graph.
  static scope root(graph& g);

  /// Names the next op exactly `name` (within the prefix); a taken name is an error.
  scope with_name(std::string name) const;
  /// Prefixes op names with "prefix/".
  scope sub(std::string_view prefix) const;
  scope with_device(std::string device) const;
  /// Ops added through the result run after `deps` (control edges).
  scope with_control_deps(const std::vector<operation>& deps) const;

  graph& g() const { return *graph_; }
  /// "prefix/" + name: the full name a node named `name` gets through this scope.
  std::string full_name(std::string_view name) const { return str_cat(prefix_, name); }
  const error& status() const { return *status_; }
  bool ok() const { return !*status_; }

  /// Adds a node of `op` with these inputs (a list input takes several in a row) and
  /// attributes; returns an invalid operation (and records the error) on failure.
  operation add(std::string_view op, const std::vector<output>& inputs,
                attr_map attrs = {}) const;
  /// add(...).out(0), for single-output ops.
  output add1(std::string_view op, const std::vector<output>& inputs, attr_map attrs = {}) const {
    return add(op, inputs, std::move(attrs)).out(0);
  }
  /// Records `e` as this scope's error unless one is recorded already.
  void record(error e) const;

 private:
  explicit scope(graph& g) : graph_(&g), status_(std::make_shared<error>()) {}

  graph* graph_;
  std::shared_ptr<error> status_;
  std::string prefix_;
  std::string name_;
  std::string device_;
  std::vector<int> control_deps_;
};

}  // namespace troupe
