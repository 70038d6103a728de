#pragma once

// Data-parallel training in one process: R replicas, each a device actor running the same
// step graph on its own batches, and S parameter-shard actors holding the variables and
// applying the optimizer. A replica's step: pull the variables from the shards (sync: as
// of the previous step), feed them with the batch to its device, fetch the loss and the
// gradients, push the gradients to the shards. In sync mode the shards apply one update
// per step with the mean of the R gradients, so R replicas of batch B follow 1 replica of
// batch R*B when the loss is a mean over the batch. See docs/actors.md.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/actor_system.hpp"
#include "actors/device/device_actor.hpp"
#include "actors/shard/shard_client.hpp"
#include "actors/shard/parameter_shard.hpp"
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

 private:
  data_parallel_trainer() = default;

  caf::actor_system* sys_ = nullptr;
  replica_model model_;
  data_parallel_options opts_;
  std::shared_ptr<const shard_plan> plan_;
  std::vector<parameter_shard_actor> shards_;
  std::vector<device_actor> devices_;
  int64_t step_ = 0;
};

}  // namespace troupe::actors
