#include "pipeline/validate/validate.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <utility>

#include "pipeline/util/json.hpp"

namespace troupe::pipeline {

std::string anomaly::description() const {
  std::string out = str_cat(short_description, ": expected ", expected, ", got ", seen);
  if (!example.empty()) out += str_cat("; example '", example, "'");
  return out;
}

bool anomalies::has(std::string_view column, std::string_view type) const {
  return std::any_of(items.begin(), items.end(), [&](const anomaly& a) {
    return a.column == column && a.type == type;
  });
}

namespace {

std::string num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

// "1 row", "2 rows".
std::string count_of(int64_t n, std::string_view noun) {
  return str_cat(n, " ", noun, n == 1 ? "" : "s");
}

std::string six_digits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// An integer that does not fit in int64 (so the column turned FLOAT): its text, or (if the
// statistics hold numbers in canonical form, "1e+20") an integral double beyond int64.
bool is_big_int_text(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size()) return false;
  int64_t v = 0;
  if (parse_int64(s, v)) return false;
  bool digits = true;
  for (size_t j = i; j < s.size(); ++j) digits &= s[j] >= '0' && s[j] <= '9';
  if (digits) return true;
  double d = 0;
  return parse_double(s, d) && std::isfinite(d) && d == std::floor(d) &&
         std::fabs(d) >= 9223372036854775808.0;
}

// The held values of a column (every distinct value while its top-k is exact).
std::vector<std::pair<std::string, int64_t>> held_values(const column_stats& c) {
  return c.top_values.top(c.top_values.size());
}

// The share of a column's present rows that hold `value` (from the top-k counts).
double share(const column_stats& c, const std::string& value) {
  if (c.present() == 0) return 0;
  for (const auto& [v, count] : held_values(c))
    if (v == value) return double(count) / double(c.present());
  return 0;
}

class validator {
 public:
  validator(const dataset_stats& stats, const schema& s, const dataset_stats* previous,
            const dataset_stats* serving)
      : stats_(stats), schema_(s), previous_(previous), serving_(serving) {}

  anomalies run() {
    if (stats_.rows < schema_.min_examples)
      add("", "DATASET_LOW_NUM_EXAMPLES", "Low num examples in dataset",
          str_cat("at least ", schema_.min_examples, " rows (min_examples)"),
          str_cat(stats_.rows, " rows"), "");
    for (const feature_schema& f : schema_.features) check_feature(f);
    for (const column_stats& c : stats_.columns) {
      if (schema_.find(c.name)) continue;
      auto top = c.top_values.top(1);
      add(c.name, "SCHEMA_NEW_COLUMN", "New column",
          "no such column (it is not in the schema)",
          str_cat("a column of type ", type_of(c), " with ", c.present(), " values"),
          top.empty() ? "" : top[0].first);
    }
    return std::move(out_);
  }

 private:
  void add(std::string column, std::string type, std::string short_description,
           std::string expected, std::string seen, std::string example) {
    out_.items.push_back(anomaly{std::move(column), std::move(type), std::move(short_description),
                                 std::move(expected), std::move(seen), std::move(example)});
  }

  static std::string_view type_of(const column_stats& c) {
    if (c.present() == 0) return "(none: no values)";
    return c.type == column_type::integer    ? "INT"
           : c.type == column_type::floating ? "FLOAT"
                                             : "BYTES";
  }

  void check_feature(const feature_schema& f) {
    const column_stats* c = stats_.find(f.name);
    if (!c) {
      add(f.name, "SCHEMA_MISSING_COLUMN", "Column dropped",
          str_cat("a column '", f.name, "' of type ", feature_type_name(f.type)),
          "no such column in the data", "");
      return;
    }
    const int64_t present = c->present();
    if (present == 0) {
      if (f.min_count > 0 || f.min_fraction > 0)
        add(f.name, "FEATURE_TYPE_NOT_PRESENT", "No examples contain the value",
            str_cat("a value in at least ", percent(f.min_fraction), " of rows and ",
                    f.min_count, " rows"),
            str_cat("no value in any of the ", c->count, " rows"), "");
      return;  // nothing else to check: no values
    }
    const double fraction = c->count > 0 ? double(present) / double(c->count) : 0.0;
    if (fraction < f.min_fraction)
      add(f.name, "FEATURE_TYPE_LOW_FRACTION_PRESENT", "Column dropped in some examples",
          str_cat("a value in at least ", percent(f.min_fraction), " of rows (min_fraction ",
                  num(f.min_fraction), ")"),
          str_cat("a value in ", percent(fraction), " (", present, " of ", c->count, " rows)"),
          "");
    if (present < f.min_count)
      add(f.name, "FEATURE_TYPE_LOW_NUMBER_PRESENT", "Column dropped in some examples",
          str_cat("a value in at least ", f.min_count, " rows (min_count)"),
          str_cat("a value in ", present, " rows"), "");
    const bool type_ok = check_type(f, *c);
    if (type_ok && c->is_numeric() && f.type != feature_type::bytes_type) check_numeric(f, *c);
    if (f.type == feature_type::bytes_type && !f.domain.empty()) check_domain(f, *c);
    if (previous_ && f.drift_comparator) compare(f, *c, *previous_, *f.drift_comparator, true);
    if (serving_ && f.skew_comparator) compare(f, *c, *serving_, *f.skew_comparator, false);
  }

