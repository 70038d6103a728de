// Optimizers, their update ops, gradient clipping and learning-rate schedules in real
// sessions: every update rule, dense and sparse, against steps computed here with plain
// arithmetic; the sparse forms' row-only semantics; the errors users see; minimize() on
// small problems; the global step.

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/variable_ops.hpp"
#include "runtime/train/optimizer.hpp"
#include "runtime/train/schedules.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

using feeds = std::vector<std::pair<output, tensor>>;

template <class T>
tensor make_tensor(const tensor_shape& shape, const std::vector<double>& v) {
  return tensor::from_vector<T>(shape, std::vector<T>(v.begin(), v.end()));
}

tensor fetch(session& sess, output o, const feeds& f = {}) {
  auto r = sess.run(f, {o});
  EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
  return r ? (*r)[0] : tensor();
}

std::vector<double> doubles(const tensor& t) {
  std::vector<double> out;
  visit_dtype(t.dtype(), [&]<class T>() {
    if constexpr (std::is_arithmetic_v<T>)
      for (T x : t.values<T>()) out.push_back(double(x));
  });
  return out;
}

error run_targets(session& sess, const std::vector<operation>& targets, const feeds& f = {}) {
  auto r = sess.run(f, {}, targets);
  return r ? error{} : r.error_value();
}

// The variables' initializers and the optimizer's slots'.
std::vector<operation> initializers(const std::vector<variable>& vars, const train::optimizer& opt) {
  std::vector<operation> out;
  for (const variable& v : vars) out.push_back(v.initializer);
  for (const variable& v : opt.slots()) out.push_back(v.initializer);
  return out;
}

template <class T>
void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                  const std::string& what) {
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " element " << i;
}

// ---- the update rules, written out -----------------------------------------------------

// One element's update: the variable, its slots, the gradient, the 1-based step.
using ref_update = std::function<void(double& w, std::array<double, 2>& s, double g, int64_t t)>;

struct opt_case {
  std::string name;
  std::function<std::unique_ptr<train::optimizer>()> make;
  std::vector<std::string> slots;
  std::vector<double> slot_init;
  ref_update update;
};

ref_update ftrl_update(double lr, double l1, double l2, double p) {
  return [=](double& w, std::array<double, 2>& s, double g, int64_t) {
    double accum_new = s[0] + g * g;
    s[1] += g - (std::pow(accum_new, -p) - std::pow(s[0], -p)) / lr * w;
    double quadratic = std::pow(accum_new, -p) / lr + 2 * l2;
    w = std::abs(s[1]) > l1 ? ((s[1] > 0 ? 1.0 : -1.0) * l1 - s[1]) / quadratic : 0.0;
    s[0] = accum_new;
  };
}

std::vector<opt_case> opt_cases() {
  return {
      {"sgd", [] { return std::make_unique<train::sgd>(0.1); }, {}, {},
       [](double& w, auto&, double g, int64_t) { w -= 0.1 * g; }},
      {"momentum", [] { return std::make_unique<train::momentum>(0.1, 0.9); }, {"accum"}, {0.0},
       [](double& w, auto& s, double g, int64_t) {
         s[0] = s[0] * 0.9 + g;
         w -= 0.1 * s[0];
       }},
      {"nesterov", [] { return std::make_unique<train::momentum>(0.1, 0.9, true); }, {"accum"},
       {0.0},
       [](double& w, auto& s, double g, int64_t) {
         s[0] = s[0] * 0.9 + g;
         w -= 0.1 * g + 0.1 * 0.9 * s[0];
       }},
      {"adagrad", [] { return std::make_unique<train::adagrad>(0.1); }, {"accum"}, {0.1},
       [](double& w, auto& s, double g, int64_t) {
         s[0] += g * g;
         w -= 0.1 * g / (std::sqrt(s[0]) + 1e-7);
       }},
      {"adam", [] { return std::make_unique<train::adam>(0.1); }, {"m", "v"}, {0.0, 0.0},
       [](double& w, auto& s, double g, int64_t t) {
         double lr_t = 0.1 * std::sqrt(1 - std::pow(0.999, double(t))) / (1 - std::pow(0.9, double(t)));
         s[0] += (g - s[0]) * (1 - 0.9);
         s[1] += (g * g - s[1]) * (1 - 0.999);
         w -= lr_t * s[0] / (std::sqrt(s[1]) + 1e-8);
       }},
      {"ftrl", [] { return std::make_unique<train::ftrl>(0.1, 0.05, 0.02); }, {"accum", "linear"},
       {0.1, 0.0}, ftrl_update(0.1, 0.05, 0.02, -0.5)},
      {"ftrl_lr_power", [] { return std::make_unique<train::ftrl>(0.1, 0.05, 0.02, 0.1, -0.7); },
       {"accum", "linear"}, {0.1, 0.0}, ftrl_update(0.1, 0.05, 0.02, -0.7)},
  };
}

