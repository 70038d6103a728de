#pragma once

#include <string>
#include <vector>

#include "pipeline/stats/statistics.hpp"
#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// True when `path` names record shards: a directory (an ingested base directory, span or
/// split: every *.trec file below it) or a file that starts with the record shard magic.
bool is_record_path(const std::string& path);

/// The statistics of record shards (docs/formats/records.md), with the same fields as
/// compute_stats gives for the CSV they came from. Each path is a shard file or a directory
/// (every *.trec below it, sorted; hidden entries skipped). Batches are read zero-copy from
/// memory maps, in parallel by units of consecutive batches of one file (at least 64 batches,
/// at most about 64 units), and merged in file and batch order, so the result does not
/// depend on `threads`. Values go to the typed
/// adders of column_stats: a null is missing, an int64 column adds integers, a float64 column
/// doubles, a string column strings; so every field equals compute_stats' over the source
/// CSV (numbers reach the text sketches as canonical text on both paths; mean and standard
/// deviation up to rounding, as the merge order differs; quantiles within the sketch's
/// error) except: malformed_rows (the shards hold only good rows: 0 here; the span's
/// manifest.json counts the malformed ones); a string column's numeric-looking values
/// written non-canonically ("007": on CSV seen as 7 while the column still looked numeric,
/// on shards as "007"); an integer above 2^53 in a float column (stored as a double).
/// Slices as compute_stats: the slice
/// value of a row is the column's text ("" when null; numbers as shortest round-trip text).
/// Files may differ in column types (e.g. two spans), not in column names.
/// Errors: no files, unreadable or corrupt shards (naming file and batch), column names that
/// differ between files, an unknown slice column or more than 1000 slice values.
/// Thread-safety: may be called from any thread; it starts and joins its own threads.
expected<dataset_stats> compute_record_stats(const std::vector<std::string>& paths,
                                             const stats_options& options = {});

}  // namespace troupe::pipeline
