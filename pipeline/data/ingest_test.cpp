#include "pipeline/data/ingest.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::data_path;
using testing::read_bytes;
using testing::temp_dir;
using testing::write_file;

using row = std::vector<std::string>;

// The good rows of CSV files, as the reader gives them.
std::vector<row> csv_rows(const std::vector<std::string>& paths) {
  std::vector<row> out;
  for (const auto& p : paths) {
    auto r = csv_reader::open(p);
    EXPECT_TRUE(r);
    std::vector<std::string_view> f;
    int64_t line;
    while (*(*r)->next(f, line)) out.emplace_back(f.begin(), f.end());
  }
  return out;
}

// The text a shard value compares as: ints and strings as written, floats via their value.
std::string canonical(column_type t, std::string_view text) {
  if (text.empty() || t != column_type::floating) return std::string(text);
  double v = 0;
  EXPECT_TRUE(parse_double(text, v)) << text;
  return std::isnan(v) ? "nan" : str_cat(v);
}

// The rows of the shards of one split directory, in file order, as canonical text.
std::vector<row> shard_rows(const fs::path& split_dir, std::vector<record_column>* columns) {
  std::vector<row> out;
  auto files = list_record_files(split_dir.string());
  EXPECT_TRUE(files) << files.error_value().to_string();
  for (const auto& path : *files) {
    auto f = record_file::open(path);
    EXPECT_TRUE(f) << f.error_value().to_string();
    if (columns) *columns = (*f)->columns();
    for (int64_t bi = 0; bi < (*f)->num_batches(); ++bi) {
      auto b = (*f)->batch(bi);
      EXPECT_TRUE(b);
      for (int64_t r = 0; r < b->num_rows(); ++r) {
        row x;
        for (size_t c = 0; c < b->num_columns(); ++c) {
          if (b->is_null(c, r)) {
            x.emplace_back();
            continue;
          }
          switch (b->type(c)) {
            case column_type::integer:
              x.push_back(str_cat(b->int64s(c)[size_t(r)]));
              break;
            case column_type::floating: {
              const double v = b->float64s(c)[size_t(r)];
              x.push_back(std::isnan(v) ? "nan" : str_cat(v));
              break;
            }
            case column_type::string:
              x.emplace_back(b->string_at(c, r));
              break;
          }
        }
        out.push_back(std::move(x));
      }
    }
  }
  return out;
}

// Ingests `inputs` and checks each split's shards hold exactly the CSV rows that hash to
// it, in input order.
ingest_result ingest_and_compare(const std::vector<std::string>& inputs, const fs::path& out,
                                 ingest_options o = {}) {
  o.inputs = inputs;
  o.out_dir = out.string();
  auto r = ingest_csv(o);
  EXPECT_TRUE(r) << r.error_value().to_string();
  if (!r) return {};
  const auto rows = csv_rows(inputs);
  std::vector<std::vector<row>> want(o.splits.size());
  for (const auto& x : rows) {
    std::vector<std::string_view> f(x.begin(), x.end());
    row c;
    for (size_t i = 0; i < x.size(); ++i) c.push_back(canonical(r->columns[i].type, x[i]));
    want[split_of_row(f, o.splits)].push_back(std::move(c));
  }
  int64_t total = 0;
  for (size_t s = 0; s < o.splits.size(); ++s) {
    std::vector<record_column> cols;
    const auto got = shard_rows(fs::path(r->span_dir) / ("Split-" + o.splits[s].name), &cols);
    EXPECT_EQ(cols, r->columns);
    EXPECT_EQ(int64_t(got.size()), r->split_rows[s]);
    EXPECT_TRUE(got == want[s]) << "split " << o.splits[s].name << " differs from the CSV";
    total += int64_t(got.size());
  }
  EXPECT_EQ(total, int64_t(rows.size()));
  EXPECT_EQ(r->rows, int64_t(rows.size()));
  return *r;
}

TEST(Ingest, LettersRoundTrip) {
  const fs::path d = temp_dir("ingest");
  auto r = ingest_and_compare({data_path("letter_recognition.csv")}, d / "out");
  EXPECT_EQ(r.span, 0);
  EXPECT_EQ(r.rows, 20000);
  ASSERT_EQ(r.columns.size(), 17u);
  EXPECT_EQ(r.columns[0].type, column_type::string);
  for (size_t c = 1; c < 17; ++c) EXPECT_EQ(r.columns[c].type, column_type::integer);
  EXPECT_TRUE(fs::exists(d / "out" / "Span-0" / "manifest.json"));
  EXPECT_TRUE(fs::exists(d / "out" / "Span-0" / "Split-train" / "data-00000-of-00001.trec"));
  EXPECT_TRUE(fs::exists(d / "out" / "Span-0" / "Split-eval" / "data-00000-of-00001.trec"));
}

