// Unit tests of the nn op family beyond the conformance table: graph-build errors that
// name both shapes or dtypes, run-time validation (labels out of range, shapes unknown at
// build time), numerical stability at extreme logits, and the gradients: the fused
// gradient ops computing in place and deterministically, and the shape of the gradient
// subgraphs (no transposes, no recomputed softmax).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

using test::contains;
using test::vec;

class nn_ops_test : public test::ops_test {
 protected:
  // The build error recorded in the scope (it must be one, an invalid_argument).
  std::string build_error() const { return ops_test::build_error(errc::invalid_argument); }
};

// ---- build-time errors ------------------------------------------------------------------

TEST_F(nn_ops_test, matmul_inner_dimension_mismatch_names_both_shapes) {
  auto a = ph(dtype::float32, {2, 3});
  auto b = ph(dtype::float32, {4, 5});
  EXPECT_FALSE(ops::matmul(s.with_name("mm"), a, b).valid());
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "node 'mm' (matmul)"));
  EXPECT_TRUE(contains(msg, "inner dimensions differ: a is [2,3], b is [4,5]"));
}

TEST_F(nn_ops_test, matmul_transposed_mismatch_says_transposed) {
  auto a = ph(dtype::float64, {2, 3});
  auto b = ph(dtype::float64, {2, 5});
  ops::matmul(s, a, b, /*transpose_a=*/false, /*transpose_b=*/true);
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "a is [2,3], b is [2,5] (transposed)"));
  EXPECT_TRUE(contains(msg, "op(a) has 3 columns but op(b) has 5 rows"));
}

TEST_F(nn_ops_test, matmul_dtype_mismatch_names_both_dtypes) {
  auto a = ph(dtype::float32, {2, 3});
  auto b = ph(dtype::float64, {3, 4});
  ops::matmul(s, a, b);
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "float32"));
  EXPECT_TRUE(contains(msg, "float64"));
}

TEST_F(nn_ops_test, matmul_rejects_integer_types) {
  ops::matmul(s, ph(dtype::int32, {2, 2}), ph(dtype::int32, {2, 2}));
  EXPECT_TRUE(contains(build_error(), "int32"));
}

TEST_F(nn_ops_test, matmul_rank_error_names_shape) {
  ops::matmul(s, ph(dtype::float32, {2, 3, 4}), ph(dtype::float32, {4, 5}));
  EXPECT_TRUE(contains(build_error(), "a must be a matrix (rank 2), got shape [2,3,4]"));
}

TEST_F(nn_ops_test, matmul_infers_what_it_can_from_partial_shapes) {
  auto y1 = ops::matmul(s, ph(dtype::float32, {-1, 3}), ph(dtype::float32, {3, 7}));
  auto y2 = ops::matmul(s, ph(dtype::float32, {4, 3}), ph(dtype::float32), true, false);
  auto y3 = ops::matmul(s, ph(dtype::float32, {5, 3}), ph(dtype::float32, {2, 5}), true, true);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(y1.shape(), (partial_shape{-1, 7}));
  EXPECT_EQ(y2.shape(), (partial_shape{3, -1}));
  EXPECT_EQ(y3.shape(), (partial_shape{3, 2}));
}

TEST_F(nn_ops_test, bias_add_mismatch_names_both_shapes) {
  ops::bias_add(s, ph(dtype::float32, {2, 3}), ph(dtype::float32, {4}));
  EXPECT_TRUE(contains(build_error(), "value is [2,3], bias is [4]"));
}

