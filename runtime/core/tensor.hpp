#pragma once

#include <Eigen/Core>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/buffer.hpp"
#include "runtime/core/dtype.hpp"
#include "runtime/core/shape.hpp"

namespace troupe {

/// A typed, shaped, dense array in row-major order over a reference-counted buffer.
/// Copies share the buffer (cheap); `clone()` copies the bytes.
/// Thread-safety: a value type; tensors sharing a buffer must not be written concurrently.
class tensor {
 public:
  template <class T>
  using flat_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  template <class T>
  using const_flat_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  template <class T>
  using matrix_map = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  template <class T>
  using const_matrix_map =
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

  /// An invalid tensor (dtype invalid); valid() is false.
  tensor() = default;
  /// A zero-filled tensor (empty strings). Throws std::bad_alloc when out of memory.
  tensor(troupe::dtype t, const tensor_shape& s);

  /// An uninitialized tensor (strings are empty); resource_exhausted when out of memory.
  static expected<tensor> allocate(troupe::dtype t, const tensor_shape& s);
  /// A view of external memory kept alive by `owner` (zero-copy). Not for strings.
  static tensor wrap(troupe::dtype t, const tensor_shape& s, void* data, std::shared_ptr<const void> owner);

  template <class T>
  static tensor from_vector(const tensor_shape& s, const std::vector<T>& values) {
    TROUPE_ASSERT(int64_t(values.size()) == s.num_elements(), "from_vector: ", values.size(),
                  " values for shape ", s.to_string());
    tensor t(dtype_v<T>, s);
    auto out = t.values<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
    return t;
  }
  template <class T>
  static tensor scalar(T v) {
    tensor t(dtype_v<T>, tensor_shape{});
    t.data<T>()[0] = std::move(v);
    return t;
  }
  static tensor scalar(const char* v) { return scalar(std::string(v)); }

  bool valid() const { return dtype_ != troupe::dtype::invalid; }
  troupe::dtype dtype() const { return dtype_; }
  const tensor_shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t num_elements() const { return shape_.num_elements(); }
  /// Bytes of element data (for strings: of the std::string objects).
  size_t byte_size() const { return size_t(num_elements()) * dtype_size(dtype_); }

  void* raw_data() const { return buf_ ? buf_->data() : nullptr; }
  template <class T>
  T* data() const {
    TROUPE_ASSERT(dtype_ == dtype_v<T>, "tensor of ", dtype_name(dtype_), " read as ",
                  dtype_name(dtype_v<T>));
    return static_cast<T*>(raw_data());
  }
  template <class T>
  std::span<T> values() const { return {data<T>(), size_t(num_elements())}; }
  template <class T>
  flat_map<T> flat() const { return flat_map<T>(data<T>(), num_elements()); }
  /// Rank 2 only (aborts otherwise).
  template <class T>
  matrix_map<T> matrix() const {
    TROUPE_ASSERT(rank() == 2, "matrix() of a rank-", rank(), " tensor");
    return matrix_map<T>(data<T>(), dim(0), dim(1));
  }
  template <class T>
  T& scalar_value() const {
    TROUPE_ASSERT(num_elements() == 1, "scalar_value() of shape ", shape_.to_string());
    return data<T>()[0];
  }

  /// The same buffer seen with another shape of the same number of elements.
  expected<tensor> reshaped(const tensor_shape& s) const;
  /// A deep copy in a fresh buffer.
  tensor clone() const;
  /// True if no other tensor shares this buffer (it may be written in place).
  bool buffer_is_unique() const { return buf_ && buf_->ref_count() == 1 && buf_->owns_memory(); }
  const buffer_ref& buffer_handle() const { return buf_; }

  /// Same dtype, shape and element values (bitwise for floats, so NaN == NaN).
  bool identical(const tensor& other) const;
  /// "float32 [2,2] {1, 2, 3, 4}", at most `max_values` values shown.
  std::string debug_string(int max_values = 8) const;

 private:
  tensor(troupe::dtype t, const tensor_shape& s, buffer_ref b)
      : dtype_(t), shape_(s), buf_(std::move(b)) {}

  troupe::dtype dtype_ = troupe::dtype::invalid;
  tensor_shape shape_;
  buffer_ref buf_;
};

}  // namespace troupe
