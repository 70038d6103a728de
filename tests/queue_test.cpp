// Queues (runtime/ops/queue_ops.hpp, Note [Queues]): FIFO order, blocking producers and
// consumers on threads of their own, capacity, closing, partial final batches, mixed
// dtypes, the random-shuffle queue's order, and the errors users see.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <numeric>
#include <thread>

#include "runtime/exec/queue.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/queue_ops.hpp"
#include "tests/test_util.hpp"

namespace troupe {
namespace {

using namespace std::chrono_literals;

// Every wait on another thread is bounded by this: a hang fails the test instead.
constexpr auto time_limit = 20s;

using feeds = std::vector<std::pair<output, tensor>>;

error run_targets(session& sess, const std::vector<operation>& targets, const feeds& fed = {}) {
  auto r = sess.run(fed, {}, targets);
  return r ? error{} : r.error_value();
}

std::vector<tensor> fetch_ok(session& sess, const std::vector<output>& fetches,
                             const feeds& fed = {}) {
  auto r = sess.run(fed, fetches);
  EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
  return r ? *r : std::vector<tensor>{};
}

int32_t size_of(session& sess, output size) {
  auto r = fetch_ok(sess, {size});
  return r.empty() ? -1 : r[0].scalar_value<int32_t>();
}

// Polls until the queue holds `n` elements (or the time limit passes).
bool wait_for_size(session& sess, output size, int32_t n) {
  const auto deadline = std::chrono::steady_clock::now() + time_limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (size_of(sess, size) == n) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

class queue_test : public test::ops_test {
 protected:
  std::unique_ptr<session> make_session(int threads = 1) {
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return std::make_unique<session>(g, test::the_platform().kernels(),
                                     session_options{.num_threads = threads});
  }
};

// Waits for `f` (running on its own thread) for at most the time limit; if it is still
// running, runs `unblock` (a close with cancel_pending_enqueues) so the thread ends, and
// fails the test.
template <class T>
T bounded_get(std::future<T>& f, const std::function<void()>& unblock) {
  if (f.wait_for(time_limit) != std::future_status::ready) {
    ADD_FAILURE() << "a queue op did not return within the time limit";
    unblock();
  }
  return f.get();
}

TEST_F(queue_test, fifo_keeps_order_and_counts) {
  queue q = make_fifo_queue(s, "q", {dtype::int64}, 10);
  output x = ph(dtype::int64, partial_shape(tensor_shape{}));
  operation enq = ops::queue_enqueue(s, q, {x});
  output deq = ops::queue_dequeue(s, q)[0];
  output size = ops::queue_size(s, q);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(g.at(q.create.node).name, "q");
  EXPECT_EQ(deq.type(), dtype::int64);
  EXPECT_EQ(size.type(), dtype::int32);
  auto sess = make_session();
  EXPECT_EQ(size_of(*sess, size), 0);  // the size op creates the queue too
  for (int64_t i = 0; i < 5; ++i)
    ASSERT_FALSE(run_targets(*sess, {enq}, {{x, tensor::scalar<int64_t>(i * 10)}}));
  EXPECT_EQ(size_of(*sess, size), 5);
  for (int64_t i = 0; i < 5; ++i) {
    auto r = fetch_ok(*sess, {deq});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].scalar_value<int64_t>(), i * 10);
  }
  EXPECT_EQ(size_of(*sess, size), 0);
  // A second session has a device (and resource containers) of its own.
  auto other = make_session();
  EXPECT_EQ(size_of(*other, size), 0);
}

TEST_F(queue_test, mixed_dtype_components_enqueue_many_and_dequeue_many) {
  queue q = make_fifo_queue(s, "examples", {dtype::float32, dtype::int64, dtype::string}, 100,
                            {partial_shape{3}, partial_shape(tensor_shape{}),
                             partial_shape(tensor_shape{})});
  output features = ops::constant(
      s, test::vec<float>({4, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}));
  output labels = ops::constant(s, test::vec<int64_t>({4}, {7, 8, 9, int64_t(1) << 40}));
  output names = ops::constant(s, test::vec<std::string>({4}, {"a", "bb", "", "dddd"}));
  operation enq = ops::queue_enqueue_many(s, q, {features, labels, names});
  std::vector<output> batch = ops::queue_dequeue_many(s, q, 3);
  std::vector<output> one = ops::queue_dequeue(s, q);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].type(), dtype::float32);
  EXPECT_EQ(batch[1].type(), dtype::int64);
  EXPECT_EQ(batch[2].type(), dtype::string);
  EXPECT_EQ(batch[0].shape(), (partial_shape{3, 3}));
  EXPECT_EQ(batch[1].shape(), (partial_shape{3}));
  EXPECT_EQ(one[0].shape(), (partial_shape{3}));
  EXPECT_EQ(one[1].shape(), partial_shape(tensor_shape{}));

  auto sess = make_session(2);
  ASSERT_FALSE(run_targets(*sess, {enq}));
  ASSERT_FALSE(run_targets(*sess, {enq}));  // 8 elements now
  auto b = fetch_ok(*sess, batch);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(test::values_of<float>(b[0]), (std::vector<float>{0, 1, 2, 10, 11, 12, 20, 21, 22}));
  EXPECT_EQ(test::values_of<int64_t>(b[1]), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(test::values_of<std::string>(b[2]), (std::vector<std::string>{"a", "bb", ""}));
  auto e = fetch_ok(*sess, one);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].shape(), (tensor_shape{3}));
  EXPECT_EQ(test::values_of<float>(e[0]), (std::vector<float>{30, 31, 32}));
  EXPECT_EQ(e[1].scalar_value<int64_t>(), int64_t(1) << 40);
  EXPECT_EQ(e[2].scalar_value<std::string>(), "dddd");
  b = fetch_ok(*sess, batch);  // the second enqueue's first three, in order
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(test::values_of<int64_t>(b[1]), (std::vector<int64_t>{7, 8, 9}));
}

