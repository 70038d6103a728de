#include "pipeline/stats/statistics.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace troupe::pipeline {

// ---------------------------------------------------------------------------------------
// column_stats

column_stats::column_stats(std::string name_in, int kll_k, size_t top_k_capacity)
    : name(std::move(name_in)),
      quantiles(kll_k),
      top_values(top_k_capacity),
      kll_k_(kll_k),
      top_k_capacity_(top_k_capacity) {}

double column_stats::stddev() const {
  return finite_count > 0 ? std::sqrt(std::max(0.0, m2 / double(finite_count))) : 0.0;
}

double column_stats::mean_length() const {
  return present() > 0 ? double(length_sum) / double(present()) : 0.0;
}

void column_stats::clear_numeric() {
  numeric_count = finite_count = zeros = nan_count = 0;
  mean = m2 = 0;
  min = std::numeric_limits<double>::infinity();
  max = -std::numeric_limits<double>::infinity();
  quantiles = kll_sketch(kll_k_);
}

void column_stats::add_number(double v) {
  ++numeric_count;
  if (std::isnan(v)) {
    ++nan_count;
    return;
  }
  if (v == 0) ++zeros;
  min = std::min(min, v);
  max = std::max(max, v);
  quantiles.add(v);
  if (std::isfinite(v)) {
    ++finite_count;
    const double delta = v - mean;
    mean += delta / double(finite_count);
    m2 += delta * (v - mean);
  }
}

void column_stats::add(std::string_view field) {
  ++count;
  if (field.empty()) {
    ++missing;
    return;
  }
  distinct.add(field);
  top_values.add(field);
  const auto len = int64_t(field.size());
  length_min = std::min(length_min, len);
  length_max = std::max(length_max, len);
  length_sum += len;
  if (type == column_type::string) return;
  if (type == column_type::integer) {
    int64_t i = 0;
    if (parse_int64(field, i)) {
      add_number(double(i));
      return;
    }
    type = column_type::floating;
  }
  double d = 0;
  if (parse_double(field, d)) {
    add_number(d);
    return;
  }
  type = column_type::string;
  clear_numeric();
}

void column_stats::merge(const column_stats& o) {
  count += o.count;
  missing += o.missing;
  distinct.merge(o.distinct);
  top_values.merge(o.top_values);
  length_min = std::min(length_min, o.length_min);
  length_max = std::max(length_max, o.length_max);
  length_sum += o.length_sum;
  type = std::max(type, o.type);  // integer < floating < string
  if (type == column_type::string) {
    clear_numeric();
    return;
  }
  numeric_count += o.numeric_count;
  zeros += o.zeros;
  nan_count += o.nan_count;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  quantiles.merge(o.quantiles);
  if (o.finite_count > 0) {  // Chan et al.'s parallel update of mean and M2
    const double na = double(finite_count), nb = double(o.finite_count), n = na + nb;
    const double delta = o.mean - mean;
    mean += delta * nb / n;
    m2 += o.m2 + delta * delta * na * nb / n;
    finite_count += o.finite_count;
  }
}

