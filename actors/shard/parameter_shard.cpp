#include "actors/shard/parameter_shard.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "actors/shard/shard_core.hpp"

namespace troupe::actors {
namespace {

// Note [Shard runner]
// CAF's scheduler threads only pass messages. Everything that touches the shard's data
// (validation, updates, reads, gathers, checkpoints) runs on the shard's runner thread,
// one job at a time in the order the actor posted them; the runner is also the calling
// thread of the shard's cpu_device, whose pool adds threads - 1 more for the update ops.
// A job writes its result into a slot it shares with its continuation and sends the actor
// a done message (job id, the shard's step); the actor then delivers the response promise
// in its own context (a promise is not safe to deliver from a foreign thread in CAF 0.17:
// it enqueues with its owner's execution unit as the scheduling hint), updates its copy
// of the step and releases the pulls that step unblocks. The runner holds only a weak
// reference to the actor; the state's destructor stops the runner after the job in
// flight, and then answers every accepted request with unavailable.
// Thread-safety (runner): post() may be called from any thread; jobs run one at a time,
// in order, on the runner's own thread. Jobs still queued when it is destroyed are dropped.
class runner {
 public:
  runner() : thread_([this] { loop(); }) {}
  ~runner() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;  // the actor is gone: nobody waits for the rest
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

// A request that waits for its step (sync pulls): `go(false)` posts its job, `go(true)`
// answers it with unavailable (the actor is going away).
using held_request = std::function<void(bool abandoned)>;

struct shard_state {
  std::shared_ptr<shard_core> core;
  std::string where;  // "parameter shard 1"
  bool sync = true;
  int64_t step = 0;   // the core's step after the last job answered
  uint64_t next_id = 0;
  // What to do with each job's result, by job id, in the actor's own context.
  std::unordered_map<uint64_t, std::function<void(bool abandoned)>> pending;
  std::multimap<int64_t, held_request> held;  // by the step they wait for, then arrival
  // Declared last: destroyed first, so the job in flight finishes while the core exists.
  std::unique_ptr<runner> run;