  // False when the values are not of the schema's type (numeric checks are then skipped).
  bool check_type(const feature_schema& f, const column_stats& c) {
    if (f.type == feature_type::bytes_type) return true;
    if (f.type == feature_type::float_type && c.type != column_type::string) return true;
    if (f.type == feature_type::int_type && c.type == column_type::integer) return true;
    // Find the offending values among the held ones.
    std::string big, other;
    int64_t big_rows = 0, other_rows = 0;
    for (const auto& [value, count] : held_values(c)) {
      int64_t i = 0;
      double d = 0;
      if (f.type == feature_type::int_type && parse_int64(value, i)) continue;
      if (f.type == feature_type::float_type && parse_double(value, d)) continue;
      if (f.type == feature_type::int_type && is_big_int_text(value)) {
        if (big.empty()) big = value;
        big_rows += count;
      } else {
        if (other.empty()) other = value;
        other_rows += count;
      }
    }
    const bool exact = c.top_values.max_error() == 0;
    if (!big.empty())
      add(f.name, "INT_TYPE_BIG_INT", "Out-of-range values",
          "integers that fit in 64 bits (type INT)",
          str_cat(count_of(big_rows, "row"), exact ? "" : " or more", " with a larger integer"),
          big);
    if (!other.empty() || big.empty())
      add(f.name, "UNEXPECTED_DATA_TYPE", "Unexpected data type",
          str_cat("values of type ", feature_type_name(f.type)),
          other.empty()
              ? str_cat("values of type ", type_of(c), " (no example held in the top-k summary)")
              : str_cat("values of type ", type_of(c), " (", count_of(other_rows, "row"),
                        exact ? "" : " or more", " not of type ", feature_type_name(f.type),
                        ")"),
          other);
    return false;
  }

  void check_numeric(const feature_schema& f, const column_stats& c) {
    const bool is_int = f.type == feature_type::int_type;
    if (f.type == feature_type::float_type && f.disallow_nan && c.nan_count > 0) {
      std::string example = "NaN";
      for (const auto& [value, count] : held_values(c)) {
        double d = 0;
        if (parse_double(value, d) && std::isnan(d)) {
          example = value;
          break;
        }
      }
      add(f.name, "FLOAT_TYPE_HAS_NAN", "Invalid values", "no NaN values (disallow_nan: true)",
          str_cat(c.nan_count, " NaN values"), example);
    }
    if (f.max && c.numeric_count > c.nan_count && c.max > *f.max)
      add(f.name, is_int ? "INT_TYPE_BIG_INT" : "FLOAT_TYPE_BIG_FLOAT", "Out-of-range values",
          str_cat("values <= ", num(*f.max), " (range.max)"),
          str_cat("a maximum of ", num(c.max), " (", percent(1.0 - c.quantiles.rank(*f.max)),
                  " of values above, from the sketch)"),
          num(c.max));
    if (f.min && c.numeric_count > c.nan_count && c.min < *f.min) {
      // rank() counts values <= x; values below min have rank just under rank(min).
      add(f.name, is_int ? "INT_TYPE_SMALL_INT" : "FLOAT_TYPE_SMALL_FLOAT", "Out-of-range values",
          str_cat("values >= ", num(*f.min), " (range.min)"),
          str_cat("a minimum of ", num(c.min)), num(c.min));
    }
  }

