#pragma once

#include "runtime/graph/scope.hpp"

/// Neural-network ops: matmul, bias_add, activations, softmax and losses. All of them
/// take float32 or float64 (T); sparse labels are int32 or int64.
namespace troupe::ops {

/// op(a) * op(b) for rank-2 a and b, op(x) = x or x^T. An inner dimension of 0 gives zeros.
output matmul(const scope& s, output a, output b, bool transpose_a = false,
              bool transpose_b = false);
/// value [..., C] + bias [C], the bias added along the last axis.
output bias_add(const scope& s, output value, output bias);

/// max(x, 0), elementwise.
output relu(const scope& s, output x);
/// 1 / (1 + exp(-x)), elementwise.
output sigmoid(const scope& s, output x);
/// The hyperbolic tangent, elementwise.
output tanh(const scope& s, output x);
/// exp(x) / sum(exp(x)) over the last axis (rank >= 1), computed with the row max
/// subtracted so large logits do not overflow.
output softmax(const scope& s, output logits);
/// x - log(sum(exp(x))) over the last axis (rank >= 1), numerically stable.
output log_softmax(const scope& s, output logits);

/// The two outputs of the softmax cross-entropy ops.
struct cross_entropy_outputs {
  output loss;      ///< [N]: the cross-entropy of each row
  output backprop;  ///< [N, C]: d loss / d logits = softmax(logits) - labels
};

/// logits [N, C] and labels [N, C] (a probability distribution per row), as TensorFlow's
/// tf.nn.softmax_cross_entropy_with_logits: loss[i] = -sum_j labels[i,j] log softmax[i,j].
/// Its gradient w.r.t. logits is backprop scaled per row, exact when each row of labels
/// sums to 1 (as in TensorFlow); w.r.t. labels it is -log softmax(logits).
cross_entropy_outputs softmax_cross_entropy_with_logits(const scope& s, output logits,
                                                        output labels);
/// logits [N, C] and labels [N] (int32 or int64 class indices in [0, C)); a label out of
/// range is a run-time invalid_argument error naming the label, its row and C.
cross_entropy_outputs sparse_softmax_cross_entropy_with_logits(const scope& s, output logits,
                                                               output labels);
/// Elementwise max(x, 0) - x * z + log(1 + exp(-|x|)) for logits x and labels z of the
/// same shape (stable for large |x|).
output sigmoid_cross_entropy_with_logits(const scope& s, output logits, output labels);
/// The scalar mean of (predictions - labels)^2 over all elements; the shapes must be equal.
/// NaN for empty inputs (a mean of nothing).
output mean_squared_error(const scope& s, output predictions, output labels);

// Fused gradient ops: the gradients of the activations and of bias_add, one pass over the
// data each (the hot path of every training step). The activations' gradients read the
// forward output y, so the forward input can be freed after the forward pass. g and y must
// have the same shape; the result may be computed in place over g or y.

/// g * (y > 0), elementwise: the gradient of relu from its output y.
output relu_grad(const scope& s, output g, output y);
/// g * y * (1 - y), elementwise: the gradient of sigmoid from its output y.
output sigmoid_grad(const scope& s, output g, output y);
/// g * (1 - y^2), elementwise: the gradient of tanh from its output y.
output tanh_grad(const scope& s, output g, output y);
/// g [..., C] summed over every axis but the last, giving [C]: the gradient of bias_add
/// with respect to its bias.
output bias_add_grad(const scope& s, output g);

}  // namespace troupe::ops

namespace troupe {
void register_nn_ops(op_registry& reg);
}
