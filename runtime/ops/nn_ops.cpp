#include "runtime/ops/nn_ops.hpp"

#include <string_view>

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// Refines two partial shapes that must be equal into the shape both have, or returns an
// error naming both ("logits is [2,3], labels is [2,4]").
expected<partial_shape> merge_equal(const partial_shape& a, std::string_view a_name,
                                    const partial_shape& b, std::string_view b_name) {
  if (!a.rank_known()) return b;
  if (!b.rank_known()) return a;
  auto mismatch = [&] {
    return make_error(errc::invalid_argument, a_name, " and ", b_name,
                      " must have the same shape: ", a_name, " is ", a.to_string(), ", ", b_name,
                      " is ", b.to_string());
  };
  if (a.rank() != b.rank()) return mismatch();
  partial_shape out = a;
  for (int i = 0; i < a.rank(); ++i) {
    if (a[i] >= 0 && b[i] >= 0 && a[i] != b[i]) return mismatch();
    if (a[i] < 0) out.set_dim(i, b[i]);
  }
  return out;
}

// An error unless `s` has rank `rank` (or an unknown rank).
error require_rank(const partial_shape& s, int rank, std::string_view name,
                   std::string_view what) {
  TROUPE_REQUIRE(!s.rank_known() || s.rank() == rank, name, " must be ", what, " (rank ", rank,
                 "), got shape ", s.to_string());
  return {};
}

// An unknown-rank shape seen as rank `rank` with unknown dimensions.
partial_shape with_rank(const partial_shape& s, int rank) {
  return s.rank_known() ? s : partial_shape::unknown_dims(rank);
}

error matmul_shape(shape_context& c) {
  const partial_shape& a = c.input(0);
  const partial_shape& b = c.input(1);
  TROUPE_TRY(require_rank(a, 2, "a", "a matrix"));
  TROUPE_TRY(require_rank(b, 2, "b", "a matrix"));
  bool ta = c.attr<bool>("transpose_a");
  bool tb = c.attr<bool>("transpose_b");
  partial_shape a2 = with_rank(a, 2), b2 = with_rank(b, 2);
  int64_t m = a2[ta ? 1 : 0], ka = a2[ta ? 0 : 1];
  int64_t kb = b2[tb ? 1 : 0], n = b2[tb ? 0 : 1];
  TROUPE_REQUIRE(ka < 0 || kb < 0 || ka == kb, "inner dimensions differ: a is ", a.to_string(),
                 ta ? " (transposed)" : "", ", b is ", b.to_string(), tb ? " (transposed)" : "",
                 ": op(a) has ", ka, " columns but op(b) has ", kb, " rows");
  c.set_output(0, partial_shape{m, n});
  return {};
}

error bias_add_shape(shape_context& c) {
  const partial_shape& value = c.input(0);
  const partial_shape& bias = c.input(1);
  TROUPE_REQUIRE(!value.rank_known() || value.rank() >= 1,
                 "value must have rank >= 1 (its last axis gets the bias), got shape ",
                 value.to_string());
  TROUPE_TRY(require_rank(bias, 1, "bias", "a vector"));
  partial_shape out = value;
  if (value.rank_known() && bias.rank_known()) {
    int64_t cv = value[value.rank() - 1], cb = bias[0];
    TROUPE_REQUIRE(cv < 0 || cb < 0 || cv == cb,
                   "bias length differs from the last dimension of value: value is ",
                   value.to_string(), ", bias is ", bias.to_string());
    if (cv < 0) out.set_dim(value.rank() - 1, cb);
  }
  c.set_output(0, out);
  return {};
}

// softmax and log_softmax: over the last axis, which must exist.
error softmax_shape(shape_context& c) {
  const partial_shape& x = c.input(0);
  TROUPE_REQUIRE(!x.rank_known() || x.rank() >= 1,
                 "logits must have rank >= 1 (softmax runs over the last axis), got shape ",
                 x.to_string());
  c.set_output(0, x);
  return {};
}

error softmax_xent_shape(shape_context& c) {
  TROUPE_TRY(require_rank(c.input(0), 2, "logits", "a matrix [batch, classes]"));
  TROUPE_TRY(require_rank(c.input(1), 2, "labels", "a matrix [batch, classes]"));
  partial_shape s = TROUPE_TRY(merge_equal(with_rank(c.input(0), 2), "logits",
                                           with_rank(c.input(1), 2), "labels"));
  c.set_output(0, partial_shape{s[0]});
  c.set_output(1, s);
  return {};
}

