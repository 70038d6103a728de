#include "pipeline/util/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace troupe::pipeline {
namespace {

json_value parse_ok(std::string_view text) {
  auto v = parse_json(text, "json_test");
  EXPECT_TRUE(v) << v.error_value().to_string();
  return v ? std::move(*v) : json_value{};
}

std::string parse_error(std::string_view text, int max_depth = 64) {
  auto v = parse_json(text, "json_test", max_depth);
  EXPECT_FALSE(v) << "parsed: " << text;
  if (v) return {};
  EXPECT_EQ(v.error_value().code(), errc::invalid_argument);
  return v.error_value().message();
}

TEST(json, parses_every_kind_and_keeps_source_text) {
  const json_value v = parse_ok(
      " {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\"}, \"a\": 7}\n");
  ASSERT_EQ(v.k, json_value::kind::object);
  ASSERT_EQ(v.members.size(), 3u);
  const json_value* a = v.get("a");  // the first of duplicate names
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->k, json_value::kind::array);
  ASSERT_EQ(a->items.size(), 5u);
  EXPECT_EQ(a->items[0].number, 1);
  EXPECT_EQ(a->items[1].number, -2500);
  EXPECT_EQ(a->items[1].source, "-2.5e3");
  EXPECT_TRUE(a->items[2].b);
  EXPECT_EQ(a->items[3].k, json_value::kind::boolean);
  EXPECT_FALSE(a->items[3].b);
  EXPECT_EQ(a->items[4].k, json_value::kind::null);
  EXPECT_EQ(a->source, "[1, -2.5e3, true, false, null]");
  EXPECT_EQ(v.get("b")->source, "{\"c\": \"x\"}");
  EXPECT_EQ(v.get("b")->get("c")->text, "x");
  EXPECT_EQ(v.get("nope"), nullptr);
  EXPECT_EQ(a->get("a"), nullptr);  // not an object
}

TEST(json, integers_are_exact_and_typed) {
  const json_value v = parse_ok("[9223372036854775807, 18446744073709551615, -1, 1.0, 1e2]");
  int64_t i = 0;
  uint64_t u = 0;
  EXPECT_TRUE(v.items[0].as_int64(i));
  EXPECT_EQ(i, std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(v.items[1].as_int64(i));  // out of range
  EXPECT_TRUE(v.items[1].as_uint64(u));
  EXPECT_EQ(u, std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(v.items[2].as_int64(i));
  EXPECT_EQ(i, -1);
  EXPECT_FALSE(v.items[2].as_uint64(u));
  EXPECT_FALSE(v.items[3].as_int64(i));  // a fraction is not an integer
  EXPECT_FALSE(v.items[4].as_int64(i));
  json_value s = parse_ok("\"12\"");
  EXPECT_FALSE(s.as_int64(i));
}

TEST(json, escapes_round_trip) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  all += "quote\" back\\slash \xc3\xa9t\xc3\xa9";
  std::string out;
  append_json_string(out, all);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_NE(out.find("\\u0001"), std::string::npos);
  EXPECT_NE(out.find("\\n"), std::string::npos);
  EXPECT_EQ(parse_ok(out).text, all);
  // Every escape a reader may meet.
  EXPECT_EQ(parse_ok(R"("\"\\\/\b\f\n\r\t")").text, "\"\\/\b\f\n\r\t");
}

TEST(json, unicode_escapes_become_utf8) {
  EXPECT_EQ(parse_ok(R"("\u0041\u00e9\u20AC")").text, "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(parse_ok(R"("\ud83d\ude00")").text, "\xf0\x9f\x98\x80");  // a surrogate pair
  EXPECT_EQ(parse_ok(R"("\u0000")").text, std::string(1, '\0'));
  EXPECT_NE(parse_error(R"("\ud83d")").find("expected a low surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ude00")").find("unpaired low surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\u12g4")").find("expected 4 hex digits after \\u"),
            std::string::npos);
  EXPECT_NE(parse_error(R"("\q")").find("column 3"), std::string::npos);
}

TEST(json, nesting_depth_is_limited) {
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(parse_ok(ok).k, json_value::kind::array);
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_NE(parse_error(deep).find("column 65: nesting too deep (more than 64 levels)"),
            std::string::npos);
  // Hostile depth fails fast instead of overflowing the stack.
  EXPECT_NE(parse_error(std::string(1'000'000, '[')).find("nesting too deep"),
            std::string::npos);
  EXPECT_NE(parse_error("{\"a\":{\"b\":1}}", 1).find("more than 1 levels"), std::string::npos);
}

TEST(json, truncated_input_names_the_position) {
  const std::string doc = "{\"a\": [1, 2, {\"b\": \"xyz\"}], \"c\": -3.5}";
  ASSERT_EQ(parse_ok(doc).k, json_value::kind::object);
  for (size_t n = 0; n < doc.size(); ++n) {
    const std::string msg = parse_error(doc.substr(0, n));
    EXPECT_NE(msg.find("json_test: JSON line 1, column "), std::string::npos) << msg;
    EXPECT_NE(msg.find("got end of input"), std::string::npos) << n << ": " << msg;
  }
  EXPECT_EQ(parse_error(""),
            "json_test: JSON line 1, column 1: expected a value, got end of input");
}

TEST(json, garbage_gives_line_and_column) {
  EXPECT_EQ(parse_error("{\"a\":1,\n  \"b\" 2}"),
            "json_test: JSON line 2, column 7: expected ':', got '2'");
  EXPECT_EQ(parse_error("[1,\n\n  x]"),
            "json_test: JSON line 3, column 3: expected a value, got 'x'");
  EXPECT_EQ(parse_error("[1] 2"),
            "json_test: JSON line 1, column 5: expected end of input, got '2'");
  EXPECT_EQ(parse_error("\x01\x02"),
            "json_test: JSON line 1, column 1: expected a value, got byte 0x01");
  EXPECT_NE(parse_error("[01]").find("expected ',' or ']'"), std::string::npos);
  EXPECT_NE(parse_error("[1.]").find("expected a digit after '.'"), std::string::npos);
  EXPECT_NE(parse_error("[1e+]").find("expected a digit in the exponent"), std::string::npos);
  EXPECT_NE(parse_error("[-]").find("expected a value"), std::string::npos);
  EXPECT_NE(parse_error("[tru]").find("expected a value"), std::string::npos);
  EXPECT_NE(parse_error("{1:2}").find("expected a member name in quotes"), std::string::npos);
  EXPECT_NE(parse_error("\"a\nb\"").find("control character"), std::string::npos);
  // Random bytes never crash.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 40, ' ');
    for (char& c : junk) c = static_cast<char>(rng() % 256);
    (void)parse_json(junk, "json_test");
  }
}

