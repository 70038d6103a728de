#include "actors/actor_system.hpp"

#include <gtest/gtest.h>

namespace troupe::actors {
namespace {

using echo_atom = caf::atom_constant<caf::atom("echo")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;

caf::behavior echo_actor() {
  return {
      [](echo_atom, const tensor& t) { return t; },
      [](fail_atom, const std::string& what) -> caf::result<tensor> {
        return to_caf(make_error(errc::invalid_argument, "echo: ", what));
      },
  };
}

TEST(actor_system_test, errors_round_trip_through_caf) {
  error e = make_error(errc::data_loss, "checkpoint 'x': CRC mismatch");
  EXPECT_EQ(from_caf(to_caf(e)), e);
  EXPECT_FALSE(to_caf(error{}));
  EXPECT_FALSE(from_caf(caf::error{}));
  EXPECT_EQ(from_caf(caf::make_error(caf::sec::request_timeout)).code(), errc::deadline_exceeded);
  EXPECT_EQ(from_caf(caf::make_error(caf::sec::request_receiver_down)).code(), errc::unavailable);
}

// Note [Tensors in messages]: a tensor sent in-process arrives with the same buffer.
TEST(actor_system_test, tensors_travel_by_reference) {
  for (auto policy : {scheduler_policy::sharing, scheduler_policy::stealing}) {
    system_config cfg({.scheduler = policy});
    caf::actor_system sys(cfg);
    auto a = sys.spawn(echo_actor);
    caf::scoped_actor self(sys);
    tensor t = tensor::from_vector<float>({3}, {1, 2, 3});
    tensor got;
    self->request(a, std::chrono::seconds(10), echo_atom::value, t)
        .receive([&](const tensor& r) { got = r; },
                 [&](const caf::error& err) { FAIL() << from_caf(err).to_string(); });
    ASSERT_TRUE(got.valid());
    EXPECT_EQ(got.raw_data(), t.raw_data());
    // A failing handler's troupe error reaches the requester unchanged.
    error seen;
    self->request(a, std::chrono::seconds(10), fail_atom::value, std::string("no"))
        .receive([&](const tensor&) { FAIL() << "expected an error"; },
                 [&](const caf::error& err) { seen = from_caf(err); });
    EXPECT_EQ(seen, make_error(errc::invalid_argument, "echo: no"));
    EXPECT_EQ(sys.render(to_caf(seen)), "invalid_argument: echo: no");
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
}

}  // namespace
}  // namespace troupe::actors
