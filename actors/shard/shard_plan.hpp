#pragma once

// Shard planning: which parameter shard holds which rows of which variable. See
// docs/actors-shards.md and Note [Shard planning] in shard_plan.cpp.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/dtype.hpp"
#include "runtime/core/expected.hpp"
#include "runtime/core/shape.hpp"

namespace troupe::actors {

/// A variable of the model, as the planner sees it.
struct variable_spec {
  std::string name;
  dtype type = dtype::float32;
  tensor_shape shape;
  /// Always split by rows across every shard, whatever its size (it is read with
  /// pull_rows). Needs rank >= 1.
  bool embedding = false;

  /// Bytes of the whole variable.
  int64_t bytes() const { return shape.num_elements() * int64_t(dtype_size(type)); }
};

/// One piece of a variable: rows [row_begin, row_end) of dimension 0, held by `shard`.
/// A variable placed whole is one piece with `split` false covering every row (a scalar:
/// row_begin = row_end = 0).
struct shard_piece {
  std::string variable;
  int shard = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  bool split = false;
  dtype type = dtype::float32;
  tensor_shape shape;  ///< the piece's own shape: its rows x the variable's other dims

  int64_t rows() const { return row_end - row_begin; }
  int64_t bytes() const { return shape.num_elements() * int64_t(dtype_size(type)); }
  friend bool operator==(const shard_piece&, const shard_piece&) = default;
};

struct plan_options {
  /// Variables of more bytes than this are split by rows across every shard.
  int64_t split_bytes = int64_t(1) << 20;
};

/// Where each variable lives across S parameter shards. Deterministic: the same
/// variables (in any order) and options give the same plan.
/// Thread-safety: immutable after make(); share it freely.
class shard_plan {
 public:
  /// Plans `vars` over `num_shards` shards (see Note [Shard planning]). Errors
  /// (invalid_argument): num_shards < 1, an empty or repeated name, an invalid dtype, an
  /// embedding of rank 0.
  static expected<shard_plan> make(std::vector<variable_spec> vars, int num_shards,
                                   plan_options options = {});

  int num_shards() const { return num_shards_; }
  /// The variables, sorted by name.
  const std::vector<variable_spec>& variables() const { return vars_; }
  /// The variable named `name`, or nullptr.
  const variable_spec* find(std::string_view name) const;
  /// The pieces of a variable in row order (empty for an unknown name).
  std::span<const shard_piece> pieces_of(std::string_view name) const;
  /// The pieces shard `shard` holds, sorted by variable name (at most one per variable).
  std::vector<shard_piece> pieces_on(int shard) const;
  /// Bytes each shard holds (the planner's load; optimizer slots scale it evenly).
  std::vector<int64_t> shard_bytes() const;
  /// One line per shard: "shard 0 (123 bytes): emb[0,5) w".
  std::string to_string() const;

 private:
  int num_shards_ = 0;
  std::vector<variable_spec> vars_;
  std::map<std::string, std::vector<shard_piece>, std::less<>> pieces_;  // by variable
};

}  // namespace troupe::actors
