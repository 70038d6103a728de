#include "pipeline/data/records.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::temp_dir;
using testing::write_bytes;

const std::vector<record_column> k_columns = {
    {"id", column_type::integer}, {"x", column_type::floating}, {"name", column_type::string}};

// Rows as text; "" is null.
std::vector<std::vector<std::string>> sample_rows(int n) {
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < n; ++i) {
    std::string name =
        i % 7 == 0 ? "" : str_cat("name ", i, i % 3 == 0 ? ", with \"quotes\"\nand a newline" : "");
    std::string x = i % 5 == 0 ? "" : str_cat(i, ".25");
    if (i == 3) x = "nan";
    if (i == 4) x = "-inf";
    std::string id = i % 11 == 0 ? "" : str_cat(i * 1000003 - 7);
    if (i == 1) id = "-9223372036854775808";
    rows.push_back({id, x, name});
  }
  return rows;
}

std::string write_sample(const fs::path& dir, int n, int64_t rows_per_batch) {
  const std::string path = (dir / "a.trec").string();
  auto w = record_writer::create(path, k_columns, rows_per_batch);
  EXPECT_TRUE(w) << w.error_value().to_string();
  for (const auto& row : sample_rows(n)) {
    std::vector<std::string_view> f(row.begin(), row.end());
    EXPECT_FALSE((*w)->add_row(f));
  }
  EXPECT_FALSE((*w)->finish());
  return path;
}

// Every row of the file back as text (numbers printed as their values compare).
void expect_rows_equal(const record_file& f, const std::vector<std::vector<std::string>>& rows) {
  ASSERT_EQ(f.num_rows(), int64_t(rows.size()));
  int64_t r = 0;
  for (int64_t bi = 0; bi < f.num_batches(); ++bi) {
    auto b = f.batch(bi);
    ASSERT_TRUE(b) << b.error_value().to_string();
    EXPECT_EQ(b->first_row(), r);
    for (int64_t i = 0; i < b->num_rows(); ++i, ++r) {
      const auto& want = rows[size_t(r)];
      for (size_t c = 0; c < want.size(); ++c) {
        SCOPED_TRACE(str_cat("row ", r, " column ", c));
        EXPECT_EQ(b->is_null(c, i), want[c].empty());
        if (want[c].empty()) continue;
        switch (f.columns()[c].type) {
          case column_type::integer: {
            int64_t v = 0;
            ASSERT_TRUE(parse_int64(want[c], v));
            EXPECT_EQ(b->int64s(c)[size_t(i)], v);
            break;
          }
          case column_type::floating: {
            double v = 0;
            ASSERT_TRUE(parse_double(want[c], v));
            const double got = b->float64s(c)[size_t(i)];
            if (std::isnan(v))
              EXPECT_TRUE(std::isnan(got));
            else
              EXPECT_EQ(got, v);
            break;
          }
          case column_type::string:
            EXPECT_EQ(b->string_at(c, i), want[c]);
            break;
        }
      }
    }
  }
  EXPECT_EQ(r, int64_t(rows.size()));
}

TEST(Records, RoundTripManyBatches) {
  const fs::path d = temp_dir("records");
  for (int64_t per_batch : {int64_t(1), int64_t(3), int64_t(8), int64_t(4096)}) {
    const std::string path = write_sample(d, 100, per_batch);
    auto f = record_file::open(path);
    ASSERT_TRUE(f) << f.error_value().to_string();
    EXPECT_EQ((*f)->columns(), k_columns);
    EXPECT_EQ((*f)->rows_per_batch(), per_batch);
    EXPECT_EQ((*f)->num_batches(), (100 + per_batch - 1) / per_batch);
    expect_rows_equal(**f, sample_rows(100));
  }
}

TEST(Records, EmptyFileHasNoBatches) {
  const fs::path d = temp_dir("records");
  const std::string path = write_sample(d, 0, 16);
  auto f = record_file::open(path);
  ASSERT_TRUE(f) << f.error_value().to_string();
  EXPECT_EQ((*f)->num_rows(), 0);
  EXPECT_EQ((*f)->num_batches(), 0);
}