// A variable [rows, cols] and its slots in double.
struct ref_state {
  std::vector<double> var;
  std::vector<std::vector<double>> slots;

  void update_row(const opt_case& c, int64_t row, int64_t cols, const double* g, int64_t t) {
    for (int64_t j = 0; j < cols; ++j) {
      size_t e = size_t(row * cols + j);
      std::array<double, 2> s{};
      for (size_t k = 0; k < slots.size(); ++k) s[k] = slots[k][e];
      c.update(var[e], s, g[j], t);
      for (size_t k = 0; k < slots.size(); ++k) slots[k][e] = s[k];
    }
  }
};

class optimizer_test : public test::ops_test {};

template <class T>
class typed_optimizer_test : public ::testing::Test {};
using float_types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(typed_optimizer_test, float_types);

// Dense: two steps of every rule, then the variable and each slot against the reference.
TYPED_TEST(typed_optimizer_test, dense_updates_match_hand_computed_steps) {
  using T = TypeParam;
  const std::vector<double> w0 = {0.5, -0.25, 1.0, 0.0, -1.5, 2.0};
  const std::vector<std::vector<double>> grads = {{0.25, -0.5, 1.0, 0.0, 2.0, -0.125},
                                                  {-0.75, 0.5, 0.5, 1.5, -1.0, 0.25}};
  for (const opt_case& c : opt_cases()) {
    SCOPED_TRACE(c.name);
    graph g(test::the_platform().ops());
    scope s = scope::root(g);
    variable w = make_variable(s, "w", ops::constant(s, make_tensor<T>({2, 3}, w0)));
    output grad = ops::placeholder(s, dtype_v<T>, partial_shape{2, 3});
    auto opt = c.make();
    auto train = opt->apply_gradients(s, {{gradient::of(grad), w}});
    ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
    // Slots are named after their variable; Adam counts its own steps without a global step.
    ASSERT_EQ(opt->slots().size(), c.slots.size() + (c.name == "adam" ? 1 : 0));
    for (const std::string& name : c.slots) {
      const variable* sv = opt->slot(w, name);
      ASSERT_NE(sv, nullptr) << name;
      EXPECT_EQ(sv->name, "w/" + opt->name() + "/" + name);
    }
    session sess(g, test::the_platform().kernels(), {.num_threads = 2});
    ASSERT_FALSE(run_targets(sess, initializers({w}, *opt)));
    ref_state ref{w0, {}};
    for (double init : c.slot_init) ref.slots.push_back(std::vector<double>(w0.size(), init));
    for (int64_t step = 1; step <= 2; ++step) {
      const std::vector<double>& gv = grads[size_t(step - 1)];
      ASSERT_FALSE(run_targets(sess, {*train}, {{grad, make_tensor<T>({2, 3}, gv)}}));
      for (int64_t row = 0; row < 2; ++row) ref.update_row(c, row, 3, gv.data() + row * 3, step);
      expect_close<T>(doubles(fetch(sess, w.value)), ref.var, "variable after step " + std::to_string(step));
      for (size_t k = 0; k < c.slots.size(); ++k)
        expect_close<T>(doubles(fetch(sess, opt->slot(w, c.slots[k])->value)), ref.slots[k],
                        "slot " + c.slots[k] + " after step " + std::to_string(step));
    }
  }
}

