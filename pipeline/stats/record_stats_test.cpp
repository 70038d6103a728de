#include "pipeline/stats/record_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/data/ingest.hpp"
#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::data_path;
using testing::temp_dir;
using testing::write_file;

// Ingests `csv` into one split ("all") and returns the span directory.
std::string ingest_one(const std::string& csv, const fs::path& out, int64_t rows_per_batch) {
  ingest_options o;
  o.inputs = {csv};
  o.out_dir = out.string();
  o.splits = {{"all", 1}};
  o.rows_per_batch = rows_per_batch;
  auto r = ingest_csv(o);
  EXPECT_TRUE(r) << r.error_value().to_string();
  return r ? r->span_dir : std::string();
}

// The present numeric values of column `c` of a CSV, sorted (exact reference).
std::vector<double> sorted_values(const std::string& csv, size_t c) {
  std::vector<double> v;
  auto r = csv_reader::open(csv);
  std::vector<std::string_view> f;
  int64_t line;
  while (*(*r)->next(f, line)) {
    double x;
    if (!f[c].empty() && parse_double(f[c], x) && !std::isnan(x)) v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// Exact fields equal; moments equal up to rounding (the merge order differs); the text
// sketches equal; quantiles within the sketch's stated rank error.
void expect_same_stats(const dataset_stats& csv, const dataset_stats& rec,
                       const std::string& csv_path) {
  EXPECT_EQ(rec.rows, csv.rows);
  ASSERT_EQ(rec.columns.size(), csv.columns.size());
  for (size_t i = 0; i < csv.columns.size(); ++i) {
    const column_stats& a = csv.columns[i];
    const column_stats& b = rec.columns[i];
    SCOPED_TRACE(a.name);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.count, a.count);
    EXPECT_EQ(b.missing, a.missing);
    EXPECT_EQ(b.numeric_count, a.numeric_count);
    EXPECT_EQ(b.finite_count, a.finite_count);
    EXPECT_EQ(b.zeros, a.zeros);
    EXPECT_EQ(b.nan_count, a.nan_count);
    EXPECT_EQ(b.min, a.min);
    EXPECT_EQ(b.max, a.max);
    EXPECT_NEAR(b.mean, a.mean, 1e-9 * std::max(1.0, std::abs(a.mean)));
    EXPECT_NEAR(b.stddev(), a.stddev(), 1e-9 * std::max(1.0, a.stddev()));
    // Numbers reach the text sketches as their canonical text on both paths.
    EXPECT_EQ(b.length_min, a.length_min);
    EXPECT_EQ(b.length_max, a.length_max);
    EXPECT_EQ(b.length_sum, a.length_sum);
    EXPECT_EQ(b.distinct.estimate(), a.distinct.estimate());
    EXPECT_EQ(b.top_values.top(10), a.top_values.top(10));
    if (!a.is_numeric() || a.numeric_count == 0) continue;
    const std::vector<double> exact = sorted_values(csv_path, i);
    const double eps = b.quantiles.rank_error() + 1e-9;
    for (double q : {0.01, 0.25, 0.5, 0.75, 0.99}) {
      const double v = b.quantiles.quantile(q);
      const double lo = double(std::lower_bound(exact.begin(), exact.end(), v) - exact.begin()) /
                        double(exact.size());
      const double hi = double(std::upper_bound(exact.begin(), exact.end(), v) - exact.begin()) /
                        double(exact.size());
      EXPECT_GE(q, lo - eps) << "q " << q << " value " << v;
      EXPECT_LE(q, hi + eps) << "q " << q << " value " << v;
    }
  }
}

TEST(RecordStats, EqualsCsvStatsOnTheBundledData) {
  const fs::path d = temp_dir("record_stats");
  for (const char* name : {"letter_recognition.csv", "credit_scoring.csv"}) {
    SCOPED_TRACE(name);
    const std::string csv = data_path(name);
    const std::string span = ingest_one(csv, d / name, 64);  // several work units
    stats_options o;
    o.threads = 2;
    auto a = compute_stats({csv}, o);
    ASSERT_TRUE(a) << a.error_value().to_string();
    auto b = compute_record_stats({span}, o);
    ASSERT_TRUE(b) << b.error_value().to_string();
    expect_same_stats(*a, *b, csv);
  }
}

TEST(RecordStats, FloatsCompareByValue) {
  const fs::path d = temp_dir("record_stats");
  std::string text = "x,y\n";
  for (int i = 0; i < 3000; ++i)
    text += str_cat(i % 10 == 0 ? std::string() : str_cat(i % 97, ".50"), ",",
                    i % 13 == 0 ? "nan" : str_cat(i * 0.25 - 100), "\n");
  text += "0,-inf\n";
  const std::string csv = write_file(d, "f.csv", text);
  const std::string span = ingest_one(csv, d / "out", 256);
  auto a = compute_stats({csv});
  auto b = compute_record_stats({span});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->columns[0].type, column_type::floating);
  expect_same_stats(*a, *b, csv);
  // "1.50" is the double 1.5 on both paths: the text sketches see "1.5".
  EXPECT_EQ(b->columns[0].length_max, 4);
}

