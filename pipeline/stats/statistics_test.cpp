#include "pipeline/stats/statistics.hpp"

#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::data_path;
using testing::temp_dir;
using testing::write_file;

// The letter data set, read by hand: header and rows of fields (no quoting in that file).
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> lines;  // the data lines as written
};

table read_letters() {
  table t;
  std::ifstream in(data_path("letter_recognition.csv"));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    if (first) {
      t.header = fields;
      first = false;
    } else {
      t.rows.push_back(fields);
      t.lines.push_back(line);
    }
  }
  return t;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

void expect_near_rel(double want, double got, double rel, const std::string& what) {
  EXPECT_LE(std::abs(want - got), rel * std::max(1.0, std::abs(want)))
      << what << ": want " << want << ", got " << got;
}

// q's value from the sketch lies within rank_error of rank q in the exact sorted values.
void expect_quantile_ok(const std::vector<double>& sorted, const column_stats& c, double q) {
  const double v = c.quantiles.quantile(q);
  const double n = double(sorted.size());
  const double below = double(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  const double upto = double(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  const double eps = c.quantiles.rank_error() + 1.0 / n;
  EXPECT_LE(below / n, q + eps) << c.name << " q=" << q << " value " << v;
  EXPECT_GE(upto / n, q - eps) << c.name << " q=" << q << " value " << v;
}

// Checks one column against an exact float64 computation over `values` (all present).
void expect_column_exact(const column_stats& c, const std::vector<std::string>& values) {
  ASSERT_EQ(c.count, int64_t(values.size())) << c.name;
  std::map<std::string, int64_t> freq;
  for (const auto& v : values) ++freq[v];
  EXPECT_EQ(c.missing, 0) << c.name;
  EXPECT_EQ(std::llround(c.distinct.estimate()), int64_t(freq.size())) << c.name;
  std::vector<std::pair<std::string, int64_t>> top(freq.begin(), freq.end());
  std::stable_sort(top.begin(), top.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  top.resize(std::min<size_t>(top.size(), 10));
  EXPECT_EQ(c.top_values.top(10), top) << c.name;
  if (!c.is_numeric()) return;
  std::vector<double> x;
  for (const auto& v : values) x.push_back(std::stod(v));
  double sum = 0;
  for (double v : x) sum += v;
  const double mean = sum / double(x.size());
  double ss = 0;
  int64_t zeros = 0;
  for (double v : x) {
    ss += (v - mean) * (v - mean);
    zeros += v == 0;
  }
  expect_near_rel(mean, c.mean, 1e-9, c.name + " mean");
  expect_near_rel(std::sqrt(ss / double(x.size())), c.stddev(), 1e-9, c.name + " std");
  std::sort(x.begin(), x.end());
  EXPECT_EQ(c.min, x.front()) << c.name;
  EXPECT_EQ(c.max, x.back()) << c.name;
  EXPECT_EQ(c.zeros, zeros) << c.name;
  EXPECT_EQ(c.nan_count, 0) << c.name;
  for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0}) expect_quantile_ok(x, c, q);
}

// Exact fields equal exactly; moments to 1e-12; distinct and top values equal.
void expect_same_stats(const dataset_stats& a, const dataset_stats& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.malformed_rows, b.malformed_rows);
  ASSERT_EQ(a.columns.size(), b.columns.size());
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const column_stats& x = a.columns[i];
    const column_stats& y = b.columns[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type) << x.name;
    EXPECT_EQ(x.count, y.count) << x.name;
    EXPECT_EQ(x.missing, y.missing) << x.name;
    EXPECT_EQ(x.numeric_count, y.numeric_count) << x.name;
    EXPECT_EQ(x.finite_count, y.finite_count) << x.name;
    EXPECT_EQ(x.min, y.min) << x.name;
    EXPECT_EQ(x.max, y.max) << x.name;
    EXPECT_EQ(x.zeros, y.zeros) << x.name;
    EXPECT_EQ(x.nan_count, y.nan_count) << x.name;
    expect_near_rel(x.mean, y.mean, 1e-12, x.name + " mean");
    expect_near_rel(x.stddev(), y.stddev(), 1e-12, x.name + " std");
    EXPECT_EQ(x.quantiles.count(), y.quantiles.count()) << x.name;
    EXPECT_EQ(x.distinct.estimate(), y.distinct.estimate()) << x.name;
    EXPECT_EQ(x.top_values.top(50), y.top_values.top(50)) << x.name;
    EXPECT_EQ(x.length_min, y.length_min) << x.name;
    EXPECT_EQ(x.length_max, y.length_max) << x.name;
    EXPECT_EQ(x.length_sum, y.length_sum) << x.name;
  }
}

