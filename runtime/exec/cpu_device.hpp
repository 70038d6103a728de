#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "runtime/exec/resource.hpp"

namespace troupe {

enum class device_kind : uint8_t { cpu, gpu };
std::string_view device_kind_name(device_kind k);

/// A CPU device: its own thread pool, used for inter-op scheduling (independent nodes
/// run at once) and intra-op parallel_for. The thread that calls into the device works
/// too: a device of N threads has a pool of N-1, and none for N = 1 (deterministic,
/// single-threaded mode); a caller waiting for its work runs that work's queued tasks
/// itself (see Note [Waiting callers help]). Never runs on an actor scheduler's threads.
/// Thread-safety: all members may be called from any thread.
class cpu_device {
 public:
  /// num_threads <= 0: one per hardware thread.
  explicit cpu_device(int num_threads = 0);
  ~cpu_device();
  cpu_device(const cpu_device&) = delete;
  cpu_device& operator=(const cpu_device&) = delete;

  int num_threads() const { return num_threads_; }
  /// Runs `task` on a pool thread, or on a caller in help_until() for the same owner
  /// (inline when there is no pool). The task belongs to the calling thread's owner (see
  /// owner_scope); tasks it schedules belong to that owner too.
  void schedule(std::function<void()> task);
  /// Marks the work the current thread does from now until destruction as `owner`'s,
  /// so that help_until(owner, ...) may run the tasks it schedules.
  class owner_scope {
   public:
    explicit owner_scope(const void* owner);
    ~owner_scope();
    owner_scope(const owner_scope&) = delete;
    owner_scope& operator=(const owner_scope&) = delete;

   private:
    const void* saved_;
  };
  /// Blocks until `done()` is true, running queued tasks of `owner` meanwhile. Whoever
  /// makes done() true must call wake() afterwards.
  void help_until(const void* owner, const std::function<bool()>& done);
  /// Wakes the callers blocked in help_until() so that they test done() again.
  void wake();
  /// Calls fn(begin, end) over chunks covering [0, n), in parallel when n * cost_per_unit
  /// (roughly CPU cycles) is worth it; returns when every chunk is done. The caller runs
  /// chunks too, so calling it from a pool thread cannot deadlock.
  void parallel_for(int64_t n, int64_t cost_per_unit,
                    const std::function<void(int64_t, int64_t)>& fn);
  /// The index of the current pool thread in [0, num_threads-1), or -1 elsewhere.
  int current_thread_id() const;
  /// Whether callers recently lost much time waiting for pool threads that other
  /// processes kept from running: then parallel_for runs on the caller alone and the
  /// executor runs a step on one thread, for a while. See Note [Loaded cores].
  bool contended() const;
  /// The device's resource containers (variables, queues): see Note [Resource containers].
  resource_mgr& resources() { return resources_; }

 private:
  struct task {
    std::function<void()> fn;
    const void* owner;
  };
  bool has_pool() const { return !workers_.empty(); }
  void worker_loop(int index);
  // Takes the oldest task (of `owner`, unless null) off the queue into `out`.
  bool pop(const void* owner, task& out);
  void run_task(task& t);
  // Note [Loaded cores] in cpu_device.cpp.
  void note_wait(int64_t wait_ns);

  int num_threads_;
  std::mutex mu_;
  std::deque<task> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  // Sleepers wait on these words; see Note [Waiting callers help].
  std::atomic<uint32_t> work_epoch_{0};
  std::atomic<uint32_t> help_epoch_{0};
  std::atomic<int> idle_workers_{0};
  std::atomic<int> helpers_waiting_{0};
  std::vector<std::thread> workers_;
  std::atomic<int64_t> inline_until_ns_{0};
  std::atomic<int64_t> backoff_ns_{0};
  std::atomic<int64_t> window_start_ns_{0};
  std::atomic<int64_t> window_lost_ns_{0};
  resource_mgr resources_;
};

}  // namespace troupe