// Sparse: only the listed rows (and their slot rows) change; repeated indices are summed
// first; rows never listed stay bit-identical, and so does a row listed only in step 1
// during step 2 (Adam's moments are lazy).
TYPED_TEST(typed_optimizer_test, sparse_updates_touch_only_listed_rows) {
  using T = TypeParam;
  const std::vector<double> w0 = {0.5, -0.25, 1.0, 0.0, -1.5, 2.0, 0.75, -1.0, 0.125, 0.25};
  struct step_data {
    std::vector<double> indices, values;
  };
  const std::vector<step_data> steps = {{{3, 1}, {0.5, -1.0, 2.0, 0.25}},
                                        {{1, 4, 1}, {1.0, 1.0, -0.5, 0.5, 0.25, -2.0}}};
  for (dtype index_type : {dtype::int32, dtype::int64}) {
    for (const opt_case& c : opt_cases()) {
      SCOPED_TRACE(c.name + " with " + std::string(dtype_name(index_type)) + " indices");
      graph g(test::the_platform().ops());
      scope s = scope::root(g);
      variable w = make_variable(s, "emb", ops::constant(s, make_tensor<T>({5, 2}, w0)));
      output idx = ops::placeholder(s, index_type, partial_shape{-1});
      output vals = ops::placeholder(s, dtype_v<T>, partial_shape{-1, 2});
      auto opt = c.make();
      gradient sparse{.indices = idx, .values = vals, .dense_like = w.value};
      auto train = opt->apply_gradients(s, {{sparse, w}});
      ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
      session sess(g, test::the_platform().kernels(), {.num_threads = 2});
      ASSERT_FALSE(run_targets(sess, initializers({w}, *opt)));
      ref_state ref{w0, {}};
      for (double init : c.slot_init) ref.slots.push_back(std::vector<double>(w0.size(), init));
      auto snapshot = [&] {
        std::vector<tensor> out{fetch(sess, w.value)};
        for (const std::string& name : c.slots) out.push_back(fetch(sess, opt->slot(w, name)->value));
        return out;
      };
      std::vector<tensor> before = snapshot();
      for (int64_t step = 1; step <= 2; ++step) {
        const step_data& d = steps[size_t(step - 1)];
        tensor it = index_type == dtype::int32
                        ? make_tensor<int32_t>({int64_t(d.indices.size())}, d.indices)
                        : make_tensor<int64_t>({int64_t(d.indices.size())}, d.indices);
        ASSERT_FALSE(run_targets(sess, {*train},
                                 {{idx, it}, {vals, make_tensor<T>({int64_t(d.indices.size()), 2}, d.values)}}));
        // The reference sums repeated rows, then updates each listed row once.
        std::map<int64_t, std::array<double, 2>> summed;
        for (size_t k = 0; k < d.indices.size(); ++k)
          for (int j = 0; j < 2; ++j) summed[int64_t(d.indices[k])][size_t(j)] += d.values[k * 2 + size_t(j)];
        for (const auto& [row, gv] : summed) ref.update_row(c, row, 2, gv.data(), step);
        std::vector<tensor> after = snapshot();
        expect_close<T>(doubles(after[0]), ref.var, "variable after step " + std::to_string(step));
        for (size_t k = 0; k < c.slots.size(); ++k)
          expect_close<T>(doubles(after[k + 1]), ref.slots[k], "slot " + c.slots[k]);
        for (int64_t row = 0; row < 5; ++row) {
          if (summed.count(row)) continue;
          for (size_t t = 0; t < after.size(); ++t)
            EXPECT_EQ(std::memcmp(after[t].data<T>() + row * 2, before[t].data<T>() + row * 2, 2 * sizeof(T)), 0)
                << "row " << row << " of tensor " << t << " changed in step " << step;
        }
        before = after;
      }
    }
  }
}

// Big enough for parallel_for to split the work: dense Adam over many elements, and a
// sparse FTRL update with many repeated, unsorted indices.
TEST(large_updates, parallel_dense_and_sparse_match_the_reference) {
  const opt_case adam = opt_cases()[4], ftrl = opt_cases()[5];
  ASSERT_EQ(adam.name, "adam");
  ASSERT_EQ(ftrl.name, "ftrl");
  graph g(test::the_platform().ops());
  scope s = scope::root(g);
  const int64_t n = 300000, rows = 1000, cols = 48, k = 5000;
  std::vector<double> w0(static_cast<size_t>(n)), g0(static_cast<size_t>(n)),
      t0(static_cast<size_t>(rows * cols)), idx(static_cast<size_t>(k)),
      vals(static_cast<size_t>(k * cols));
  for (int64_t i = 0; i < n; ++i) {
    w0[size_t(i)] = double((i * 37) % 101 - 50) / 64;
    g0[size_t(i)] = double((i * 53) % 97 - 48) / 32;
  }
  for (int64_t i = 0; i < rows * cols; ++i) t0[size_t(i)] = double((i * 11) % 29 - 14) / 16;
  for (int64_t i = 0; i < k; ++i) idx[size_t(i)] = double((i * 7919) % 600);  // rows 0..599, repeated
  for (int64_t i = 0; i < k * cols; ++i) vals[size_t(i)] = double((i * 13) % 31 - 15) / 16;
  variable w = make_variable(s, "w", ops::constant(s, make_tensor<double>({n}, w0)));
  variable table = make_variable(s, "table", ops::constant(s, make_tensor<double>({rows, cols}, t0)));
  train::adam adam_opt(0.1);
  train::ftrl ftrl_opt(0.1, 0.05, 0.02);
  auto a = adam_opt.apply_gradients(s, {{gradient::of(ops::constant(s, make_tensor<double>({n}, g0))), w}});
  gradient sparse{.indices = ops::constant(s, make_tensor<int64_t>({k}, idx)),
                  .values = ops::constant(s, make_tensor<double>({k, cols}, vals)),
                  .dense_like = table.value};
  auto f = ftrl_opt.apply_gradients(s, {{sparse, table}});
  ASSERT_TRUE(a.has_value() && f.has_value());
  session sess(g, test::the_platform().kernels(), {.num_threads = 4});
  std::vector<operation> init = initializers({w}, adam_opt);
  for (const operation& o : initializers({table}, ftrl_opt)) init.push_back(o);
  ASSERT_FALSE(run_targets(sess, init));
  ASSERT_FALSE(run_targets(sess, {*a, *f}));
  ref_state dense{w0, {std::vector<double>(size_t(n), 0.0), std::vector<double>(size_t(n), 0.0)}};
  dense.update_row(adam, 0, n, g0.data(), 1);
  expect_close<double>(doubles(fetch(sess, w.value)), dense.var, "dense adam");
  ref_state rows_ref{t0, {std::vector<double>(size_t(rows * cols), 0.1), std::vector<double>(size_t(rows * cols), 0.0)}};
  std::map<int64_t, std::vector<double>> summed;
  for (int64_t i = 0; i < k; ++i) {
    std::vector<double>& row = summed[int64_t(idx[size_t(i)])];
    row.resize(size_t(cols));
    for (int64_t j = 0; j < cols; ++j) row[size_t(j)] += vals[size_t(i * cols + j)];
  }
  for (const auto& [row, gv] : summed) rows_ref.update_row(ftrl, row, cols, gv.data(), 1);
  expect_close<double>(doubles(fetch(sess, table.value)), rows_ref.var, "sparse ftrl");
  expect_close<double>(doubles(fetch(sess, ftrl_opt.slot(table, "linear")->value)), rows_ref.slots[1],
                       "sparse ftrl linear");
}

