#pragma once

// The client side of parameter shards: splitting whole variables and gradients into the
// pieces a shard_plan assigns, assembling pieces back, routing embedding rows; and a
// blocking client that talks to the shard actors with them. See docs/actors-shards.md.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "actors/shard/parameter_shard.hpp"

namespace troupe::actors {

/// The gradient of one whole variable: `dense` (its dtype and shape), or the sparse rows
/// `indices` (int32 or int64 vector of K row numbers of the whole variable) and `values`
/// ([K] + its row shape). Repeated indices add up.
struct variable_gradient {
  std::string name;
  tensor dense;
  tensor indices;
  tensor values;
};

// ---- pure functions over a plan (thread-safe: they only read their arguments) --------

/// Splits whole-variable values (piece_value::name is the variable) into the pieces of
/// each shard: result[s] is shard s's, in plan order. Split pieces get a copy of their
/// rows; whole ones share the given tensor. With `all`, every variable of the plan must be
/// given. Errors: not_found (unknown variable), invalid_argument (dtype, shape, a variable
/// given twice or missing).
expected<std::vector<std::vector<piece_value>>> split_values(const shard_plan& plan,
                                                             const std::vector<piece_value>& values,
                                                             bool all);

/// Splits gradients of whole variables into the gradients of each shard's pieces: dense
/// rows by range; sparse rows by the range their index falls in, re-based to the piece
/// (index - row_begin). Every piece of a variable with a sparse gradient gets one, with no
/// rows when none of its rows is listed, so that every piece counts the update (Note
/// [Shard steps] in shard_core.cpp). Everything is checked before anything is split, so
/// a bad gradient reaches no shard. Errors: not_found, invalid_argument (dtype, shape, a
/// row index out of range naming it and its position, a variable given twice).
expected<std::vector<std::vector<piece_gradient>>> split_gradients(
    const shard_plan& plan, const std::vector<variable_gradient>& grads);

/// A variable assembled from its pieces' values, given in pieces_of() order.
expected<tensor> assemble(const shard_plan& plan, const std::string& name,
                          const std::vector<tensor>& pieces);

/// Where the rows of an embedding look-up live: for each piece of the variable (in
/// pieces_of() order), the local row numbers (int64 vector; invalid when no index falls
/// in it) and the positions of the look-up they answer.
struct row_routes {
  std::vector<tensor> local;
  std::vector<std::vector<int64_t>> positions;
  tensor_shape result_shape;  ///< indices.shape + the variable's row shape
};
/// Routes `indices` (int32 or int64, any shape, rows of the whole variable). Errors:
/// not_found, invalid_argument (a scalar variable, index dtype, an index out of range).
expected<row_routes> route_rows(const shard_plan& plan, const std::string& name,
                                const tensor& indices);
/// The look-up's result from each piece's rows (as answered for route_rows' `local`).
expected<tensor> gather_routed(const shard_plan& plan, const std::string& name,
                               const row_routes& routes, const std::vector<tensor>& rows);

// ---- the blocking client ---------------------------------------------------------------

/// Talks to the shards of a plan as one parameter store: each call sends its requests to
/// every shard involved at once, then waits for all answers (each within `timeout`). An
/// error names the shard; when several fail, the first shard's error is returned.
/// Thread-safety: none (it owns a scoped_actor); use one client per thread.
class shard_client {
 public:
  /// `shards[s]` runs shard s of `plan`.
  shard_client(caf::actor_system& sys, std::shared_ptr<const shard_plan> plan,
               std::vector<parameter_shard_actor> shards,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// Initializes every shard from the values of all the plan's variables.
  error init(const std::vector<piece_value>& values);
  /// Replaces the values of some variables (slots and steps stay).
  error assign(const std::vector<piece_value>& values);
  /// Whole variables, assembled from their pieces (sync: each shard answers once it has
  /// reached `step`).
  expected<std::vector<tensor>> pull(int64_t step, const std::vector<std::string>& names);
  expected<tensor> pull(int64_t step, const std::string& name);
  /// Rows of a variable (an embedding look-up): indices.shape + the row shape.
  expected<tensor> pull_rows(int64_t step, const std::string& name, const tensor& indices);
  /// Pushes a replica's gradients for `step` to every shard (shards without a piece of
  /// them get an empty push, which still counts the replica for the step). The acks by
  /// shard.
  expected<std::vector<push_ack>> push(int64_t step, int replica,
                                       const std::vector<variable_gradient>& grads);
  /// Each shard saves into shard_dir(base, s); the checkpoint ids by shard.
  expected<std::vector<int64_t>> save(const std::filesystem::path& base, int64_t step);
  /// Each shard restores from shard_dir(base, s); the step. failed_precondition if the
  /// shards restored different steps (a save that did not reach every shard): restore
  /// from a checkpoint every shard holds.
  expected<int64_t> restore(const std::filesystem::path& base);
  expected<std::vector<shard_stats>> stats();

  /// base / "shard-<s>".
  static std::filesystem::path shard_dir(const std::filesystem::path& base, int shard);
  const shard_plan& plan() const { return *plan_; }

 private:
  template <class R, class Send>
  expected<std::vector<R>> ask(const std::vector<int>& shards, Send send);
  std::vector<int> all_shards() const;

  std::shared_ptr<const shard_plan> plan_;
  std::vector<parameter_shard_actor> shards_;
  std::chrono::milliseconds timeout_;
  caf::scoped_actor self_;
};

}  // namespace troupe::actors
