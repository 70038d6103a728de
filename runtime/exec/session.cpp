#include "runtime/exec/session.hpp"

#include "runtime/exec/executor.hpp"

namespace troupe {

session::session(const graph& g, const kernel_registry& kernels, session_options opts)
    : graph_(g), kernels_(kernels), opts_(opts),
      device_(std::make_unique<cpu_device>(opts.num_threads)) {}

session::~session() = default;

size_t session::cached_executables() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

expected<std::shared_ptr<const executable>> session::prepare(
    const std::vector<std::string>& feeds, const std::vector<std::string>& fetches,
    const std::vector<std::string>& targets) {
  std::string key;
  for (const auto* list : {&feeds, &fetches, &targets}) {
    for (const std::string& s : *list) key += str_cat(s, ",");
    key += "|";
  }
  // The graph only grows; a signature's executable stays valid as nodes are added.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  if (fetches.empty() && targets.empty())
    return make_error(errc::invalid_argument, "session::run: nothing to fetch and no target to run");
  std::vector<endpoint> feed_eps, fetch_eps;
  std::vector<int> target_ids;
  for (const std::string& f : feeds) {
    endpoint e = TROUPE_TRY(graph_.parse_endpoint(f));
    for (endpoint seen : feed_eps)
      if (seen == e)
        return make_error(errc::invalid_argument, "session::run: '", f, "' is fed twice");
    feed_eps.push_back(e);
  }
  for (const std::string& f : fetches) fetch_eps.push_back(TROUPE_TRY(graph_.parse_endpoint(f)));
  for (const std::string& t : targets) target_ids.push_back(TROUPE_TRY(graph_.find(t)));

  detail::plan p = TROUPE_TRY(detail::build_plan(graph_, feed_eps, fetch_eps, target_ids));
  if (opts_.optimize) {
    detail::eliminate_common_subexpressions(p);
    detail::fold_constants(p, graph_.ops(), kernels_, *device_, opts_.max_folded_elements);
  }
  detail::remove_dead_nodes(p);
  auto kernel_for = [this](const node& n) -> expected<std::shared_ptr<op_kernel>> {
    if (!n.def->is_stateful() || n.id < 0)
      return std::shared_ptr<op_kernel>(TROUPE_TRY(kernels_.create(n, device_kind::cpu)));
    std::lock_guard<std::mutex> lock(mu_);
    auto& k = stateful_kernels_[n.id];
    if (!k) k = TROUPE_TRY(kernels_.create(n, device_kind::cpu));
    return k;
  };
  auto x = TROUPE_TRY(executable::make(std::move(p), kernel_for));
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.emplace(std::move(key), std::move(x)).first->second;
}

expected<std::vector<tensor>> session::run(const feed_list& feeds,
                                           const std::vector<std::string>& fetches,
                                           const std::vector<std::string>& targets) {
  std::vector<std::string> names;
  std::vector<tensor> values;
  names.reserve(feeds.size());
  values.reserve(feeds.size());
  for (const auto& [name, value] : feeds) {
    endpoint e = TROUPE_TRY(graph_.parse_endpoint(name));
    TROUPE_REQUIRE(value.valid(), "session::run: the tensor fed to '", name, "' is invalid");
    dtype want = graph_.type_of(e);
    const partial_shape& shape = graph_.shape_of(e);
    TROUPE_REQUIRE(value.dtype() == want, "session::run: feed '", name, "' must be ",
                   dtype_name(want), ", got ", dtype_name(value.dtype()));
    TROUPE_REQUIRE(shape.is_compatible_with(value.shape()), "session::run: feed '", name,
                   "' must have shape ", shape.to_string(), ", got ", value.shape().to_string());
    names.push_back(name);
    values.push_back(value);
  }
  auto x = TROUPE_TRY(prepare(names, fetches, targets));
  return x->run(values, *device_, next_step_id_.fetch_add(1, std::memory_order_relaxed));
}

expected<std::vector<tensor>> session::run(const std::vector<std::pair<output, tensor>>& feeds,
                                           const std::vector<output>& fetches,
                                           const std::vector<operation>& targets) {
  auto check = [&](bool valid, graph* g, std::string_view what) -> error {
    if (!valid) return make_error(errc::invalid_argument, "session::run: an invalid ", what,
                                  " (the op that should have produced it failed)");
    if (g != &graph_) return make_error(errc::invalid_argument, "session::run: a ", what,
                                        " from another graph");
    return {};
  };
  feed_list named;
  std::vector<std::string> fetch_names, target_names;
  for (const auto& [o, t] : feeds) {
    TROUPE_TRY(check(o.valid(), o.g, "feed"));
    named.emplace_back(o.name(), t);
  }
  for (const output& o : fetches) {
    TROUPE_TRY(check(o.valid(), o.g, "fetch"));
    fetch_names.push_back(o.name());
  }
  for (const operation& t : targets) {
    TROUPE_TRY(check(t.valid(), t.g, "target"));
    target_names.push_back(graph_.at(t.node).name);
  }
  return run(named, fetch_names, target_names);
}

expected<prepare_report> session::explain(const std::vector<std::string>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets) {
  auto x = TROUPE_TRY(prepare(feeds, fetches, targets));
  return x->report();
}

}  // namespace troupe