TEST(Records, DecodesZeroCopyFromTheMapping) {
  const fs::path d = temp_dir("records");
  auto f = record_file::open(write_sample(d, 50, 16));
  ASSERT_TRUE(f);
  const auto mapped = (*f)->mapped();
  const char* lo = reinterpret_cast<const char*>(mapped.data());
  const char* hi = lo + mapped.size();
  auto b = (*f)->batch(1);
  ASSERT_TRUE(b);
  const std::string_view s = b->string_at(2, 1);  // row 17: "name 17"
  EXPECT_EQ(s, "name 17");
  EXPECT_GE(s.data(), lo);
  EXPECT_LE(s.data() + s.size(), hi);
  const auto ints = b->int64s(0);
  EXPECT_GE(reinterpret_cast<const char*>(ints.data()), lo);
  EXPECT_LE(reinterpret_cast<const char*>(ints.data() + ints.size()), hi);
  // The batch keeps the mapping alive after the file object is gone.
  f->reset();
  EXPECT_EQ(b->string_at(2, 1), "name 17");
}

TEST(Records, ValueThatDoesNotFitIsRejectedWhole) {
  const fs::path d = temp_dir("records");
  const std::string path = (d / "b.trec").string();
  auto w = record_writer::create(path, k_columns, 4);
  ASSERT_TRUE(w);
  std::vector<std::string_view> bad_int = {"12x", "1.5", "a"};
  error e = (*w)->add_row(bad_int);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), errc::invalid_argument);
  EXPECT_NE(e.message().find("column 'id' (int): '12x' is not a 64-bit integer"), std::string::npos)
      << e.message();
  std::vector<std::string_view> bad_float = {"1", "abc", "a"};
  EXPECT_TRUE((*w)->add_row(bad_float));
  std::vector<std::string_view> overflow = {"9223372036854775808", "", ""};
  EXPECT_TRUE((*w)->add_row(overflow));
  std::vector<std::string_view> short_row = {"1", "2"};
  EXPECT_TRUE((*w)->add_row(short_row));
  std::vector<std::string_view> good = {"7", "", "z"};
  EXPECT_FALSE((*w)->add_row(good));
  EXPECT_FALSE((*w)->finish());
  auto f = record_file::open(path);
  ASSERT_TRUE(f);
  expect_rows_equal(**f, {{"7", "", "z"}});
}

TEST(Records, ForeignAndMissingFilesAreClearErrors) {
  const fs::path d = temp_dir("records");
  const std::string csv = (d / "x.csv").string();
  write_bytes(csv, "a,b\n1,2\n");
  auto f = record_file::open(csv);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error_value().code(), errc::data_loss);
  EXPECT_NE(f.error_value().message().find("x.csv: not a record shard"), std::string::npos);
  EXPECT_FALSE(is_record_file(csv));
  auto g = record_file::open((d / "none.trec").string());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error_value().code(), errc::not_found);
  const std::string empty = (d / "empty.trec").string();
  write_bytes(empty, "");
  EXPECT_FALSE(record_file::open(empty));
}

TEST(Records, EveryTruncationIsAnError) {
  const fs::path d = temp_dir("records");
  const std::string path = write_sample(d, 40, 8);
  const std::string bytes = read_bytes(path);
  ASSERT_TRUE(is_record_file(path));
  const std::string cut = (d / "cut.trec").string();
  for (size_t n = 0; n < bytes.size(); n += (n < 64 ? 1 : 29)) {
    write_bytes(cut, bytes.substr(0, n));
    auto f = record_file::open(cut);
    ASSERT_FALSE(f) << "a file cut to " << n << " of " << bytes.size() << " bytes was accepted";
    EXPECT_NE(f.error_value().message().find("cut.trec"), std::string::npos);
  }
  write_bytes(cut, bytes.substr(0, bytes.size() - 8));
  auto f = record_file::open(cut);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error_value().message().find("truncated"), std::string::npos)
      << f.error_value().message();
}