TEST(json, numbers_round_trip) {
  std::mt19937_64 rng(42);
  std::vector<double> values = {0.0,   -0.0, 1.0, 0.1, 1.0 / 3, 1e-310,
                                5e-324, std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest(), 123456789012345678.0};
  for (int i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double d : values) {
    std::string out;
    append_json_number(out, d);
    const json_value v = parse_ok(out);
    ASSERT_EQ(v.k, json_value::kind::number) << out;
    EXPECT_EQ(std::memcmp(&v.number, &d, sizeof d), 0) << out;  // bit-exact, -0 included
  }
  // Non-finite values: strings that as_double reads back; the bare tokens parse too.
  std::string out = "[";
  append_json_number(out, std::numeric_limits<double>::quiet_NaN());
  out += ',';
  append_json_number(out, std::numeric_limits<double>::infinity());
  out += ',';
  append_json_number(out, -std::numeric_limits<double>::infinity());
  out += ",NaN,Infinity,-Infinity,1e999]";
  EXPECT_EQ(out, "[\"NaN\",\"Infinity\",\"-Infinity\",NaN,Infinity,-Infinity,1e999]");
  const json_value v = parse_ok(out);
  double d = 0;
  for (size_t i : {0u, 3u}) {
    ASSERT_TRUE(v.items[i].as_double(d));
    EXPECT_TRUE(std::isnan(d));
  }
  for (size_t i : {1u, 4u, 6u}) {
    ASSERT_TRUE(v.items[i].as_double(d));
    EXPECT_EQ(d, std::numeric_limits<double>::infinity());
  }
  for (size_t i : {2u, 5u}) {
    ASSERT_TRUE(v.items[i].as_double(d));
    EXPECT_EQ(d, -std::numeric_limits<double>::infinity());
  }
  EXPECT_FALSE(parse_ok("\"nan\"").as_double(d));
  EXPECT_FALSE(parse_ok("null").as_double(d));
}

}  // namespace
}  // namespace troupe::pipeline
