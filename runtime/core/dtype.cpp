#include "runtime/core/dtype.hpp"

#include <string>

namespace troupe {

std::string_view dtype_name(dtype t) {
  switch (t) {
    case dtype::float32: return "float32";
    case dtype::float64: return "float64";
    case dtype::int32: return "int32";
    case dtype::int64: return "int64";
    case dtype::boolean: return "bool";
    case dtype::string: return "string";
    case dtype::invalid: break;
  }
  return "invalid";
}

expected<dtype> parse_dtype(std::string_view name) {
  for (dtype t : all_dtypes)
    if (dtype_name(t) == name) return t;
  if (name == "boolean") return dtype::boolean;
  return make_error(errc::invalid_argument, "unknown dtype '", name,
                    "': expected float32, float64, int32, int64, bool or string");
}

size_t dtype_size(dtype t) {
  switch (t) {
    case dtype::float32: return 4;
    case dtype::float64: return 8;
    case dtype::int32: return 4;
    case dtype::int64: return 8;
    case dtype::boolean: return 1;
    case dtype::string: return sizeof(std::string);
    case dtype::invalid: break;
  }
  return 0;
}

}  // namespace troupe
