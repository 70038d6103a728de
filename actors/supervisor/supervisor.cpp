#include "actors/supervisor/supervisor.hpp"

#include <deque>

namespace troupe::actors {
namespace {

using clock = std::chrono::steady_clock;

struct child {
  child_spec spec;
  caf::actor handle;
  int restarts = 0;
  std::deque<clock::time_point> failures;  // within the window
};

struct supervisor_state {
  std::string name;
  restart_policy policy;
  std::vector<child> children;
  error gave_up;

  ~supervisor_state() {
    for (child& c : children)
      if (c.handle) caf::anon_send_exit(c.handle, caf::exit_reason::user_shutdown);
  }
};

// Starts (or restarts) child `c`; false when the supervisor gave up.
bool start_child(supervisor_actor::stateful_pointer<supervisor_state> self, child& c,
                 error last_failure) {
  auto& st = self->state;
  for (;;) {
    if (c.restarts > 0 || last_failure) {
      auto now = clock::now();
      c.failures.push_back(now);
      while (!c.failures.empty() && now - c.failures.front() > st.policy.window)
        c.failures.pop_front();
      if (int(c.failures.size()) > st.policy.max_restarts) {
        st.gave_up = make_error(
            errc::aborted, "supervisor '", st.name, "': child '", c.spec.name, "' failed ",
            c.failures.size(), " times within ",
            std::chrono::duration<double>(st.policy.window).count(),
            " s (crash loop), giving up; last failure: ", last_failure.to_string());
        self->quit(to_caf(st.gave_up));
        return false;
      }
      ++c.restarts;
    }
    expected<caf::actor> h = c.spec.start(self->system(), c.restarts);
    if (h) {
      c.handle = std::move(*h);
      self->monitor(c.handle);
      return true;
    }
    last_failure = std::move(h).error_value().with_context(
        str_cat("supervisor '", st.name, "': starting child '", c.spec.name, "'"));
    if (c.restarts == 0 && c.failures.empty()) {
      // A first start that fails is a configuration error, not a crash to retry.
      st.gave_up = last_failure;
      self->quit(to_caf(st.gave_up));
      return false;
    }
  }
}

supervisor_actor::behavior_type supervisor_behavior(
    supervisor_actor::stateful_pointer<supervisor_state> self, std::string name,
    std::vector<child_spec> specs, restart_policy policy) {
  auto& st = self->state;
  st.name = std::move(name);
  st.policy = policy;
  for (child_spec& s : specs) st.children.push_back(child{std::move(s), {}, 0, {}});
  for (child& c : st.children) {
    if (!start_child(self, c, {})) return supervisor_actor::behavior_type::make_empty_behavior();
  }
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    for (child& c : st.children) {
      if (c.handle.address() != dm.source) continue;
      c.handle = caf::actor{};
      if (dm.reason == caf::exit_reason::user_shutdown || dm.reason == caf::exit_reason::normal)
        return;  // stopped on purpose
      error why = from_caf(dm.reason);
      if (why.message().empty()) why = make_error(why.code(), self->system().render(dm.reason));
      start_child(self, c, std::move(why));
      return;
    }
  });
  return {
      [self](get_atom, const std::string& name) -> caf::result<caf::actor> {
        auto& st = self->state;
        if (st.gave_up) return to_caf(st.gave_up);
        for (child& c : st.children) {
          if (c.spec.name == name) return c.handle;
        }
        return to_caf(make_error(errc::not_found, "supervisor '", st.name, "': no child '",
                                 name, "'"));
      },
      [self](stats_atom) {
        supervisor_stats out;
        for (child& c : self->state.children) out.restarts[c.spec.name] = c.restarts;
        return out;
      },
  };
}

}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, std::string name,
                                  std::vector<child_spec> children, restart_policy policy) {
  return sys.spawn(supervisor_behavior, std::move(name), std::move(children), policy);
}

}  // namespace troupe::actors
