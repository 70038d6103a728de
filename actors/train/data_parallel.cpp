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

namespace {

template <class T>
expected<T> ask_supervisor(caf::actor_system& sys, const supervisor_actor& sup,
                           std::chrono::milliseconds timeout, const auto&... xs) {
  caf::scoped_actor self(sys);
  expected<T> out = make_error(errc::deadline_exceeded, "supervisor: no answer");
  self->request(sup, timeout, xs...)
      .receive([&](T& v) { out = std::move(v); }, [&](caf::error& e) { out = from_caf(e); });
  return out;
}

std::string device_name(int r) { return str_cat("/cpu:", r); }
std::string shard_name(int s) { return str_cat("shard:", s); }

}  // namespace

expected<std::unique_ptr<data_parallel_trainer>> data_parallel_trainer::make(
    caf::actor_system& sys, const platform& p, replica_model model, data_parallel_options opts) {
  TROUPE_REQUIRE(opts.replicas >= 1 && opts.shards >= 1, "data_parallel_trainer: ",
                 opts.replicas, " replicas and ", opts.shards,
                 " shards: expected at least 1 of each");
  std::unique_ptr<data_parallel_trainer> t(new data_parallel_trainer);
  t->sys_ = &sys;
  std::vector<variable_spec> specs;
  for (const replica_variable& v : model.variables) {
    specs.push_back({v.name, v.type, v.shape, v.embedding});
    t->initial_.push_back({v.name, v.initial});
  }
  t->plan_ = std::make_shared<const shard_plan>(
      TROUPE_TRY(shard_plan::make(std::move(specs), opts.shards, opts.plan)));
  // Every device and shard is a child of one supervisor (Note [Recovery]).
  std::vector<child_spec> children;
  for (int r = 0; r < opts.replicas; ++r) {
    children.push_back(
        {device_name(r), [g = model.g, kernels = &p.kernels(), r, threads = opts.device_threads](
                             caf::actor_system& s, int) -> expected<caf::actor> {
           return caf::actor_cast<caf::actor>(
               spawn_device(s, g, *kernels, {.name = device_name(r), .threads = threads}));
         }});
  }
  for (int i = 0; i < opts.shards; ++i) {
    shard_options so;
    so.index = i;
    so.pieces = t->plan_->pieces_on(i);
    so.optimizer = opts.optimizer;
    so.mode = opts.mode;
    so.replicas = opts.replicas;
    so.backup_replicas = opts.backup_replicas;
    children.push_back({shard_name(i), [so, pp = &p](caf::actor_system& s, int) -> expected<caf::actor> {
                          return caf::actor_cast<caf::actor>(
                              TROUPE_TRY(spawn_parameter_shard(s, *pp, so)));
                        }});
  }
  t->opts_ = opts;
  t->supervisor_ = spawn_supervisor(sys, "data_parallel", std::move(children), opts.restarts);
  for (int r = 0; r < opts.replicas; ++r) {
    caf::actor h = TROUPE_TRY(ask_supervisor<caf::actor>(sys, t->supervisor_, opts.request_timeout,
                                                         get_atom::value, device_name(r)));
    t->devices_.push_back(caf::actor_cast<device_actor>(h));
  }
  for (int i = 0; i < opts.shards; ++i) {
    caf::actor h = TROUPE_TRY(ask_supervisor<caf::actor>(sys, t->supervisor_, opts.request_timeout,
                                                         get_atom::value, shard_name(i)));
    t->shards_.push_back(caf::actor_cast<parameter_shard_actor>(h));
  }
  t->model_ = std::move(model);
  shard_client client(sys, t->plan_, t->shards_, opts.request_timeout);
  TROUPE_TRY(client.init(t->initial_));
  if (!opts.checkpoint_dir.empty()) TROUPE_TRY(t->save());
  t->known_restarts_ = TROUPE_TRY(t->total_restarts());
  return t;
}

data_parallel_trainer::~data_parallel_trainer() {
  // The supervisor stops its children.
  if (supervisor_) caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
}

device_actor data_parallel_trainer::device(int replica) const { return devices_.at(size_t(replica)); }
parameter_shard_actor data_parallel_trainer::shard(int index) const {
  return shards_.at(size_t(index));
}

expected<int> data_parallel_trainer::total_restarts() {
  supervisor_stats st = TROUPE_TRY(ask_supervisor<supervisor_stats>(
      *sys_, supervisor_, opts_.request_timeout, stats_atom::value));
  int n = 0;
  for (const auto& [name, count] : st.restarts) n += count;
  return n;
}

