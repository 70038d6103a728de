#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/data/csv.hpp"
#include "pipeline/stats/sketches.hpp"
#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// The statistics of one column, as TFDV computes them, in one pass and mergeable.
///
/// Every column starts as `integer` and is narrowed by each present value (integer ->
/// floating -> string, never back; the rule of csv.hpp). Every present value's text goes to
/// `distinct` and `top_values` and its length to the length fields, whatever the type, so
/// values seen before a column turned string still count there. A number's text there is
/// its canonical text (see add_integer, add_floating), so numbers count by value. The
/// numeric fields hold the values seen while the column was numeric; when it turns string
/// they are cleared (a string column has no numeric statistics), which keeps merge()
/// independent of order.
/// Thread-safety: a value type.
struct column_stats {
  explicit column_stats(std::string name = {}, int kll_k = 200, size_t top_k_capacity = 10000);

  std::string name;
  column_type type = column_type::integer;
  int64_t count = 0;    ///< rows seen (present + missing)
  int64_t missing = 0;  ///< empty fields

  // Numeric columns only (see above). NaN is counted, not added; infinities go to min, max
  // and the quantiles but not to the mean and standard deviation (over `finite_count`).
  int64_t numeric_count = 0;  ///< present numeric values, NaN included
  int64_t finite_count = 0;
  double mean = 0;  ///< Welford / Chan, over the finite values
  double m2 = 0;    ///< sum of squared deviations from the mean, over the finite values
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t zeros = 0;
  int64_t nan_count = 0;
  kll_sketch quantiles;

  // Every column.
  hyperloglog distinct;
  top_k top_values;
  int64_t length_min = std::numeric_limits<int64_t>::max();  ///< bytes, present values
  int64_t length_max = 0;
  int64_t length_sum = 0;

  /// Population standard deviation of the finite values (0 when there are none).
  double stddev() const;
  int64_t present() const { return count - missing; }
  double mean_length() const;
  bool is_numeric() const { return type != column_type::string; }

  /// Adds one field of one row (empty = missing): parses it once (int64, else double, else
  /// a string) and calls the typed adder below. Hot path: no allocation of its own.
  void add(std::string_view field);
  /// add() of each field in order (the same statistics), faster: each batch of values is
  /// parsed and hashed first, with the sketches' memory prefetched, then added.
  void add_batch(std::span<const std::string_view> fields);
  /// Adds a missing value (an empty field, a null).
  void add_missing();
  /// Adds a present integer, as add() of its decimal text: `distinct`, `top_values` and the
  /// lengths see that text (so "007" and "7" are the same value, 7).
  void add_integer(int64_t v);
  /// Adds a present floating-point value, as add() of a float field: the column becomes at
  /// least `floating`; `distinct`, `top_values` and the lengths see the shortest text that
  /// reads back as `v` (std::to_chars: "0.5", "1e-07", "nan", "inf"; integral values below
  /// 1e21 in plain digits: "3", "100000000000000000000").
  void add_floating(double v);
  /// Adds a present value that is not a number: the column becomes `string` (its numeric
  /// fields are cleared); `distinct`, `top_values` and the lengths see `s` as it is.
  void add_string(std::string_view s);
  /// Folds `other` (same column) in: counts add, moments merge (Chan), sketches merge, the
  /// type is the narrower of the two.
  void merge(const column_stats& other);

  int kll_k() const { return kll_k_; }
  size_t top_k_capacity() const { return top_k_capacity_; }

 private:
  void clear_numeric();
  void add_number(double v);
  void add_present(std::string_view text, uint64_t hash);

  int kll_k_;
  size_t top_k_capacity_;
};

/// The statistics of a data set: rows, malformed rows, and one column_stats per column in
/// header order; optionally the same per value of a slice column (a slice has no slices).
/// Thread-safety: a value type.
struct dataset_stats {
  int64_t rows = 0;            ///< good records
  int64_t malformed_rows = 0;  ///< records the reader skipped (wrong field count, quoting)
  std::vector<std::string> problems;  ///< "file:line: message" of the first 100 malformed rows
  std::vector<column_stats> columns;
  std::string slice_column;                     ///< empty: not sliced
  std::map<std::string, dataset_stats, std::less<>> slices;  ///< slice value -> its rows' stats

  const column_stats* find(std::string_view column) const;
};

struct stats_options {
  std::string slice_column;  ///< empty: no slices
  int threads = 0;           ///< 0: hardware concurrency (at most the number of pieces)
  int kll_k = 200;
  size_t top_k_capacity = 10000;
  /// A plain (not gzip) file larger than 1.5 x this is read as pieces of about this many
  /// bytes, split at line ends. See Note [Pieces and determinism].
  int64_t piece_bytes = int64_t(16) << 20;
};

// Note [Pieces and determinism]
// compute_stats cuts each big plain file into pieces at the first line end after every
// multiple of piece_bytes; the cut points depend only on the file's bytes and piece_bytes,
// never on the number of threads. Pieces are read in parallel and their statistics merged
// in file and piece order, so every field, the sketches included, is the same for any
// `threads`. Exact fields (counts, missing, min, max, zeros, lengths, the exact phase of
// distinct and top_values) are also the same for any piece_bytes; mean and m2 agree to
// rounding (Chan's merge); the KLL quantiles and a saturated top_values may differ with
// piece_bytes, within their stated error bounds; hyperloglog registers never do.
// A cut inside a quoted field (a quoted newline) is detected: the piece before it ends
// inside quotes. The file is then read again whole by one reader, as is a file any of whose
// pieces failed (so errors name the right line).

/// Computes the statistics of CSV files (all with the same header) in one pass. Files, and
/// pieces of big files, are read in parallel, then merged in order, so the result does not
/// depend on `threads` (see Note [Pieces and determinism]).
/// Errors: a file that cannot be read, a header that differs from the first file's, an
/// unknown slice column or one with more than 1000 values (per file).
/// Thread-safety: may be called from any thread; it starts and joins its own threads.
expected<dataset_stats> compute_stats(const std::vector<std::string>& csv_paths,
                                      const stats_options& options = {});

/// Folds `b` into `a`: exact fields add exactly, moments merge, sketches merge, slices merge
/// by value. Errors: different columns or slice columns.
error merge(dataset_stats& a, const dataset_stats& b);

/// JSON with every exact field and the sketches' own JSON (so files stay mergeable), plus
/// readable fields: quantiles (0, .01, .25, .5, .75, .99, 1), a 10-bucket histogram, the top
/// 10 values and the quantiles' rank error. Non-finite numbers are written as the strings
/// "NaN", "Infinity", "-Infinity".
std::string to_json(const dataset_stats& s);
/// Reads what to_json wrote (the readable fields are ignored: they come from the sketches).
expected<dataset_stats> stats_from_json(std::string_view text);

/// A readable table: one row per column (name, type, count, missing %, mean, std, min,
/// median, max, distinct, top value), then one table per slice.
std::string to_text(const dataset_stats& s);

}  // namespace troupe::pipeline
