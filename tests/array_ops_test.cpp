// Unit tests of the array op family beyond the conformance table: graph-build errors that
// name the shapes and attributes, shape inference with unknown dimensions, run-time
// validation (indices out of range, unsorted segment ids, shapes only known at run
// time), zero-copy reshape, and the seeding contract of the random ops.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "runtime/exec/session.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

using test::contains;
using test::the_platform;
using test::values_of;
using test::vec;

class array_ops_test : public test::ops_test {
 protected:
  // The build error recorded in the scope (it must be one, an invalid_argument).
  std::string build_error() const { return ops_test::build_error(errc::invalid_argument); }
  // The run-time error of a run that must fail.
  std::string run_error(const std::vector<std::pair<output, tensor>>& feeds,
                        const std::vector<output>& fetches) {
    auto r = run(feeds, fetches);
    EXPECT_FALSE(r.has_value()) << "expected a run-time error";
    if (r) return "";
    EXPECT_EQ(r.error_value().code(), errc::invalid_argument) << r.error_value().to_string();
    return r.error_value().message();
  }
};

// ---- graph-build errors and shape inference --------------------------------------------

TEST_F(array_ops_test, reshape_wrong_element_count_names_both_shapes) {
  ops::reshape(s.with_name("r"), ph(dtype::float32, {2, 3}), {4});
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "node 'r' (reshape)"));
  EXPECT_TRUE(contains(e, "cannot reshape a tensor of shape [2,3] (6 elements) into shape [4] (4 elements)"));
}

TEST_F(array_ops_test, reshape_inferred_dim_must_divide) {
  ops::reshape(s, ph(dtype::int32, {2, 3}), {-1, 4});
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "[2,3]"));
  EXPECT_TRUE(contains(e, "[-1,4]"));
  EXPECT_TRUE(contains(e, "6 is not a multiple of 4"));
}

TEST_F(array_ops_test, reshape_two_minus_ones_is_an_error) {
  ops::reshape(s, ph(dtype::float32, {2, 3}), {-1, -1});
  EXPECT_TRUE(contains(build_error(), "shape [-1,-1] has more than one -1"));
}

TEST_F(array_ops_test, reshape_infers_from_partial_shapes) {
  output a = ops::reshape(s, ph(dtype::float32, {2, 3, 4}), {-1, 6});
  EXPECT_EQ(a.shape(), (partial_shape{4, 6}));
  output b = ops::reshape(s, ph(dtype::float32, {-1, 3}), {-1, 6});
  EXPECT_EQ(b.shape(), (partial_shape{-1, 6}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  // The known dimension 3 cannot fit in 4 elements whatever the unknown one is.
  ops::reshape(s, ph(dtype::float32, {-1, 3}), {4});
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "[?,3]"));
  EXPECT_TRUE(contains(e, "[4]"));
}

TEST_F(array_ops_test, transpose_bad_perm_names_the_perm) {
  ops::transpose(s, ph(dtype::float32, {2, 3}), {0, 0});
  EXPECT_TRUE(contains(build_error(), "perm [0,0] is not a permutation of 0..1"));
}

TEST_F(array_ops_test, transpose_perm_of_wrong_rank_names_perm_and_shape) {
  ops::transpose(s, ph(dtype::float32, {2, 3, 4}), {1, 0});
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "perm [1,0]"));
  EXPECT_TRUE(contains(e, "[2,3,4]"));
}

TEST_F(array_ops_test, transpose_shape) {
  output y = ops::transpose(s, ph(dtype::float32, {2, -1, 4}), {2, 0, 1});
  EXPECT_EQ(y.shape(), (partial_shape{4, 2, -1}));
  output z = ops::transpose(s, ph(dtype::float32), {1, 0});
  EXPECT_EQ(z.shape(), partial_shape::unknown_dims(2));
}

