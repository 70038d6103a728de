#include "bin/csv.hpp"

#include <fstream>

namespace troupe::cli {
namespace {

expected<std::vector<std::string>> split_line(const std::string& line, const std::string& where) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(field));
      field.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  TROUPE_REQUIRE(!quoted, where, ": unterminated quoted field");
  out.push_back(std::move(field));
  return out;
}

}  // namespace

expected<size_t> csv_table::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  std::string cols;
  for (const auto& h : header) cols += (cols.empty() ? "" : ", ") + h;
  return make_error(errc::not_found, path, ": no column '", name, "' (columns: ", cols, ")");
}

expected<csv_table> read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, path, ": cannot open the file");
  csv_table t;
  t.path = path;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto fields = TROUPE_TRY(split_line(line, str_cat(path, ":", line_no)));
    if (t.header.empty()) {
      t.header = std::move(fields);
      continue;
    }
    TROUPE_REQUIRE(fields.size() == t.header.size(), path, ":", line_no, ": expected ",
                   t.header.size(), " fields, got ", fields.size());
    t.rows.push_back(std::move(fields));
  }
  TROUPE_REQUIRE(!t.header.empty(), path, ": the file is empty (expected a header row)");
  return t;
}

}  // namespace troupe::cli
