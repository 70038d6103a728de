#include "runtime/exec/kernel.hpp"

namespace troupe {

error kernel_registry::add(std::string op, device_kind d, dtype t, kernel_factory f) {
  auto key = std::make_tuple(std::move(op), d, t);
  if (kernels_.count(key))
    return make_error(errc::already_exists, "a ", device_kind_name(d), " kernel for op '",
                      std::get<0>(key), "' and dtype ", dtype_name(t), " is already registered");
  kernels_.emplace(std::move(key), std::move(f));
  return {};
}

void kernel_registry::add_or_die(const std::string& op, device_kind d, dtype t, kernel_factory f) {
  error e = add(op, d, t, std::move(f));
  TROUPE_ASSERT(!e, e.message());
}

expected<std::unique_ptr<op_kernel>> kernel_registry::create(const node& n, device_kind d) const {
  dtype t = dtype::invalid;
  const std::string& type_attr = n.def->kernel_type_attr();
  if (!type_attr.empty()) t = n.attr<dtype>(type_attr);
  auto it = kernels_.find(std::make_tuple(n.op, d, t));
  if (it == kernels_.end()) it = kernels_.find(std::make_tuple(n.op, d, dtype::invalid));
  if (it == kernels_.end())
    return make_error(errc::unimplemented, "node '", n.name, "' (", n.op, "): no ",
                      device_kind_name(d), " kernel for op '", n.op, "'",
                      type_attr.empty() ? std::string() : str_cat(" with ", type_attr, "=", dtype_name(t)));
  kernel_construction c(n, d);
  auto k = it->second(c);
  if (!k) return std::move(k).error_value().with_context(str_cat("node '", n.name, "' (", n.op, ")"));
  return k;
}

bool kernel_registry::has(std::string_view op, device_kind d, dtype t) const {
  return kernels_.count(std::make_tuple(std::string(op), d, t)) ||
         kernels_.count(std::make_tuple(std::string(op), d, dtype::invalid));
}

std::vector<std::pair<std::string, dtype>> kernel_registry::list(device_kind d) const {
  std::vector<std::pair<std::string, dtype>> out;
  for (const auto& [key, _] : kernels_)
    if (std::get<1>(key) == d) out.emplace_back(std::get<0>(key), std::get<2>(key));
  return out;
}

}  // namespace troupe