TEST_F(array_ops_test, concat_mismatched_dims_names_both_shapes) {
  ops::concat(s, {ph(dtype::float32, {2, 3}), ph(dtype::float32, {2, 4})}, 0);
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "values[0] is [2,3]"));
  EXPECT_TRUE(contains(e, "values[1] is [2,4]"));
  EXPECT_TRUE(contains(e, "dimension 1"));
}

TEST_F(array_ops_test, concat_mismatched_ranks_names_both_shapes) {
  ops::concat(s, {ph(dtype::float32, {2, 3}), ph(dtype::float32, {2})}, 0);
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "[2,3]"));
  EXPECT_TRUE(contains(e, "[2]"));
  EXPECT_TRUE(contains(e, "same rank"));
}

TEST_F(array_ops_test, concat_mixed_dtypes_is_an_error) {
  ops::concat(s, {ph(dtype::float32, {2}), ph(dtype::int32, {2})}, 0);
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "float32"));
  EXPECT_TRUE(contains(e, "int32"));
}

TEST_F(array_ops_test, concat_axis_out_of_range) {
  ops::concat(s, {ph(dtype::float32, {2, 3}), ph(dtype::float32, {2, 3})}, 2);
  EXPECT_TRUE(contains(build_error(), "axis 2 is out of range for rank 2"));
}

TEST_F(array_ops_test, concat_infers_with_unknown_dims) {
  output a = ops::concat(s, {ph(dtype::float32, {-1, 3}), ph(dtype::float32, {2, -1})}, 0);
  EXPECT_EQ(a.shape(), (partial_shape{-1, 3}));
  output b = ops::concat(s, {ph(dtype::float32, {4, 3}), ph(dtype::float32, {2, -1})}, 0);
  EXPECT_EQ(b.shape(), (partial_shape{6, 3}));
  output c = ops::concat(s, {ph(dtype::float32), ph(dtype::float32, {2, 5})}, 1);
  EXPECT_EQ(c.shape(), (partial_shape{2, -1}));
  EXPECT_TRUE(s.ok()) << s.status().to_string();
}

TEST_F(array_ops_test, split_not_divisible_names_shape_and_num_split) {
  ops::split(s, ph(dtype::float32, {4, 5}), 2, 1);
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "[4,5]"));
  EXPECT_TRUE(contains(e, "size 5"));
  EXPECT_TRUE(contains(e, "num_split 2"));
}

TEST_F(array_ops_test, split_shapes) {
  std::vector<output> parts = ops::split(s, ph(dtype::float32, {4, 6}), 3, -1);
  ASSERT_EQ(parts.size(), 3u);
  for (const output& p : parts) EXPECT_EQ(p.shape(), (partial_shape{4, 2}));
  ops::split(s, ph(dtype::float32, {4}), 0);
  EXPECT_TRUE(contains(build_error(), "num_split"));
}

TEST_F(array_ops_test, slice_out_of_range_names_begin_size_and_shape) {
  ops::slice(s, ph(dtype::float32, {3, 4}), {1, 2}, {2, 3});
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "begin [1,2]"));
  EXPECT_TRUE(contains(e, "size [2,3]"));
  EXPECT_TRUE(contains(e, "input shape [3,4]"));
}

TEST_F(array_ops_test, slice_shapes) {
  output a = ops::slice(s, ph(dtype::float32, {5, -1}), {1, 2}, {-1, -1});
  EXPECT_EQ(a.shape(), (partial_shape{4, -1}));
  ops::slice(s, ph(dtype::float32, {5, 6}), {1}, {2});
  EXPECT_TRUE(contains(build_error(), "one entry per input dimension"));
}

