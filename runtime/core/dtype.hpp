#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "runtime/core/expected.hpp"

namespace troupe {

/// Element types of tensors. The numbering is part of the wire format
/// (schemas/tensor.capnp): never reuse or reorder.
enum class dtype : uint8_t {
  invalid = 0,
  float32 = 1,
  float64 = 2,
  int32 = 3,
  int64 = 4,
  boolean = 5,  ///< stored as one byte, 0 or 1
  string = 6,   ///< each element is a std::string
};

inline constexpr dtype all_dtypes[] = {dtype::float32, dtype::float64, dtype::int32,
                                       dtype::int64,   dtype::boolean, dtype::string};

/// "float32", "float64", "int32", "int64", "bool", "string".
std::string_view dtype_name(dtype t);
/// Parses the names above; an unknown name is an invalid_argument error.
expected<dtype> parse_dtype(std::string_view name);
/// Bytes per element; sizeof(std::string) for strings.
size_t dtype_size(dtype t);

inline bool is_floating(dtype t) { return t == dtype::float32 || t == dtype::float64; }
inline bool is_integer(dtype t) { return t == dtype::int32 || t == dtype::int64; }
inline bool is_numeric(dtype t) { return is_floating(t) || is_integer(t); }

template <class T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr dtype value = dtype::float32; };
template <> struct dtype_of<double> { static constexpr dtype value = dtype::float64; };
template <> struct dtype_of<int32_t> { static constexpr dtype value = dtype::int32; };
template <> struct dtype_of<int64_t> { static constexpr dtype value = dtype::int64; };
template <> struct dtype_of<bool> { static constexpr dtype value = dtype::boolean; };
template <> struct dtype_of<std::string> { static constexpr dtype value = dtype::string; };
template <class T>
inline constexpr dtype dtype_v = dtype_of<T>::value;

/// Calls `f(T{})`-style: `visit_dtype(t, [&]<class T>() { ... })` with the C++ type of t.
/// Aborts on dtype::invalid (callers validate dtypes first).
template <class F>
decltype(auto) visit_dtype(dtype t, F&& f) {
  switch (t) {
    case dtype::float32: return f.template operator()<float>();
    case dtype::float64: return f.template operator()<double>();
    case dtype::int32: return f.template operator()<int32_t>();
    case dtype::int64: return f.template operator()<int64_t>();
    case dtype::boolean: return f.template operator()<bool>();
    case dtype::string: return f.template operator()<std::string>();
    case dtype::invalid: break;
  }
  TROUPE_ASSERT(false, "visit_dtype: invalid dtype");
  __builtin_unreachable();
}

}  // namespace troupe
