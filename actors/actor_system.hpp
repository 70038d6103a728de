#pragma once

// The actor system troupe's actors run in: CAF 0.17 configuration, the message types
// that may travel in-process, and the one error type across actors. Every actor
// protocol header includes this one. See docs/actors.md.

#include <caf/all.hpp>

#include <string>
#include <vector>

#include "runtime/core/error.hpp"
#include "runtime/core/tensor.hpp"

// Note [Tensors in messages]
// Inside a process a tensor travels by reference: a message holds a tensor (a refcounted
// handle), so sending one copies no data and the receiver sees the sender's buffer. The
// sender must not write into a buffer after sending it (troupe's kernels never write
// into a buffer others hold: forward_or_allocate checks the use count). Across processes
// (the cluster issue) the same types are encoded with the Cap'n Proto tensor codec.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::tensor)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::tensor>)

namespace troupe::actors {

/// How CAF schedules actors. `sharing` (one queue for all workers) gives blocking
/// request/response about 11 us here against about 70 us for work stealing, at a cost
/// for actor-to-actor round trips (9 us against 3 us); bench/actor_bench measures both.
enum class scheduler_policy { sharing, stealing };

struct system_options {
  scheduler_policy scheduler = scheduler_policy::sharing;
  /// CAF's worker threads; <= 0: CAF's default (one per hardware thread). Actors only
  /// orchestrate (kernels run on each device's own threads), so few are needed.
  int scheduler_threads = 2;
};

/// A CAF configuration with troupe's error category and message types registered.
class system_config : public caf::actor_system_config {
 public:
  explicit system_config(const system_options& opts = {});
};

/// The category of troupe errors inside caf::error.
inline constexpr caf::atom_value error_category = caf::atom("troupe");

/// troupe's error as a caf::error (code and message kept), for responses and exits.
caf::error to_caf(const error& e);
/// A caf::error as troupe's error: troupe's own category converts back unchanged; CAF's
/// system errors map to the nearest code (a timed-out request: deadline_exceeded; a dead
/// receiver: unavailable) with CAF's description as the message.
error from_caf(const caf::error& e);

}  // namespace troupe::actors
