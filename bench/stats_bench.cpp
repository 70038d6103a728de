// Statistics building blocks: CSV parsing, column_stats adds by kind of column, the three
// sketches, and compute_stats over one file with 1 and 2 threads. The end-to-end
// comparison with pandas and TFDV is bench/stats_vs_peers.py. Run: build/bench/stats_bench
// (it writes a 200,000-row CSV like the peers benchmark's to the temp directory once).

#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pipeline/data/csv.hpp"
#include "pipeline/stats/sketches.hpp"
#include "pipeline/stats/statistics.hpp"

namespace troupe::pipeline {
namespace {

constexpr int k_rows = 200'000;

// The peers benchmark's layout: 10 numeric columns (even: ints 0..999, odd: gaussians with
// 6 decimals) and 5 categorical ones with 3, 10, 100, 1000 and 20,000 values.
std::string row_field(std::mt19937_64& rng, int column) {
  static constexpr int cats[] = {3, 10, 100, 1000, 20000};
  if (column < 10) {
    if (column % 2 == 0) return std::to_string(rng() % 1000);
    char buf[32];
    std::normal_distribution<double> normal;
    std::snprintf(buf, sizeof buf, "%.6f", normal(rng));
    return buf;
  }
  const int j = column - 10;
  return str_cat("c", j, "_", rng() % uint64_t(cats[j]));
}

const std::string& bench_csv() {
  static const std::string path = [] {
    const auto p = std::filesystem::temp_directory_path() / "troupe_stats_bench_200k.csv";
    if (!std::filesystem::exists(p)) {
      std::mt19937_64 rng(7);
      std::ofstream f(p.string() + ".tmp", std::ios::binary);
      for (int c = 0; c < 15; ++c)
        f << (c ? "," : "") << (c < 10 ? "x" : "s") << (c < 10 ? c : c - 10);
      f << "\n";
      for (int r = 0; r < k_rows; ++r) {
        for (int c = 0; c < 15; ++c) f << (c ? "," : "") << row_field(rng, c);
        f << "\n";
      }
      f.close();
      std::filesystem::rename(p.string() + ".tmp", p);
    }
    return p.string();
  }();
  return path;
}

void csv_parse(benchmark::State& state) {
  bench_csv();  // written once, outside the timing
  int64_t rows = 0;
  for (auto _ : state) {
    auto r = csv_reader::open(bench_csv());
    if (!r) {
      state.SkipWithError(r.error_value().to_string().c_str());
      return;
    }
    std::vector<std::string_view> fields;
    int64_t line = 0;
    while (*(*r)->next(fields, line)) benchmark::DoNotOptimize(fields.data());
    rows += (*r)->rows_read();
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(int64_t(state.iterations()) *
                          int64_t(std::filesystem::file_size(bench_csv())));
}
BENCHMARK(csv_parse)->Unit(benchmark::kMillisecond);

// column_stats::add over 100,000 fields of one column of the layout above.
void column_add(benchmark::State& state) {
  const int column = int(state.range(0));
  std::mt19937_64 rng(11);
  std::vector<std::string> values(100'000);
  for (auto& v : values) v = row_field(rng, column);
  for (auto _ : state) {
    column_stats c("c");
    for (const auto& v : values) c.add(v);
    benchmark::DoNotOptimize(c.count);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(values.size()));
  state.SetLabel(column == 0 ? "ints 0..999" : column == 1 ? "gaussians (distinct)"
                 : column == 10 ? "3 categories" : "20,000 categories");
}
BENCHMARK(column_add)->Arg(0)->Arg(1)->Arg(10)->Arg(14)->Unit(benchmark::kMillisecond);

void kll_add(benchmark::State& state) {
  std::mt19937_64 rng(3);
  std::vector<double> values(1'000'000);
  for (double& v : values) v = std::uniform_real_distribution<double>()(rng);
  for (auto _ : state) {
    kll_sketch k;
    for (double v : values) k.add(v);
    benchmark::DoNotOptimize(k.count());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(values.size()));
}
BENCHMARK(kll_add)->Unit(benchmark::kMillisecond);

std::vector<std::string> strings(size_t n, uint64_t universe) {
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(str_cat("value-", (i * 7919) % universe));
  return out;
}

void hll_add(benchmark::State& state) {
  const auto values = strings(1'000'000, 250'000);
  for (auto _ : state) {
    hyperloglog h;
    for (const auto& v : values) h.add(v);
    benchmark::DoNotOptimize(h.estimate());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(values.size()));
}
BENCHMARK(hll_add)->Unit(benchmark::kMillisecond);

// top_k::add: arg 0 = capacity. 1,000,000 adds over 1,000 or 250,000 distinct values.
void top_k_add(benchmark::State& state) {
  const auto values = strings(1'000'000, uint64_t(state.range(1)));
  for (auto _ : state) {
    top_k t(size_t(state.range(0)));
    for (const auto& v : values) t.add(v);
    benchmark::DoNotOptimize(t.size());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(values.size()));
  state.SetLabel(state.range(1) <= state.range(0) ? "exact" : "saturated");
}
BENCHMARK(top_k_add)
    ->Args({10'000, 1'000})
    ->Args({10'000, 250'000})
    ->Unit(benchmark::kMillisecond);

void compute_stats_file(benchmark::State& state) {
  stats_options o;
  o.threads = int(state.range(0));
  o.piece_bytes = 4 << 20;  // the 200,000-row file is ~17 MB: 4 pieces
  bench_csv();
  for (auto _ : state) {
    auto s = compute_stats({bench_csv()}, o);
    if (!s) {
      state.SkipWithError(s.error_value().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(s->rows);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * k_rows);
}
BENCHMARK(compute_stats_file)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace troupe::pipeline

BENCHMARK_MAIN();
