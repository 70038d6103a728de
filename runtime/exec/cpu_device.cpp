#include "runtime/exec/cpu_device.hpp"

#define EIGEN_USE_THREADS
#include <algorithm>
#include <atomic>
#include <chrono>
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

// Note [Loaded cores]
// When other processes keep the cores busy, a pool thread may wait milliseconds for a
// core (the scheduler's time slice) before it starts a task, or be preempted in the
// middle of one, while the caller waits for it: two threads then run slower than one.
// The device watches for it: a task that starts more than kLate after it was scheduled,
// or a parallel_for whose caller waits more than kLate (and longer than it worked) for a
// helper's block, marks the pool contended. For the next backoff interval (starting at
// kBackoffMin, doubling while contention persists, at most kBackoffMax) parallel_for runs
// on the caller alone and the executor runs steps on one thread; then the pool is tried
// again. A lone process never sees such delays and keeps all its threads. Measured by
// bench/train_vs_peers.py ("2 threads, 1 core busy").
namespace {
constexpr int64_t kLate = 300'000;             // ns
constexpr int64_t kBackoffMin = 50'000'000;    // ns
constexpr int64_t kBackoffMax = 1'000'000'000;  // ns

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool cpu_device::contended() const {
  return pool_ && now_ns() < inline_until_ns_.load(std::memory_order_relaxed);
}

void cpu_device::note_delay(int64_t delay_ns, int64_t work_ns) {
  if (delay_ns < kLate || delay_ns < work_ns) {
    // On time: after a quiet spell the backoff starts small again.
    if (now_ns() > inline_until_ns_.load(std::memory_order_relaxed) + kBackoffMax)
      backoff_ns_.store(0, std::memory_order_relaxed);
    return;
  }
  int64_t b = backoff_ns_.load(std::memory_order_relaxed);
  b = std::clamp<int64_t>(b * 2, kBackoffMin, kBackoffMax);
  backoff_ns_.store(b, std::memory_order_relaxed);
  inline_until_ns_.store(now_ns() + b, std::memory_order_relaxed);
}

void cpu_device::schedule(std::function<void()> task) {
  if (!pool_) {
    task();
    return;
  }
  pool_->Schedule([this, t0 = now_ns(), task = std::move(task)] {
    note_delay(now_ns() - t0, 0);
    task();
  });
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
  if (!pool_ || n == 1 || total < min_parallel_cost || contended()) {
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
  const int64_t start = now_ns();
  job->work();
  // Blocks claimed by others are running now; wait for them (no deadlock: a claimed
  // block is always being executed by a running thread).
  int64_t d = job->done.load(std::memory_order_acquire);
  if (d < job->num_blocks) {
    const int64_t waiting = now_ns();
    for (; d < job->num_blocks; d = job->done.load(std::memory_order_acquire))
      job->done.wait(d, std::memory_order_acquire);
    note_delay(now_ns() - waiting, waiting - start);
  }
}

}  // namespace troupe