// Few indices into many rows (the kernel sorts them to find repeats rather than marking
// rows in a table): repeats are still summed and other rows left alone.
TEST_F(optimizer_test, sparse_repeats_in_a_big_table_are_summed) {
  const int64_t rows = 20000;
  variable w = make_variable(s, "big", ops::fill(s, dtype::float32, tensor_shape{rows, 2}, 1.0));
  gradient sparse{.indices = ops::constant(s, test::vec<int64_t>({4}, {19999, 5, 19999, 0})),
                  .values = ops::constant(s, test::vec<float>({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8})),
                  .dense_like = w.value};
  train::momentum opt(0.5, 0.5);
  auto train = opt.apply_gradients(s, {{sparse, w}});
  ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 2});
  ASSERT_FALSE(run_targets(sess, initializers({w}, opt)));
  ASSERT_FALSE(run_targets(sess, {*train}));
  ASSERT_FALSE(run_targets(sess, {*train}));
  // accum = g then 1.5 g; w = 1 - 0.5 * 2.5 g.
  std::vector<double> got = doubles(fetch(sess, w.value));
  std::vector<double> want(size_t(rows * 2), 1.0);
  for (auto [row, g0, g1] : {std::tuple{19999, 6.0, 8.0}, std::tuple{5, 3.0, 4.0}, std::tuple{0, 7.0, 8.0}}) {
    want[size_t(row * 2)] = 1 - 1.25 * g0;
    want[size_t(row * 2 + 1)] = 1 - 1.25 * g1;
  }
  EXPECT_EQ(got, want);
}

// Adam's step is the global step + 1 when one is given (and it has no counter of its own).
TEST_F(optimizer_test, adam_counts_steps_with_the_global_step) {
  variable w = make_variable(s, "w", ops::constant(s, test::vec<double>({2}, {1.0, -1.0})));
  variable step = make_variable(s, "global_step", ops::constant(s, int64_t(4)));
  output grad = ph(dtype::float64, partial_shape{2});
  train::adam opt(0.1);
  auto train = opt.apply_gradients(s, {{gradient::of(grad), w}}, &step);
  ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
  EXPECT_EQ(opt.slots().size(), 2u);  // m and v: no iterations variable
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, initializers({w, step}, opt)));
  ref_state ref{{1.0, -1.0}, {{0, 0}, {0, 0}}};
  const opt_case adam = opt_cases()[4];
  ASSERT_EQ(adam.name, "adam");
  for (int64_t t = 5; t <= 6; ++t) {
    std::vector<double> gv = {0.5, double(t) - 7};
    ASSERT_FALSE(run_targets(sess, {*train}, {{grad, test::vec<double>({2}, gv)}}));
    ref.update_row(adam, 0, 2, gv.data(), t);
    expect_close<double>(doubles(fetch(sess, w.value)), ref.var, "w at step " + std::to_string(t));
  }
  EXPECT_EQ(fetch(sess, step.value).scalar_value<int64_t>(), 6);
}

