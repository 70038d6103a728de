#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "runtime/exec/resource.hpp"

namespace Eigen {
template <typename Env>
class ThreadPoolTempl;
struct StlThreadEnvironment;
}  // namespace Eigen

namespace troupe {

enum class device_kind : uint8_t { cpu, gpu };
std::string_view device_kind_name(device_kind k);

/// A CPU device: its own thread pool, used for inter-op scheduling (independent nodes
/// run at once) and intra-op parallel_for. The thread that calls into the device works
/// too: a device of N threads has a pool of N-1, and none for N = 1 (deterministic,
/// single-threaded mode). Never runs on an actor scheduler's threads.
/// Thread-safety: all members may be called from any thread.
class cpu_device {
 public:
  /// num_threads <= 0: one per hardware thread.
  explicit cpu_device(int num_threads = 0);
  ~cpu_device();
  cpu_device(const cpu_device&) = delete;
  cpu_device& operator=(const cpu_device&) = delete;

  int num_threads() const { return num_threads_; }
  /// Runs `task` on a pool thread (inline when there is no pool).
  void schedule(std::function<void()> task);
  /// Calls fn(begin, end) over chunks covering [0, n), in parallel when n * cost_per_unit
  /// (roughly CPU cycles) is worth it; returns when every chunk is done. The caller runs
  /// chunks too, so calling it from a pool thread cannot deadlock.
  void parallel_for(int64_t n, int64_t cost_per_unit,
                    const std::function<void(int64_t, int64_t)>& fn);
  /// The index of the current pool thread in [0, num_threads-1), or -1 elsewhere.
  int current_thread_id() const;
  /// Whether the pool's threads were recently seen starting late or stalling, because
  /// other processes keep the cores busy: then parallel_for runs on the caller alone and
  /// the executor runs a step on one thread, for a while. See Note [Loaded cores].
  bool contended() const;
  /// The device's resource containers (variables, queues): see Note [Resource containers].
  resource_mgr& resources() { return resources_; }

 private:
  using pool_type = Eigen::ThreadPoolTempl<Eigen::StlThreadEnvironment>;
  int num_threads_;
  // Note [Loaded cores] in cpu_device.cpp.
  void note_delay(int64_t delay_ns, int64_t work_ns);

  std::unique_ptr<pool_type> pool_;
  std::atomic<int64_t> inline_until_ns_{0};
  std::atomic<int64_t> backoff_ns_{0};
  resource_mgr resources_;
};

}  // namespace troupe