TEST_F(array_ops_test, gather_shapes_and_axis_error) {
  output a = ops::gather(s, ph(dtype::float32, {5, 3, 2}), ph(dtype::int64, {4, 7}), 1);
  EXPECT_EQ(a.shape(), (partial_shape{5, 4, 7, 2}));
  output b = ops::gather(s, ph(dtype::string, {5}), ph(dtype::int32, {}), 0);
  EXPECT_EQ(b.shape(), (partial_shape{}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ops::gather(s, ph(dtype::float32, {5, 3}), ph(dtype::int32, {2}), 2);
  EXPECT_TRUE(contains(build_error(), "axis 2 is out of range for rank 2"));
}

TEST_F(array_ops_test, gather_float_indices_are_rejected) {
  ops::gather(s, ph(dtype::float32, {5, 3}), ph(dtype::float32, {2}));
  EXPECT_TRUE(contains(build_error(), "Tindices"));
}

TEST_F(array_ops_test, sparse_segment_length_mismatch_names_both_shapes) {
  ops::sparse_segment_sum(s, ph(dtype::float32, {10, 4}), ph(dtype::int32, {3}),
                          ph(dtype::int32, {4}));
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "indices is [3]"));
  EXPECT_TRUE(contains(e, "segment_ids is [4]"));
}