TEST(RecordStats, SlicesAndThreadsAndSplits) {
  const fs::path d = temp_dir("record_stats");
  const std::string csv = data_path("letter_recognition.csv");
  const std::string span = ingest_one(csv, d / "out", 64);  // 5 work units
  stats_options o;
  o.slice_column = "lettr";
  o.threads = 1;
  auto one = compute_record_stats({span}, o);
  ASSERT_TRUE(one) << one.error_value().to_string();
  o.threads = 4;
  auto four = compute_record_stats({span}, o);
  ASSERT_TRUE(four);
  EXPECT_EQ(to_json(*one), to_json(*four));
  auto from_csv = compute_stats({csv}, o);
  ASSERT_TRUE(from_csv);
  ASSERT_EQ(one->slices.size(), 26u);
  ASSERT_EQ(from_csv->slices.size(), 26u);
  for (const auto& [value, s] : from_csv->slices) {
    auto it = one->slices.find(value);
    ASSERT_NE(it, one->slices.end()) << value;
    EXPECT_EQ(it->second.rows, s.rows) << value;
    EXPECT_EQ(it->second.columns[1].max, s.columns[1].max) << value;
  }
  // Two splits together: the same exact fields as the one split.
  ingest_options io;
  io.inputs = {csv};
  io.out_dir = (d / "split").string();
  auto r = ingest_csv(io);
  ASSERT_TRUE(r);
  auto both = compute_record_stats({r->span_dir});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->rows, 20000);
  EXPECT_EQ(both->columns[3].numeric_count, from_csv->columns[3].numeric_count);
  auto train = compute_record_stats({r->span_dir + "/Split-train"});
  ASSERT_TRUE(train);
  EXPECT_EQ(train->rows, r->split_rows[0]);
  stats_options bad;
  bad.slice_column = "nope";
  EXPECT_FALSE(compute_record_stats({span}, bad));
}

TEST(RecordStats, CorruptShardIsAnErrorNamingFileAndBatch) {
  const fs::path d = temp_dir("record_stats");
  const std::string span = ingest_one(data_path("credit_scoring.csv"), d / "out", 500);
  const std::string shard = span + "/Split-all/data-00000-of-00001.trec";
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  const auto mid = std::streamoff(fs::file_size(shard) / 2);
  f.seekg(mid);
  const char c = char(f.get());
  f.seekp(mid);
  f.put(char(c ^ 0x5a));
  f.close();
  auto s = compute_record_stats({span});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error_value().code(), errc::data_loss);
  EXPECT_NE(s.error_value().message().find("data-00000-of-00001.trec: batch "), std::string::npos)
      << s.error_value().message();
  EXPECT_TRUE(is_record_path(span));
  EXPECT_TRUE(is_record_path(shard));
  EXPECT_FALSE(is_record_path(data_path("credit_scoring.csv")));
}

}  // namespace
}  // namespace troupe::pipeline
