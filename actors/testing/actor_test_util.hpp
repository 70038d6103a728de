#pragma once

// Shared by the actor tests: a tiny stateful model and bounded request helpers.

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "actors/actor_system.hpp"
#include "actors/device/device_actor.hpp"
#include "kernels/platform.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"
#include "runtime/ops/variable_ops.hpp"

namespace troupe::actors::testing {

inline const platform& the_platform() {
  static const platform p;
  return p;
}

/// A counter: "count" (float scalar variable, 0 at init), "inc" adds "delta" (a fed
/// float scalar) to it, "init" initializes it, and "slow" multiplies two 512 x 512
/// matrices `repeat` times for steps that take a while.
struct counter_model {
  std::shared_ptr<graph> g = std::make_shared<graph>(the_platform().ops());
  std::string count, inc, init, delta, slow;

  counter_model() {
    scope s = scope::root(*g);
    variable c = make_variable(s, "count", ops::constant<float>(s, 0.0f));
    output d = ops::placeholder(s.with_name("delta"), dtype::float32, partial_shape{});
    operation add = ops::assign_add(s.with_name("inc"), c, d);
    output m = ops::constant(s, tensor(dtype::float32, tensor_shape{512, 512}));
    output p = m;
    for (int i = 0; i < 8; ++i) p = ops::matmul(s, p, m);
    count = c.value.name();
    inc = g->at(add.node).name;
    init = g->at(c.initializer.node).name;
    delta = d.name();
    slow = p.name();
  }
};

/// Sends `req` to `dev` and waits at most 30 s: the answer or the error.
inline expected<run_result> run_on(caf::scoped_actor& self, const device_actor& dev,
                                   run_request req) {
  expected<run_result> out = make_error(errc::deadline_exceeded, "no answer");
  self->request(dev, std::chrono::seconds(30), run_atom::value, std::move(req))
      .receive([&](run_result& r) { out = std::move(r); },
               [&](caf::error& e) { out = from_caf(e); });
  return out;
}

/// Adds `delta` to the counter and returns the new value (or the error).
inline expected<float> add(caf::scoped_actor& self, const device_actor& dev,
                           const counter_model& m, float delta) {
  run_request req{{{m.delta, tensor::scalar<float>(delta)}}, {}, {m.inc}};
  TROUPE_TRY(run_on(self, dev, std::move(req)));
  run_result r = TROUPE_TRY(run_on(self, dev, run_request{{}, {m.count}, {}}));
  return r.fetches.at(0).data<float>()[0];
}

/// A fresh empty directory under the system's temp dir, removed by the destructor.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("troupe_actor_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace troupe::actors::testing
