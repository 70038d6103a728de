#include "actors/device/device_actor.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "actors/testing/actor_test_util.hpp"

namespace troupe::actors {
namespace {

using namespace testing;
using namespace std::chrono_literals;

class device_actor_test : public ::testing::Test {
 protected:
  counter_model m;
  system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  device_actor spawn(device_options o = {}) {
    device_actor d = spawn_device(sys, m.g, the_platform().kernels(), std::move(o));
    auto r = run_on(self, d, run_request{{}, {}, {m.init}});
    EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
    return d;
  }
  device_stats stats(const device_actor& d) {
    device_stats out;
    self->request(d, 10s, stats_atom::value)
        .receive([&](device_stats& s) { out = s; },
                 [&](caf::error& e) { ADD_FAILURE() << from_caf(e).to_string(); });
    return out;
  }
};

TEST_F(device_actor_test, runs_steps_and_keeps_state) {
  device_actor d = spawn({.name = "/cpu:1", .threads = 2});
  EXPECT_EQ(add(self, d, m, 2.0f).value(), 2.0f);
  EXPECT_EQ(add(self, d, m, 3.0f).value(), 5.0f);
  device_stats s = stats(d);
  EXPECT_EQ(s.name, "/cpu:1");
  EXPECT_EQ(s.threads, 2);
  EXPECT_EQ(s.steps, 5);  // init + two (add, read) pairs
  EXPECT_EQ(s.failed, 0);
  self->send_exit(d, caf::exit_reason::user_shutdown);
}

// Steps sent without waiting run one at a time, in the order sent: each read sees
// exactly the adds sent before it.
TEST_F(device_actor_test, answers_in_order) {
  device_actor d = spawn();
  constexpr int n = 20;
  std::vector<float> seen;
  for (int i = 0; i < n; ++i) {
    self->send(d, run_atom::value, run_request{{{m.delta, tensor::scalar<float>(1.0f)}}, {}, {m.inc}});
    self->send(d, run_atom::value, run_request{{}, {m.count}, {}});
  }
  for (int i = 0; i < 2 * n; ++i) {
    self->receive([&](run_result& r) {
                    if (!r.fetches.empty()) seen.push_back(r.fetches[0].data<float>()[0]);
                  },
                  [&](caf::error& e) { ADD_FAILURE() << from_caf(e).to_string(); },
                  caf::after(30s) >> [&] { ADD_FAILURE() << "no answer"; });
  }
  ASSERT_EQ(seen.size(), size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(seen[size_t(i)], float(i + 1));
  self->send_exit(d, caf::exit_reason::user_shutdown);
}

// A failing step is answered with the error naming the device and node; without
// exit_on_failure the device stays and keeps its state.
TEST_F(device_actor_test, failing_step_is_reported_and_device_survives) {
  device_actor d = spawn({.name = "/cpu:0"});
  EXPECT_EQ(add(self, d, m, 4.0f).value(), 4.0f);
  // A matrix fed where a scalar is expected.
  auto bad = run_on(self, d,
                    run_request{{{m.delta, tensor(dtype::float32, tensor_shape{2, 2})}}, {}, {m.inc}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error_value().code(), errc::invalid_argument);
  EXPECT_NE(bad.error_value().message().find("device /cpu:0"), std::string::npos)
      << bad.error_value().message();
  EXPECT_NE(bad.error_value().message().find("delta"), std::string::npos)
      << bad.error_value().message();
  auto unknown = run_on(self, d, run_request{{}, {"no_such_node"}, {}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error_value().code(), errc::not_found);
  EXPECT_EQ(add(self, d, m, 1.0f).value(), 5.0f);
  EXPECT_EQ(stats(d).failed, 2);
  self->send_exit(d, caf::exit_reason::user_shutdown);
}

TEST_F(device_actor_test, exit_on_failure_ends_the_actor_with_the_error) {
  device_actor d = spawn({.name = "/cpu:2", .exit_on_failure = true});
  self->monitor(d);
  auto bad = run_on(self, d, run_request{{}, {"no_such_node"}, {}});
  ASSERT_FALSE(bad.has_value());
  error reason;
  self->receive([&](caf::down_msg& dm) { reason = from_caf(dm.reason); },
                caf::after(30s) >> [&] { ADD_FAILURE() << "the device did not exit"; });
  EXPECT_EQ(reason.code(), errc::not_found);
  EXPECT_NE(reason.message().find("device /cpu:2"), std::string::npos) << reason.message();
}

// Killed while a slow step runs: the requester gets an unavailable error, never hangs,
// and the actor's state (with its runner thread) goes away cleanly.
TEST_F(device_actor_test, killed_mid_step_answers_unavailable) {
  device_actor d = spawn();
  self->send(d, run_atom::value, run_request{{}, {m.slow}, {}});
  self->send(d, run_atom::value, run_request{{}, {m.count}, {}});
  std::this_thread::sleep_for(5ms);  // let the first step start
  self->send_exit(d, caf::exit_reason::kill);
  int errors = 0;
  for (int i = 0; i < 2; ++i) {
    self->receive([&](run_result&) {},  // the slow step may have finished first
                  [&](caf::error& e) {
                    ++errors;
                    EXPECT_EQ(from_caf(e).code(), errc::unavailable) << from_caf(e).to_string();
                  },
                  caf::after(30s) >> [&] { ADD_FAILURE() << "no answer after the kill"; });
  }
  EXPECT_GE(errors, 1);
}

TEST_F(device_actor_test, saves_and_a_new_device_restores) {
  temp_dir dir;
  device_actor d = spawn({.checkpoint_dir = dir.path.string()});
  EXPECT_EQ(add(self, d, m, 7.0f).value(), 7.0f);
  int64_t saved = -1;
  self->request(d, 30s, save_atom::value, int64_t(1))
      .receive([&](int64_t s) { saved = s; },
               [&](caf::error& e) { ADD_FAILURE() << from_caf(e).to_string(); });
  EXPECT_EQ(saved, 1);
  EXPECT_EQ(add(self, d, m, 1.0f).value(), 8.0f);  // after the checkpoint: lost below
  self->send_exit(d, caf::exit_reason::kill);
  device_actor again = spawn_device(sys, m.g, the_platform().kernels(),
                                    {.checkpoint_dir = dir.path.string()});
  EXPECT_EQ(stats(again).restored_step, 1);
  EXPECT_EQ(add(self, again, m, 0.0f).value(), 7.0f);
  self->send_exit(again, caf::exit_reason::user_shutdown);
}

TEST_F(device_actor_test, save_without_a_directory_is_an_error) {
  device_actor d = spawn();
  error e;
  self->request(d, 30s, save_atom::value, int64_t(1))
      .receive([&](int64_t) { ADD_FAILURE() << "expected an error"; },
               [&](caf::error& err) { e = from_caf(err); });
  EXPECT_EQ(e.code(), errc::failed_precondition);
  self->send_exit(d, caf::exit_reason::user_shutdown);
}

// A damaged checkpoint directory ends a starting device with an error naming it.
TEST_F(device_actor_test, restore_failure_ends_the_actor) {
  temp_dir dir;
  std::filesystem::path file = dir.path / "not_a_directory";
  { std::ofstream(file) << "x"; }
  device_actor d = spawn_device(sys, m.g, the_platform().kernels(),
                                {.name = "/cpu:3", .checkpoint_dir = file.string()});
  self->monitor(d);
  error reason;
  self->receive([&](caf::down_msg& dm) { reason = from_caf(dm.reason); },
                caf::after(30s) >> [&] { ADD_FAILURE() << "the device did not exit"; });
  EXPECT_EQ(reason.code(), errc::invalid_argument) << reason.to_string();
  EXPECT_NE(reason.message().find("restoring from"), std::string::npos) << reason.message();
}

}  // namespace
}  // namespace troupe::actors
