#pragma once

// The device actor: one per device. It owns a session over the graph (partition) placed
// on it and runs steps on the device's own threads, never on CAF's scheduler threads.
//
// Protocol (device_actor):
//   run_atom, run_request  ->  run_result
//     Runs one step: feeds, fetches and targets by endpoint name, as session::run. The
//     step runs on the device's runner thread; steps run one at a time in arrival order
//     (a request is answered only after every earlier one). A failing step is answered
//     with the troupe error (node and op named), and when `exit_on_failure` is set the
//     actor then exits with that error, so that its supervisor restarts it (a crashed
//     kernel leaves no doubt about the device's state).
//   save_atom, int64_t step  ->  int64_t
//     Saves the variables of the device's default container as checkpoint `step` in
//     options.checkpoint_dir (on the runner thread, between steps) and answers the step.
//     Error: failed_precondition when there is no checkpoint_dir.
//   stats_atom  ->  device_stats
//     Steps run and failed so far, and the device's name and thread count.
//   done_atom, uint64_t, run_outcome   (internal: the runner thread's answer)
// Failure behaviour: an exception thrown by a kernel becomes an internal error (the
// executor converts it); an injected kill (send_exit with exit_reason::kill) ends the
// actor at once: requests in its mailbox are answered with CAF's request_receiver_down
// error, and the steps it accepted but had not answered with an unavailable error naming
// the device (from_caf: unavailable either way). The runner thread finishes the step in
// flight before the actor's state is destroyed.
// Ordering: CAF keeps the order of messages between two actors; steps are answered in
// the order they were sent. Saves and the start-up restore run on the runner thread in
// order with the steps.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/actor_system.hpp"
#include "runtime/exec/session.hpp"

namespace troupe::actors {

using run_atom = caf::atom_constant<caf::atom("run")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using save_atom = caf::atom_constant<caf::atom("save")>;

/// One step for a device: as session::run's arguments.
struct run_request {
  std::vector<std::pair<std::string, tensor>> feeds;
  std::vector<std::string> fetches;
  std::vector<std::string> targets;
};

struct run_result {
  std::vector<tensor> fetches;
};

/// The runner thread's answer (internal).
struct run_outcome {
  std::vector<tensor> fetches;
  error err;
  bool abandoned = false;  ///< the actor is going away: only answer the requester
};

struct device_stats {
  std::string name;
  int threads = 0;
  int64_t steps = 0;
  int64_t failed = 0;
  int64_t restored_step = -1;  ///< the checkpoint restored at start, or -1
};

}  // namespace troupe::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::run_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::run_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::run_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::device_stats)

namespace troupe::actors {

using device_actor =
    caf::typed_actor<caf::replies_to<run_atom, run_request>::with<run_result>,
                     caf::replies_to<save_atom, int64_t>::with<int64_t>,
                     caf::replies_to<stats_atom>::with<device_stats>,
                     caf::reacts_to<done_atom, uint64_t, run_outcome>>;

struct device_options {
  std::string name = "/cpu:0";
  /// Threads of the device's cpu_device (1: deterministic single-threaded steps).
  int threads = 1;
  session_options session;  ///< num_threads is taken from `threads`
  /// Exit with the error after a failed step (so a supervisor restarts the device).
  bool exit_on_failure = false;
  /// Where save_atom writes checkpoints; when it holds one at start, the newest good one
  /// is restored before the first step (a restarted device continues from there). A
  /// restore that fails ends the actor with the error.
  std::string checkpoint_dir;
  /// Checkpoints kept (checkpoint_options::keep_last).
  int keep_checkpoints = 3;
};

/// Spawns a device actor running `g` (which, with `kernels`, must outlive the actor).
device_actor spawn_device(caf::actor_system& sys, std::shared_ptr<const graph> g,
                          const kernel_registry& kernels, device_options opts);

}  // namespace troupe::actors