TEST_F(queue_test, capacity_is_respected_and_a_full_queue_blocks_the_producer) {
  queue q = make_fifo_queue(s, "q", {dtype::int32}, 2);
  output x = ph(dtype::int32, partial_shape(tensor_shape{}));
  operation enq = ops::queue_enqueue(s, q, {x});
  output deq = ops::queue_dequeue(s, q)[0];
  output size = ops::queue_size(s, q);
  operation cancel = ops::queue_close(s, q, true);
  auto sess = make_session();

  std::atomic<int> enqueued{0};
  auto producer = std::async(std::launch::async, [&]() -> error {
    for (int32_t i = 0; i < 5; ++i) {
      TROUPE_TRY(run_targets(*sess, {enq}, {{x, tensor::scalar<int32_t>(i)}}));
      enqueued.fetch_add(1);
    }
    return {};
  });
  auto unblock = [&] { (void)run_targets(*sess, {cancel}); };
  ASSERT_TRUE(wait_for_size(*sess, size, 2));
  std::this_thread::sleep_for(50ms);  // the producer has had time to overfill, if it could
  EXPECT_EQ(size_of(*sess, size), 2);
  EXPECT_EQ(enqueued.load(), 2);
  std::vector<int32_t> got;
  for (int i = 0; i < 5; ++i) {
    auto r = fetch_ok(*sess, {deq});  // a dequeue makes room: the producer goes on
    ASSERT_EQ(r.size(), 1u);
    got.push_back(r[0].scalar_value<int32_t>());
    EXPECT_LE(size_of(*sess, size), 2);
  }
  EXPECT_FALSE(bounded_get(producer, unblock));
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(enqueued.load(), 5);
}

