#include "pipeline/schema/schema.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace troupe::pipeline {

std::string_view feature_type_name(feature_type t) {
  switch (t) {
    case feature_type::int_type: return "INT";
    case feature_type::float_type: return "FLOAT";
    case feature_type::bytes_type: return "BYTES";
  }
  return "?";
}

std::string_view comparator_name(comparator::kind_t k) {
  return k == comparator::kind_t::infinity_norm ? "infinity_norm" : "jensen_shannon_divergence";
}

const feature_schema* schema::find(std::string_view name) const {
  for (const auto& f : features)
    if (f.name == name) return &f;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// infer_schema

schema infer_schema(const dataset_stats& stats, const infer_options& o) {
  schema s;
  if (stats.rows > 0)
    s.min_examples = std::max<int64_t>(1, int64_t(std::floor(double(stats.rows) *
                                                              o.min_examples_fraction)));
  for (const column_stats& c : stats.columns) {
    feature_schema f;
    f.name = c.name;
    const int64_t present = c.present();
    if (present == 0) {
      // Nothing seen: any type, not required (see docs/formats/schema.md).
      f.type = feature_type::bytes_type;
      s.features.push_back(std::move(f));
      continue;
    }
    f.type = c.type == column_type::integer    ? feature_type::int_type
             : c.type == column_type::floating ? feature_type::float_type
                                               : feature_type::bytes_type;
    f.min_count = 1;
    if (present == c.count) {
      f.min_fraction = 1.0;
    } else {
      const double seen = double(present) / double(c.count);
      f.min_fraction = std::max(0.0, std::floor((seen - o.presence_slack) * 100.0) / 100.0);
    }
    if (f.type == feature_type::bytes_type) {
      if (c.top_values.max_error() == 0 && c.top_values.size() <= o.max_domain_size) {
        for (auto& [value, count] : c.top_values.top(c.top_values.size()))
          f.domain.push_back(value);
        std::sort(f.domain.begin(), f.domain.end());
      }
      f.drift_comparator = comparator{comparator::kind_t::infinity_norm, o.infinity_norm_threshold};
    } else {
      f.disallow_nan = f.type == feature_type::float_type && c.nan_count == 0;
      if (o.numeric_ranges && std::isfinite(c.min) && std::isfinite(c.max)) {
        f.min = c.min;
        f.max = c.max;
      }
      f.drift_comparator =
          comparator{comparator::kind_t::jensen_shannon_divergence, o.jensen_shannon_threshold};
    }
    f.skew_comparator = f.drift_comparator;
    s.features.push_back(std::move(f));
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// to_yaml

namespace {

std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string out(buf, end);
  // A plain scalar that reads back as a float in any YAML reader.
  if (std::isfinite(v) && out.find_first_of(".eE") == std::string::npos) out += ".0";
  return out;
}

// A YAML double-quoted scalar: always safe (no "no" read as false, no ':' or '#' trouble).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", ch);
          out += buf;
        } else {
          out += char(ch);
        }
    }
  }
  return out + "\"";
}

void write_comparator(std::string& out, const char* key, const std::optional<comparator>& c) {
  if (!c) return;
  out += str_cat("    ", key, ": {", comparator_name(c->kind), ": ", number(c->threshold), "}\n");
}

}  // namespace

