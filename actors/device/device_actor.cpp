#include "actors/device/device_actor.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "runtime/checkpoint/checkpoint.hpp"

namespace troupe::actors {
namespace {

// Note [Device runner]
// CAF's scheduler threads only pass messages; a step runs on the device's runner thread
// (the caller thread of its cpu_device, whose pool adds threads - 1 more). The actor
// queues the step and keeps a response promise; the runner sends the outcome back to
// the actor as a done message, and the actor answers in its own context. The runner
// holds only a weak reference, so a killed actor is not kept alive by its step; the
// state's destructor stops the runner after the step in flight.
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
        if (jobs_.empty()) return;  // stopping, nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
        if (stopping_) return;  // the actor is gone: nobody waits for the rest
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

// Opens the device's checkpoint store. A restarted device may find its predecessor's
// store still open for a moment (RocksDB's lock is released when that actor's state is
// destroyed): failed_precondition is retried for up to two seconds.
expected<std::unique_ptr<checkpoint_store>> open_store(const std::string& dir, int keep) {
  checkpoint_options o;
  o.keep_last = std::max(1, keep);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    auto s = checkpoint_store::open(dir, o);
    if (s || s.error_value().code() != errc::failed_precondition ||
        std::chrono::steady_clock::now() > deadline)
      return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct device_state {
  device_options opts;
  std::shared_ptr<const graph> g;
  std::unique_ptr<session> sess;
  // What to do with each job's outcome, by job id, in the actor's own context.
  std::unordered_map<uint64_t, std::function<void(run_outcome&&)>> pending;
  uint64_t next_id = 0;
  int64_t steps = 0;
  int64_t failed = 0;
  int64_t restored_step = -1;
  // Declared last: destroyed first, so the job in flight finishes while the session it
  // uses still exists.
  std::unique_ptr<runner> run;

  ~device_state() {
    run.reset();
    // Whoever waits for an accepted job hears that it will not come.
    for (auto& [id, then] : pending) {
      run_outcome out;
      out.abandoned = true;
      out.err = make_error(errc::unavailable, "device ", opts.name,
                           " stopped before answering");
      then(std::move(out));
    }
  }
};

// Queues `job` on the runner; its outcome comes back as a done message, and `then`
// handles it on the actor. Promises are delivered only there: a response promise is not
// safe to deliver from a foreign thread in CAF 0.17 (it enqueues with the owner's
// execution unit as the scheduling hint).
void post_job(device_actor::stateful_pointer<device_state> self,
              std::function<run_outcome()> job, std::function<void(run_outcome&&)> then) {
  auto& st = self->state;
  const uint64_t id = st.next_id++;
  st.pending.emplace(id, std::move(then));
  caf::weak_actor_ptr weak = self->ctrl();
  st.run->post([weak, id, job = std::move(job)] {
    run_outcome out = job();
    if (auto strong = weak.lock()) {
      caf::anon_send(caf::actor_cast<device_actor>(strong), done_atom::value, id, std::move(out));
    }
  });
}

device_actor::behavior_type device_behavior(device_actor::stateful_pointer<device_state> self,
                                            std::shared_ptr<const graph> g,
                                            const kernel_registry* kernels,
                                            device_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.opts.session.num_threads = st.opts.threads;
  st.g = std::move(g);
  st.sess = std::make_unique<session>(*st.g, *kernels, st.opts.session);
  st.run = std::make_unique<runner>();
  if (!st.opts.checkpoint_dir.empty()) {
    // Start-up restore, before any step: on the actor's own thread, once.
    error e = [&]() -> error {
      auto store = TROUPE_TRY(open_store(st.opts.checkpoint_dir, st.opts.keep_checkpoints));
      auto list = TROUPE_TRY(store->list());
      if (list.empty()) return {};
      restore_report r = TROUPE_TRY(store->restore(st.sess->device().resources(), "", {}));
      st.restored_step = r.step;
      return {};
    }();
    if (e) {
      self->quit(to_caf(std::move(e).with_context(
          str_cat("device ", st.opts.name, ": restoring from ", st.opts.checkpoint_dir))));
      return device_actor::behavior_type::make_empty_behavior();
    }
  }
  return {
      [self](run_atom, run_request& req) -> caf::result<run_result> {
        auto promise = self->make_response_promise<run_result>();
        session* sess = self->state.sess.get();
        post_job(
            self,
            [sess, req = std::move(req)] {
              run_outcome out;
              auto r = sess->run(req.feeds, req.fetches, req.targets);
              if (r) {
                out.fetches = std::move(*r);
              } else {
                out.err = std::move(r).error_value();
              }
              return out;
            },
            [self, promise](run_outcome&& out) mutable {
              if (out.abandoned) {
                promise.deliver(to_caf(out.err));
                return;
              }
              auto& st = self->state;
              ++st.steps;
              if (!out.err) {
                promise.deliver(run_result{std::move(out.fetches)});
                return;
              }
              ++st.failed;
              error e = std::move(out.err).with_context(str_cat("device ", st.opts.name));
              promise.deliver(to_caf(e));
              if (st.opts.exit_on_failure) self->quit(to_caf(e));
            });
        return promise;
      },
      [self](save_atom, int64_t step) -> caf::result<int64_t> {
        auto& st = self->state;
        if (st.opts.checkpoint_dir.empty())
          return to_caf(make_error(errc::failed_precondition, "device ", st.opts.name,
                                   ": save without a checkpoint_dir"));
        auto promise = self->make_response_promise<int64_t>();
        session* sess = st.sess.get();
        post_job(
            self,
            [sess, step, dir = st.opts.checkpoint_dir, keep = st.opts.keep_checkpoints] {
              run_outcome out;
              out.err = [&]() -> error {
                auto store = TROUPE_TRY(open_store(dir, keep));
                TROUPE_TRY(store->save(sess->device().resources(), "", step));
                return {};
              }();
              return out;
            },
            [self, promise, step](run_outcome&& out) mutable {
              if (out.abandoned) {
                promise.deliver(to_caf(out.err));
              } else if (out.err) {
                promise.deliver(to_caf(std::move(out.err).with_context(
                    str_cat("device ", self->state.opts.name, ": save"))));
              } else {
                promise.deliver(step);
              }
            });
        return promise;
      },
      [self](stats_atom) {
        auto& st = self->state;
        return device_stats{st.opts.name, st.opts.threads, st.steps, st.failed,
                            st.restored_step};
      },
      [self](done_atom, uint64_t id, run_outcome& out) {
        auto& st = self->state;
        auto it = st.pending.find(id);
        if (it == st.pending.end()) return;
        auto then = std::move(it->second);
        st.pending.erase(it);
        then(std::move(out));
      },
  };
}

}  // namespace

device_actor spawn_device(caf::actor_system& sys, std::shared_ptr<const graph> g,
                          const kernel_registry& kernels, device_options opts) {
  return sys.spawn(device_behavior, std::move(g), &kernels, std::move(opts));
}

}  // namespace troupe::actors