TEST_F(array_ops_test, sparse_segment_shapes) {
  output a = ops::sparse_segment_mean(s, ph(dtype::float64, {10, 4, 2}), ph(dtype::int64, {-1}),
                                      ph(dtype::int32, {-1}), 7);
  EXPECT_EQ(a.shape(), (partial_shape{7, 4, 2}));
  output b = ops::sparse_segment_sum(s, ph(dtype::float32, {10, 4}), ph(dtype::int32, {3}),
                                     ph(dtype::int32, {3}));
  EXPECT_EQ(b.shape(), (partial_shape{-1, 4}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ops::sparse_segment_sum(s, ph(dtype::int32, {10, 4}), ph(dtype::int32, {3}),
                          ph(dtype::int32, {3}));
  EXPECT_TRUE(contains(build_error(), "int32"));
}

TEST_F(array_ops_test, one_hot_shapes_and_errors) {
  output a = ops::one_hot(s, ph(dtype::int32, {2, 3}), 5, 1, 0, 1);
  EXPECT_EQ(a.shape(), (partial_shape{2, 5, 3}));
  EXPECT_EQ(a.type(), dtype::float32);
  output b = ops::one_hot(s, ph(dtype::int64, {4}), 3, 1, 0, -1, dtype::int64);
  EXPECT_EQ(b.shape(), (partial_shape{4, 3}));
  EXPECT_EQ(b.type(), dtype::int64);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ops::one_hot(s, ph(dtype::int32, {2, 3}), 5, 1, 0, 3);
  EXPECT_TRUE(contains(build_error(), "axis must be -1 or in [0, 2]"));
}

TEST_F(array_ops_test, one_hot_bool_output_is_rejected) {
  ops::one_hot(s, ph(dtype::int32, {2}), 5, 1, 0, -1, dtype::boolean);
  EXPECT_TRUE(contains(build_error(), "dtype must be numeric"));
}

TEST_F(array_ops_test, random_attribute_errors) {
  ops::random_uniform(s, {2, 3}, dtype::float32, 1, 2.0, 1.0);
  std::string e = build_error();
  EXPECT_TRUE(contains(e, "minval 2"));
  EXPECT_TRUE(contains(e, "maxval 1"));
}

TEST_F(array_ops_test, random_int_dtype_is_rejected) {
  ops::random_normal(s, {2, 3}, dtype::int32);
  EXPECT_TRUE(contains(build_error(), "dtype must be float32 or float64, got int32"));
}

// ---- run-time validation ------------------------------------------------------------------

TEST_F(array_ops_test, gather_index_out_of_range_names_value_position_and_range) {
  output params = ph(dtype::float32, {5, 3});
  output idx = ph(dtype::int32, {2, 2});
  output y = ops::gather(s.with_name("g"), params, idx);
  std::string e = run_error({{params, tensor(dtype::float32, {5, 3})},
                             {idx, vec<int32_t>({2, 2}, {0, 1, 7, 2})}},
                            {y});
  EXPECT_TRUE(contains(e, "node 'g' (gather)"));
  EXPECT_TRUE(contains(e, "indices[1,0] = 7 is out of range"));
  EXPECT_TRUE(contains(e, "[0, 5)"));
}

TEST_F(array_ops_test, gather_negative_index_is_an_error) {
  output params = ph(dtype::string, {4});
  output idx = ph(dtype::int64, {3});
  output y = ops::gather(s, params, idx);
  std::string e = run_error({{params, tensor(dtype::string, {4})},
                             {idx, vec<int64_t>({3}, {0, -1, 2})}},
                            {y});
  EXPECT_TRUE(contains(e, "indices[1] = -1 is out of range"));
  EXPECT_TRUE(contains(e, "[0, 4)"));
}

TEST_F(array_ops_test, gather_values) {
  output params = ph(dtype::int64, {3, 2});
  output idx = ph(dtype::int32, {2});
  output y = ops::gather(s, params, idx, 0);
  auto r = run({{params, vec<int64_t>({3, 2}, {10, 11, 20, 21, 30, 31})},
                {idx, vec<int32_t>({2}, {2, 0})}},
               {y});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ(values_of<int64_t>((*r)[0]), (std::vector<int64_t>{30, 31, 10, 11}));
}

TEST_F(array_ops_test, sparse_segment_unsorted_ids_name_the_position) {
  output data = ph(dtype::float32, {4, 2});
  output idx = ph(dtype::int32, {3});
  output seg = ph(dtype::int64, {3});
  output y = ops::sparse_segment_sum(s, data, idx, seg);
  std::string e = run_error({{data, tensor(dtype::float32, {4, 2})},
                             {idx, vec<int32_t>({3}, {0, 1, 2})},
                             {seg, vec<int64_t>({3}, {0, 2, 1})}},
                            {y});
  EXPECT_TRUE(contains(e, "sorted"));
  EXPECT_TRUE(contains(e, "segment_ids[2] = 1"));
  EXPECT_TRUE(contains(e, "segment_ids[1] = 2"));
}

TEST_F(array_ops_test, sparse_segment_index_out_of_range) {
  output data = ph(dtype::float64, {4, 2});
  output idx = ph(dtype::int64, {3});
  output seg = ph(dtype::int32, {3});
  output y = ops::sparse_segment_mean(s, data, idx, seg);
  std::string e = run_error({{data, tensor(dtype::float64, {4, 2})},
                             {idx, vec<int64_t>({3}, {0, 4, 2})},
                             {seg, vec<int32_t>({3}, {0, 0, 1})}},
                            {y});
  EXPECT_TRUE(contains(e, "indices[1] = 4 is out of range"));
  EXPECT_TRUE(contains(e, "[0, 4)"));
}

TEST_F(array_ops_test, sparse_segment_id_beyond_num_segments) {
  output data = ph(dtype::float32, {4, 2});
  output idx = ph(dtype::int32, {2});
  output seg = ph(dtype::int32, {2});
  output y = ops::sparse_segment_sum(s, data, idx, seg, 2);
  std::string e = run_error({{data, tensor(dtype::float32, {4, 2})},
                             {idx, vec<int32_t>({2}, {0, 1})},
                             {seg, vec<int32_t>({2}, {0, 2})}},
                            {y});
  EXPECT_TRUE(contains(e, "segment_ids[1] = 2 is out of range: num_segments is 2"));
}

TEST_F(array_ops_test, sparse_segment_mean_values_and_empty_segments) {
  output data = ph(dtype::float32, {3, 2});
  output idx = ph(dtype::int32, {3});
  output seg = ph(dtype::int32, {3});
  output y = ops::sparse_segment_mean(s, data, idx, seg, 4);
  auto r = run({{data, vec<float>({3, 2}, {1, 2, 3, 4, 5, 6})},
                {idx, vec<int32_t>({3}, {0, 2, 1})},
                {seg, vec<int32_t>({3}, {1, 1, 3})}},
               {y});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{0, 0, 3, 4, 0, 0, 3, 4}));
}