TEST(Statistics, LetterRecognitionAgreesWithExactComputation) {
  const table t = read_letters();
  ASSERT_EQ(t.rows.size(), 20000u);
  auto s = compute_stats({data_path("letter_recognition.csv")});
  ASSERT_TRUE(s) << s.error_value().to_string();
  EXPECT_EQ(s->rows, 20000);
  EXPECT_EQ(s->malformed_rows, 0);
  ASSERT_EQ(s->columns.size(), 17u);
  EXPECT_EQ(s->columns[0].type, column_type::string);
  for (size_t i = 0; i < t.header.size(); ++i) {
    const column_stats& c = s->columns[i];
    EXPECT_EQ(c.name, t.header[i]);
    if (i > 0) {
      EXPECT_EQ(c.type, column_type::integer) << c.name;
    }
    std::vector<std::string> values;
    for (const auto& r : t.rows) values.push_back(r[i]);
    expect_column_exact(c, values);
  }
  EXPECT_EQ(s->columns[0].length_min, 1);
  EXPECT_EQ(s->columns[0].length_max, 1);
}

TEST(Statistics, MissingValuesNaNAndAColumnThatTurnsString) {
  const fs::path d = temp_dir("stats");
  const std::string path = write_file(d, "m.csv",
                                      "a,b,c\n"
                                      "1,1,1.5\n"
                                      ",2,nan\n"
                                      "3,x,0\n"
                                      ",1,inf\n"
                                      "0,3,\n");
  auto s = compute_stats({path});
  ASSERT_TRUE(s) << s.error_value().to_string();
  EXPECT_EQ(s->rows, 5);
  const column_stats& a = *s->find("a");
  EXPECT_EQ(a.type, column_type::integer);
  EXPECT_EQ(a.count, 5);
  EXPECT_EQ(a.missing, 2);
  EXPECT_EQ(a.zeros, 1);
  EXPECT_DOUBLE_EQ(a.mean, 4.0 / 3.0);
  EXPECT_EQ(a.min, 0);
  EXPECT_EQ(a.max, 3);
  EXPECT_EQ(std::llround(a.distinct.estimate()), 3);

  // b is int until "x": it is string, has no numeric statistics, and the values before
  // "x" still count in its top values and distinct count.
  const column_stats& b = *s->find("b");
  EXPECT_EQ(b.type, column_type::string);
  EXPECT_EQ(b.numeric_count, 0);
  EXPECT_EQ(b.quantiles.count(), 0);
  EXPECT_EQ(std::llround(b.distinct.estimate()), 4);
  const auto top = b.top_values.top(10);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0], (std::pair<std::string, int64_t>{"1", 2}));
  EXPECT_EQ(top[1], (std::pair<std::string, int64_t>{"2", 1}));

  // c is floating: NaN is counted and left out, inf is in min/max but not in the mean.
  const column_stats& c = *s->find("c");
  EXPECT_EQ(c.type, column_type::floating);
  EXPECT_EQ(c.missing, 1);
  EXPECT_EQ(c.nan_count, 1);
  EXPECT_EQ(c.numeric_count, 4);
  EXPECT_EQ(c.finite_count, 2);
  EXPECT_EQ(c.zeros, 1);
  EXPECT_DOUBLE_EQ(c.mean, 0.75);
  EXPECT_DOUBLE_EQ(c.stddev(), 0.75);
  EXPECT_EQ(c.min, 0);
  EXPECT_TRUE(std::isinf(c.max));
  EXPECT_EQ(c.length_min, 1);
  EXPECT_EQ(c.length_max, 3);

  // The text table names every column and type.
  const std::string text = to_text(*s);
  EXPECT_NE(text.find("rows: 5"), std::string::npos) << text;
  EXPECT_NE(text.find("string"), std::string::npos) << text;
  EXPECT_NE(text.find("40.00%"), std::string::npos) << text;  // a's missing
}

