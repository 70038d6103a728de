#include "actors/train/data_parallel.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "actors/testing/actor_test_util.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/nn_ops.hpp"

namespace troupe::actors {
namespace {

using testing::the_platform;

constexpr int64_t kFeatures = 6, kHidden = 8, kIds = 20, kDim = 3;

// A small regression model with a dense MLP and an embedding read by gather (so one
// variable has sparse gradients): y ~ mlp(concat(x, table[id])). Any batch size.
expected<replica_model> build_model() {
  auto g = std::make_shared<graph>(the_platform().ops());
  scope s = scope::root(*g);
  output x = ops::placeholder(s.with_name("x"), dtype::float32, partial_shape{-1, kFeatures});
  output id = ops::placeholder(s.with_name("id"), dtype::int64, partial_shape{-1});
  output y = ops::placeholder(s.with_name("y"), dtype::float32, partial_shape{-1, 1});
  auto var = [&](const std::string& name, int64_t rows, int64_t cols, int64_t seed) {
    return make_variable(s, name, ops::random_uniform(s, partial_shape{rows, cols},
                                                      dtype::float32, seed, -0.5, 0.5));
  };
  variable table = var("table", kIds, kDim, 1);
  variable w1 = var("w1", kFeatures + kDim, kHidden, 2);
  variable w2 = var("w2", kHidden, 1, 3);
  variable b1 = make_variable(s, "b1", ops::fill(s, dtype::float32, tensor_shape{kHidden}, 0.1));
  output in = ops::concat(s, {x, ops::gather(s, table.value, id)}, 1);
  output h = ops::relu(s, ops::bias_add(s, ops::matmul(s, in, w1.value), b1.value));
  output loss = ops::mean_squared_error(s, ops::matmul(s, h, w2.value), y);
  TROUPE_TRY(s.status());
  return make_replica_model(g, the_platform(), loss, {table, w1, b1, w2}, {x, id, y}, {"table"});
}

// The step's full batch of 2 * half rows; replica r of R gets its share.
struct dataset {
  int64_t rows;
  explicit dataset(int64_t r) : rows(r) {}
  std::vector<tensor> batch(int64_t step, int64_t begin, int64_t end) const {
    std::mt19937_64 rng(uint64_t(step) * 7919 + 17);
    std::normal_distribution<float> n;
    std::uniform_int_distribution<int64_t> pick(0, kIds - 1);
    tensor x(dtype::float32, {rows, kFeatures}), id(dtype::int64, {rows}), y(dtype::float32, {rows, 1});
    for (int64_t i = 0; i < rows; ++i) {
      float target = 0;
      for (int64_t j = 0; j < kFeatures; ++j) {
        float v = n(rng);
        x.data<float>()[i * kFeatures + j] = v;
        target += v * float(j % 3 - 1);
      }
      id.data<int64_t>()[i] = pick(rng);
      y.data<float>()[i] = target + 0.1f * float(id.data<int64_t>()[i] % 5);
    }
    auto rows_of = [&](const tensor& t) {
      tensor_shape sh = t.shape();
      int64_t width = t.num_elements() / rows;
      std::vector<int64_t> dims{end - begin};
      for (int d = 1; d < sh.rank(); ++d) dims.push_back(sh.dim(d));
      tensor out(t.dtype(), tensor_shape(dims));
      std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + begin * width * dtype_size(t.dtype()),
                  size_t((end - begin) * width) * dtype_size(t.dtype()));
      return out;
    };
    return {rows_of(x), rows_of(id), rows_of(y)};
  }
};

class data_parallel_test : public ::testing::Test {
 protected:
  system_config cfg;
  caf::actor_system sys{cfg};

