#pragma once

// The supervisor: starts a set of named children (devices, shards, input actors), watches
// them, and restarts a child that fails - that child alone; the others keep their state.
//
// Protocol (supervisor_actor):
//   get_atom, std::string name  ->  caf::actor
//     The named child's current handle (a new one after each restart). Callers that saw a
//     child fail (an unavailable error, see from_caf) ask again and retry their step.
//     Error: not_found for an unknown name.
//   stats_atom  ->  supervisor_stats
//     Restarts so far, per child.
// Failure behaviour: a child that exits for any reason other than a normal or
// user_shutdown exit is restarted by its spec's start function, which restores its state
// (e.g. from the newest good checkpoint). When a child fails more than max_restarts
// times within `window` (a crash loop), or its start function fails that often, the
// supervisor gives up: it stops every child and exits with an aborted error naming the
// child, the count, the window and the last failure; pending and later requests get that
// error (from_caf: aborted), so the job stops with a clear message instead of spinning.
// When the supervisor exits, for any reason, its children are stopped.
// Ordering: restarts happen inside the supervisor's own message handling, so a get that
// arrives after a child's failure was noticed returns the restarted child.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "actors/actor_system.hpp"
#include "actors/device/device_actor.hpp"

namespace troupe::actors {

using get_atom = caf::atom_constant<caf::atom("get")>;

/// A child: its name and how to start it (again). `start` runs inside the supervisor;
/// `restart` counts the restarts before this one (0: first start).
struct child_spec {
  std::string name;
  std::function<expected<caf::actor>(caf::actor_system& sys, int restart)> start;
};

struct restart_policy {
  int max_restarts = 3;
  std::chrono::milliseconds window{10'000};
};

struct supervisor_stats {
  std::map<std::string, int> restarts;
};

}  // namespace troupe::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::supervisor_stats)

namespace troupe::actors {

using supervisor_actor =
    caf::typed_actor<caf::replies_to<get_atom, std::string>::with<caf::actor>,
                     caf::replies_to<stats_atom>::with<supervisor_stats>>;

/// Spawns a supervisor named `name` and starts `children` in order. If a first start
/// fails, the supervisor exits at once with that error.
supervisor_actor spawn_supervisor(caf::actor_system& sys, std::string name,
                                  std::vector<child_spec> children, restart_policy policy = {});

}  // namespace troupe::actors
