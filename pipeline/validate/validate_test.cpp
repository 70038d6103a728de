#include "pipeline/validate/validate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/testing/test_files.hpp"
#include "pipeline/util/json.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;

// Broken copies of data/credit_scoring.csv (4,454 rows, no quoted fields) are written to a
// temporary directory, their statistics computed with compute_stats, and validated against
// the schema inferred from the clean file: each injected fault must be reported by its TFDV
// name on its column, and nothing else.

struct table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  size_t col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    ADD_FAILURE() << "no column " << name;
    return 0;
  }
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string f;
  std::stringstream ss(line);
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

const table& credit() {
  static const table t = [] {
    table t;
    std::ifstream in(testing::data_path("credit_scoring.csv"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (t.header.empty()) t.header = split(line);
      else t.rows.push_back(split(line));
    }
    return t;
  }();
  return t;
}

class Validate : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(credit().rows.size(), 4454u);
    ASSERT_EQ(credit().header.size(), 14u);
    dir_ = testing::temp_dir("validate");
  }
  void TearDown() override { fs::remove_all(dir_); }

  dataset_stats stats_of(const table& t, const std::string& name) {
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    auto line = [&](const std::vector<std::string>& fields) {
      for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << fields[i];
      out << "\n";
    };
    line(t.header);
    for (const auto& r : t.rows) line(r);
    out.close();
    auto s = compute_stats({p.string()});
    EXPECT_TRUE(s) << s.error_value().to_string();
    return s ? *s : dataset_stats{};
  }

  // A copy of the clean table changed by `edit`.
  static table broken(const std::function<void(table&)>& edit) {
    table t = credit();
    edit(t);
    return t;
  }

  fs::path dir_;
};

using kinds = std::set<std::pair<std::string, std::string>>;  // (column, type)

kinds kinds_of(const anomalies& a) {
  kinds out;
  for (const auto& x : a.items) out.emplace(x.column, x.type);
  return out;
}

// The anomaly of that column and type; if there is none, a placeholder whose fields match
// nothing a test expects (so the test fails instead of crashing).
const anomaly* find(const anomalies& a, const std::string& column, const std::string& type) {
  for (const auto& x : a.items)
    if (x.column == column && x.type == type) return &x;
  static const anomaly none{"", "", "", "(not reported)", "(not reported)", "(not reported)"};
  return &none;
}

TEST_F(Validate, CleanDataHasNoAnomaliesAgainstItsOwnSchema) {
  const dataset_stats st = stats_of(credit(), "clean.csv");
  const schema s = infer_schema(st);
  const anomalies a = validate(st, s, &st, &st);
  EXPECT_TRUE(a.empty()) << to_text(a);
  // Also against the YAML form of the schema, as the CLI reads it.
  auto back = schema_from_yaml(to_yaml(s));
  ASSERT_TRUE(back) << back.error_value().to_string();
  EXPECT_TRUE(validate(st, *back, &st, &st).empty());
  infer_options ranges;
  ranges.numeric_ranges = true;
  EXPECT_TRUE(validate(st, infer_schema(st, ranges)).empty());
}

TEST_F(Validate, HalvesAsSpansShowNoDrift) {
  // Rows i % 2 == 0 as the previous span, i % 2 == 1 as the current one (and as serving
  // data): sampling noise must stay under the default thresholds.
  const dataset_stats whole = stats_of(credit(), "clean.csv");
  table even = credit(), odd = credit();
  even.rows.clear();
  odd.rows.clear();
  for (size_t i = 0; i < credit().rows.size(); ++i)
    (i % 2 == 0 ? even : odd).rows.push_back(credit().rows[i]);
  const dataset_stats se = stats_of(even, "even.csv");
  const dataset_stats so = stats_of(odd, "odd.csv");
  const schema s = infer_schema(whole);
  const anomalies a = validate(so, s, &se, &se);
  EXPECT_TRUE(a.empty()) << to_text(a);
  const anomalies b = validate(se, s, &so, nullptr);
  EXPECT_TRUE(b.empty()) << to_text(b);
  // The distances seen, well under the default thresholds (0.1).
  for (const column_stats& c : so.columns) {
    const column_stats* p = se.find(c.name);
    const double d = c.type == column_type::string ? infinity_norm(c, *p)
                                                   : jensen_shannon_divergence(c, *p);
    EXPECT_LT(d, 0.05) << c.name;  // measured: at most 0.028 (Marital), 0.016 (Amount)
  }
}

