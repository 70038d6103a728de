#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/data/csv.hpp"
#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

// Record shards: columnar batches of table rows, one Cap'n Proto message per batch, read
// back zero-copy from a memory map. docs/formats/records.md describes the file format;
// schemas/records.capnp holds the messages. No Cap'n Proto type appears in this header.

/// Default and largest number of rows per batch.
inline constexpr int64_t default_rows_per_batch = 4096;
inline constexpr int64_t max_rows_per_batch = int64_t(1) << 20;
/// A batch is cut early once one string column's blob would pass this many bytes (one Cap'n
/// Proto Data holds at most 2^29-1 bytes); a single value above it cannot be stored.
inline constexpr size_t max_string_blob_bytes = size_t(256) << 20;
/// File name extension of record shards.
inline constexpr std::string_view record_file_extension = ".trec";

/// A column of a record shard: its name and its type (csv.hpp's rule).
struct record_column {
  std::string name;
  column_type type = column_type::string;
  friend bool operator==(const record_column&, const record_column&) = default;
};

/// Writes one record shard file: a header, the schema message, one message per batch of up
/// to rows_per_batch rows, and a footer. Rows are given as text (as a CSV reader yields
/// them) and converted by the column's type; an empty field is null (missing) in every
/// column type, strings included. Nothing is visible at `path` in a readable state until
/// finish() succeeds (an unfinished file has no footer and readers reject it).
/// Thread-safety: not thread-safe; one thread at a time per writer.
class record_writer {
 public:
  /// Creates (truncates) `path`. Errors: no columns, an empty or duplicate name,
  /// rows_per_batch outside [1, max_rows_per_batch], a file that cannot be created.
  static expected<std::unique_ptr<record_writer>> create(
      const std::string& path, std::vector<record_column> columns,
      int64_t rows_per_batch = default_rows_per_batch);
  ~record_writer();
  record_writer(const record_writer&) = delete;
  record_writer& operator=(const record_writer&) = delete;

  /// Appends one row (one field per column). A field that does not fit its column's type
  /// (text in an int column, an int64 overflow, a string above max_string_blob_bytes) or a
  /// wrong field count is invalid_argument naming the column and the value, and the row is
  /// not written (nothing of it). Write failures are errors that end the writer.
  error add_row(std::span<const std::string_view> fields);
  /// Writes the last batch and the footer, flushes and syncs the file to disk.
  error finish();

  int64_t rows() const { return rows_; }
  int64_t batches() const { return batches_; }
  int64_t bytes_written() const { return bytes_; }
  const std::vector<record_column>& columns() const { return columns_; }
  const std::string& path() const { return path_; }

 private:
  struct column_buffer;
  record_writer(std::string path, std::vector<record_column> columns, int64_t rows_per_batch,
                std::FILE* f);
  error write_frame(uint32_t kind, std::span<const std::byte> message);
  error flush_batch();

  std::string path_;
  std::vector<record_column> columns_;
  int64_t rows_per_batch_;
  std::FILE* f_;
  std::vector<column_buffer> buffers_;
  std::vector<int64_t> int_scratch_;
  std::vector<double> float_scratch_;
  int64_t batch_rows_ = 0;
  int64_t rows_ = 0;
  int64_t batches_ = 0;
  int64_t bytes_ = 0;
  error failed_;
  bool finished_ = false;
};

class record_file;