TEST(Statistics, ColumnTypeNarrowsAndMergesInAnyOrder) {
  column_stats ints("c"), strs("c");
  for (const char* v : {"1", "2", "", "2"}) ints.add(v);
  EXPECT_EQ(ints.type, column_type::integer);
  EXPECT_EQ(ints.numeric_count, 3);
  ints.add("2.5");
  EXPECT_EQ(ints.type, column_type::floating);
  EXPECT_EQ(ints.numeric_count, 4);
  EXPECT_DOUBLE_EQ(ints.mean, 7.5 / 4);
  for (const char* v : {"7", "b"}) strs.add(v);
  EXPECT_EQ(strs.type, column_type::string);
  EXPECT_EQ(strs.numeric_count, 0);  // cleared when it turned string
  EXPECT_EQ(strs.quantiles.count(), 0);
  column_stats ab = ints, ba = strs;
  ab.merge(strs);
  ba.merge(ints);
  for (const column_stats* m : {&ab, &ba}) {
    EXPECT_EQ(m->type, column_type::string);
    EXPECT_EQ(m->count, 7);
    EXPECT_EQ(m->missing, 1);
    EXPECT_EQ(m->numeric_count, 0);
    EXPECT_EQ(std::llround(m->distinct.estimate()), 5);
    EXPECT_EQ(m->top_values.top(1)[0], (std::pair<std::string, int64_t>{"2", 2}));
    EXPECT_EQ(m->length_max, 3);
  }
}

// Writes the letter file as two halves; returns {first, second}.
std::pair<std::string, std::string> write_halves(const fs::path& d, const table& t) {
  std::string h1 = join(t.header) + "\n", h2 = h1;
  const size_t half = t.lines.size() / 2 + 123;  // uneven on purpose
  for (size_t i = 0; i < t.lines.size(); ++i) (i < half ? h1 : h2) += t.lines[i] + "\n";
  return {write_file(d, "h1.csv", h1), write_file(d, "h2.csv", h2)};
}

TEST(Statistics, MergedHalvesEqualTheWhole) {
  const fs::path d = temp_dir("stats");
  const table t = read_letters();
  const auto [p1, p2] = write_halves(d, t);
  auto whole = compute_stats({data_path("letter_recognition.csv")});
  auto a = compute_stats({p1});
  auto b = compute_stats({p2});
  ASSERT_TRUE(whole && a && b);
  dataset_stats merged = *a;
  ASSERT_FALSE(merge(merged, *b));
  expect_same_stats(*whole, merged);
  for (size_t i = 1; i < t.header.size(); ++i) {
    std::vector<double> x;
    for (const auto& r : t.rows) x.push_back(std::stod(r[i]));
    std::sort(x.begin(), x.end());
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0})
      expect_quantile_ok(x, merged.columns[i], q);
  }
  // Both files at once, on two threads: the same statistics.
  stats_options two_threads;
  two_threads.threads = 2;
  auto both = compute_stats({p1, p2}, two_threads);
  ASSERT_TRUE(both) << both.error_value().to_string();
  expect_same_stats(*whole, *both);
  // Merging columns that differ is an error.
  dataset_stats other;
  other.rows = 1;
  other.columns.emplace_back("zzz");
  const error e = merge(merged, other);
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("expected 17 columns, got 1"), std::string::npos) << e.message();
}

TEST(Statistics, JsonRoundTripThenMerge) {
  const fs::path d = temp_dir("stats");
  const table t = read_letters();
  const auto [p1, p2] = write_halves(d, t);
  auto whole = compute_stats({data_path("letter_recognition.csv")});
  auto a = compute_stats({p1});
  auto b = compute_stats({p2});
  ASSERT_TRUE(whole && a && b);
  const std::string ja = to_json(*a);
  EXPECT_NE(ja.find("\"quantiles\""), std::string::npos);
  EXPECT_NE(ja.find("\"histogram\""), std::string::npos);
  EXPECT_NE(ja.find("\"rank_error\""), std::string::npos);
  auto ra = stats_from_json(ja);
  ASSERT_TRUE(ra) << ra.error_value().to_string();
  expect_same_stats(*a, *ra);
  EXPECT_EQ(to_json(*ra), ja);  // a second trip gives the same text
  auto rb = stats_from_json(to_json(*b));
  ASSERT_TRUE(rb) << rb.error_value().to_string();
  ASSERT_FALSE(merge(*ra, *rb));
  expect_same_stats(*whole, *ra);

  // Malformed JSON: clear errors with a position or a field path.
  auto bad = stats_from_json("{\"rows\": 1,\n \"malformed_rows\" 2}");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error_value().message().find("line 2"), std::string::npos)
      << bad.error_value().message();
  auto missing = stats_from_json("{\"rows\": 1}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error_value().message().find("$.malformed_rows: missing"), std::string::npos)
      << missing.error_value().message();
  std::string broken = ja;
  const size_t at = broken.find("\"count\":");
  broken.replace(at, 8, "\"count\":\"x\",\"c\":");
  auto typed = stats_from_json(broken);
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error_value().message().find("$.columns[0].count: expected an integer"),
            std::string::npos)
      << typed.error_value().message();
}

