#include "runtime/exec/cpu_device.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

namespace troupe {
namespace {

using namespace std::chrono_literals;

// Keeps the device's only pool thread busy until release() (or destruction).
class blocked_worker {
 public:
  explicit blocked_worker(cpu_device& dev) {
    dev.schedule([this] {
      started_.count_down();
      release_.wait();
    });
    started_.wait();
  }
  ~blocked_worker() { release(); }
  void release() {
    if (!released_.exchange(true)) release_.count_down();
  }

 private:
  std::latch started_{1};
  std::latch release_{1};
  std::atomic<bool> released_{false};
};

// Note [Waiting callers help]: with the pool thread busy, a caller waiting for its own
// tasks runs them itself instead of sleeping until the pool is free.
TEST(cpu_device_test, waiting_caller_runs_its_own_tasks) {
  cpu_device dev(2);
  blocked_worker busy(dev);
  int owner = 0;
  std::atomic<int> ran{0};
  std::thread::id ran_on;
  {
    cpu_device::owner_scope scope(&owner);
    dev.schedule([&] {
      ran_on = std::this_thread::get_id();
      ran.fetch_add(1);
      dev.wake();
    });
    dev.help_until(&owner, [&] { return ran.load() == 1; });
  }
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// Tasks scheduled by a task inherit its owner, so the caller runs those too.
TEST(cpu_device_test, nested_tasks_keep_their_owner) {
  cpu_device dev(2);
  blocked_worker busy(dev);
  int owner = 0;
  std::atomic<int> ran{0};
  cpu_device::owner_scope scope(&owner);
  dev.schedule([&] {
    dev.schedule([&] {
      ran.fetch_add(1);
      dev.wake();
    });
  });
  dev.help_until(&owner, [&] { return ran.load() == 1; });
  EXPECT_EQ(ran.load(), 1);
}

// A waiting caller never runs another owner's task (it could block on the caller's own
// next step); the pool thread runs it once it is free.
TEST(cpu_device_test, waiting_caller_leaves_other_owners_tasks) {
  cpu_device dev(2);
  auto busy = std::make_unique<blocked_worker>(dev);
  int mine = 0, theirs = 0;
  std::atomic<bool> other_ran{false};
  std::thread::id other_ran_on;
  {
    cpu_device::owner_scope scope(&theirs);
    dev.schedule([&] {
      other_ran_on = std::this_thread::get_id();
      other_ran.store(true);
      dev.wake();
    });
  }
  std::atomic<int> mine_ran{0};
  {
    cpu_device::owner_scope scope(&mine);
    dev.schedule([&] {
      mine_ran.fetch_add(1);
      dev.wake();
    });
    dev.help_until(&mine, [&] { return mine_ran.load() == 1; });
  }
  EXPECT_FALSE(other_ran.load());
  busy->release();
  // Bounded wait for the pool thread to reach the other owner's task.
  for (int i = 0; i < 500 && !other_ran.load(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(other_ran.load());
  EXPECT_NE(other_ran_on, std::this_thread::get_id());
  busy.reset();
}

// parallel_for from a pool thread while the caller waits: the caller takes the helper
// blocks the pool thread queued, so both threads work on them.
TEST(cpu_device_test, parallel_for_inside_a_task_uses_the_waiting_caller) {
  cpu_device dev(2);
  int owner = 0;
  std::atomic<bool> done{false};
  std::atomic<int> caller_blocks{0};
  const auto caller = std::this_thread::get_id();
  cpu_device::owner_scope scope(&owner);
  dev.schedule([&] {
    // Blocks wait until someone other than this thread has joined, so the caller must
    // run one of them for the loop to end early; bounded by a time-out either way.
    std::atomic<int> entered{0};
    dev.parallel_for(2, 1'000'000'000, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (std::this_thread::get_id() == caller) caller_blocks.fetch_add(1);
        entered.fetch_add(1);
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (entered.load() < 2 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::yield();
      }
    });
    done.store(true);
    dev.wake();
  });
  dev.help_until(&owner, [&] { return done.load(); });
  EXPECT_EQ(caller_blocks.load(), 1);
}

TEST(cpu_device_test, single_thread_device_runs_tasks_inline) {
  cpu_device dev(1);
  int ran = 0;
  dev.schedule([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(dev.current_thread_id(), -1);
}

TEST(cpu_device_test, current_thread_id_is_per_device) {
  cpu_device a(2), b(2);
  std::atomic<int> id_a{-2}, id_b{-2};
  std::latch done{1};
  a.schedule([&] {
    id_a = a.current_thread_id();
    id_b = b.current_thread_id();
    done.count_down();
  });
  done.wait();
  EXPECT_EQ(id_a.load(), 0);
  EXPECT_EQ(id_b.load(), -1);
}

}  // namespace
}  // namespace troupe
