#include "pipeline/data/csv.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;

class csv_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("troupe_csv_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, std::string_view bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return p;
  }
  std::string write_gz(const std::string& name, std::string_view bytes) {
    std::string p = (dir_ / name).string();
    gzFile g = gzopen(p.c_str(), "wb");
    EXPECT_NE(g, nullptr);
    EXPECT_EQ(gzwrite(g, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(g);
    return p;
  }

  fs::path dir_;
};

struct read_result {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
};

read_result read_all(csv_reader& r) {
  read_result out;
  std::vector<std::string_view> f;
  int64_t line = 0;
  for (;;) {
    auto got = r.next(f, line);
    EXPECT_TRUE(got.has_value()) << got.error_value().to_string();
    if (!got || !*got) break;
    out.rows.emplace_back(f.begin(), f.end());
    out.lines.push_back(line);
  }
  return out;
}

// Opens and reads to the end; returns the error that stopped it (or ok).
error drain(const std::string& path) {
  auto r = csv_reader::open(path);
  if (!r) return r.error_value();
  std::vector<std::string_view> f;
  int64_t line;
  for (;;) {
    auto got = (*r)->next(f, line);
    if (!got) return got.error_value();
    if (!*got) return {};
  }
}

using rows_t = std::vector<std::vector<std::string>>;

TEST_F(csv_test, quoting_embedded_comma_quote_newline) {
  auto r = csv_reader::open(write("q.csv",
                                  "a,b,c\n"
                                  "\"x,y\",\"say \"\"hi\"\"\",plain\n"
                                  "\"line1\nline2\",\"\",\"\"\"\"\n"
                                  "1,ab\"c,3\n"));
  ASSERT_TRUE(r) << r.error_value().to_string();
  EXPECT_EQ((*r)->header(), (std::vector<std::string>{"a", "b", "c"}));
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows, (rows_t{{"x,y", "say \"hi\"", "plain"},
                              {"line1\nline2", "", "\""},
                              {"1", "ab\"c", "3"}}));
  EXPECT_EQ(got.lines, (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ((*r)->rows_read(), 3);
  EXPECT_EQ((*r)->malformed_count(), 0);
}

TEST_F(csv_test, crlf_bom_and_no_final_newline) {
  auto r = csv_reader::open(write("c.csv", "\xEF\xBB\xBFid,name\r\n1,\"a\r\nb\"\r\n2,z"));
  ASSERT_TRUE(r) << r.error_value().to_string();
  EXPECT_EQ((*r)->header(), (std::vector<std::string>{"id", "name"}));
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows, (rows_t{{"1", "a\r\nb"}, {"2", "z"}}));
  EXPECT_EQ(got.lines, (std::vector<int64_t>{2, 4}));
}

TEST_F(csv_test, custom_delimiter_and_blank_lines) {
  auto r = csv_reader::open(write("t.tsv", "a\tb\n\n1\t2\r\n\r\n3\t\n"), {.delimiter = '\t'});
  ASSERT_TRUE(r);
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows, (rows_t{{"1", "2"}, {"3", ""}}));
  EXPECT_EQ(got.lines, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ((*r)->malformed_count(), 0);
}

TEST_F(csv_test, gzip_equals_plain) {
  std::string text = "k,v,s\n";
  for (int i = 0; i < 50000; ++i)
    text += std::to_string(i) + "," + std::to_string(i * 0.5) + ",\"s,\"\"" +
            std::to_string(i % 7) + "\"\n";
  auto plain = csv_reader::open(write("p.csv", text));
  auto gz = csv_reader::open(write_gz("p.csv.notgz", text));  // detected by magic bytes
  ASSERT_TRUE(plain && gz) << (gz ? "" : gz.error_value().to_string());
  EXPECT_EQ((*plain)->header(), (*gz)->header());
  read_result a = read_all(**plain), b = read_all(**gz);
  ASSERT_EQ(a.rows.size(), 50000u);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.lines, b.lines);
  EXPECT_EQ(b.rows[49999], (std::vector<std::string>{"49999", std::to_string(49999 * 0.5),
                                                     "s,\"" + std::to_string(49999 % 7)}));
}

TEST_F(csv_test, concatenated_gzip_members) {
  std::string a = write_gz("a.gz", "x,y\n1,2\n"), b = write_gz("b.gz", "3,4\n");
  std::ifstream ia(a, std::ios::binary), ib(b, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(ia), {});
  bytes.append(std::istreambuf_iterator<char>(ib), {});
  auto r = csv_reader::open(write("ab.csv.gz", bytes));
  ASSERT_TRUE(r) << r.error_value().to_string();
  EXPECT_EQ(read_all(**r).rows, (rows_t{{"1", "2"}, {"3", "4"}}));
}