TEST(Ingest, CreditScoringKeepsMissingValuesAsNulls) {
  const fs::path d = temp_dir("ingest");
  ingest_options o;
  o.rows_per_batch = 100;
  auto r = ingest_and_compare({data_path("credit_scoring.csv")}, d / "out", o);
  EXPECT_EQ(r.rows, 4454);
  int64_t nulls = 0;
  auto files = list_record_files(r.span_dir);
  ASSERT_TRUE(files);
  for (const auto& p : *files) {
    auto f = record_file::open(p);
    ASSERT_TRUE(f);
    for (int64_t bi = 0; bi < (*f)->num_batches(); ++bi) {
      auto b = (*f)->batch(bi);
      ASSERT_TRUE(b);
      for (size_t c = 0; c < b->num_columns(); ++c)
        for (int64_t i = 0; i < b->num_rows(); ++i) nulls += b->is_null(c, i);
    }
  }
  EXPECT_EQ(nulls, 455);  // data/README.md: 455 empty cells
}

TEST(Ingest, QuotedFieldsAndEmptyStrings) {
  const fs::path d = temp_dir("ingest");
  const std::string csv = write_file(d, "q.csv",
                                     "id,text,score\n"
                                     "1,\"a, b\",1.50\n"
                                     "2,\"line one\nline two\",2\n"
                                     "3,\"say \"\"hi\"\"\",\n"
                                     "4,,3.25\n"
                                     "5,\"\",-0\n"
                                     "6,plain,1e3\n");
  auto r = ingest_and_compare({csv}, d / "out");
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_EQ(r.columns[0].type, column_type::integer);
  EXPECT_EQ(r.columns[1].type, column_type::string);
  EXPECT_EQ(r.columns[2].type, column_type::floating);
  // An empty field, quoted or not, is null (missing) in every column type.
  std::map<std::string, row> by_id;
  for (const char* split : {"Split-train", "Split-eval"})
    for (auto& x : shard_rows(fs::path(r.span_dir) / split, nullptr)) by_id[x[0]] = x;
  ASSERT_EQ(by_id.size(), 6u);
  EXPECT_EQ(by_id["1"][1], "a, b");
  EXPECT_EQ(by_id["2"][1], "line one\nline two");
  EXPECT_EQ(by_id["3"][1], "say \"hi\"");
  EXPECT_EQ(by_id["3"][2], "");
  EXPECT_EQ(by_id["4"][1], "");
  EXPECT_EQ(by_id["5"][1], "");
}

TEST(Ingest, TypesAreDecidedOverTheWholeInput) {
  const fs::path d = temp_dir("ingest");
  std::string text = "a,b,c\n";
  for (int i = 0; i < 5000; ++i) text += str_cat(i, ",", i, ",", i, "\n");
  text += "1,2.5,x\n";  // the last row narrows b to float and c to string
  const std::string csv = write_file(d, "t.csv", text);
  ingest_options o;
  o.rows_per_batch = 64;
  auto r = ingest_and_compare({csv}, d / "out", o);
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_EQ(r.columns[0].type, column_type::integer);
  EXPECT_EQ(r.columns[1].type, column_type::floating);
  EXPECT_EQ(r.columns[2].type, column_type::string);
}

TEST(Ingest, GzipAndSeveralFilesAndShards) {
  const fs::path d = temp_dir("ingest");
  const std::string plain = data_path("letter_recognition.csv");
  const std::string gz = (d / "copy.csv.gz").string();
  {
    const std::string bytes = read_bytes(plain);
    gzFile g = gzopen(gz.c_str(), "wb");
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(gzwrite(g, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(g);
  }
  ingest_options o;
  o.rows_per_shard = 10000;
  o.splits = {{"train", 8}, {"eval", 2}};
  auto r = ingest_and_compare({plain, gz}, d / "out", o);
  EXPECT_EQ(r.rows, 40000);
  // 40000 rows, ~32000 train: 4 shards of at most 10000; ~8000 eval: 1 shard.
  const fs::path train = fs::path(r.span_dir) / "Split-train";
  EXPECT_TRUE(fs::exists(train / "data-00000-of-00004.trec"));
  EXPECT_TRUE(fs::exists(train / "data-00003-of-00004.trec"));
  EXPECT_TRUE(fs::exists(fs::path(r.span_dir) / "Split-eval" / "data-00000-of-00001.trec"));
}

TEST(Ingest, SplitProportionsAndStability) {
  const fs::path d = temp_dir("ingest");
  const std::string letters = data_path("letter_recognition.csv");
  ingest_options o;
  o.inputs = {letters};
  o.out_dir = (d / "out").string();
  auto a = ingest_csv(o);
  ASSERT_TRUE(a) << a.error_value().to_string();
  auto b = ingest_csv(o);  // the next free span
  ASSERT_TRUE(b) << b.error_value().to_string();
  EXPECT_EQ(a->span, 0);
  EXPECT_EQ(b->span, 1);
  EXPECT_EQ(a->split_rows, b->split_rows);
  const double train = double(a->split_rows[0]) / double(a->rows);
  EXPECT_NEAR(train, 2.0 / 3.0, 0.02);
  for (const auto& f : a->files)  // the same bytes, split for split
    EXPECT_EQ(read_bytes(a->span_dir + "/" + f), read_bytes(b->span_dir + "/" + f)) << f;
  o.splits = {{"train", 8}, {"eval", 2}};
  auto c = ingest_csv(o);
  ASSERT_TRUE(c);
  EXPECT_NEAR(double(c->split_rows[0]) / double(c->rows), 0.8, 0.02);
  EXPECT_NEAR(double(c->split_rows[1]) / double(c->rows), 0.2, 0.02);
}

TEST(Ingest, SpansAreNeverOverwritten) {
  const fs::path d = temp_dir("ingest");
  const std::string csv = write_file(d, "s.csv", "a,b\n1,x\n2,y\n");
  ingest_options o;
  o.inputs = {csv};
  o.out_dir = (d / "out").string();
  o.span = 7;
  auto a = ingest_csv(o);
  ASSERT_TRUE(a) << a.error_value().to_string();
  const std::string manifest = read_bytes(a->span_dir + "/manifest.json");
  write_file(d, "s.csv", "a,b\n3,z\n");
  auto again = ingest_csv(o);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error_value().code(), errc::already_exists);
  EXPECT_NE(again.error_value().message().find("Span-7 already exists"), std::string::npos);
  EXPECT_EQ(read_bytes(a->span_dir + "/manifest.json"), manifest);
  o.span = -1;
  auto next = ingest_csv(o);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->span, 8);
  for (const auto& e : fs::directory_iterator(d / "out"))
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp")) << e.path();
}

