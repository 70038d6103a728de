#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

struct csv_options {
  char delimiter = ',';
  int64_t max_line_bytes = int64_t(64) << 20;  // a longer record is an error naming its line
  int64_t end = -1;  ///< plain files: stop reading at this byte offset (-1: the end)
};

/// One malformed row: where and why (wrong field count, bad quoting, line too long).
struct csv_problem {
  std::string file;
  int64_t line = 0;
  std::string message;
};

class csv_source;

/// Streams the records of a CSV file (RFC 4180: quoted fields with "" escapes and embedded
/// delimiters/newlines; \n or \r\n line ends; a UTF-8 BOM skipped); plain or gzip (by the
/// magic bytes, not the name). The first record is the header (empty or duplicate column
/// names are an error naming them). A record with the wrong number of fields or bad quoting
/// is skipped, counted and kept in problems() (the first 100 in full, all counted); reading
/// continues. Reads in large blocks; fields are views into the reader's buffer, valid until
/// the next call.
///
/// Details of the rule: a quote inside an unquoted field is kept as a literal character;
/// a character other than a delimiter or line end after a closing quote is bad quoting;
/// blank lines (empty or a lone "\r") are skipped and not counted; a quoted field left open
/// at the end of the file is a malformed record. A record longer than max_line_bytes, a NUL
/// byte, an I/O error or corrupt gzip data is an error that ends the read.
///
/// Thread-safety: not thread-safe; one thread at a time per reader.
class csv_reader {
 public:
  static expected<std::unique_ptr<csv_reader>> open(const std::string& path,
                                                    csv_options o = {});
  /// Reads only the bytes [begin, end) of a plain (not gzip) file, for readers that split
  /// one big file between threads: no header is read (`header` is the file's, from open()),
  /// `begin` should be the start of a record and `end` the end of one or of the file. Line
  /// numbers, in records, problems and errors, count from 1 at `begin`; the caller adds the
  /// lines before it. `end` < 0 reads to the end of the file; open() with `end` >= 0
  /// (begin == 0) reads the header and stops at `end` likewise.
  static expected<std::unique_ptr<csv_reader>> open_range(const std::string& path,
                                                          std::vector<std::string> header,
                                                          int64_t begin, int64_t end,
                                                          csv_options o = {});
  ~csv_reader();
  csv_reader(const csv_reader&) = delete;
  csv_reader& operator=(const csv_reader&) = delete;

  const std::vector<std::string>& header() const { return header_; }
  /// The next good record: true and fields filled (one per column, unquoted and unescaped),
  /// `line` = its first line number (1-based, header is line 1); false at the end of the
  /// file. Errors (I/O, gzip corruption, binary garbage: a NUL byte in the text) end the read.
  expected<bool> next(std::vector<std::string_view>& fields, int64_t& line);
  int64_t rows_read() const { return rows_read_; }            ///< good records so far
  int64_t malformed_count() const { return malformed_count_; }  ///< skipped records so far
  const std::vector<csv_problem>& problems() const { return problems_; }
  const std::string& path() const { return path_; }
  /// The line number of the next record (after the end: 1 + the lines read).
  int64_t line() const { return line_; }
  /// True when the input ended inside a quoted field (an "unterminated quoted field"
  /// problem): for a range, its end cut a record, so the split was not at a record boundary.
  bool ended_inside_quotes() const { return ended_inside_quotes_; }
  /// True for gzip input.
  bool is_gzip() const;

 private:
  // One field of the record being parsed: offsets into buf_, and whether it holds "" escapes.
  struct field_span {
    size_t begin;
    size_t end;
    bool unescape;
  };
  enum class parse_result : uint8_t { record, blank, malformed, need_more, end };

  csv_reader(std::string path, csv_options o, std::unique_ptr<csv_source> src);
  error read_header();
  error fill();
  expected<parse_result> parse_record();
  error nul_error(const char* at) const;
  void add_problem(int64_t line, std::string message);

  std::string path_;
  csv_options opt_;
  std::unique_ptr<csv_source> src_;
  bool stop_[256] = {};  // bytes that end an unquoted field: the delimiter, '\n', '\0'

  std::unique_ptr<char[]> buf_;  // capacity cap_ + 1: a '\0' sentinel sits at buf_[end_]
  size_t cap_ = 0;
  size_t pos_ = 0;  // start of the unparsed bytes
  size_t end_ = 0;  // end of the valid bytes
  bool eof_ = false;
  int64_t line_ = 1;  // line number at pos_
  // Result of parse_record(): the fields and the size of the record in bytes and lines.
  std::vector<field_span> spans_;
  size_t record_end_ = 0;
  int64_t record_lines_ = 0;
  std::string bad_message_;
  std::vector<std::string> header_;
  int64_t rows_read_ = 0;
  int64_t malformed_count_ = 0;
  std::vector<csv_problem> problems_;
  bool ended_inside_quotes_ = false;
  error failed_;
};

/// The type of a column, by the documented rule: empty fields are missing and ignored; a
/// column whose present values all parse as 64-bit integers is int; else if all parse as
/// finite or non-finite doubles (strtod syntax, "nan", "inf") it is float; else string.
/// (bool is not a separate type: "true"/"false" columns are strings.)
enum class column_type : uint8_t { integer, floating, string };
std::string_view column_type_name(column_type t);
/// Narrows `current` by one present value (integer -> floating -> string, never back).
/// An empty value is missing and leaves `current` as it is.
column_type refine_type(column_type current, std::string_view value);
/// Parsers used by the statistics: false when the text is not one. No surrounding
/// whitespace is accepted; a leading '+' is; an int64 overflow is not an integer.
bool parse_int64(std::string_view s, int64_t& out);
/// Decimal strtod syntax (no hex), "nan", "inf", "infinity" in any case; a value out of
/// double's range parses as +-inf (or 0 on underflow), as with strtod.
bool parse_double(std::string_view s, double& out);

/// "" when two headers are equal, else what differs: "column 3 is 'x', expected 'y'" or
/// "has 4 columns, expected 5". Used to check that files read together share a header.
std::string header_difference(const std::vector<std::string>& want,
                              const std::vector<std::string>& got);

}  // namespace troupe::pipeline
