#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/data/csv.hpp"
#include "pipeline/data/records.hpp"
#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// One output split and its share of the hash buckets (TFX ExampleGen's split config:
/// train=2,eval=1 sends 2 of every 3 buckets to train).
struct split_spec {
  std::string name;
  int buckets = 1;
};

struct ingest_options {
  std::vector<std::string> inputs;  ///< CSV files (plain or gzip), all with the same header
  std::string out_dir;              ///< the base: spans go to out_dir/Span-N
  int64_t span = -1;                ///< -1: the next free span number in out_dir (0 if none)
  std::vector<split_spec> splits = {{"train", 2}, {"eval", 1}};
  /// Malformed rows / all rows (good + malformed) allowed before ingestion fails.
  double max_error_fraction = 0;
  int64_t rows_per_batch = default_rows_per_batch;
  int64_t rows_per_shard = 1'000'000;  ///< a split of R rows is ceil(R / this) shard files
};

/// What ingest_csv wrote (also in Span-N/manifest.json).
struct ingest_result {
  int64_t span = 0;
  std::string span_dir;
  std::vector<record_column> columns;
  int64_t rows = 0;                   ///< good rows written
  int64_t malformed_rows = 0;         ///< rows skipped and reported
  std::vector<csv_problem> problems;  ///< the first 100 malformed rows
  std::vector<int64_t> split_rows;    ///< per split, in options order
  std::vector<std::string> files;     ///< shard files, relative to span_dir
};

/// The split a row goes to: h = 0, then h = XXH64(field, seed h) for each field in order;
/// bucket = h modulo the total bucket count; buckets are given to splits in order (with
/// train=2,eval=1: buckets 0-1 train, 2 eval). The same row content always goes to the same
/// split, whatever file or position it comes from.
size_t split_of_row(std::span<const std::string_view> fields,
                    const std::vector<split_spec>& splits);

/// Ingests CSV files into record shards, as TFX's ExampleGen does for CSV:
/// out_dir/Span-N/Split-<name>/data-SSSSS-of-KKKKK.trec plus out_dir/Span-N/manifest.json.
/// Two passes: the first reads every file to decide each column's type over the WHOLE
/// input (csv.hpp's refine_type rule) and to count good and malformed rows; if malformed /
/// (good + malformed) > max_error_fraction it fails before writing anything. The second
/// pass writes the shards into a hidden temporary directory in out_dir, which is renamed to
/// Span-N at the end (never replacing an existing span); on any failure the temporary
/// directory is removed, so nothing half-made is left and nothing stored is touched.
/// Errors: bad options (invalid_argument), an existing span (already_exists), files that
/// differ in header, read or write failures, the error budget exceeded
/// (failed_precondition: the message names the count, the budget and the first problems).
/// Thread-safety: may be called from any thread; two ingests into one out_dir at once
/// may race for the same span number, and the loser fails with already_exists.
expected<ingest_result> ingest_csv(const ingest_options& options);

/// Parses "train=8,eval=2" (names: letters, digits, '_', '-'; buckets 1 to 1000).
expected<std::vector<split_spec>> parse_splits(std::string_view text);

}  // namespace troupe::pipeline