  ~shard_state() {
    run.reset();
    for (auto& [id, then] : pending) then(true);
    for (auto& [step, go] : held) go(true);
  }
};

using shard_self = parameter_shard_actor::stateful_pointer<shard_state>;

error stopped(const std::string& where) {
  return make_error(errc::unavailable, where, " stopped before answering");
}

// Runs `job` on the runner and answers `promise` with its result. See Note [Shard runner].
template <class T>
void post(shard_self self, caf::typed_response_promise<T> promise,
          std::function<expected<T>(shard_core&)> job) {
  auto& st = self->state;
  auto result = std::make_shared<std::optional<expected<T>>>();
  const uint64_t id = st.next_id++;
  st.pending.emplace(id, [promise, result, where = st.where](bool abandoned) mutable {
    if (abandoned || !result->has_value()) {
      promise.deliver(to_caf(stopped(where)));
      return;
    }
    expected<T>& r = **result;
    if (r) {
      promise.deliver(std::move(*r));
    } else {
      promise.deliver(to_caf(r.error_value()));
    }
  });
  caf::weak_actor_ptr weak = self->ctrl();
  shard_core* core = st.core.get();
  st.run->post([weak, id, result, core, job = std::move(job)] {
    result->emplace(job(*core));
    const int64_t step = core->step();
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<parameter_shard_actor>(strong), done_atom::value, id, step);
  });
}

// Posts `job` now, or holds it until the shard reaches `step` (sync mode).
template <class T>
void post_at_step(shard_self self, int64_t step, caf::typed_response_promise<T> promise,
                  std::function<expected<T>(shard_core&)> job) {
  auto& st = self->state;
  if (!st.sync || step <= st.step) {
    post<T>(self, std::move(promise), std::move(job));
    return;
  }
  st.held.emplace(step, [self, promise, job = std::move(job),
                         where = st.where](bool abandoned) mutable {
    if (abandoned) {
      promise.deliver(to_caf(stopped(where)));
      return;
    }
    post<T>(self, std::move(promise), std::move(job));
  });
}

parameter_shard_actor::behavior_type shard_behavior(shard_self self,
                                                    std::shared_ptr<shard_core> core) {
  auto& st = self->state;
  st.where = str_cat("parameter shard ", core->options().index);
  st.sync = core->options().mode == update_mode::sync;
  st.step = core->step();
  st.core = std::move(core);
  st.run = std::make_unique<runner>();
  return {
      [self](init_atom, std::vector<piece_value>& values) -> caf::result<int64_t> {
        auto promise = self->make_response_promise<int64_t>();
        post<int64_t>(self, promise,
                      [values = std::move(values)](shard_core& c) -> expected<int64_t> {
                        TROUPE_TRY(c.init(values));
                        return c.step();
                      });
        return promise;
      },
      [self](assign_atom, std::vector<piece_value>& values) -> caf::result<int64_t> {
        auto promise = self->make_response_promise<int64_t>();
        post<int64_t>(self, promise,
                      [values = std::move(values)](shard_core& c) -> expected<int64_t> {
                        TROUPE_TRY(c.assign(values));
                        return c.step();
                      });
        return promise;
      },
      [self](pull_atom, int64_t step,
             std::vector<std::string>& names) -> caf::result<shard_values> {
        auto promise = self->make_response_promise<shard_values>();
        post_at_step<shard_values>(
            self, step, promise,
            [names = std::move(names)](shard_core& c) -> expected<shard_values> {
              std::vector<tensor> values = TROUPE_TRY(c.read(names));
              return shard_values{c.step(), std::move(values)};
            });
        return promise;
      },
      [self](pull_rows_atom, int64_t step, std::string& name,
             tensor& indices) -> caf::result<tensor> {
        auto promise = self->make_response_promise<tensor>();
        post_at_step<tensor>(self, step, promise,
                             [name = std::move(name), indices = std::move(indices)](
                                 shard_core& c) { return c.read_rows(name, indices); });
        return promise;
      },
      [self](push_atom, int64_t step, int32_t replica,
             std::vector<piece_gradient>& grads) -> caf::result<push_ack> {
        auto promise = self->make_response_promise<push_ack>();
        post<push_ack>(self, promise, [step, replica, grads = std::move(grads)](shard_core& c) {
          return c.push(step, replica, grads);
        });
        return promise;
      },
      [self](save_atom, std::string& dir, int64_t step) -> caf::result<int64_t> {
        auto promise = self->make_response_promise<int64_t>();
        post<int64_t>(self, promise,
                      [dir = std::move(dir), step](shard_core& c) -> expected<int64_t> {
                        return int64_t(TROUPE_TRY(c.save(dir, step)));
                      });
        return promise;
      },
      [self](restore_atom, std::string& dir) -> caf::result<int64_t> {
        auto promise = self->make_response_promise<int64_t>();
        post<int64_t>(self, promise,
                      [dir = std::move(dir)](shard_core& c) { return c.restore(dir); });
        return promise;
      },
      [self](stats_atom) -> caf::result<shard_stats> {
        auto promise = self->make_response_promise<shard_stats>();
        post<shard_stats>(self, promise,
                          [](shard_core& c) -> expected<shard_stats> { return c.stats(); });
        return promise;
      },
      [self](done_atom, uint64_t id, int64_t step) {
        auto& st = self->state;
        st.step = step;
        if (auto it = st.pending.find(id); it != st.pending.end()) {
          auto then = std::move(it->second);
          st.pending.erase(it);
          then(false);
        }
        // Release the pulls this step unblocks, in step then arrival order.
        while (!st.held.empty() && st.held.begin()->first <= st.step) {
          held_request go = std::move(st.held.begin()->second);
          st.held.erase(st.held.begin());
          go(false);
        }
      },
  };
}

}  // namespace

expected<parameter_shard_actor> spawn_parameter_shard(caf::actor_system& sys, const platform& p,
                                                      shard_options opts) {
  std::unique_ptr<shard_core> core = TROUPE_TRY(shard_core::make(p, std::move(opts)));
  return sys.spawn(shard_behavior, std::shared_ptr<shard_core>(std::move(core)));
}

}  // namespace troupe::actors
