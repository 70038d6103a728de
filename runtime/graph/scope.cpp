#include "runtime/graph/scope.hpp"

namespace troupe {

scope scope::root(graph& g) { return scope(g); }

scope scope::with_name(std::string name) const {
  scope s = *this;
  s.name_ = std::move(name);
  return s;
}

scope scope::sub(std::string_view prefix) const {
  scope s = *this;
  s.prefix_ = str_cat(prefix_, prefix, "/");
  s.name_.clear();
  return s;
}

scope scope::with_device(std::string device) const {
  scope s = *this;
  s.device_ = std::move(device);
  return s;
}

scope scope::with_control_deps(const std::vector<operation>& deps) const {
  scope s = *this;
  for (const operation& d : deps) {
    if (!d.valid()) {
      record(make_error(errc::invalid_argument, "a control dependency is invalid (the op that ",
                        "should have produced it failed)"));
      continue;
    }
    s.control_deps_.push_back(d.node);
  }
  return s;
}

void scope::record(error e) const {
  if (!*status_) *status_ = std::move(e);
}

operation scope::add(std::string_view op, const std::vector<output>& inputs, attr_map attrs) const {
  node_def def;
  def.op = std::string(op);
  def.name = name_.empty() ? graph_->unique_name(str_cat(prefix_, op)) : str_cat(prefix_, name_);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const output& in = inputs[i];
    if (!in.valid()) {
      // The producer failed and its error is recorded; record one anyway in case the
      // caller passed a default-constructed output.
      record(make_error(errc::invalid_argument, "node '", def.name, "' (", op, "): input ", i,
                        " is invalid"));
      return {};
    }
    if (in.g != graph_) {
      record(make_error(errc::invalid_argument, "node '", def.name, "' (", op, "): input ", i,
                        " belongs to another graph"));
      return {};
    }
    def.inputs.push_back(in.ep);
  }
  def.control_inputs = control_deps_;
  def.device = device_;
  def.attrs = std::move(attrs);
  auto id = graph_->add_node(std::move(def));
  if (!id) {
    record(std::move(id).error_value());
    return {};
  }
  return operation(graph_, *id);
}

}  // namespace troupe