TEST_F(queue_test, enqueue_many_larger_than_the_capacity_goes_in_as_room_appears) {
  queue q = make_fifo_queue(s, "q", {dtype::int64}, 3, {partial_shape(tensor_shape{})});
  std::vector<int64_t> ten(10);
  std::iota(ten.begin(), ten.end(), 0);
  operation enq = ops::queue_enqueue_many(s, q, {ops::constant(s, test::vec<int64_t>({10}, ten))});
  output batch = ops::queue_dequeue_many(s, q, 4)[0];
  operation cancel = ops::queue_close(s, q, true);
  auto sess = make_session();
  auto producer = std::async(std::launch::async, [&] { return run_targets(*sess, {enq}); });
  auto unblock = [&] { (void)run_targets(*sess, {cancel}); };
  std::vector<int64_t> got;
  for (int i = 0; i < 2; ++i) {
    auto b = fetch_ok(*sess, {batch});  // n = 4 > capacity 3: taken as elements arrive
    ASSERT_EQ(b.size(), 1u);
    for (int64_t v : test::values_of<int64_t>(b[0])) got.push_back(v);
  }
  EXPECT_FALSE(bounded_get(producer, unblock));
  EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(queue_test, producer_and_consumer_on_two_threads_end_cleanly_at_close) {
  for (int threads : {1, 4}) {
    SCOPED_TRACE(threads);
    graph gr(test::the_platform().ops());
    scope sc = scope::root(gr);
    queue q = make_fifo_queue(sc, "q", {dtype::int64, dtype::float32}, 5,
                              {partial_shape(tensor_shape{}), partial_shape{2}});
    output i = ops::placeholder(sc, dtype::int64, partial_shape{-1});
    output f = ops::placeholder(sc, dtype::float32, partial_shape{-1, 2});
    operation enq = ops::queue_enqueue_many(sc, q, {i, f});
    operation close = ops::queue_close(sc, q);
    operation cancel = ops::queue_close(sc, q, true);
    std::vector<output> batch = ops::queue_dequeue_many(sc, q, 8);
    ASSERT_TRUE(sc.ok()) << sc.status().to_string();
    session sess(gr, test::the_platform().kernels(), {.num_threads = threads});

    // 100 elements in batches of 1 to 7, then close.
    auto producer = std::async(std::launch::async, [&]() -> error {
      int64_t next = 0;
      for (int64_t b = 1; next < 100; b = b % 7 + 1) {
        const int64_t n = std::min<int64_t>(b, 100 - next);
        std::vector<int64_t> ids(static_cast<size_t>(n));
        std::vector<float> feats;
        for (int64_t k = 0; k < n; ++k) {
          ids[size_t(k)] = next + k;
          feats.push_back(float(next + k));
          feats.push_back(-float(next + k));
        }
        TROUPE_TRY(run_targets(sess, {enq}, {{i, test::vec<int64_t>({n}, ids)},
                                             {f, test::vec<float>({n, 2}, feats)}}));
        next += n;
      }
      return run_targets(sess, {close});
    });
    // Batches of 8 until the queue is closed with fewer than 8 left (100 = 12 * 8 + 4).
    auto consumer = std::async(std::launch::async, [&]() -> std::pair<std::vector<int64_t>, error> {
      std::vector<int64_t> seen;
      for (;;) {
        auto r = sess.run(feeds{}, batch);
        if (!r) return {seen, r.error_value()};
        auto ids = test::values_of<int64_t>((*r)[0]);
        auto feats = test::values_of<float>((*r)[1]);
        for (size_t k = 0; k < ids.size(); ++k) {
          if (feats[2 * k] != float(ids[k]) || feats[2 * k + 1] != -float(ids[k]))
            return {seen, make_error(errc::internal, "components of element ", ids[k], " mixed up")};
          seen.push_back(ids[k]);
        }
      }
    });
    auto unblock = [&] { (void)run_targets(sess, {cancel}); };
    EXPECT_FALSE(bounded_get(producer, unblock));
    auto [seen, end] = bounded_get(consumer, unblock);
    EXPECT_EQ(end.code(), errc::out_of_range) << end.to_string();
    EXPECT_TRUE(test::contains(end.message(), "queue 'q' is closed and has 4 elements, fewer than 8"));
    std::vector<int64_t> want(96);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(seen, want);
  }
}

TEST_F(queue_test, close_wakes_a_blocked_dequeue_many_and_the_rest_stays) {
  queue q = make_fifo_queue(s, "q", {dtype::int32}, -1);
  operation enq = ops::queue_enqueue_many(s, q, {ops::constant(s, test::vec<int32_t>({2}, {5, 6}))});
  output batch = ops::queue_dequeue_many(s, q, 5)[0];
  output one = ops::queue_dequeue(s, q)[0];
  output size = ops::queue_size(s, q);
  operation close = ops::queue_close(s, q);
  auto sess = make_session();
  ASSERT_FALSE(run_targets(*sess, {enq}));
  std::atomic<bool> returned{false};
  auto consumer = std::async(std::launch::async, [&] {
    auto r = sess->run(feeds{}, {batch});
    returned = true;
    return r ? error{} : r.error_value();
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());  // 2 of 5: it waits (holding what it took)
  ASSERT_FALSE(run_targets(*sess, {close}));
  error e = bounded_get(consumer, [] {});
  EXPECT_EQ(e.code(), errc::out_of_range) << e.to_string();
  EXPECT_TRUE(test::contains(e.message(),
                             "node 'queue_dequeue_many' (queue_dequeue_many): queue 'q' is closed "
                             "and has 2 elements, fewer than 5"));
  // Nothing was lost: the two elements are back, in order.
  EXPECT_EQ(size_of(*sess, size), 2);
  EXPECT_EQ(fetch_ok(*sess, {one})[0].scalar_value<int32_t>(), 5);
  EXPECT_EQ(fetch_ok(*sess, {one})[0].scalar_value<int32_t>(), 6);
  auto empty = sess->run(feeds{}, {one});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error_value().code(), errc::out_of_range);
  EXPECT_TRUE(test::contains(empty.error_value().message(),
                             "queue 'q' is closed and has 0 elements, fewer than 1"));
}

TEST_F(queue_test, a_partial_final_batch) {
  queue q = make_fifo_queue(s, "q", {dtype::float64}, 10, {partial_shape{2}});
  std::vector<double> v(14);
  std::iota(v.begin(), v.end(), 0.0);
  operation enq = ops::queue_enqueue_many(s, q, {ops::constant(s, test::vec<double>({7, 2}, v))});
  output strict = ops::queue_dequeue_many(s, q, 3)[0];
  output up_to = ops::queue_dequeue_many(s, q, 3, /*allow_smaller_final_batch=*/true)[0];
  output size = ops::queue_size(s, q);
  operation close = ops::queue_close(s, q);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(strict.shape(), (partial_shape{3, 2}));
  EXPECT_EQ(up_to.shape(), (partial_shape{-1, 2}));
  auto sess = make_session();
  ASSERT_FALSE(run_targets(*sess, {enq}));
  ASSERT_FALSE(run_targets(*sess, {close}));
  EXPECT_EQ(fetch_ok(*sess, {strict})[0].shape(), (tensor_shape{3, 2}));
  EXPECT_EQ(fetch_ok(*sess, {up_to})[0].shape(), (tensor_shape{3, 2}));
  // One element left: the strict form refuses it and leaves it, the other returns it.
  auto refused = sess->run(feeds{}, {strict});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error_value().code(), errc::out_of_range);
  EXPECT_TRUE(test::contains(refused.error_value().message(),
                             "queue 'q' is closed and has 1 elements, fewer than 3"));
  EXPECT_EQ(size_of(*sess, size), 1);
  auto last = fetch_ok(*sess, {up_to});
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].shape(), (tensor_shape{1, 2}));
  EXPECT_EQ(test::values_of<double>(last[0]), (std::vector<double>{12, 13}));
  auto done = sess->run(feeds{}, {up_to});
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error_value().code(), errc::out_of_range);
  EXPECT_TRUE(test::contains(done.error_value().message(),
                             "queue 'q' is closed and has 0 elements, fewer than 3"));
}

