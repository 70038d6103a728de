#include "runtime/exec/session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "kernels/cpu/cpu_kernels.hpp"

#include "kernels/platform.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"

namespace troupe {
namespace {

class session_test : public ::testing::Test {
 protected:
  platform plat;
  graph g{plat.ops()};
  scope s = scope::root(g);

  static tensor vec(std::vector<float> v) { return tensor::from_vector<float>({int64_t(v.size())}, v); }
  static std::vector<float> values(const tensor& t) {
    auto v = t.values<float>();
    return {v.begin(), v.end()};
  }
};

TEST_F(session_test, runs_only_what_the_fetches_need) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {3});
  output y = ops::placeholder(s.with_name("y"), dtype::float32, {3});
  output a = ops::add(s.with_name("a"), x, x);
  ops::mul(s.with_name("b"), a, y);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, plat.kernels());
  // y is not needed for a: no feed for it.
  auto r = sess.run({{"x", vec({1, 2, 3})}}, {"a"});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ(values((*r)[0]), (std::vector<float>{2, 4, 6}));
  // b needs y.
  auto missing = sess.run({{"x", vec({1, 2, 3})}}, {"b"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error_value().code(), errc::invalid_argument);
  EXPECT_NE(missing.error_value().message().find("placeholder 'y' (float32 [3]) must be fed"),
            std::string::npos) << missing.error_value().message();
  // Feeding an intermediate endpoint cuts the graph there: x is not needed.
  auto cut = sess.run({{"a:0", vec({1, 1, 1})}, {"y", vec({5, 6, 7})}}, {"b:0"});
  ASSERT_TRUE(cut.has_value()) << cut.error_value().to_string();
  EXPECT_EQ(values((*cut)[0]), (std::vector<float>{5, 6, 7}));
  auto report = sess.explain({"a:0", "y"}, {"b:0"});
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->graph_nodes, 4);
  EXPECT_EQ(report->pruned_nodes, 1);  // only b; a and y come from feeds
}

TEST_F(session_test, merges_common_subexpressions) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {2});
  output a1 = ops::add(s, x, x);
  output a2 = ops::add(s, x, x);  // the same computation
  ops::mul(s.with_name("m"), a1, a2);
  ASSERT_TRUE(s.ok());
  session sess(g, plat.kernels());
  auto report = sess.explain({"x"}, {"m"});
  ASSERT_TRUE(report.has_value()) << report.error_value().to_string();
  EXPECT_EQ(report->cse_removed, 1);
  EXPECT_EQ(report->executed_nodes, 3);  // feed x, one add, mul
  auto r = sess.run({{"x", vec({1, 3})}}, {"m"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<float>{4, 36}));
  session plain(g, plat.kernels(), {.optimize = false});
  EXPECT_EQ(plain.explain({"x"}, {"m"})->cse_removed, 0);
  EXPECT_EQ(values((*plain.run({{"x", vec({1, 3})}}, {"m"}))[0]), (std::vector<float>{4, 36}));
}

TEST_F(session_test, folds_constants_and_drops_dead_nodes) {
  output c1 = ops::constant(s, tensor_shape{2}, std::vector<float>{1, 2});
  output c2 = ops::constant(s, tensor_shape{2}, std::vector<float>{10, 20});
  output k = ops::mul(s, ops::add(s, c1, c2), c2);  // all constant: folded
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {2});
  ops::add(s.with_name("y"), x, k);
  ASSERT_TRUE(s.ok());
  session sess(g, plat.kernels());
  auto report = sess.explain({"x"}, {"y"});
  ASSERT_TRUE(report.has_value()) << report.error_value().to_string();
  EXPECT_EQ(report->pruned_nodes, 5);
  EXPECT_EQ(report->folded, 2);        // add and mul
  // c1, c2 and the constant the folded add became (the folded mul consumed it).
  EXPECT_EQ(report->dead_removed, 3);
  EXPECT_EQ(report->executed_nodes, 3);  // feed, folded constant, y
  auto r = sess.run({{"x", vec({0.5f, 0.25f})}}, {"y"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<float>{110.5f, 440.25f}));
}

TEST_F(session_test, caches_one_executable_per_signature) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {-1});
  ops::add(s.with_name("a"), x, x);
  ops::mul(s.with_name("b"), x, x);
  session sess(g, plat.kernels());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sess.run({{"x", vec({1, 2})}}, {"a"}).has_value());
  EXPECT_EQ(sess.cached_executables(), 1u);
  ASSERT_TRUE(sess.run({{"x", vec({1, 2, 3})}}, {"a", "b"}).has_value());
  EXPECT_EQ(sess.cached_executables(), 2u);
}

