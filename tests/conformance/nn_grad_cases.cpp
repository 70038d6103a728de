// Finite-difference gradient cases of the nn op family (runtime/ops/nn_ops.cpp); see
// gradient_harness.hpp for how they are checked.

#include "runtime/ops/nn_ops.hpp"
#include "tests/conformance/gradient_harness.hpp"

namespace troupe::conformance {
namespace {

using builder_fn = std::function<std::vector<output>(const scope&, const std::vector<output>&)>;

// Logits or activations kept at least 0.1 away from 0 (relu's kink), in [-1.6, 1.6].
std::vector<double> away_from_zero(size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (i % 2 ? -1.0 : 1.0) * (0.1 + 0.1 * double((i * 7) % 16));
  return v;
}

// Rows of `cols` probabilities each (positive, summing to 1), as softmax cross-entropy's
// gradient backprop = softmax - labels assumes.
std::vector<double> distributions(int64_t rows, int64_t cols) {
  std::vector<double> v;
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    for (int64_t j = 0; j < cols; ++j) total += double(1 + (r * 3 + j * 5) % 7);
    for (int64_t j = 0; j < cols; ++j) v.push_back(double(1 + (r * 3 + j * 5) % 7) / total);
  }
  return v;
}

void add_matmul_grad_cases(std::vector<grad_case>& cases) {
  // op(a) is [2, 3] and op(b) is [3, 4] in every case.
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      std::vector<int64_t> a = ta ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3};
      std::vector<int64_t> b = tb ? std::vector<int64_t>{4, 3} : std::vector<int64_t>{3, 4};
      cases.push_back({.op = "matmul",
                       .name = str_cat("matmul_grad", ta ? "_ta" : "", tb ? "_tb" : ""),
                       .inputs = {{.shape = a}, {.shape = b}},
                       .build = [ta, tb](const scope& s, const std::vector<output>& in)
                           -> std::vector<output> {
                         return {ops::matmul(s, in[0], in[1], ta, tb)};
                       }});
    }
  }
  // One operand used twice: the two gradients add up (a^T a).
  cases.push_back({.op = "matmul",
                   .name = "matmul_grad_gram",
                   .inputs = {{.shape = {3, 2}}},
                   .build = [](const scope& s, const std::vector<output>& in)
                       -> std::vector<output> {
                     return {ops::matmul(s, in[0], in[0], true, false)};
                   }});
}

void add_bias_add_grad_cases(std::vector<grad_case>& cases) {
  builder_fn bias_add = [](const scope& s, const std::vector<output>& in) -> std::vector<output> {
    return {ops::bias_add(s, in[0], in[1])};
  };
  cases.push_back({.op = "bias_add",
                   .name = "bias_add_grad_rank2",
                   .inputs = {{.shape = {3, 4}}, {.shape = {4}}},
                   .build = bias_add});
  cases.push_back({.op = "bias_add",
                   .name = "bias_add_grad_rank3",
                   .inputs = {{.shape = {2, 3, 4}}, {.shape = {4}}},
                   .build = bias_add});
}

void add_activation_grad_cases(std::vector<grad_case>& cases) {
  auto unary = [&](std::string op, std::string name, input_spec in,
                   output (*f)(const scope&, output)) {
    cases.push_back({.op = std::move(op),
                     .name = std::move(name),
                     .inputs = {std::move(in)},
                     .build = [f](const scope& s, const std::vector<output>& x)
                         -> std::vector<output> { return {f(s, x[0])}; }});
  };
  unary("relu", "relu_grad", {.shape = {3, 4}, .values = away_from_zero(12)}, ops::relu);
  unary("sigmoid", "sigmoid_grad", {.shape = {3, 4}, .lo = -4, .hi = 4}, ops::sigmoid);
  unary("tanh", "tanh_grad", {.shape = {3, 4}, .lo = -2, .hi = 2}, ops::tanh);
  unary("softmax", "softmax_grad", {.shape = {3, 5}, .lo = -2, .hi = 2}, ops::softmax);
  unary("softmax", "softmax_grad_rank3", {.shape = {2, 2, 3}, .lo = -2, .hi = 2}, ops::softmax);
  unary("log_softmax", "log_softmax_grad", {.shape = {3, 5}, .lo = -2, .hi = 2},
        ops::log_softmax);
  unary("log_softmax", "log_softmax_grad_rank3", {.shape = {2, 2, 3}, .lo = -2, .hi = 2},
        ops::log_softmax);
}

