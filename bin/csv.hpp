#pragma once

#include <string>
#include <vector>

#include "runtime/core/expected.hpp"

namespace troupe::cli {

/// A small table read from a CSV file with a header row (RFC 4180 quoting).
struct csv_table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// Column index by name, or a not_found error naming the file and the columns.
  expected<size_t> column(const std::string& name) const;
  std::string path;
};

/// Reads a whole CSV file. Errors name the file and line: a missing file, a row with
/// the wrong number of fields, an unterminated quote.
expected<csv_table> read_csv(const std::string& path);

}  // namespace troupe::cli
