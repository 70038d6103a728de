#include "actors/supervisor/supervisor.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "actors/testing/actor_test_util.hpp"

namespace troupe::actors {
namespace {

using namespace testing;
using namespace std::chrono_literals;

class supervisor_test : public ::testing::Test {
 protected:
  counter_model m;
  system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  temp_dir dirs;

  // A device child that restores from its own checkpoint directory when (re)started.
  child_spec device_child(const std::string& name) {
    std::string dir = (dirs.path / name.substr(1)).string();  // "/cpu:0" -> "cpu:0"
    return {name, [this, name, dir](caf::actor_system& s, int) -> expected<caf::actor> {
              return caf::actor_cast<caf::actor>(spawn_device(
                  s, m.g, the_platform().kernels(),
                  {.name = name, .exit_on_failure = true, .checkpoint_dir = dir}));
            }};
  }

  expected<caf::actor> get(const supervisor_actor& sup, const std::string& name) {
    expected<caf::actor> out = make_error(errc::deadline_exceeded, "no answer");
    self->request(sup, 10s, get_atom::value, name)
        .receive([&](caf::actor& a) { out = std::move(a); },
                 [&](caf::error& e) { out = from_caf(e); });
    return out;
  }
  // The child's handle once it differs from `old` (after a restart); bounded.
  device_actor next_handle(const supervisor_actor& sup, const std::string& name,
                           const caf::actor& old) {
    for (int i = 0; i < 500; ++i) {
      auto h = get(sup, name);
      if (!h) break;
      if (*h && *h != old) return caf::actor_cast<device_actor>(*h);
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no restarted child '" << name << "'";
    return {};
  }
  device_actor child(const supervisor_actor& sup, const std::string& name) {
    auto h = get(sup, name);
    EXPECT_TRUE(h.has_value()) << h.error_value().to_string();
    return h ? caf::actor_cast<device_actor>(*h) : device_actor{};
  }
  void save(const device_actor& d, int64_t step) {
    self->request(d, 30s, save_atom::value, step)
        .receive([](int64_t) {}, [&](caf::error& e) { ADD_FAILURE() << from_caf(e).to_string(); });
  }
  supervisor_stats stats(const supervisor_actor& sup) {
    supervisor_stats out;
    self->request(sup, 10s, stats_atom::value)
        .receive([&](supervisor_stats& s) { out = s; },
                 [&](caf::error& e) { ADD_FAILURE() << from_caf(e).to_string(); });
    return out;
  }
  error down_reason(const caf::actor_addr& a) {
    error reason = make_error(errc::deadline_exceeded, "no down message");
    self->receive([&](caf::down_msg& dm) {
                    if (dm.source == a) reason = from_caf(dm.reason);
                  },
                  caf::after(30s) >> [] {});
    return reason;
  }
};

// Killing one device restarts it alone, from its newest checkpoint; the other keeps its
// state; the driver redoes the steps after the checkpoint and ends where an undisturbed
// run would.
TEST_F(supervisor_test, restarts_a_killed_device_from_its_checkpoint) {
  auto sup = spawn_supervisor(sys, "job", {device_child("/cpu:0"), device_child("/cpu:1")});
  device_actor d0 = child(sup, "/cpu:0"), d1 = child(sup, "/cpu:1");
  for (const device_actor& d : {d0, d1}) {
    ASSERT_TRUE(run_on(self, d, run_request{{}, {}, {m.init}}).has_value());
  }
  for (int step = 1; step <= 8; ++step) {
    ASSERT_EQ(add(self, d0, m, 1.0f).value(), float(step));
    ASSERT_EQ(add(self, d1, m, 1.0f).value(), float(step));
    if (step == 5) save(d0, 5);
  }
  self->send_exit(d0, caf::exit_reason::kill);
  device_actor again = next_handle(sup, "/cpu:0", caf::actor_cast<caf::actor>(d0));
  ASSERT_TRUE(again);
  EXPECT_EQ(add(self, again, m, 0.0f).value(), 5.0f);
  for (int step = 6; step <= 8; ++step) EXPECT_EQ(add(self, again, m, 1.0f).value(), float(step));
  EXPECT_EQ(add(self, d1, m, 0.0f).value(), 8.0f);  // untouched
  supervisor_stats s = stats(sup);
  EXPECT_EQ(s.restarts["/cpu:0"], 1);
  EXPECT_EQ(s.restarts["/cpu:1"], 0);
  // The old handle is dead: a step sent there fails instead of hanging.
  auto dead = run_on(self, d0, run_request{{}, {m.count}, {}});
  ASSERT_FALSE(dead.has_value());
  EXPECT_EQ(dead.error_value().code(), errc::unavailable);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
}

// A failing kernel (exit_on_failure) is a crash too: the device is restarted.
TEST_F(supervisor_test, restarts_a_device_whose_step_failed) {
  auto sup = spawn_supervisor(sys, "job", {device_child("/cpu:0")});
  device_actor d = child(sup, "/cpu:0");
  ASSERT_TRUE(run_on(self, d, run_request{{}, {}, {m.init}}).has_value());
  save(d, 0);
  EXPECT_FALSE(run_on(self, d, run_request{{}, {"no_such_node"}, {}}).has_value());
  device_actor again = next_handle(sup, "/cpu:0", caf::actor_cast<caf::actor>(d));
  ASSERT_TRUE(again);
  EXPECT_EQ(add(self, again, m, 2.0f).value(), 2.0f);
  EXPECT_EQ(stats(sup).restarts["/cpu:0"], 1);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
}

// More than max_restarts failures within the window: the supervisor stops the job with
// an error naming the child, instead of restarting forever.
TEST_F(supervisor_test, crash_loop_stops_the_job_with_a_clear_error) {
  auto sup = spawn_supervisor(sys, "job", {device_child("/cpu:0"), device_child("/cpu:1")},
                              {.max_restarts = 2, .window = std::chrono::seconds(60)});
  self->monitor(sup);
  device_actor other = child(sup, "/cpu:1");
  self->monitor(other);
  caf::actor current = caf::actor_cast<caf::actor>(child(sup, "/cpu:0"));
  for (int kill = 0; kill < 2; ++kill) {
    self->send_exit(current, caf::exit_reason::kill);
    current = caf::actor_cast<caf::actor>(next_handle(sup, "/cpu:0", current));
    ASSERT_TRUE(current);
  }
  self->send_exit(current, caf::exit_reason::kill);  // the third failure
  error sup_reason, other_reason;
  for (int i = 0; i < 2; ++i) {
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source == sup.address()) sup_reason = from_caf(dm.reason);
          if (dm.source == other.address()) other_reason = from_caf(dm.reason);
        },
        caf::after(30s) >> [] { ADD_FAILURE() << "no down message"; });
  }
  EXPECT_EQ(sup_reason.code(), errc::aborted) << sup_reason.to_string();
  EXPECT_NE(sup_reason.message().find("child '/cpu:0' failed 3 times"), std::string::npos)
      << sup_reason.message();
  EXPECT_NE(sup_reason.message().find("crash loop"), std::string::npos) << sup_reason.message();
  // The supervisor took its other child down with it.
  EXPECT_EQ(other_reason.code(), errc::aborted) << other_reason.to_string();
}

TEST_F(supervisor_test, failing_first_start_ends_the_supervisor) {
  child_spec broken{"/cpu:9", [](caf::actor_system&, int) -> expected<caf::actor> {
                      return make_error(errc::invalid_argument, "no such device");
                    }};
  auto sup = spawn_supervisor(sys, "job", {broken});
  self->monitor(sup);
  error reason = down_reason(sup.address());
  EXPECT_EQ(reason.code(), errc::invalid_argument);
  EXPECT_NE(reason.message().find("starting child '/cpu:9'"), std::string::npos)
      << reason.message();
}

TEST_F(supervisor_test, unknown_child_is_not_found) {
  auto sup = spawn_supervisor(sys, "job", {device_child("/cpu:0")});
  auto h = get(sup, "/gpu:0");
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error_value().code(), errc::not_found);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
}

TEST_F(supervisor_test, stopping_the_supervisor_stops_its_children) {
  auto sup = spawn_supervisor(sys, "job", {device_child("/cpu:0")});
  device_actor d = child(sup, "/cpu:0");
  self->monitor(d);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  error reason = down_reason(d.address());
  EXPECT_NE(reason.code(), errc::deadline_exceeded) << "the child is still running";
}

}  // namespace
}  // namespace troupe::actors