TEST_F(nn_ops_test, bias_add_refines_unknown_channel_dimension) {
  auto y = ops::bias_add(s, ph(dtype::float32, {-1, -1}), ph(dtype::float32, {6}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(y.shape(), (partial_shape{-1, 6}));
}

TEST_F(nn_ops_test, softmax_of_a_scalar_is_an_error) {
  ops::softmax(s, ph(dtype::float32, partial_shape(tensor_shape{})));
  EXPECT_TRUE(contains(build_error(), "rank >= 1"));
}

TEST_F(nn_ops_test, softmax_cross_entropy_mismatch_names_both_shapes) {
  ops::softmax_cross_entropy_with_logits(s, ph(dtype::float32, {2, 3}),
                                         ph(dtype::float32, {2, 4}));
  EXPECT_TRUE(contains(build_error(), "logits is [2,3], labels is [2,4]"));
}

TEST_F(nn_ops_test, softmax_cross_entropy_output_shapes) {
  auto r = ops::softmax_cross_entropy_with_logits(s, ph(dtype::float64, {-1, 3}),
                                                  ph(dtype::float64, {8, -1}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(r.loss.shape(), (partial_shape{8}));
  EXPECT_EQ(r.backprop.shape(), (partial_shape{8, 3}));
}

TEST_F(nn_ops_test, sparse_cross_entropy_batch_mismatch_names_both_shapes) {
  ops::sparse_softmax_cross_entropy_with_logits(s, ph(dtype::float32, {2, 3}),
                                                ph(dtype::int32, {4}));
  EXPECT_TRUE(contains(build_error(), "logits is [2,3], labels is [4]"));
}

TEST_F(nn_ops_test, sparse_cross_entropy_rejects_float_labels) {
  ops::sparse_softmax_cross_entropy_with_logits(s, ph(dtype::float32, {2, 3}),
                                                ph(dtype::float32, {2}));
  EXPECT_TRUE(contains(build_error(), "float32"));
}

TEST_F(nn_ops_test, sigmoid_cross_entropy_and_mse_require_equal_shapes) {
  ops::sigmoid_cross_entropy_with_logits(s, ph(dtype::float32, {2, 3}),
                                         ph(dtype::float32, {3, 2}));
  EXPECT_TRUE(contains(build_error(), "logits is [2,3], labels is [3,2]"));
}

TEST_F(nn_ops_test, mean_squared_error_requires_equal_shapes) {
  ops::mean_squared_error(s, ph(dtype::float32, {6}), ph(dtype::float32, {2, 3}));
  EXPECT_TRUE(contains(build_error(), "predictions is [6], labels is [2,3]"));
}

// ---- run-time validation ----------------------------------------------------------------

TEST_F(nn_ops_test, matmul_runtime_mismatch_names_both_shapes) {
  auto a = ph(dtype::float32);
  auto b = ph(dtype::float32);
  auto y = ops::matmul(s, a, b);
  auto r = run({{a, tensor(dtype::float32, {2, 3})}, {b, tensor(dtype::float32, {4, 5})}}, {y});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  EXPECT_TRUE(contains(r.error_value().message(), "a is [2,3], b is [4,5]"));
}

TEST_F(nn_ops_test, matmul_with_empty_inner_dimension_gives_zeros) {
  auto a = ph(dtype::float32);
  auto b = ph(dtype::float32);
  auto y = ops::matmul(s, a, b);
  auto out = run_ok({{a, tensor(dtype::float32, {2, 0})}, {b, tensor(dtype::float32, {0, 3})}},
                    {y});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].identical(tensor(dtype::float32, {2, 3})));
}

class sparse_labels_test : public nn_ops_test {
 protected:
  template <class L>
  void expect_out_of_range(L bad_label, int64_t row) {
    auto logits = ph(dtype::float32, {3, 4});
    auto labels = ph(dtype_v<L>, {3});
    auto r = ops::sparse_softmax_cross_entropy_with_logits(s, logits, labels);
    std::vector<L> lab = {0, 3, 1};
    lab[size_t(row)] = bad_label;
    auto out = run({{logits, tensor(dtype::float32, {3, 4})}, {labels, vec<L>({3}, lab)}},
                   {r.loss, r.backprop});
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error_value().code(), errc::invalid_argument);
    const std::string& msg = out.error_value().message();
    EXPECT_TRUE(contains(msg, str_cat("label ", int64_t(bad_label), " at row ", row)));
    EXPECT_TRUE(contains(msg, "expected 0 <= label < 4"));
    EXPECT_TRUE(contains(msg, "sparse_softmax_cross_entropy_with_logits"));
  }
};

TEST_F(sparse_labels_test, label_equal_to_num_classes_int32) { expect_out_of_range<int32_t>(4, 1); }
TEST_F(sparse_labels_test, negative_label_int32) { expect_out_of_range<int32_t>(-1, 0); }
TEST_F(sparse_labels_test, huge_label_int64) {
  expect_out_of_range<int64_t>(int64_t(1) << 40, 2);
}

// ---- numerical stability ----------------------------------------------------------------

template <class T>
class nn_stability_test : public nn_ops_test {};
using float_types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(nn_stability_test, float_types);

// |got - want| <= tolerance for each element, and every value finite.
template <class T>
void expect_values(const tensor& t, const std::vector<double>& want, double tol) {
  ASSERT_EQ(t.dtype(), dtype_v<T>);
  ASSERT_EQ(size_t(t.num_elements()), want.size()) << t.debug_string();
  auto got = t.values<T>();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(std::isfinite(double(got[i]))) << "element " << i << ": " << t.debug_string();
    EXPECT_NEAR(double(got[i]), want[i], tol) << "element " << i << ": " << t.debug_string();
  }
}

