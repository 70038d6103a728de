// Variables and resource containers: initialization, updates, snapshots, containers,
// and the errors users see.

#include <gtest/gtest.h>

#include <thread>

#include "runtime/exec/session.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/variable_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

class variable_test : public test::ops_test {
 protected:
  variable make(const std::string& name, tensor init, const std::string& container = "") {
    return make_variable(s, name, ops::constant(s, std::move(init)), container);
  }
  std::vector<float> read(session& sess, const variable& v) {
    auto r = sess.run(std::vector<std::pair<output, tensor>>{}, {v.value});
    EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
    if (!r) return {};
    auto vals = (*r)[0].values<float>();
    return {vals.begin(), vals.end()};
  }
  error run_targets(session& sess, const std::vector<operation>& targets) {
    auto r = sess.run(std::vector<std::pair<output, tensor>>{}, {}, targets);
    return r ? error{} : r.error_value();
  }
};

TEST_F(variable_test, initializes_reads_and_is_fetchable_by_name) {
  variable w = make("w", test::vec<float>({2}, {1, 2}));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(w.name, "w");
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  auto before = sess.run(session::feed_list{}, {"w"});
  ASSERT_FALSE(before.has_value());
  EXPECT_EQ(before.error_value().code(), errc::failed_precondition);
  EXPECT_TRUE(test::contains(before.error_value().message(), "variable 'w' is not initialized"))
      << before.error_value().message();
  ASSERT_FALSE(run_targets(sess, {w.initializer}));
  auto after = sess.run(session::feed_list{}, {"w"});
  ASSERT_TRUE(after.has_value()) << after.error_value().to_string();
  EXPECT_EQ(std::vector<float>((*after)[0].values<float>().begin(), (*after)[0].values<float>().end()),
            (std::vector<float>{1, 2}));
}

TEST_F(variable_test, names_follow_the_scope) {
  variable w = make_variable(s.sub("dense"), "kernel", ops::constant(s, 1.0f));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(w.name, "dense/kernel");
  EXPECT_EQ(w.value.op_node().name, "dense/kernel");
  EXPECT_EQ(g.at(w.initializer.node).name, "dense/kernel/init");
}

TEST_F(variable_test, assign_add_sub_and_scatter_update_in_place) {
  variable v = make("v", test::vec<float>({3, 2}, {0, 0, 0, 0, 0, 0}));
  operation add = ops::assign_add(s, v, ops::constant(s, test::vec<float>({3, 2}, {1, 1, 1, 1, 1, 1})));
  operation sub = ops::assign_sub(s, v, ops::constant(s, test::vec<float>({3, 2}, {0, 0, 0, 0, 0, 2})));
  // Row 2 twice: repeated indices add up.
  operation scat = ops::scatter_add(s, v, ops::constant(s, test::vec<int64_t>({3}, {2, 0, 2})),
                                    ops::constant(s, test::vec<float>({3, 2}, {1, 2, 3, 4, 5, 6})));
  operation upd = ops::scatter_update(s, v, ops::constant(s, test::vec<int32_t>({1}, {1})),
                                      ops::constant(s, test::vec<float>({1, 2}, {9, 8})));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  ASSERT_FALSE(run_targets(sess, {add}));
  EXPECT_EQ(read(sess, v), (std::vector<float>{1, 1, 1, 1, 1, 1}));
  ASSERT_FALSE(run_targets(sess, {sub}));
  EXPECT_EQ(read(sess, v), (std::vector<float>{1, 1, 1, 1, 1, -1}));
  ASSERT_FALSE(run_targets(sess, {scat}));
  EXPECT_EQ(read(sess, v), (std::vector<float>{4, 5, 1, 1, 7, 7}));
  ASSERT_FALSE(run_targets(sess, {upd}));
  EXPECT_EQ(read(sess, v), (std::vector<float>{4, 5, 9, 8, 7, 7}));
}

TEST_F(variable_test, scatter_out_of_range_fails_and_writes_nothing) {
  variable v = make("table", test::vec<float>({2, 1}, {1, 2}));
  operation scat = ops::scatter_add(s, v, ops::constant(s, test::vec<int64_t>({2}, {0, 5})),
                                    ops::constant(s, test::vec<float>({2, 1}, {10, 10})));
  ASSERT_TRUE(s.ok());
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  error e = run_targets(sess, {scat});
  ASSERT_TRUE(e);
  EXPECT_TRUE(test::contains(e.message(), "index 5 at position 1 is out of range for variable "
                                          "'table' with 2 rows"))
      << e.message();
  EXPECT_EQ(read(sess, v), (std::vector<float>{1, 2}));
}

TEST_F(variable_test, wrong_dtype_or_shape_is_named) {
  variable v = make("v", test::vec<float>({2}, {1, 2}));
  output p = ph(dtype::float32);
  operation bad_shape = ops::assign(s, v, p);
  output wrong = ph(dtype::float32);
  operation add = ops::assign_add(s, v, wrong);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  auto r = sess.run({{p, test::vec<float>({3}, {1, 2, 3})}}, {}, {bad_shape});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(test::contains(r.error_value().message(), "variable 'v' is declared with shape [2] "
                                                        "but the value assigned has shape [3]"))
      << r.error_value().message();
  auto r2 = sess.run({{wrong, test::vec<float>({1}, {1})}}, {}, {add});
  ASSERT_FALSE(r2.has_value());
  EXPECT_TRUE(test::contains(r2.error_value().message(), "variable 'v' is float32 [2] but the "
                                                         "delta is float32 [1]"))
      << r2.error_value().message();
  // At graph-build time, a known wrong shape is caught by the shape function.
  ops::assign(s, v, ops::constant(s, test::vec<float>({4}, {1, 2, 3, 4})));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(test::contains(s.status().message(), "declared with shape [2] but the value has "
                                                   "shape [4]"))
      << s.status().message();
}

