// Executor overhead per op: a chain of 1,000 trivial ops and a 1,000-wide fan-out.
// Target (issue 2): at most 0.5 us per op. Run: build/bench/executor_bench

#include <benchmark/benchmark.h>

#include "bench/executor_graphs.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"

namespace troupe::bench {
namespace {

constexpr int num_ops = 1000;

void run_graph(benchmark::State& state, bool fan_out, bool identity) {
  platform plat;
  graph g(plat.ops());
  scope s = scope::root(g);
  std::string name = fan_out ? build_fan_out(s, num_ops) : build_chain(s, num_ops, identity);
  if (!s.ok()) {
    state.SkipWithError(s.status().to_string().c_str());
    return;
  }
  session sess(g, plat.kernels(), {.num_threads = int(state.range(0))});
  session::feed_list feeds = {{"x", tensor::scalar<float>(1.0f)}};
  std::vector<std::string> fetches, targets;
  (fan_out ? targets : fetches).push_back(name);
  if (!sess.run(feeds, fetches, targets)) {  // prepares and caches
    state.SkipWithError("run failed");
    return;
  }
  for (auto _ : state) {
    auto r = sess.run(feeds, fetches, targets);
    benchmark::DoNotOptimize(r);
  }
  state.counters["per_op"] = benchmark::Counter(double(state.iterations()) * num_ops,
                                                benchmark::Counter::kIsRate |
                                                    benchmark::Counter::kInvert);
}

void BM_chain_add(benchmark::State& state) { run_graph(state, false, false); }
void BM_chain_identity(benchmark::State& state) { run_graph(state, false, true); }
void BM_fan_out_add(benchmark::State& state) { run_graph(state, true, false); }

// Wall time: the executor's waits on other threads count.
BENCHMARK(BM_chain_add)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_chain_identity)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fan_out_add)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace troupe::bench

BENCHMARK_MAIN();