  // Trains `steps` steps with `replicas` replicas splitting a batch of `rows` rows.
  std::vector<tensor> train(int replicas, int shards, int64_t steps, int64_t rows,
                            optimizer_spec opt, std::vector<double>* losses = nullptr,
                            int64_t split_bytes = int64_t(1) << 20) {
    auto model = build_model();
    EXPECT_TRUE(model.has_value()) << model.error_value().to_string();
    data_parallel_options o{.replicas = replicas, .shards = shards, .optimizer = opt};
    o.plan.split_bytes = split_bytes;
    auto t = data_parallel_trainer::make(sys, the_platform(), std::move(*model), o);
    EXPECT_TRUE(t.has_value()) << t.error_value().to_string();
    if (!t) return {};
    dataset data(rows);
    auto r = (*t)->train(steps, [&](int replica, int64_t step) -> expected<std::vector<tensor>> {
      int64_t share = rows / replicas;
      return data.batch(step, replica * share, (replica + 1) * share);
    });
    EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
    if (r && losses) *losses = *r;
    auto v = (*t)->values({"table", "w1", "b1", "w2"});
    EXPECT_TRUE(v.has_value()) << v.error_value().to_string();
    return v ? *v : std::vector<tensor>{};
  }
};

double max_abs_diff(const tensor& a, const tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double d = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i)
    d = std::max(d, double(std::abs(a.data<float>()[i] - b.data<float>()[i])));
  return d;
}

// The test: 2 replicas of batch B match 1 replica of batch 2B to 1e-5 after 100
// synchronous steps (the shards average the two gradients of a mean loss).
TEST_F(data_parallel_test, two_replicas_match_one_replica_of_twice_the_batch) {
  optimizer_spec sgd{.rule = "sgd", .learning_rate = 0.05};
  std::vector<double> losses;
  std::vector<tensor> one = train(1, 1, 100, 32, sgd);
  std::vector<tensor> two = train(2, 2, 100, 32, sgd, &losses, /*split_bytes=*/64);
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(two.size(), 4u);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_LT(max_abs_diff(one[i], two[i]), 1e-5) << i;
  // And it learned something.
  ASSERT_EQ(losses.size(), 100u);
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << losses.front() << " -> " << losses.back();
}

TEST_F(data_parallel_test, adam_with_three_shards_matches_too) {
  optimizer_spec adam{.rule = "adam", .learning_rate = 0.01};
  std::vector<tensor> one = train(1, 1, 30, 24, adam);
  std::vector<tensor> three = train(3, 3, 30, 24, adam, nullptr, 64);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_LT(max_abs_diff(one[i], three[i]), 1e-5) << i;
}

// Fault injection (Note [Recovery]): one run undisturbed, one where a device or a shard is
// killed mid-training. `kill` is called once, from replica 0's batch source at `at`.
struct fault_run {
  std::vector<tensor> values;
  std::map<int64_t, int> batches_per_step;  // batches handed to replica 0, by step
  int recoveries = 0;
};

fault_run run_with_fault(caf::actor_system& sys, int64_t at,
                         const std::function<void(data_parallel_trainer&)>& kill,
                         const std::string& checkpoint_dir) {
  fault_run out;
  auto model = build_model();
  EXPECT_TRUE(model.has_value());
  data_parallel_options o{.replicas = 2, .shards = 2,
                          .optimizer = {.rule = "adam", .learning_rate = 0.01}};
  o.plan.split_bytes = 64;
  o.checkpoint_dir = checkpoint_dir;
  o.checkpoint_every = 10;
  o.request_timeout = std::chrono::seconds(10);
  auto t = data_parallel_trainer::make(sys, the_platform(), std::move(*model), o);
  EXPECT_TRUE(t.has_value()) << t.error_value().to_string();
  if (!t) return out;
  dataset data(16);
  std::mutex mu;
  bool killed = false;
  auto r = (*t)->train(60, [&](int replica, int64_t step) -> expected<std::vector<tensor>> {
    if (replica == 0) {
      std::lock_guard<std::mutex> lock(mu);
      ++out.batches_per_step[step];
      if (step == at && !killed && kill) {
        killed = true;
        kill(**t);
      }
    }
    return data.batch(step, replica * 8, (replica + 1) * 8);
  });
  EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
  out.recoveries = (*t)->recoveries();
  auto v = (*t)->values({"table", "w1", "b1", "w2"});
  EXPECT_TRUE(v.has_value()) << v.error_value().to_string();
  if (v) out.values = *v;
  return out;
}