// Two Adam optimizers in one graph count their own steps; one optimizer applied twice to a
// variable reuses its slots.
TEST_F(optimizer_test, optimizers_share_a_graph_and_reuse_slots) {
  variable a = make_variable(s, "a", ops::constant(s, test::vec<float>({1}, {1})));
  variable b = make_variable(s, "b", ops::constant(s, test::vec<float>({1}, {1})));
  output ga = ops::constant(s, test::vec<float>({1}, {1}));
  train::adam first(0.1), second(0.1);
  auto ta = first.apply_gradients(s, {{gradient::of(ga), a}});
  auto tb = second.apply_gradients(s, {{gradient::of(ga), b}});
  auto ta2 = first.apply_gradients(s, {{gradient::of(ops::neg(s, ga)), a}});
  ASSERT_TRUE(ta.has_value() && tb.has_value() && ta2.has_value()) << s.status().to_string();
  ASSERT_EQ(first.slots().size(), 3u);
  EXPECT_EQ(first.slots()[0].name, "adam/iterations");
  EXPECT_EQ(second.slots()[0].name, "adam_1/iterations");
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, initializers({a}, first)));
  ASSERT_FALSE(run_targets(sess, initializers({b}, second)));
  ASSERT_FALSE(run_targets(sess, {*ta, *tb}));
  ASSERT_FALSE(run_targets(sess, {*ta2}));
  EXPECT_EQ(fetch(sess, first.slots()[0].value).scalar_value<int64_t>(), 2);
  EXPECT_EQ(fetch(sess, second.slots()[0].value).scalar_value<int64_t>(), 1);
  // Adam's first step moves by lr whatever the gradient's size.
  expect_close<float>(doubles(fetch(sess, b.value)), {0.9}, "b");
}

// ---- errors -----------------------------------------------------------------------------

TEST_F(optimizer_test, uninitialized_variable_and_slot_are_named) {
  variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({2}, {1, 2})));
  output grad = ops::constant(s, test::vec<float>({2}, {1, 1}));
  train::momentum opt(0.1, 0.9);
  auto train = opt.apply_gradients(s, {{gradient::of(grad), w}});
  ASSERT_TRUE(train.has_value());
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  error e = run_targets(sess, {*train});
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), errc::failed_precondition);
  EXPECT_TRUE(test::contains(e.message(), "variable 'w' is not initialized")) << e.message();
  ASSERT_FALSE(run_targets(sess, {w.initializer}));
  e = run_targets(sess, {*train});
  ASSERT_TRUE(e);
  EXPECT_TRUE(test::contains(e.message(), "slot variable 'w/momentum/accum' of variable 'w' is not "
                                          "initialized"))
      << e.message();
  EXPECT_EQ(doubles(fetch(sess, w.value)), (std::vector<double>{1, 2}));
}

TEST_F(optimizer_test, gradient_shape_mismatch_names_both_shapes_and_writes_nothing) {
  variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  output grad = ph(dtype::float32);
  train::adagrad opt(0.1);
  auto train = opt.apply_gradients(s, {{gradient::of(grad), w}});
  ASSERT_TRUE(train.has_value());
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, initializers({w}, opt)));
  error e = run_targets(sess, {*train}, {{grad, test::vec<float>({3}, {1, 1, 1})}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), errc::invalid_argument);
  EXPECT_TRUE(test::contains(e.message(), "the gradient has shape [3] but variable 'w' has shape [2,3]"))
      << e.message();
  EXPECT_EQ(doubles(fetch(sess, w.value)), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(doubles(fetch(sess, opt.slot(w, "accum")->value)), std::vector<double>(6, float(0.1)));
}

