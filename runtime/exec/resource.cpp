#include "runtime/exec/resource.hpp"

namespace troupe {

std::string resource_mgr::describe_container(std::string_view container) {
  return container.empty() ? std::string("the default container")
                           : str_cat("container '", container, "'");
}

expected<std::shared_ptr<resource>> resource_mgr::find(std::string_view container,
                                                       std::string_view name) const {
  std::shared_lock lock(mu_);
  auto c = containers_.find(container);
  if (c != containers_.end()) {
    auto r = c->second.find(name);
    if (r != c->second.end()) return r->second;
  }
  return make_error(errc::not_found, "no resource '", name, "' in ", describe_container(container),
                    " (not created yet, or the container was reset)");
}

expected<std::shared_ptr<resource>> resource_mgr::find_or_create(
    std::string_view container, std::string_view name,
    const std::function<expected<std::shared_ptr<resource>>()>& make) {
  {
    std::shared_lock lock(mu_);
    auto c = containers_.find(container);
    if (c != containers_.end()) {
      auto r = c->second.find(name);
      if (r != c->second.end()) return r->second;
    }
  }
  std::unique_lock lock(mu_);
  auto& c = containers_[std::string(container)];
  auto r = c.find(name);
  if (r != c.end()) return r->second;
  std::shared_ptr<resource> made = TROUPE_TRY(make());
  c.emplace(std::string(name), made);
  return made;
}

void resource_mgr::put(std::string_view container, std::string_view name,
                       std::shared_ptr<resource> r) {
  std::unique_lock lock(mu_);
  containers_[std::string(container)].insert_or_assign(std::string(name), std::move(r));
}

bool resource_mgr::erase(std::string_view container, std::string_view name) {
  std::unique_lock lock(mu_);
  auto c = containers_.find(container);
  if (c == containers_.end()) return false;
  auto r = c->second.find(name);
  if (r == c->second.end()) return false;
  c->second.erase(r);
  if (c->second.empty()) containers_.erase(c);
  return true;
}

size_t resource_mgr::reset(std::string_view container) {
  std::unique_lock lock(mu_);
  auto c = containers_.find(container);
  if (c == containers_.end()) return 0;
  size_t n = c->second.size();
  containers_.erase(c);
  return n;
}

std::vector<std::string> resource_mgr::containers() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, c] : containers_)
    if (!c.empty()) out.push_back(name);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<resource>>> resource_mgr::list(
    std::string_view container) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, std::shared_ptr<resource>>> out;
  auto c = containers_.find(container);
  if (c == containers_.end()) return out;
  for (const auto& [name, r] : c->second) out.emplace_back(name, r);
  return out;
}

bool variable_resource::initialized() const {
  std::lock_guard lock(mu_);
  return value_.valid();
}

expected<tensor> variable_resource::read(std::string_view name) const {
  std::lock_guard lock(mu_);
  if (!value_.valid()) {
    return make_error(errc::failed_precondition, "variable '", name,
                      "' is not initialized: run its initializer or restore a checkpoint first");
  }
  return value_;
}

error variable_resource::assign(tensor value, std::string_view name, bool allow_reshape) {
  TROUPE_REQUIRE(value.dtype() == type_, "variable '", name, "' holds ", dtype_name(type_),
                 " but the value assigned is ", dtype_name(value.dtype()));
  TROUPE_REQUIRE(declared_.is_compatible_with(value.shape()), "variable '", name,
                 "' is declared with shape ", declared_.to_string(),
                 " but the value assigned has shape ", value.shape().to_string());
  std::lock_guard lock(mu_);
  TROUPE_REQUIRE(allow_reshape || !value_.valid() || value_.shape() == value.shape(),
                 "variable '", name, "' has shape ", value_.shape().to_string(),
                 " but the value assigned has shape ", value.shape().to_string());
  value_ = std::move(value);
  return {};
}

expected<variable_resource::update_guard> variable_resource::begin_update(std::string_view name) {
  std::unique_lock lock(mu_);
  if (!value_.valid()) {
    return make_error(errc::failed_precondition, "variable '", name,
                      "' is not initialized: run its initializer or restore a checkpoint first");
  }
  // A snapshot handed out by read() may still share the buffer: copy before writing.
  if (!value_.buffer_is_unique()) value_ = value_.clone();
  return update_guard(std::move(lock), &value_);
}

}  // namespace troupe