TYPED_TEST(nn_stability_test, softmax_and_log_softmax_of_huge_logits) {
  using T = TypeParam;
  auto x = this->ph(dtype_v<T>, {3, 3});
  auto sm = ops::softmax(this->s, x);
  auto lsm = ops::log_softmax(this->s, x);
  auto out = this->run_ok({{x, vec<T>({3, 3}, {1000, -1000, 0, 1000, 1000, -1000, -1000, -1000,
                                               -999})}},
                          {sm, lsm});
  ASSERT_EQ(out.size(), 2u);
  const double e = std::exp(-1.0), z = 1.0 + 2 * e;  // last row: {-1000, -1000, -999}
  expect_values<T>(out[0], {1, 0, 0, 0.5, 0.5, 0, e / z, e / z, 1 / z}, 1e-6);
  expect_values<T>(out[1],
                   {0, -2000, -1000, -std::log(2.0), -std::log(2.0), -2000 - std::log(2.0),
                    -1 - std::log(z), -1 - std::log(z), -std::log(z)},
                   1e-4);
}

TYPED_TEST(nn_stability_test, softmax_cross_entropy_of_huge_logits) {
  using T = TypeParam;
  auto x = this->ph(dtype_v<T>, {2, 2});
  auto z = this->ph(dtype_v<T>, {2, 2});
  auto r = ops::softmax_cross_entropy_with_logits(this->s, x, z);
  // Row 0: all mass on the class with logit -1000: loss 2000. Row 1: on the winner: 0.
  auto out = this->run_ok({{x, vec<T>({2, 2}, {1000, -1000, -1000, 1000})},
                           {z, vec<T>({2, 2}, {0, 1, 0, 1})}},
                          {r.loss, r.backprop});
  ASSERT_EQ(out.size(), 2u);
  expect_values<T>(out[0], {2000, 0}, 1e-3);
  expect_values<T>(out[1], {1, -1, 0, 0}, 1e-6);
}

TYPED_TEST(nn_stability_test, sparse_softmax_cross_entropy_of_huge_logits) {
  using T = TypeParam;
  auto x = this->ph(dtype_v<T>, {2, 3});
  auto labels = this->ph(dtype::int64, {2});
  auto r = ops::sparse_softmax_cross_entropy_with_logits(this->s, x, labels);
  auto out = this->run_ok({{x, vec<T>({2, 3}, {1000, -1000, 0, -1000, 1000, 1000})},
                           {labels, vec<int64_t>({2}, {1, 2})}},
                          {r.loss, r.backprop});
  ASSERT_EQ(out.size(), 2u);
  expect_values<T>(out[0], {2000, std::log(2.0)}, 1e-3);
  expect_values<T>(out[1], {1, -1, 0, 0, 0.5, -0.5}, 1e-6);
}

TYPED_TEST(nn_stability_test, sigmoid_and_sigmoid_cross_entropy_of_huge_logits) {
  using T = TypeParam;
  auto x = this->ph(dtype_v<T>, {4});
  auto z = this->ph(dtype_v<T>, {4});
  auto sig = ops::sigmoid(this->s, x);
  auto loss = ops::sigmoid_cross_entropy_with_logits(this->s, x, z);
  auto out = this->run_ok({{x, vec<T>({4}, {-1000, -1000, 1000, 1000})},
                           {z, vec<T>({4}, {0, 1, 0, 1})}},
                          {sig, loss});
  ASSERT_EQ(out.size(), 2u);
  expect_values<T>(out[0], {0, 0, 1, 1}, 0);
  expect_values<T>(out[1], {0, 1000, 1000, 0}, 1e-3);
}

