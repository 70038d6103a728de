#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/graph/attr_value.hpp"

namespace troupe {

class shape_context;
class grad_context;

/// Computes a node's output shapes from its input shapes and attributes (dtypes are
/// inferred from the signature before it runs). Returns an error naming what is wrong;
/// the graph prefixes it with the node's name and op.
using shape_fn = std::function<error(shape_context&)>;
/// Builds the gradient subgraph of an op (used from the training-core issue on).
using grad_fn = std::function<error(grad_context&)>;

/// One input or output of an op's signature: "x: T", "values: N*T", "index: int64".
struct arg_def {
  std::string name;
  dtype fixed_type = dtype::invalid;  ///< a concrete dtype, or invalid if `type_attr` is set
  std::string type_attr;              ///< the type attribute giving the dtype ("T")
  std::string number_attr;            ///< for a list "N*T": the int attribute giving its length
  std::string type_list_attr;         ///< for a tuple typed by a list(type) attribute
  bool is_list() const { return !number_attr.empty(); }
};

/// One attribute of an op's signature: "transpose_a: bool = false", "T in float_types".
struct attr_def {
  std::string name;
  attr_kind kind = attr_kind::integer;
  std::optional<attr_value> default_value;
  std::vector<dtype> allowed_types;  ///< for kind type: allowed dtypes (empty = any)
};

/// What an op is declared with, in one place. See Note [Op signatures].
struct op_spec {
  /// "matmul(a: T, b: T) -> (product: T); T in float_types; transpose_a: bool = false"
  std::string signature;
  shape_fn shape;
  grad_fn grad;
  /// Stateful ops (random, variables, queues) are never folded, merged or cached by value.
  bool is_stateful = false;
  /// Inputs whose value is needed at shape inference time are not a thing yet; ops are
  /// described by attributes. A one-line description for docs and error messages.
  std::string doc;
};

// Note [Op signatures]
// A signature names the op, its inputs and outputs, then clauses separated by ';':
//   name(in: TYPE, ...) -> (out: TYPE, ...); CLAUSE; CLAUSE ...
// TYPE is a dtype name (float32, int64, bool, ...), a type attribute (T), or a list
// N*T whose length is the int attribute N (inferred from the inputs when they are lists).
// CLAUSE is either a type constraint "T in float_types" (float_types, int_types,
// numeric_types, all_types or {float32, int64}) or an attribute "name: KIND [= default]"
// with KIND one of bool, int, float, string, type, shape, list(int), list(float), tensor,
// list(type). An argument typed by a list(type) attribute is a tuple of tensors of those
// dtypes (queue components): see Note [Tuple arguments] in op_def.cpp.
// A type attribute used without a clause may be any dtype. Defaults: true/false, numbers,
// "text", a dtype name, a shape [2,-1] or ? (unknown), a list [1,2].

/// An op's parsed declaration. Immutable after registration; safe to share.
class op_def {
 public:
  /// Parses `spec.signature`; an error names the signature and the problem.
  static expected<op_def> parse(op_spec spec);

  const std::string& name() const { return name_; }
  const std::vector<arg_def>& inputs() const { return inputs_; }
  const std::vector<arg_def>& outputs() const { return outputs_; }
  const std::vector<attr_def>& attrs() const { return attrs_; }
  const attr_def* find_attr(std::string_view name) const;
  /// The type attribute kernels are registered by (the first one in the signature), or "".
  const std::string& kernel_type_attr() const { return kernel_type_attr_; }
  const op_spec& spec() const { return spec_; }
  bool is_stateful() const { return spec_.is_stateful; }

 private:
  std::string name_;
  std::vector<arg_def> inputs_;
  std::vector<arg_def> outputs_;
  std::vector<attr_def> attrs_;
  std::string kernel_type_attr_;
  op_spec spec_;
};

/// The ops a graph may use. Ops are added explicitly (register_builtin_ops), never by
/// static initializers. Thread-safety: add() during set-up only; find() is then safe from
/// any number of threads.
class op_registry {
 public:
  /// Parses and adds an op; an error if the signature is malformed or the name is taken.
  error add(op_spec spec);
  /// nullptr if unknown.
  const op_def* find(std::string_view name) const;
  /// A not_found error listing near names if unknown.
  expected<const op_def*> lookup(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, op_def, std::less<>> ops_;
};

/// Registers every op troupe ships (runtime/ops/*).
void register_builtin_ops(op_registry& reg);

}  // namespace troupe