  void check_domain(const feature_schema& f, const column_stats& c) {
    std::vector<std::pair<std::string, int64_t>> unexpected;
    int64_t rows = 0;
    for (auto& [value, count] : held_values(c)) {
      if (std::binary_search(f.domain.begin(), f.domain.end(), value)) continue;
      rows += count;
      unexpected.emplace_back(value, count);
    }
    if (unexpected.empty()) return;
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 5; ++i)
      list += str_cat(i ? ", " : "", "'", unexpected[i].first, "' (", unexpected[i].second, ")");
    if (unexpected.size() > 5) list += str_cat(", ... (", unexpected.size() - 5, " more)");
    add(f.name, "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Unexpected string values",
        str_cat("one of the ", f.domain.size(), " values of the domain"),
        str_cat(count_of(int64_t(unexpected.size()), "value"), " outside it, in ",
                count_of(rows, "row"), ": ", list),
        unexpected.front().first);
  }

  void compare(const feature_schema& f, const column_stats& c, const dataset_stats& other_set,
               const comparator& cmp, bool drift) {
    const column_stats* o = other_set.find(f.name);
    if (!o || o->present() == 0 || c.present() == 0) return;
    const char* other_name = drift ? "the previous span" : "serving data";
    const char* key = drift ? "drift_comparator" : "skew_comparator";
    std::string worst;
    double d = 0;
    if (cmp.kind == comparator::kind_t::infinity_norm) {
      d = infinity_norm(c, *o, &worst);
      if (d > cmp.threshold)
        add(f.name, "COMPARATOR_L_INFTY_HIGH",
            drift ? "High Linfty distance between current and previous"
                  : "High Linfty distance between training and serving",
            str_cat("an L-infinity distance to ", other_name, " of at most ",
                    num(cmp.threshold), " (", key, ")"),
            str_cat(six_digits(d), "; the value that changed most is '", worst, "': ",
                    percent(share(c, worst)), " of rows vs ", percent(share(*o, worst)),
                    " (this data vs ", other_name, ")"),
            worst);
    } else {
      if (!c.is_numeric() || !o->is_numeric()) return;  // the type anomaly says why
      if (c.quantiles.count() == 0 || o->quantiles.count() == 0) return;
      d = jensen_shannon_divergence(c, *o, &worst);
      if (d > cmp.threshold)
        add(f.name, "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
            drift ? "High approximate Jensen-Shannon divergence between current and previous"
                  : "High approximate Jensen-Shannon divergence between training and serving",
            str_cat("a Jensen-Shannon divergence to ", other_name, " of at most ",
                    num(cmp.threshold), " (", key, ")"),
            str_cat(six_digits(d), "; the bucket that changed most is ", worst, " (this data vs ",
                    other_name, ")"),
            worst.substr(0, worst.find(':')));
    }
  }

  const dataset_stats& stats_;
  const schema& schema_;
  const dataset_stats* previous_;
  const dataset_stats* serving_;
  anomalies out_;
};

}  // namespace

anomalies validate(const dataset_stats& stats, const schema& s, const dataset_stats* previous,
                   const dataset_stats* serving) {
  return validator(stats, s, previous, serving).run();
}

double infinity_norm(const column_stats& a, const column_stats& b, std::string* worst) {
  if (a.present() == 0 || b.present() == 0) return 0;
  std::unordered_map<std::string, std::pair<double, double>> p;
  for (const auto& [value, count] : held_values(a))
    p[value].first = double(count) / double(a.present());
  for (const auto& [value, count] : held_values(b))
    p[value].second = double(count) / double(b.present());
  double best = 0;
  std::string best_value;
  for (const auto& [value, pq] : p) {
    const double d = std::fabs(pq.first - pq.second);
    // Ties go to the smaller value, so the answer does not depend on hashing.
    if (d > best || (d == best && d > 0 && value < best_value)) {
      best = d;
      best_value = value;
    }
  }
  if (worst) *worst = best_value;
  return best;
}