TEST_F(Validate, MissingColumn) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    const size_t j = t.col("Seniority");
    t.header.erase(t.header.begin() + long(j));
    for (auto& r : t.rows) r.erase(r.begin() + long(j));
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Seniority", "SCHEMA_MISSING_COLUMN"}})) << to_text(a);
}

TEST_F(Validate, NewColumn) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    t.header.push_back("Branch");
    for (auto& r : t.rows) r.push_back("north");
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Branch", "SCHEMA_NEW_COLUMN"}})) << to_text(a);
  EXPECT_EQ(find(a, "Branch", "SCHEMA_NEW_COLUMN")->example, "north");
}

TEST_F(Validate, LowFractionPresent) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {  // blank Income in 3 of every 4 rows
    const size_t j = t.col("Income");
    for (size_t i = 0; i < t.rows.size(); ++i)
      if (i % 4 != 0) t.rows[i][j].clear();
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Income", "FEATURE_TYPE_LOW_FRACTION_PRESENT"}})) << to_text(a);
  // A required column with one value missing is reported too (min_fraction 1).
  const table u = broken([](table& t) { t.rows[7][t.col("Age")].clear(); });
  EXPECT_EQ(kinds_of(validate(stats_of(u, "c.csv"), s)),
            (kinds{{"Age", "FEATURE_TYPE_LOW_FRACTION_PRESENT"}}));
}

TEST_F(Validate, NotPresent) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    for (auto& r : t.rows) r[t.col("Debt")].clear();
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Debt", "FEATURE_TYPE_NOT_PRESENT"}})) << to_text(a);
}

TEST_F(Validate, UnexpectedDataType) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    t.rows[100][t.col("Age")] = "unknown";
    t.rows[200][t.col("Time")] = "12.5";
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Age", "UNEXPECTED_DATA_TYPE"}, {"Time", "UNEXPECTED_DATA_TYPE"}}))
      << to_text(a);
  EXPECT_EQ(find(a, "Age", "UNEXPECTED_DATA_TYPE")->example, "unknown");
  EXPECT_EQ(find(a, "Time", "UNEXPECTED_DATA_TYPE")->example, "12.5");
  EXPECT_NE(find(a, "Age", "UNEXPECTED_DATA_TYPE")->seen.find("BYTES"), std::string::npos);
}

TEST_F(Validate, UnexpectedStringValues) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    for (size_t i = 0; i < 30; ++i) t.rows[i * 50][t.col("Home")] = "castle";
    t.rows[3][t.col("Home")] = "boat";
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Home", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"}})) << to_text(a);
  const anomaly* x = find(a, "Home", "ENUM_TYPE_UNEXPECTED_STRING_VALUES");
  EXPECT_EQ(x->example, "castle");  // the most frequent
  EXPECT_NE(x->seen.find("'boat' (1)"), std::string::npos) << x->seen;
}

TEST_F(Validate, FloatHasNan) {
  // credit_scoring.csv has no float column: make Price one (Price / 100), infer the schema
  // from that copy, then put "nan" into a few rows.
  auto as_float = [](table& t) {
    for (auto& r : t.rows) {
      std::string& v = r[t.col("Price")];
      v = str_cat(std::stoll(v) / 100, ".", std::stoll(v) % 100 / 10, std::stoll(v) % 10);
    }
  };
  const table clean = broken(as_float);
  const dataset_stats cs = stats_of(clean, "clean.csv");
  ASSERT_EQ(cs.find("Price")->type, column_type::floating);
  const schema s = infer_schema(cs);
  EXPECT_TRUE(validate(cs, s).empty());
  table t = clean;
  for (size_t i = 0; i < 5; ++i) t.rows[i * 7][t.col("Price")] = "nan";
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_EQ(kinds_of(a), (kinds{{"Price", "FLOAT_TYPE_HAS_NAN"}})) << to_text(a);
  EXPECT_EQ(find(a, "Price", "FLOAT_TYPE_HAS_NAN")->example, "nan");
  // "nan" in an INT column turns it FLOAT: an unexpected type. (Price's integers are
  // valid FLOAT values.)
  const table u = broken([](table& t) { t.rows[9][t.col("Amount")] = "nan"; });
  const anomalies b = validate(stats_of(u, "c.csv"), s);
  EXPECT_EQ(kinds_of(b), (kinds{{"Amount", "UNEXPECTED_DATA_TYPE"}})) << to_text(b);
  EXPECT_EQ(find(b, "Amount", "UNEXPECTED_DATA_TYPE")->example, "nan");
}