TEST_F(optimizer_test, sparse_index_out_of_range_is_named_and_nothing_is_written) {
  variable w = make_variable(s, "table", ops::constant(s, test::vec<float>({3, 2}, {1, 2, 3, 4, 5, 6})));
  output idx = ph(dtype::int64, partial_shape{-1});
  output vals = ph(dtype::float32, partial_shape::unknown_dims(2));
  train::adam opt(0.1);
  gradient sparse{.indices = idx, .values = vals, .dense_like = w.value};
  auto train = opt.apply_gradients(s, {{sparse, w}});
  ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  ASSERT_FALSE(run_targets(sess, initializers({w}, opt)));
  error e = run_targets(sess, {*train}, {{idx, test::vec<int64_t>({3}, {0, 2, 3})},
                                         {vals, test::vec<float>({3, 2}, {1, 1, 1, 1, 1, 1})}});
  ASSERT_TRUE(e);
  EXPECT_TRUE(test::contains(e.message(), "index 3 at position 2 is out of range for variable 'table' "
                                          "with 3 rows"))
      << e.message();
  EXPECT_EQ(doubles(fetch(sess, w.value)), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(doubles(fetch(sess, opt.slot(w, "m")->value)), std::vector<double>(6, 0.0));
  // Rows of the wrong shape.
  e = run_targets(sess, {*train}, {{idx, test::vec<int64_t>({1}, {0})},
                                    {vals, test::vec<float>({1, 3}, {1, 1, 1})}});
  ASSERT_TRUE(e);
  EXPECT_TRUE(test::contains(e.message(), "the gradient rows (values [1,3]) do not match the rows of "
                                          "variable 'table' with shape [3,2]"))
      << e.message();
  EXPECT_EQ(doubles(fetch(sess, w.value)), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST_F(optimizer_test, build_errors_are_named) {
  variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({2}, {1, 2})));
  train::sgd sgd(0.1);
  auto none = sgd.apply_gradients(s, {{gradient{}, w}});
  ASSERT_FALSE(none.has_value());
  EXPECT_TRUE(test::contains(none.error_value().message(), "no gradient for any variable ('w')"))
      << none.error_value().message();
  // Slots need a fully known shape.
  variable p = make_variable(s, "p", ops::constant(s, test::vec<float>({2}, {1, 2})),
                             partial_shape{-1}, "");
  train::adam adam(0.1);
  auto partial = adam.apply_gradients(s, {{gradient::of(ph(dtype::float32)), p}});
  ASSERT_FALSE(partial.has_value());
  EXPECT_TRUE(test::contains(partial.error_value().message(), "variable 'p' has the shape [?]"))
      << partial.error_value().message();
  // A gradient of another dtype.
  auto wrong = sgd.apply_gradients(s, {{gradient::of(ph(dtype::float64)), w}});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(test::contains(wrong.error_value().message(), "the gradient of variable 'w' is float64 "
                                                            "but the variable is float32"))
      << wrong.error_value().message();
  // A learning rate that is not a scalar: the update op's shape function says so.
  train::sgd vec_lr(ops::constant(s, test::vec<float>({2}, {0.1f, 0.1f})));
  auto bad_lr = vec_lr.apply_gradients(s, {{gradient::of(ph(dtype::float32)), w}});
  ASSERT_FALSE(bad_lr.has_value());
  EXPECT_TRUE(test::contains(bad_lr.error_value().message(), "the learning rate (input 'lr') must be a "
                                                             "scalar, got shape [2]"))
      << bad_lr.error_value().message();
}

// ---- clipping ---------------------------------------------------------------------------

TEST_F(optimizer_test, clip_by_global_norm_scales_dense_and_sparse_gradients) {
  output dense = ops::constant(s, test::vec<float>({2}, {3, 4}));
  output idx = ops::constant(s, test::vec<int64_t>({1}, {1}));
  output vals = ops::constant(s, test::vec<float>({1, 2}, {12, 0}));
  output like = ops::constant(s, test::vec<float>({3, 2}, {0, 0, 0, 0, 0, 0}));
  std::vector<gradient> grads = {gradient::of(dense), gradient{},
                                 {.indices = idx, .values = vals, .dense_like = like}};
  output clip = ph(dtype::float32, partial_shape{});
  auto below = train::clip_by_global_norm(s, grads, 26.0);  // norm 13: unchanged
  auto above = train::clip_by_global_norm(s, grads, clip);
  ASSERT_TRUE(below.has_value()) << below.error_value().to_string();
  ASSERT_TRUE(above.has_value()) << above.error_value().to_string();
  EXPECT_FALSE(above->grads[1].valid());
  ASSERT_TRUE(above->grads[2].is_sparse());
  EXPECT_EQ(above->grads[2].indices.ep, idx.ep);
  session sess(g, test::the_platform().kernels(), {.num_threads = 1});
  auto r = sess.run(feeds{{clip, tensor::scalar(6.5f)}},
                    {below->global_norm, below->grads[0].dense, below->grads[2].values,
                     above->global_norm, above->grads[0].dense, above->grads[2].values});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ(doubles((*r)[0]), (std::vector<double>{13}));
  EXPECT_EQ(doubles((*r)[1]), (std::vector<double>{3, 4}));
  EXPECT_EQ(doubles((*r)[2]), (std::vector<double>{12, 0}));
  EXPECT_EQ(doubles((*r)[3]), (std::vector<double>{13}));
  EXPECT_EQ(doubles((*r)[4]), (std::vector<double>{1.5, 2}));
  EXPECT_EQ(doubles((*r)[5]), (std::vector<double>{6, 0}));
}

TEST_F(optimizer_test, clip_by_global_norm_of_an_infinite_norm_is_nan) {
  const float inf = std::numeric_limits<float>::infinity();
  auto c = train::clip_by_global_norm(s, {gradient::of(ops::constant(s, test::vec<float>({2}, {inf, 1})))}, 1.0);
  ASSERT_TRUE(c.has_value());
  auto no_grads = train::clip_by_global_norm(s, {gradient{}}, 1.0);
  ASSERT_FALSE(no_grads.has_value());
  std::vector<tensor> r = run_ok({}, {c->grads[0].dense});
  ASSERT_EQ(r.size(), 1u);
  for (double v : doubles(r[0])) EXPECT_TRUE(std::isnan(v));
}

// ---- schedules --------------------------------------------------------------------------

TEST_F(optimizer_test, schedules_at_several_steps) {
  output step = ph(dtype::int64, partial_shape{-1});
  output expo = train::learning_rate(s, train::exponential_decay(0.1, 10, 0.5), step);
  output stair = train::learning_rate(s, train::exponential_decay(0.1, 10, 0.5, true), step);
  output cosine = train::learning_rate(s, train::cosine_decay(1.0, 100, 0.1), step, dtype::float64);
  output warm = train::learning_rate(
      s, train::with_linear_warmup(train::exponential_decay(0.1, 10, 0.5, true), 4, 0.02), step,
      dtype::float64);
  output constant = train::learning_rate(s, train::constant_schedule(0.25), step);
  auto r = run({{step, test::vec<int64_t>({5}, {0, 5, 10, 15, 30})}}, {expo, stair, constant});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  expect_close<float>(doubles((*r)[0]), {0.1, 0.1 * std::sqrt(0.5), 0.05, 0.05 * std::sqrt(0.5), 0.0125}, "exponential");
  expect_close<float>(doubles((*r)[1]), {0.1, 0.1, 0.05, 0.05, 0.0125}, "staircase");
  expect_close<float>(doubles((*r)[2]), {0.25, 0.25, 0.25, 0.25, 0.25}, "constant");
  r = run({{step, test::vec<int64_t>({5}, {0, 50, 100, 150, 25})}}, {cosine});
  ASSERT_TRUE(r.has_value());
  // 0.1 + 0.9 * 0.5 * (1 + cos(pi / 4)) at step 25.
  expect_close<double>(doubles((*r)[0]), {1.0, 0.55, 0.1, 0.1, 0.1 + 0.45 * (1 + std::sqrt(0.5))}, "cosine");
  // Warm-up from 0.02 to 0.1 over 4 steps, then the staircase from step 4 on.
  r = run({{step, test::vec<int64_t>({6}, {0, 2, 3, 4, 13, 14})}}, {warm});
  ASSERT_TRUE(r.has_value());
  expect_close<double>(doubles((*r)[0]), {0.02, 0.06, 0.08, 0.1, 0.1, 0.05}, "warm-up");
  auto neg = run({{step, test::vec<int64_t>({2}, {3, -1})}}, {expo});
  ASSERT_FALSE(neg.has_value());
  EXPECT_TRUE(test::contains(neg.error_value().message(), "the step must not be negative, got -1 at position 1"))
      << neg.error_value().message();
}

TEST_F(optimizer_test, bad_schedule_attributes_are_build_errors) {
  train::learning_rate(s, train::exponential_decay(0.1, 0, 0.5), ph(dtype::int64));
  EXPECT_TRUE(test::contains(build_error(), "decay_steps must be at least 1, got 0"));
}

// A decaying learning rate fed by the global step drives plain gradient descent.
TEST_F(optimizer_test, a_schedule_drives_an_optimizer) {
  variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({1}, {0})));
  variable step = train::make_global_step(s);
  output lr = train::learning_rate(s, train::exponential_decay(1.0, 2, 0.5, true), step.value);
  train::sgd opt(lr);
  auto train = opt.apply_gradients(s, {{gradient::of(ops::constant(s, test::vec<float>({1}, {1}))), w}}, &step);
  ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
  session sess(g, test::the_platform().kernels(), {.num_threads = 2});
  ASSERT_FALSE(run_targets(sess, initializers({w, step}, opt)));
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(run_targets(sess, {*train}));
  // Steps 0..4 use 1, 1, 0.5, 0.5, 0.25.
  EXPECT_EQ(doubles(fetch(sess, w.value)), (std::vector<double>{-3.25}));
  EXPECT_EQ(fetch(sess, step.value).scalar_value<int64_t>(), 5);
}

