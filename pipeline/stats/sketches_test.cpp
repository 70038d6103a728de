#include "pipeline/stats/sketches.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "pipeline/testing/test_files.hpp"

namespace troupe::pipeline {
namespace {

// Distance from q to the exact normalized-rank interval [#<v / n, #<=v / n] of v in `sorted`.
double rank_distance(const std::vector<double>& sorted, double v, double q) {
  double n = static_cast<double>(sorted.size());
  double lo = static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin()) / n;
  double hi = static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin()) / n;
  return q < lo ? lo - q : q > hi ? q - hi : 0.0;
}

// Every percentile (and the tails) of the sketch lies within rank_error of the exact rank;
// returns the worst distance seen.
double check_quantiles(const kll_sketch& s, std::vector<double> data) {
  std::sort(data.begin(), data.end());
  EXPECT_EQ(s.count(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(s.min(), data.front());
  EXPECT_EQ(s.max(), data.back());
  double worst = 0;
  std::vector<double> qs = {0.0, 0.001, 0.005, 0.995, 0.999, 1.0};
  for (int i = 1; i < 100; ++i) qs.push_back(i / 100.0);
  for (double q : qs) {
    double v = s.quantile(q);
    double d = rank_distance(data, v, q);
    worst = std::max(worst, d);
    EXPECT_LE(d, s.rank_error()) << "q=" << q << " v=" << v;
    // rank() is the inverse, within the same bound.
    double exact_rank = static_cast<double>(std::upper_bound(data.begin(), data.end(), v) -
                                            data.begin()) / static_cast<double>(data.size());
    EXPECT_NEAR(s.rank(v), exact_rank, s.rank_error()) << "v=" << v;
  }
  return worst;
}

std::vector<double> uniform_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-5.0, 10.0);
  std::vector<double> out(n);
  for (double& x : out) x = u(rng);
  return out;
}

std::vector<double> lognormal_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(0.0, 2.0);
  std::vector<double> out(n);
  for (double& x : out) x = d(rng);
  return out;
}

kll_sketch sketch_of(const std::vector<double>& data, int k = 200) {
  kll_sketch s(k);
  for (double x : data) s.add(x);
  return s;
}

TEST(kll_sketch, exact_while_count_at_most_k) {
  auto data = uniform_values(200, 1);
  kll_sketch s = sketch_of(data);
  EXPECT_EQ(s.rank_error(), 0.0);
  std::vector<double> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i <= 100; ++i) {
    double q = i / 100.0;
    size_t idx = q == 0 ? 0 : static_cast<size_t>(std::ceil(q * 200)) - 1;
    EXPECT_EQ(s.quantile(q), sorted[idx]) << "q=" << q;
  }
  for (size_t i = 0; i < sorted.size(); ++i)
    EXPECT_DOUBLE_EQ(s.rank(sorted[i]), (i + 1) / 200.0);
  s.add(0.5);  // the 201st value forces the first compaction
  EXPECT_GT(s.rank_error(), 0.0);
  EXPECT_NEAR(s.rank_error(), 2.296 / std::pow(200.0, 0.9723), 1e-12);
  EXPECT_NEAR(s.rank_error(), 0.0133, 0.0001);
}

