// Training throughput of troupe on the shapes of bench/train_peers.py (the same models
// in PyTorch and TensorFlow); bench/train_vs_peers.py runs all three side by side.
//
//   build/bench/train_bench [--threads N] [--configs mlp_b32_sgd,...] [--seconds S]
//                           [--path session|actor]
//
// --path actor sends every step to a device actor (actors/device) from a blocking
// requester, as a training loop driving actors does; the difference to --path session
// is the actor path's overhead.
//
// Prints one JSON line per configuration:
//   {"system": "troupe", "config": "mlp_b32_sgd", "threads": 1, "examples_per_s": 12345.6}

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "actors/device/device_actor.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "runtime/ops/variable_ops.hpp"
#include "runtime/train/optimizer.hpp"

namespace troupe {
namespace {

constexpr int kPool = 16;  // batches made ahead, as in train_peers.py

struct config {
  std::string name;
  std::string kind;  // "mlp" or "wd"
  int64_t batch = 0;
  std::string optimizer;
};

expected<config> parse_config(const std::string& name) {
  config c{.name = name};
  size_t a = name.find('_'), b = name.find('_', a + 1);
  TROUPE_REQUIRE(a != std::string::npos && b != std::string::npos && name[a + 1] == 'b',
                 "config '", name, "' is not KIND_bBATCH_OPTIMIZER (e.g. mlp_b32_sgd)");
  c.kind = name.substr(0, a);
  c.batch = std::atoll(name.substr(a + 2, b - a - 2).c_str());
  c.optimizer = name.substr(b + 1);
  TROUPE_REQUIRE((c.kind == "mlp" || c.kind == "wd") && c.batch > 0, "config '", name,
                 "': unknown model or batch");
  return c;
}

// A dense layer with Glorot-uniform weights and zero biases, as Keras' and PyTorch's
// default-ish initializers (the speed does not depend on them).
struct dense_layer {
  variable w, b;
};

dense_layer make_dense(const scope& s, const std::string& name, int64_t in, int64_t out,
                       int64_t seed) {
  double limit = std::sqrt(6.0 / double(in + out));
  scope ls = s.sub(name);
  return {make_variable(ls, "w", ops::random_uniform(ls, partial_shape{in, out}, dtype::float32,
                                                     seed, -limit, limit)),
          make_variable(ls, "b", ops::fill(ls, dtype::float32, tensor_shape{out}, 0.0))};
}

output apply_dense(const scope& s, const dense_layer& l, output x, bool relu) {
  output y = ops::bias_add(s, ops::matmul(s, x, l.w.value), l.b.value);
  return relu ? ops::relu(s, y) : y;
}

std::unique_ptr<train::optimizer> make_optimizer(const std::string& name) {
  if (name == "sgd") return std::make_unique<train::sgd>(0.01);
  if (name == "adam") return std::make_unique<train::adam>(0.001);
  if (name == "adagrad") return std::make_unique<train::adagrad>(0.01);
  return nullptr;
}

tensor random_tensor(dtype t, const tensor_shape& shape, std::mt19937_64& rng, int64_t hi) {
  tensor out(t, shape);
  if (t == dtype::float32) {
    std::normal_distribution<float> n;
    for (float& v : out.values<float>()) v = n(rng);
  } else {
    std::uniform_int_distribution<int64_t> u(0, hi - 1);
    for (int64_t& v : out.values<int64_t>()) v = u(rng);
  }
  return out;
}

// One model ready to train: the graph, its session, the train op and fed batches.
struct bench_model {
  std::shared_ptr<graph> g;
  std::vector<output> inputs;
  std::vector<std::vector<tensor>> pool;  // kPool batches, one tensor per input
  operation train;
  operation init;
};

expected<bench_model> build(const platform& plat, const config& c) {
  bench_model m;
  m.g = std::make_shared<graph>(plat.ops());
  scope s = scope::root(*m.g);
  std::mt19937_64 rng(1);
  std::vector<variable> vars;
  output loss;
  if (c.kind == "mlp") {
    output x = ops::placeholder(s, dtype::float32, partial_shape{c.batch, 784});
    output y = ops::placeholder(s, dtype::int64, partial_shape{c.batch});
    dense_layer l1 = make_dense(s, "l1", 784, 256, 1), l2 = make_dense(s, "l2", 256, 256, 2),
                l3 = make_dense(s, "l3", 256, 10, 3);
    output h = apply_dense(s, l1, x, true);
    h = apply_dense(s, l2, h, true);
    output logits = apply_dense(s, l3, h, false);
    loss = ops::mean(s, ops::sparse_softmax_cross_entropy_with_logits(s, logits, y).loss);
    vars = {l1.w, l1.b, l2.w, l2.b, l3.w, l3.b};
    m.inputs = {x, y};
    for (int i = 0; i < kPool; ++i) {
      m.pool.push_back({random_tensor(dtype::float32, {c.batch, 784}, rng, 0),
                        random_tensor(dtype::int64, {c.batch}, rng, 10)});
    }
  } else {
    constexpr int64_t dense = 13, cats = 26, buckets = 10000, dim = 16;
    output dense_x = ops::placeholder(s, dtype::float32, partial_shape{c.batch, dense});
    output ids = ops::placeholder(s, dtype::int64, partial_shape{c.batch, cats});
    output label = ops::placeholder(s, dtype::float32, partial_shape{c.batch, 1});
    std::vector<output> deep_in = {dense_x};
    output wide;
    for (int64_t j = 0; j < cats; ++j) {
      scope fs = s.sub(str_cat("cat", j));
      output col = ops::reshape(fs, ops::slice(fs, ids, {0, j}, {-1, 1}), {-1});
      variable table = make_variable(
          fs, "embedding",
          ops::random_uniform(fs, partial_shape{buckets, dim}, dtype::float32, 10 + j, -0.05, 0.05));
      variable weight = make_variable(fs, "wide", ops::fill(fs, dtype::float32, {buckets, 1}, 0.0));
      deep_in.push_back(ops::gather(fs, table.value, col));
      output w = ops::gather(fs, weight.value, col);
      wide = j == 0 ? w : ops::add(fs, wide, w);
      vars.push_back(table);
      vars.push_back(weight);
    }
    dense_layer l1 = make_dense(s, "l1", dense + cats * dim, 512, 1),
                l2 = make_dense(s, "l2", 512, 256, 2), l3 = make_dense(s, "l3", 256, 1, 3);
    variable bias = make_variable(s, "wide_bias", ops::fill(s, dtype::float32, {1}, 0.0));
    output h = apply_dense(s, l1, ops::concat(s, deep_in, 1), true);
    h = apply_dense(s, l2, h, true);
    output logit = ops::add(s, ops::add(s, apply_dense(s, l3, h, false), wide), bias.value);
    loss = ops::mean(s, ops::sigmoid_cross_entropy_with_logits(s, logit, label));
    for (const auto& l : {l1, l2, l3}) {
      vars.push_back(l.w);
      vars.push_back(l.b);
    }
    vars.push_back(bias);
    m.inputs = {dense_x, ids, label};
    std::uniform_int_distribution<int> coin(0, 1);
    for (int i = 0; i < kPool; ++i) {
      tensor lab(dtype::float32, {c.batch, 1});
      for (float& v : lab.values<float>()) v = float(coin(rng));
      m.pool.push_back({random_tensor(dtype::float32, {c.batch, dense}, rng, 0),
                        random_tensor(dtype::int64, {c.batch, cats}, rng, buckets), lab});
    }
  }
  std::unique_ptr<train::optimizer> opt = make_optimizer(c.optimizer);
  TROUPE_REQUIRE(opt != nullptr, "config '", c.name, "': unknown optimizer '", c.optimizer, "'");
  m.train = TROUPE_TRY(opt->minimize(s.sub("train"), loss, vars));
  std::vector<variable> all = vars;
  for (const variable& v : opt->slots()) all.push_back(v);
  m.init = ops::initialize_all(s, all);
  TROUPE_TRY(s.status());
  return m;
}

// Runs `step` for at least `seconds` (and 5 steps) after 10 warm-up steps.
expected<double> time_steps(const config& c, double seconds, const std::function<error()>& step) {
  for (int w = 0; w < 10; ++w) TROUPE_TRY(step());
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  int64_t n = 0;
  while (true) {
    TROUPE_TRY(step());
    ++n;
    double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    if (elapsed >= seconds && n >= 5) return double(c.batch) * double(n) / elapsed;
  }
}

expected<double> examples_per_second(const platform& plat, const config& c, int threads,
                                     double seconds, bool actor_path) {
  bench_model m = TROUPE_TRY(build(plat, c));
  int64_t i = 0;
  if (actor_path) {
    actors::system_config cfg;
    caf::actor_system sys(cfg);
    caf::scoped_actor self(sys);
    auto dev = actors::spawn_device(sys, m.g, plat.kernels(), {.threads = threads});
    auto request = [&](actors::run_request req) -> error {
      error e;
      self->request(dev, caf::infinite, actors::run_atom::value, std::move(req))
          .receive([](actors::run_result&) {}, [&](caf::error& err) { e = actors::from_caf(err); });
      return e;
    };
    const std::string train = m.g->at(m.train.node).name;
    TROUPE_TRY(request({{}, {}, {m.g->at(m.init.node).name}}));
    std::vector<std::string> names;
    for (const output& in : m.inputs) names.push_back(in.name());
    auto eps = time_steps(c, seconds, [&]() -> error {
      const auto& batch = m.pool[size_t(i++ % kPool)];
      actors::run_request req{{}, {}, {train}};
      for (size_t k = 0; k < names.size(); ++k) req.feeds.emplace_back(names[k], batch[k]);
      return request(std::move(req));
    });
    self->send_exit(dev, caf::exit_reason::user_shutdown);
    return eps;
  }
  session sess(*m.g, plat.kernels(), {.num_threads = threads});
  TROUPE_TRY(sess.run(std::vector<std::pair<output, tensor>>{}, {}, {m.init}));
  std::vector<std::pair<output, tensor>> feeds(m.inputs.size());
  return time_steps(c, seconds, [&]() -> error {
    const auto& batch = m.pool[size_t(i++ % kPool)];
    for (size_t k = 0; k < feeds.size(); ++k) feeds[k] = {m.inputs[k], batch[k]};
    TROUPE_TRY(sess.run(feeds, {}, {m.train}));
    return {};
  });
}

int run(int argc, char** argv) {
  int threads = 1;
  double seconds = 1.5;
  bool actor_path = false;
  std::string configs =
      "mlp_b32_sgd,mlp_b32_adam,mlp_b256_sgd,mlp_b256_adam,wd_b512_adagrad,wd_b512_adam";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--configs" && i + 1 < argc) configs = argv[++i];
    else if (a == "--path" && i + 1 < argc && (std::string(argv[i + 1]) == "session" ||
                                               std::string(argv[i + 1]) == "actor"))
      actor_path = std::string(argv[++i]) == "actor";
    else {
      std::fprintf(stderr,
                   "usage: train_bench [--threads N] [--configs a,b] [--seconds S] "
                   "[--path session|actor]\n");
      return 2;
    }
  }
  platform plat;
  std::stringstream list(configs);
  for (std::string name; std::getline(list, name, ',');) {
    auto c = parse_config(name);
    auto eps = c ? examples_per_second(plat, *c, threads, seconds, actor_path) : expected<double>(c.error_value());
    if (!eps) {
      std::fprintf(stderr, "train_bench: %s\n", eps.error_value().to_string().c_str());
      return 1;
    }
    std::printf("{\"system\": \"troupe\", \"config\": \"%s\", \"threads\": %d, "
                "\"path\": \"%s\", \"examples_per_s\": %.1f}\n",
                name.c_str(), threads, actor_path ? "actor" : "session", *eps);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace troupe

int main(int argc, char** argv) { return troupe::run(argc, argv); }
