#pragma once

// The state and logic of one parameter shard, without actors: its pieces, their
// optimizer slots and update counts in its own resource_mgr, the update graph that
// applies gradients with troupe's update ops, the sync/async step rules and the
// checkpoints. The parameter_shard actor owns one and calls it from its runner thread.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/shard/shard_types.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"

namespace troupe::actors {

/// One parameter shard's state. Every error names the shard ("parameter shard 1: ...")
/// and leaves the state as it was (see Note [Shard validation] in shard_core.cpp).
/// Thread-safety: none; one thread at a time (the shard actor's runner thread).
class shard_core {
 public:
  /// Builds the update graph for `opts.pieces`. The platform must outlive the core.
  /// invalid_argument: a bad optimizer spec, replicas < 1, backup_replicas outside
  /// [0, replicas), pieces of another shard or repeated.
  static expected<std::unique_ptr<shard_core>> make(const platform& p, shard_options opts);
  ~shard_core();
  shard_core(const shard_core&) = delete;
  shard_core& operator=(const shard_core&) = delete;

  /// Sets every piece (all must be given) and its slots to their initial values, update
  /// counts and the step to 0, and forgets buffered gradients. Errors: not_found (a name
  /// that is not a piece), invalid_argument (a piece missing or given twice, a dtype or
  /// shape that is not the piece's).
  error init(const std::vector<piece_value>& values);
  /// Replaces the values of some pieces; slots, counts and the step stay.
  /// failed_precondition before init or restore; otherwise as init.
  error assign(const std::vector<piece_value>& values);

  /// Snapshots of the named pieces (all, in name order, if `names` is empty).
  /// not_found, failed_precondition before init or restore.
  expected<std::vector<tensor>> read(const std::vector<std::string>& names) const;
  /// Rows of piece `name`: `indices` (int32 or int64, any shape, local row numbers) give
  /// a tensor of shape indices.shape + the row shape, gathered by troupe's gather op.
  /// not_found, invalid_argument (index dtype, an index out of range: named).
  expected<tensor> read_rows(const std::string& name, const tensor& indices);

  /// A replica's gradients for `step` (see Note [Shard steps]). Errors, after which
  /// nothing is applied or buffered: invalid_argument (a replica outside [0, R), a name
  /// given twice, a gradient of the wrong dtype or shape, a row index out of range, a
  /// gradient for a variable that is not float32/float64), not_found (an unknown piece),
  /// already_exists (sync: the replica pushed for this step already), failed_precondition
  /// (before init or restore; sync: a step ahead of the shard's).
  expected<push_ack> push(int64_t step, int replica, const std::vector<piece_gradient>& grads);

  /// Saves every piece, slot and update count as a checkpoint of `step` in the store in
  /// `dir` (created if needed); returns its id. failed_precondition before init.
  expected<uint64_t> save(const std::filesystem::path& dir, int64_t step);
  /// Restores the newest good checkpoint of the store in `dir` (pieces, slots, counts; the
  /// step becomes the checkpoint's step, buffered gradients are forgotten); returns the
  /// step. Errors, with the state unchanged: not_found (no directory, no checkpoint, a
  /// piece's tensor missing: another shard's checkpoint), invalid_argument (a tensor of
  /// another dtype or shape), data_loss (every checkpoint damaged).
  expected<int64_t> restore(const std::filesystem::path& dir);

  /// As push_ack::step.
  int64_t step() const { return step_; }
  bool initialized() const { return initialized_; }
  shard_stats stats() const;
  /// The piece's update count (Adam's step), or -1 before init or for an unknown piece.
  int64_t updates(const std::string& name) const;
  const shard_options& options() const { return opts_; }

 private:
  struct piece_graph;
  explicit shard_core(shard_options opts);
  error build(const platform& p);
  expected<piece_graph*> find(const std::string& name);
  expected<const piece_graph*> find(const std::string& name) const;
  error check_values(const std::vector<piece_value>& values, bool all) const;
  error check_gradient(const piece_graph& pg, const piece_gradient& g) const;
  // Applies one update per piece with gradients, each the sum of its gradients / divisor.
  error apply(const std::map<std::string, std::vector<const piece_gradient*>>& grads,
              int divisor);
  std::vector<std::string> state_names() const;

  shard_options opts_;
  std::string where_;  // "parameter shard 1"
  std::unique_ptr<train::optimizer> optimizer_;
  std::unique_ptr<graph> graph_;  // before session_: the session refers to it
  std::unique_ptr<session> session_;
  std::map<std::string, std::unique_ptr<piece_graph>, std::less<>> pieces_;
  bool initialized_ = false;
  int64_t step_ = 0;
  // Sync: the gradients of the step being gathered, by replica.
  std::map<int, std::vector<piece_gradient>> gathered_;
  shard_stats stats_;
};

}  // namespace troupe::actors