TYPED_TEST(nn_stability_test, tanh_saturates) {
  using T = TypeParam;
  auto x = this->ph(dtype_v<T>, {2});
  auto out = this->run_ok({{x, vec<T>({2}, {-1000, 1000})}}, {ops::tanh(this->s, x)});
  ASSERT_EQ(out.size(), 1u);
  expect_values<T>(out[0], {-1, 1}, 0);
}

TYPED_TEST(nn_stability_test, mean_squared_error_of_nothing_is_nan) {
  using T = TypeParam;
  auto p = this->ph(dtype_v<T>);
  auto l = this->ph(dtype_v<T>);
  auto out = this->run_ok({{p, tensor(dtype_v<T>, {0, 3})}, {l, tensor(dtype_v<T>, {0, 3})}},
                          {ops::mean_squared_error(this->s, p, l)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), tensor_shape{});
  EXPECT_TRUE(std::isnan(double(out[0].template scalar_value<T>())));
}

TEST_F(nn_ops_test, mean_squared_error_runtime_shape_mismatch) {
  auto p = ph(dtype::float32);
  auto l = ph(dtype::float32);
  auto y = ops::mean_squared_error(s, p, l);
  auto r = run({{p, tensor(dtype::float32, {2, 3})}, {l, tensor(dtype::float32, {6})}}, {y});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error_value().message(), "predictions is [2,3], labels is [6]"));
}

// ---- fused gradient ops ----------------------------------------------------------------

TEST_F(nn_ops_test, activation_grad_mismatch_names_both_shapes) {
  ops::relu_grad(s.with_name("rg"), ph(dtype::float32, {2, 3}), ph(dtype::float32, {3, 2}));
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "node 'rg' (relu_grad)"));
  EXPECT_TRUE(contains(msg, "g is [2,3], y is [3,2]"));
}

TEST_F(nn_ops_test, activation_grad_refines_partial_shapes) {
  auto dx = ops::tanh_grad(s, ph(dtype::float64, {-1, 3}), ph(dtype::float64, {4, -1}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(dx.shape(), (partial_shape{4, 3}));
}

TEST_F(nn_ops_test, activation_grad_runtime_mismatch_names_both_shapes) {
  auto g = ph(dtype::float32);
  auto y = ph(dtype::float32);
  auto dx = ops::sigmoid_grad(s, g, y);
  auto r = run({{g, tensor(dtype::float32, {2, 3})}, {y, tensor(dtype::float32, {6})}}, {dx});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error_value().message(), "g is [2,3], y is [6]"));
}

