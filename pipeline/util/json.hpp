#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// One value of a parsed JSON document (a small DOM: the statistics files are at most a few
/// megabytes, so a tree is simpler than a streaming reader and fast enough).
/// `source` views the value's own text in the parsed input (valid while that text lives), so
/// a caller may hand a nested value's text to another reader unchanged.
/// Thread-safety: a value type.
struct json_value {
  enum class kind : uint8_t { null, boolean, number, string, array, object };
  kind k = kind::null;
  bool b = false;       ///< kind::boolean
  double number = 0;    ///< kind::number (NaN, +-inf for the bare tokens NaN, Infinity)
  std::string text;     ///< kind::string, unescaped (UTF-8)
  std::string_view source;
  std::vector<json_value> items;                              ///< kind::array
  std::vector<std::pair<std::string, json_value>> members;  ///< kind::object, in order

  /// The first member called `name`, or nullptr (also when this is not an object).
  const json_value* get(std::string_view name) const;
  /// An integer number whose text is exactly an integer in range (no fraction or exponent):
  /// true and `out` set; else false.
  bool as_int64(int64_t& out) const;
  bool as_uint64(uint64_t& out) const;
  /// A number, or one of the strings "NaN", "Infinity", "-Infinity" that
  /// append_json_number writes for non-finite values: true and `out` set; else false.
  bool as_double(double& out) const;
};

/// Parses one JSON document (RFC 8259; also the bare tokens NaN, Infinity and -Infinity that
/// some writers emit). Strings: \u escapes with surrogate pairs, no raw control characters.
/// Errors name `what` (the caller, e.g. "stats_from_json"), the line and column (1-based,
/// in bytes) and what was expected and found: "what: JSON line 2, column 6: expected ':',
/// got '3'". Nesting deeper than `max_depth` arrays/objects is an error (no stack overflow
/// on hostile input).
/// Thread-safety: may be called from any thread.
expected<json_value> parse_json(std::string_view text, std::string_view what,
                                int max_depth = 64);

/// Appends `s` as a JSON string in quotes: '"', '\\' and control characters escaped, other
/// bytes (UTF-8 included) unchanged.
void append_json_string(std::string& out, std::string_view s);
/// Appends `v` with the shortest text that reads back as the same double (std::to_chars);
/// NaN and infinities as the strings "NaN", "Infinity", "-Infinity".
void append_json_number(std::string& out, double v);

}  // namespace troupe::pipeline
