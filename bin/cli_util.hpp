#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace troupe::cli {

/// Prints "troupe <command>: <message>" and then `usage` (one or more lines) to stderr;
/// returns 2, the exit code of a usage error.
int usage_error(std::string_view command, std::string_view usage, std::string_view message);

/// The files a --data argument names: a glob's matches (sorted), or the path itself when
/// nothing matches (reading it then reports the missing file).
std::vector<std::string> expand_glob(const std::string& pattern);

/// Parses all of `v` as a number into `out`; false when `v` is null, empty, not a number,
/// out of range or followed by other characters.
template <class T>
bool parse_number(const char* v, T& out) {
  if (!v) return false;
  const std::string_view s = v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

/// The whole content of `path`, or nothing when it cannot be opened.
std::optional<std::string> read_whole_file(const std::string& path);

/// Writes `bytes` to `path`, replacing what was there; false when that fails.
[[nodiscard]] bool write_whole_file(const std::string& path, std::string_view bytes);

}  // namespace troupe::cli
