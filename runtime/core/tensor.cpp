#include "runtime/core/tensor.hpp"

#include <algorithm>
#include <limits>
#include <new>
#include <sstream>

namespace troupe {

expected<tensor> tensor::allocate(troupe::dtype t, const tensor_shape& s) {
  TROUPE_REQUIRE(t != troupe::dtype::invalid, "tensor: cannot allocate dtype invalid");
  int64_t n = s.num_elements();
  if (n > 0 && size_t(n) > std::numeric_limits<size_t>::max() / 2 / dtype_size(t))
    return make_error(errc::resource_exhausted, "tensor: ", dtype_name(t), " ", s.to_string(),
                      " is too large to allocate");
  buffer* b = t == troupe::dtype::string ? buffer::allocate(0, n)
                                         : buffer::allocate(size_t(n) * dtype_size(t));
  if (b == nullptr)
    return make_error(errc::resource_exhausted, "tensor: out of memory allocating ",
                      dtype_name(t), " ", s.to_string());
  return tensor(t, s, buffer_ref(b));
}

tensor::tensor(troupe::dtype t, const tensor_shape& s) {
  auto r = allocate(t, s);
  if (!r) throw std::bad_alloc();
  *this = std::move(*r);
  if (t != troupe::dtype::string && byte_size() > 0) std::memset(raw_data(), 0, byte_size());
}

tensor tensor::wrap(troupe::dtype t, const tensor_shape& s, void* data,
                    std::shared_ptr<const void> owner) {
  TROUPE_ASSERT(t != troupe::dtype::string && t != troupe::dtype::invalid, "tensor::wrap of ",
                dtype_name(t));
  return tensor(t, s, buffer_ref(buffer::wrap(data, size_t(s.num_elements()) * dtype_size(t),
                                              std::move(owner))));
}

expected<tensor> tensor::reshaped(const tensor_shape& s) const {
  TROUPE_REQUIRE(s.num_elements() == num_elements(), "reshape: cannot view ",
                 shape_.to_string(), " (", num_elements(), " elements) as ", s.to_string(),
                 " (", s.num_elements(), " elements)");
  return tensor(dtype_, s, buf_);
}

tensor tensor::clone() const {
  if (!valid()) return {};
  tensor out(dtype_, shape_);
  if (dtype_ == troupe::dtype::string) {
    auto src = values<std::string>();
    auto dst = out.values<std::string>();
    for (size_t i = 0; i < src.size(); ++i) dst[i] = src[i];
  } else if (byte_size() > 0) {
    std::memcpy(out.raw_data(), raw_data(), byte_size());
  }
  return out;
}

bool tensor::identical(const tensor& o) const {
  if (dtype_ != o.dtype_ || !(shape_ == o.shape_)) return false;
  if (!valid()) return true;
  if (dtype_ == troupe::dtype::string) {
    auto a = values<std::string>();
    auto b = o.values<std::string>();
    return std::equal(a.begin(), a.end(), b.begin());
  }
  return byte_size() == 0 || std::memcmp(raw_data(), o.raw_data(), byte_size()) == 0;
}

std::string tensor::debug_string(int max_values) const {
  if (!valid()) return "<invalid tensor>";
  std::ostringstream os;
  os << dtype_name(dtype_) << " " << shape_.to_string() << " {";
  int64_t n = std::min<int64_t>(num_elements(), max_values);
  visit_dtype(dtype_, [&]<class T>() {
    const T* p = data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if (i) os << ", ";
      if constexpr (std::is_same_v<T, std::string>)
        os << '"' << p[i] << '"';
      else if constexpr (std::is_same_v<T, bool>)
        os << (p[i] ? "true" : "false");
      else
        os << p[i];
    }
  });
  if (num_elements() > n) os << ", ...";
  os << "}";
  return os.str();
}

}  // namespace troupe
