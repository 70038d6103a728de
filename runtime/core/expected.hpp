#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "runtime/core/error.hpp"

namespace troupe {

/// A value of type T or an error. Functions without a value return `error` instead.
/// Thread-safety: a value type.
template <class T>
class [[nodiscard]] expected {
 public:
  static_assert(!std::is_same_v<T, error>, "use error for functions without a value");
  static_assert(!std::is_reference_v<T>, "expected<T&> is not supported; use T*");

  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::decay_t<U>, error> &&
             !std::is_same_v<std::decay_t<U>, expected>)
  expected(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  expected(error err) : v_(std::in_place_index<1>, std::move(err)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& error_value() const& { return std::get<1>(v_); }
  error error_value() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, error> v_;
};

namespace detail {
inline bool is_failure(const error& e) { return static_cast<bool>(e); }
template <class T>
bool is_failure(const expected<T>& e) { return !e.has_value(); }
inline error take_error(error&& e) { return std::move(e); }
template <class T>
error take_error(expected<T>&& e) { return std::move(e).error_value(); }
inline void take_value(error&&) {}
template <class T>
T take_value(expected<T>&& e) { return std::move(e).value(); }
}  // namespace detail

}  // namespace troupe

/// Propagates a failure: evaluates to the value of an `expected<T>` (or to nothing for an
/// `error`), and returns the error from the enclosing function when there is one.
///   tensor y = TROUPE_TRY(ctx.allocate_output(0, shape));
#define TROUPE_TRY(...)                                                         \
  ({                                                                            \
    auto troupe_try_result_ = (__VA_ARGS__);                                    \
    if (::troupe::detail::is_failure(troupe_try_result_))                       \
      return ::troupe::detail::take_error(std::move(troupe_try_result_));       \
    ::troupe::detail::take_value(std::move(troupe_try_result_));                \
  })

/// Checks user input: returns an invalid_argument error with the message when `cond` fails.
#define TROUPE_REQUIRE(cond, ...)                                                       \
  do {                                                                                  \
    if (!(cond))                                                                        \
      return ::troupe::make_error(::troupe::errc::invalid_argument, __VA_ARGS__);       \
  } while (false)

/// Checks an invariant (a bug if it fails): aborts with the message. Always on.
#define TROUPE_ASSERT(cond, ...)                                                        \
  do {                                                                                  \
    if (!(cond)) [[unlikely]]                                                           \
      ::troupe::assertion_failed(#cond, __FILE__, __LINE__, ::troupe::str_cat(__VA_ARGS__)); \
  } while (false)