// ---- minimize ---------------------------------------------------------------------------

struct minimize_case {
  std::string name;
  std::function<std::unique_ptr<train::optimizer>()> make;
  int steps;
  double tolerance;
};

// loss = sum((w - target)^2) from w = 0; a variable the loss ignores is left alone.
TEST(minimize, drives_a_quadratic_to_its_minimum_and_counts_steps) {
  const std::vector<minimize_case> cases = {
      {"sgd", [] { return std::make_unique<train::sgd>(0.1); }, 100, 1e-6},
      {"momentum", [] { return std::make_unique<train::momentum>(0.05, 0.9); }, 300, 1e-4},
      {"nesterov", [] { return std::make_unique<train::momentum>(0.05, 0.9, true); }, 300, 1e-4},
      {"adagrad", [] { return std::make_unique<train::adagrad>(0.5); }, 500, 1e-3},
      {"adam", [] { return std::make_unique<train::adam>(0.05); }, 800, 1e-2},
      {"ftrl", [] { return std::make_unique<train::ftrl>(0.5); }, 500, 1e-3},
  };
  for (const minimize_case& c : cases) {
    SCOPED_TRACE(c.name);
    graph g(test::the_platform().ops());
    scope s = scope::root(g);
    variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({3}, {0, 0, 0})));
    variable unused = make_variable(s, "unused", ops::constant(s, test::vec<float>({1}, {7})));
    variable step = train::make_global_step(s);
    output target = ops::constant(s, test::vec<float>({3}, {1, -2, 3}));
    output loss = ops::sum(s, ops::square(s, ops::sub(s, w.value, target)));
    auto opt = c.make();
    auto train = opt->minimize(s, loss, {w, unused}, &step);
    ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
    EXPECT_EQ(opt->slot(unused, "accum"), nullptr);
    session sess(g, test::the_platform().kernels(), {.num_threads = 2});
    ASSERT_FALSE(run_targets(sess, initializers({w, unused, step}, *opt)));
    for (int i = 0; i < c.steps; ++i) ASSERT_FALSE(run_targets(sess, {*train}));
    std::vector<double> got = doubles(fetch(sess, w.value));
    std::vector<double> want = {1, -2, 3};
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(got[i], want[i], c.tolerance) << "element " << i;
    EXPECT_EQ(doubles(fetch(sess, unused.value)), (std::vector<double>{7}));
    EXPECT_EQ(fetch(sess, step.value).scalar_value<int64_t>(), c.steps);
  }
}

