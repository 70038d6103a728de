#include "runtime/graph/op_def.hpp"

#include <cctype>
#include <algorithm>
#include <cstdlib>

namespace troupe {
namespace {

// A small recursive-descent parser for Note [Op signatures].
class signature_parser {
 public:
  explicit signature_parser(std::string_view text) : s_(text) {}

  error parse(std::string& name, std::vector<arg_def>& inputs, std::vector<arg_def>& outputs,
              std::vector<attr_def>& attrs) {
    name = TROUPE_TRY(ident());
    TROUPE_TRY(expect("("));
    TROUPE_TRY(arg_list(inputs));
    TROUPE_TRY(expect(")"));
    TROUPE_TRY(expect("->"));
    TROUPE_TRY(expect("("));
    TROUPE_TRY(arg_list(outputs));
    TROUPE_TRY(expect(")"));
    while (accept(";")) TROUPE_TRY(clause(attrs));
    skip_space();
    if (pos_ != s_.size()) return fail("unexpected text");
    return {};
  }

 private:
  error fail(std::string_view what) const {
    return make_error(errc::invalid_argument, "op signature '", s_, "': ", what, " at position ",
                      pos_);
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool accept(std::string_view tok) {
    skip_space();
    if (s_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  error expect(std::string_view tok) {
    if (!accept(tok)) return fail(str_cat("expected '", tok, "'"));
    return {};
  }
  bool peek_ident() {
    skip_space();
    return pos_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_');
  }
  expected<std::string> ident() {
    if (!peek_ident()) return fail("expected a name");
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  expected<double> number() {
    skip_space();
    const char* begin = s_.data() + pos_;
    char* end = nullptr;
    std::string copy(s_.substr(pos_));
    double v = std::strtod(copy.c_str(), &end);
    if (end == copy.c_str()) return fail("expected a number");
    pos_ += size_t(end - copy.c_str());
    (void)begin;
    return v;
  }

  error arg_list(std::vector<arg_def>& args) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == ')') return {};
    do {
      arg_def a;
      a.name = TROUPE_TRY(ident());
      TROUPE_TRY(expect(":"));
      std::string t = TROUPE_TRY(ident());
      if (accept("*")) {
        a.number_attr = t;
        t = TROUPE_TRY(ident());
      }
      if (auto d = parse_dtype(t)) a.fixed_type = *d;
      else a.type_attr = t;
      args.push_back(std::move(a));
    } while (accept(","));
    return {};
  }

  expected<std::vector<dtype>> type_set() {
    if (accept("{")) {
      std::vector<dtype> out;
      do {
        std::string t = TROUPE_TRY(ident());
        auto d = parse_dtype(t);
        if (!d) return fail(str_cat("unknown dtype '", t, "'"));
        out.push_back(*d);
      } while (accept(","));
      TROUPE_TRY(expect("}"));
      return out;
    }
    std::string set = TROUPE_TRY(ident());
    if (set == "float_types") return std::vector<dtype>{dtype::float32, dtype::float64};
    if (set == "int_types") return std::vector<dtype>{dtype::int32, dtype::int64};
    if (set == "numeric_types")
      return std::vector<dtype>{dtype::float32, dtype::float64, dtype::int32, dtype::int64};
    if (set == "all_types") return std::vector<dtype>(std::begin(all_dtypes), std::end(all_dtypes));
    return fail(str_cat("unknown type set '", set, "'"));
  }

  expected<attr_kind> kind() {
    std::string k = TROUPE_TRY(ident());
    if (k == "list") {
      TROUPE_TRY(expect("("));
      std::string e = TROUPE_TRY(ident());
      TROUPE_TRY(expect(")"));
      if (e == "int") return attr_kind::int_list;
      if (e == "float") return attr_kind::float_list;
      if (e == "type") return attr_kind::type_list;
      return fail(str_cat("unknown list element kind '", e, "'"));
    }
    for (attr_kind c : {attr_kind::boolean, attr_kind::integer, attr_kind::real, attr_kind::string,
                        attr_kind::type, attr_kind::shape, attr_kind::tensor})
      if (attr_kind_name(c) == k) return c;
    return fail(str_cat("unknown attribute kind '", k, "'"));
  }

  expected<std::vector<double>> number_list() {
    TROUPE_TRY(expect("["));
    std::vector<double> out;
    skip_space();
    if (accept("]")) return out;
    do {
      if (accept("?")) out.push_back(-1);
      else out.push_back(TROUPE_TRY(number()));
    } while (accept(","));
    TROUPE_TRY(expect("]"));
    return out;
  }

  // "[float32, int64]" or "[]".
  expected<std::vector<dtype>> dtype_list() {
    TROUPE_TRY(expect("["));
    std::vector<dtype> out;
    if (accept("]")) return out;
    do {
      std::string t = TROUPE_TRY(ident());
      auto d = parse_dtype(t);
      if (!d) return fail(str_cat("unknown dtype '", t, "'"));
      out.push_back(*d);
    } while (accept(","));
    TROUPE_TRY(expect("]"));
    return out;
  }

  expected<attr_value> default_value(attr_kind k) {
    switch (k) {
      case attr_kind::boolean:
        if (accept("true")) return attr_value(true);
        if (accept("false")) return attr_value(false);
        return fail("expected true or false");
      case attr_kind::integer: return attr_value(int64_t(TROUPE_TRY(number())));
      case attr_kind::real: return attr_value(TROUPE_TRY(number()));
      case attr_kind::string: {
        TROUPE_TRY(expect("\""));
        size_t end = s_.find('"', pos_);
        if (end == std::string_view::npos) return fail("unterminated string");
        std::string v(s_.substr(pos_, end - pos_));
        pos_ = end + 1;
        return attr_value(std::move(v));
      }
      case attr_kind::type: {
        std::string t = TROUPE_TRY(ident());
        auto d = parse_dtype(t);
        if (!d) return fail(str_cat("unknown dtype '", t, "'"));
        return attr_value(*d);
      }
      case attr_kind::shape: {
        if (accept("?")) return attr_value(partial_shape::unknown());
        auto dims = TROUPE_TRY(number_list());
        std::vector<int64_t> d(dims.begin(), dims.end());
        return attr_value(TROUPE_TRY(partial_shape::make(d)));
      }
      case attr_kind::int_list: {
        auto v = TROUPE_TRY(number_list());
        return attr_value(std::vector<int64_t>(v.begin(), v.end()));
      }
      case attr_kind::float_list: return attr_value(TROUPE_TRY(number_list()));
      case attr_kind::type_list: return attr_value(TROUPE_TRY(dtype_list()));
      case attr_kind::tensor: break;
    }
    return fail("tensor attributes take no default");
  }

  error clause(std::vector<attr_def>& attrs) {
    std::string name = TROUPE_TRY(ident());
    for (const attr_def& a : attrs)
      if (a.name == name) return fail(str_cat("attribute '", name, "' declared twice"));
    attr_def a;
    a.name = name;
    if (accept("in")) {
      a.kind = attr_kind::type;
      a.allowed_types = TROUPE_TRY(type_set());
    } else {
      TROUPE_TRY(expect(":"));
      a.kind = TROUPE_TRY(kind());
      if (accept("=")) a.default_value = TROUPE_TRY(default_value(a.kind));
    }
    attrs.push_back(std::move(a));
    return {};
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

// Note [Tuple arguments]
// (An addendum to Note [Op signatures].) An argument whose TYPE names an attribute of
// kind list(type) is a tuple of tensors of mixed dtypes, as TensorFlow's queue ops take
// ("component_types: list(type)"):
//   queue_enqueue(components: Tcomponents) -> (); Tcomponents: list(type)
//   queue_dequeue() -> (components: component_types); component_types: list(type)
// The argument takes len(attribute) tensors, the i-th of dtype attribute[i]
// (arg_def::type_list_attr names the attribute). For inputs the attribute is inferred
// from the inputs' dtypes when not given (like the length of an N*T list, at most one
// list argument per op may be left to inference) and checked when given; for outputs it
// must be given or have a default. A list(type) attribute must be declared by a clause
// (an undeclared name is a type attribute), is never the kernel's dtype key, and cannot be
// repeated with N*. Defaults are written [float32, int64] or [].

const attr_def* op_def::find_attr(std::string_view name) const {
  for (const attr_def& a : attrs_)
    if (a.name == name) return &a;
  return nullptr;
}

expected<op_def> op_def::parse(op_spec spec) {
  op_def d;
  signature_parser p(spec.signature);
  TROUPE_TRY(p.parse(d.name_, d.inputs_, d.outputs_, d.attrs_));
  auto bad = [&](auto... what) {
    return make_error(errc::invalid_argument, "op signature '", spec.signature, "': ", what...);
  };
  // Attributes the arguments use but no clause declared: a type attribute may be any
  // dtype, a list length is an int. An argument typed by a list(type) attribute is a
  // tuple of tensors of those dtypes (see Note [Tuple arguments]).
  for (auto* args : {&d.inputs_, &d.outputs_}) {
    for (arg_def& a : *args) {
      if (const attr_def* t = d.find_attr(a.type_attr); t && t->kind == attr_kind::type_list) {
        if (a.is_list())
          return bad("'", a.name, ": ", a.number_attr, "*", a.type_attr, "': '", a.type_attr,
                     "' is a list(type), which gives the length itself: write '", a.name, ": ",
                     a.type_attr, "'");
        a.type_list_attr = std::move(a.type_attr);
        a.type_attr.clear();
        continue;
      }
      if (!a.type_attr.empty()) {
        if (const attr_def* t = d.find_attr(a.type_attr)) {
          if (t->kind != attr_kind::type)
            return bad("'", a.type_attr, "' gives the dtype of '", a.name, "' but is not a type");
        } else {
          d.attrs_.push_back({.name = a.type_attr, .kind = attr_kind::type,
                              .allowed_types = {std::begin(all_dtypes), std::end(all_dtypes)}});
        }
        if (d.kernel_type_attr_.empty()) d.kernel_type_attr_ = a.type_attr;
      }
      if (a.is_list()) {
        if (const attr_def* n = d.find_attr(a.number_attr)) {
          if (n->kind != attr_kind::integer)
            return bad("'", a.number_attr, "' gives the length of '", a.name, "' but is not an int");
        } else {
          d.attrs_.push_back({.name = a.number_attr, .kind = attr_kind::integer});
        }
      }
    }
  }
  for (attr_def& a : d.attrs_)
    if (a.kind == attr_kind::type && a.allowed_types.empty())
      a.allowed_types.assign(std::begin(all_dtypes), std::end(all_dtypes));
  d.spec_ = std::move(spec);
  return d;
}

error op_registry::add(op_spec spec) {
  op_def d = TROUPE_TRY(op_def::parse(std::move(spec)));
  if (ops_.count(d.name()))
    return make_error(errc::already_exists, "op '", d.name(), "' is already registered");
  std::string name = d.name();
  ops_.emplace(std::move(name), std::move(d));
  return {};
}

const op_def* op_registry::find(std::string_view name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

expected<const op_def*> op_registry::lookup(std::string_view name) const {
  if (const op_def* d = find(name)) return d;
  // Suggest ops within two edits of the name, or containing it, or contained in it.
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string near;
  for (const auto& [n, _] : ops_) {
    bool similar = distance(n, name) <= 2 ||
                   (name.size() >= 3 && (n.find(name) != std::string::npos ||
                                         name.find(n) != std::string_view::npos));
    if (similar) near += str_cat(near.empty() ? "" : ", ", n);
  }
  return make_error(errc::not_found, "unknown op '", name, "'",
                    near.empty() ? "" : str_cat(" (did you mean: ", near, "?)"));
}

std::vector<std::string> op_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : ops_) out.push_back(n);
  return out;
}

}  // namespace troupe