// Frame k (0 = schema): offset of its header.
size_t frame_offset(const std::string& bytes, int k) {
  size_t pos = 16;
  for (int i = 0; i < k; ++i) {
    uint64_t size;
    std::memcpy(&size, bytes.data() + pos + 8, 8);
    pos += 16 + size;
  }
  return pos;
}

TEST(Records, CorruptBatchIsDetectedByItsChecksum) {
  const fs::path d = temp_dir("records");
  const std::string path = write_sample(d, 40, 8);
  std::string bytes = read_bytes(path);
  const size_t at = frame_offset(bytes, 3);  // batch 2
  bytes[at + 16 + 40] ^= 0x20;
  const std::string bad = (d / "bad.trec").string();
  write_bytes(bad, bytes);
  auto f = record_file::open(bad);
  ASSERT_TRUE(f) << "the frame headers are intact";
  EXPECT_TRUE((*f)->batch(1));
  auto b = (*f)->batch(2);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error_value().code(), errc::data_loss);
  EXPECT_NE(b.error_value().message().find(
                str_cat("bad.trec: batch 2 (at byte ", at, "): checksum mismatch")),
            std::string::npos)
      << b.error_value().message();
}

// Flips bytes inside messages and fixes the CRC, so the decoder itself meets the damage: it
// must return a result or an error, never crash or read outside the file.
TEST(Records, DamagedMessagesWithValidChecksumsNeverCrash) {
  const fs::path d = temp_dir("records");
  const std::string path = write_sample(d, 24, 8);
  const std::string good = read_bytes(path);
  const std::string bad = (d / "bad.trec").string();
  int errors = 0;
  for (int frame = 0; frame < 5; ++frame) {  // schema, 3 batches, footer
    const size_t at = frame_offset(good, frame);
    uint64_t size;
    std::memcpy(&size, good.data() + at + 8, 8);
    for (size_t i = 0; i < size; i += 7) {
      std::string bytes = good;
      bytes[at + 16 + i] = char(bytes[at + 16 + i] ^ (i % 2 ? 0xff : 0x41));
      const uint32_t crc =
          uint32_t(crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data() + at + 16), size));
      std::memcpy(bytes.data() + at + 4, &crc, 4);
      write_bytes(bad, bytes);
      auto f = record_file::open(bad);
      if (!f) {
        ++errors;
        continue;
      }
      for (int64_t b = 0; b < (*f)->num_batches(); ++b) {
        auto batch = (*f)->batch(b);
        if (!batch) {
          ++errors;
          EXPECT_NE(batch.error_value().message().find(str_cat("batch ", b)), std::string::npos);
          continue;
        }
        // Touch every value: the decoder's checks must make these reads safe.
        for (size_t c = 0; c < batch->num_columns(); ++c)
          for (int64_t r = 0; r < batch->num_rows(); ++r) {
            if (batch->type(c) == column_type::string) (void)batch->string_at(c, r).size();
            (void)batch->is_null(c, r);
          }
      }
    }
  }
  EXPECT_GT(errors, 20);
}

TEST(Records, ListsShardFilesUnderADirectory) {
  const fs::path d = temp_dir("records");
  fs::create_directories(d / "Split-b");
  fs::create_directories(d / "Split-a");
  fs::create_directories(d / ".tmp-x");
  for (const char* p : {"Split-b/data-00000-of-00001.trec", "Split-a/data-00000-of-00001.trec",
                        ".tmp-x/data-00000-of-00001.trec"})
    write_bytes((d / p).string(), "x");
  write_bytes((d / "manifest.json").string(), "{}");
  auto files = list_record_files(d.string());
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0], (d / "Split-a/data-00000-of-00001.trec").string());
  EXPECT_FALSE(list_record_files((d / "nope").string()));
  fs::create_directories(d / "empty");
  EXPECT_FALSE(list_record_files((d / "empty").string()));
}

}  // namespace
}  // namespace troupe::pipeline
