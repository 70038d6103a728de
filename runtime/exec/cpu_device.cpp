#include "runtime/exec/cpu_device.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/core/error.hpp"

namespace troupe {

std::string_view device_kind_name(device_kind k) { return k == device_kind::cpu ? "cpu" : "gpu"; }

// Note [Loaded cores]
// When other processes keep the cores busy, a pool thread may be preempted in the middle
// of a parallel_for block for a whole time slice (~4 ms here, against steps of 0.5-5 ms)
// while the caller waits for that block: two threads then run slower than one. (A task
// that merely starts late costs little: a waiting caller runs its own queued tasks, see
// Note [Waiting callers help].) The device counts the time callers lose that way: waits
// for a helper's block of more than kLate. When the time lost within a window of
// kWindow reaches kLostFraction of it, the pool is marked contended: for the next backoff
// interval (starting at kBackoffMin, doubling while contention persists, at most
// kBackoffMax) parallel_for runs on the caller alone and the executor runs steps on one
// thread; then the pool is tried again. Counting time rather than events matters both
// ways: a VM's idle host also stalls a virtual CPU for a millisecond now and then (seen
// every ~300 products of 256 x 256 x 784 here), which must not send a lone process to
// one thread, while under load a few 4 ms stalls among many on-time hand-offs already
// cost a quarter of the time. Measured by bench/train_vs_peers.py ("2 threads, 1 core
// busy").
namespace {
constexpr int64_t kLate = 300'000;              // ns
constexpr int64_t kWindow = 50'000'000;         // ns
constexpr int64_t kLostFraction = 10;           // percent of kWindow
constexpr int64_t kBackoffMin = 50'000'000;     // ns
constexpr int64_t kBackoffMax = 1'000'000'000;  // ns

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// Note [Waiting callers help]
// The device keeps one FIFO queue of tasks, run by its N-1 pool threads. Each task
// belongs to an owner (the executor's run of one step): a thread inherits the owner of
// the task it runs, and an executor marks its caller's thread with owner_scope. A caller
// that waits for its step to end does not sleep while its step has queued tasks: it
// runs them (help_until), so the caller always counts as one of the device's N threads.
// Without this, a step whose nodes moved to a pool thread ran there alone while the
// caller slept, and the parallel_for helpers that thread queued found nobody to run
// them: two threads were no faster than one. Only the owner's tasks are taken, so a
// caller never gets stuck in another step's kernel (a queue dequeue that blocks until
// the caller's next step enqueues would deadlock).
// Sleeping: pool threads wait on work_epoch_, helping callers on help_epoch_; schedule()
// bumps both, and notifies only when someone sleeps (idle_workers_, helpers_waiting_,
// sequentially consistent with the bumps, so a sleeper that read the epoch before a push
// never misses it).
namespace {
thread_local const void* t_owner = nullptr;
thread_local const cpu_device* t_worker_device = nullptr;
thread_local int t_worker_index = -1;
}  // namespace

cpu_device::owner_scope::owner_scope(const void* owner) : saved_(t_owner) { t_owner = owner; }
cpu_device::owner_scope::~owner_scope() { t_owner = saved_; }

cpu_device::cpu_device(int num_threads) {
  if (num_threads <= 0) num_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 0; i + 1 < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

cpu_device::~cpu_device() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_epoch_.fetch_add(1);
  work_epoch_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool cpu_device::pop(const void* owner, task& out) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (owner != nullptr && it->owner != owner) continue;
    out = std::move(*it);
    queue_.erase(it);
    return true;
  }
  return false;
}

void cpu_device::run_task(task& t) {
  owner_scope scope(t.owner);
  t.fn();
  t.fn = nullptr;
}

void cpu_device::worker_loop(int index) {
  t_worker_device = this;
  t_worker_index = index;
  task t;
  for (;;) {
    uint32_t epoch = work_epoch_.load();
    if (pop(nullptr, t)) {
      run_task(t);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && queue_.empty()) return;
    }
    idle_workers_.fetch_add(1);
    work_epoch_.wait(epoch);
    idle_workers_.fetch_sub(1);
  }
}

void cpu_device::help_until(const void* owner, const std::function<bool()>& done) {
  task t;
  for (;;) {
    uint32_t epoch = help_epoch_.load();
    if (done()) return;
    if (has_pool() && pop(owner, t)) {
      run_task(t);
      continue;
    }
    helpers_waiting_.fetch_add(1);
    help_epoch_.wait(epoch);
    helpers_waiting_.fetch_sub(1);
  }
}

void cpu_device::wake() {
  help_epoch_.fetch_add(1);
  if (helpers_waiting_.load() > 0) help_epoch_.notify_all();
}

bool cpu_device::contended() const {
  return has_pool() && now_ns() < inline_until_ns_.load(std::memory_order_relaxed);
}

void cpu_device::note_wait(int64_t wait_ns) {
  // Relaxed, racy updates from several threads: they only blur the estimate.
  const int64_t now = now_ns();
  if (now - window_start_ns_.load(std::memory_order_relaxed) > kWindow) {
    window_start_ns_.store(now, std::memory_order_relaxed);
    window_lost_ns_.store(0, std::memory_order_relaxed);
  }
  if (wait_ns < kLate) return;
  const int64_t lost = window_lost_ns_.fetch_add(wait_ns, std::memory_order_relaxed) + wait_ns;
  if (lost * 100 < kWindow * kLostFraction) return;
  window_lost_ns_.store(0, std::memory_order_relaxed);
  // Contention that comes back soon after the last backoff doubles it.
  const int64_t last_end = inline_until_ns_.load(std::memory_order_relaxed);
  int64_t b = backoff_ns_.load(std::memory_order_relaxed);
  b = now > last_end + kBackoffMax ? kBackoffMin : std::clamp<int64_t>(b * 2, kBackoffMin, kBackoffMax);
  backoff_ns_.store(b, std::memory_order_relaxed);
  inline_until_ns_.store(now + b, std::memory_order_relaxed);
}

void cpu_device::schedule(std::function<void()> fn) {
  if (!has_pool()) {
    fn();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::move(fn), t_owner});
  }
  work_epoch_.fetch_add(1);
  if (idle_workers_.load() > 0) work_epoch_.notify_one();
  wake();
}

int cpu_device::current_thread_id() const {
  return t_worker_device == this ? t_worker_index : -1;
}

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
  if (!has_pool() || n == 1 || total < min_parallel_cost || contended()) {
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
  for (int i = 0; i < helpers; ++i) schedule([job] { job->work(); });
  job->work();
  // Blocks claimed by others are running now; wait for them (no deadlock: a claimed
  // block is always being executed by a running thread).
  int64_t d = job->done.load(std::memory_order_acquire);
  if (d < job->num_blocks) {
    const int64_t waiting = now_ns();
    for (; d < job->num_blocks; d = job->done.load(std::memory_order_acquire))
      job->done.wait(d, std::memory_order_acquire);
    note_wait(now_ns() - waiting);
  }
}

}  // namespace troupe