TEST_F(Validate, BigIntAndOutOfRange) {
  const dataset_stats cs = stats_of(credit(), "clean.csv");
  // An integer beyond int64 (the column's values no longer fit the type INT).
  const table t = broken([](table& t) { t.rows[42][t.col("Amount")] = "99999999999999999999"; });
  const anomalies a = validate(stats_of(t, "b.csv"), infer_schema(cs));
  EXPECT_EQ(kinds_of(a), (kinds{{"Amount", "INT_TYPE_BIG_INT"}})) << to_text(a);
  const anomaly* big = find(a, "Amount", "INT_TYPE_BIG_INT");
  double v = 0;  // the text as given, or its canonical form "1e+20"
  EXPECT_TRUE(parse_double(big->example, v) && v == 1e20) << big->example;
  // Against a schema with ranges: values above and below the seen range.
  infer_options o;
  o.numeric_ranges = true;
  const schema r = infer_schema(cs, o);
  const table u = broken([](table& t) {
    t.rows[5][t.col("Age")] = "420";
    t.rows[6][t.col("Expenses")] = "-7";
  });
  const anomalies b = validate(stats_of(u, "c.csv"), r);
  EXPECT_EQ(kinds_of(b), (kinds{{"Age", "INT_TYPE_BIG_INT"}, {"Expenses", "INT_TYPE_SMALL_INT"}}))
      << to_text(b);
  EXPECT_EQ(find(b, "Age", "INT_TYPE_BIG_INT")->example, "420");
  EXPECT_EQ(find(b, "Expenses", "INT_TYPE_SMALL_INT")->example, "-7");
}

TEST_F(Validate, LowNumExamples) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) { t.rows.resize(300); });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  EXPECT_TRUE(a.has("", "DATASET_LOW_NUM_EXAMPLES")) << to_text(a);
  // The first 300 rows happen to be clean otherwise.
  EXPECT_EQ(a.items.size(), 1u) << to_text(a);
}

// A copy whose Amount is tripled and whose Home is mostly "owner": a distribution shift.
table shifted() {
  table t = credit();
  for (size_t i = 0; i < t.rows.size(); ++i) {
    std::string& amount = t.rows[i][t.col("Amount")];
    amount = std::to_string(std::stoll(amount) * 3);
    if (i % 3 != 0 && !t.rows[i][t.col("Home")].empty()) t.rows[i][t.col("Home")] = "owner";
  }
  return t;
}

