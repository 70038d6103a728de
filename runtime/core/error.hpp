#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace troupe {

/// Error codes of troupe, the same set everywhere (they cross actors and nodes).
enum class errc : uint8_t {
  ok = 0,
  invalid_argument,     ///< bad user input: a shape, a dtype, an attribute, bytes
  not_found,            ///< a named thing (node, op, kernel, feed) does not exist
  already_exists,       ///< a name is taken
  out_of_range,         ///< an index or a position past the end (also: input exhausted)
  failed_precondition,  ///< the system is not in a state where the call can work
  unimplemented,        ///< no kernel or feature for this combination
  resource_exhausted,   ///< out of memory or another bounded resource
  data_loss,            ///< stored or received bytes are corrupt
  internal,             ///< a bug in troupe
  cancelled,
  unavailable,
  aborted,
  deadline_exceeded,
};

std::string_view to_string(errc code);

/// The one error type of troupe: a code and a message naming what a user must fix.
/// A default-constructed error means success; `if (err)` is true for a failure.
/// Thread-safety: a value type; distinct objects may be used from any thread.
class [[nodiscard]] error {
 public:
  error() = default;
  error(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  explicit operator bool() const { return code_ != errc::ok; }
  errc code() const { return code_; }
  const std::string& message() const { return message_; }

  /// Returns this error with `prefix` put before the message ("node 'x' (add): ...").
  error with_context(std::string_view prefix) &&;

  /// "invalid_argument: <message>", or "ok".
  std::string to_string() const;

  friend bool operator==(const error& a, const error& b) = default;

 private:
  errc code_ = errc::ok;
  std::string message_;
};

namespace detail {
inline void str_append(std::ostringstream&) {}
template <class T, class... Ts>
void str_append(std::ostringstream& os, const T& x, const Ts&... xs) {
  os << x;
  str_append(os, xs...);
}
}  // namespace detail

/// Concatenates the printed forms of its arguments.
template <class... Ts>
std::string str_cat(const Ts&... xs) {
  std::ostringstream os;
  detail::str_append(os, xs...);
  return os.str();
}

template <class... Ts>
error make_error(errc code, const Ts&... xs) {
  return error{code, str_cat(xs...)};
}

/// Aborts the process with a message: for broken invariants (bugs), never for user input.
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line,
                                   const std::string& message);

}  // namespace troupe
