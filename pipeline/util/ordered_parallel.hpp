#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// Runs produce(i) for every i in [0, n) on up to `threads` std::threads (each taking the next
/// index), and calls consume(i, std::move(result)) in index order, under one lock, as soon as
/// the results before i are consumed. So the outcome depends on produce and consume only,
/// never on the thread count. Stops at the first error consume returns (no further index is
/// started; results already produced are dropped) and returns it; returns {} once every
/// index is consumed. threads <= 1 runs everything on the caller.
/// produce may run concurrently with itself and with consume; consume runs one call at a time.
template <class Produce, class Consume>
[[nodiscard]] error ordered_parallel(size_t n, size_t threads, Produce&& produce,
                                     Consume&& consume) {
  using result = std::invoke_result_t<Produce&, size_t>;
  std::vector<std::optional<result>> pending(n);
  std::mutex mu;
  size_t consumed = 0;  // results [0, consumed) are consumed
  error failure;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      result r = produce(i);
      std::lock_guard<std::mutex> lock(mu);
      pending[i].emplace(std::move(r));
      for (; consumed < n && pending[consumed] && !failure; ++consumed) {
        failure = consume(consumed, std::move(*pending[consumed]));
        pending[consumed].reset();
      }
      if (failure) next.store(n);
    }
  };
  threads = std::max<size_t>(1, std::min(threads, n));
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (failure) return failure;
  TROUPE_ASSERT(consumed == n, "ordered_parallel: consumed ", consumed, " of ", n, " results");
  return {};
}

}  // namespace troupe::pipeline
