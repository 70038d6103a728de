#include "runtime/exec/cpu_device.hpp"

#define EIGEN_USE_THREADS
#include <algorithm>
#include <atomic>
#include <thread>
#include <unsupported/Eigen/CXX11/ThreadPool>

#include "runtime/core/error.hpp"

namespace troupe {

std::string_view device_kind_name(device_kind k) { return k == device_kind::cpu ? "cpu" : "gpu"; }

cpu_device::cpu_device(int num_threads) {
  if (num_threads <= 0) num_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  if (num_threads_ > 1) pool_ = std::make_unique<pool_type>(num_threads_ - 1);
}

cpu_device::~cpu_device() = default;

void cpu_device::schedule(std::function<void()> task) {
  if (pool_) pool_->Schedule(std::move(task));
  else task();
}

int cpu_device::current_thread_id() const { return pool_ ? pool_->CurrentThreadId() : -1; }

namespace {
// Work below this many (approximate) cycles runs on the caller: waking a thread costs
// a few microseconds.
constexpr int64_t min_parallel_cost = 40000;
constexpr int64_t min_chunk_cost = 20000;

struct parallel_job {
  int64_t n;
  int64_t block;
  int64_t num_blocks;
  const std::function<void(int64_t, int64_t)>* fn;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  // Claims and runs blocks until none is left.
  void work() {
    for (;;) {
      int64_t b = next.fetch_add(1, std::memory_order_relaxed);
      if (b >= num_blocks) return;
      int64_t begin = b * block;
      (*fn)(begin, std::min(n, begin + block));
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == num_blocks) done.notify_all();
    }
  }
};
}  // namespace

void cpu_device::parallel_for(int64_t n, int64_t cost_per_unit,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t total = n * std::max<int64_t>(cost_per_unit, 1);
  if (!pool_ || n == 1 || total < min_parallel_cost) {
    fn(0, n);
    return;
  }
  // A few blocks per thread balance uneven progress; no block smaller than worth it.
  int64_t max_blocks = std::min<int64_t>(n, int64_t(num_threads_) * 4);
  int64_t num_blocks = std::clamp<int64_t>(total / min_chunk_cost, 1, max_blocks);
  auto job = std::make_shared<parallel_job>();
  job->n = n;
  job->block = (n + num_blocks - 1) / num_blocks;
  job->num_blocks = (n + job->block - 1) / job->block;
  job->fn = &fn;
  int helpers = int(std::min<int64_t>(job->num_blocks - 1, num_threads_ - 1));
  for (int i = 0; i < helpers; ++i) pool_->Schedule([job] { job->work(); });
  job->work();
  // Blocks claimed by others are running now; wait for them (no deadlock: a claimed
  // block is always being executed by a running thread).
  for (int64_t d = job->done.load(std::memory_order_acquire); d < job->num_blocks;
       d = job->done.load(std::memory_order_acquire))
    job->done.wait(d, std::memory_order_acquire);
}

}  // namespace troupe
