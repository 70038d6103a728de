#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/graph/op_def.hpp"

namespace troupe {

/// One output of a node: (node id, output index).
struct endpoint {
  int node = -1;
  int index = 0;
  bool valid() const { return node >= 0; }
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// What a caller gives to add a node. Attributes not given take their defaults; type
/// attributes are inferred from the inputs.
struct node_def {
  std::string name;
  std::string op;
  std::vector<endpoint> inputs;
  std::vector<int> control_inputs;
  std::string device;  ///< requested device, e.g. "/cpu:0"; empty = any
  attr_map attrs;
};

/// A node of a graph, with everything inference found out.
struct node {
  int id = -1;
  std::string name;
  std::string op;
  const op_def* def = nullptr;
  std::vector<endpoint> inputs;
  std::vector<int> control_inputs;
  std::string device;
  attr_map attrs;  ///< complete: defaults and inferred type attributes filled in
  std::vector<dtype> input_types;
  std::vector<dtype> output_types;
  std::vector<partial_shape> output_shapes;

  const attr_value* find_attr(std::string_view name) const;
  /// The attribute; aborts if missing (attributes are complete after add_node).
  template <class T>
  const T& attr(std::string_view name) const {
    const attr_value* v = find_attr(name);
    TROUPE_ASSERT(v != nullptr && v->is<T>(), "node '", this->name, "': attribute '", name,
                  "' missing or of another kind");
    return v->get<T>();
  }
  int num_outputs() const { return int(output_types.size()); }
};

/// A dataflow graph: nodes in the order added, so every node comes after its inputs
/// (a graph cannot hold a cycle). Validation and shape inference happen in add_node.
/// Thread-safety: not synchronized; concurrent reads are safe when nobody adds.
class graph {
 public:
  explicit graph(const op_registry& ops) : ops_(&ops) {}

  /// Validates the node against its op (unknown op, missing or unknown attributes,
  /// input count and dtypes, shapes) and appends it. Returns its id. Errors name the
  /// node, the op and the offending input, with expected and actual dtypes or shapes.
  expected<int> add_node(node_def def);

  int num_nodes() const { return int(nodes_.size()); }
  const node& at(int id) const { return nodes_[size_t(id)]; }
  /// In id order. Adding a node never moves the others: references to nodes stay valid
  /// while the graph grows (gradient functions add nodes while one is being looked at;
  /// cached executables point at nodes).
  const std::deque<node>& nodes() const { return nodes_; }
  const op_registry& ops() const { return *ops_; }

  /// The node with this name, or a not_found error.
  expected<int> find(std::string_view name) const;
  /// Parses "name" (output 0) or "name:i" into an endpoint; errors name the text.
  expected<endpoint> parse_endpoint(std::string_view text) const;
  /// "name:i" ("name" for output 0 of a single-output node is also accepted by parse).
  std::string endpoint_name(endpoint e) const;
  dtype type_of(endpoint e) const { return at(e.node).output_types[size_t(e.index)]; }
  const partial_shape& shape_of(endpoint e) const {
    return at(e.node).output_shapes[size_t(e.index)];
  }
  /// `base` if unused, else base_1, base_2, ...
  std::string unique_name(std::string_view base) const;

 private:
  const op_registry* ops_;
  std::deque<node> nodes_;
  std::unordered_map<std::string, int> by_name_;
};

/// What a shape function sees of the node being added.
class shape_context {
 public:
  shape_context(const graph& g, const node& n, std::vector<partial_shape> inputs);

  const node& this_node() const { return node_; }
  int num_inputs() const { return int(input_shapes_.size()); }
  const partial_shape& input(int i) const { return input_shapes_[size_t(i)]; }
  dtype input_type(int i) const;
  template <class T>
  const T& attr(std::string_view name) const { return node_.attr<T>(name); }
  /// The value of input i if it comes straight from a const node, else nullptr.
  const tensor* input_value(int i) const;

  int num_outputs() const { return int(output_shapes_.size()); }
  void set_output(int i, partial_shape s) { output_shapes_[size_t(i)] = s; }
  std::vector<partial_shape>& outputs() { return output_shapes_; }

 private:
  const graph& graph_;
  const node& node_;
  std::vector<partial_shape> input_shapes_;
  std::vector<partial_shape> output_shapes_;
};

}  // namespace troupe