TEST(Statistics, SlicesByLetter) {
  const table t = read_letters();
  auto s = compute_stats({data_path("letter_recognition.csv")}, {.slice_column = "lettr"});
  ASSERT_TRUE(s) << s.error_value().to_string();
  EXPECT_EQ(s->slice_column, "lettr");
  ASSERT_EQ(s->slices.size(), 26u);
  int64_t total = 0;
  for (const auto& [value, slice] : s->slices) total += slice.rows;
  EXPECT_EQ(total, 20000);
  const dataset_stats& a = s->slices.at("A");
  std::vector<std::string> x_box;
  for (const auto& r : t.rows)
    if (r[0] == "A") x_box.push_back(r[1]);
  EXPECT_EQ(a.rows, int64_t(x_box.size()));
  expect_column_exact(a.columns[1], x_box);
  EXPECT_EQ(a.columns[0].top_values.top(2),
            (std::vector<std::pair<std::string, int64_t>>{{"A", int64_t(x_box.size())}}));
  // Slices survive JSON and appear in the text table.
  auto r = stats_from_json(to_json(*s));
  ASSERT_TRUE(r) << r.error_value().to_string();
  ASSERT_EQ(r->slices.size(), 26u);
  expect_same_stats(a, r->slices.at("A"));
  EXPECT_NE(to_text(*s).find("slice lettr = Z"), std::string::npos);

  // Slicing by a column with too many values is refused, naming the line.
  const fs::path d = temp_dir("stats");
  std::string many = "id,v\n";
  for (int i = 0; i < 1005; ++i) many += str_cat(i, ",1\n");
  const std::string many_path = write_file(d, "many.csv", many);
  auto too_many = compute_stats({many_path}, {.slice_column = "id"});
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error_value().message().find("many.csv:1002: slice column 'id' has more"),
            std::string::npos)
      << too_many.error_value().message();

  auto unknown = compute_stats({data_path("letter_recognition.csv")}, {.slice_column = "nope"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error_value().message().find("slice column 'nope'"), std::string::npos);
}

TEST(Statistics, HeaderMismatchNamesTheFileAndTheDifference) {
  const fs::path d = temp_dir("stats");
  const std::string p1 = write_file(d, "one.csv", "a,b,c\n1,2,3\n");
  const std::string p2 = write_file(d, "two.csv", "a,q,c\n1,2,3\n");
  const std::string p3 = write_file(d, "three.csv", "a,b\n1,2\n");
  auto s = compute_stats({p1, p2});
  ASSERT_FALSE(s);
  const std::string m = s.error_value().message();
  EXPECT_NE(m.find("two.csv"), std::string::npos) << m;
  EXPECT_NE(m.find("column 2 is 'q', expected 'b'"), std::string::npos) << m;
  stats_options two_threads;
  two_threads.threads = 2;
  auto s3 = compute_stats({p1, p3}, two_threads);
  ASSERT_FALSE(s3);
  EXPECT_NE(s3.error_value().message().find("has 2 columns, expected 3"), std::string::npos)
      << s3.error_value().message();
  auto none = compute_stats({(d / "absent.csv").string()});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error_value().message().find("absent.csv"), std::string::npos)
      << none.error_value().message();
  // A missing file after the first: the error names it, even read by a worker thread.
  auto later = compute_stats({p1, (d / "gone.csv").string(), p1}, two_threads);
  ASSERT_FALSE(later);
  EXPECT_NE(later.error_value().message().find("gone.csv"), std::string::npos)
      << later.error_value().message();
  EXPECT_FALSE(compute_stats({}));
}

