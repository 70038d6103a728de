// Unit tests of the math op family beyond the conformance table: graph-build errors that
// name both shapes or dtypes, shape inference with unknown dimensions and ranks, run-time
// validation (integer division by zero, shapes only known when fed, empty reductions),
// and the edge values of the kernels (NaN, the lowest integer divided by -1).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

using test::contains;
using test::the_platform;
using test::values_of;
using test::vec;

class math_ops_test : public test::ops_test {
 protected:
  // The run's error (it must be one).
  error run_error(const std::vector<std::pair<output, tensor>>& feeds,
                  const std::vector<output>& fetches) {
    auto r = run(feeds, fetches);
    EXPECT_FALSE(r.has_value()) << "expected a run-time error";
    return r ? error{} : r.error_value();
  }
};

// ---- build-time errors --------------------------------------------------------------------

TEST_F(math_ops_test, add_shape_mismatch_names_both_shapes_and_the_node) {
  auto x = ph(dtype::float32, {2, 3});
  auto y = ph(dtype::float32, {4});
  EXPECT_FALSE(ops::add(s.with_name("sum_xy"), x, y).valid());
  std::string msg = build_error();
  EXPECT_EQ(s.status().code(), errc::invalid_argument);
  EXPECT_TRUE(contains(msg, "node 'sum_xy' (add)"));
  EXPECT_TRUE(contains(msg, "[2,3]"));
  EXPECT_TRUE(contains(msg, "[4]"));
  EXPECT_TRUE(contains(msg, "cannot be broadcast"));
}

TEST_F(math_ops_test, add_dtype_mismatch_names_both_dtypes) {
  auto x = ph(dtype::float32, {2});
  auto y = ph(dtype::int32, {2});
  EXPECT_FALSE(ops::add(s, x, y).valid());
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "float32"));
  EXPECT_TRUE(contains(msg, "int32"));
}

TEST_F(math_ops_test, unsupported_dtypes_are_rejected_at_build_time) {
  ops::sqrt(s.with_name("r"), ph(dtype::int32, {2}));
  EXPECT_TRUE(contains(build_error(), "int32"));
}

TEST_F(math_ops_test, cast_to_string_is_rejected_at_build_time) {
  ops::cast(s, ph(dtype::float32, {2}), dtype::string);
  EXPECT_TRUE(contains(build_error(), "string"));
}

TEST_F(math_ops_test, select_mismatch_names_all_three_shapes) {
  auto c = ph(dtype::boolean, {2, 1});
  auto x = ph(dtype::float64, {2, 3});
  auto y = ph(dtype::float64, {5});
  ops::select(s, c, x, y);
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "condition [2,1], x [2,3] and y [5] cannot be broadcast"));
}

TEST_F(math_ops_test, reduction_axis_out_of_range_names_axis_and_rank) {
  ops::sum(s.with_name("total"), ph(dtype::float32, {2, 3}), {2});
  std::string msg = build_error();
  EXPECT_TRUE(contains(msg, "node 'total' (sum)"));
  EXPECT_TRUE(contains(msg, "axis 2 in axes [2] is out of range for an input of rank 2"));
}

TEST_F(math_ops_test, reduction_repeated_axis_is_an_error) {
  ops::max(s, ph(dtype::float32, {2, 3}), {1, -1});
  EXPECT_TRUE(contains(build_error(), "axis -1 is repeated in axes [1,-1]"));
}

TEST_F(math_ops_test, reduction_repeated_literal_axis_with_unknown_rank_is_an_error) {
  ops::mean(s, ph(dtype::float32), {0, 0});
  EXPECT_TRUE(contains(build_error(), "axis 0 is repeated in axes [0,0]"));
}

TEST_F(math_ops_test, argmax_of_a_scalar_is_an_error) {
  ops::argmax(s, ph(dtype::float32, tensor_shape{}));
  EXPECT_TRUE(contains(build_error(), "rank >= 1"));
}

