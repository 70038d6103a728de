#pragma once

// The parameter-shard actor: holds some pieces of the model's variables (a shard_plan
// says which), their optimizer slots and update counts in its own resource_mgr, and
// applies gradients with troupe's update ops on its own cpu_device. The header clients
// include. See docs/actors-shards.md.
//
// Protocol (parameter_shard_actor). Names are variable names: a shard holds at most one
// piece of a variable, and row numbers are local to the piece (0 is its first row).
//   init_atom, vector<piece_value>  ->  int64_t step (0)
//     Sets every piece (all must be given) and its slots to their initial values, the
//     update counts and the step to 0, and forgets gradients kept for a step.
//   assign_atom, vector<piece_value>  ->  int64_t step
//     Replaces the values of some pieces; slots, counts and the step stay.
//   pull_atom, int64_t step, vector<string> names  ->  shard_values
//     Snapshots of the named pieces (every piece, by name, when `names` is empty) and the
//     shard's step. Sync mode: answered once step `step` - 1 is applied (the shard's step
//     is >= `step`); a pull for a step not reached is held, without a time limit of its
//     own (the requester's timeout ends the wait). Async mode: answered at once.
//   pull_rows_atom, int64_t step, string name, tensor indices  ->  tensor
//     Rows of one piece (an embedding look-up): indices int32/int64 of any shape give
//     indices.shape + the row shape. Waits for `step` as pull does.
//   push_atom, int64_t step, int32_t replica, vector<piece_gradient>  ->  push_ack
//     A replica's gradients, dense or sparse per piece. Sync mode: kept until R - k
//     replicas have pushed for the step, then applied once with their mean; a push for a
//     step already applied is dropped and counted (answered `dropped`, not an error).
//     Async mode: applied at once. See Note [Shard steps] in shard_core.cpp.
//   save_atom, string dir, int64_t step  ->  int64_t checkpoint id
//     Saves pieces, slots and counts as checkpoint `step` in the checkpoint store in
//     `dir` (one store per shard directory). Pass the shard's step to continue from it.
//   restore_atom, string dir  ->  int64_t step
//     Restores the newest good checkpoint in `dir`; the shard continues at its step and
//     forgets gradients kept for a step.
//   stats_atom  ->  shard_stats
//   done_atom, uint64_t job, int64_t step   (internal: the runner thread's answer)
// Ordering: every request but a held pull runs on the shard's runner thread in the order
// the shard received it (CAF keeps the order of messages between two actors), so a
// sender's pull sees its own earlier push and assign. A held pull is queued behind what
// is queued when its step is applied. Answers to one sender come in the order of its
// requests, except for held pulls.
// Failure behaviour: a bad request is answered with a troupe error naming the shard, the
// piece (and its rows) and what to fix, and changes nothing: no update, no kept gradient,
// no step (Note [Shard validation] in shard_core.cpp). Codes: not_found (unknown piece;
// restore: no directory, no checkpoint, another shard's checkpoint), invalid_argument
// (dtype, shape, row index out of range, replica out of range, a piece named twice),
// already_exists (a replica pushing twice for one step), failed_precondition (before
// init or restore; a push for a step ahead of the shard's), data_loss (restore: every
// checkpoint damaged). The actor never exits because of a request. When it is killed,
// requests it had accepted (held pulls included) are answered with an unavailable error
// after the job in flight finishes; requests still in its mailbox get CAF's
// request_receiver_down (unavailable through from_caf).

#include <cstdint>
#include <string>
#include <vector>

#include "actors/actor_system.hpp"
#include "actors/shard/shard_types.hpp"

namespace troupe { class platform; }

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::actors::piece_value>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::actors::piece_gradient>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::shard_values)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::push_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::actors::shard_stats)

namespace troupe::actors {

using init_atom = caf::atom_constant<caf::atom("init")>;
using assign_atom = caf::atom_constant<caf::atom("assign")>;
using pull_atom = caf::atom_constant<caf::atom("pull")>;
using pull_rows_atom = caf::atom_constant<caf::atom("pull_rows")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using save_atom = caf::atom_constant<caf::atom("save")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

/// The parameter shard's protocol (see the top of this header).
struct parameter_shard_trait {
  using signatures = caf::detail::type_list<
      caf::replies_to<init_atom, std::vector<piece_value>>::with<int64_t>,
      caf::replies_to<assign_atom, std::vector<piece_value>>::with<int64_t>,
      caf::replies_to<pull_atom, int64_t, std::vector<std::string>>::with<shard_values>,
      caf::replies_to<pull_rows_atom, int64_t, std::string, tensor>::with<tensor>,
      caf::replies_to<push_atom, int64_t, int32_t, std::vector<piece_gradient>>::with<push_ack>,
      caf::replies_to<save_atom, std::string, int64_t>::with<int64_t>,
      caf::replies_to<restore_atom, std::string>::with<int64_t>,
      caf::replies_to<stats_atom>::with<shard_stats>,
      caf::reacts_to<done_atom, uint64_t, int64_t>>;
};

/// caf::typed_actor of a trait's signature list.
template <class Signatures>
struct typed_actor_of;
template <class... Signatures>
struct typed_actor_of<caf::detail::type_list<Signatures...>> {
  using type = caf::typed_actor<Signatures...>;
};

using parameter_shard_actor = typed_actor_of<parameter_shard_trait::signatures>::type;

/// Builds the shard's state (its update graph; see shard_core::make for the errors) on
/// the calling thread, then spawns the actor. `p` must outlive the actor.
expected<parameter_shard_actor> spawn_parameter_shard(caf::actor_system& sys, const platform& p,
                                                      shard_options opts);

}  // namespace troupe::actors