TEST_F(nn_ops_test, bias_add_grad_shapes) {
  EXPECT_EQ(ops::bias_add_grad(s, ph(dtype::float32, {-1, -1, 5})).shape(), (partial_shape{5}));
  EXPECT_EQ(ops::bias_add_grad(s, ph(dtype::float32)).shape(), (partial_shape{-1}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ops::bias_add_grad(s, ph(dtype::float32, partial_shape(tensor_shape{})));
  EXPECT_TRUE(contains(build_error(), "g must have rank >= 1"));
}

// Runs the CPU kernel of a fused activation gradient op directly, with the inputs marked
// forwardable as given, and says which buffer the result landed in.
class activation_grad_kernel_test : public nn_ops_test,
                                    public ::testing::WithParamInterface<std::string> {
 protected:
  enum class landed { in_g, in_y, fresh };

  landed run_kernel(std::vector<uint8_t> forwardable, std::vector<float>* result = nullptr) {
    const int64_t n = 1000;
    output dx = s.add1(GetParam(), {ph(dtype::float32, {n}), ph(dtype::float32, {n})});
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    auto k = test::the_platform().kernels().create(dx.op_node(), device_kind::cpu);
    EXPECT_TRUE(k.has_value());
    if (!k) return landed::fresh;
    EXPECT_TRUE((*k)->forwards_inputs());
    std::vector<float> gv, yv;
    for (int64_t i = 0; i < n; ++i) {
      gv.push_back(float(i % 7) - 3);
      yv.push_back(float(i % 11) / 10 - 0.5f);
    }
    tensor g = vec<float>({n}, gv), y = vec<float>({n}, yv);
    const tensor* inputs[] = {&g, &y};
    tensor outputs[1];
    cpu_device dev(1);
    kernel_context ctx(dx.op_node(), inputs, outputs, dev, 0, forwardable);
    error e = (*k)->compute(ctx);
    EXPECT_FALSE(e) << e.to_string();
    if (result) *result = test::values_of<float>(outputs[0]);
    if (outputs[0].raw_data() == g.raw_data()) return landed::in_g;
    if (outputs[0].raw_data() == y.raw_data()) return landed::in_y;
    // A fresh buffer: the inputs are untouched.
    EXPECT_EQ(test::values_of<float>(g), gv);
    EXPECT_EQ(test::values_of<float>(y), yv);
    return landed::fresh;
  }
};

TEST_P(activation_grad_kernel_test, computes_in_place_over_g_or_y_when_allowed) {
  std::vector<float> over_g, over_y, fresh;
  EXPECT_EQ(run_kernel({1, 1}, &over_g), landed::in_g);
  EXPECT_EQ(run_kernel({0, 1}, &over_y), landed::in_y);
  EXPECT_EQ(run_kernel({0, 0}, &fresh), landed::fresh);
  EXPECT_EQ(over_g, fresh);
  EXPECT_EQ(over_y, fresh);
}

INSTANTIATE_TEST_SUITE_P(nn, activation_grad_kernel_test,
                         ::testing::Values("relu_grad", "sigmoid_grad", "tanh_grad"));

TEST_F(nn_ops_test, relu_grad_passes_g_only_where_y_is_positive) {
  auto g = ph(dtype::float32, {6});
  auto y = ph(dtype::float32, {6});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto out = run_ok({{g, vec<float>({6}, {1, 2, 3, 4, 5, 6})},
                     {y, vec<float>({6}, {0.5f, 0, -0.0f, -1, nan, 1e-38f})}},
                    {ops::relu_grad(s, g, y)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(test::values_of<float>(out[0]), (std::vector<float>{1, 0, 0, 0, 0, 6}));
}

// See Note [Deterministic column sums]: the same bits for any number of threads.
TEST_F(nn_ops_test, bias_add_grad_is_the_same_for_any_number_of_threads) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{20011, 37}, {3000, 129},
                                     {64, 9000}, {8, 40000}, {200001, 1}}) {
    const int64_t cols = shape[1];
    std::vector<float> values;
    for (int64_t i = 0; i < shape[0] * cols; ++i)
      values.push_back(float((i * 7919) % 2003) / 1001.0f - 1.0f);
    std::vector<double> want(size_t(cols), 0.0);
    for (size_t i = 0; i < values.size(); ++i) want[i % size_t(cols)] += values[i];
    auto g = ph(dtype::float32, {-1, cols});
    auto db = ops::bias_add_grad(s, g);
    tensor feed = vec<float>(tensor_shape(std::span<const int64_t>(shape)), values);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      auto r = run({{g, feed}}, {db}, threads);
      ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
      std::vector<float> got = test::values_of<float>((*r)[0]);
      if (first.empty()) {
        first = got;
        for (int64_t j = 0; j < cols; ++j)
          EXPECT_NEAR(got[size_t(j)], want[size_t(j)], 1e-4 * double(shape[0])) << j;
      }
      EXPECT_EQ(got, first) << "shape [" << shape[0] << "," << cols << "], " << threads
                            << " threads";
    }
  }
}

// ---- gradient subgraphs -----------------------------------------------------------------

// The ops of the nodes add_gradients added (those after `first`).
std::vector<std::string> ops_from(const graph& g, int first) {
  std::vector<std::string> out;
  for (int id = first; id < g.num_nodes(); ++id) out.push_back(g.at(id).op);
  return out;
}

bool has(const std::vector<std::string>& ops, const std::string& op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

TEST_F(nn_ops_test, matmul_gradient_uses_transpose_attributes_not_transpose_ops) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      auto a = ph(dtype::float32, ta ? partial_shape{3, 2} : partial_shape{2, 3});
      auto b = ph(dtype::float32, tb ? partial_shape{4, 3} : partial_shape{3, 4});
      auto y = ops::matmul(s, a, b, ta, tb);
      const int first = g.num_nodes();
      auto grads = add_gradients(s.sub("gradients"), {y}, {a, b});
      ASSERT_TRUE(grads.has_value()) << grads.error_value().to_string();
      EXPECT_FALSE(has(ops_from(g, first), "transpose"));
      ASSERT_EQ(grads->size(), 2u);
      EXPECT_EQ((*grads)[0].dense.op_node().op, "matmul");
      EXPECT_EQ((*grads)[1].dense.op_node().op, "matmul");
      EXPECT_EQ((*grads)[0].dense.shape(), a.shape());
      EXPECT_EQ((*grads)[1].dense.shape(), b.shape());
    }
  }
}