TEST_F(variable_test, a_read_is_a_snapshot_that_later_updates_never_change) {
  variable v = make("v", test::vec<float>({4}, {1, 2, 3, 4}));
  operation add = ops::assign_add(s, v, ops::constant(s, test::vec<float>({4}, {10, 10, 10, 10})));
  ASSERT_TRUE(s.ok());
  session sess(g, test::the_platform().kernels(), {.num_threads = 2});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  auto held = sess.run(session::feed_list{}, {"v"});
  ASSERT_TRUE(held.has_value());
  ASSERT_FALSE(run_targets(sess, {add}));
  EXPECT_EQ(std::vector<float>((*held)[0].values<float>().begin(), (*held)[0].values<float>().end()),
            (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(read(sess, v), (std::vector<float>{11, 12, 13, 14}));
}

TEST_F(variable_test, every_reader_in_a_step_sees_one_value) {
  variable v = make("v", test::vec<float>({1}, {1}));
  output a = ops::mul(s, v.value, ops::constant(s, 1.0f));
  // The update runs after `a` but possibly before `b` reads: b must still see 1.
  operation add = ops::assign_add(s.with_control_deps({a}), v, ops::constant(s, test::vec<float>({1}, {5})));
  output b = ops::mul(s.with_control_deps({add}), v.value, ops::constant(s, 1.0f));
  ASSERT_TRUE(s.ok());
  session sess(g, test::the_platform().kernels(), {.num_threads = 2});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  auto r = sess.run(std::vector<std::pair<output, tensor>>{}, {a, b});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ((*r)[0].values<float>()[0], 1.0f);
  EXPECT_EQ((*r)[1].values<float>()[0], 1.0f);
  EXPECT_EQ(read(sess, v), (std::vector<float>{6}));
}

TEST_F(variable_test, containers_are_separate_and_reset_alone) {
  variable a = make("w", test::vec<float>({1}, {1}), "job_a");
  variable b = make("w_b", test::vec<float>({1}, {2}), "job_b");
  // The same resource name in another container is another variable.
  variable a2{.name = "w", .container = "job_b", .type = dtype::float32, .shape = partial_shape{1}};
  a2.initializer = ops::assign(s, a2, ops::constant(s, test::vec<float>({1}, {3})));
  a2.value = ops::read_variable(s, "w", dtype::float32, partial_shape{1}, "job_b");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, {a.initializer, b.initializer, a2.initializer}));
  resource_mgr& rm = sess.device().resources();
  EXPECT_EQ(rm.containers(), (std::vector<std::string>{"job_a", "job_b"}));
  EXPECT_EQ(rm.reset("job_a"), 1u);
  auto r = sess.run(session::feed_list{}, {"w"});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(test::contains(r.error_value().message(), "variable 'w' in container 'job_a' is not initialized"))
      << r.error_value().message();
  EXPECT_EQ(read(sess, b), (std::vector<float>{2}));
  EXPECT_EQ(read(sess, a2), (std::vector<float>{3}));
  // Re-initialized after the reset, it works again.
  ASSERT_FALSE(run_targets(sess, {a.initializer}));
  EXPECT_EQ(read(sess, a), (std::vector<float>{1}));
}

TEST_F(variable_test, is_initialized_and_initialize_all) {
  variable a = make("a", test::vec<float>({1}, {1}));
  variable b = make("b", test::vec<float>({1}, {2}));
  output ia = ops::is_initialized(s, a);
  operation init = ops::initialize_all(s, {a, b});
  ASSERT_TRUE(s.ok());
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  auto r = sess.run(std::vector<std::pair<output, tensor>>{}, {ia});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE((*r)[0].values<bool>()[0]);
  ASSERT_FALSE(run_targets(sess, {init}));
  r = sess.run(std::vector<std::pair<output, tensor>>{}, {ia});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE((*r)[0].values<bool>()[0]);
  EXPECT_EQ(read(sess, b), (std::vector<float>{2}));
}

TEST_F(variable_test, concurrent_updates_are_not_lost) {
  variable v = make("count", test::vec<float>({1}, {0}));
  operation add = ops::assign_add(s, v, ops::constant(s, test::vec<float>({1}, {1})));
  ASSERT_TRUE(s.ok());
  session sess(g, test::the_platform().kernels(), {.num_threads = 2});
  ASSERT_FALSE(run_targets(sess, {v.initializer}));
  auto work = [&] {
    for (int i = 0; i < 500; ++i) ASSERT_FALSE(run_targets(sess, {add}));
  };
  std::thread t1(work), t2(work);
  t1.join();
  t2.join();
  EXPECT_EQ(read(sess, v), (std::vector<float>{1000}));
}

TEST_F(variable_test, fill_gives_the_value_everywhere) {
  output f = ops::fill(s, dtype::int64, tensor_shape{2, 2}, 7);
  ASSERT_TRUE(s.ok());
  auto r = run_ok({}, {f});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(std::vector<int64_t>(r[0].values<int64_t>().begin(), r[0].values<int64_t>().end()),
            (std::vector<int64_t>{7, 7, 7, 7}));
  s.add1("fill", {}, {{"dtype", dtype::float32}, {"shape", partial_shape{-1, 2}}});
  EXPECT_TRUE(test::contains(s.status().message(), "fill: the shape must be fully known, not [?,2]"))
      << s.status().message();
}

}  // namespace
}  // namespace troupe