error sparse_softmax_xent_shape(shape_context& c) {
  const partial_shape& logits = c.input(0);
  const partial_shape& labels = c.input(1);
  TROUPE_TRY(require_rank(logits, 2, "logits", "a matrix [batch, classes]"));
  TROUPE_TRY(require_rank(labels, 1, "labels", "a vector [batch]"));
  partial_shape l2 = with_rank(logits, 2);
  int64_t nl = l2[0], nb = with_rank(labels, 1)[0];
  TROUPE_REQUIRE(nl < 0 || nb < 0 || nl == nb,
                 "logits and labels differ in batch size: logits is ", logits.to_string(),
                 ", labels is ", labels.to_string());
  int64_t n = nl >= 0 ? nl : nb;
  c.set_output(0, partial_shape{n});
  c.set_output(1, partial_shape{n, l2[1]});
  return {};
}

error sigmoid_xent_shape(shape_context& c) {
  c.set_output(0, TROUPE_TRY(merge_equal(c.input(0), "logits", c.input(1), "labels")));
  return {};
}

error mean_squared_error_shape(shape_context& c) {
  TROUPE_TRY(merge_equal(c.input(0), "predictions", c.input(1), "labels"));
  c.set_output(0, partial_shape(tensor_shape{}));
  return {};
}

// relu_grad, sigmoid_grad, tanh_grad: g and y of one shape.
error activation_grad_shape(shape_context& c) {
  c.set_output(0, TROUPE_TRY(merge_equal(c.input(0), "g", c.input(1), "y")));
  return {};
}

error bias_add_grad_shape(shape_context& c) {
  const partial_shape& g = c.input(0);
  TROUPE_REQUIRE(!g.rank_known() || g.rank() >= 1,
                 "g must have rank >= 1 (the bias runs along its last axis), got shape ",
                 g.to_string());
  c.set_output(0, partial_shape{g.rank_known() ? g[g.rank() - 1] : -1});
  return {};
}

// ---- gradients --------------------------------------------------------------------------

// Note [Gradients of the nn ops]
// Every gradient is built from forward values the graph has anyway, never by recomputing
// what a forward op already returned: the activations' gradients read the forward output y
// (relu_grad, sigmoid_grad, tanh_grad), softmax's and log_softmax's too, and the
// cross-entropies scale their `backprop` output (softmax - labels) by the incoming
// per-row gradient. matmul's gradients are matmuls with transpose attributes, never
// transpose ops, so no transposed copy is ever materialized. Only wanted inputs get a
// gradient subgraph.

// The sum of two gradient terms, either of which may be missing (invalid).
output add_terms(const scope& s, output a, output b) {
  if (!a.valid()) return b;
  if (!b.valid()) return a;
  return ops::add(s, a, b);
}

// y = op(a) op(b): with plain a and b, da = g b^T and db = a^T g. When the forward op
// transposed an input, its gradient is the transpose of that, which the transpose
// attributes give with the operands swapped: y = a^T b has d(a^T) = g b^T, so da = b g^T.
error matmul_grad_fn(grad_context& c) {
  const scope& s = c.s();
  const bool ta = c.attr<bool>("transpose_a"), tb = c.attr<bool>("transpose_b");
  output g = c.dense_grad(0), a = c.input(0), b = c.input(1);
  if (c.wants(0)) {
    // a b: g b^T;  a b^T: g b;  a^T b: b g^T;  a^T b^T: b^T g^T.
    c.set(0, ta ? ops::matmul(s, b, g, tb, true) : ops::matmul(s, g, b, false, !tb));
  }
  if (c.wants(1)) {
    // a b: a^T g;  a^T b: a g;  a b^T: g^T a;  a^T b^T: g^T a^T.
    c.set(1, tb ? ops::matmul(s, g, a, true, ta) : ops::matmul(s, a, g, !ta, false));
  }
  return {};
}

error bias_add_grad_fn(grad_context& c) {
  output g = c.dense_grad(0);
  c.set(0, g);
  if (c.wants(1)) c.set(1, ops::bias_add_grad(c.s(), g));
  return {};
}

// relu, sigmoid, tanh: a fused op of the incoming gradient and the forward output.
template <output (*fused)(const scope&, output, output)>
error activation_grad_fn(grad_context& c) {
  c.set(0, fused(c.s(), c.dense_grad(0), c.out(0)));
  return {};
}

// dx = (g - sum(g * y)) * y per row, y = softmax(x) (the Jacobian diag(y) - y y^T).
output softmax_backprop(const scope& s, output g, output y) {
  return ops::mul(s, ops::sub(s, g, ops::sum(s, ops::mul(s, g, y), {-1}, true)), y);
}

error softmax_grad_fn(grad_context& c) {
  c.set(0, softmax_backprop(c.s(), c.dense_grad(0), c.out(0)));
  return {};
}