TEST_F(array_ops_test, reshape_run_time_mismatch_names_both_shapes) {
  output x = ph(dtype::float32);
  output y = ops::reshape(s, x, {4});
  std::string e = run_error({{x, tensor(dtype::float32, {2, 3})}}, {y});
  EXPECT_TRUE(contains(e, "[2,3]"));
  EXPECT_TRUE(contains(e, "[4]"));
}

TEST_F(array_ops_test, reshape_is_a_view_of_its_input) {
  output x = ph(dtype::float32, {2, 3});
  output y = ops::reshape(s, x, {3, -1});
  tensor fed = vec<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run({{x, fed}}, {y});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ((*r)[0].shape(), (tensor_shape{3, 2}));
  EXPECT_EQ((*r)[0].raw_data(), fed.raw_data());
}

TEST_F(array_ops_test, concat_run_time_mismatch_names_both_shapes) {
  output a = ph(dtype::int32), b = ph(dtype::int32);
  output y = ops::concat(s, {a, b}, 1);
  std::string e = run_error({{a, tensor(dtype::int32, {2, 3})}, {b, tensor(dtype::int32, {3, 3})}},
                            {y});
  EXPECT_TRUE(contains(e, "values[0] is [2,3]"));
  EXPECT_TRUE(contains(e, "values[1] is [3,3]"));
}

TEST_F(array_ops_test, slice_run_time_out_of_range_names_begin_size_and_shape) {
  output x = ph(dtype::float64);
  output y = ops::slice(s, x, {0, 3}, {1, 2});
  std::string e = run_error({{x, tensor(dtype::float64, {2, 4})}}, {y});
  EXPECT_TRUE(contains(e, "begin [0,3], size [1,2], input shape [2,4]"));
}

TEST_F(array_ops_test, split_run_time_not_divisible) {
  output x = ph(dtype::boolean);
  std::vector<output> parts = ops::split(s, x, 3, 0);
  std::string e = run_error({{x, tensor(dtype::boolean, {4})}}, parts);
  EXPECT_TRUE(contains(e, "not divisible by num_split 3"));
}

TEST_F(array_ops_test, transpose_large_matches_plain_loops_with_many_threads) {
  // A rank-3 transpose big enough to run in parallel, both code paths.
  const int64_t a = 37, b = 129, c = 65;
  std::vector<int32_t> v(size_t(a * b * c));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(i);
  output x = ph(dtype::int32, {a, b, c});
  output y = ops::transpose(s, x, {2, 0, 1});
  output z = ops::transpose(s, x, {1, 0, 2});
  auto r = run({{x, vec<int32_t>({a, b, c}, v)}}, {y, z}, 4);
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  auto yv = (*r)[0].values<int32_t>();
  auto zv = (*r)[1].values<int32_t>();
  int bad = 0;
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < c; ++k) {
        int32_t want = int32_t((i * b + j) * c + k);
        bad += yv[size_t((k * a + i) * b + j)] != want;
        bad += zv[size_t((j * a + i) * c + k)] != want;
      }
  EXPECT_EQ(bad, 0);
}

// ---- random ops ---------------------------------------------------------------------------

// Builds `op` of this shape and seed into a fresh graph and runs it `runs` times in one
// fresh session; returns the values of each run.
std::vector<std::vector<float>> draw(const std::string& op, int64_t seed, int runs,
                                     int threads = 2, int64_t n = 1000,
                                     const std::string& name = "r") {
  graph g(the_platform().ops());
  scope s = scope::root(g).with_name(name);
  output y = op == "random_uniform" ? ops::random_uniform(s, {n}, dtype::float32, seed, -2, 5)
             : op == "random_normal" ? ops::random_normal(s, {n}, dtype::float32, seed, 1, 3)
                                     : ops::truncated_normal(s, {n}, dtype::float32, seed, 1, 3);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, the_platform().kernels(), {.num_threads = threads});
  std::vector<std::vector<float>> out;
  for (int i = 0; i < runs; ++i) {
    auto r = sess.run(std::vector<std::pair<output, tensor>>{}, {y});
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error_value().to_string());
    if (r) out.push_back(values_of<float>((*r)[0]));
  }
  return out;
}