TEST_F(nn_ops_test, cross_entropy_gradient_scales_backprop_instead_of_recomputing_softmax) {
  auto logits = ph(dtype::float32, {-1, 5});
  auto labels = ph(dtype::int32, {-1});
  auto row_weights = ph(dtype::float32, {-1});
  auto r = ops::sparse_softmax_cross_entropy_with_logits(s, logits, labels);
  const int first = g.num_nodes();
  auto grads = add_gradients(s.sub("gradients"), {r.loss}, {logits}, {row_weights});
  ASSERT_TRUE(grads.has_value()) << grads.error_value().to_string();
  std::vector<std::string> added = ops_from(g, first);
  EXPECT_FALSE(has(added, "softmax"));
  EXPECT_FALSE(has(added, "exp"));
  const node& dlogits = (*grads)[0].dense.op_node();
  EXPECT_EQ(dlogits.op, "mul");
  EXPECT_TRUE(std::find(dlogits.inputs.begin(), dlogits.inputs.end(), r.backprop.ep) !=
              dlogits.inputs.end());
  EXPECT_EQ((*grads)[0].dense.shape(), (partial_shape{-1, 5}));
}

// A dense layer and a softmax cross-entropy in float32 with a batch size unknown until run
// time: dW = x^T (softmax - onehot) * w and db = colsum(...), checked with plain loops.
TEST_F(nn_ops_test, dense_layer_gradients_with_unknown_batch_size) {
  auto x = ph(dtype::float32, {-1, 3});
  auto w = ph(dtype::float32, {3, 4});
  auto b = ph(dtype::float32, {4});
  auto labels = ph(dtype::int64, {-1});
  auto row_weights = ph(dtype::float32, {-1});
  auto logits = ops::bias_add(s, ops::matmul(s, x, w), b);
  auto loss = ops::sparse_softmax_cross_entropy_with_logits(s, logits, labels).loss;
  auto grads = add_gradients(s.sub("gradients"), {loss}, {w, b}, {row_weights});
  ASSERT_TRUE(grads.has_value()) << grads.error_value().to_string();
  EXPECT_EQ((*grads)[1].dense.op_node().op, "bias_add_grad");

  const int64_t n = 5;
  std::vector<float> xv, wv, bv = {0.1f, -0.2f, 0.3f, 0.0f}, rw = {1, 0.5f, -1, 2, 0.25f};
  std::vector<int64_t> lab = {0, 3, 1, 1, 2};
  for (int i = 0; i < n * 3; ++i) xv.push_back(float((i * 5) % 7) / 7 - 0.5f);
  for (int i = 0; i < 12; ++i) wv.push_back(float((i * 3) % 5) / 5 - 0.4f);
  auto out = run_ok({{x, vec<float>({n, 3}, xv)},
                     {w, vec<float>({3, 4}, wv)},
                     {b, vec<float>({4}, bv)},
                     {labels, vec<int64_t>({n}, lab)},
                     {row_weights, vec<float>({n}, rw)}},
                    {(*grads)[0].dense, (*grads)[1].dense});
  ASSERT_EQ(out.size(), 2u);
  std::vector<double> dw(12, 0.0), db(4, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double z[4], m = -1e300, sum = 0;
    for (int j = 0; j < 4; ++j) {
      z[j] = bv[size_t(j)];
      for (int k = 0; k < 3; ++k) z[j] += double(xv[size_t(i * 3 + k)]) * wv[size_t(k * 4 + j)];
      m = std::max(m, z[j]);
    }
    for (int j = 0; j < 4; ++j) sum += std::exp(z[j] - m);
    for (int j = 0; j < 4; ++j) {
      double d = (std::exp(z[j] - m) / sum - (lab[size_t(i)] == j ? 1.0 : 0.0)) * rw[size_t(i)];
      db[size_t(j)] += d;
      for (int k = 0; k < 3; ++k) dw[size_t(k * 4 + j)] += double(xv[size_t(i * 3 + k)]) * d;
    }
  }
  expect_values<float>(out[0], dw, 1e-5);
  expect_values<float>(out[1], db, 1e-5);
}

}  // namespace
}  // namespace troupe
