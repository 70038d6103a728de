#include "runtime/core/shape.hpp"

#include <algorithm>
#include <limits>

namespace troupe {

tensor_shape::tensor_shape(std::initializer_list<int64_t> dims)
    : tensor_shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

tensor_shape::tensor_shape(std::span<const int64_t> dims) {
  auto s = make(dims);
  TROUPE_ASSERT(s.has_value(), s.error_value().message());
  *this = *s;
}

expected<tensor_shape> tensor_shape::make(std::span<const int64_t> dims) {
  TROUPE_REQUIRE(dims.size() <= size_t(max_rank), "shape: rank ", dims.size(),
                 " exceeds the maximum rank ", max_rank);
  tensor_shape s;
  s.rank_ = uint8_t(dims.size());
  int64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    TROUPE_REQUIRE(dims[i] >= 0, "shape: dimension ", i, " is ", dims[i],
                   ": expected a non-negative size");
    if (dims[i] != 0 && n > std::numeric_limits<int64_t>::max() / dims[i])
      return make_error(errc::invalid_argument, "shape: number of elements overflows int64");
    n *= dims[i];
    s.dims_[i] = dims[i];
  }
  return s;
}

int64_t tensor_shape::num_elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string tensor_shape::to_string() const {
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) out += ',';
    out += std::to_string(dims_[i]);
  }
  return out + "]";
}

bool operator==(const tensor_shape& a, const tensor_shape& b) {
  return a.rank_ == b.rank_ && std::equal(a.dims_.begin(), a.dims_.begin() + a.rank_, b.dims_.begin());
}

partial_shape::partial_shape(std::initializer_list<int64_t> dims)
    : partial_shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

partial_shape::partial_shape(std::span<const int64_t> dims) {
  auto s = make(dims);
  TROUPE_ASSERT(s.has_value(), s.error_value().message());
  *this = *s;
}

partial_shape::partial_shape(const tensor_shape& s) : rank_(int8_t(s.rank())) {
  for (int i = 0; i < s.rank(); ++i) dims_[i] = s.dim(i);
}

expected<partial_shape> partial_shape::make(std::span<const int64_t> dims) {
  TROUPE_REQUIRE(dims.size() <= size_t(max_rank), "shape: rank ", dims.size(),
                 " exceeds the maximum rank ", max_rank);
  partial_shape s;
  s.rank_ = int8_t(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    TROUPE_REQUIRE(dims[i] >= -1, "shape: dimension ", i, " is ", dims[i],
                   ": expected a size, or -1 for unknown");
    s.dims_[i] = dims[i];
  }
  return s;
}

partial_shape partial_shape::unknown_dims(int rank) {
  partial_shape s;
  s.rank_ = int8_t(rank);
  for (int i = 0; i < rank; ++i) s.dims_[i] = -1;
  return s;
}

bool partial_shape::fully_known() const {
  if (rank_ < 0) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] < 0) return false;
  return true;
}

int64_t partial_shape::num_elements() const {
  if (!fully_known()) return -1;
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

tensor_shape partial_shape::to_shape() const {
  TROUPE_ASSERT(fully_known(), "partial_shape::to_shape on ", to_string());
  return tensor_shape(dims());
}

bool partial_shape::is_compatible_with(const tensor_shape& s) const {
  if (rank_ < 0) return true;
  if (rank_ != s.rank()) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] >= 0 && dims_[i] != s.dim(i)) return false;
  return true;
}

std::string partial_shape::to_string() const {
  if (rank_ < 0) return "<unknown>";
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) out += ',';
    out += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
  }
  return out + "]";
}

bool operator==(const partial_shape& a, const partial_shape& b) {
  return a.rank_ == b.rank_ && std::equal(a.dims_.begin(), a.dims_.begin() + std::max<int>(a.rank_, 0), b.dims_.begin());
}

}  // namespace troupe