// dx = g - softmax(x) * sum(g) per row, softmax(x) = exp(y) for y = log_softmax(x).
error log_softmax_grad_fn(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0);
  c.set(0, ops::sub(s, g, ops::mul(s, ops::exp(s, c.out(0)), ops::sum(s, g, {-1}, true))));
  return {};
}

// Both softmax cross-entropies (`dense_labels`: labels are distributions [N, C], else
// class indices [N], which get no gradient). loss[i] = -sum_j z_ij log softmax(x)_ij
// gives d loss / d x = backprop (output 1) and d loss / d z = -log_softmax(x), scaled per
// row by the incoming gradient [N]. Output 1, backprop = softmax(x) - z, has d/dx the
// softmax Jacobian and d/dz = -1, for when backprop itself is used downstream.
template <bool dense_labels>
error softmax_xent_grad_fn(grad_context& c) {
  const scope& s = c.s();
  output logits = c.input(0);
  output dlogits, dlabels;
  if (c.grad(0).valid()) {
    output g = ops::reshape(s, to_dense(s, c.grad(0)), {-1, 1});
    if (c.wants(0)) dlogits = ops::mul(s, g, c.out(1));
    if (dense_labels && c.wants(1)) {
      dlabels = ops::neg(s, ops::mul(s, g, ops::log_softmax(s, logits)));
    }
  }
  if (c.grad(1).valid()) {
    output gb = to_dense(s, c.grad(1));
    if (c.wants(0)) {
      dlogits = add_terms(s, dlogits, softmax_backprop(s, gb, ops::softmax(s, logits)));
    }
    if (dense_labels && c.wants(1)) dlabels = add_terms(s, dlabels, ops::neg(s, gb));
  }
  if (dlogits.valid()) c.set(0, dlogits);
  if (dlabels.valid()) c.set(1, dlabels);
  return {};
}

// loss = max(x, 0) - x z + log(1 + exp(-|x|)): d/dx = sigmoid(x) - z, d/dz = -x.
error sigmoid_xent_grad_fn(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), x = c.input(0), z = c.input(1);
  if (c.wants(0)) c.set(0, ops::mul(s, g, ops::sub(s, ops::sigmoid(s, x), z)));
  if (c.wants(1)) c.set(1, ops::neg(s, ops::mul(s, g, x)));
  return {};
}

// loss = mean((p - l)^2): dp = g * 2 (p - l) / n = -dl, with n (the number of elements)
// taken from p at run time by reduction_grad, so unknown batch sizes work.
error mean_squared_error_grad_fn(grad_context& c) {
  const scope& s = c.s();
  output p = c.input(0);
  output d = ops::sub(s, p, c.input(1));
  output per_element = ops::reduction_grad(s, c.dense_grad(0), p, {}, false, /*mean=*/true);
  output dp = ops::mul(s, per_element, ops::add(s, d, d));
  c.set(0, dp);
  if (c.wants(1)) c.set(1, ops::neg(s, dp));
  return {};
}

}  // namespace