double jensen_shannon_divergence(const column_stats& a, const column_stats& b,
                                 std::string* worst) {
  const kll_sketch& ka = a.quantiles;
  const kll_sketch& kb = b.quantiles;
  if (ka.count() == 0 || kb.count() == 0) return 0;
  constexpr int k_points = 20;
  std::vector<double> edges;
  for (int i = 0; i <= k_points; ++i) {
    const double q = double(i) / k_points;
    for (const kll_sketch* k : {&ka, &kb}) {
      const double v = k->quantile(q);
      if (!std::isnan(v)) edges.push_back(v);
    }
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  // Buckets: (-inf, e0], (e0, e1], ..., (e_{m-1}, e_m]; e_m is the larger max, so no tail.
  auto masses = [&](const kll_sketch& k) {
    std::vector<double> m(edges.size());
    double prev = 0;
    for (size_t i = 0; i < edges.size(); ++i) {
      const double r = k.rank(edges[i]);
      m[i] = std::max(0.0, r - prev);
      prev = std::max(prev, r);
    }
    double sum = 0;
    for (double x : m) sum += x;
    if (sum > 0)
      for (double& x : m) x /= sum;
    return m;
  };
  const std::vector<double> p = masses(ka), q = masses(kb);
  double js = 0, biggest = -1;
  size_t at = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (p[i] > 0) js += 0.5 * p[i] * std::log2(p[i] / m);
    if (q[i] > 0) js += 0.5 * q[i] * std::log2(q[i] / m);
    if (std::fabs(p[i] - q[i]) > biggest) {
      biggest = std::fabs(p[i] - q[i]);
      at = i;
    }
  }
  if (worst) {
    *worst = at == 0 ? str_cat("(-inf, ", num(edges[0]), "]")
                     : str_cat("(", num(edges[at - 1]), ", ", num(edges[at]), "]");
    *worst += str_cat(": ", percent(p[at]), " vs ", percent(q[at]));
  }
  return std::clamp(js, 0.0, 1.0);
}

// ---------------------------------------------------------------------------------------
// Output

namespace {

void append_field(std::string& out, const char* name, std::string_view value, bool comma = true) {
  if (comma) out += ", ";
  append_json_string(out, name);
  out += ": ";
  append_json_string(out, value);
}

void append_reason(std::string& out, const anomaly& a) {
  out += "{";
  append_field(out, "type", a.type, false);
  append_field(out, "column", a.column);
  append_field(out, "severity", a.severity);
  append_field(out, "short_description", a.short_description);
  append_field(out, "description", a.description());
  append_field(out, "expected", a.expected);
  append_field(out, "seen", a.seen);
  append_field(out, "example", a.example);
  out += "}";
}

}  // namespace

std::string to_json(const anomalies& a) {
  // Group by column, in order of first appearance.
  std::vector<std::string> columns;
  std::map<std::string, std::vector<const anomaly*>> by_column;
  std::vector<const anomaly*> dataset;
  for (const anomaly& x : a.items) {
    if (x.column.empty()) {
      dataset.push_back(&x);
      continue;
    }
    auto [it, fresh] = by_column.try_emplace(x.column);
    if (fresh) columns.push_back(x.column);
    it->second.push_back(&x);
  }
  auto group = [](std::string& out, const std::vector<const anomaly*>& reasons) {
    const bool one = reasons.size() == 1;
    bool error = false;
    std::string description;
    for (const anomaly* r : reasons) {
      error |= r->severity == "ERROR";
      description += str_cat(description.empty() ? "" : " ", r->description(), ".");
    }
    out += "{";
    append_field(out, "severity", error ? "ERROR" : "WARNING", false);
    append_field(out, "short_description",
                 one ? reasons[0]->short_description : std::string("Multiple errors"));
    append_field(out, "description", description);
    out += ", \"reason\": [";
    for (size_t i = 0; i < reasons.size(); ++i) {
      out += i ? ",\n      " : "\n      ";
      append_reason(out, *reasons[i]);
    }
    out += "]}";
  };
  std::string out = "{\n  \"anomaly_count\": " + std::to_string(a.items.size());
  out += ",\n  \"anomaly_info\": {";
  for (size_t i = 0; i < columns.size(); ++i) {
    out += i ? ",\n    " : "\n    ";
    append_json_string(out, columns[i]);
    out += ": ";
    group(out, by_column[columns[i]]);
  }
  out += columns.empty() ? "}" : "\n  }";
  out += ",\n  \"dataset_anomaly_info\": ";
  if (dataset.empty()) out += "null";
  else group(out, dataset);
  out += "\n}\n";
  return out;
}

std::string to_text(const anomalies& a) {
  if (a.empty()) return "no anomalies\n";
  std::string out = str_cat(a.items.size(), a.items.size() == 1 ? " anomaly" : " anomalies",
                            ":\n");
  for (const anomaly& x : a.items)
    out += str_cat("  ", x.column.empty() ? "(dataset)" : x.column, "  ", x.type, " [",
                   x.severity, "]: ", x.description(), "\n");
  return out;
}

}  // namespace troupe::pipeline
