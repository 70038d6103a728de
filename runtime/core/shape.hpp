#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/expected.hpp"

namespace troupe {

/// Largest rank troupe supports (as Eigen's tensor kernels).
inline constexpr int max_rank = 8;

/// The fully known shape of a tensor: up to max_rank non-negative dimensions.
/// A value type, cheap to copy (no heap).
class tensor_shape {
 public:
  tensor_shape() = default;  // a scalar
  /// Aborts on a negative dimension or a rank above max_rank; use make() for user input.
  tensor_shape(std::initializer_list<int64_t> dims);
  explicit tensor_shape(std::span<const int64_t> dims);

  /// Validates user-supplied dimensions: an error names the bad dimension.
  static expected<tensor_shape> make(std::span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t dim(int i) const { return dims_[i]; }
  int64_t operator[](int i) const { return dims_[i]; }
  void set_dim(int i, int64_t d) { dims_[i] = d; }
  /// Product of the dimensions (1 for a scalar). Overflow-checked by make().
  int64_t num_elements() const;
  std::span<const int64_t> dims() const { return {dims_.data(), size_t(rank_)}; }
  std::vector<int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + rank_}; }

  /// "[2,3]"; "[]" for a scalar.
  std::string to_string() const;
  friend bool operator==(const tensor_shape& a, const tensor_shape& b);

 private:
  std::array<int64_t, max_rank> dims_{};
  uint8_t rank_ = 0;
};

/// A shape known in part, for inference before a graph runs: the rank may be unknown,
/// and each dimension may be unknown (-1).
class partial_shape {
 public:
  /// Unknown rank.
  partial_shape() = default;
  partial_shape(std::initializer_list<int64_t> dims);  // -1 = unknown dimension
  explicit partial_shape(std::span<const int64_t> dims);
  partial_shape(const tensor_shape& s);  // NOLINT: a known shape is a partial one

  static partial_shape unknown() { return {}; }
  /// Validates user input: dims >= -1, rank <= max_rank.
  static expected<partial_shape> make(std::span<const int64_t> dims);
  /// Rank known, all dimensions unknown.
  static partial_shape unknown_dims(int rank);

  bool rank_known() const { return rank_ >= 0; }
  int rank() const { return rank_; }  // -1 if unknown
  int64_t dim(int i) const { return dims_[i]; }
  int64_t operator[](int i) const { return dims_[i]; }
  void set_dim(int i, int64_t d) { dims_[i] = d; }
  bool fully_known() const;
  /// Number of elements when fully known, else -1.
  int64_t num_elements() const;
  std::span<const int64_t> dims() const { return {dims_.data(), size_t(rank_ < 0 ? 0 : rank_)}; }
  /// Requires fully_known().
  tensor_shape to_shape() const;

  /// True if a tensor of shape `s` may have this partial shape.
  bool is_compatible_with(const tensor_shape& s) const;
  /// "[?,3]"; "<unknown>" for an unknown rank.
  std::string to_string() const;
  friend bool operator==(const partial_shape& a, const partial_shape& b);

 private:
  std::array<int64_t, max_rank> dims_{};
  int8_t rank_ = -1;
};

}  // namespace troupe