void add_loss_grad_cases(std::vector<grad_case>& cases) {
  // Softmax cross-entropy w.r.t. logits and labels: the loss alone, and with its backprop
  // output used downstream too (the gradient through output 1).
  for (bool with_backprop : {false, true}) {
    cases.push_back({.op = "softmax_cross_entropy_with_logits",
                     .name = with_backprop ? "softmax_cross_entropy_grad_with_backprop"
                                           : "softmax_cross_entropy_grad",
                     .inputs = {{.shape = {3, 4}, .lo = -2, .hi = 2},
                                {.shape = {3, 4}, .values = distributions(3, 4)}},
                     .build = [with_backprop](const scope& s, const std::vector<output>& in)
                         -> std::vector<output> {
                       auto r = ops::softmax_cross_entropy_with_logits(s, in[0], in[1]);
                       if (with_backprop) return {r.loss, r.backprop};
                       return {r.loss};
                     }});
  }
  // Sparse labels are integers: only the logits get a gradient.
  auto sparse = [&](std::string name, dtype label_type, bool with_backprop) {
    cases.push_back({.op = "sparse_softmax_cross_entropy_with_logits",
                     .name = std::move(name),
                     .inputs = {{.shape = {4, 5}, .lo = -2, .hi = 2},
                                {.shape = {4}, .type = label_type, .values = {0, 4, 2, 4}}},
                     .build = [with_backprop](const scope& s, const std::vector<output>& in)
                         -> std::vector<output> {
                       auto r = ops::sparse_softmax_cross_entropy_with_logits(s, in[0], in[1]);
                       if (with_backprop) return {r.loss, r.backprop};
                       return {r.loss};
                     },
                     .wrt = {0}});
  };
  sparse("sparse_softmax_cross_entropy_grad", dtype::int64, false);
  sparse("sparse_softmax_cross_entropy_grad_int32_with_backprop", dtype::int32, true);

  cases.push_back({.op = "sigmoid_cross_entropy_with_logits",
                   .name = "sigmoid_cross_entropy_grad",
                   .inputs = {{.shape = {3, 4}, .lo = -4, .hi = 4},
                              {.shape = {3, 4}, .lo = 0, .hi = 1}},
                   .build = [](const scope& s, const std::vector<output>& in)
                       -> std::vector<output> {
                     return {ops::sigmoid_cross_entropy_with_logits(s, in[0], in[1])};
                   }});
  builder_fn mse = [](const scope& s, const std::vector<output>& in) -> std::vector<output> {
    return {ops::mean_squared_error(s, in[0], in[1])};
  };
  cases.push_back({.op = "mean_squared_error",
                   .name = "mean_squared_error_grad",
                   .inputs = {{.shape = {3, 4}, .lo = -2, .hi = 2}, {.shape = {3, 4}}},
                   .build = mse});
  cases.push_back({.op = "mean_squared_error",
                   .name = "mean_squared_error_grad_rank3",
                   .inputs = {{.shape = {2, 3, 2}, .lo = -2, .hi = 2}, {.shape = {2, 3, 2}}},
                   .build = mse});
}

// A small two-layer network, end to end: the gradients of every op chain correctly.
void add_network_grad_cases(std::vector<grad_case>& cases) {
  cases.push_back({.op = "bias_add",
                   .name = "nn_two_layer_network_grad",
                   .inputs = {{.shape = {3, 4}},  // x
                              {.shape = {4, 5}},  // w1
                              {.shape = {5}},     // b1
                              {.shape = {3, 5}},  // w2^T
                              {.shape = {3}},     // b2
                              {.shape = {3}, .type = dtype::int64, .values = {2, 0, 1}}},
                   .build = [](const scope& s, const std::vector<output>& in)
                       -> std::vector<output> {
                     output h = ops::tanh(s, ops::bias_add(s, ops::matmul(s, in[0], in[1]),
                                                           in[2]));
                     output logits =
                         ops::bias_add(s, ops::matmul(s, h, in[3], false, true), in[4]);
                     return {ops::sparse_softmax_cross_entropy_with_logits(s, logits, in[5]).loss};
                   },
                   .wrt = {0, 1, 2, 3, 4}});
}

}  // namespace

void add_nn_grad_cases(std::vector<grad_case>& cases) {
  add_matmul_grad_cases(cases);
  add_bias_add_grad_cases(cases);
  add_activation_grad_cases(cases);
  add_loss_grad_cases(cases);
  add_network_grad_cases(cases);
}

}  // namespace troupe::conformance