void register_nn_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  ok(reg.add({.signature = "matmul(a: T, b: T) -> (product: T); T in float_types; "
                           "transpose_a: bool = false; transpose_b: bool = false",
              .shape = matmul_shape,
              .grad = matmul_grad_fn,
              .doc = "op(a) * op(b) of two matrices, op(x) = x or its transpose."}));
  ok(reg.add({.signature = "bias_add(value: T, bias: T) -> (output: T); T in float_types",
              .shape = bias_add_shape,
              .grad = bias_add_grad_fn,
              .doc = "Adds bias [C] to value [..., C] along the last axis."}));
  ok(reg.add({.signature = "relu(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .grad = activation_grad_fn<ops::relu_grad>,
              .doc = "max(x, 0), elementwise."}));
  ok(reg.add({.signature = "sigmoid(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .grad = activation_grad_fn<ops::sigmoid_grad>,
              .doc = "1 / (1 + exp(-x)), elementwise."}));
  ok(reg.add({.signature = "tanh(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .grad = activation_grad_fn<ops::tanh_grad>,
              .doc = "The hyperbolic tangent, elementwise."}));
  ok(reg.add({.signature = "softmax(logits: T) -> (probabilities: T); T in float_types",
              .shape = softmax_shape,
              .grad = softmax_grad_fn,
              .doc = "exp(x) / sum(exp(x)) over the last axis."}));
  ok(reg.add({.signature = "log_softmax(logits: T) -> (log_probabilities: T); T in float_types",
              .shape = softmax_shape,
              .grad = log_softmax_grad_fn,
              .doc = "x - log(sum(exp(x))) over the last axis."}));
  ok(reg.add({.signature = "softmax_cross_entropy_with_logits(logits: T, labels: T) -> "
                           "(loss: T, backprop: T); T in float_types",
              .shape = softmax_xent_shape,
              .grad = softmax_xent_grad_fn<true>,
              .doc = "Cross-entropy of softmax(logits [N, C]) against label distributions "
                     "[N, C]; backprop = softmax - labels."}));
  ok(reg.add({.signature = "sparse_softmax_cross_entropy_with_logits(logits: T, labels: Tlabels)"
                           " -> (loss: T, backprop: T); T in float_types; "
                           "Tlabels in {int32, int64}",
              .shape = sparse_softmax_xent_shape,
              .grad = softmax_xent_grad_fn<false>,
              .doc = "Cross-entropy of softmax(logits [N, C]) against class indices [N]; "
                     "backprop = softmax - one_hot(labels)."}));
  ok(reg.add({.signature = "sigmoid_cross_entropy_with_logits(logits: T, labels: T) -> "
                           "(loss: T); T in float_types",
              .shape = sigmoid_xent_shape,
              .grad = sigmoid_xent_grad_fn,
              .doc = "Elementwise max(x, 0) - x * z + log(1 + exp(-|x|))."}));
  ok(reg.add({.signature = "mean_squared_error(predictions: T, labels: T) -> (loss: T); "
                           "T in float_types",
              .shape = mean_squared_error_shape,
              .grad = mean_squared_error_grad_fn,
              .doc = "The mean of (predictions - labels)^2 over all elements."}));
  // The fused gradient ops (no gradients of their own: see non_differentiable_ops in
  // tests/conformance/gradient_test.cpp).
  ok(reg.add({.signature = "relu_grad(g: T, y: T) -> (dx: T); T in float_types",
              .shape = activation_grad_shape,
              .grad = {},
              .doc = "g * (y > 0): the gradient of relu from its output y."}));
  ok(reg.add({.signature = "sigmoid_grad(g: T, y: T) -> (dx: T); T in float_types",
              .shape = activation_grad_shape,
              .grad = {},
              .doc = "g * y * (1 - y): the gradient of sigmoid from its output y."}));
  ok(reg.add({.signature = "tanh_grad(g: T, y: T) -> (dx: T); T in float_types",
              .shape = activation_grad_shape,
              .grad = {},
              .doc = "g * (1 - y^2): the gradient of tanh from its output y."}));
  ok(reg.add({.signature = "bias_add_grad(g: T) -> (bias_grad: T); T in float_types",
              .shape = bias_add_grad_shape,
              .grad = {},
              .doc = "g [..., C] summed over every axis but the last: the gradient of "
                     "bias_add w.r.t. its bias."}));
}

namespace ops {

output matmul(const scope& s, output a, output b, bool transpose_a, bool transpose_b) {
  return s.add1("matmul", {a, b}, {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}});
}

output bias_add(const scope& s, output value, output bias) {
  return s.add1("bias_add", {value, bias});
}

output relu(const scope& s, output x) { return s.add1("relu", {x}); }
output sigmoid(const scope& s, output x) { return s.add1("sigmoid", {x}); }
output tanh(const scope& s, output x) { return s.add1("tanh", {x}); }
output softmax(const scope& s, output logits) { return s.add1("softmax", {logits}); }
output log_softmax(const scope& s, output logits) { return s.add1("log_softmax", {logits}); }

cross_entropy_outputs softmax_cross_entropy_with_logits(const scope& s, output logits,
                                                        output labels) {
  operation op = s.add("softmax_cross_entropy_with_logits", {logits, labels});
  return {op.out(0), op.out(1)};
}

cross_entropy_outputs sparse_softmax_cross_entropy_with_logits(const scope& s, output logits,
                                                               output labels) {
  operation op = s.add("sparse_softmax_cross_entropy_with_logits", {logits, labels});
  return {op.out(0), op.out(1)};
}

output sigmoid_cross_entropy_with_logits(const scope& s, output logits, output labels) {
  return s.add1("sigmoid_cross_entropy_with_logits", {logits, labels});
}

output mean_squared_error(const scope& s, output predictions, output labels) {
  return s.add1("mean_squared_error", {predictions, labels});
}

output relu_grad(const scope& s, output g, output y) { return s.add1("relu_grad", {g, y}); }
output sigmoid_grad(const scope& s, output g, output y) {
  return s.add1("sigmoid_grad", {g, y});
}
output tanh_grad(const scope& s, output g, output y) { return s.add1("tanh_grad", {g, y}); }
output bias_add_grad(const scope& s, output g) { return s.add1("bias_add_grad", {g}); }

}  // namespace ops
}  // namespace troupe
