#include "runtime/ops/nn_ops.hpp"

#include <string_view>

#include "runtime/ops/shape_fns.hpp"

// TODO(soon): gradients (relu, sigmoid, tanh, softmax, matmul, bias_add, the losses) once
// grad_context exists; softmax_cross_entropy_with_logits already returns its backprop.

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

}  // namespace

void register_nn_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  ok(reg.add({.signature = "matmul(a: T, b: T) -> (product: T); T in float_types; "
                           "transpose_a: bool = false; transpose_b: bool = false",
              .shape = matmul_shape,
              .doc = "op(a) * op(b) of two matrices, op(x) = x or its transpose."}));
  ok(reg.add({.signature = "bias_add(value: T, bias: T) -> (output: T); T in float_types",
              .shape = bias_add_shape,
              .doc = "Adds bias [C] to value [..., C] along the last axis."}));
  ok(reg.add({.signature = "relu(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .doc = "max(x, 0), elementwise."}));
  ok(reg.add({.signature = "sigmoid(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .doc = "1 / (1 + exp(-x)), elementwise."}));
  ok(reg.add({.signature = "tanh(x: T) -> (y: T); T in float_types",
              .shape = shape_fns::same_as_input<0>,
              .doc = "The hyperbolic tangent, elementwise."}));
  ok(reg.add({.signature = "softmax(logits: T) -> (probabilities: T); T in float_types",
              .shape = softmax_shape,
              .doc = "exp(x) / sum(exp(x)) over the last axis."}));
  ok(reg.add({.signature = "log_softmax(logits: T) -> (log_probabilities: T); T in float_types",
              .shape = softmax_shape,
              .doc = "x - log(sum(exp(x))) over the last axis."}));
  ok(reg.add({.signature = "softmax_cross_entropy_with_logits(logits: T, labels: T) -> "
                           "(loss: T, backprop: T); T in float_types",
              .shape = softmax_xent_shape,
              .doc = "Cross-entropy of softmax(logits [N, C]) against label distributions "
                     "[N, C]; backprop = softmax - labels."}));
  ok(reg.add({.signature = "sparse_softmax_cross_entropy_with_logits(logits: T, labels: Tlabels)"
                           " -> (loss: T, backprop: T); T in float_types; "
                           "Tlabels in {int32, int64}",
              .shape = sparse_softmax_xent_shape,
              .doc = "Cross-entropy of softmax(logits [N, C]) against class indices [N]; "
                     "backprop = softmax - one_hot(labels)."}));
  ok(reg.add({.signature = "sigmoid_cross_entropy_with_logits(logits: T, labels: T) -> "
                           "(loss: T); T in float_types",
              .shape = sigmoid_xent_shape,
              .doc = "Elementwise max(x, 0) - x * z + log(1 + exp(-|x|))."}));
  ok(reg.add({.signature = "mean_squared_error(predictions: T, labels: T) -> (loss: T); "
                           "T in float_types",
              .shape = mean_squared_error_shape,
              .doc = "The mean of (predictions - labels)^2 over all elements."}));
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

}  // namespace ops
}  // namespace troupe