TEST(Statistics, MalformedRowsAreCounted) {
  const fs::path d = temp_dir("stats");
  const std::string p = write_file(d, "bad.csv", "a,b\n1,2\n3\n4,5\n6,7,8\n9,10\n");
  auto s = compute_stats({p});
  ASSERT_TRUE(s) << s.error_value().to_string();
  EXPECT_EQ(s->rows, 3);
  EXPECT_EQ(s->malformed_rows, 2);
  ASSERT_EQ(s->problems.size(), 2u);
  EXPECT_NE(s->problems[0].find("bad.csv:3"), std::string::npos) << s->problems[0];
  EXPECT_NE(s->problems[1].find("bad.csv:5"), std::string::npos) << s->problems[1];
  EXPECT_EQ(s->columns[0].count, 3);
  EXPECT_DOUBLE_EQ(s->columns[1].mean, 17.0 / 3.0);
  auto r = stats_from_json(to_json(*s));
  ASSERT_TRUE(r) << r.error_value().to_string();
  EXPECT_EQ(r->malformed_rows, 2);
  EXPECT_EQ(r->problems, s->problems);
}

// ---------------------------------------------------------------------------------------
// Every data set in the repo against an exact float64 computation, merge of halves, the
// piece split, and bad input.

// A CSV without quoting, read by hand (the data sets in the repo have none).
table read_plain_csv(const std::string& path) {
  table t;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
      const size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (first) {
      t.header = fields;
      first = false;
    } else {
      t.rows.push_back(fields);
      t.lines.push_back(line);
    }
  }
  return t;
}

// The text that distinct and top_values see for a present value (see add_integer,
// add_floating): canonical for numbers while the column is numeric.
std::string canonical(const std::string& v, column_type type) {
  if (type == column_type::string) return v;
  char buf[32];
  int64_t i = 0;
  double d = 0;
  if (parse_int64(v, i)) return std::string(buf, std::to_chars(buf, buf + 32, i).ptr);
  if (parse_double(v, d) && std::trunc(d) == d && std::abs(d) < 1e21)
    return std::string(buf, std::to_chars(buf, buf + 32, d, std::chars_format::fixed).ptr);
  if (parse_double(v, d)) return std::string(buf, std::to_chars(buf, buf + 32, d).ptr);
  return v;
}

