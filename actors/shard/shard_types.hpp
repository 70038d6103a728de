#pragma once

// The values parameter shards exchange and their configuration: plain structs, without
// actor code, shared by shard_core (the logic), parameter_shard (the actor and its
// protocol) and shard_client. See docs/actors-shards.md.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/shard/shard_plan.hpp"
#include "runtime/checkpoint/checkpoint.hpp"
#include "runtime/core/tensor.hpp"
#include "runtime/train/optimizer.hpp"

namespace troupe::actors {

/// The optimizer a shard applies, by value (so that it can be sent to a shard on
/// another node). `rule` picks the class of runtime/train/optimizer.hpp; `params` are its
/// constructor's arguments by name, each defaulting to that constructor's default:
///   sgd       -
///   momentum  momentum (0.9), use_nesterov (0 or 1; 0)
///   adagrad   initial_accumulator (0.1), epsilon (1e-7)
///   adam      beta1 (0.9), beta2 (0.999), epsilon (1e-8)
///   ftrl      l1 (0), l2 (0), initial_accumulator (0.1), lr_power (-0.5)
/// The learning rate is constant.
struct optimizer_spec {
  std::string rule = "sgd";
  double learning_rate = 0.01;
  std::map<std::string, double> params;
};

/// The optimizer `spec` describes. invalid_argument for an unknown rule or parameter.
expected<std::unique_ptr<train::optimizer>> make_optimizer(const optimizer_spec& spec);

/// How a shard turns pushes into updates (see Note [Shard steps] in shard_core.cpp).
enum class update_mode : uint8_t {
  /// One update per step, with the mean of the replicas' gradients; pull(step s) waits
  /// until step s - 1 is applied.
  sync,
  /// Every push is applied at once, alone; pulls never wait.
  async,
};

/// A value for one piece, named by its variable (a shard holds at most one piece of a
/// variable).
struct piece_value {
  std::string name;
  tensor value;
};

/// The gradient of one piece: `dense` (the piece's dtype and shape), or the sparse rows
/// `indices` (int32 or int64 vector of K row numbers local to the piece: 0 is its first
/// row) and `values` ([K] + the piece's row shape). Repeated indices add up.
struct piece_gradient {
  std::string name;
  tensor dense;
  tensor indices;
  tensor values;

  bool is_sparse() const { return values.valid(); }
};

/// What became of a push.
enum class push_outcome : uint8_t {
  applied,   ///< applied (async), or it completed its step, which was applied (sync)
  buffered,  ///< kept for its step, which waits for more replicas (sync)
  dropped,   ///< its step was applied already: not used, counted (sync)
};

struct push_ack {
  push_outcome outcome = push_outcome::applied;
  /// The shard's step after the push: sync, the step it now gathers (the number of steps
  /// applied); async, the number of pushes applied.
  int64_t step = 0;
};

/// Dense values of pieces with the shard's step when they were read.
struct shard_values {
  int64_t step = 0;
  std::vector<tensor> values;
};

/// A shard's counters.
struct shard_stats {
  int index = 0;
  int64_t step = 0;      ///< as push_ack::step
  int64_t applied = 0;   ///< updates applied (sync: steps; async: pushes)
  int64_t accepted = 0;  ///< pushes accepted (buffered or applied)
  int64_t dropped = 0;   ///< pushes for a step already applied (sync)
  int64_t rejected = 0;  ///< pushes answered with an error
  int buffered = 0;      ///< replicas that pushed for the step being gathered (sync)
  bool initialized = false;
  std::vector<std::string> pieces;  ///< the variables of its pieces, sorted
};

/// One shard's configuration.
struct shard_options {
  int index = 0;                    ///< this shard's number (named in errors)
  std::vector<shard_piece> pieces;  ///< what it holds: shard_plan::pieces_on(index)
  optimizer_spec optimizer;
  update_mode mode = update_mode::sync;
  /// R: replicas pushing gradients, numbered 0 .. R-1.
  int replicas = 1;
  /// k (sync): a step is applied when the first R - k replicas have pushed for it; the
  /// other k pushes for that step are dropped and counted ("backup replicas").
  int backup_replicas = 0;
  /// Threads of the shard's cpu_device (1: updates run on the shard's runner thread alone,
  /// deterministic).
  int threads = 1;
  /// How save() writes (each save opens the shard's store in the directory given).
  checkpoint_options checkpoints{.keep_last = 3, .fsync = true};
};

}  // namespace troupe::actors