const column_stats* dataset_stats::find(std::string_view column) const {
  for (const auto& c : columns)
    if (c.name == column) return &c;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// merge

error merge(dataset_stats& a, const dataset_stats& b) {
  if (a.columns.empty() && a.rows == 0 && a.malformed_rows == 0 && a.slices.empty()) {
    a = b;
    return {};
  }
  if (b.columns.empty() && b.rows == 0 && b.malformed_rows == 0 && b.slices.empty()) return {};
  TROUPE_REQUIRE(a.columns.size() == b.columns.size(), "merge statistics: expected ",
                 a.columns.size(), " columns, got ", b.columns.size());
  for (size_t i = 0; i < a.columns.size(); ++i)
    TROUPE_REQUIRE(a.columns[i].name == b.columns[i].name, "merge statistics: column ", i + 1,
                   ": expected '", a.columns[i].name, "', got '", b.columns[i].name, "'");
  TROUPE_REQUIRE(a.slice_column == b.slice_column || a.slices.empty() || b.slices.empty(),
                 "merge statistics: sliced by '", a.slice_column, "' and by '", b.slice_column,
                 "'");
  a.rows += b.rows;
  a.malformed_rows += b.malformed_rows;
  for (const auto& p : b.problems) {
    if (a.problems.size() >= 100) break;
    a.problems.push_back(p);
  }
  for (size_t i = 0; i < a.columns.size(); ++i) a.columns[i].merge(b.columns[i]);
  if (a.slice_column.empty()) a.slice_column = b.slice_column;
  for (const auto& [value, stats] : b.slices) {
    auto it = a.slices.find(value);
    if (it == a.slices.end()) {
      a.slices.emplace(value, stats);
    } else {
      TROUPE_TRY(merge(it->second, stats).with_context(str_cat("slice '", value, "'")));
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// compute_stats

namespace {

// Each slice holds a full set of sketches per column; a slice column with more values than
// this is almost surely not categorical (and would exhaust memory).
constexpr size_t k_max_slices = 1000;

dataset_stats empty_stats(const std::vector<std::string>& header, const stats_options& o) {
  dataset_stats s;
  s.columns.reserve(header.size());
  for (const auto& name : header) s.columns.emplace_back(name, o.kll_k, o.top_k_capacity);
  return s;
}

// "" when equal, else what differs ("column 3 is 'x', expected 'y'").
std::string header_difference(const std::vector<std::string>& want,
                              const std::vector<std::string>& got) {
  for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
    if (want[i] != got[i])
      return str_cat("column ", i + 1, " is '", got[i], "', expected '", want[i], "'");
  if (want.size() != got.size())
    return str_cat("has ", got.size(), " columns, expected ", want.size());
  return {};
}

// The statistics of one file. `header` is the first file's header.
expected<dataset_stats> file_stats(const std::string& path, const std::string& first_path,
                                   const std::vector<std::string>& header, int slice_index,
                                   const stats_options& o) {
  auto reader = TROUPE_TRY(csv_reader::open(path));
  const std::string diff = header_difference(header, reader->header());
  TROUPE_REQUIRE(diff.empty(), "compute_stats: ", path, ": header differs from ", first_path,
                 "'s: ", diff);
  dataset_stats s = empty_stats(header, o);
  if (slice_index >= 0) s.slice_column = o.slice_column;
  std::vector<std::string_view> fields;
  int64_t line = 0;
  const size_t n = header.size();
  for (;;) {
    const bool more = TROUPE_TRY(reader->next(fields, line));
    if (!more) break;
    TROUPE_REQUIRE(fields.size() == n, "compute_stats: ", path, ":", line, ": expected ", n,
                   " fields, got ", fields.size());
    ++s.rows;
    for (size_t i = 0; i < n; ++i) s.columns[i].add(fields[i]);
    if (slice_index >= 0) {
      const std::string_view value = fields[size_t(slice_index)];
      auto it = s.slices.find(value);
      if (it == s.slices.end()) {
        TROUPE_REQUIRE(s.slices.size() < k_max_slices, "compute_stats: ", path, ":", line,
                       ": slice column '", o.slice_column, "' has more than ", k_max_slices,
                       " distinct values; slice by a column with fewer");
        it = s.slices.emplace(std::string(value), empty_stats(header, o)).first;
      }
      dataset_stats& slice = it->second;
      ++slice.rows;
      for (size_t i = 0; i < n; ++i) slice.columns[i].add(fields[i]);
    }
  }
  s.malformed_rows = reader->malformed_count();
  for (const auto& p : reader->problems()) {
    if (s.problems.size() >= 100) break;
    s.problems.push_back(str_cat(p.file, ":", p.line, ": ", p.message));
  }
  return s;
}

}  // namespace

// Files are read by std::thread workers, each taking the next file and filling that file's
// own accumulator; the per-file results are merged in file order, so the statistics are the
// same for any number of threads. TODO(soon): the actor version (a stats actor per shard,
// merged by a reducer) comes with issue 4.
expected<dataset_stats> compute_stats(const std::vector<std::string>& csv_paths,
                                      const stats_options& o) {
  TROUPE_REQUIRE(!csv_paths.empty(), "compute_stats: no input files");
  TROUPE_REQUIRE(o.kll_k >= 8, "compute_stats: kll_k must be at least 8, got ", o.kll_k);
  TROUPE_REQUIRE(o.top_k_capacity >= 1, "compute_stats: top_k_capacity must be at least 1");
  std::vector<std::string> header;
  {
    auto first = TROUPE_TRY(csv_reader::open(csv_paths[0]));
    header = first->header();
  }
  int slice_index = -1;
  if (!o.slice_column.empty()) {
    auto it = std::find(header.begin(), header.end(), o.slice_column);
    TROUPE_REQUIRE(it != header.end(), "compute_stats: slice column '", o.slice_column,
                   "' is not in the header of ", csv_paths[0]);
    slice_index = int(it - header.begin());
  }

  const size_t files = csv_paths.size();
  size_t threads = o.threads > 0 ? size_t(o.threads)
                                 : std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::min(threads, files);
  // Results are merged in file order as soon as the files before them are done, so at most
  // the out-of-order ones wait in `pending`. The first failure in file order stops the rest.
  dataset_stats total = empty_stats(header, o);
  total.slice_column = slice_index >= 0 ? o.slice_column : std::string();
  std::vector<std::optional<expected<dataset_stats>>> pending(files);
  std::mutex mu;
  size_t merged = 0;  // files [0, merged) are in total
  error failure;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files;) {
      auto r = file_stats(csv_paths[i], csv_paths[0], header, slice_index, o);
      std::lock_guard<std::mutex> lock(mu);
      pending[i].emplace(std::move(r));
      for (; merged < files && pending[merged] && !failure; ++merged) {
        expected<dataset_stats>& m = *pending[merged];
        failure = m ? merge(total, *m) : std::move(m).error_value();
        pending[merged].reset();
      }
      if (failure) next.store(files);
    }
  };
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (failure) return failure;
  TROUPE_ASSERT(merged == files, "compute_stats: merged ", merged, " of ", files, " files");
  return total;
}

// ---------------------------------------------------------------------------------------
// JSON writer

namespace {

void put_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void put_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

// Appends `"key":` (with a leading comma unless `first`).
void key(std::string& out, std::string_view k, bool first = false) {
  if (!first) out += ',';
  put_string(out, k);
  out += ':';
}

std::string num(double v) {
  std::string out;
  put_double(out, v);
  return out;
}

std::string quoted(std::string_view v) {
  std::string out;
  put_string(out, v);
  return out;
}

constexpr double k_quantile_points[] = {0, 0.01, 0.25, 0.5, 0.75, 0.99, 1};

void put_column(std::string& out, const column_stats& c) {
  out += str_cat("\"name\":", quoted(c.name), ",\"type\":", quoted(column_type_name(c.type)),
                 ",\"count\":", c.count, ",\"missing\":", c.missing, ",\"kll_k\":", c.kll_k(),
                 ",\"top_k_capacity\":", c.top_k_capacity());
  if (c.is_numeric()) {
    const kll_sketch& q = c.quantiles;
    out += str_cat(",\"numeric\":{\"count\":", c.numeric_count, ",\"finite_count\":",
                   c.finite_count, ",\"mean\":", num(c.mean), ",\"std\":", num(c.stddev()),
                   ",\"m2\":", num(c.m2), ",\"min\":", num(c.min), ",\"max\":", num(c.max),
                   ",\"zeros\":", c.zeros, ",\"nan_count\":", c.nan_count,
                   ",\"rank_error\":", num(q.rank_error()));
    if (q.count() > 0) {
      out += ",\"quantiles\":[";
      for (double p : k_quantile_points)
        out += str_cat(p != 0 ? "," : "", "{\"q\":", num(p), ",\"value\":", num(q.quantile(p)),
                       "}");
      out += str_cat("],\"histogram\":{\"min\":", num(q.min()), ",\"max\":", num(q.max()),
                     ",\"counts\":[");
      const auto counts = q.histogram(10);
      for (size_t i = 0; i < counts.size(); ++i) out += str_cat(i ? "," : "", counts[i]);
      out += "]}";
    }
    out += str_cat(",\"kll\":", q.to_json(), "}");
  }
  out += str_cat(",\"distinct\":{\"estimate\":", num(c.distinct.estimate()),
                 ",\"relative_error\":", num(c.distinct.relative_error()),
                 ",\"hll\":", c.distinct.to_json(), "}");
  out += str_cat(",\"top_values\":{\"max_error\":", c.top_values.max_error(), ",\"top\":[");
  bool first = true;
  for (const auto& [value, n] : c.top_values.top(10)) {
    out += str_cat(first ? "" : ",", "{\"value\":", quoted(value), ",\"count\":", n, "}");
    first = false;
  }
  out += str_cat("],\"sketch\":", c.top_values.to_json(), "}");
  out += str_cat(",\"string_length\":{\"min\":", c.present() > 0 ? c.length_min : 0,
                 ",\"max\":", c.length_max, ",\"sum\":", c.length_sum,
                 ",\"mean\":", num(c.mean_length()), "}");
}

void put_dataset(std::string& out, const dataset_stats& s) {
  out += '{';
  key(out, "rows", true);
  out += std::to_string(s.rows);
  out += str_cat(",\"malformed_rows\":", s.malformed_rows);
  key(out, "problems");
  out += '[';
  for (size_t i = 0; i < s.problems.size(); ++i) {
    if (i) out += ',';
    put_string(out, s.problems[i]);
  }
  out += ']';
  key(out, "columns");
  out += '[';
  for (size_t i = 0; i < s.columns.size(); ++i) {
    out += i ? ",\n{" : "\n{";
    put_column(out, s.columns[i]);
    out += '}';
  }
  out += ']';
  key(out, "slice_column");
  put_string(out, s.slice_column);
  key(out, "slices");
  out += '[';
  bool first = true;
  for (const auto& [value, stats] : s.slices) {
    out += first ? "\n{" : ",\n{";
    first = false;
    key(out, "value", true);
    put_string(out, value);
    key(out, "stats");
    put_dataset(out, stats);
    out += '}';
  }
  out += "]}";
}

}  // namespace

std::string to_json(const dataset_stats& s) {
  std::string out;
  put_dataset(out, s);
  out += '\n';
  return out;
}

// ---------------------------------------------------------------------------------------
// JSON reader: a small DOM that keeps each value's source text, so the sketches' JSON can
// be handed to their own from_json.

namespace {

struct json_value {
  enum class kind : uint8_t { null, boolean, number, string, array, object };
  kind k = kind::null;
  std::string_view raw;  // the value's source text
  std::string str;       // kind::string, unescaped
  std::vector<json_value> items;
  std::vector<std::pair<std::string, json_value>> members;

  const json_value* get(std::string_view name) const {
    for (const auto& [n, v] : members)
      if (n == name) return &v;
    return nullptr;
  }
};

class json_parser {
 public:
  explicit json_parser(std::string_view text) : text_(text) {}

  expected<json_value> parse_document() {
    json_value v = TROUPE_TRY(parse_value(0));
    skip_space();
    if (pos_ != text_.size()) return fail("unexpected text after the end of the document");
    return v;
  }

 private:
  error fail(std::string_view what) const {
    int64_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return make_error(errc::invalid_argument, "stats_from_json: line ", line, ", column ", col,
                      ": ", what);
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }

  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  expected<json_value> parse_value(int depth) {
    if (depth > 64) return fail("nesting deeper than 64");
    skip_space();
    if (pos_ >= text_.size()) return fail("unexpected end of input, expected a value");
    const size_t start = pos_;
    json_value v;
    const char c = text_[pos_];
    if (c == '{') {
      v.k = json_value::kind::object;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
      } else {
        for (;;) {
          skip_space();
          if (pos_ >= text_.size() || text_[pos_] != '"') return fail("expected a member name");
          std::string name = TROUPE_TRY(parse_string());
          skip_space();
          if (!consume(":")) return fail("expected ':'");
          json_value member = TROUPE_TRY(parse_value(depth + 1));
          v.members.emplace_back(std::move(name), std::move(member));
          skip_space();
          if (consume(",")) continue;
          if (consume("}")) break;
          return fail("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      v.k = json_value::kind::array;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
      } else {
        for (;;) {
          json_value item = TROUPE_TRY(parse_value(depth + 1));
          v.items.push_back(std::move(item));
          skip_space();
          if (consume(",")) continue;
          if (consume("]")) break;
          return fail("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      v.k = json_value::kind::string;
      v.str = TROUPE_TRY(parse_string());
    } else if (consume("true") || consume("false")) {
      v.k = json_value::kind::boolean;
    } else if (consume("null")) {
      v.k = json_value::kind::null;
    } else if (c == '-' || (c >= '0' && c <= '9') || c == 'N' || c == 'I' || c == 'n' ||
               c == 'i') {
      // Numbers, and bare NaN / Infinity that some writers emit.
      v.k = json_value::kind::number;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '-' ||
              text_[pos_] == '+' || text_[pos_] == '.'))
        ++pos_;
    } else {
      return fail(str_cat("unexpected character '", c, "'"));
    }
    v.raw = text_.substr(start, pos_ - start);
    return v;
  }

  expected<std::string> parse_string() {
    ++pos_;  // the opening quote
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = 0;
          if (pos_ + 4 > text_.size() ||
              std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, cp, 16).ptr !=
                  text_.data() + pos_ + 4)
            return fail("bad \\u escape");
          pos_ += 4;
          if (cp < 0x80) {
            out += char(cp);
          } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
          } else {  // surrogate pairs are not combined: the writer never emits them
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: return fail(str_cat("bad escape '\\", e, "'"));
      }
    }
    return fail("unterminated string");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Typed access to a parsed object; errors name the field's path.
class json_object {
 public:
  json_object(const json_value& v, std::string path) : v_(v), path_(std::move(path)) {}

  static expected<json_object> of(const json_value& v, std::string path) {
    TROUPE_REQUIRE(v.k == json_value::kind::object, "stats_from_json: ", path,
                   ": expected an object");
    return json_object(v, std::move(path));
  }

  std::string path(std::string_view name) const { return str_cat(path_, ".", name); }

  expected<const json_value*> field(std::string_view name) const {
    const json_value* f = v_.get(name);
    TROUPE_REQUIRE(f != nullptr, "stats_from_json: ", path(name), ": missing");
    return f;
  }
  bool has(std::string_view name) const { return v_.get(name) != nullptr; }

  expected<int64_t> get_int(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    int64_t out = 0;
    const char* end = f->raw.data() + f->raw.size();
    TROUPE_REQUIRE(f->k == json_value::kind::number &&
                       std::from_chars(f->raw.data(), end, out).ptr == end,
                   "stats_from_json: ", path(name), ": expected an integer, got '", f->raw,
                   "'");
    return out;
  }

  expected<double> get_double(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    if (f->k == json_value::kind::string) {
      if (f->str == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (f->str == "Infinity") return std::numeric_limits<double>::infinity();
      if (f->str == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    double out = 0;
    const char* end = f->raw.data() + f->raw.size();
    TROUPE_REQUIRE(f->k == json_value::kind::number &&
                       std::from_chars(f->raw.data(), end, out).ptr == end,
                   "stats_from_json: ", path(name), ": expected a number, got '", f->raw, "'");
    return out;
  }

  expected<std::string> get_string(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    TROUPE_REQUIRE(f->k == json_value::kind::string, "stats_from_json: ", path(name),
                   ": expected a string, got '", f->raw, "'");
    return f->str;
  }

  expected<json_object> get_object(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    return of(*f, path(name));
  }

  expected<const std::vector<json_value>*> get_array(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    TROUPE_REQUIRE(f->k == json_value::kind::array, "stats_from_json: ", path(name),
                   ": expected an array");
    return &f->items;
  }

 private:
  const json_value& v_;
  std::string path_;
};

template <class Sketch>
expected<Sketch> sketch_from(const json_object& o, std::string_view name) {
  const json_value* f = TROUPE_TRY(o.field(name));
  auto s = Sketch::from_json(f->raw);
  if (!s) return std::move(s).error_value().with_context(str_cat("stats_from_json: ", o.path(name)));
  return std::move(*s);
}

expected<column_stats> column_from(const json_value& v, const std::string& path) {
  const json_object o = TROUPE_TRY(json_object::of(v, path));
  const int64_t kll_k = TROUPE_TRY(o.get_int("kll_k"));
  const int64_t capacity = TROUPE_TRY(o.get_int("top_k_capacity"));
  TROUPE_REQUIRE(kll_k >= 1 && kll_k <= (int64_t(1) << 20) && capacity >= 1,
                 "stats_from_json: ", path, ": bad kll_k ", kll_k, " or top_k_capacity ",
                 capacity);
  column_stats c(TROUPE_TRY(o.get_string("name")), int(kll_k), size_t(capacity));
  const std::string type = TROUPE_TRY(o.get_string("type"));
  bool known = false;
  for (column_type t : {column_type::integer, column_type::floating, column_type::string}) {
    if (column_type_name(t) == type) {
      c.type = t;
      known = true;
    }
  }
  TROUPE_REQUIRE(known, "stats_from_json: ", o.path("type"), ": unknown type '", type, "'");
  c.count = TROUPE_TRY(o.get_int("count"));
  c.missing = TROUPE_TRY(o.get_int("missing"));
  if (c.is_numeric()) {
    const json_object n = TROUPE_TRY(o.get_object("numeric"));
    c.numeric_count = TROUPE_TRY(n.get_int("count"));
    c.finite_count = TROUPE_TRY(n.get_int("finite_count"));
    c.mean = TROUPE_TRY(n.get_double("mean"));
    c.m2 = TROUPE_TRY(n.get_double("m2"));
    c.min = TROUPE_TRY(n.get_double("min"));
    c.max = TROUPE_TRY(n.get_double("max"));
    c.zeros = TROUPE_TRY(n.get_int("zeros"));
    c.nan_count = TROUPE_TRY(n.get_int("nan_count"));
    c.quantiles = TROUPE_TRY(sketch_from<kll_sketch>(n, "kll"));
  }
  const json_object d = TROUPE_TRY(o.get_object("distinct"));
  c.distinct = TROUPE_TRY(sketch_from<hyperloglog>(d, "hll"));
  const json_object t = TROUPE_TRY(o.get_object("top_values"));
  c.top_values = TROUPE_TRY(sketch_from<top_k>(t, "sketch"));
  const json_object l = TROUPE_TRY(o.get_object("string_length"));
  c.length_max = TROUPE_TRY(l.get_int("max"));
  c.length_sum = TROUPE_TRY(l.get_int("sum"));
  c.length_min = c.present() > 0 ? TROUPE_TRY(l.get_int("min"))
                                 : std::numeric_limits<int64_t>::max();
  TROUPE_REQUIRE(c.count >= 0 && c.missing >= 0 && c.missing <= c.count, "stats_from_json: ",
                 path, ": inconsistent count ", c.count, " and missing ", c.missing);
  return c;
}

expected<dataset_stats> dataset_from(const json_value& v, const std::string& path, int depth) {
  const json_object o = TROUPE_TRY(json_object::of(v, path));
  dataset_stats s;
  s.rows = TROUPE_TRY(o.get_int("rows"));
  s.malformed_rows = TROUPE_TRY(o.get_int("malformed_rows"));
  for (const auto& p : *TROUPE_TRY(o.get_array("problems"))) {
    TROUPE_REQUIRE(p.k == json_value::kind::string, "stats_from_json: ", o.path("problems"),
                   ": expected strings");
    s.problems.push_back(p.str);
  }
  const auto& columns = *TROUPE_TRY(o.get_array("columns"));
  for (size_t i = 0; i < columns.size(); ++i) {
    column_stats c = TROUPE_TRY(column_from(columns[i], str_cat(o.path("columns"), "[", i, "]")));
    s.columns.push_back(std::move(c));
  }
  s.slice_column = TROUPE_TRY(o.get_string("slice_column"));
  const auto& slices = *TROUPE_TRY(o.get_array("slices"));
  TROUPE_REQUIRE(depth == 0 || slices.empty(), "stats_from_json: ", path,
                 ": a slice has slices");
  for (size_t i = 0; i < slices.size(); ++i) {
    const std::string sp = str_cat(o.path("slices"), "[", i, "]");
    const json_object so = TROUPE_TRY(json_object::of(slices[i], sp));
    std::string value = TROUPE_TRY(so.get_string("value"));
    const json_value* inner = TROUPE_TRY(so.field("stats"));
    dataset_stats st = TROUPE_TRY(dataset_from(*inner, so.path("stats"), depth + 1));
    TROUPE_REQUIRE(s.slices.emplace(value, std::move(st)).second, "stats_from_json: ", sp,
                   ": duplicate slice value '", value, "'");
  }
  return s;
}

}  // namespace

expected<dataset_stats> stats_from_json(std::string_view text) {
  json_parser parser(text);
  const json_value root = TROUPE_TRY(parser.parse_document());
  return dataset_from(root, "$", 0);
}

// ---------------------------------------------------------------------------------------
// Text table

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string clip(std::string_view s, size_t width) {
  if (s.size() <= width) return std::string(s);
  return str_cat(s.substr(0, width - 3), "...");
}

void append_table(std::string& out, const dataset_stats& s) {
  size_t name_width = 6;
  for (const auto& c : s.columns) name_width = std::max(name_width, std::min<size_t>(c.name.size(), 32));
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-6s %10s %8s %12s %12s %12s %12s %12s %9s  %s\n",
                int(name_width), "column", "type", "count", "missing", "mean", "std", "min",
                "median", "max", "distinct", "top value");
  out += line;
  for (const auto& c : s.columns) {
    const double missing_pct = c.count > 0 ? 100.0 * double(c.missing) / double(c.count) : 0;
    std::string mean = "-", sd = "-", mn = "-", med = "-", mx = "-";
    if (c.is_numeric() && c.numeric_count > c.nan_count) {
      mean = format_number(c.mean);
      sd = format_number(c.stddev());
      mn = format_number(c.min);
      med = format_number(c.quantiles.quantile(0.5));
      mx = format_number(c.max);
    }
    std::string top = "-";
    if (auto t = c.top_values.top(1); !t.empty())
      top = str_cat(clip(t[0].first, 24), " (", t[0].second, ")");
    std::snprintf(line, sizeof line,
                  "%-*s %-6s %10lld %7.2f%% %12s %12s %12s %12s %12s %9.0f  %s\n",
                  int(name_width), clip(c.name, 32).c_str(),
                  std::string(column_type_name(c.type)).c_str(),
                  static_cast<long long>(c.count), missing_pct, mean.c_str(), sd.c_str(),
                  mn.c_str(), med.c_str(), mx.c_str(), std::round(c.distinct.estimate()),
                  top.c_str());
    out += line;
  }
}

}  // namespace

std::string to_text(const dataset_stats& s) {
  std::string out = str_cat("rows: ", s.rows, "  malformed rows: ", s.malformed_rows, "\n");
  append_table(out, s);
  for (const auto& [value, slice] : s.slices) {
    out += str_cat("\nslice ", s.slice_column, " = ", value, "  rows: ", slice.rows, "\n");
    append_table(out, slice);
  }
  return out;
}

}  // namespace troupe::pipeline