// Checks every field of `c` against an exact computation over `values` ("" = missing).
void expect_column_matches(const column_stats& c, const std::vector<std::string>& values) {
  SCOPED_TRACE(c.name);
  column_type type = column_type::integer;
  for (const auto& v : values) type = refine_type(type, v);
  EXPECT_EQ(c.type, type);
  ASSERT_EQ(c.count, int64_t(values.size()));
  std::map<std::string, int64_t> freq;
  int64_t missing = 0, len_min = INT64_MAX, len_max = 0, len_sum = 0;
  std::vector<double> x;
  for (const auto& v : values) {
    if (v.empty()) {
      ++missing;
      continue;
    }
    const std::string text = canonical(v, type);
    ++freq[text];
    len_min = std::min<int64_t>(len_min, int64_t(text.size()));
    len_max = std::max<int64_t>(len_max, int64_t(text.size()));
    len_sum += int64_t(text.size());
    if (type != column_type::string) {
      double d = 0;
      ASSERT_TRUE(parse_double(v, d)) << v;
      x.push_back(d);
    }
  }
  EXPECT_EQ(c.missing, missing);
  EXPECT_EQ(c.length_max, len_max);
  EXPECT_EQ(c.length_sum, len_sum);
  if (missing < int64_t(values.size())) {
    EXPECT_EQ(c.length_min, len_min);
  }
  if (freq.size() <= hyperloglog::exact_limit) {
    EXPECT_TRUE(c.distinct.is_exact());
    EXPECT_EQ(c.distinct.estimate(), double(freq.size()));
  } else {
    EXPECT_NEAR(c.distinct.estimate(), double(freq.size()),
                4 * c.distinct.relative_error() * double(freq.size()));
  }
  if (freq.size() <= c.top_k_capacity()) {  // exact: every count, ties by value
    std::vector<std::pair<std::string, int64_t>> top(freq.begin(), freq.end());
    std::stable_sort(top.begin(), top.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    top.resize(std::min<size_t>(top.size(), 20));
    EXPECT_EQ(c.top_values.max_error(), 0);
    EXPECT_EQ(c.top_values.top(20), top);
  }
  if (type == column_type::string) {
    EXPECT_EQ(c.numeric_count, 0);
    return;
  }
  ASSERT_FALSE(x.empty());
  EXPECT_EQ(c.numeric_count, int64_t(x.size()));
  EXPECT_EQ(c.finite_count, int64_t(x.size()));
  double sum = 0;
  for (double v : x) sum += v;
  const double mean = sum / double(x.size());
  double ss = 0;
  int64_t zeros = 0;
  for (double v : x) {
    ss += (v - mean) * (v - mean);
    zeros += v == 0;
  }
  expect_near_rel(mean, c.mean, 1e-9, "mean");
  expect_near_rel(std::sqrt(ss / double(x.size())), c.stddev(), 1e-9, "std");
  std::sort(x.begin(), x.end());
  EXPECT_EQ(c.min, x.front());
  EXPECT_EQ(c.max, x.back());
  EXPECT_EQ(c.zeros, zeros);
  EXPECT_EQ(c.nan_count, 0);
  EXPECT_EQ(c.quantiles.count(), int64_t(x.size()));
  for (int i = 0; i <= 100; ++i) expect_quantile_ok(x, c, i / 100.0);
}

std::vector<std::string> column_values(const table& t, size_t i, size_t from = 0,
                                       size_t to = SIZE_MAX) {
  std::vector<std::string> values;
  for (size_t r = from; r < std::min(to, t.rows.size()); ++r) values.push_back(t.rows[r][i]);
  return values;
}

const char* const k_data_sets[] = {"letter_recognition.csv", "credit_scoring.csv"};

TEST(Statistics, EveryDataSetAgreesWithExactComputation) {
  for (const char* name : k_data_sets) {
    SCOPED_TRACE(name);
    const std::string path = data_path(name);
    const table t = read_plain_csv(path);
    ASSERT_GT(t.rows.size(), 1000u);
    auto s = compute_stats({path});
    ASSERT_TRUE(s) << s.error_value().to_string();
    EXPECT_EQ(s->rows, int64_t(t.rows.size()));
    EXPECT_EQ(s->malformed_rows, 0);
    ASSERT_EQ(s->columns.size(), t.header.size());
    for (size_t i = 0; i < t.header.size(); ++i) {
      EXPECT_EQ(s->columns[i].name, t.header[i]);
      expect_column_matches(s->columns[i], column_values(t, i));
    }
  }
  // credit_scoring has natural missing values: at least Income's 381.
  auto credit = compute_stats({data_path("credit_scoring.csv")});
  ASSERT_TRUE(credit);
  EXPECT_EQ(credit->find("Income")->missing, 381);
}

TEST(Statistics, MergedHalvesOfEveryDataSetEqualTheWhole) {
  const fs::path d = temp_dir("stats");
  for (const char* name : k_data_sets) {
    SCOPED_TRACE(name);
    const table t = read_plain_csv(data_path(name));
    const size_t cut = t.rows.size() / 3 + 17;
    std::string h1 = join(t.header) + "\n", h2 = h1;
    for (size_t i = 0; i < t.lines.size(); ++i) (i < cut ? h1 : h2) += t.lines[i] + "\n";
    auto a = compute_stats({write_file(d, str_cat("a_", name), h1)});
    auto b = compute_stats({write_file(d, str_cat("b_", name), h2)});
    auto whole = compute_stats({data_path(name)});
    ASSERT_TRUE(a && b && whole);
    dataset_stats merged = *a;
    ASSERT_FALSE(merge(merged, *b));
    expect_same_stats(*whole, merged);
    for (size_t i = 0; i < t.header.size(); ++i) {
      // Also each half against the exact computation, and the merge's quantiles.
      expect_column_matches(a->columns[i], column_values(t, i, 0, cut));
      expect_column_matches(b->columns[i], column_values(t, i, cut));
      expect_column_matches(merged.columns[i], column_values(t, i));
    }
  }
  // A dataset_stats built by hand with the typed adders (as a record-shard reader does)
  // merges with one from CSV and serialises.
  const table t = read_plain_csv(data_path("credit_scoring.csv"));
  dataset_stats by_hand;
  for (const auto& h : t.header) by_hand.columns.emplace_back(h);
  for (const auto& row : t.rows) {
    ++by_hand.rows;
    for (size_t i = 0; i < row.size(); ++i) {
      int64_t v = 0;
      double f = 0;
      column_stats& c = by_hand.columns[i];
      if (row[i].empty()) {
        c.add_missing();
      } else if (parse_int64(row[i], v)) {
        c.add_integer(v);
      } else if (parse_double(row[i], f)) {
        c.add_floating(f);
      } else {
        c.add_string(row[i]);
      }
    }
  }
  auto csv = compute_stats({data_path("credit_scoring.csv")});
  ASSERT_TRUE(csv);
  expect_same_stats(*csv, by_hand);
  auto back = stats_from_json(to_json(by_hand));
  ASSERT_TRUE(back) << back.error_value().to_string();
  expect_same_stats(by_hand, *back);
  ASSERT_FALSE(merge(*back, *csv));
  EXPECT_EQ(back->rows, 2 * csv->rows);
  EXPECT_EQ(back->find("Income")->missing, 2 * 381);
}

TEST(Statistics, TypedAddersMatchAddOfText) {
  column_stats a("x"), b("x");
  a.add("7");
  b.add_integer(7);
  a.add("007");  // the same value as 7
  b.add_integer(7);
  a.add("2.50");
  b.add_floating(2.5);
  a.add("");
  b.add_missing();
  EXPECT_EQ(a.type, column_type::floating);
  EXPECT_EQ(to_json(dataset_stats{.rows = 4, .columns = {a}}),
            to_json(dataset_stats{.rows = 4, .columns = {b}}));
  EXPECT_EQ(a.top_values.top(2),
            (std::vector<std::pair<std::string, int64_t>>{{"7", 2}, {"2.5", 1}}));
  a.add("abc");
  b.add_string("abc");
  EXPECT_EQ(b.type, column_type::string);
  EXPECT_EQ(b.numeric_count, 0);
  EXPECT_EQ(to_json(dataset_stats{.rows = 5, .columns = {a}}),
            to_json(dataset_stats{.rows = 5, .columns = {b}}));
}

// A file cut into many pieces gives the same statistics for any number of threads, and the
// same exact fields as one reader; a quoted newline across a cut falls back to one reader.
TEST(Statistics, PiecesOfOneFileDoNotDependOnThreads) {
  const fs::path d = temp_dir("stats");
  const std::string path = data_path("credit_scoring.csv");
  auto one = compute_stats({path});
  ASSERT_TRUE(one);
  for (int threads : {1, 2, 5}) {
    auto s = compute_stats({path}, {.threads = threads, .piece_bytes = 10'000});
    ASSERT_TRUE(s) << s.error_value().to_string();
    expect_same_stats(*one, *s);
    auto s1 = compute_stats({path}, {.threads = 1, .piece_bytes = 10'000});
    ASSERT_TRUE(s1);
    EXPECT_EQ(to_json(*s), to_json(*s1)) << threads;
    const table t = read_plain_csv(path);
    for (size_t i = 0; i < t.header.size(); ++i)
      expect_column_matches(s->columns[i], column_values(t, i));
  }
  // Malformed rows in later pieces keep their file line numbers.
  std::string text = "a,b\n";
  for (int i = 0; i < 3000; ++i) text += (i == 2500 ? std::string("1,2,3\n") : str_cat(i, ",x\n"));
  const std::string bad = write_file(d, "bad.csv", text);
  auto pb = compute_stats({bad}, {.threads = 3, .piece_bytes = 1000});
  ASSERT_TRUE(pb) << pb.error_value().to_string();
  EXPECT_EQ(pb->malformed_rows, 1);
  ASSERT_EQ(pb->problems.size(), 1u);
  EXPECT_NE(pb->problems[0].find("bad.csv:2502: wrong number of fields"), std::string::npos)
      << pb->problems[0];
  // A quoted field with newlines spanning the cut points.
  std::string quoted = "id,note\n";
  for (int i = 0; i < 400; ++i)
    quoted += str_cat(i, ",\"line one\nline two, with a comma\nline three\"\n");
  const std::string qpath = write_file(d, "quoted.csv", quoted);
  auto q1 = compute_stats({qpath}, {.threads = 1});
  auto q4 = compute_stats({qpath}, {.threads = 4, .piece_bytes = 500});
  ASSERT_TRUE(q1 && q4) << (q4 ? "" : q4.error_value().to_string());
  EXPECT_EQ(q4->rows, 400);
  EXPECT_EQ(q4->malformed_rows, 0);
  EXPECT_EQ(to_json(*q1), to_json(*q4));
}

// Writes `repeat` gzip members of `block` each, then `tail`: a huge file that stays small.
void write_gzip(const std::string& path, const std::string& head, const std::string& block,
                int repeat, const std::string& tail) {
  auto member = [](const std::string& text) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, uLong(text.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = uInt(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = uInt(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
  };
  std::ofstream f(path, std::ios::binary);
  f << member(head);
  const std::string m = member(block);
  for (int i = 0; i < repeat; ++i) f << m;
  f << member(tail);
}

TEST(Statistics, BadInputGivesClearErrorsOrReports) {
  const fs::path d = temp_dir("stats");
  auto error_of = [](const std::string& path) {
    auto s = compute_stats({path});
    EXPECT_FALSE(s) << path;
    return s ? std::string() : s.error_value().message();
  };
  // Empty.
  std::string m = error_of(write_file(d, "empty.csv", ""));
  EXPECT_NE(m.find("empty.csv: no header: the file is empty"), std::string::npos) << m;
  // Binary garbage.
  std::string junk = "\x89PNG\r\n\x1a\n";
  for (int i = 0; i < 4096; ++i) junk.push_back(char((i * 7919) % 256));
  m = error_of(write_file(d, "junk.csv", junk));
  EXPECT_NE(m.find("junk.csv:"), std::string::npos) << m;
  EXPECT_NE(m.find("binary garbage"), std::string::npos) << m;
  // Header only: zero rows, every column present and empty.
  auto h = compute_stats({write_file(d, "header.csv", "a,b,c\n")});
  ASSERT_TRUE(h) << h.error_value().to_string();
  EXPECT_EQ(h->rows, 0);
  ASSERT_EQ(h->columns.size(), 3u);
  EXPECT_EQ(h->columns[1].count, 0);
  auto hj = stats_from_json(to_json(*h));
  ASSERT_TRUE(hj) << hj.error_value().to_string();
  EXPECT_NE(to_text(*h).find("rows: 0"), std::string::npos);
  // Ragged rows: counted, reported with file:line, the good rows kept.
  auto r = compute_stats({write_file(d, "ragged.csv", "a,b\n1,2\n3\n4,5,6\n\n7,8\n\"x,9\n")});
  ASSERT_TRUE(r) << r.error_value().to_string();
  EXPECT_EQ(r->rows, 2);
  EXPECT_EQ(r->malformed_rows, 3);
  ASSERT_EQ(r->problems.size(), 3u);
  EXPECT_NE(r->problems[0].find("ragged.csv:3: wrong number of fields: expected 2, got 1"),
            std::string::npos) << r->problems[0];
  EXPECT_NE(r->problems[1].find("ragged.csv:4: wrong number of fields: expected 2, got 3"),
            std::string::npos) << r->problems[1];
  EXPECT_NE(r->problems[2].find("ragged.csv:7: unterminated quoted field"), std::string::npos)
      << r->problems[2];
  EXPECT_DOUBLE_EQ(r->columns[0].mean, 4.0);

  // A 2 GiB line (gzip: 2 MiB on disk): a clear error naming the file, the line and the
  // limit: the reader stops at max_line_bytes instead of buffering the line (no timing
  // check here; speed belongs to bench/).
  const std::string block(1 << 20, 'a');
  const std::string huge = (d / "huge.csv.gz").string();
  write_gzip(huge, "id,text\n1,", block, 2048, "\n2,b\n");
  EXPECT_LT(fs::file_size(huge), 8u << 20);
  m = error_of(huge);
  EXPECT_NE(m.find("huge.csv.gz:2: record longer than max_line_bytes (67108864"),
            std::string::npos) << m;
  const std::string huge_header = (d / "huge_header.csv.gz").string();
  write_gzip(huge_header, "", block, 2048, "\n");
  m = error_of(huge_header);
  EXPECT_NE(m.find("huge_header.csv.gz:1: the header is longer than max_line_bytes"),
            std::string::npos) << m;
}

}  // namespace
}  // namespace troupe::pipeline