TEST_F(session_test, stateful_kernels_keep_their_state_across_signatures) {
  output r = ops::random_uniform(s.with_name("r"), {4}, dtype::float32, 11);
  ops::identity(s.with_name("twice"), r);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, plat.kernels());
  auto first = sess.run(session::feed_list{}, {"r"});
  auto second = sess.run(session::feed_list{}, {"twice"});  // another signature, same kernel
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_NE(values((*first)[0]), values((*second)[0]));
  // A fresh session replays the same sequence from the seed.
  session fresh(g, plat.kernels());
  auto again = fresh.run(session::feed_list{}, {"r"});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(values((*first)[0]), values((*again)[0]));
  // Two random nodes are never merged, even with equal attributes.
  output r2 = ops::random_uniform(s.with_name("r2"), {4}, dtype::float32, 11);
  EXPECT_EQ(sess.explain({}, {"r", "r2"})->cse_removed, 0);
  (void)r2;
}

TEST_F(session_test, bad_requests_get_clear_errors) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {-1, 2});
  ops::add(s.with_name("a"), x, x);
  ASSERT_TRUE(s.ok());
  session sess(g, plat.kernels());
  tensor ok(dtype::float32, {3, 2});
  auto unknown = sess.run({{"x", ok}}, {"nope:0"});
  EXPECT_EQ(unknown.error_value().code(), errc::not_found);
  EXPECT_NE(unknown.error_value().message().find("no node named 'nope'"), std::string::npos);
  auto wrong_type = sess.run({{"x", tensor(dtype::float64, {3, 2})}}, {"a"});
  EXPECT_NE(wrong_type.error_value().message().find("feed 'x' must be float32, got float64"),
            std::string::npos) << wrong_type.error_value().message();
  auto wrong_shape = sess.run({{"x", tensor(dtype::float32, {3, 3})}}, {"a"});
  EXPECT_NE(wrong_shape.error_value().message().find("feed 'x' must have shape [?,2], got [3,3]"),
            std::string::npos) << wrong_shape.error_value().message();
  auto twice = sess.run({{"x", ok}, {"x:0", ok}}, {"a"});
  EXPECT_NE(twice.error_value().message().find("fed twice"), std::string::npos);
  auto nothing = sess.run({{"x", ok}}, {});
  EXPECT_EQ(nothing.error_value().code(), errc::invalid_argument);
  auto invalid = sess.run({{"x", tensor()}}, {"a"});
  EXPECT_NE(invalid.error_value().message().find("is invalid"), std::string::npos);
  // Still usable.
  EXPECT_TRUE(sess.run({{"x", ok}}, {"a"}).has_value());
}

TEST_F(session_test, a_failing_node_is_named_and_the_session_stays_usable) {
  output n = ops::placeholder(s.with_name("n"), dtype::int32, {2});
  output d = ops::placeholder(s.with_name("d"), dtype::int32, {2});
  output q = ops::div(s.with_name("ratio"), n, d);
  ops::add(s.with_name("after"), q, q);
  ASSERT_TRUE(s.ok());
  for (int threads : {1, 2}) {
    session sess(g, plat.kernels(), {.num_threads = threads});
    auto bad = sess.run({{"n", tensor::from_vector<int32_t>({2}, {4, 6})},
                         {"d", tensor::from_vector<int32_t>({2}, {2, 0})}},
                        {"after"});
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error_value().message().find("node 'ratio' (div)"), std::string::npos)
        << bad.error_value().message();
    auto good = sess.run({{"n", tensor::from_vector<int32_t>({2}, {4, 6})},
                          {"d", tensor::from_vector<int32_t>({2}, {2, 3})}},
                         {"after"});
    ASSERT_TRUE(good.has_value()) << good.error_value().to_string();
    EXPECT_EQ((*good)[0].data<int32_t>()[1], 4);
  }
}

TEST_F(session_test, targets_run_their_control_dependencies) {
  output n = ops::placeholder(s.with_name("n"), dtype::int32, {});
  output zero = ops::constant(s, int32_t(0));
  output q = ops::div(s.with_name("check"), n, zero);  // fails whenever it runs
  operation group = ops::no_op(s.with_name("group").with_control_deps({q}));
  ops::identity(s.with_name("v"), n);
  ASSERT_TRUE(s.ok());
  session sess(g, plat.kernels());
  auto fetch_only = sess.run({{"n", tensor::scalar<int32_t>(3)}}, {"v"});
  ASSERT_TRUE(fetch_only.has_value());  // the failing node is not needed
  auto with_target = sess.run({{"n", tensor::scalar<int32_t>(3)}}, {"v"}, {"group"});
  ASSERT_FALSE(with_target.has_value());
  EXPECT_NE(with_target.error_value().message().find("node 'check' (div)"), std::string::npos);
  (void)group;
}