TEST_F(csv_test, corrupt_gzip_is_an_error) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "a,b\n1,2\n";
  std::string p = write_gz("g.csv.gz", text);
  std::string bytes;
  {
    std::ifstream in(p, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string truncated = write("t.csv.gz", bytes.substr(0, bytes.size() / 2));
  error e = drain(truncated);
  EXPECT_EQ(e.code(), errc::data_loss);
  EXPECT_NE(e.message().find("truncated gzip"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find(truncated), std::string::npos);

  bytes[bytes.size() / 2] ^= 0x55;
  bytes[bytes.size() / 2 + 1] ^= 0x55;
  e = drain(write("c.csv.gz", bytes));
  EXPECT_EQ(e.code(), errc::data_loss) << e.to_string();
  EXPECT_NE(e.message().find("c.csv.gz"), std::string::npos);
}

TEST_F(csv_test, empty_file_has_no_header) {
  auto r = csv_reader::open(write("e.csv", ""));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error_value().message().find("no header"), std::string::npos);
  EXPECT_NE(r.error_value().message().find("e.csv"), std::string::npos);
}

TEST_F(csv_test, header_only_has_zero_rows) {
  for (const char* text : {"a,b\n", "a,b"}) {
    auto r = csv_reader::open(write("h.csv", text));
    ASSERT_TRUE(r) << r.error_value().to_string();
    EXPECT_EQ((*r)->header().size(), 2u);
    std::vector<std::string_view> f;
    int64_t line;
    auto got = (*r)->next(f, line);
    ASSERT_TRUE(got);
    EXPECT_FALSE(*got);
    EXPECT_EQ((*r)->rows_read(), 0);
  }
}

TEST_F(csv_test, bad_headers) {
  auto dup = csv_reader::open(write("d.csv", "a,b,a\n1,2,3\n"));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error_value().message().find("duplicate column name 'a'"), std::string::npos);
  auto empty = csv_reader::open(write("n.csv", "a,,c\n1,2,3\n"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error_value().message().find("column 2 has an empty name"),
            std::string::npos);
}

TEST_F(csv_test, ragged_rows_are_skipped_counted_and_reported) {
  auto r = csv_reader::open(write("r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n\"x\"y,1,2\n13,14,15\n"));
  ASSERT_TRUE(r);
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows, (rows_t{{"1", "2", "3"}, {"10", "11", "12"}, {"13", "14", "15"}}));
  EXPECT_EQ(got.lines, (std::vector<int64_t>{2, 5, 7}));
  EXPECT_EQ((*r)->malformed_count(), 3);
  const auto& p = (*r)->problems();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].line, 3);
  EXPECT_EQ(p[0].message, "wrong number of fields: expected 3, got 2");
  EXPECT_EQ(p[1].line, 4);
  EXPECT_EQ(p[1].message, "wrong number of fields: expected 3, got 4");
  EXPECT_EQ(p[2].line, 6);
  EXPECT_NE(p[2].message.find("bad quoting"), std::string::npos);
  EXPECT_EQ(p[0].file, (*r)->path());
}

TEST_F(csv_test, problems_keep_first_100_and_count_all) {
  std::string text = "a,b\n";
  for (int i = 0; i < 250; ++i) text += "1\n1,2\n";
  auto r = csv_reader::open(write("m.csv", text));
  ASSERT_TRUE(r);
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows.size(), 250u);
  EXPECT_EQ((*r)->malformed_count(), 250);
  ASSERT_EQ((*r)->problems().size(), 100u);
  EXPECT_EQ((*r)->problems()[99].line, 2 + 2 * 99);
}

TEST_F(csv_test, unterminated_quote_at_eof) {
  auto r = csv_reader::open(write("u.csv", "a,b\n1,2\n3,\"open\n4,5\n"));
  ASSERT_TRUE(r);
  read_result got = read_all(**r);
  EXPECT_EQ(got.rows, (rows_t{{"1", "2"}}));
  EXPECT_EQ((*r)->malformed_count(), 1);
  ASSERT_EQ((*r)->problems().size(), 1u);
  EXPECT_EQ((*r)->problems()[0].line, 3);
  EXPECT_NE((*r)->problems()[0].message.find("unterminated quoted field"), std::string::npos);
}