TEST_F(data_parallel_test, a_killed_device_is_restarted_and_its_step_retried) {
  testing::temp_dir a, b;
  fault_run clean = run_with_fault(sys, -1, nullptr, a.path.string());
  fault_run hurt = run_with_fault(sys, 23, [](data_parallel_trainer& t) {
    caf::anon_send_exit(t.device(1), caf::exit_reason::kill);
  }, b.path.string());
  ASSERT_EQ(hurt.values.size(), clean.values.size());
  for (size_t i = 0; i < clean.values.size(); ++i)
    EXPECT_LT(max_abs_diff(clean.values[i], hurt.values[i]), 1e-6) << i;
  EXPECT_EQ(hurt.recoveries, 0);  // no roll-back: the device held no state
  for (const auto& [step, n] : hurt.batches_per_step) EXPECT_EQ(n, 1) << "step " << step;
  EXPECT_EQ(hurt.batches_per_step.size(), 60u);
}

// A killed shard: every shard rolls back to the checkpoint of step 20 and the steps after
// it are redone with the same batches; the result is the undisturbed run's, and no batch
// before the checkpoint is used twice.
TEST_F(data_parallel_test, a_killed_shard_rolls_back_to_the_checkpoint_and_catches_up) {
  testing::temp_dir a, b;
  fault_run clean = run_with_fault(sys, -1, nullptr, a.path.string());
  fault_run hurt = run_with_fault(sys, 27, [](data_parallel_trainer& t) {
    caf::anon_send_exit(t.shard(1), caf::exit_reason::kill);
  }, b.path.string());
  ASSERT_EQ(hurt.values.size(), clean.values.size());
  for (size_t i = 0; i < clean.values.size(); ++i)
    EXPECT_LT(max_abs_diff(clean.values[i], hurt.values[i]), 1e-6) << i;
  EXPECT_EQ(hurt.recoveries, 1);
  EXPECT_EQ(hurt.batches_per_step.size(), 60u);  // none lost
  for (const auto& [step, n] : hurt.batches_per_step) {
    if (step < 20 || step > 28) EXPECT_EQ(n, 1) << "step " << step;
    else EXPECT_LE(n, 2) << "step " << step;  // redone after the roll-back
  }
  EXPECT_EQ(hurt.batches_per_step[20], 2);
}

TEST_F(data_parallel_test, a_failing_batch_stops_training_with_the_replica_named) {
  auto model = build_model();
  ASSERT_TRUE(model.has_value());
  auto t = data_parallel_trainer::make(sys, the_platform(), std::move(*model),
                                       {.replicas = 2, .shards = 1});
  ASSERT_TRUE(t.has_value()) << t.error_value().to_string();
  dataset data(8);
  auto r = (*t)->train(5, [&](int replica, int64_t step) -> expected<std::vector<tensor>> {
    if (replica == 1 && step == 2) return make_error(errc::data_loss, "bad file");
    return data.batch(step, 0, 4);
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::data_loss);
  EXPECT_NE(r.error_value().message().find("replica 1"), std::string::npos)
      << r.error_value().message();
}

TEST_F(data_parallel_test, a_batch_of_the_wrong_shape_names_the_input) {
  auto model = build_model();
  ASSERT_TRUE(model.has_value());
  auto t = data_parallel_trainer::make(sys, the_platform(), std::move(*model),
                                       {.replicas = 1, .shards = 1});
  ASSERT_TRUE(t.has_value());
  auto r = (*t)->train(1, [&](int, int64_t) -> expected<std::vector<tensor>> {
    return std::vector<tensor>{tensor(dtype::float32, {4, 5}), tensor(dtype::int64, {4}),
                               tensor(dtype::float32, {4, 1})};
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  EXPECT_NE(r.error_value().message().find("x"), std::string::npos) << r.error_value().message();
}

TEST_F(data_parallel_test, a_variable_the_loss_ignores_is_an_error) {
  auto g = std::make_shared<graph>(the_platform().ops());
  scope s = scope::root(*g);
  output x = ops::placeholder(s.with_name("x"), dtype::float32, partial_shape{-1, 2});
  variable w = make_variable(s, "w", ops::fill(s, dtype::float32, tensor_shape{2, 1}, 1.0));
  variable unused = make_variable(s, "unused", ops::fill(s, dtype::float32, tensor_shape{3}, 0.0));
  output loss = ops::mean(s, ops::matmul(s, x, w.value));
  auto m = make_replica_model(g, the_platform(), loss, {w, unused}, {x});
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error_value().message().find("'unused'"), std::string::npos)
      << m.error_value().message();
}

}  // namespace
}  // namespace troupe::actors
