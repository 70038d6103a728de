#include "actors/train/data_parallel.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "kernels/platform.hpp"
#include "runtime/autodiff/gradients.hpp"
#include "runtime/exec/session.hpp"

namespace troupe::actors {

expected<replica_model> make_replica_model(std::shared_ptr<graph> g, const platform& p,
                                           output loss, const std::vector<variable>& vars,
                                           const std::vector<output>& inputs,
                                           const std::vector<std::string>& embeddings) {
  TROUPE_REQUIRE(!vars.empty(), "make_replica_model: no variables to train");
  std::vector<output> xs;
  for (const variable& v : vars) xs.push_back(v.value);
  scope s = scope::root(*g).sub("replica_gradients");
  std::vector<gradient> grads = TROUPE_TRY(add_gradients(s, {loss}, xs));
  TROUPE_TRY(s.status());
  replica_model m;
  m.loss = loss.name();
  for (const output& in : inputs) m.inputs.push_back(in.name());
  // Initial values: run the initializers once, on a session of their own.
  session init(*g, p.kernels(), {.num_threads = 1});
  std::vector<operation> initializers;
  std::vector<std::string> value_names;
  for (const variable& v : vars) {
    initializers.push_back(v.initializer);
    value_names.push_back(v.value.name());
  }
  std::vector<tensor> initial =
      TROUPE_TRY(init.run(std::vector<std::pair<output, tensor>>{}, xs, initializers));
  for (size_t i = 0; i < vars.size(); ++i) {
    const variable& v = vars[i];
    const gradient& gr = grads[i];
    TROUPE_REQUIRE(gr.valid(), "make_replica_model: the loss '", m.loss,
                   "' does not depend on variable '", v.name, "'");
    replica_variable rv;
    rv.name = v.name;
    rv.value = value_names[i];
    rv.type = v.type;
    rv.shape = initial[i].shape();
    rv.initial = initial[i];
    rv.embedding = std::find(embeddings.begin(), embeddings.end(), v.name) != embeddings.end();
    if (gr.is_sparse()) {
      rv.gradient_indices = gr.indices.name();
      rv.gradient_values = gr.values.name();
    } else {
      rv.dense_gradient = gr.dense.name();
    }
    m.variables.push_back(std::move(rv));
  }
  m.g = std::move(g);
  return m;
}

expected<std::unique_ptr<data_parallel_trainer>> data_parallel_trainer::make(
    caf::actor_system& sys, const platform& p, replica_model model, data_parallel_options opts) {
  TROUPE_REQUIRE(opts.replicas >= 1 && opts.shards >= 1, "data_parallel_trainer: ",
                 opts.replicas, " replicas and ", opts.shards,
                 " shards: expected at least 1 of each");
  std::unique_ptr<data_parallel_trainer> t(new data_parallel_trainer);
  t->sys_ = &sys;
  std::vector<variable_spec> specs;
  std::vector<piece_value> initial;
  for (const replica_variable& v : model.variables) {
    specs.push_back({v.name, v.type, v.shape, v.embedding});
    initial.push_back({v.name, v.initial});
  }
  t->plan_ = std::make_shared<const shard_plan>(
      TROUPE_TRY(shard_plan::make(std::move(specs), opts.shards, opts.plan)));
  for (int s = 0; s < opts.shards; ++s) {
    shard_options so;
    so.index = s;
    so.pieces = t->plan_->pieces_on(s);
    so.optimizer = opts.optimizer;
    so.mode = opts.mode;
    so.replicas = opts.replicas;
    so.backup_replicas = opts.backup_replicas;
    t->shards_.push_back(TROUPE_TRY(spawn_parameter_shard(sys, p, std::move(so))));
  }
  for (int r = 0; r < opts.replicas; ++r) {
    t->devices_.push_back(spawn_device(sys, model.g, p.kernels(),
                                       {.name = str_cat("/cpu:", r), .threads = opts.device_threads}));
  }
  shard_client client(sys, t->plan_, t->shards_);
  TROUPE_TRY(client.init(initial));
  t->model_ = std::move(model);
  t->opts_ = opts;
  return t;
}

data_parallel_trainer::~data_parallel_trainer() {
  for (auto& d : devices_) caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  for (auto& s : shards_) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

expected<std::vector<double>> data_parallel_trainer::train(int64_t steps,
                                                           const batch_source& batches) {
  const int replicas = opts_.replicas;
  std::vector<std::vector<double>> losses(static_cast<size_t>(replicas),
                                         std::vector<double>(static_cast<size_t>(steps)));
  std::mutex mu;
  error first;
  std::atomic<bool> failed{false};
  std::vector<std::string> names;
  for (const replica_variable& v : model_.variables) names.push_back(v.name);

  auto replica = [&](int r) -> error {
    // A replica waits in pull for the others' pushes (sync); if one fails the others
    // stop at their next step, or when the client's time-out ends a pull that waits.
    shard_client client(*sys_, plan_, shards_, std::chrono::seconds(30));
    caf::scoped_actor self(*sys_);
    for (int64_t t = 0; t < steps; ++t) {
      if (failed.load()) return {};
      const int64_t step = step_ + t;
      std::vector<tensor> values = TROUPE_TRY(client.pull(step, names));
      std::vector<tensor> batch = TROUPE_TRY(batches(r, step));
      TROUPE_REQUIRE(batch.size() == model_.inputs.size(), "batch for replica ", r, " at step ",
                     step, ": ", batch.size(), " tensors, expected ", model_.inputs.size());
      run_request req;
      for (size_t i = 0; i < batch.size(); ++i) req.feeds.emplace_back(model_.inputs[i], batch[i]);
      for (size_t i = 0; i < values.size(); ++i)
        req.feeds.emplace_back(model_.variables[i].value, values[i]);
      req.fetches.push_back(model_.loss);
      for (const replica_variable& v : model_.variables) {
        if (v.dense_gradient.empty()) {
          req.fetches.push_back(v.gradient_indices);
          req.fetches.push_back(v.gradient_values);
        } else {
          req.fetches.push_back(v.dense_gradient);
        }
      }
      expected<run_result> out = make_error(errc::deadline_exceeded, "no answer");
      self->request(devices_[size_t(r)], std::chrono::seconds(60), run_atom::value, std::move(req))
          .receive([&](run_result& res) { out = std::move(res); },
                   [&](caf::error& e) { out = from_caf(e); });
      run_result res = TROUPE_TRY(std::move(out));
      losses[size_t(r)][size_t(t)] = double(res.fetches[0].data<float>()[0]);
      std::vector<variable_gradient> grads;
      size_t k = 1;
      for (const replica_variable& v : model_.variables) {
        variable_gradient g{v.name, {}, {}, {}};
        if (v.dense_gradient.empty()) {
          g.indices = res.fetches[k++];
          g.values = res.fetches[k++];
        } else {
          g.dense = res.fetches[k++];
        }
        grads.push_back(std::move(g));
      }
      TROUPE_TRY(client.push(step, r, grads));
    }
    return {};
  };

  std::vector<std::thread> threads;
  for (int r = 0; r < replicas; ++r) {
    threads.emplace_back([&, r] {
      error e = replica(r);
      if (!e) return;
      failed.store(true);
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::move(e).with_context(str_cat("replica ", r));
    });
  }
  for (std::thread& th : threads) th.join();
  if (first) return first;
  step_ += steps;
  std::vector<double> mean(size_t(steps), 0.0);
  for (int64_t t = 0; t < steps; ++t) {
    for (int r = 0; r < replicas; ++r) mean[size_t(t)] += losses[size_t(r)][size_t(t)];
    mean[size_t(t)] /= double(replicas);
  }
  return mean;
}

expected<std::vector<tensor>> data_parallel_trainer::values(const std::vector<std::string>& names) {
  shard_client client(*sys_, plan_, shards_);
  return client.pull(step_, names);
}

}  // namespace troupe::actors