TEST_F(math_ops_test, argmax_axis_out_of_range_is_an_error) {
  ops::argmax(s, ph(dtype::int64, {4, 5}), 2);
  EXPECT_TRUE(contains(build_error(), "axis 2 is out of range for rank 2"));
}

// ---- shape inference ------------------------------------------------------------------------

TEST_F(math_ops_test, broadcast_infers_through_unknown_dims) {
  EXPECT_EQ(ops::mul(s, ph(dtype::float32, {-1, 3}), ph(dtype::float32, {4, 1})).shape(),
            partial_shape({4, 3}));
  EXPECT_EQ(ops::less(s, ph(dtype::int32, {-1, 1}), ph(dtype::int32, {5})).shape(),
            partial_shape({-1, 5}));
  EXPECT_FALSE(ops::add(s, ph(dtype::float32), ph(dtype::float32, {3})).shape().rank_known());
  EXPECT_EQ(ops::less(s, ph(dtype::int32, {2}), ph(dtype::int32, {2})).type(), dtype::boolean);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
}

TEST_F(math_ops_test, reduction_shapes) {
  auto x = ph(dtype::float32, {2, -1, 4});
  EXPECT_EQ(ops::sum(s, x, {1}).shape(), partial_shape({2, 4}));
  EXPECT_EQ(ops::sum(s, x, {-1, 0}, true).shape(), partial_shape({1, -1, 1}));
  EXPECT_EQ(ops::prod(s, x).shape(), partial_shape(tensor_shape{}));
  EXPECT_EQ(ops::min(s, x, {}, true).shape(), partial_shape({1, 1, 1}));
  // Unknown rank: a full reduction without keep_dims is still a scalar.
  EXPECT_EQ(ops::mean(s, ph(dtype::float64)).shape(), partial_shape(tensor_shape{}));
  EXPECT_FALSE(ops::mean(s, ph(dtype::float64), {0}).shape().rank_known());
  EXPECT_EQ(ops::argmax(s, x, 1).shape(), partial_shape({2, 4}));
  EXPECT_EQ(ops::argmax(s, x).type(), dtype::int64);
  EXPECT_EQ(ops::cast(s, x, dtype::int32).shape(), partial_shape({2, -1, 4}));
  EXPECT_TRUE(s.ok()) << s.status().to_string();
}

// ---- run-time errors ------------------------------------------------------------------------

TEST_F(math_ops_test, integer_division_by_zero_is_an_error_naming_the_node) {
  for (dtype t : {dtype::int32, dtype::int64}) {
    graph g2{the_platform().ops()};
    scope s2 = scope::root(g2);
    auto x = ops::placeholder(s2, t, partial_shape({3}));
    auto y = ops::placeholder(s2, t, partial_shape({3}));
    auto q = ops::div(s2.with_name("quotient"), x, y);
    ASSERT_TRUE(s2.ok());
    session sess(g2, the_platform().kernels(), {.num_threads = 2});
    tensor xv = t == dtype::int32 ? vec<int32_t>({3}, {6, 7, 8}) : vec<int64_t>({3}, {6, 7, 8});
    tensor yv = t == dtype::int32 ? vec<int32_t>({3}, {2, 0, 4}) : vec<int64_t>({3}, {2, 0, 4});
    auto r = sess.run({{x, xv}, {y, yv}}, {q});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
    EXPECT_TRUE(contains(r.error_value().message(), "node 'quotient' (div)"));
    EXPECT_TRUE(contains(r.error_value().message(), "integer division by zero"));
    EXPECT_TRUE(contains(r.error_value().message(), "flat index 1"));
  }
}

TEST_F(math_ops_test, float_division_by_zero_gives_infinity) {
  auto x = ph(dtype::float32, {2});
  auto y = ph(dtype::float32, {});
  auto q = ops::div(s, x, y);
  auto r = run_ok({{x, vec<float>({2}, {1, -2})}, {y, tensor::scalar<float>(0)}}, {q});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values_of<float>(r[0]),
            (std::vector<float>{std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity()}));
}