TEST_F(session_test, long_chains_wide_fan_outs_and_concurrent_runs) {
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {-1});
  output chain = x;
  for (int i = 0; i < 300; ++i) chain = ops::add(s, chain, x);
  std::vector<output> fan;
  for (int i = 0; i < 200; ++i) fan.push_back(ops::mul(s, x, ops::constant(s, float(i))));
  output total = fan[0];
  for (size_t i = 1; i < fan.size(); ++i) total = ops::add(s, total, fan[i]);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, plat.kernels(), {.num_threads = 2});
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        float v = float(t + 1);
        auto r = sess.run({{"x", tensor::from_vector<float>({4096}, std::vector<float>(4096, v))}},
                          {chain.name(), total.name()});
        if (!r || (*r)[0].data<float>()[4095] != 301 * v || (*r)[1].data<float>()[7] != 19900 * v)
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// A probe op for observing the executor: it records which node ran, in which order and
// on which thread, and may sleep so that parallel branches overlap.
struct probe_log {
  std::mutex mu;
  std::vector<std::pair<std::string, std::thread::id>> runs;
};
probe_log* the_probe_log = nullptr;

class probe_kernel {
 public:
  error init(const kernel_construction& c) {
    sleep_ms_ = c.attr<int64_t>("sleep_ms");
    return {};
  }
  error compute(kernel_context& ctx) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    {
      std::lock_guard<std::mutex> lock(the_probe_log->mu);
      the_probe_log->runs.emplace_back(ctx.this_node().name, std::this_thread::get_id());
    }
    ctx.set_output(0, ctx.input(0));
    return {};
  }

 private:
  int64_t sleep_ms_ = 0;
};

// Computes y = x + 1 through forward_or_allocate and records whether it ran in place.
std::vector<std::pair<std::string, bool>>* the_inplace_log = nullptr;

class inplace_probe_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    tensor y = TROUPE_TRY(ctx.forward_or_allocate({0}, 0, x.shape()));
    the_inplace_log->emplace_back(ctx.this_node().name, y.raw_data() == x.raw_data());
    y.flat<float>() = x.flat<float>() + 1.0f;
    return {};
  }
};

class executor_probe_test : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_ops(ops_);
    ASSERT_FALSE(ops_.add({.signature = "probe(x: T) -> (y: T); sleep_ms: int = 0",
                           .shape = [](shape_context& c) -> error {
                             c.set_output(0, c.input(0));
                             return {};
                           },
                           .is_stateful = true}));
    ASSERT_FALSE(ops_.add({.signature = "plus_one(x: float32) -> (y: float32)",
                           .shape = [](shape_context& c) -> error {
                             c.set_output(0, c.input(0));
                             return {};
                           }}));
    register_cpu_kernels(kernels_);
    kernels_.add_any<probe_kernel>("probe", device_kind::cpu);
    kernels_.add_any<inplace_probe_kernel>("plus_one", device_kind::cpu);
    the_probe_log = &log_;
    the_inplace_log = &inplace_;
  }
  void TearDown() override {
    the_probe_log = nullptr;
    the_inplace_log = nullptr;
  }
  int position(const std::string& name) {
    for (size_t i = 0; i < log_.runs.size(); ++i)
      if (log_.runs[i].first == name) return int(i);
    return -1;
  }

  op_registry ops_;
  kernel_registry kernels_;
  probe_log log_;
  std::vector<std::pair<std::string, bool>> inplace_;
};

