#include "actors/actor_system.hpp"

namespace troupe::actors {

system_config::system_config(const system_options& opts) {
  set("scheduler.policy", opts.scheduler == scheduler_policy::sharing ? caf::atom("sharing")
                                                                      : caf::atom("stealing"));
  if (opts.scheduler_threads > 0) set("scheduler.max-threads", size_t(opts.scheduler_threads));
  // Errors of troupe's category print as troupe prints them.
  add_error_category(error_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string message;
    if (ctx.match_elements<std::string>()) message = ctx.get_as<std::string>(0);
    return error(static_cast<errc>(code), std::move(message)).to_string();
  });
}

caf::error to_caf(const error& e) {
  if (!e) return caf::error{};
  return caf::error(static_cast<uint8_t>(e.code()), error_category,
                    caf::make_message(e.message()));
}

error from_caf(const caf::error& e) {
  if (!e) return {};
  if (e.category() == error_category) {
    std::string message;
    if (e.context().match_elements<std::string>()) message = e.context().get_as<std::string>(0);
    return error(static_cast<errc>(e.code()), std::move(message));
  }
  errc code = errc::internal;
  if (e.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(e.code())) {
      case caf::sec::request_timeout:
        code = errc::deadline_exceeded;
        break;
      case caf::sec::request_receiver_down:
        code = errc::unavailable;
        break;
      case caf::sec::unexpected_message:
      case caf::sec::unexpected_response:
        code = errc::invalid_argument;
        break;
      default:
        break;
    }
  } else if (e.category() == caf::atom("exit")) {
    code = errc::aborted;
  }
  return error(code, caf::to_string(e));
}

}  // namespace troupe::actors