/// One decoded batch: views into the memory map of its file (zero-copy: numbers and string
/// bytes are read where they lie in the file). Valid as long as the batch object lives: it
/// holds a share of the mapping. All accessors are bounds-unchecked for speed beyond what the
/// decoder validated (lists have num_rows() entries, offsets are in range); pass a column
/// index < num_columns() and a row < num_rows().
/// Thread-safety: a value type; may be read from any thread.
class record_batch {
 public:
  int64_t num_rows() const { return num_rows_; }
  int64_t first_row() const { return first_row_; }
  size_t num_columns() const { return cols_.size(); }
  column_type type(size_t c) const { return cols_[c].type; }
  /// True when the column has at least one null in this batch.
  bool has_nulls(size_t c) const { return cols_[c].nulls != nullptr; }
  bool is_null(size_t c, int64_t row) const {
    const uint8_t* n = cols_[c].nulls;
    return n != nullptr && ((n[row >> 3] >> (row & 7)) & 1) != 0;
  }
  /// The values of an int column (0 in null rows); empty for another type.
  std::span<const int64_t> int64s(size_t c) const { return cols_[c].ints; }
  /// The values of a float column (0 in null rows); empty for another type.
  std::span<const double> float64s(size_t c) const { return cols_[c].floats; }
  /// Value `row` of a string column ("" in null rows); "" for another type.
  std::string_view string_at(size_t c, int64_t row) const {
    const column_view& v = cols_[c];
    if (v.offsets == nullptr) return {};
    return {v.data + v.offsets[row], size_t(v.offsets[row + 1] - v.offsets[row])};
  }

 private:
  friend class record_file;
  struct column_view {
    column_type type = column_type::string;
    const uint8_t* nulls = nullptr;
    std::span<const int64_t> ints;
    std::span<const double> floats;
    const char* data = nullptr;
    const uint32_t* offsets = nullptr;
  };
  int64_t num_rows_ = 0;
  int64_t first_row_ = 0;
  std::vector<column_view> cols_;
  std::shared_ptr<const void> mapping_;
};

struct record_read_options {
  /// Check each batch's CRC-32 before decoding it (a read of every byte; off only for
  /// trusted files when speed matters).
  bool verify_checksums = true;
};

/// A record shard file, memory-mapped read-only. open() checks the header, walks the frame
/// headers and decodes the schema and the footer; batch(i) checks batch i's CRC and decodes
/// it zero-copy. Every error names the file (and the batch, with its byte offset): a foreign
/// file, a newer version, a truncated file (no footer, a frame past the end), a checksum
/// mismatch, a malformed Cap'n Proto message or one whose parts disagree with the schema
/// (data_loss). Never reads outside the mapping and never crashes on bad bytes.
/// Thread-safety: after open(), batch() may be called from any number of threads.
class record_file {
 public:
  static expected<std::unique_ptr<record_file>> open(const std::string& path,
                                                     record_read_options o = {});
  ~record_file();
  record_file(const record_file&) = delete;
  record_file& operator=(const record_file&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<record_column>& columns() const { return columns_; }
  int64_t rows_per_batch() const { return rows_per_batch_; }
  int64_t num_rows() const { return num_rows_; }
  int64_t num_batches() const { return int64_t(frames_.size()); }
  /// Decodes batch `i` (0 <= i < num_batches()).
  expected<record_batch> batch(int64_t i) const;
  /// The mapped bytes of the whole file (what batches view).
  std::span<const std::byte> mapped() const;

 private:
  struct frame {
    uint64_t offset;  // of the message (after the frame header)
    uint64_t size;
    uint32_t crc;
  };
  record_file() = default;
  error fail(int64_t batch, uint64_t offset, std::string_view what) const;

  std::string path_;
  record_read_options opt_;
  std::shared_ptr<const void> mapping_;  // owns the mmap (munmap when the last share goes)
  const std::byte* base_ = nullptr;
  size_t size_ = 0;
  std::vector<record_column> columns_;
  int64_t rows_per_batch_ = 0;
  int64_t num_rows_ = 0;
  std::vector<frame> frames_;  // batch frames, in file order
};

/// True when `path` starts with the record shard magic (an unreadable file: false).
bool is_record_file(const std::string& path);

/// The record shard files under `path`: the file itself, or every *.trec file below a
/// directory (recursively), sorted by path. Errors: not found, no shard in a directory.
expected<std::vector<std::string>> list_record_files(const std::string& path);

}  // namespace troupe::pipeline