TEST_F(csv_test, nul_byte_is_binary_garbage) {
  std::string text = "a,b\n1,2\n3,4\n5,";
  text.push_back('\0');
  text += "6\n";
  auto r = csv_reader::open(write("z.csv", text));
  ASSERT_TRUE(r);
  std::vector<std::string_view> f;
  int64_t line;
  EXPECT_TRUE(*(*r)->next(f, line));
  EXPECT_TRUE(*(*r)->next(f, line));
  auto got = (*r)->next(f, line);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error_value().code(), errc::data_loss);
  const std::string& m = got.error_value().message();
  EXPECT_NE(m.find("z.csv:4: binary garbage"), std::string::npos) << m;
  EXPECT_NE(m.find("byte 3 of the line"), std::string::npos) << m;
  // The error persists.
  EXPECT_FALSE((*r)->next(f, line));
}

TEST_F(csv_test, nul_byte_in_header_and_in_quotes) {
  std::string h = "a,b";
  h.push_back('\0');
  auto r = csv_reader::open(write("zh.csv", h + "\n"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error_value().message().find("zh.csv:1: binary garbage"), std::string::npos);
  std::string q = "a\n\"x\ny";
  q.push_back('\0');
  auto r2 = csv_reader::open(write("zq.csv", q + "\"\n"));
  ASSERT_TRUE(r2);
  std::vector<std::string_view> f;
  int64_t line;
  auto got = (*r2)->next(f, line);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error_value().message().find("zq.csv:3: binary garbage"), std::string::npos)
      << got.error_value().message();
}

TEST_F(csv_test, line_longer_than_max_is_an_error_naming_the_line) {
  std::string text = "a,b\n1,2\n" + std::string(500, 'x') + ",3\n4,5\n";
  auto r = csv_reader::open(write("l.csv", text), {.max_line_bytes = 100});
  ASSERT_TRUE(r);
  std::vector<std::string_view> f;
  int64_t line;
  EXPECT_TRUE(*(*r)->next(f, line));
  auto got = (*r)->next(f, line);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error_value().message().find("l.csv:3: record longer than max_line_bytes"),
            std::string::npos)
      << got.error_value().message();
}

TEST_F(csv_test, line_longer_than_max_spanning_blocks) {
  // 3 MiB unterminated quote with a 1 MiB limit: the reader stops growing its buffer.
  std::string text = "a,b\n1,\"" + std::string(3 << 20, 'y') + "\n";
  auto r = csv_reader::open(write("big.csv", text), {.max_line_bytes = 1 << 20});
  ASSERT_TRUE(r);
  std::vector<std::string_view> f;
  int64_t line;
  auto got = (*r)->next(f, line);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error_value().message().find("big.csv:2: record longer than max_line_bytes"),
            std::string::npos)
      << got.error_value().message();
}

TEST_F(csv_test, long_records_across_block_boundaries) {
  // Records of 300 KiB cross the 1 MiB read blocks at every offset class.
  std::string text = "a,b\n";
  std::vector<std::string> expect;
  for (int i = 0; i < 12; ++i) {
    std::string big(300 * 1024 + i, char('a' + i));
    big[1000] = '"';
    expect.push_back(big);
    std::string quoted;
    for (char c : big) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    text += std::to_string(i) + ",\"" + quoted + "\"\r\n";
  }
  auto r = csv_reader::open(write("lb.csv", text));
  ASSERT_TRUE(r);
  read_result got = read_all(**r);
  ASSERT_EQ(got.rows.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(got.rows[i][0], std::to_string(i));
    EXPECT_EQ(got.rows[i][1], expect[i]) << i;
  }
}

TEST_F(csv_test, missing_file_names_the_path) {
  std::string p = (dir_ / "nope.csv").string();
  auto r = csv_reader::open(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error_value().code(), errc::not_found);
  EXPECT_NE(r.error_value().message().find(p), std::string::npos);
}