TEST(Ingest, ErrorBudget) {
  const fs::path d = temp_dir("ingest");
  const std::string csv = write_file(
      d, "bad.csv", "a,b\n1,2\n3\n4,5\n\"x\"y,6\n7,8\n9,10\n11,12\n13,14\n15,16\n17,18\n");
  ingest_options o;
  o.inputs = {csv};
  o.out_dir = (d / "out").string();
  auto r = ingest_csv(o);  // budget 0: 2 malformed of 10 fails
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error_value().code(), errc::failed_precondition);
  const std::string m = r.error_value().message();
  EXPECT_NE(m.find("2 malformed rows of 10"), std::string::npos) << m;
  EXPECT_NE(m.find("--max-error-fraction 0"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.csv:3: wrong number of fields"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.csv:5: bad quoting"), std::string::npos) << m;
  EXPECT_TRUE(fs::is_empty(d / "out")) << "a failed ingest left files";
  o.max_error_fraction = 0.1;  // 2/10 > 0.1
  EXPECT_FALSE(ingest_csv(o));
  o.max_error_fraction = 0.2;  // 2/10 is within
  auto ok = ingest_csv(o);
  ASSERT_TRUE(ok) << ok.error_value().to_string();
  EXPECT_EQ(ok->rows, 8);
  EXPECT_EQ(ok->malformed_rows, 2);
  ASSERT_EQ(ok->problems.size(), 2u);
  EXPECT_EQ(ok->problems[0].line, 3);
  const std::string manifest = read_bytes(ok->span_dir + "/manifest.json");
  EXPECT_NE(manifest.find("\"malformed_rows\": 2"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"line\": 5"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"columns\""), std::string::npos);
}

TEST(Ingest, BadInputsAndOptions) {
  const fs::path d = temp_dir("ingest");
  ingest_options o;
  o.out_dir = (d / "out").string();
  EXPECT_FALSE(ingest_csv(o));  // no inputs
  o.inputs = {(d / "none.csv").string()};
  auto r = ingest_csv(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error_value().message().find("none.csv"), std::string::npos);
  o.inputs = {write_file(d, "a.csv", "a,b\n1,2\n"), write_file(d, "b.csv", "a,c\n1,2\n")};
  r = ingest_csv(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error_value().message().find("b.csv: header differs"), std::string::npos);
  o.inputs = {write_file(d, "bin.csv", std::string("a,b\n1,\0\n", 8))};
  EXPECT_FALSE(ingest_csv(o));
  o.inputs = {write_file(d, "header.csv", "a,b\n")};  // a header only: empty shards
  auto h = ingest_csv(o);
  ASSERT_TRUE(h) << h.error_value().to_string();
  EXPECT_EQ(h->rows, 0);
  auto f = record_file::open(h->span_dir + "/Split-train/data-00000-of-00001.trec");
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->num_rows(), 0);

  EXPECT_TRUE(parse_splits("train=8,eval=2"));
  EXPECT_FALSE(parse_splits("train=0"));
  EXPECT_FALSE(parse_splits("train"));
  EXPECT_FALSE(parse_splits("a=1,a=2"));
  EXPECT_FALSE(parse_splits("a/b=1"));
  EXPECT_FALSE(parse_splits(""));
}

}  // namespace
}  // namespace troupe::pipeline