TEST_F(math_ops_test, lowest_integer_divided_by_minus_one_wraps) {
  auto x = ph(dtype::int32, {3});
  auto y = ph(dtype::int32, {});
  auto q = ops::div(s, x, y);
  const int32_t lo = std::numeric_limits<int32_t>::min();
  auto r = run_ok({{x, vec<int32_t>({3}, {lo, 7, -8})}, {y, tensor::scalar<int32_t>(-1)}}, {q});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values_of<int32_t>(r[0]), (std::vector<int32_t>{lo, -7, 8}));
}

TEST_F(math_ops_test, int32_division_is_exact_at_the_extremes) {
  // Without a -1 divisor int32 division runs vectorized through double; it must agree
  // with integer division (computed here in int64) for the largest magnitudes too.
  const int32_t hi = std::numeric_limits<int32_t>::max(), lo = std::numeric_limits<int32_t>::min();
  std::vector<int32_t> xs = {hi, lo, -hi, 7, -7, hi - 1, lo, hi, 1, -1, 0, lo + 1};
  std::vector<int32_t> ys = {2, 7, -3, lo, 2, hi, hi, -2, hi, lo, -5, 3};
  std::vector<int32_t> want;
  for (size_t i = 0; i < xs.size(); ++i) want.push_back(int32_t(int64_t(xs[i]) / int64_t(ys[i])));
  auto x = ph(dtype::int32, {12});
  auto y = ph(dtype::int32, {12});
  auto r = run_ok({{x, vec<int32_t>({12}, xs)}, {y, vec<int32_t>({12}, ys)}}, {ops::div(s, x, y)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values_of<int32_t>(r[0]), want);
}

TEST_F(math_ops_test, broadcast_mismatch_of_fed_shapes_names_both_shapes) {
  auto x = ph(dtype::float64);
  auto y = ph(dtype::float64);
  auto z = ops::sub(s.with_name("diff"), x, y);
  error e = run_error({{x, tensor(dtype::float64, {2, 3})}, {y, tensor(dtype::float64, {4})}}, {z});
  EXPECT_EQ(e.code(), errc::invalid_argument);
  EXPECT_TRUE(contains(e.message(), "node 'diff' (sub)"));
  EXPECT_TRUE(contains(e.message(), "shapes [2,3] and [4] cannot be broadcast"));
}

TEST_F(math_ops_test, reduction_axis_checked_at_run_time_when_rank_unknown) {
  auto x = ph(dtype::float32);
  auto m = ops::sum(s.with_name("s"), x, {3});
  error e = run_error({{x, tensor(dtype::float32, {2, 2})}}, {m});
  EXPECT_TRUE(contains(e.message(), "node 's' (sum)"));
  EXPECT_TRUE(contains(e.message(), "axis 3 in axes [3] is out of range for an input of rank 2"));
}

TEST_F(math_ops_test, max_and_min_over_zero_elements_are_errors) {
  auto x = ph(dtype::float32, {0, 3});
  auto mx = ops::max(s.with_name("mx"), x, {0});
  error e = run_error({{x, tensor(dtype::float32, {0, 3})}}, {mx});
  EXPECT_EQ(e.code(), errc::invalid_argument);
  EXPECT_TRUE(contains(e.message(), "node 'mx' (max)"));
  EXPECT_TRUE(contains(e.message(), "max over zero elements: input of shape [0,3]"));

  auto mn = ops::min(s, x);
  e = run_error({{x, tensor(dtype::float32, {0, 3})}}, {mn});
  EXPECT_TRUE(contains(e.message(), "min over zero elements"));

  // Nothing to compute when the output is empty too: no error.
  auto rows = ops::max(s, x, {1});
  auto r = run_ok({{x, tensor(dtype::float32, {0, 3})}}, {rows});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].shape(), tensor_shape({0}));
}

TEST_F(math_ops_test, integer_mean_over_zero_elements_is_an_error) {
  auto x = ph(dtype::int64, {2, 0});
  auto m = ops::mean(s, x, {1});
  error e = run_error({{x, tensor(dtype::int64, {2, 0})}}, {m});
  EXPECT_TRUE(contains(e.message(), "mean over zero elements"));
}

