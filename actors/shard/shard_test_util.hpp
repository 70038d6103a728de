#pragma once

// Helpers shared by the parameter-shard tests (actors/shard/*_test.cpp): the platform, an
// actor-system fixture with a temporary directory, blocking requests, deterministic
// tensors, and a single-session reference model that applies the same gradients with the
// same optimizer in one session, against which sharded updates are compared.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/shard/shard_client.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"

namespace troupe::actors::test {

inline const platform& the_platform() {
  static const platform p;
  return p;
}

/// A deterministic pseudo-random float32 tensor (values in [-1, 1)).
inline tensor random_tensor(const tensor_shape& shape, uint64_t seed, dtype t = dtype::float32) {
  tensor out(t, shape);
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  visit_dtype(t, [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      for (T& v : out.values<T>()) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v = T(double(x >> 11) / double(uint64_t(1) << 53) * 2.0 - 1.0);
      }
    }
  });
  return out;
}

inline std::vector<double> doubles(const tensor& t) {
  std::vector<double> out;
  visit_dtype(t.dtype(), [&]<class T>() {
    if constexpr (std::is_arithmetic_v<T>)
      for (T v : t.values<T>()) out.push_back(double(v));
  });
  return out;
}

/// Same dtype and shape, and every element within tol * (1 + |want|).
inline ::testing::AssertionResult near(const tensor& got, const tensor& want, double tol = 1e-6) {
  if (!got.valid() || !want.valid()) return ::testing::AssertionFailure() << "invalid tensor";
  if (got.dtype() != want.dtype() || !(got.shape() == want.shape()))
    return ::testing::AssertionFailure() << got.debug_string() << " vs " << want.debug_string();
  auto g = doubles(got), w = doubles(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::abs(g[i] - w[i]) <= tol * (1 + std::abs(w[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << " vs " << w[i]
                                           << "\n  got  " << got.debug_string(16)
                                           << "\n  want " << want.debug_string(16);
  }
  return ::testing::AssertionSuccess();
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The variables and optimizer of a model trained in one session: the reference.
/// step() applies whole-variable gradients with apply_gradients, one run per step.
class reference_model {
 public:
  reference_model(const std::vector<variable_spec>& vars, const std::vector<piece_value>& init,
                  const optimizer_spec& spec)
      : g_(the_platform().ops()) {
    auto opt = make_optimizer(spec);
    EXPECT_TRUE(opt.has_value()) << opt.error_value().to_string();
    opt_ = std::move(*opt);
    scope root = scope::root(g_);
    for (const variable_spec& v : vars) {
      tensor value;
      for (const piece_value& pv : init)
        if (pv.name == v.name) value = pv.value;
      vars_[v.name] = make_variable(root, v.name, ops::constant(root.sub(v.name), value));
    }
    sess_ = std::make_unique<session>(g_, the_platform().kernels(), session_options{.num_threads = 1});
  }

  void step(const std::vector<variable_gradient>& grads) {
    std::string key;
    for (const variable_gradient& gr : grads) key += gr.name + (gr.dense.valid() ? "d;" : "s;");
    auto it = ops_.find(key);
    if (it == ops_.end()) it = ops_.emplace(key, build(grads)).first;
    std::vector<std::pair<output, tensor>> feeds;
    for (size_t i = 0; i < grads.size(); ++i) {
      const variable_gradient& gr = grads[i];
      if (gr.dense.valid()) {
        feeds.emplace_back(it->second.inputs[i][0], gr.dense);
      } else {
        tensor idx = gr.indices;
        if (idx.dtype() == dtype::int32) {
          idx = tensor(dtype::int64, gr.indices.shape());
          for (int64_t j = 0; j < idx.num_elements(); ++j)
            idx.data<int64_t>()[j] = gr.indices.data<int32_t>()[j];
        }
        feeds.emplace_back(it->second.inputs[i][0], idx);
        feeds.emplace_back(it->second.inputs[i][1], gr.values);
      }
    }
    if (!initialized_) {
      std::vector<operation> inits;
      for (auto& [n, v] : vars_) inits.push_back(v.initializer);
      for (const variable& v : opt_->slots()) inits.push_back(v.initializer);
      auto r = sess_->run(std::vector<std::pair<output, tensor>>{}, {}, inits);
      ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
      initialized_ = true;
    }
    auto r = sess_->run(feeds, {}, {it->second.train});
    ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  }

  tensor value(const std::string& name) {
    auto r = sess_->run(std::vector<std::pair<output, tensor>>{}, {vars_.at(name).value});
    EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
    return r ? (*r)[0] : tensor();
  }

 private:
  struct train_op {
    std::vector<std::vector<output>> inputs;  // per gradient: {dense} or {indices, values}
    operation train;
  };
  // Built before the first run, so the slots are created before their initializers run
  // (every test's first step names every variable it will ever update, in one form).
  train_op build(const std::vector<variable_gradient>& grads) {
    scope root = scope::root(g_);
    train_op t;
    std::vector<std::pair<gradient, variable>> pairs;
    for (const variable_gradient& gr : grads) {
      const variable& v = vars_.at(gr.name);
      if (gr.dense.valid()) {
        output d = ops::placeholder(root, v.type, v.shape);
        t.inputs.push_back({d});
        pairs.push_back({gradient::of(d), v});
      } else {
        std::vector<int64_t> dims(v.shape.dims().begin(), v.shape.dims().end());
        dims[0] = -1;
        output i = ops::placeholder(root, dtype::int64, {-1});
        output val = ops::placeholder(root, v.type, partial_shape(std::span<const int64_t>(dims)));
        t.inputs.push_back({i, val});
        pairs.push_back({gradient{.indices = i, .values = val}, v});
      }
    }
    auto op = opt_->apply_gradients(root, pairs);
    EXPECT_TRUE(op.has_value()) << op.error_value().to_string();
    if (op) t.train = *op;
    return t;
  }

  graph g_;
  std::unique_ptr<train::optimizer> opt_;
  std::map<std::string, variable> vars_;
  std::map<std::string, train_op> ops_;
  std::unique_ptr<session> sess_;
  bool initialized_ = false;
};

/// An actor system, a temporary directory, and blocking requests.
class shard_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           str_cat("troupe_shard_", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                   "_", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& a : spawned_) self_->send_exit(a, caf::exit_reason::user_shutdown);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  parameter_shard_actor spawn(shard_options opts) {
    opts.checkpoints.fsync = false;
    auto a = spawn_parameter_shard(sys_, the_platform(), std::move(opts));
    EXPECT_TRUE(a.has_value()) << a.error_value().to_string();
    if (!a) return {};
    spawned_.push_back(*a);
    return *a;
  }

  /// Sends the request and waits for its answer (10 s at most).
  template <class R, class... Ts>
  expected<R> ask(const parameter_shard_actor& a, Ts&&... xs) {
    expected<R> out = make_error(errc::internal, "no answer");
    self_->request(a, std::chrono::seconds(10), std::forward<Ts>(xs)...)
        .receive([&](R& r) { out = std::move(r); },
                 [&](caf::error& e) { out = from_caf(e); });
    return out;
  }

  system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  std::filesystem::path dir_;
  std::vector<parameter_shard_actor> spawned_;
};

}  // namespace troupe::actors::test
