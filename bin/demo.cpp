#include "bin/demo.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "bin/csv.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"

namespace troupe::cli {
namespace {

struct split_data {
  std::vector<float> train_x, test_x;
  std::vector<int32_t> train_y, test_y;
  int64_t features = 0;
};

expected<split_data> load_letters(const std::string& path) {
  csv_table t = TROUPE_TRY(read_csv(path));
  size_t label = TROUPE_TRY(t.column("lettr"));
  split_data d;
  d.features = int64_t(t.header.size()) - 1;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& row = t.rows[i];
    bool test = i % 5 == 0;
    const std::string& l = row[label];
    TROUPE_REQUIRE(l.size() == 1 && l[0] >= 'A' && l[0] <= 'Z', path, ":", i + 2,
                   ": column 'lettr' must be a letter A-Z, got '", l, "'");
    (test ? d.test_y : d.train_y).push_back(l[0] - 'A');
    for (size_t c = 0; c < row.size(); ++c) {
      if (c == label) continue;
      char* end = nullptr;
      double v = std::strtod(row[c].c_str(), &end);
      TROUPE_REQUIRE(!row[c].empty() && *end == '\0', path, ":", i + 2, ": column '",
                     t.header[c], "' must be a number, got '", row[c], "'");
      (test ? d.test_x : d.train_x).push_back(float(v));
    }
  }
  TROUPE_REQUIRE(!d.train_y.empty() && !d.test_y.empty(), path, ": too few rows to split");
  return d;
}

}  // namespace

error run_demo(const demo_options& opts) {
  using clock = std::chrono::steady_clock;
  split_data d = TROUPE_TRY(load_letters(opts.data));
  const int64_t n = int64_t(d.train_y.size()), m = int64_t(d.test_y.size()), f = d.features;
  std::printf("troupe demo: letter recognition, %lld training and %lld test rows, %lld features\n",
              (long long)n, (long long)m, (long long)f);

  platform plat;
  graph g(plat.ops());
  scope s = scope::root(g);
  output train = ops::placeholder(s.with_name("train_x"), dtype::float32, {-1, f});
  output labels = ops::placeholder(s.with_name("train_y"), dtype::int32, {-1});
  output test = ops::placeholder(s.with_name("test_x"), dtype::float32, {-1, f});
  output truth = ops::placeholder(s.with_name("test_y"), dtype::int32, {-1});
  // The nearest training row maximizes 2 x.t - |t|^2 (|x|^2 is the same for every t).
  scope nn = s.sub("nearest");
  output dot = ops::matmul(nn, test, train, false, true);                  // [m, n]
  output norms = ops::sum(nn, ops::square(nn, train), {1});                // [n]
  output score = ops::sub(nn, ops::add(nn, dot, dot), norms);              // [m, n]
  output best = ops::argmax(nn.with_name("best"), score, 1);               // [m]
  output predicted = ops::gather(s.with_name("predicted"), labels, best);  // [m]
  output correct = ops::cast(s, ops::equal(s, predicted, truth), dtype::float32);
  ops::mean(s.with_name("accuracy"), correct);
  TROUPE_TRY(s.status());

  session sess(g, plat.kernels(), {.num_threads = opts.threads});
  session::feed_list feeds = {
      {"train_x", tensor::from_vector<float>({n, f}, d.train_x)},
      {"train_y", tensor::from_vector<int32_t>({n}, d.train_y)},
      {"test_x", tensor::from_vector<float>({m, f}, d.test_x)},
      {"test_y", tensor::from_vector<int32_t>({m}, d.test_y)},
  };
  auto report = TROUPE_TRY(sess.explain({"train_x", "train_y", "test_x", "test_y"}, {"accuracy"}));
  std::printf("graph: %d nodes, %d executed per run (%d merged, %d folded)\n", report.graph_nodes,
              report.executed_nodes, report.cse_removed, report.folded);
  auto start = clock::now();
  auto out = TROUPE_TRY(sess.run(feeds, {"accuracy", "predicted"}));
  double ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
  const float acc = out[0].scalar_value<float>();
  std::printf("1-nearest-neighbour on %d threads: one run of the graph took %.1f ms\n",
              sess.device().num_threads(), ms);
  auto pred = out[1].values<int32_t>();
  std::printf("first test rows: ");
  for (int i = 0; i < 10; ++i)
    std::printf("%c->%c ", 'A' + d.test_y[size_t(i)], 'A' + pred[size_t(i)]);
  std::printf("\ntest accuracy: %.4f\n", acc);
  return {};
}

}  // namespace troupe::cli
