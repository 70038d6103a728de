#include "runtime/graph/attr_value.hpp"

#include <functional>
#include <sstream>

namespace troupe {

std::string_view attr_kind_name(attr_kind k) {
  switch (k) {
    case attr_kind::boolean: return "bool";
    case attr_kind::integer: return "int";
    case attr_kind::real: return "float";
    case attr_kind::string: return "string";
    case attr_kind::type: return "type";
    case attr_kind::shape: return "shape";
    case attr_kind::int_list: return "list(int)";
    case attr_kind::float_list: return "list(float)";
    case attr_kind::tensor: return "tensor";
    case attr_kind::type_list: return "list(type)";
  }
  return "?";
}

bool operator==(const attr_value& a, const attr_value& b) {
  if (a.v_.index() != b.v_.index()) return false;
  if (a.is<tensor>()) return a.get<tensor>().identical(b.get<tensor>());
  return a.v_ == b.v_;
}

namespace {
size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }
}  // namespace

size_t attr_value::hash() const {
  size_t h = v_.index();
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, partial_shape>) {
          h = mix(h, size_t(x.rank()));
          for (int64_t d : x.dims()) h = mix(h, std::hash<int64_t>{}(d));
        } else if constexpr (std::is_same_v<X, std::vector<int64_t>> ||
                             std::is_same_v<X, std::vector<double>>) {
          for (auto v : x) h = mix(h, std::hash<typename X::value_type>{}(v));
        } else if constexpr (std::is_same_v<X, tensor>) {
          h = mix(h, size_t(x.dtype()));
          for (int64_t d : x.shape().dims()) h = mix(h, std::hash<int64_t>{}(d));
          if (x.valid() && x.dtype() != dtype::string) {
            const auto* p = static_cast<const unsigned char*>(x.raw_data());
            size_t n = std::min<size_t>(x.byte_size(), 256);  // a prefix is enough for a hash
            for (size_t i = 0; i < n; ++i) h = mix(h, p[i]);
          }
        } else if constexpr (std::is_same_v<X, dtype>) {
          h = mix(h, size_t(x));
        } else if constexpr (std::is_same_v<X, std::vector<dtype>>) {
          for (dtype t : x) h = mix(h, size_t(t));
        } else {
          h = mix(h, std::hash<X>{}(x));
        }
      },
      v_);
  return h;
}

std::string attr_value::to_string() const {
  std::ostringstream os;
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, bool>) os << (x ? "true" : "false");
        else if constexpr (std::is_same_v<X, std::string>) os << '"' << x << '"';
        else if constexpr (std::is_same_v<X, dtype>) os << dtype_name(x);
        else if constexpr (std::is_same_v<X, partial_shape>) os << x.to_string();
        else if constexpr (std::is_same_v<X, tensor>) os << x.debug_string(4);
        else if constexpr (std::is_same_v<X, std::vector<int64_t>> ||
                           std::is_same_v<X, std::vector<double>>) {
          os << '[';
          for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << x[i];
          os << ']';
        } else if constexpr (std::is_same_v<X, std::vector<dtype>>) {
          os << '[';
          for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << dtype_name(x[i]);
          os << ']';
        } else os << x;
      },
      v_);
  return os.str();
}

}  // namespace troupe
