// Message round trips and tensor-message throughput between actors, under CAF's two
// scheduler policies (troupe::actors::scheduler_policy). Figures: docs/benchmarks.md.
//
//   build/bench/actor_bench [--benchmark_repetitions=5 --benchmark_report_aggregates_only]
//
// BM_blocking_rtt: a non-actor thread (scoped_actor) requests and waits, as a training
//   loop driving actors does.
// BM_actor_rtt: one actor requests of another and continues in .then, as actors talk to
//   each other; 1000 round trips per iteration (items_per_second = round trips/s).
// BM_tensor_stream: one actor sends N tensors of the given size to another, 8 in flight,
//   and each is acknowledged; in-process, so no tensor is copied.

#include <benchmark/benchmark.h>

#include <chrono>

#include "actors/actor_system.hpp"

namespace troupe::actors {
namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using go_atom = caf::atom_constant<caf::atom("go")>;

caf::behavior pong() {
  return {[](ping_atom, int64_t i) { return i; },
          [](ping_atom, const tensor& t) { return int64_t(t.byte_size()); }};
}

scheduler_policy policy_of(const benchmark::State& state) {
  return state.range(0) == 0 ? scheduler_policy::sharing : scheduler_policy::stealing;
}

void set_label(benchmark::State& state) {
  state.SetLabel(policy_of(state) == scheduler_policy::sharing ? "sharing" : "stealing");
}

void BM_blocking_rtt(benchmark::State& state) {
  system_config cfg({.scheduler = policy_of(state)});
  caf::actor_system sys(cfg);
  auto p = sys.spawn(pong);
  caf::scoped_actor self(sys);
  int64_t i = 0;
  for (auto _ : state) {
    self->request(p, caf::infinite, ping_atom::value, i++)
        .receive([](int64_t) {}, [&](caf::error& e) { state.SkipWithError("request failed"); });
  }
  set_label(state);
  self->send_exit(p, caf::exit_reason::user_shutdown);
}

// A driver actor that runs `n` sequential round trips to `target` (or `n` tensor sends,
// `window` in flight) and then answers the request that started it.
struct driver_state {
  caf::actor target;
  int64_t left = 0;
  int64_t in_flight = 0;
  tensor payload;
  caf::response_promise done;
};

caf::behavior rtt_driver(caf::stateful_actor<driver_state>* self, caf::actor target) {
  self->state.target = std::move(target);
  auto next = std::make_shared<std::function<void()>>();
  *next = [self, next] {
    if (self->state.left-- == 0) {
      self->state.done.deliver(true);
      return;
    }
    self->request(self->state.target, caf::infinite, ping_atom::value, self->state.left)
        .then([next](int64_t) { (*next)(); });
  };
  return {[self, next](go_atom, int64_t n) {
    self->state.left = n;
    self->state.done = self->make_response_promise();
    (*next)();
    return self->state.done;
  }};
}

void BM_actor_rtt(benchmark::State& state) {
  system_config cfg({.scheduler = policy_of(state)});
  caf::actor_system sys(cfg);
  auto p = sys.spawn(pong);
  auto d = sys.spawn(rtt_driver, p);
  caf::scoped_actor self(sys);
  constexpr int64_t batch = 1000;
  for (auto _ : state) {
    self->request(d, caf::infinite, go_atom::value, batch).receive([](bool) {}, [](caf::error&) {});
  }
  state.SetItemsProcessed(state.iterations() * batch);
  set_label(state);
  self->send_exit(d, caf::exit_reason::user_shutdown);
  self->send_exit(p, caf::exit_reason::user_shutdown);
}

caf::behavior stream_driver(caf::stateful_actor<driver_state>* self, caf::actor target,
                            tensor payload) {
  self->state.target = std::move(target);
  self->state.payload = std::move(payload);
  auto pump = std::make_shared<std::function<void()>>();
  *pump = [self, pump] {
    auto& st = self->state;
    while (st.in_flight < 8 && st.left > 0) {
      --st.left;
      ++st.in_flight;
      self->request(st.target, caf::infinite, ping_atom::value, st.payload)
          .then([self, pump](int64_t) {
            --self->state.in_flight;
            if (self->state.left == 0 && self->state.in_flight == 0) {
              self->state.done.deliver(true);
            } else {
              (*pump)();
            }
          });
    }
  };
  return {[self, pump](go_atom, int64_t n) {
    self->state.left = n;
    self->state.done = self->make_response_promise();
    (*pump)();
    return self->state.done;
  }};
}

void BM_tensor_stream(benchmark::State& state) {
  system_config cfg({.scheduler = policy_of(state)});
  caf::actor_system sys(cfg);
  const int64_t floats = state.range(1) / 4;
  auto p = sys.spawn(pong);
  auto d = sys.spawn(stream_driver, p, tensor(dtype::float32, tensor_shape{floats}));
  caf::scoped_actor self(sys);
  constexpr int64_t batch = 256;
  for (auto _ : state) {
    self->request(d, caf::infinite, go_atom::value, batch).receive([](bool) {}, [](caf::error&) {});
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * batch * floats * 4);
  set_label(state);
  self->send_exit(d, caf::exit_reason::user_shutdown);
  self->send_exit(p, caf::exit_reason::user_shutdown);
}

BENCHMARK(BM_blocking_rtt)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_actor_rtt)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_tensor_stream)->Args({0, 1 << 20})->Args({1, 1 << 20})->UseRealTime();

}  // namespace
}  // namespace troupe::actors

BENCHMARK_MAIN();