// An embedding look-up gives a sparse gradient: the sparse update op is used, and rows the
// batch never looks up are left alone.
TEST(minimize, embedding_rows_update_sparsely) {
  for (const char* which : {"sgd", "adam"}) {
    SCOPED_TRACE(which);
    graph g(test::the_platform().ops());
    scope s = scope::root(g);
    variable table = make_variable(s, "table", ops::constant(s, test::vec<double>({4, 2}, {0, 0, 9, 9, 0, 0, 8, 8})));
    output rows = ops::gather(s, table.value, ops::constant(s, test::vec<int32_t>({3}, {1, 3, 1})));
    output target = ops::constant(s, test::vec<double>({3, 2}, {1, 2, -1, -2, 1, 2}));
    output loss = ops::sum(s, ops::square(s, ops::sub(s, rows, target)));
    std::unique_ptr<train::optimizer> opt;
    if (std::string(which) == "sgd") opt = std::make_unique<train::sgd>(0.1);
    else opt = std::make_unique<train::adam>(0.1);
    auto train = opt->minimize(s, loss, {table});
    ASSERT_TRUE(train.has_value()) << train.error_value().to_string();
    bool sparse_op = false;
    for (const node& n : g.nodes()) sparse_op = sparse_op || n.op == std::string("sparse_apply_") + which;
    EXPECT_TRUE(sparse_op) << "no sparse_apply_" << which << " node";
    session sess(g, test::the_platform().kernels(), {.num_threads = 2});
    ASSERT_FALSE(run_targets(sess, initializers({table}, *opt)));
    for (int i = 0; i < 400; ++i) ASSERT_FALSE(run_targets(sess, {*train}));
    std::vector<double> got = doubles(fetch(sess, table.value));
    std::vector<double> want = {0, 0, 1, 2, 0, 0, -1, -2};
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3) << "element " << i;
    EXPECT_EQ(got[0], 0.0);
    EXPECT_EQ(got[4], 0.0);
  }
}

TEST(minimize, a_loss_that_ignores_every_variable_is_an_error) {
  graph g(test::the_platform().ops());
  scope s = scope::root(g);
  variable w = make_variable(s, "w", ops::constant(s, test::vec<float>({1}, {1})));
  output loss = ops::sum(s, ops::constant(s, test::vec<float>({2}, {1, 2})));
  train::sgd opt(0.1);
  auto train = opt.minimize(s, loss, {w});
  ASSERT_FALSE(train.has_value());
  EXPECT_TRUE(test::contains(train.error_value().message(), "no gradient for any variable ('w')"))
      << train.error_value().message();
}

}  // namespace
}  // namespace troupe