std::string to_yaml(const schema& s) {
  std::string out =
      "# troupe schema: what valid data looks like (format: docs/formats/schema.md).\n"
      "# Edit freely; `troupe validate` reports every way the data differs from it.\n";
  out += str_cat("min_examples: ", s.min_examples, "   # fewer rows: DATASET_LOW_NUM_EXAMPLES\n");
  out += "features:\n";
  if (s.features.empty()) out.pop_back(), out += " []\n";
  for (const feature_schema& f : s.features) {
    out += str_cat("  - name: ", quoted(f.name), "\n");
    out += str_cat("    type: ", feature_type_name(f.type), "\n");
    out += str_cat("    presence: {min_fraction: ", number(f.min_fraction),
                   ", min_count: ", f.min_count, "}\n");
    out += str_cat("    value_count: {min: ", f.value_count_min, ", max: ", f.value_count_max,
                   "}\n");
    if (!f.domain.empty()) {
      out += "    domain: [";
      for (size_t i = 0; i < f.domain.size(); ++i) {
        if (i) out += ", ";
        out += quoted(f.domain[i]);
      }
      out += "]\n";
    }
    if (f.min || f.max) {
      // INT bounds as integers when they are (18, not 18.0).
      auto bound = [&](double v) {
        const bool integral = f.type == feature_type::int_type && std::fabs(v) < 0x1p53 &&
                              v == std::floor(v);
        return integral ? std::to_string(int64_t(v)) : number(v);
      };
      out += "    range: {";
      if (f.min) out += str_cat("min: ", bound(*f.min));
      if (f.max) out += str_cat(f.min ? ", " : "", "max: ", bound(*f.max));
      out += "}\n";
    }
    if (f.type == feature_type::float_type)
      out += str_cat("    disallow_nan: ", f.disallow_nan ? "true" : "false", "\n");
    write_comparator(out, "drift_comparator", f.drift_comparator);
    write_comparator(out, "skew_comparator", f.skew_comparator);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// schema_from_yaml

namespace {

// "schema <source>:<line>:<column>: <message>" (no position when yaml-cpp has none, as for
// an empty document).
error located_error(std::string_view source, const YAML::Mark& m, std::string_view message) {
  std::string where = str_cat("schema ", source);
  if (m.line >= 0) where += str_cat(":", m.line + 1, ":", m.column + 1);
  return make_error(errc::invalid_argument, where, ": ", message);
}

// yaml-cpp's message with bytes that are not printable ASCII written as \xNN (it may quote
// a byte of binary garbage).
std::string printable(std::string_view message) {
  std::string out;
  for (unsigned char ch : message) {
    if (ch >= 0x20 && ch < 0x7f) {
      out += char(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    }
  }
  return out;
}

// Reads one YAML document; every error names source:line:column.
class yaml_reader {
 public:
  explicit yaml_reader(std::string_view source) : source_(source) {}

  error fail(const YAML::Node& at, const std::string& message) const {
    return located_error(source_, at.Mark(), message);
  }

  // The keys of a map, each checked against `allowed`. Also fails if `node` is no map.
  error check_keys(const YAML::Node& node, std::string_view what,
                   std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) return fail(node, str_cat(what, " must be a map of keys"));
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (std::string_view a : allowed) list += str_cat(list.empty() ? "" : ", ", a);
        return fail(kv.first, str_cat("unknown key '", key, "' in ", what, " (expected one of: ",
                                      list, ")"));
      }
      if (!seen.insert(key).second)
        return fail(kv.first, str_cat("duplicate key '", key, "' in ", what));
    }
    return {};
  }

  expected<std::string> scalar(const YAML::Node& n, std::string_view what) const {
    if (!n.IsScalar()) return fail(n, str_cat(what, " must be a single value"));
    return n.Scalar();
  }

  expected<double> real(const YAML::Node& n, std::string_view what) const {
    const std::string s = TROUPE_TRY(scalar(n, what));
    double v = 0;
    if (!parse_double(s, v) || std::isnan(v))
      return fail(n, str_cat(what, " must be a number, got '", s, "'"));
    return v;
  }

  expected<double> fraction(const YAML::Node& n, std::string_view what) const {
    const double v = TROUPE_TRY(real(n, what));
    if (v < 0 || v > 1) return fail(n, str_cat(what, " must be in [0, 1], got ", v));
    return v;
  }

  expected<int64_t> count(const YAML::Node& n, std::string_view what) const {
    const std::string s = TROUPE_TRY(scalar(n, what));
    int64_t v = 0;
    if (!parse_int64(s, v) || v < 0)
      return fail(n, str_cat(what, " must be an integer >= 0, got '", s, "'"));
    return v;
  }

  expected<bool> boolean(const YAML::Node& n, std::string_view what) const {
    const std::string s = TROUPE_TRY(scalar(n, what));
    if (s == "true") return true;
    if (s == "false") return false;
    return fail(n, str_cat(what, " must be true or false, got '", s, "'"));
  }

  expected<comparator> read_comparator(const YAML::Node& n, std::string_view what) const {
    TROUPE_TRY(check_keys(n, what, {"infinity_norm", "jensen_shannon_divergence"}));
    if (n.size() != 1)
      return fail(n, str_cat(what, " must have exactly one key: infinity_norm or "
                                   "jensen_shannon_divergence"));
    const auto kv = *n.begin();
    comparator c;
    c.kind = kv.first.Scalar() == "infinity_norm" ? comparator::kind_t::infinity_norm
                                                  : comparator::kind_t::jensen_shannon_divergence;
    c.threshold = TROUPE_TRY(real(kv.second, str_cat(what, ".", kv.first.Scalar())));
    if (c.threshold < 0)
      return fail(kv.second, str_cat(what, " threshold must be >= 0, got ", c.threshold));
    return c;
  }

  expected<feature_schema> read_feature(const YAML::Node& n) const {
    TROUPE_TRY(check_keys(n, "a feature",
                          {"name", "type", "presence", "value_count", "domain", "range",
                           "disallow_nan", "drift_comparator", "skew_comparator"}));
    feature_schema f;
    if (!n["name"]) return fail(n, "a feature needs a 'name'");
    f.name = TROUPE_TRY(scalar(n["name"], "name"));
    if (f.name.empty()) return fail(n["name"], "a feature's name must not be empty");
    const std::string ctx = str_cat("feature '", f.name, "'");
    if (!n["type"]) return fail(n, str_cat(ctx, " needs a 'type' (INT, FLOAT or BYTES)"));
    const std::string t = TROUPE_TRY(scalar(n["type"], "type"));
    if (t == "INT") f.type = feature_type::int_type;
    else if (t == "FLOAT") f.type = feature_type::float_type;
    else if (t == "BYTES") f.type = feature_type::bytes_type;
    else return fail(n["type"], str_cat(ctx, ": type must be INT, FLOAT or BYTES, got '", t, "'"));
    if (const YAML::Node p = n["presence"]) {
      TROUPE_TRY(check_keys(p, str_cat(ctx, " presence"), {"min_fraction", "min_count"}));
      if (p["min_fraction"]) f.min_fraction = TROUPE_TRY(fraction(p["min_fraction"], "min_fraction"));
      if (p["min_count"]) f.min_count = TROUPE_TRY(count(p["min_count"], "min_count"));
    }
    if (const YAML::Node v = n["value_count"]) {
      TROUPE_TRY(check_keys(v, str_cat(ctx, " value_count"), {"min", "max"}));
      if (v["min"]) f.value_count_min = TROUPE_TRY(count(v["min"], "value_count.min"));
      if (v["max"]) f.value_count_max = TROUPE_TRY(count(v["max"], "value_count.max"));
      if (f.value_count_min > f.value_count_max)
        return fail(v, str_cat(ctx, ": value_count min ", f.value_count_min, " > max ",
                               f.value_count_max));
    }
    if (const YAML::Node d = n["domain"]) {
      if (f.type != feature_type::bytes_type)
        return fail(d, str_cat(ctx, ": a domain (vocabulary) needs type BYTES; use range for ",
                               feature_type_name(f.type)));
      if (!d.IsSequence()) return fail(d, str_cat(ctx, ": domain must be a list of strings"));
      for (const auto& item : d) f.domain.push_back(TROUPE_TRY(scalar(item, "a domain value")));
      std::sort(f.domain.begin(), f.domain.end());
      f.domain.erase(std::unique(f.domain.begin(), f.domain.end()), f.domain.end());
    }
    if (const YAML::Node r = n["range"]) {
      if (f.type == feature_type::bytes_type)
        return fail(r, str_cat(ctx, ": a range needs type INT or FLOAT"));
      TROUPE_TRY(check_keys(r, str_cat(ctx, " range"), {"min", "max"}));
      if (r["min"]) f.min = TROUPE_TRY(real(r["min"], "range.min"));
      if (r["max"]) f.max = TROUPE_TRY(real(r["max"], "range.max"));
      if (f.min && f.max && *f.min > *f.max)
        return fail(r, str_cat(ctx, ": range min ", *f.min, " > max ", *f.max));
    }
    if (const YAML::Node b = n["disallow_nan"]) {
      if (f.type != feature_type::float_type)
        return fail(b, str_cat(ctx, ": disallow_nan needs type FLOAT"));
      f.disallow_nan = TROUPE_TRY(boolean(b, "disallow_nan"));
    }
    if (const YAML::Node c = n["drift_comparator"])
      f.drift_comparator = TROUPE_TRY(read_comparator(c, str_cat(ctx, " drift_comparator")));
    if (const YAML::Node c = n["skew_comparator"])
      f.skew_comparator = TROUPE_TRY(read_comparator(c, str_cat(ctx, " skew_comparator")));
    return f;
  }

  expected<schema> read(const YAML::Node& root) const {
    if (!root || root.IsNull()) return fail(root, "the schema is empty");
    TROUPE_TRY(check_keys(root, "the schema", {"min_examples", "features"}));
    schema s;
    if (root["min_examples"]) s.min_examples = TROUPE_TRY(count(root["min_examples"], "min_examples"));
    const YAML::Node features = root["features"];
    if (!features) return fail(root, "the schema needs a 'features' list");
    if (!features.IsSequence()) return fail(features, "'features' must be a list");
    std::set<std::string> names;
    for (const auto& item : features) {
      feature_schema f = TROUPE_TRY(read_feature(item));
      if (!names.insert(f.name).second)
        return fail(item, str_cat("feature '", f.name, "' is listed twice"));
      s.features.push_back(std::move(f));
    }
    return s;
  }

 private:
  std::string source_;
};

}  // namespace

expected<schema> schema_from_yaml(std::string_view text, std::string_view source) {
  yaml_reader reader(source);
  // yaml-cpp reports errors by exceptions: converted here, the one place that calls it.
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return reader.read(root);
  } catch (const YAML::Exception& e) {
    return located_error(source, e.mark, str_cat("malformed YAML: ", printable(e.msg)));
  }
}

expected<schema> read_schema_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, path, ": cannot open the schema file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(errc::data_loss, path, ": cannot read the schema file");
  return schema_from_yaml(ss.str(), path);
}

}  // namespace troupe::pipeline