TEST(kll_sketch, empty_and_nan) {
  kll_sketch s;
  EXPECT_TRUE(std::isnan(s.quantile(0.5)));
  EXPECT_TRUE(std::isnan(s.min()));
  s.add(std::nan(""));
  EXPECT_EQ(s.count(), 0);
  s.add(3.0);
  EXPECT_EQ(s.quantile(0.5), 3.0);
  EXPECT_EQ(s.histogram(4), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_TRUE(s.histogram(0).empty());
}

TEST(kll_sketch, million_uniform_and_lognormal_within_bound) {
  auto u = uniform_values(1'000'000, 2);
  double wu = check_quantiles(sketch_of(u), u);
  auto l = lognormal_values(1'000'000, 3);
  double wl = check_quantiles(sketch_of(l), l);
  std::printf("kll k=200 worst rank error: uniform %.5f lognormal %.5f (bound %.5f)\n", wu, wl,
              sketch_of(u).rank_error());
}

TEST(kll_sketch, sorted_and_reversed_input_within_bound) {
  auto data = uniform_values(1'000'000, 4);
  std::sort(data.begin(), data.end());
  double ws = check_quantiles(sketch_of(data), data);
  std::reverse(data.begin(), data.end());
  double wr = check_quantiles(sketch_of(data), data);
  std::printf("kll k=200 worst rank error: sorted %.5f reversed %.5f\n", ws, wr);
}

TEST(kll_sketch, duplicates_heavy_input) {
  std::vector<double> data;
  for (int i = 0; i < 300'000; ++i) data.push_back(static_cast<double>(i % 7));
  check_quantiles(sketch_of(data), data);
}

TEST(kll_sketch, merge_of_halves_within_bound_of_whole) {
  auto data = lognormal_values(1'000'000, 5);
  std::vector<double> a(data.begin(), data.begin() + 500'000), b(data.begin() + 500'000, data.end());
  kll_sketch sa = sketch_of(a), sb = sketch_of(b);
  sa.merge(sb);
  check_quantiles(sa, data);
  // Many small partials merged, as a parallel pass over shards would do.
  kll_sketch total;
  for (size_t i = 0; i < data.size(); i += 10'000)
    total.merge(sketch_of(std::vector<double>(data.begin() + i, data.begin() + i + 10'000)));
  check_quantiles(total, data);
  // Merging exact sketches stays exact while the total is small.
  kll_sketch x = sketch_of({1, 2, 3}), y = sketch_of({4, 5});
  x.merge(y);
  EXPECT_EQ(x.rank_error(), 0.0);
  EXPECT_EQ(x.quantile(0.5), 3.0);
  EXPECT_EQ(x.min(), 1.0);
  EXPECT_EQ(x.max(), 5.0);
}

TEST(kll_sketch, merge_keeps_smaller_k) {
  auto data = uniform_values(100'000, 6);
  kll_sketch a = sketch_of(std::vector<double>(data.begin(), data.begin() + 50'000), 400);
  a.merge(sketch_of(std::vector<double>(data.begin() + 50'000, data.end()), 100));
  EXPECT_EQ(a.k(), 100);
  check_quantiles(a, data);
}

TEST(kll_sketch, histogram_sums_to_count_and_matches_exact) {
  auto data = uniform_values(1'000'000, 7);
  kll_sketch s = sketch_of(data);
  const int buckets = 20;
  auto h = s.histogram(buckets);
  ASSERT_EQ(h.size(), static_cast<size_t>(buckets));
  int64_t total = 0;
  for (int64_t c : h) total += c;
  EXPECT_EQ(total, s.count());
  std::vector<int64_t> exact(buckets, 0);
  double width = (s.max() - s.min()) / buckets;
  for (double x : data) exact[std::min(buckets - 1, static_cast<int>((x - s.min()) / width))]++;
  for (int b = 0; b < buckets; ++b)  // a bucket is a difference of two ranks
    EXPECT_NEAR(static_cast<double>(h[b]), static_cast<double>(exact[b]),
                2 * s.rank_error() * s.count()) << "bucket " << b;
}

TEST(kll_sketch, json_round_trip_is_exact_and_deterministic) {
  auto data = lognormal_values(50'000, 8);
  kll_sketch s = sketch_of(data);
  auto back = kll_sketch::from_json(s.to_json());
  ASSERT_TRUE(back.has_value()) << back.error_value().to_string();
  EXPECT_EQ(back->to_json(), s.to_json());
  EXPECT_EQ(back->count(), s.count());
  for (double q : {0.1, 0.5, 0.9}) EXPECT_EQ(back->quantile(q), s.quantile(q));
  // The generator state travels too: further adds give identical sketches.
  for (double x : uniform_values(10'000, 9)) { s.add(x); back->add(x); }
  EXPECT_EQ(back->to_json(), s.to_json());
  // Infinities and empty sketches survive.
  kll_sketch inf;
  inf.add(-INFINITY);
  inf.add(1.0);
  auto inf_back = kll_sketch::from_json(inf.to_json());
  ASSERT_TRUE(inf_back.has_value()) << inf_back.error_value().to_string();
  EXPECT_EQ(inf_back->min(), -INFINITY);
  auto empty_back = kll_sketch::from_json(kll_sketch().to_json());
  ASSERT_TRUE(empty_back.has_value()) << empty_back.error_value().to_string();
  EXPECT_EQ(empty_back->count(), 0);
  // Same input, same sketch.
  EXPECT_EQ(sketch_of(data).to_json(), sketch_of(data).to_json());
}

void expect_error(const error& e, std::string_view needle) {
  EXPECT_EQ(e.code(), errc::invalid_argument);
  EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
}

TEST(kll_sketch, malformed_json_gives_clear_errors) {
  expect_error(kll_sketch::from_json("").error_value(),
               "kll_sketch.from_json: JSON line 1, column 1: expected a value, got end of input");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\",\n \"k\" 3}").error_value(),
               "JSON line 2, column 6: expected ':', got '3'");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\"}").error_value(), "missing field 'k'");
  expect_error(kll_sketch::from_json("{\"type\":\"hyperloglog\"}").error_value(),
               "field 'type': expected \"kll\", got \"hyperloglog\"");
  expect_error(kll_sketch::from_json("[1,2]").error_value(), "expected a JSON object");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\",\"k\":\"x\"}").error_value(),
               "field 'k': expected an integer");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\",\"k\":200,\"count\":3,\"min\":1,\"max\":2,"
                                     "\"rng\":5,\"levels\":[[1,2]]}").error_value(),
               "total weight of 2, expected count = 3");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\",\"k\":200,\"count\":2,\"min\":1,\"max\":2,"
                                     "\"rng\":5,\"levels\":[[1,7]]}").error_value(),
               "field 'levels[0]': expected values within [min, max]");
  expect_error(kll_sketch::from_json("{\"type\":\"kll\",\"k\":200} x").error_value(),
               "expected end of input, got 'x'");
  expect_error(kll_sketch::from_json(std::string(100, '[')).error_value(), "nesting too deep");
}

// ---------------------------------------------------------------------------------------

TEST(xxhash64, known_values) {
  EXPECT_EQ(xxhash64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxhash64("abc"), xxhash64(std::string("abc")));
  EXPECT_NE(xxhash64("abc"), xxhash64("abd"));
  EXPECT_NE(xxhash64("abc", 1), xxhash64("abc"));
}

TEST(hyperloglog, exact_below_threshold_and_duplicates_ignored) {
  hyperloglog h;
  for (int rep = 0; rep < 3; ++rep)
    for (int i = 0; i < 1024; ++i) h.add(str_cat("value-", i));
  EXPECT_TRUE(h.is_exact());
  EXPECT_EQ(h.estimate(), 1024.0);
  EXPECT_EQ(h.relative_error(), 0.0);
  h.add_hash(0);  // the hash 0 is a value like any other
  EXPECT_FALSE(h.is_exact());
  EXPECT_NEAR(h.estimate(), 1025.0, 1025 * 3 * 1.04 / 128);
  EXPECT_NEAR(h.relative_error(), 1.04 / 128, 1e-12);
}

TEST(hyperloglog, duplicates_do_not_change_the_sketch) {
  hyperloglog once, thrice;
  for (int i = 0; i < 50'000; ++i) once.add(str_cat(i));
  for (int rep = 0; rep < 3; ++rep)
    for (int i = 0; i < 50'000; ++i) thrice.add(str_cat(i));
  EXPECT_EQ(once.to_json(), thrice.to_json());
}

TEST(hyperloglog, within_three_standard_errors) {
  for (int n : {100'000, 1'000'000}) {
    for (int p : {12, 14}) {
      hyperloglog h(p);
      for (int i = 0; i < n; ++i) h.add(str_cat("user", i, "@example.com"));
      double e = h.estimate();
      std::printf("hll p=%d n=%d estimate=%.0f relative error=%.4f (se %.4f)\n", p, n, e,
                  (e - n) / n, h.relative_error());
      EXPECT_NEAR(e, n, 3 * h.relative_error() * n) << "p=" << p << " n=" << n;
    }
  }
}

TEST(hyperloglog, merge_equals_adding_all) {
  hyperloglog a, b, all;
  for (int i = 0; i < 300'000; ++i) {
    std::string v = str_cat(i);
    (i % 3 == 0 ? a : b).add(v);
    if (i % 5 == 0) a.add(v);  // overlap
    all.add(v);
  }
  a.merge(b);
  EXPECT_EQ(a.to_json(), all.to_json());
  // Exact into exact, exact into registers, registers into exact.
  hyperloglog small1, small2, big;
  for (int i = 0; i < 600; ++i) small1.add(str_cat("a", i));
  for (int i = 0; i < 600; ++i) small2.add(str_cat("b", i));
  for (int i = 0; i < 5000; ++i) big.add(str_cat("c", i));
  hyperloglog ss = small1;
  ss.merge(small2);
  EXPECT_FALSE(ss.is_exact());  // 1200 distinct hashes: past the exact limit
  hyperloglog into_big = big, into_small = small1, expected_all;
  into_big.merge(small1);
  into_small.merge(big);
  for (int i = 0; i < 600; ++i) expected_all.add(str_cat("a", i));
  for (int i = 0; i < 5000; ++i) expected_all.add(str_cat("c", i));
  EXPECT_EQ(into_big.to_json(), expected_all.to_json());
  EXPECT_EQ(into_small.to_json(), expected_all.to_json());
}

TEST(hyperloglog, merge_across_precisions_folds_exactly) {
  hyperloglog fine(14), coarse(11), direct(11);
  for (int i = 0; i < 200'000; ++i) {
    std::string v = str_cat("x", i);
    (i % 2 ? fine : coarse).add(v);
    direct.add(v);
  }
  hyperloglog a = fine;
  a.merge(coarse);  // a folds itself down to 11
  EXPECT_EQ(a.precision(), 11);
  EXPECT_EQ(a.to_json(), direct.to_json());
  coarse.merge(fine);  // fine's registers fold into coarse
  EXPECT_EQ(coarse.to_json(), direct.to_json());
}

TEST(hyperloglog, json_round_trip_and_errors) {
  for (int n : {10, 100'000}) {
    hyperloglog h(12);
    for (int i = 0; i < n; ++i) h.add(str_cat(i));
    auto back = hyperloglog::from_json(h.to_json());
    ASSERT_TRUE(back.has_value()) << back.error_value().to_string();
    EXPECT_EQ(back->to_json(), h.to_json());
    EXPECT_EQ(back->estimate(), h.estimate());
  }
  expect_error(hyperloglog::from_json("{\"type\":\"hyperloglog\",\"precision\":30}").error_value(),
               "field 'precision': expected 4..18, got 30");
  expect_error(hyperloglog::from_json("{\"type\":\"hyperloglog\",\"precision\":4}").error_value(),
               "missing field 'exact' or 'registers'");
  expect_error(hyperloglog::from_json(
                   "{\"type\":\"hyperloglog\",\"precision\":4,\"registers\":\"00\"}").error_value(),
               "expected 32 hex digits for precision 4, got 2");
  expect_error(hyperloglog::from_json("{\"type\":\"hyperloglog\",\"precision\":4,\"registers\":\"" +
                                      std::string(30, '0') + "zz\"}").error_value(),
               "register 15: expected a hex value 0..61, got 'zz'");
  expect_error(hyperloglog::from_json("{\"type\":\"hyperloglog\",\"precision\":4,\"exact\":[-1]}")
                   .error_value(),
               "field 'exact': expected an integer, got -1");
  expect_error(hyperloglog::from_json("{\"type\":\"hyperloglog\",\"precision\":4,\"exact\":[1,}")
                   .error_value(),
               "JSON line 1, column 48: expected a value, got '}'");
}

// ---------------------------------------------------------------------------------------

// A Zipf(s) stream over `universe` values, deterministic.
std::vector<std::string> zipf_stream(size_t n, int universe, double s, uint64_t seed) {
  std::vector<double> cdf(universe);
  double sum = 0;
  for (int i = 0; i < universe; ++i) cdf[i] = (sum += 1.0 / std::pow(i + 1, s));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    size_t r = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    out.push_back(str_cat("v", std::min<size_t>(r, universe - 1)));
  }
  return out;
}

std::map<std::string, int64_t> exact_counts(const std::vector<std::string>& values) {
  std::map<std::string, int64_t> m;
  for (const auto& v : values) m[v]++;
  return m;
}

std::vector<std::pair<std::string, int64_t>> exact_top(const std::map<std::string, int64_t>& m,
                                                      size_t k) {
  std::vector<std::pair<std::string, int64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  v.resize(std::min(k, v.size()));
  return v;
}

TEST(top_k, exact_under_capacity_with_deterministic_order) {
  top_k t(100);
  auto values = zipf_stream(20'000, 80, 1.0, 11);
  for (const auto& v : values) t.add(v);
  t.add("weighted", 500);
  t.add("ignored", 0);
  auto m = exact_counts(values);
  m["weighted"] = 500;
  EXPECT_EQ(t.max_error(), 0);
  EXPECT_EQ(t.top(1000), exact_top(m, 1000));  // count descending, then value ascending
  EXPECT_EQ(t.top(3).size(), 3u);
  top_k ties;
  for (const char* v : {"b", "c", "a", "c", "b", "a"}) ties.add(v);
  EXPECT_EQ(ties.top(3), (std::vector<std::pair<std::string, int64_t>>{{"a", 2}, {"b", 2}, {"c", 2}}));
}

// Every true top-`k` value is reported, and every reported count is within max_error above
// the true count.
void check_heavy_hitters(const top_k& t, const std::map<std::string, int64_t>& truth, size_t k) {
  auto got = t.top(t.capacity());
  std::map<std::string, int64_t> reported(got.begin(), got.end());
  for (const auto& [v, c] : exact_top(truth, k)) {
    auto it = reported.find(v);
    ASSERT_NE(it, reported.end()) << "heavy hitter " << v << " (" << c << ") missing";
    EXPECT_GE(it->second, c) << v;
    EXPECT_LE(it->second, c + t.max_error()) << v;
  }
  for (const auto& [v, c] : got) {
    auto it = truth.find(v);
    int64_t true_count = it == truth.end() ? 0 : it->second;
    EXPECT_GE(c, true_count) << v;
    EXPECT_LE(c, true_count + t.max_error()) << v;
  }
  // The reported top-k is the true top-k.
  auto top = t.top(k);
  auto want = exact_top(truth, k);
  for (size_t i = 0; i < k; ++i) EXPECT_EQ(top[i].first, want[i].first) << "rank " << i;
}

TEST(top_k, zipf_stream_larger_than_capacity) {
  auto values = zipf_stream(1'000'000, 100'000, 1.1, 12);
  auto truth = exact_counts(values);
  top_k t(1000);
  for (const auto& v : values) t.add(v);
  EXPECT_GT(t.max_error(), 0);
  EXPECT_EQ(t.size(), 1000u);
  std::printf("top_k capacity 1000 over %zu distinct: max_error %lld\n", truth.size(),
              static_cast<long long>(t.max_error()));
  check_heavy_hitters(t, truth, 20);
}

TEST(top_k, merge) {
  auto values = zipf_stream(400'000, 50'000, 1.1, 13);
  auto truth = exact_counts(values);
  // Exact summaries merge exactly.
  top_k a(100'000), b(100'000);
  for (size_t i = 0; i < values.size(); ++i) (i % 2 ? a : b).add(values[i]);
  a.merge(b);
  EXPECT_EQ(a.max_error(), 0);
  EXPECT_EQ(a.top(50), exact_top(truth, 50));
  // Saturated summaries keep the guarantee.
  top_k c(500), d(500);
  for (size_t i = 0; i < values.size(); ++i) (i < values.size() / 2 ? c : d).add(values[i]);
  c.merge(d);
  EXPECT_LE(c.size(), 500u);
  check_heavy_hitters(c, truth, 10);
  // Exact into a smaller capacity: the overflow becomes the floor.
  top_k small(3), other(10);
  for (const char* v : {"a", "a", "a", "b", "b", "c", "d"}) other.add(v);
  small.merge(other);
  EXPECT_EQ(small.top(3), (std::vector<std::pair<std::string, int64_t>>{{"a", 3}, {"b", 2}, {"c", 1}}));
  small.add("d");
  EXPECT_EQ(small.max_error(), 1);  // "d" may have had 1 before
}

TEST(top_k, json_round_trip_and_errors) {
  top_k t(50);
  for (const auto& v : zipf_stream(10'000, 1000, 1.2, 14)) t.add(v);
  t.add("quote\" back\\slash\nnewline\x01 \xc3\xa9t\xc3\xa9", 7);
  auto back = top_k::from_json(t.to_json());
  ASSERT_TRUE(back.has_value()) << back.error_value().to_string();
  EXPECT_EQ(back->to_json(), t.to_json());
  EXPECT_EQ(back->top(50), t.top(50));
  EXPECT_EQ(back->max_error(), t.max_error());
  auto unicode = top_k::from_json(
      "{\"type\":\"top_k\",\"capacity\":2,\"floor\":0,\"items\":[[\"\\u00e9\\ud83d\\ude00\",2,0]]}");
  ASSERT_TRUE(unicode.has_value()) << unicode.error_value().to_string();
  EXPECT_EQ(unicode->top(1)[0].first, "\xc3\xa9\xf0\x9f\x98\x80");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":1,\"floor\":0,\"items\":"
                                "[[\"a\",1,0],[\"b\",1,0]]}").error_value(),
               "field 'items': expected at most capacity = 1 items, got 2");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":5,\"floor\":0,\"items\":"
                                "[[\"a\",1,0],[\"a\",1,0]]}").error_value(),
               "field 'items[1]': duplicate value \"a\"");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":5,\"floor\":0,\"items\":"
                                "[[\"a\",1]]}").error_value(),
               "field 'items[0]': expected [value, count, error], got 2 elements");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":5,\"floor\":0,\"items\":"
                                "[[\"a\",1,2]]}").error_value(),
               "expected count > 0 and 0 <= error <= count, got count 1, error 2");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":5,\"floor\":0,\"items\":"
                                "[[\"a\\q\",1,0]]}").error_value(),
               "unknown escape in string");
  expect_error(top_k::from_json("{\"type\":\"top_k\",\"capacity\":5,\"floor\":0,\"items\":"
                                "[[\"a").error_value(),
               "unterminated string");
}

// ---------------------------------------------------------------------------------------

// Reads a column of the letter-recognition data set in the repo: the quantiles of a real
// integer-valued column (many ties) stay within the bound, and the letter counts are exact.
TEST(sketches, letter_recognition_data_set) {
  const std::string path = testing::data_path("letter_recognition.csv");
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::string line;
  std::getline(in, line);  // header
  std::vector<double> column;
  std::map<std::string, int64_t> letters;
  kll_sketch k(50);
  hyperloglog h;
  top_k t(26);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string letter, field;
    std::getline(ss, letter, ',');
    std::getline(ss, field, ',');
    double x = std::stod(field);
    column.push_back(x);
    k.add(x);
    h.add(letter);
    t.add(letter);
    letters[letter]++;
  }
  ASSERT_GT(column.size(), 1000u);
  check_quantiles(k, column);
  EXPECT_EQ(h.estimate(), static_cast<double>(letters.size()));
  EXPECT_EQ(t.max_error(), 0);
  EXPECT_EQ(t.top(26), exact_top(letters, 26));
}

}  // namespace
}  // namespace troupe::pipeline
