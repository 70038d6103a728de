// add_gradients itself: what it builds, how gradients add up, and the errors users see.
// The gradient of each op is checked against finite differences in
// tests/conformance/gradient_test.cpp.

#include <gtest/gtest.h>

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

class gradients_test : public test::ops_test {
 protected:
  scope gs = s.sub("gradients");
  std::vector<double> values(const output& o, const std::vector<std::pair<output, tensor>>& feeds) {
    auto r = run(feeds, {o});
    EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
    if (!r) return {};
    std::vector<double> out;
    visit_dtype((*r)[0].dtype(), [&]<class T>() {
      if constexpr (std::is_arithmetic_v<T>)
        for (T v : (*r)[0].values<T>()) out.push_back(double(v));
    });
    return out;
  }
};

TEST_F(gradients_test, a_value_used_twice_gets_the_sum_of_both_paths) {
  output x = ph(dtype::float64, {2});
  output y = ops::add(s, ops::mul(s, x, x), ops::mul(s, x, ops::constant(s, 3.0)));  // x^2 + 3x
  auto g = add_gradients(gs, {y}, {x});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  ASSERT_TRUE((*g)[0].valid());
  EXPECT_FALSE((*g)[0].is_sparse());
  EXPECT_EQ(values((*g)[0].dense, {{x, test::vec<double>({2}, {1, -2})}}),
            (std::vector<double>{5, -1}));  // 2x + 3
}

TEST_F(gradients_test, several_ys_and_grad_ys_weight_each_y) {
  output x = ph(dtype::float64, {2});
  output y1 = ops::mul(s, x, ops::constant(s, 2.0));
  output y2 = ops::square(s, x);
  output w1 = ops::constant(s, test::vec<double>({2}, {1, 10}));
  output w2 = ops::constant(s, test::vec<double>({2}, {100, 1000}));
  auto g = add_gradients(gs, {y1, y2}, {x}, {w1, w2});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  // d/dx (w1 * 2x + w2 * x^2) = 2 w1 + 2 x w2 at x = (1, 2)
  EXPECT_EQ(values((*g)[0].dense, {{x, test::vec<double>({2}, {1, 2})}}),
            (std::vector<double>{202, 4020}));
}

TEST_F(gradients_test, an_x_that_does_not_reach_y_gets_no_gradient) {
  output x = ph(dtype::float32, {2});
  output z = ph(dtype::float32, {2});
  output y = ops::square(s, x);
  ops::square(s, z);
  auto g = add_gradients(gs, {y}, {x, z});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  EXPECT_TRUE((*g)[0].valid());
  EXPECT_FALSE((*g)[1].valid());
}

TEST_F(gradients_test, gradients_stop_at_integer_edges) {
  output x = ph(dtype::float32, {3});
  // The argmax index does not carry a gradient; only the direct path does.
  output idx = ops::argmax(s, x, 0);
  output picked = ops::gather(s, x, ops::reshape(s, idx, {1}));
  output y = ops::sum(s, picked);
  auto g = add_gradients(gs, {y}, {x});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  ASSERT_TRUE((*g)[0].is_sparse());
  output dense = to_dense(gs, (*g)[0]);
  EXPECT_EQ(values(dense, {{x, test::vec<float>({3}, {1, 5, 2})}}), (std::vector<double>{0, 1, 0}));
}

TEST_F(gradients_test, sparse_gradients_of_two_lookups_concatenate_their_rows) {
  output table = ph(dtype::float32, {4, 2});
  output a = ops::gather(s, table, ops::constant(s, test::vec<int64_t>({2}, {0, 3})));
  output b = ops::gather(s, table, ops::constant(s, test::vec<int32_t>({1}, {3})));
  output y = ops::add(s, ops::sum(s, a), ops::sum(s, b));
  auto g = add_gradients(gs, {y}, {table});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  ASSERT_TRUE((*g)[0].is_sparse());
  tensor t = test::vec<float>({4, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  auto idx = values((*g)[0].indices, {{table, t}});
  EXPECT_EQ(idx.size(), 3u);  // rows 0, 3 and 3 again: the rows add up when applied
  EXPECT_EQ(values(to_dense(gs, (*g)[0]), {{table, t}}),
            (std::vector<double>{1, 1, 0, 0, 0, 0, 2, 2}));
}

TEST_F(gradients_test, a_sparse_and_a_dense_gradient_add_up_densely) {
  output table = ph(dtype::float32, {3, 1});
  output rows = ops::gather(s, table, ops::constant(s, test::vec<int64_t>({1}, {1})));
  output y = ops::add(s, ops::sum(s, rows), ops::sum(s, table));
  auto g = add_gradients(gs, {y}, {table});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  ASSERT_FALSE((*g)[0].is_sparse());
  EXPECT_EQ(values((*g)[0].dense, {{table, test::vec<float>({3, 1}, {5, 6, 7})}}),
            (std::vector<double>{1, 2, 1}));
}

TEST_F(gradients_test, gradient_with_respect_to_an_intermediate_value) {
  output x = ph(dtype::float64, {1});
  output h = ops::mul(s, x, ops::constant(s, 3.0));
  output y = ops::square(s, h);
  auto g = add_gradients(gs, {y}, {h, x});
  ASSERT_TRUE(g.has_value()) << g.error_value().to_string();
  std::vector<std::pair<output, tensor>> feed = {{x, test::vec<double>({1}, {2})}};
  EXPECT_EQ(values((*g)[0].dense, feed), (std::vector<double>{12}));  // 2h
  EXPECT_EQ(values((*g)[1].dense, feed), (std::vector<double>{36}));  // 2h * 3
}

TEST_F(gradients_test, errors_name_what_is_wrong) {
  output x = ph(dtype::float32, {2});
  output i = ph(dtype::int32, {2});
  auto e1 = add_gradients(gs, {i}, {x});
  ASSERT_FALSE(e1.has_value());
  EXPECT_TRUE(test::contains(e1.error_value().message(), "ys[0] ('placeholder_1:0') is int32; only "
                                                         "float32 and float64 can be differentiated"))
      << e1.error_value().message();
  output y = ops::square(s, x);
  auto e2 = add_gradients(gs, {y}, {x}, {ops::constant(s, 1.0)});
  ASSERT_FALSE(e2.has_value());
  EXPECT_TRUE(test::contains(e2.error_value().message(), "grad_ys[0] is float64 but ys[0] is float32"))
      << e2.error_value().message();
  auto e3 = add_gradients(gs, {y}, {x}, {ops::constant(s, 1.0f), ops::constant(s, 1.0f)});
  ASSERT_FALSE(e3.has_value());
  EXPECT_TRUE(test::contains(e3.error_value().message(), "1 ys but 2 grad_ys"));
  // An op without a gradient function on the path is named.
  output y3 = ops::sum(s, ops::sum_to_like(s.with_name("no_grad_here"), x, ops::constant(s, 0.0f)));
  auto e4 = add_gradients(gs, {y3}, {x});
  ASSERT_FALSE(e4.has_value());
  EXPECT_TRUE(test::contains(e4.error_value().message(), "op 'sum_to_like' (node 'no_grad_here') "
                                                         "has no gradient function"))
      << e4.error_value().message();
  // Bool and integer edges are not paths: no error for ops without gradients there.
  output c = ops::one_hot(s, ops::argmax(s, x, 0), 2);
  output y2 = ops::mul(s, ops::cast(s, ops::greater(s, x, ops::constant(s, 0.0f)), dtype::float32), x);
  auto ok = add_gradients(gs, {y2, c}, {x});
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
}

}  // namespace
}  // namespace troupe