TEST_F(math_ops_test, argmax_over_an_empty_axis_is_an_error) {
  auto x = ph(dtype::float64, {3, 0});
  auto a = ops::argmax(s, x);
  error e = run_error({{x, tensor(dtype::float64, {3, 0})}}, {a});
  EXPECT_TRUE(contains(e.message(), "argmax over an empty axis: input of shape [3,0]"));
}

// ---- values at the edges ------------------------------------------------------------------

TEST_F(math_ops_test, maximum_minimum_and_max_propagate_nan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto x = ph(dtype::float32, {4});
  auto y = ph(dtype::float32, {4});
  auto r = run_ok({{x, vec<float>({4}, {1, nan, 3, -1})}, {y, vec<float>({4}, {nan, 2, 0, 5})}},
                  {ops::maximum(s, x, y), ops::minimum(s, x, y), ops::max(s, x),
                   ops::min(s, y, {0}), ops::sum(s, x)});
  ASSERT_EQ(r.size(), 5u);
  auto mx = values_of<float>(r[0]);
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]));
  EXPECT_EQ(mx[2], 3);
  EXPECT_EQ(mx[3], 5);
  auto mn = values_of<float>(r[1]);
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 0);
  EXPECT_EQ(mn[3], -1);
  EXPECT_TRUE(std::isnan(r[2].scalar_value<float>()));
  EXPECT_TRUE(std::isnan(r[3].scalar_value<float>()));
  EXPECT_TRUE(std::isnan(r[4].scalar_value<float>()));
}

TEST_F(math_ops_test, argmax_takes_the_first_maximum_and_nan_as_largest) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto x = ph(dtype::float64, {3, 4});
  auto r = run_ok({{x, vec<double>({3, 4}, {1, 5, 5, 2,  //
                                            nan, 9, nan, 1,  //
                                            -3, -3, -4, -3})}},
                  {ops::argmax(s, x), ops::argmax(s, x, 0)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values_of<int64_t>(r[0]), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(values_of<int64_t>(r[1]), (std::vector<int64_t>{1, 1, 1, 0}));
}

TEST_F(math_ops_test, integer_mean_truncates_toward_zero) {
  auto x = ph(dtype::int32, {2, 2});
  auto r = run_ok({{x, vec<int32_t>({2, 2}, {-7, 0, 7, 0})}}, {ops::mean(s, x, {1})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(values_of<int32_t>(r[0]), (std::vector<int32_t>{-3, 3}));
}

TEST_F(math_ops_test, cast_truncates_and_converts_to_bool) {
  auto x = ph(dtype::float32, {4});
  auto r = run_ok({{x, vec<float>({4}, {-1.9f, -0.5f, 0.0f, 2.7f})}},
                  {ops::cast(s, x, dtype::int64), ops::cast(s, x, dtype::boolean),
                   ops::cast(s, x, dtype::float32)});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(values_of<int64_t>(r[0]), (std::vector<int64_t>{-1, 0, 0, 2}));
  EXPECT_EQ(values_of<bool>(r[1]), (std::vector<bool>{true, true, false, true}));
  EXPECT_EQ(values_of<float>(r[2]), (std::vector<float>{-1.9f, -0.5f, 0.0f, 2.7f}));
}

TEST_F(math_ops_test, string_equality_broadcasts) {
  auto x = ph(dtype::string, {2, 2});
  auto y = ph(dtype::string, {2});
  auto r = run_ok({{x, vec<std::string>({2, 2}, {"a", "b", "b", "a"})},
                   {y, vec<std::string>({2}, {"a", "a"})}},
                  {ops::equal(s, x, y), ops::not_equal(s, x, y)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(values_of<bool>(r[0]), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(values_of<bool>(r[1]), (std::vector<bool>{false, true, true, false}));
}

}  // namespace
}  // namespace troupe