class random_ops_test : public ::testing::TestWithParam<std::string> {};

TEST_P(random_ops_test, same_seed_same_sequence_in_every_fresh_session) {
  auto a = draw(GetParam(), 42, 3);
  auto b = draw(GetParam(), 42, 3);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(a, b);
  // Successive runs of one session give new values.
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a[1], a[2]);
}

TEST_P(random_ops_test, values_do_not_depend_on_the_thread_count) {
  const int64_t n = int64_t(1) << 18;  // large enough to be split among threads
  auto one = draw(GetParam(), 7, 2, 1, n);
  auto four = draw(GetParam(), 7, 2, 4, n);
  EXPECT_TRUE(one == four);
}

TEST_P(random_ops_test, other_seeds_give_other_values) {
  EXPECT_NE(draw(GetParam(), 1, 1), draw(GetParam(), 2, 1));
  // Unseeded ops are keyed by their node's name: reproducible, and distinct per node.
  EXPECT_EQ(draw(GetParam(), 0, 1, 2, 1000, "a"), draw(GetParam(), 0, 1, 2, 1000, "a"));
  EXPECT_NE(draw(GetParam(), 0, 1, 2, 1000, "a"), draw(GetParam(), 0, 1, 2, 1000, "b"));
}

TEST_P(random_ops_test, values_are_in_range_with_the_right_moments) {
  const int64_t n = int64_t(1) << 18;
  auto v = draw(GetParam(), 5, 1, 2, n);
  ASSERT_EQ(v.size(), 1u);
  double sum = 0, sq = 0, lo = 1e300, hi = -1e300;
  for (float x : v[0]) {
    sum += x;
    sq += double(x) * x;
    lo = std::min(lo, double(x));
    hi = std::max(hi, double(x));
  }
  double mean = sum / double(n), var = sq / double(n) - mean * mean;
  // Standard errors at n = 2^18: mean sd/512, variance ~ sqrt(2) var/512 (normal).
  if (GetParam() == "random_uniform") {
    EXPECT_GE(lo, -2.0);
    EXPECT_LT(hi, 5.0);
    EXPECT_NEAR(mean, 1.5, 0.03);
    EXPECT_NEAR(var, 49.0 / 12, 0.05);
  } else if (GetParam() == "random_normal") {
    EXPECT_NEAR(mean, 1.0, 0.03);
    EXPECT_NEAR(var, 9.0, 0.15);
    EXPECT_LT(lo, 1 - 3 * 3.5);  // tails beyond 3.5 sd exist at this sample size
    EXPECT_GT(hi, 1 + 3 * 3.5);
  } else {
    EXPECT_GE(lo, 1 - 2 * 3.0 - 1e-5);
    EXPECT_LE(hi, 1 + 2 * 3.0 + 1e-5);
    EXPECT_NEAR(mean, 1.0, 0.03);
    EXPECT_NEAR(var, 9.0 * 0.7737413, 0.12);
  }
}

INSTANTIATE_TEST_SUITE_P(ops, random_ops_test,
                         ::testing::Values("random_uniform", "random_normal", "truncated_normal"));

TEST_F(array_ops_test, random_shape_must_be_fully_known_at_run_time) {
  output y = ops::random_uniform(s, {-1, 3});
  EXPECT_EQ(y.shape(), (partial_shape{-1, 3}));
  auto r = run({}, {y});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error_value().message(), "shape must be fully known"));
  EXPECT_TRUE(contains(r.error_value().message(), "[?,3]"));
}

}  // namespace
}  // namespace troupe
