#include "runtime/graph/graph.hpp"

#include <charconv>

namespace troupe {

const attr_value* node::find_attr(std::string_view name) const {
  auto it = attrs.find(name);
  return it == attrs.end() ? nullptr : &it->second;
}

namespace {

std::string join_attr_names(const op_def& d) {
  std::string out;
  for (const attr_def& a : d.attrs()) out += str_cat(out.empty() ? "" : ", ", a.name);
  return out.empty() ? "none" : out;
}

// An int given where a float is declared is accepted (and converted).
bool coerce(attr_value& v, attr_kind k) {
  if (v.kind() == k) return true;
  if (k == attr_kind::real && v.is<int64_t>()) {
    v = attr_value(double(v.get<int64_t>()));
    return true;
  }
  if (k == attr_kind::float_list && v.is<std::vector<int64_t>>()) {
    const auto& src = v.get<std::vector<int64_t>>();
    v = attr_value(std::vector<double>(src.begin(), src.end()));
    return true;
  }
  return false;
}

std::string dtype_list(std::span<const dtype> types) {
  std::string out = "[";
  for (size_t i = 0; i < types.size(); ++i) out += str_cat(i ? "," : "", dtype_name(types[i]));
  return out + "]";
}

// A tuple argument typed by a list(type) attribute: the dtypes of its `count` inputs from
// `first` on must be the attribute's when it is given (or inferred from an earlier
// argument); otherwise they become its value.
error match_type_list(const graph& g, node_def& def, const arg_def& arg, size_t first,
                      size_t count, const std::string& where) {
  std::vector<dtype> types;
  std::string names;
  for (size_t j = 0; j < count; ++j) {
    types.push_back(g.type_of(def.inputs[first + j]));
    names += str_cat(j ? ", " : "", g.endpoint_name(def.inputs[first + j]));
  }
  const std::string& ta = arg.type_list_attr;
  auto it = def.attrs.find(ta);
  if (it == def.attrs.end()) {
    def.attrs.emplace(ta, attr_value(std::move(types)));
    return {};
  }
  const auto& want = it->second.get<std::vector<dtype>>();
  if (want == types) return {};
  std::string first_difference;
  for (size_t j = 0; j < count && j < want.size(); ++j) {
    if (want[j] != types[j]) {
      first_difference = str_cat(": component ", j, " (", g.endpoint_name(def.inputs[first + j]),
                                 ") is ", dtype_name(types[j]), ", not ", dtype_name(want[j]));
      break;
    }
  }
  return make_error(errc::invalid_argument, where, ": input '", arg.name, "' (", names,
                    ") has dtypes ", dtype_list(types), " but attribute '", ta, "' is ",
                    dtype_list(want), first_difference);
}

}  // namespace

expected<int> graph::add_node(node_def def) {
  const std::string where = str_cat("node '", def.name, "' (", def.op, ")");
  auto fail = [&](errc code, auto... what) {
    return make_error(code, where, ": ", what...);
  };
  if (def.name.empty()) return make_error(errc::invalid_argument, "a node of op '", def.op, "' has no name");
  if (def.name.find(':') != std::string::npos)
    return fail(errc::invalid_argument, "a node name may not contain ':'");
  if (by_name_.count(def.name)) return fail(errc::already_exists, "the name is already taken");
  const op_def* d = ops_->find(def.op);
  if (d == nullptr) return std::move(ops_->lookup(def.op)).error_value().with_context(str_cat("node '", def.name, "'"));

  for (size_t i = 0; i < def.inputs.size(); ++i) {
    endpoint e = def.inputs[i];
    if (e.node < 0 || e.node >= num_nodes())
      return fail(errc::invalid_argument, "input ", i, " refers to node id ", e.node,
                  ", which is not in the graph");
    if (e.index < 0 || e.index >= at(e.node).num_outputs())
      return fail(errc::invalid_argument, "input ", i, " refers to output ", e.index, " of node '",
                  at(e.node).name, "', which has ", at(e.node).num_outputs(), " outputs");
  }
  for (int c : def.control_inputs)
    if (c < 0 || c >= num_nodes())
      return fail(errc::invalid_argument, "control input refers to node id ", c,
                  ", which is not in the graph");

  // Attributes given must be declared and of the declared kind.
  for (auto& [name, value] : def.attrs) {
    const attr_def* a = d->find_attr(name);
    if (a == nullptr)
      return fail(errc::invalid_argument, "unknown attribute '", name, "' (the op has: ",
                  join_attr_names(*d), ")");
    if (!coerce(value, a->kind))
      return fail(errc::invalid_argument, "attribute '", name, "' must be ", attr_kind_name(a->kind),
                  ", got ", attr_kind_name(value.kind()), " ", value.to_string());
  }

  // Split the flat inputs among the signature's arguments; one list argument (N*T, or a
  // tuple typed by a list(type) attribute) may take the remaining inputs when its length
  // is not given.
  const auto& args = d->inputs();
  auto length_attr = [](const arg_def& a) -> const std::string& {
    return a.is_list() ? a.number_attr : a.type_list_attr;
  };
  std::vector<int64_t> counts(args.size(), 1);
  int unknown_list = -1;
  int64_t known = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].is_list() && args[i].type_list_attr.empty()) {
      known += 1;
      continue;
    }
    if (auto n = def.attrs.find(length_attr(args[i])); n != def.attrs.end()) {
      counts[i] = args[i].is_list() ? n->second.get<int64_t>()
                                    : int64_t(n->second.get<std::vector<dtype>>().size());
      known += counts[i];
    } else if (unknown_list < 0) {
      unknown_list = int(i);
    } else {
      return fail(errc::invalid_argument, "the lengths of list inputs '", args[size_t(unknown_list)].name,
                  "' and '", args[i].name, "' cannot both be inferred; give attribute '",
                  length_attr(args[i]), "'");
    }
  }
  // What the list arguments take, for the count errors below.
  auto list_lengths = [&] {
    std::string out;
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].is_list() && args[i].type_list_attr.empty()) continue;
      if (int(i) == unknown_list) continue;
      out += str_cat(out.empty() ? " (" : ", ", "input '", args[i].name, "' takes ", counts[i],
                     ": ", args[i].is_list() ? "attribute '" : "the length of attribute '",
                     length_attr(args[i]), "'");
    }
    return out.empty() ? out : out + ")";
  };
  if (unknown_list >= 0) {
    int64_t rest = int64_t(def.inputs.size()) - known;
    if (rest < 0)
      return fail(errc::invalid_argument, "expected at least ", known, " inputs, got ",
                  def.inputs.size(), list_lengths());
    counts[size_t(unknown_list)] = rest;
    if (args[size_t(unknown_list)].is_list())
      def.attrs[args[size_t(unknown_list)].number_attr] = attr_value(rest);
    known += rest;
  }
  if (known != int64_t(def.inputs.size()))
    return fail(errc::invalid_argument, "expected ", known, " inputs, got ", def.inputs.size(),
                list_lengths());

  // Infer type attributes from the inputs and check fixed dtypes.
  std::map<std::string, std::pair<dtype, std::string>, std::less<>> inferred;  // attr -> (dtype, from)
  size_t flat = 0;
  std::vector<dtype> input_types;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].type_list_attr.empty()) {
      TROUPE_TRY(match_type_list(*this, def, args[i], flat, size_t(counts[i]), where));
      for (int64_t j = 0; j < counts[i]; ++j, ++flat) input_types.push_back(type_of(def.inputs[flat]));
      continue;
    }
    for (int64_t j = 0; j < counts[i]; ++j, ++flat) {
      endpoint e = def.inputs[flat];
      dtype t = type_of(e);
      input_types.push_back(t);
      std::string label = str_cat("input '", args[i].name, "'",
                                  args[i].is_list() ? str_cat("[", j, "]") : std::string(), " (",
                                  endpoint_name(e), ")");
      if (args[i].fixed_type != dtype::invalid) {
        if (t != args[i].fixed_type)
          return fail(errc::invalid_argument, label, " must be ", dtype_name(args[i].fixed_type),
                      ", got ", dtype_name(t));
        continue;
      }
      const std::string& ta = args[i].type_attr;
      if (auto it = def.attrs.find(ta); it != def.attrs.end()) {
        if (it->second.get<dtype>() != t)
          return fail(errc::invalid_argument, label, " is ", dtype_name(t), " but attribute '", ta,
                      "' is ", dtype_name(it->second.get<dtype>()));
      } else if (auto inf = inferred.find(ta); inf != inferred.end()) {
        if (inf->second.first != t)
          return fail(errc::invalid_argument, label, " is ", dtype_name(t), " but ",
                      inf->second.second, " is ", dtype_name(inf->second.first),
                      ": both must have the same dtype ", ta);
      } else {
        inferred.emplace(ta, std::pair{t, label});
      }
    }
  }
  for (auto& [name, v] : inferred) def.attrs[name] = attr_value(v.first);

  // Defaults, missing attributes and type constraints.
  for (const attr_def& a : d->attrs()) {
    auto it = def.attrs.find(a.name);
    if (it == def.attrs.end()) {
      if (!a.default_value)
        return fail(errc::invalid_argument, "missing attribute '", a.name, "' (",
                    attr_kind_name(a.kind), ")");
      it = def.attrs.emplace(a.name, *a.default_value).first;
    }
    if (a.kind == attr_kind::type) {
      dtype t = it->second.get<dtype>();
      bool allowed = false;
      for (dtype x : a.allowed_types) allowed |= x == t;
      if (!allowed) {
        std::string names;
        for (dtype x : a.allowed_types) names += str_cat(names.empty() ? "" : ", ", dtype_name(x));
        return fail(errc::invalid_argument, "dtype ", dtype_name(t), " is not supported for ", a.name,
                    ": expected one of ", names);
      }
    }
    if (a.kind == attr_kind::type_list) {
      const auto& types = it->second.get<std::vector<dtype>>();
      for (size_t i = 0; i < types.size(); ++i)
        if (types[i] == dtype::invalid)
          return fail(errc::invalid_argument, "attribute '", a.name, "' ",
                      it->second.to_string(), ": element ", i, " is not a dtype");
    }
    if (a.kind == attr_kind::integer && it->second.get<int64_t>() < 0) {
      for (const auto* list : {&d->inputs(), &d->outputs()})
        for (const arg_def& arg : *list)
          if (arg.number_attr == a.name)
            return fail(errc::invalid_argument, "attribute '", a.name, "' is the length of '", arg.name,
                        "' and must be >= 0, got ", it->second.get<int64_t>());
    }
  }

  node n;
  n.id = num_nodes();
  n.name = std::move(def.name);
  n.op = std::move(def.op);
  n.def = d;
  n.inputs = std::move(def.inputs);
  n.control_inputs = std::move(def.control_inputs);
  n.device = std::move(def.device);
  n.attrs = std::move(def.attrs);
  n.input_types = std::move(input_types);
  for (const arg_def& o : d->outputs()) {
    if (!o.type_list_attr.empty()) {
      const auto& types = n.attr<std::vector<dtype>>(o.type_list_attr);
      n.output_types.insert(n.output_types.end(), types.begin(), types.end());
      continue;
    }
    int64_t count = o.is_list() ? n.attr<int64_t>(o.number_attr) : 1;
    dtype t = o.fixed_type != dtype::invalid ? o.fixed_type : n.attr<dtype>(o.type_attr);
    for (int64_t j = 0; j < count; ++j) n.output_types.push_back(t);
  }
  n.output_shapes.assign(n.output_types.size(), partial_shape::unknown());
  if (d->spec().shape) {
    std::vector<partial_shape> in;
    in.reserve(n.inputs.size());
    for (endpoint e : n.inputs) in.push_back(shape_of(e));
    shape_context c(*this, n, std::move(in));
    if (error e = d->spec().shape(c)) return std::move(e).with_context(where);
    n.output_shapes = std::move(c.outputs());
  }
  by_name_.emplace(n.name, n.id);
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

