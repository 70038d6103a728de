#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/tensor.hpp"

namespace troupe {

/// The kinds of node attributes, as written in op signatures.
enum class attr_kind : uint8_t {
  boolean,     ///< "bool"
  integer,     ///< "int"
  real,        ///< "float"
  string,      ///< "string"
  type,        ///< "type": a dtype
  shape,       ///< "shape": a partial_shape
  int_list,    ///< "list(int)"
  float_list,  ///< "list(float)"
  tensor,      ///< "tensor"
  type_list,   ///< "list(type)": dtypes of a tuple of tensors (queue components)
};
std::string_view attr_kind_name(attr_kind k);

/// The value of one node attribute. The variant's index order matches attr_kind.
class attr_value {
 public:
  using storage = std::variant<bool, int64_t, double, std::string, dtype, partial_shape,
                               std::vector<int64_t>, std::vector<double>, troupe::tensor,
                               std::vector<dtype>>;

  attr_value() = default;
  attr_value(bool v) : v_(v) {}
  attr_value(int v) : v_(int64_t(v)) {}
  attr_value(int64_t v) : v_(v) {}
  attr_value(double v) : v_(v) {}
  attr_value(std::string v) : v_(std::move(v)) {}
  attr_value(const char* v) : v_(std::string(v)) {}
  attr_value(dtype v) : v_(v) {}
  attr_value(partial_shape v) : v_(v) {}
  attr_value(const tensor_shape& v) : v_(partial_shape(v)) {}
  attr_value(std::vector<int64_t> v) : v_(std::move(v)) {}
  attr_value(std::initializer_list<int64_t> v) : v_(std::vector<int64_t>(v)) {}
  attr_value(std::vector<double> v) : v_(std::move(v)) {}
  attr_value(troupe::tensor v) : v_(std::move(v)) {}
  attr_value(std::vector<dtype> v) : v_(std::move(v)) {}

  attr_kind kind() const { return attr_kind(v_.index()); }
  template <class T>
  bool is() const { return std::holds_alternative<T>(v_); }
  template <class T>
  const T& get() const { return std::get<T>(v_); }
  const storage& value() const { return v_; }

  /// Equal kind and value (tensors compared with tensor::identical).
  friend bool operator==(const attr_value& a, const attr_value& b);
  /// A hash consistent with ==.
  size_t hash() const;
  /// Short human form: "true", "3", "[2,?]", "float32 [2] {1, 2}".
  std::string to_string() const;

 private:
  storage v_;
};

/// Attributes of a node by name (ordered: deterministic hashing and printing).
using attr_map = std::map<std::string, attr_value, std::less<>>;

}  // namespace troupe
