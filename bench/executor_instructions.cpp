// Counts instructions per executed op with callgrind (repeatable on noisy machines):
//   valgrind --tool=callgrind --instr-atstart=no build/bench/executor_instructions chain
// Only the timed runs are instrumented (client requests), so graph building, the first
// (preparing) run and start-up are not counted. bench/callgrind_executor.sh runs it.

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else  // valgrind not installed: the program still runs, uninstrumented
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include <cstdio>
#include <cstring>

#include "bench/executor_graphs.hpp"
#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"

int main(int argc, char** argv) {
  using namespace troupe;
  const char* kind = argc > 1 ? argv[1] : "chain";
  const int runs = 10, n = 1000;
  platform plat;
  graph g(plat.ops());
  scope s = scope::root(g);
  bool fan = std::strcmp(kind, "fan_out") == 0;
  std::string name = fan ? bench::build_fan_out(s, n)
                         : bench::build_chain(s, n, std::strcmp(kind, "chain_identity") == 0);
  session sess(g, plat.kernels(), {.num_threads = 1});
  session::feed_list feeds = {{"x", tensor::scalar<float>(1.0f)}};
  std::vector<std::string> fetches, targets;
  (fan ? targets : fetches).push_back(name);
  if (!sess.run(feeds, fetches, targets)) return 1;
  CALLGRIND_START_INSTRUMENTATION;
  for (int i = 0; i < runs; ++i)
    if (!sess.run(feeds, fetches, targets)) return 1;
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("%s: %d runs of %d ops\n", kind, runs, n);
  return 0;
}
