#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/exec/resource.hpp"

namespace troupe {

/// One element of a queue: a tensor per component, in the queue's component order.
using queue_element = std::vector<tensor>;

/// What a queue is created with (the creation op's attributes, see
/// runtime/ops/queue_ops.hpp).
struct queue_config {
  std::vector<dtype> component_types;  ///< one per component; at least one
  std::vector<partial_shape> shapes;   ///< one per component, or empty: any shapes
  int64_t capacity = -1;               ///< most elements held at once; -1 = unbounded
  bool shuffle = false;                ///< random_shuffle_queue instead of FIFO
  int64_t min_after_dequeue = 0;       ///< shuffle: elements kept back unless closed
  int64_t seed = 0;                    ///< shuffle: 0 = nondeterministic

  /// An error naming what is wrong (no component, a shape per component, capacity,
  /// min_after_dequeue); `queue` names the queue.
  error validate(std::string_view queue) const;
  friend bool operator==(const queue_config&, const queue_config&) = default;
};

/// The per-component shapes of a queue as the `shapes: list(int)` attribute holds them:
/// for each component its rank followed by its dimensions (-1 = unknown dimension), or
/// -1 alone for an unknown rank; [] = every shape unknown. {[4], []} is [1,4, 0].
std::vector<int64_t> encode_queue_shapes(std::span<const partial_shape> shapes);
/// The inverse; an error names the position that is malformed. Empty gives empty.
expected<std::vector<partial_shape>> decode_queue_shapes(std::span<const int64_t> encoded);

// Note [Queues]
// A queue holds elements (tuples of tensors, one per component) between the steps and
// the threads of a session, as TensorFlow's FIFOQueue and RandomShuffleQueue do:
// - enqueue blocks while the queue is full, until a dequeue makes room. The elements of
//   one enqueue (an enqueue_many's whole batch) go in contiguously, in order, even when
//   the batch is larger than the capacity (they go in as room appears). Enqueueing on a
//   closed queue is failed_precondition. An enqueue already waiting when the queue is
//   closed finishes as room appears, unless the close cancels pending enqueues: then it
//   fails with `cancelled` (what it had put in stays).
// - dequeue of n elements blocks until it has them: it takes elements as they arrive,
//   and the dequeues are served one at a time in turn. A random-shuffle queue only
//   takes while more than min_after_dequeue elements remain (so every pick is from a
//   well-mixed pool), except once closed. When the queue is closed and fewer than n
//   elements are left, the dequeue puts back what it took and fails with out_of_range
//   ("queue 'q' is closed and has k elements, fewer than n"): this is how input ends
//   cleanly. With allow_smaller it returns the k > 0 left instead.
// - closing wakes every waiting dequeue (and cancelled enqueues); nothing waits forever
//   on a closed queue except an enqueue that was already waiting for room and was not
//   cancelled (as in TensorFlow).
// - a random-shuffle queue picks uniformly among the elements it holds, with a
//   generator seeded by `seed`: the same seed and the same order of operations give the
//   same order of elements.
// Blocking happens on the thread running the kernel: a session whose every thread is
// blocked in a queue op cannot run the op that would unblock it, so producers and
// consumers run in separate session::run calls (threads).

/// A queue resource (kind "fifo_queue" or "random_shuffle_queue"). See Note [Queues].
/// Thread-safety: every member may be called from any thread.
class queue_resource final : public resource {
 public:
  /// `config` must be valid (see queue_config::validate).
  queue_resource(std::string name, queue_config config);
  std::string_view kind() const override;

  const std::string& name() const { return name_; }
  const queue_config& config() const { return config_; }
  /// An error if the queue was created with another configuration: a second creation op
  /// naming the same queue must agree with the first (kind, dtypes, shapes, capacity).
  error check_same_config(const queue_config& other) const;

  /// Checks one element (batched = false) or a batch of them along dimension 0 (true)
  /// against the component count, dtypes and shapes; an error names the component, the
  /// expected and the given dtype or shape. Returns the number of elements.
  expected<int64_t> check_components(std::span<const tensor* const> components,
                                     bool batched) const;

  /// Adds the elements (already checked), blocking while the queue is full.
  /// Errors: failed_precondition if closed, cancelled if the close cancelled it.
  error enqueue(std::vector<queue_element> elements);
  /// Takes n elements, blocking until they are there. Errors: out_of_range when closed
  /// with fewer left (nothing taken), unless allow_smaller and some are left.
  /// `same_shapes`: the elements must agree in each component's shape (to be stacked);
  /// if they do not, they are put back and an invalid_argument error names them.
  expected<std::vector<queue_element>> dequeue(int64_t n, bool allow_smaller, bool same_shapes);
  /// Closes the queue; wakes every waiting dequeue. `cancel_pending_enqueues` also fails
  /// the enqueues waiting for room.
  void close(bool cancel_pending_enqueues);
  bool closed() const;
  /// Elements held now.
  int64_t size() const;

 private:
  // Takes one element (the front, or a random one); mu_ held.
  queue_element take_one();
  // Puts taken elements back where they came from (the front, for FIFO); mu_ held.
  void put_back(std::vector<queue_element>& taken);
  std::string fewer_than(int64_t n) const;  // mu_ held

  const std::string name_;
  const queue_config config_;
  // Producers and consumers each go one at a time (Note [Queues]); taken before mu_.
  std::mutex enqueue_turn_;
  std::mutex dequeue_turn_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;  // an element arrived, or closed
  std::condition_variable not_full_;   // room appeared, or cancelled
  std::deque<queue_element> elements_;
  bool closed_ = false;
  bool cancelled_ = false;
  std::mt19937_64 rng_;
};

}  // namespace troupe