TEST_F(executor_probe_test, kernels_compute_in_place_only_over_values_nobody_else_reads) {
  graph g(ops_);
  scope s = scope::root(g);
  const int64_t n = 4096;  // large enough to be forwarded (small buffers are not)
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {n});
  output sum = ops::add(s.with_name("sum"), x, x);              // a fresh buffer
  output a = s.with_name("a").add1("plus_one", {sum});          // last reader of sum
  s.with_name("b").add1("plus_one", {x});                       // x is the caller's
  s.with_name("c").add1("plus_one", {a});                       // a is fetched too
  output small = ops::add(s, ops::slice(s, x, {0}, {4}), ops::slice(s, x, {0}, {4}));
  s.with_name("d").add1("plus_one", {small});                   // small: not forwarded
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, kernels_, {.num_threads = 1});
  std::vector<float> xs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) xs[size_t(i)] = float(i);
  tensor feed = tensor::from_vector<float>({n}, xs);
  auto r = sess.run({{"x", feed}}, {"a", "b", "c", "d"});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  std::map<std::string, bool> in_place(inplace_.begin(), inplace_.end());
  EXPECT_TRUE(in_place.at("a"));   // reused sum's buffer
  EXPECT_FALSE(in_place.at("b"));  // a fed tensor is never written
  EXPECT_FALSE(in_place.at("c"));  // a fetched value is never written
  EXPECT_FALSE(in_place.at("d"));
  for (int64_t i = 0; i < n; i += 511) {
    EXPECT_EQ((*r)[0].data<float>()[i], 2.0f * float(i) + 1) << i;
    EXPECT_EQ((*r)[1].data<float>()[i], float(i) + 1) << i;
    EXPECT_EQ((*r)[2].data<float>()[i], 2.0f * float(i) + 2) << i;
    EXPECT_EQ(feed.data<float>()[i], float(i)) << i;
  }
  EXPECT_EQ((*r)[3].data<float>()[3], 7.0f);
}

TEST_F(executor_probe_test, a_value_with_two_readers_is_not_overwritten_by_the_first) {
  graph g(ops_);
  scope s = scope::root(g);
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {4096});
  output e = ops::exp(s.with_name("e"), x);
  output n = ops::neg(s.with_name("n"), e);      // readers of e: n and q
  output q = ops::exp(s.with_name("q"), e);
  ops::add(s.with_name("t"), n, q);              // exp(e) - e
  ASSERT_TRUE(s.ok());
  for (int threads : {1, 2}) {
    session sess(g, kernels_, {.num_threads = threads});
    for (int rep = 0; rep < 20; ++rep) {
      auto r = sess.run({{"x", tensor(dtype::float32, {4096})}}, {"t"});  // x = 0: e = 1
      ASSERT_TRUE(r.has_value());
      // If n overwrote e before q read it, q would be exp(-1) instead of exp(1).
      const float want = std::exp(1.0f) - 1.0f;
      for (float v : (*r)[0].values<float>()) ASSERT_NEAR(v, want, 1e-6f);
    }
  }
}

TEST_F(executor_probe_test, independent_expensive_branches_run_on_different_threads) {
  graph g(ops_);
  scope s = scope::root(g);
  // Inputs large enough that the executor treats both probes as expensive.
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {100000});
  output a = s.with_name("left").add1("probe", {x}, {{"sleep_ms", 50}});
  output b = s.with_name("right").add1("probe", {x}, {{"sleep_ms", 50}});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  session sess(g, kernels_, {.num_threads = 2});
  auto r = sess.run({{"x", tensor(dtype::float32, {100000})}}, {a.name(), b.name()});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  ASSERT_EQ(log_.runs.size(), 2u);
  EXPECT_NE(log_.runs[0].second, log_.runs[1].second) << "the two branches ran on one thread";
  // With one thread everything runs on the caller.
  log_.runs.clear();
  session serial(g, kernels_, {.num_threads = 1});
  ASSERT_TRUE(serial.run({{"x", tensor(dtype::float32, {100000})}}, {a.name(), b.name()}));
  ASSERT_EQ(log_.runs.size(), 2u);
  EXPECT_EQ(log_.runs[0].second, std::this_thread::get_id());
  EXPECT_EQ(log_.runs[1].second, std::this_thread::get_id());
}

TEST_F(executor_probe_test, control_dependencies_order_nodes) {
  graph g(ops_);
  scope s = scope::root(g);
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {4});
  // 'second' has no data dependency on 'first', only a control edge; 'first' sleeps so
  // that without the edge 'second' would very likely run before it finishes.
  output first = s.with_name("first").add1("probe", {x}, {{"sleep_ms", 30}});
  output second = s.with_name("second").with_control_deps({first}).add1("probe", {x});
  output third = s.with_name("third").with_control_deps({second}).add1("probe", {x});
  ASSERT_TRUE(s.ok());
  for (int threads : {1, 2}) {
    log_.runs.clear();
    session sess(g, kernels_, {.num_threads = threads});
    ASSERT_TRUE(sess.run({{"x", tensor(dtype::float32, {4})}}, {third.name()}));
    ASSERT_EQ(log_.runs.size(), 3u);  // the control inputs ran although nobody fetched them
    EXPECT_LT(position("first"), position("second"));
    EXPECT_LT(position("second"), position("third"));
  }
}

}  // namespace
}  // namespace troupe
