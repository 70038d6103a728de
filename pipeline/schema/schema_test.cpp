#include "pipeline/schema/schema.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::data_path;
using testing::temp_dir;

dataset_stats stats_of(const std::string& path) {
  auto s = compute_stats({path});
  EXPECT_TRUE(s) << s.error_value().to_string();
  return s ? *s : dataset_stats{};
}

TEST(Schema, InferOnCreditData) {
  const dataset_stats st = stats_of(data_path("credit_scoring.csv"));
  const schema s = infer_schema(st);
  ASSERT_EQ(s.features.size(), 14u);
  EXPECT_EQ(s.min_examples, 445);  // floor(4454 * 0.1)

  const feature_schema* status = s.find("Status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->type, feature_type::bytes_type);
  EXPECT_EQ(status->domain, (std::vector<std::string>{"bad", "good"}));
  EXPECT_EQ(status->min_fraction, 1.0);
  EXPECT_EQ(status->min_count, 1);
  ASSERT_TRUE(status->drift_comparator);
  EXPECT_EQ(status->drift_comparator->kind, comparator::kind_t::infinity_norm);

  const feature_schema* income = s.find("Income");  // missing in 381 of 4454 rows
  ASSERT_NE(income, nullptr);
  EXPECT_EQ(income->type, feature_type::int_type);
  EXPECT_DOUBLE_EQ(income->min_fraction, 0.81);  // floor((0.9145 - 0.1) * 100) / 100
  EXPECT_TRUE(income->domain.empty());
  EXPECT_FALSE(income->min);
  ASSERT_TRUE(income->skew_comparator);
  EXPECT_EQ(income->skew_comparator->kind, comparator::kind_t::jensen_shannon_divergence);

  infer_options o;
  o.numeric_ranges = true;
  const schema r = infer_schema(st, o);
  ASSERT_TRUE(r.find("Age")->min && r.find("Age")->max);
  EXPECT_EQ(*r.find("Age")->min, st.find("Age")->min);
  EXPECT_EQ(*r.find("Age")->max, st.find("Age")->max);
}

TEST(Schema, FloatColumnsDisallowNanAndBigVocabulariesGetNoDomain) {
  const fs::path d = temp_dir("schema");
  std::string text = "x,id,y\n";
  for (int i = 0; i < 300; ++i) text += str_cat(i * 0.5 + 0.25, ",id", i, ",", i % 3 ? "nan" : "1.5", "\n");
  std::ofstream(d / "f.csv") << text;
  const schema s = infer_schema(stats_of((d / "f.csv").string()));
  EXPECT_EQ(s.find("x")->type, feature_type::float_type);
  EXPECT_TRUE(s.find("x")->disallow_nan);
  EXPECT_FALSE(s.find("y")->disallow_nan);  // NaN seen: allowed
  EXPECT_EQ(s.find("id")->type, feature_type::bytes_type);
  EXPECT_TRUE(s.find("id")->domain.empty());  // 300 distinct > 100
}

TEST(Schema, YamlRoundTrip) {
  schema s = infer_schema(stats_of(data_path("credit_scoring.csv")));
  s.features[1].min = -3.5;
  s.features[1].max = 1e6;
  s.features[0].domain.push_back("odd: \"quoted\" #value\\");  // must survive quoting
  std::sort(s.features[0].domain.begin(), s.features[0].domain.end());
  const std::string yaml = to_yaml(s);
  auto back = schema_from_yaml(yaml, "t.yaml");
  ASSERT_TRUE(back) << back.error_value().to_string() << "\n" << yaml;
  EXPECT_EQ(to_yaml(*back), yaml);
  EXPECT_EQ(back->min_examples, s.min_examples);
  ASSERT_EQ(back->features.size(), s.features.size());
  EXPECT_EQ(back->features[0].domain, s.features[0].domain);
  EXPECT_EQ(*back->features[1].min, -3.5);
  EXPECT_EQ(back->features[9].min_fraction, s.features[9].min_fraction);
  // Records' values are "no"/"yes": strings, not YAML 1.1 booleans.
  EXPECT_NE(yaml.find("domain: [\"no\", \"yes\"]"), std::string::npos) << yaml;
}

TEST(Schema, HandWrittenYaml) {
  auto s = schema_from_yaml(
      "# comment\n"
      "min_examples: 10\n"
      "features:\n"
      "  - name: age\n"
      "    type: INT\n"
      "    range: {min: 0, max: 120}\n"
      "  - name: color\n"
      "    type: BYTES\n"
      "    presence:\n"
      "      min_fraction: 0.5\n"
      "    domain:\n"
      "      - red\n"
      "      - green\n"
      "    drift_comparator: {infinity_norm: 0.05}\n",
      "hand.yaml");
  ASSERT_TRUE(s) << s.error_value().to_string();
  EXPECT_EQ(s->min_examples, 10);
  ASSERT_EQ(s->features.size(), 2u);
  EXPECT_EQ(*s->features[0].max, 120);
  EXPECT_EQ(s->features[0].min_count, 0);  // presence not given: not required
  EXPECT_EQ(s->features[1].domain, (std::vector<std::string>{"green", "red"}));
  EXPECT_EQ(s->features[1].min_fraction, 0.5);
  EXPECT_EQ(s->features[1].drift_comparator->threshold, 0.05);
  EXPECT_FALSE(s->features[1].skew_comparator);
}

void expect_error(const std::string& yaml, const std::string& want) {
  auto s = schema_from_yaml(yaml, "bad.yaml");
  ASSERT_FALSE(s) << "accepted:\n" << yaml;
  EXPECT_NE(s.error_value().message().find(want), std::string::npos)
      << "message: " << s.error_value().message() << "\nwanted: " << want;
}

TEST(Schema, ErrorsNameLineAndKey) {
  const std::string head = "min_examples: 1\nfeatures:\n  - name: a\n    type: INT\n";
  expect_error(head + "    domian: [x]\n", "bad.yaml:5:5: unknown key 'domian' in a feature");
  expect_error("min_exampels: 3\nfeatures: []\n", "bad.yaml:1:1: unknown key 'min_exampels'");
  expect_error(head + "    presence: {min_fraction: 1.5}\n", "bad.yaml:5:");
  expect_error(head + "    presence: {min_fraction: 1.5}\n", "min_fraction must be in [0, 1]");
  expect_error(head + "    presence: {min_fraktion: 1}\n",
               "bad.yaml:5:16: unknown key 'min_fraktion' in feature 'a' presence");
  expect_error("features:\n  - name: a\n    type: STRING\n",
               "bad.yaml:3:11: feature 'a': type must be INT, FLOAT or BYTES, got 'STRING'");
  expect_error("features:\n  - name: a\n", "bad.yaml:2:5: feature 'a' needs a 'type'");
  expect_error("features:\n  - type: INT\n", "needs a 'name'");
  expect_error("features:\n  - name: a\n    type: INT\n  - name: a\n    type: INT\n",
               "bad.yaml:4:5: feature 'a' is listed twice");
  expect_error(head + "    domain: [x]\n", "a domain (vocabulary) needs type BYTES");
  expect_error(head + "    drift_comparator: {l2: 0.1}\n", "unknown key 'l2'");
  expect_error(head + "    range: {min: abc}\n", "range.min must be a number, got 'abc'");
  expect_error("min_examples: 1\nfeatures:\n  - name: [a\n", "bad.yaml:");
  expect_error("min_examples: 1\nfeatures:\n  - name: [a\n", "malformed YAML");
  expect_error("min_examples: -1\nfeatures: []\n", "min_examples must be an integer >= 0");
  expect_error("", "the schema is empty");
  expect_error("- a\n- b\n", "the schema must be a map of keys");
  expect_error("min_examples: 1\n", "needs a 'features' list");
}

TEST(Schema, ReadFileNamesTheFile) {
  auto s = read_schema_file("/no/such/schema.yaml");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error_value().message().find("/no/such/schema.yaml"), std::string::npos);
}

}  // namespace
}  // namespace troupe::pipeline