TEST_F(Validate, DriftAgainstPreviousSpan) {
  const dataset_stats previous = stats_of(credit(), "clean.csv");
  const schema s = infer_schema(previous);
  const dataset_stats now = stats_of(shifted(), "shifted.csv");
  EXPECT_TRUE(validate(now, s).empty());  // without the previous span: valid data
  const anomalies a = validate(now, s, &previous, nullptr);
  EXPECT_EQ(kinds_of(a), (kinds{{"Amount", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"},
                                {"Home", "COMPARATOR_L_INFTY_HIGH"}}))
      << to_text(a);
  EXPECT_EQ(find(a, "Home", "COMPARATOR_L_INFTY_HIGH")->example, "owner");
  EXPECT_NE(find(a, "Home", "COMPARATOR_L_INFTY_HIGH")->expected.find("previous span"),
            std::string::npos);
  // A threshold raised above the distance silences it.
  schema lax = s;
  for (auto& f : lax.features) f.drift_comparator->threshold = 0.99;
  EXPECT_TRUE(validate(now, lax, &previous, nullptr).empty());
}

TEST_F(Validate, SkewAgainstServing) {
  const dataset_stats training = stats_of(credit(), "clean.csv");
  const schema s = infer_schema(training);
  table serving = shifted();  // serving data has no label column: not compared
  const size_t j = serving.col("Status");
  serving.header.erase(serving.header.begin() + long(j));
  for (auto& r : serving.rows) r.erase(r.begin() + long(j));
  const dataset_stats ss = stats_of(serving, "serving.csv");
  const anomalies a = validate(training, s, nullptr, &ss);
  EXPECT_EQ(kinds_of(a), (kinds{{"Amount", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"},
                                {"Home", "COMPARATOR_L_INFTY_HIGH"}}))
      << to_text(a);
  EXPECT_NE(find(a, "Amount", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH")->expected.find("serving"),
            std::string::npos);
}

TEST(Distances, KnownValues) {
  column_stats a("x"), b("x"), c("x");
  for (int i = 0; i < 50; ++i) a.add("0"), a.add("1");
  for (int i = 0; i < 100; ++i) b.add("0");
  for (int i = 0; i < 100; ++i) c.add("7");
  // Masses {0.5, 0.5} vs {1, 0}.
  const double want = 0.5 * (0.5 * std::log2(0.5 / 0.75) + 0.5 * std::log2(0.5 / 0.25)) +
                      0.5 * std::log2(1 / 0.75);
  std::string worst;
  EXPECT_NEAR(jensen_shannon_divergence(a, b, &worst), want, 1e-12);
  EXPECT_EQ(worst, "(-inf, 0]: 50.0% vs 100.0%");  // a tie with (0, 1]: the first bucket
  EXPECT_NEAR(jensen_shannon_divergence(a, a), 0, 1e-12);
  EXPECT_NEAR(jensen_shannon_divergence(b, c), 1, 1e-12);  // disjoint
  EXPECT_NEAR(infinity_norm(a, b, &worst), 0.5, 1e-12);
  EXPECT_EQ(worst, "0");  // tie between "0" and "1": the smaller value
  EXPECT_NEAR(infinity_norm(b, c), 1, 1e-12);
  EXPECT_EQ(infinity_norm(a, column_stats("x")), 0);
}

TEST_F(Validate, JsonAndText) {
  const schema s = infer_schema(stats_of(credit(), "clean.csv"));
  const table t = broken([](table& t) {
    t.rows.resize(200);
    t.rows[1][t.col("Home")] = "castle \"quoted\"";
  });
  const anomalies a = validate(stats_of(t, "b.csv"), s);
  ASSERT_EQ(a.items.size(), 2u) << to_text(a);
  const std::string json = to_json(a);  // outlives doc, which views it
  auto doc = parse_json(json, "test");
  ASSERT_TRUE(doc) << doc.error_value().to_string() << json;
  int64_t n = 0;
  ASSERT_TRUE(doc->get("anomaly_count")->as_int64(n));
  EXPECT_EQ(n, 2);
  const json_value* home = doc->get("anomaly_info")->get("Home");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->get("severity")->text, "ERROR");
  ASSERT_EQ(home->get("reason")->items.size(), 1u);
  const json_value& r = home->get("reason")->items[0];
  EXPECT_EQ(r.get("type")->text, "ENUM_TYPE_UNEXPECTED_STRING_VALUES");
  EXPECT_EQ(r.get("example")->text, "castle \"quoted\"");
  EXPECT_EQ(doc->get("dataset_anomaly_info")->get("reason")->items[0].get("type")->text,
            "DATASET_LOW_NUM_EXAMPLES");
  const std::string text = to_text(a);
  EXPECT_NE(text.find("2 anomalies:"), std::string::npos) << text;
  EXPECT_NE(text.find("Home  ENUM_TYPE_UNEXPECTED_STRING_VALUES [ERROR]"), std::string::npos)
      << text;
  EXPECT_EQ(to_text(anomalies{}), "no anomalies\n");
  const std::string empty_json = to_json(anomalies{});
  auto empty = parse_json(empty_json, "test");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->get("dataset_anomaly_info")->k, json_value::kind::null);
}

}  // namespace
}  // namespace troupe::pipeline