expected<caf::actor> data_parallel_trainer::restarted(const std::string& name,
                                                      const caf::actor& old) {
  auto deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
  for (;;) {
    caf::actor h = TROUPE_TRY(ask_supervisor<caf::actor>(*sys_, supervisor_, opts_.request_timeout,
                                                         get_atom::value, name));
    if (h && h != old) return h;
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::unavailable, "data_parallel_trainer: '", name,
                        "' failed and was not restarted in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

error data_parallel_trainer::save() {
  shard_client client(*sys_, plan_, shards_, opts_.request_timeout);
  TROUPE_TRY(client.save(opts_.checkpoint_dir, step_));
  return {};
}

error data_parallel_trainer::recover() {
  // Wait until the supervisor has restarted whoever failed.
  auto deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
  int now = TROUPE_TRY(total_restarts());
  while (now <= known_restarts_) {
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::unavailable,
                        "data_parallel_trainer: a shard or device failed and was not restarted");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    now = TROUPE_TRY(total_restarts());
  }
  known_restarts_ = now;
  for (int r = 0; r < opts_.replicas; ++r) {
    caf::actor h = TROUPE_TRY(ask_supervisor<caf::actor>(*sys_, supervisor_, opts_.request_timeout,
                                                         get_atom::value, device_name(r)));
    devices_[size_t(r)] = caf::actor_cast<device_actor>(h);
  }
  for (int i = 0; i < opts_.shards; ++i) {
    caf::actor h = TROUPE_TRY(ask_supervisor<caf::actor>(*sys_, supervisor_, opts_.request_timeout,
                                                         get_atom::value, shard_name(i)));
    shards_[size_t(i)] = caf::actor_cast<parameter_shard_actor>(h);
  }
  // Every shard back to one consistent step.
  shard_client client(*sys_, plan_, shards_, opts_.request_timeout);
  if (!opts_.checkpoint_dir.empty()) {
    step_ = TROUPE_TRY(client.restore(opts_.checkpoint_dir));
  } else {
    TROUPE_TRY(client.init(initial_));
    step_ = 0;
  }
  return {};
}

expected<std::vector<double>> data_parallel_trainer::train(int64_t steps,
                                                           const batch_source& batches) {
  const int64_t first = step_, target = step_ + steps;
  const int replicas = opts_.replicas;
  std::vector<std::vector<double>> losses(static_cast<size_t>(replicas),
                                          std::vector<double>(static_cast<size_t>(steps)));
  const bool checkpoints = !opts_.checkpoint_dir.empty() && opts_.checkpoint_every > 0;
  int recoveries = 0;
  while (step_ < target) {
    int64_t end = target;
    if (checkpoints) end = std::min(target, (step_ / opts_.checkpoint_every + 1) * opts_.checkpoint_every);
    error e = run_steps(step_, end, first, batches, losses);
    if (!e) {
      step_ = end;
      if (checkpoints && step_ % opts_.checkpoint_every == 0) TROUPE_TRY(save());
      continue;
    }
    if (e.code() != errc::unavailable || recoveries >= opts_.max_recoveries) return e;
    ++recoveries;
    ++recoveries_;
    if (error r = recover()) return std::move(r).with_context(str_cat("recovering from: ", e.to_string()));
  }
  std::vector<double> mean(size_t(steps), 0.0);
  for (int64_t t = 0; t < steps; ++t) {
    for (int r = 0; r < replicas; ++r) mean[size_t(t)] += losses[size_t(r)][size_t(t)];
    mean[size_t(t)] /= double(replicas);
  }
  return mean;
}

error data_parallel_trainer::run_steps(int64_t begin, int64_t end, int64_t first,
                                       const batch_source& batches,
                                       std::vector<std::vector<double>>& losses) {
  std::mutex mu;
  error first_error;
  std::atomic<bool> failed{false};
  std::vector<std::string> names;
  for (const replica_variable& v : model_.variables) names.push_back(v.name);

  auto replica = [&](int r) -> error {
    shard_client client(*sys_, plan_, shards_, opts_.request_timeout);
    caf::scoped_actor self(*sys_);
    device_actor dev = devices_[size_t(r)];
    for (int64_t step = begin; step < end; ++step) {
      if (failed.load()) return {};
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
      // A device that died is restarted by the supervisor; retry the step there
      // (devices hold no state here: Note [Recovery]).
      expected<run_result> out = make_error(errc::deadline_exceeded, "no answer");
      for (int attempt = 0;; ++attempt) {
        self->request(dev, opts_.request_timeout, run_atom::value, req)
            .receive([&](run_result& res) { out = std::move(res); },
                     [&](caf::error& e) { out = from_caf(e); });
        if (out || out.error_value().code() != errc::unavailable || attempt >= 3) break;
        dev = caf::actor_cast<device_actor>(
            TROUPE_TRY(restarted(device_name(r), caf::actor_cast<caf::actor>(dev))));
        devices_[size_t(r)] = dev;  // only this replica's thread touches index r
      }
      run_result res = TROUPE_TRY(std::move(out));
      if (step >= first) losses[size_t(r)][size_t(step - first)] = double(res.fetches[0].data<float>()[0]);
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
  for (int r = 0; r < opts_.replicas; ++r) {
    threads.emplace_back([&, r] {
      error e = replica(r);
      if (!e) return;
      failed.store(true);
      std::lock_guard<std::mutex> lock(mu);
      if (!first_error) first_error = std::move(e).with_context(str_cat("replica ", r));
    });
  }
  for (std::thread& th : threads) th.join();
  return first_error;
}

expected<std::vector<tensor>> data_parallel_trainer::values(const std::vector<std::string>& names) {
  shard_client client(*sys_, plan_, shards_, opts_.request_timeout);
  return client.pull(step_, names);
}

}  // namespace troupe::actors