expected<int> graph::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return make_error(errc::not_found, "no node named '", name, "' in the graph");
  return it->second;
}

expected<endpoint> graph::parse_endpoint(std::string_view text) const {
  std::string_view name = text;
  int index = 0;
  if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    std::string_view idx = text.substr(colon + 1);
    auto [p, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), index);
    if (ec != std::errc() || p != idx.data() + idx.size() || index < 0)
      return make_error(errc::invalid_argument, "'", text,
                        "' is not an endpoint: expected \"name\" or \"name:index\"");
  }
  int id = TROUPE_TRY(find(name));
  if (index >= at(id).num_outputs())
    return make_error(errc::invalid_argument, "'", text, "': node '", name, "' has ",
                      at(id).num_outputs(), " outputs");
  return endpoint{id, index};
}

std::string graph::endpoint_name(endpoint e) const {
  if (e.node < 0 || e.node >= num_nodes()) return "<invalid>";
  return str_cat(at(e.node).name, ":", e.index);
}

std::string graph::unique_name(std::string_view base) const {
  std::string name(base);
  for (int i = 1; by_name_.count(name); ++i) name = str_cat(base, "_", i);
  return name;
}

shape_context::shape_context(const graph& g, const node& n, std::vector<partial_shape> inputs)
    : graph_(g), node_(n), input_shapes_(std::move(inputs)),
      output_shapes_(n.output_types.size(), partial_shape::unknown()) {}

dtype shape_context::input_type(int i) const { return node_.input_types[size_t(i)]; }

const tensor* shape_context::input_value(int i) const {
  const node& src = graph_.at(node_.inputs[size_t(i)].node);
  if (src.op != "const") return nullptr;
  return &src.attr<tensor>("value");
}

}  // namespace troupe