TEST(csv_parse, parse_int64_edge_cases) {
  int64_t v = 42;
  EXPECT_TRUE(parse_int64("0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_int64("-0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_int64("+17", v));
  EXPECT_EQ(v, 17);
  EXPECT_TRUE(parse_int64("9223372036854775807", v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(parse_int64("-9223372036854775808", v));
  EXPECT_EQ(v, INT64_MIN);
  v = 5;
  EXPECT_FALSE(parse_int64("9223372036854775808", v));
  EXPECT_FALSE(parse_int64("-9223372036854775809", v));
  EXPECT_EQ(v, 5);  // untouched on failure
  for (const char* bad : {"", " 1", "1 ", "1e3", "1.0", "+", "-", "+-1", "0x10", "abc", "1,2"})
    EXPECT_FALSE(parse_int64(bad, v)) << bad;
}

TEST(csv_parse, parse_double_edge_cases) {
  double d = 0;
  EXPECT_TRUE(parse_double("1e3", d));
  EXPECT_EQ(d, 1000.0);
  EXPECT_TRUE(parse_double("-0", d));
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(std::signbit(d));
  EXPECT_TRUE(parse_double("+2.5", d));
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(parse_double(".5", d));
  EXPECT_EQ(d, 0.5);
  EXPECT_TRUE(parse_double("5.", d));
  EXPECT_EQ(d, 5.0);
  EXPECT_TRUE(parse_double("nan", d));
  EXPECT_TRUE(std::isnan(d));
  EXPECT_TRUE(parse_double("NaN", d));
  EXPECT_TRUE(std::isnan(d));
  EXPECT_TRUE(parse_double("inf", d));
  EXPECT_EQ(d, INFINITY);
  EXPECT_TRUE(parse_double("-Infinity", d));
  EXPECT_EQ(d, -INFINITY);
  EXPECT_TRUE(parse_double("1e999", d));  // overflow: +inf, as strtod
  EXPECT_EQ(d, INFINITY);
  EXPECT_TRUE(parse_double("-1e999", d));
  EXPECT_EQ(d, -INFINITY);
  EXPECT_TRUE(parse_double("1e-999", d));  // underflow
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(parse_double("12345678901234567890", d));
  EXPECT_EQ(d, 12345678901234567890.0);
  for (const char* bad : {"", " 1", "1 ", "1e", "e3", "abc", "+-1", "0x1p3", "1.2.3", "true",
                          "--1", "+"})
    EXPECT_FALSE(parse_double(bad, d)) << bad;
}

TEST(csv_parse, refine_type_cases) {
  using ct = column_type;
  EXPECT_EQ(refine_type(ct::integer, "12"), ct::integer);
  EXPECT_EQ(refine_type(ct::integer, ""), ct::integer);  // missing: ignored
  EXPECT_EQ(refine_type(ct::integer, "-0"), ct::integer);
  EXPECT_EQ(refine_type(ct::integer, "1e3"), ct::floating);
  EXPECT_EQ(refine_type(ct::integer, "nan"), ct::floating);
  EXPECT_EQ(refine_type(ct::integer, "99999999999999999999"), ct::floating);
  EXPECT_EQ(refine_type(ct::integer, "true"), ct::string);
  EXPECT_EQ(refine_type(ct::integer, " 1"), ct::string);
  EXPECT_EQ(refine_type(ct::floating, "7"), ct::floating);  // never back
  EXPECT_EQ(refine_type(ct::floating, "x"), ct::string);
  EXPECT_EQ(refine_type(ct::string, "7"), ct::string);
  EXPECT_EQ(refine_type(ct::string, ""), ct::string);
  EXPECT_EQ(column_type_name(ct::integer), "int");
  EXPECT_EQ(column_type_name(ct::floating), "float");
  EXPECT_EQ(column_type_name(ct::string), "string");
}

TEST_F(csv_test, type_detection_over_columns) {
  auto r = csv_reader::open(write("t.csv",
                                  "i,f,s,b,m\n"
                                  "1,2,x,true,\n"
                                  "-3,4.5,7,false,\n"
                                  ",inf,,true,\n"));
  ASSERT_TRUE(r);
  std::vector<column_type> types((*r)->header().size(), column_type::integer);
  std::vector<std::string_view> f;
  int64_t line;
  while (*(*r)->next(f, line))
    for (size_t c = 0; c < f.size(); ++c) types[c] = refine_type(types[c], f[c]);
  EXPECT_EQ(types, (std::vector<column_type>{column_type::integer, column_type::floating,
                                             column_type::string, column_type::string,
                                             column_type::integer}));
}

TEST(csv_data, letter_recognition) {
  auto r = csv_reader::open(testing::data_path("letter_recognition.csv"));
  ASSERT_TRUE(r) << r.error_value().to_string();
  ASSERT_EQ((*r)->header().size(), 17u);
  EXPECT_EQ((*r)->header()[0], "lettr");
  EXPECT_EQ((*r)->header()[16], "yegvx");
  std::vector<column_type> types(17, column_type::integer);
  std::vector<std::string_view> f;
  int64_t line = 0;
  std::string first;
  while (true) {
    auto got = (*r)->next(f, line);
    ASSERT_TRUE(got) << got.error_value().to_string();
    if (!*got) break;
    if (first.empty()) first = std::string(f[0]) + "," + std::string(f[1]);
    for (size_t c = 0; c < f.size(); ++c) types[c] = refine_type(types[c], f[c]);
  }
  EXPECT_EQ((*r)->rows_read(), 20000);
  EXPECT_EQ((*r)->malformed_count(), 0);
  EXPECT_EQ(line, 20001);
  EXPECT_EQ(first, "T,2");
  EXPECT_EQ(types[0], column_type::string);
  for (size_t c = 1; c < 17; ++c) EXPECT_EQ(types[c], column_type::integer) << c;
}

}  // namespace
}  // namespace troupe::pipeline
