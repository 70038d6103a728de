#pragma once

#include <vector>

#include "runtime/graph/scope.hpp"

namespace troupe {

/// The gradient flowing along one edge: dense, or sparse rows (TensorFlow's
/// IndexedSlices): the dense gradient is zero except that row indices[k] of dimension 0
/// gets values[k] added (an index may repeat: the rows add up). Invalid when nothing
/// flows (a zero gradient).
struct gradient {
  output dense;
  output indices;     ///< sparse: int32 or int64, shape [K]
  output values;      ///< sparse: shape [K] + shape(dense_like)[1:]
  output dense_like;  ///< sparse: a tensor of the dense gradient's shape and dtype

  static gradient of(output g) { return {.dense = g}; }
  bool valid() const { return dense.valid() || values.valid(); }
  bool is_sparse() const { return values.valid(); }
};

/// The dense form of a gradient (a scatter-add into zeros for a sparse one). Invalid
/// if `g` is.
output to_dense(const scope& s, const gradient& g);

/// What an op's gradient function sees: the forward node, the gradients arriving at its
/// outputs, and where to put the gradients of its inputs. Gradient functions are
/// declared beside each op (op_spec::grad) and build ordinary nodes through scope().
class grad_context {
 public:
  grad_context(const scope& s, graph& g, int node_id, std::vector<gradient> out_grads,
               std::vector<bool> wanted);

  /// Where to add the gradient nodes (a scope named after the forward node).
  const scope& s() const { return scope_; }
  const node& forward() const { return graph_->at(node_); }
  template <class T>
  const T& attr(std::string_view name) const { return forward().attr<T>(name); }
  int num_inputs() const { return int(forward().inputs.size()); }
  int num_outputs() const { return forward().num_outputs(); }
  /// Forward input i (list inputs are flattened, as in node::inputs) and output i.
  output input(int i) const;
  output out(int i) const;

  /// The gradient arriving at output i: invalid when none does (it is zero).
  const gradient& grad(int i) const { return out_grads_[size_t(i)]; }
  /// The same as a dense tensor: zeros like output i when none arrives.
  output dense_grad(int i);
  /// Whether input i needs a gradient (it lies on a path to a requested x); others may
  /// be skipped.
  bool wants(int i) const { return wanted_[size_t(i)]; }

  /// Sets the gradient of input i (ignored for inputs nobody wants).
  void set(int i, output g);
  /// Sets a sparse gradient of input i: rows `indices` (vector) of input i get `values`.
  void set_sparse(int i, output indices, output values);
  /// What set() and set_sparse() recorded, one per input.
  const std::vector<gradient>& input_grads() const { return in_grads_; }

 private:
  scope scope_;
  graph* graph_;
  int node_;
  std::vector<gradient> out_grads_;
  std::vector<bool> wanted_;
  std::vector<gradient> in_grads_;
};

/// Extends the graph with the gradients of sum(ys[k] * grad_ys[k]) with respect to each
/// of xs (TensorFlow's tf.gradients): grad_ys defaults to ones. Only float32/float64
/// edges carry gradients. Returns one gradient per x: invalid when x does not affect ys,
/// sparse when it only reaches ys through gathers and embedding look-ups (see
/// gradient). Errors name an op on the way that has no gradient function, and invalid
/// arguments (ys not floating point, grad_ys of another dtype or count).
/// New nodes are named under s ("gradients/..." for scope::root(g).sub("gradients")).
expected<std::vector<gradient>> add_gradients(const scope& s, const std::vector<output>& ys,
                                              const std::vector<output>& xs,
                                              const std::vector<output>& grad_ys = {});

}  // namespace troupe
