#pragma once

#include <string>
#include <vector>

#include "runtime/graph/scope.hpp"

/// Queues: FIFO and random-shuffle queues of tuples of tensors (TensorFlow's FIFOQueue
/// and RandomShuffleQueue), held in the device's resource containers
/// (runtime/exec/queue.hpp, Note [Queues]) and named by (container, name). The ops refer
/// to a queue by the attributes `queue` (its name) and `container` ("" = the default
/// one). Kernels: kernels/cpu/queue_kernels.cpp.
///
/// Ops (all stateful; `shapes` is a list(int) holding, per component, its rank followed by
/// its dimensions, -1 alone for an unknown rank, [] for "any shapes": see
/// encode_queue_shapes in runtime/exec/queue.hpp):
///   fifo_queue() -> (); component_types: list(type); shapes: list(int) = [];
///       capacity: int = -1 (unbounded)
///   random_shuffle_queue() -> (); the same, and min_after_dequeue: int = 0; seed: int = 0
///     Creates the queue when it runs, if it does not exist yet; if it exists, its
///     configuration must be the same (failed_precondition otherwise). Running it again
///     is cheap, so the builder makes every other op of the queue run after it: no
///     separate initialization step is needed.
///   queue_enqueue(components: Tcomponents) -> (); Tcomponents: list(type); shapes
///   queue_enqueue_many(components: Tcomponents) -> (): the same, split along dimension 0
///   queue_dequeue() -> (components: component_types); shapes
///   queue_dequeue_many() -> (components: component_types); n: int;
///       allow_smaller_final_batch: bool = false; shapes
///   queue_close() -> (); cancel_pending_enqueues: bool = false
///   queue_size() -> (size: int32)
/// The `shapes` of the enqueue and dequeue ops are the queue's, copied by the builder so
/// that shape errors show at graph-build time and dequeued shapes are inferred.
namespace troupe {

/// A queue as the builder API sees it.
struct queue {
  std::string name;       ///< the resource name (the scope's prefix + the given name)
  std::string container;  ///< "" = the default container
  std::vector<dtype> component_types;
  std::vector<partial_shape> shapes;  ///< one per component, or empty: any shapes
  operation create;  ///< the creation node (named `name`); the queue's ops run after it

  bool valid() const { return create.valid(); }
};

/// Adds a FIFO queue holding at most `capacity` elements (-1: unbounded) of these
/// component dtypes and (optionally) shapes. The creation node is named `name` within s.
queue make_fifo_queue(const scope& s, const std::string& name, std::vector<dtype> component_types,
                      int64_t capacity, std::vector<partial_shape> shapes = {},
                      const std::string& container = "");

/// Adds a random-shuffle queue: a dequeue takes an element chosen uniformly among those
/// held, leaving at least `min_after_dequeue` (until closed). `seed` != 0 makes the order
/// deterministic for a given order of operations; 0 seeds from std::random_device.
queue make_random_shuffle_queue(const scope& s, const std::string& name,
                                std::vector<dtype> component_types, int64_t capacity,
                                int64_t min_after_dequeue, int64_t seed,
                                std::vector<partial_shape> shapes = {},
                                const std::string& container = "");

namespace ops {
/// Adds one element (a tensor per component); blocks while the queue is full.
operation queue_enqueue(const scope& s, const queue& q, const std::vector<output>& components);
/// Adds components[i][j] for every j along dimension 0 (all with the same size there).
operation queue_enqueue_many(const scope& s, const queue& q,
                             const std::vector<output>& components);
/// Takes one element: a tensor per component. Blocks until there is one; out_of_range
/// once the queue is closed and empty.
std::vector<output> queue_dequeue(const scope& s, const queue& q);
/// Takes n elements, each component stacked along a new dimension 0. Blocks until there
/// are n; on a closed queue with fewer left, out_of_range (nothing taken), or with
/// allow_smaller_final_batch the k > 0 elements left.
std::vector<output> queue_dequeue_many(const scope& s, const queue& q, int64_t n,
                                       bool allow_smaller_final_batch = false);
/// Closes the queue: later enqueues fail, waiting dequeues wake. With
/// cancel_pending_enqueues, enqueues waiting for room fail too.
operation queue_close(const scope& s, const queue& q, bool cancel_pending_enqueues = false);
/// The number of elements held (int32 scalar).
output queue_size(const scope& s, const queue& q);
}  // namespace ops

void register_queue_ops(op_registry& reg);

}  // namespace troupe
