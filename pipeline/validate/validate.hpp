#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/schema/schema.hpp"
#include "pipeline/stats/statistics.hpp"

namespace troupe::pipeline {

/// One way the data differs from the schema (or from earlier / serving data), named by
/// TFDV's anomaly type. See docs/data-validation.md for the list and what triggers each.
/// Thread-safety: a value type.
struct anomaly {
  std::string column;  ///< the feature; empty for a dataset-level anomaly
  std::string type;    ///< TFDV's name, e.g. "SCHEMA_MISSING_COLUMN"
  std::string short_description;  ///< e.g. "Unexpected string values"
  std::string expected;  ///< what the schema (or the comparator) allows
  std::string seen;      ///< what the statistics show
  std::string example;   ///< an offending value (empty when there is none to show)
  std::string severity = "ERROR";  ///< "ERROR" or "WARNING", as in TFDV

  /// One sentence: "<short>: expected <expected>, got <seen>[; example '<example>']".
  std::string description() const;
};

/// The anomalies found by validate(), dataset-level ones first, then by feature in schema
/// order, then new columns.
/// Thread-safety: a value type.
struct anomalies {
  std::vector<anomaly> items;
  bool empty() const { return items.empty(); }
  /// The anomalies of one column ("" = dataset-level) and type; for tests and tools.
  bool has(std::string_view column, std::string_view type) const;
};

/// Checks statistics against a schema and, when given, against the statistics of the
/// previous span (drift, with each feature's drift_comparator) and of serving data (skew,
/// with each feature's skew_comparator). A feature absent from `previous` or `serving` is
/// not compared (serving data may lack the label). Never fails: bad input was rejected
/// when the statistics and the schema were read.
/// Thread-safety: a pure function.
anomalies validate(const dataset_stats& stats, const schema& s,
                   const dataset_stats* previous = nullptr,
                   const dataset_stats* serving = nullptr);

/// L-infinity distance between the value distributions of two columns, from their top-k
/// counts (each normalized by the column's present rows): max over values of |p - q|.
/// `worst` (if not null) gets the value where it is reached. 0 when either has no values.
/// Thread-safety: a pure function (as are the three below).
double infinity_norm(const column_stats& a, const column_stats& b, std::string* worst = nullptr);

/// Jensen-Shannon divergence in bits (0..1) between two numeric columns' distributions,
/// over common bucket boundaries: the 0, 1/20, ..., 1 quantiles of both KLL sketches,
/// merged and deduplicated; each bucket's mass comes from the sketches' ranks (so the
/// sketch's rank error bounds each mass's error). `worst` (if not null) gets the bucket
/// whose masses differ most, as "(lo, hi]: 12.3% vs 40.0%". 0 when either has no values.
double jensen_shannon_divergence(const column_stats& a, const column_stats& b,
                                 std::string* worst = nullptr);

/// anomalies.json: TFDV's Anomalies structure in snake_case (anomaly_info keyed by
/// feature, each with its reasons; dataset_anomaly_info), plus anomaly_count and, in each
/// reason, the expected / seen / example fields. Format in docs/data-validation.md.
std::string to_json(const anomalies& a);
/// A readable summary: one line per anomaly, or "no anomalies".
std::string to_text(const anomalies& a);

}  // namespace troupe::pipeline
