#pragma once

#include <cstdint>
#include <functional>
#include <memory>

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

 private:
  using pool_type = Eigen::ThreadPoolTempl<Eigen::StlThreadEnvironment>;
  int num_threads_;
  std::unique_ptr<pool_type> pool_;
};

}  // namespace troupe
