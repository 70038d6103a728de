#include "runtime/core/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace troupe {

std::string_view to_string(errc code) {
  switch (code) {
    case errc::ok: return "ok";
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::out_of_range: return "out_of_range";
    case errc::failed_precondition: return "failed_precondition";
    case errc::unimplemented: return "unimplemented";
    case errc::resource_exhausted: return "resource_exhausted";
    case errc::data_loss: return "data_loss";
    case errc::internal: return "internal";
    case errc::cancelled: return "cancelled";
    case errc::unavailable: return "unavailable";
    case errc::aborted: return "aborted";
    case errc::deadline_exceeded: return "deadline_exceeded";
  }
  return "unknown";
}

error error::with_context(std::string_view prefix) && {
  if (code_ == errc::ok) return std::move(*this);
  message_ = str_cat(prefix, ": ", message_);
  return std::move(*this);
}

std::string error::to_string() const {
  if (code_ == errc::ok) return "ok";
  return str_cat(troupe::to_string(code_), ": ", message_);
}

void assertion_failed(const char* expr, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "troupe: internal error: %s:%d: assertion '%s' failed%s%s\n", file, line,
               expr, message.empty() ? "" : ": ", message.c_str());
  std::abort();
}

}  // namespace troupe
