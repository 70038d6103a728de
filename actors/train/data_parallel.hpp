#pragma once

// Data-parallel training in one process: R replicas, each a device actor running the same
// step graph on its own batches, and S parameter-shard actors holding the variables and
// applying the optimizer. A replica's step: pull the variables from the shards (sync: as
// of the previous step), feed them with the batch to its device, fetch the loss and the
// gradients, push the gradients to the shards. In sync mode the shards apply one update
// per step with the mean of the R gradients, so R replicas of batch B follow 1 replica of
// batch R*B when the loss is a mean over the batch. See docs/actors.md.
//
// Note [Recovery]
// A supervisor watches every device and shard. A device that fails (killed, or a step
// that throws) is restarted empty - devices hold no state here - and its replica retries
// the step in flight with the new handle. A shard that fails is restarted empty too; the
// replicas' requests to it fail (unavailable), every replica stops, and the trainer rolls
// every shard back to the newest checkpoint (or to the initial values when there is
// none yet) and continues from its step. Batches are a function of (replica, step), so
// the steps after the checkpoint are redone with the same examples: none is lost or
// used twice in the model that results. A crash loop ends training with the
// supervisor's error.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/actor_system.hpp"
#include "actors/device/device_actor.hpp"
#include "actors/shard/shard_client.hpp"
#include "actors/shard/parameter_shard.hpp"
#include "actors/supervisor/supervisor.hpp"
#include "runtime/graph/scope.hpp"
#include "runtime/ops/variable_ops.hpp"

namespace troupe {
class platform;
}

namespace troupe::actors {

/// One trainable variable of a replica model: where its value is read (fed from the
/// shards) and where its gradient comes out (dense, or sparse indices + values).
struct replica_variable {
  std::string name;
  std::string value;  ///< endpoint of its read (fed with the pulled value)
  dtype type = dtype::float32;
  tensor_shape shape;
  bool embedding = false;
  std::string dense_gradient;                   ///< endpoint, or "" when sparse
  std::string gradient_indices, gradient_values;  ///< endpoints when sparse
  tensor initial;                               ///< the initializer's value
};

/// The step graph every replica runs.
struct replica_model {
  std::shared_ptr<const graph> g;
  std::vector<std::string> inputs;  ///< endpoints fed with each batch, in batch order
  std::string loss;                 ///< endpoint of the (scalar, mean) loss
  std::vector<replica_variable> variables;
};

/// Adds the gradients of `loss` for `vars` to `g` and records the endpoints; computes
/// the variables' initial values by running their initializers once (on a throwaway
/// session). `embeddings` names variables read by gather (split by rows across shards).
/// Errors: those of add_gradients; a variable the loss does not depend on
/// (invalid_argument naming it); an initializer that fails.
expected<replica_model> make_replica_model(std::shared_ptr<graph> g, const platform& p,
                                           output loss, const std::vector<variable>& vars,
                                           const std::vector<output>& inputs,
                                           const std::vector<std::string>& embeddings = {});

struct data_parallel_options {
  int replicas = 2;
  int shards = 2;
  int device_threads = 1;  ///< threads of each replica's device
  optimizer_spec optimizer;
  update_mode mode = update_mode::sync;
  int backup_replicas = 0;  ///< sync: apply when R - k replicas pushed
  plan_options plan;
  /// The shards save into checkpoint_dir/shard-<s> every `checkpoint_every` steps (and
  /// at step 0); "" or 0: never (a failed shard then restarts training from step 0).
  std::string checkpoint_dir;
  int64_t checkpoint_every = 0;
  /// Restarts allowed per child before the job stops (see restart_policy), and shard
  /// recoveries allowed per train() call.
  restart_policy restarts;
  int max_recoveries = 5;
  /// Time-out of each request to a shard or device.
  std::chrono::milliseconds request_timeout{30'000};
};

/// A batch for `replica` at `step`: one tensor per replica_model::inputs.
using batch_source = std::function<expected<std::vector<tensor>>(int replica, int64_t step)>;

/// Owns the replicas' device actors and the shards; trains with one thread per replica.
/// Thread-safety: one caller at a time.
class data_parallel_trainer {
 public:
  static expected<std::unique_ptr<data_parallel_trainer>> make(caf::actor_system& sys,
                                                               const platform& p,
                                                               replica_model model,
                                                               data_parallel_options opts);
  ~data_parallel_trainer();

  /// Runs `steps` steps on every replica (starting at the shards' current step) and
  /// returns the mean over replicas of each step's loss. The first error of any replica
  /// stops all of them and is returned (naming the replica).
  expected<std::vector<double>> train(int64_t steps, const batch_source& batches);
  /// The variables' current values (whole, assembled from the shards).
  expected<std::vector<tensor>> values(const std::vector<std::string>& names);
  /// Steps applied so far (sync).
  int64_t step() const { return step_; }
  const shard_plan& plan() const { return *plan_; }
  /// The current handles (for fault injection in tests).
  device_actor device(int replica) const;
  parameter_shard_actor shard(int index) const;
  /// Shard recoveries (roll-backs to a checkpoint) so far.
  int recoveries() const { return recoveries_; }

 private:
  data_parallel_trainer() = default;
  // Runs steps [begin, end) on every replica; `losses[step - first]` gets the mean loss.
  error run_steps(int64_t begin, int64_t end, int64_t first, const batch_source& batches,
                  std::vector<std::vector<double>>& losses);
  // The child's handle once it differs from `old` (after a restart), bounded in time.
  expected<caf::actor> restarted(const std::string& name, const caf::actor& old);
  expected<int> total_restarts();
  // Note [Recovery]: new handles, every shard back to the newest checkpoint.
  error recover();
  error save();

  caf::actor_system* sys_ = nullptr;
  replica_model model_;
  data_parallel_options opts_;
  std::shared_ptr<const shard_plan> plan_;
  supervisor_actor supervisor_;
  std::vector<parameter_shard_actor> shards_;
  std::vector<device_actor> devices_;
  std::vector<piece_value> initial_;
  int64_t step_ = 0;
  int recoveries_ = 0;
  int known_restarts_ = 0;
};

}  // namespace troupe::actors