TEST_F(queue_test, enqueue_after_close_fails_naming_the_queue) {
  queue q = make_fifo_queue(s.sub("input"), "examples", {dtype::int32}, 4);
  operation enq = ops::queue_enqueue(s, q, {ops::constant(s, int32_t(1))});
  operation close = ops::queue_close(s, q);
  auto sess = make_session();
  EXPECT_EQ(q.name, "input/examples");
  ASSERT_FALSE(run_targets(*sess, {enq}));
  ASSERT_FALSE(run_targets(*sess, {close}));
  ASSERT_FALSE(run_targets(*sess, {close}));  // closing twice is fine
  error e = run_targets(*sess, {enq});
  EXPECT_EQ(e.code(), errc::failed_precondition) << e.to_string();
  EXPECT_TRUE(test::contains(e.message(), "queue 'input/examples' is closed: no more elements can "
                                          "be enqueued"));
}

TEST_F(queue_test, close_cancels_or_lets_finish_the_pending_enqueues) {
  for (bool cancel : {true, false}) {
    SCOPED_TRACE(cancel);
    graph gr(test::the_platform().ops());
    scope sc = scope::root(gr);
    queue q = make_fifo_queue(sc, "q", {dtype::int32}, 1);
    operation enq = ops::queue_enqueue(sc, q, {ops::constant(sc, int32_t(7))});
    operation close = ops::queue_close(sc, q, cancel);
    operation force = ops::queue_close(sc, q, true);
    output deq = ops::queue_dequeue(sc, q)[0];
    ASSERT_TRUE(sc.ok()) << sc.status().to_string();
    session sess(gr, test::the_platform().kernels(), {.num_threads = 1});
    ASSERT_FALSE(run_targets(sess, {enq}));  // full now
    std::atomic<bool> returned{false};
    auto producer = std::async(std::launch::async, [&] {
      error e = run_targets(sess, {enq});
      returned = true;
      return e;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(returned.load());
    ASSERT_FALSE(run_targets(sess, {close}));
    if (cancel) {
      error e = bounded_get(producer, [] {});
      EXPECT_EQ(e.code(), errc::cancelled) << e.to_string();
      EXPECT_TRUE(test::contains(e.message(), "queue 'q' was closed with cancel_pending_enqueues"));
      EXPECT_EQ(fetch_ok(sess, {deq})[0].scalar_value<int32_t>(), 7);  // the first one
    } else {
      // As in TensorFlow: an enqueue waiting before the close finishes once there is room.
      std::this_thread::sleep_for(20ms);
      EXPECT_FALSE(returned.load());
      EXPECT_EQ(fetch_ok(sess, {deq})[0].scalar_value<int32_t>(), 7);
      EXPECT_FALSE(bounded_get(producer, [&] { (void)run_targets(sess, {force}); }));
      EXPECT_EQ(fetch_ok(sess, {deq})[0].scalar_value<int32_t>(), 7);
    }
    auto end = sess.run(feeds{}, {deq});
    ASSERT_FALSE(end.has_value());
    EXPECT_EQ(end.error_value().code(), errc::out_of_range);
  }
}

// Every element of 0..n-1 dequeued one by one from a closed random-shuffle queue.
std::vector<int64_t> shuffled(int64_t seed, int64_t n) {
  graph gr(test::the_platform().ops());
  scope sc = scope::root(gr);
  queue q = make_random_shuffle_queue(sc, "q", {dtype::int64}, n, 0, seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  operation enq = ops::queue_enqueue_many(sc, q, {ops::constant(sc, test::vec<int64_t>({n}, v))});
  operation close = ops::queue_close(sc, q);
  output deq = ops::queue_dequeue(sc, q)[0];
  EXPECT_TRUE(sc.ok()) << sc.status().to_string();
  session sess(gr, test::the_platform().kernels(), {.num_threads = 1});
  EXPECT_FALSE(run_targets(sess, {enq}));
  EXPECT_FALSE(run_targets(sess, {close}));
  std::vector<int64_t> out;
  for (;;) {
    auto r = sess.run(feeds{}, {deq});
    if (!r) {
      EXPECT_EQ(r.error_value().code(), errc::out_of_range) << r.error_value().to_string();
      break;
    }
    out.push_back((*r)[0].scalar_value<int64_t>());
  }
  return out;
}

TEST_F(queue_test, random_shuffle_gives_every_element_once_in_a_seeded_order) {
  const std::vector<int64_t> a = shuffled(42, 100);
  ASSERT_EQ(a.size(), 100u);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> fifo(100);
  std::iota(fifo.begin(), fifo.end(), 0);
  EXPECT_EQ(sorted, fifo);  // every element exactly once
  EXPECT_NE(a, fifo);       // not FIFO order
  EXPECT_EQ(shuffled(42, 100), a);  // same seed, same order of operations: same order
  EXPECT_NE(shuffled(43, 100), a);
  // Unseeded: still a permutation.
  std::vector<int64_t> any = shuffled(0, 50);
  std::sort(any.begin(), any.end());
  EXPECT_EQ(any, std::vector<int64_t>(fifo.begin(), fifo.begin() + 50));
}

TEST_F(queue_test, random_shuffle_picks_uniformly) {
  // 2000 rounds: enqueue 0..9, dequeue one (counted), drain the other nine. Each value
  // should come first about 200 times (binomial sd ~13.4); allow 5 sd.
  queue q = make_random_shuffle_queue(s, "q", {dtype::int32}, 10, 0, 7);
  operation enq = ops::queue_enqueue_many(
      s, q, {ops::constant(s, test::vec<int32_t>({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))});
  output first = ops::queue_dequeue(s, q)[0];
  output rest = ops::queue_dequeue_many(s, q, 9)[0];
  auto sess = make_session();
  std::map<int32_t, int> counts;
  std::map<int32_t, int> last_position;  // where 9 lands among the other nine: also uniform
  for (int round = 0; round < 2000; ++round) {
    ASSERT_FALSE(run_targets(*sess, {enq}));
    auto r = fetch_ok(*sess, {first, rest});
    ASSERT_EQ(r.size(), 2u);
    ++counts[r[0].scalar_value<int32_t>()];
    auto others = test::values_of<int32_t>(r[1]);
    std::vector<int32_t> all = others;
    all.push_back(r[0].scalar_value<int32_t>());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    if (r[0].scalar_value<int32_t>() != 9)
      ++last_position[int32_t(std::find(others.begin(), others.end(), 9) - others.begin())];
  }
  for (int32_t v = 0; v < 10; ++v) {
    EXPECT_GT(counts[v], 200 - 67) << v;
    EXPECT_LT(counts[v], 200 + 67) << v;
  }
  for (int32_t p = 0; p < 9; ++p) {
    EXPECT_GT(last_position[p], 200 - 67) << p;
    EXPECT_LT(last_position[p], 200 + 67) << p;
  }
}

TEST_F(queue_test, random_shuffle_keeps_min_after_dequeue_until_closed) {
  queue q = make_random_shuffle_queue(s, "q", {dtype::int32}, 20, 10, 3);
  std::vector<int32_t> v(15);
  std::iota(v.begin(), v.end(), 0);
  operation enq = ops::queue_enqueue_many(s, q, {ops::constant(s, test::vec<int32_t>({15}, v))});
  output batch = ops::queue_dequeue_many(s, q, 5)[0];
  output one = ops::queue_dequeue(s, q)[0];
  output size = ops::queue_size(s, q);
  operation close = ops::queue_close(s, q);
  auto sess = make_session();
  ASSERT_FALSE(run_targets(*sess, {enq}));
  ASSERT_EQ(fetch_ok(*sess, {batch})[0].num_elements(), 5);  // 15 - 5 = 10 left: allowed
  EXPECT_EQ(size_of(*sess, size), 10);
  std::atomic<bool> returned{false};
  auto consumer = std::async(std::launch::async, [&] {
    auto r = sess->run(feeds{}, {one});
    returned = true;
    return r;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());  // taking one would leave 9 < min_after_dequeue
  ASSERT_FALSE(run_targets(*sess, {close}));
  auto r = bounded_get(consumer, [] {});
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();  // closed: the rest drains
  EXPECT_EQ(size_of(*sess, size), 9);
}

TEST_F(queue_test, wrong_dtypes_and_shapes_fail_at_build_time_through_the_builder) {
  queue q = make_fifo_queue(s, "q", {dtype::float32, dtype::int64}, 10,
                            {partial_shape{3}, partial_shape(tensor_shape{})});
  output f = ph(dtype::float32, partial_shape{3});
  output bad_label = ph(dtype::int32, partial_shape(tensor_shape{}));
  ops::queue_enqueue(s.with_name("enq"), q, {f, bad_label});
  std::string m = build_error(errc::invalid_argument);
  EXPECT_TRUE(test::contains(m, "node 'enq' (queue_enqueue): input 'components' "
                                "(placeholder:0, placeholder_1:0) has dtypes [float32,int32] but "
                                "attribute 'Tcomponents' is [float32,int64]"));

  graph g2(test::the_platform().ops());
  scope s2 = scope::root(g2);
  queue q2 = make_fifo_queue(s2, "q", {dtype::float32, dtype::int64}, 10,
                             {partial_shape{3}, partial_shape(tensor_shape{})});
  ops::queue_enqueue_many(s2.with_name("enq"), q2,
                          {ops::placeholder(s2, dtype::float32, partial_shape{-1, 4}),
                           ops::placeholder(s2, dtype::int64, partial_shape{-1})});
  ASSERT_FALSE(s2.ok());
  EXPECT_TRUE(test::contains(s2.status().message(),
                             "node 'enq' (queue_enqueue_many): queue 'q': component 0 must have "
                             "shape [?,3] (a batch of [3]), got [?,4]"))
      << s2.status().message();

  graph g3(test::the_platform().ops());
  scope s3 = scope::root(g3);
  queue q3 = make_fifo_queue(s3, "q", {dtype::float32}, 10);
  ops::queue_enqueue_many(s3.with_name("enq"), q3,
                          {ops::placeholder(s3, dtype::float32, partial_shape(tensor_shape{}))});
  ASSERT_FALSE(s3.ok());
  EXPECT_TRUE(test::contains(s3.status().message(), "component 0 is a scalar"))
      << s3.status().message();
}

TEST_F(queue_test, wrong_dtypes_and_shapes_fail_at_run_time_naming_the_component) {
  queue q = make_fifo_queue(s, "q", {dtype::float32, dtype::int64}, 10,
                            {partial_shape{3}, partial_shape(tensor_shape{})});
  // Raw enqueue nodes that do not copy the queue's dtypes and shapes: the kernel checks.
  output f = ph(dtype::float32);
  output l32 = ph(dtype::int32);
  output l64 = ph(dtype::int64);
  operation wrong_type = s.with_control_deps({q.create}).add("queue_enqueue", {f, l32},
                                                             {{"queue", "q"}});
  operation one = s.with_control_deps({q.create}).add("queue_enqueue", {f, l64}, {{"queue", "q"}});
  operation many = s.with_control_deps({q.create}).add("queue_enqueue_many", {f, l64},
                                                       {{"queue", "q"}});
  operation too_few = s.with_control_deps({q.create}).add("queue_enqueue", {f}, {{"queue", "q"}});
  output size = ops::queue_size(s, q);
  auto sess = make_session();
  const tensor three = test::vec<float>({3}, {1, 2, 3});
  auto expect = [&](operation op, const feeds& fed, const std::string& part) {
    error e = run_targets(*sess, {op}, fed);
    EXPECT_EQ(e.code(), errc::invalid_argument) << e.to_string();
    EXPECT_TRUE(test::contains(e.message(), part));
  };
  expect(wrong_type, {{f, three}, {l32, tensor::scalar<int32_t>(1)}},
         "queue 'q': component 1 must be int64, got int32");
  expect(one, {{f, test::vec<float>({2}, {1, 2})}, {l64, tensor::scalar<int64_t>(1)}},
         "queue 'q': component 0 must have shape [3], got [2]");
  expect(one, {{f, three}, {l64, test::vec<int64_t>({1}, {1})}},
         "queue 'q': component 1 must have shape [], got [1]");
  expect(too_few, {{f, three}}, "queue 'q' has 2 components [float32,int64], got 1 tensors");
  expect(many, {{f, test::vec<float>({2, 3}, {1, 2, 3, 4, 5, 6})}, {l64, test::vec<int64_t>({3}, {1, 2, 3})}},
         "enqueue_many needs one batch size, but component 0 has 2 rows and component 1 has 3");
  expect(many, {{f, test::vec<float>({1, 4}, {1, 2, 3, 4})}, {l64, test::vec<int64_t>({1}, {1})}},
         "queue 'q': component 0 must have shape [?,3] (a batch of [3]), got [1,4]");
  EXPECT_EQ(size_of(*sess, size), 0);  // nothing half-enqueued
  ASSERT_FALSE(run_targets(*sess, {one}, {{f, three}, {l64, tensor::scalar<int64_t>(1)}}));
  EXPECT_EQ(size_of(*sess, size), 1);
}

TEST_F(queue_test, stacking_elements_of_different_shapes_fails_and_keeps_them) {
  queue q = make_fifo_queue(s, "q", {dtype::float32}, 10);  // shapes not declared
  output x = ph(dtype::float32);
  operation enq = ops::queue_enqueue(s, q, {x});
  output batch = ops::queue_dequeue_many(s, q, 2)[0];
  output one = ops::queue_dequeue(s, q)[0];
  auto sess = make_session();
  ASSERT_FALSE(run_targets(*sess, {enq}, {{x, test::vec<float>({2}, {1, 2})}}));
  ASSERT_FALSE(run_targets(*sess, {enq}, {{x, test::vec<float>({3}, {3, 4, 5})}}));
  auto r = sess->run(feeds{}, {batch});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  EXPECT_TRUE(test::contains(r.error_value().message(),
                             "queue 'q': cannot stack component 0 of 2 elements: element 1 has "
                             "shape [3] but element 0 has [2]"));
  EXPECT_EQ(fetch_ok(*sess, {one})[0].shape(), (tensor_shape{2}));
  EXPECT_EQ(fetch_ok(*sess, {one})[0].shape(), (tensor_shape{3}));
}

TEST_F(queue_test, creation_errors_and_missing_queues) {
  // Invalid configurations are graph-build errors.
  struct bad_config {
    std::function<void(const scope&)> build;
    const char* message;
  };
  for (const bad_config& b :
       {bad_config{[](const scope& sc) { make_fifo_queue(sc, "q", {dtype::int32}, 0); },
                   "queue 'q': capacity must be >= 1, or -1 for unbounded, got 0"},
        bad_config{[](const scope& sc) { make_fifo_queue(sc, "q", {}, 3); },
                   "component_types is empty"},
        bad_config{[](const scope& sc) {
                     make_fifo_queue(sc, "q", {dtype::int32, dtype::int64}, 3, {partial_shape{2}});
                   },
                   "queue 'q' has 2 components [int32,int64] but 1 shapes [[2]]"},
        bad_config{[](const scope& sc) {
                     make_random_shuffle_queue(sc, "q", {dtype::int32}, 10, 10, 1);
                   },
                   "min_after_dequeue (10) must be below the capacity (10)"},
        bad_config{[](const scope& sc) {
                     sc.add("fifo_queue", {},
                            {{"queue", "q"},
                             {"component_types", std::vector<dtype>{dtype::int32}},
                             {"shapes", std::vector<int64_t>{2, 5}}});
                   },
                   "shapes: component 0 has rank 2 but only 1 dimensions follow"}}) {
    graph gr(test::the_platform().ops());
    scope sc = scope::root(gr);
    b.build(sc);
    ASSERT_FALSE(sc.ok()) << b.message;
    EXPECT_TRUE(test::contains(sc.status().message(), b.message));
  }

  // Two creation ops for one queue must agree.
  queue a = make_fifo_queue(s, "q", {dtype::int32}, 3);
  operation b_create = s.add("fifo_queue", {},
                             {{"queue", "q"},
                              {"component_types", std::vector<dtype>{dtype::int32}},
                              {"capacity", int64_t{4}}});
  // An op on a queue nobody created.
  operation orphan = s.add("queue_close", {}, {{"queue", "nowhere"}, {"container", "c"}});
  auto sess = make_session();
  ASSERT_FALSE(run_targets(*sess, {a.create}));
  ASSERT_FALSE(run_targets(*sess, {a.create}));  // running it again is fine
  error e = run_targets(*sess, {b_create});
  EXPECT_EQ(e.code(), errc::failed_precondition) << e.to_string();
  EXPECT_TRUE(test::contains(e.message(),
                             "queue 'q' already exists as a fifo_queue of [int32], shapes any, "
                             "capacity 3; this op declares a fifo_queue of [int32], shapes any, "
                             "capacity 4"));
  e = run_targets(*sess, {orphan});
  EXPECT_EQ(e.code(), errc::failed_precondition) << e.to_string();
  EXPECT_TRUE(test::contains(e.message(), "queue 'nowhere' does not exist in container 'c'"));
  // A variable by the queue's name is another kind of resource.
  sess->device().resources().put("", "v", std::make_shared<variable_resource>(
                                              dtype::float32, partial_shape::unknown()));
  operation wrong_kind = s.add("queue_size", {}, {{"queue", "v"}});
  e = run_targets(*sess, {wrong_kind});
  EXPECT_EQ(e.code(), errc::failed_precondition) << e.to_string();
  EXPECT_TRUE(test::contains(e.message(), "resource 'v' in the default container is a variable"));
}

TEST(queue_shapes, encoding_round_trips_and_errors_name_the_position) {
  const std::vector<partial_shape> shapes{partial_shape{4, -1}, partial_shape(tensor_shape{}),
                                          partial_shape::unknown(), partial_shape{7}};
  const std::vector<int64_t> encoded = encode_queue_shapes(shapes);
  EXPECT_EQ(encoded, (std::vector<int64_t>{2, 4, -1, 0, -1, 1, 7}));
  auto back = decode_queue_shapes(encoded);
  ASSERT_TRUE(back.has_value()) << back.error_value().to_string();
  EXPECT_EQ(*back, shapes);
  EXPECT_TRUE(decode_queue_shapes({}).value().empty());
  auto bad_rank = decode_queue_shapes(std::vector<int64_t>{1, 3, -2});
  ASSERT_FALSE(bad_rank.has_value());
  EXPECT_TRUE(test::contains(bad_rank.error_value().message(),
                             "shapes: position 2 holds rank -2 of component 1"));
  auto bad_dim = decode_queue_shapes(std::vector<int64_t>{2, 3, -4});
  ASSERT_FALSE(bad_dim.has_value());
  EXPECT_TRUE(test::contains(bad_dim.error_value().message(), "shapes: component 0"));
}

}  // namespace
}  // namespace troupe
