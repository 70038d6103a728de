#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/stats/statistics.hpp"
#include "runtime/core/expected.hpp"

namespace troupe::pipeline {

/// The type of a feature in a schema, by TFDV's names: INT (64-bit integers), FLOAT
/// (doubles; integers are accepted too), BYTES (any text).
enum class feature_type : uint8_t { int_type, float_type, bytes_type };
std::string_view feature_type_name(feature_type t);  ///< "INT", "FLOAT", "BYTES"

/// The comparator a drift or skew check uses: the L-infinity distance between the two
/// categorical distributions (from the top-k counts, for BYTES features) or the
/// Jensen-Shannon divergence, in bits (0..1), between the two numeric distributions (over
/// common bucket boundaries, from the quantile sketches). An anomaly is reported when the
/// distance is above `threshold`.
struct comparator {
  enum class kind_t : uint8_t { infinity_norm, jensen_shannon_divergence };
  kind_t kind = kind_t::infinity_norm;
  double threshold = 0.1;
};
std::string_view comparator_name(comparator::kind_t k);  ///< the YAML key

/// What a schema expects of one feature (column). See docs/formats/schema.md.
/// Thread-safety: a value type.
struct feature_schema {
  std::string name;
  feature_type type = feature_type::bytes_type;
  double min_fraction = 0;  ///< presence: fraction of rows with a value, at least
  int64_t min_count = 0;    ///< presence: rows with a value, at least
  int64_t value_count_min = 1;  ///< values per present row (always 1 in CSV; kept for TFDV)
  int64_t value_count_max = 1;
  /// String vocabulary (BYTES only); empty: any value is allowed. Sorted, unique.
  std::vector<std::string> domain;
  std::optional<double> min;  ///< numeric range, inclusive (INT and FLOAT only)
  std::optional<double> max;
  bool disallow_nan = false;  ///< FLOAT only: a NaN value is an anomaly
  std::optional<comparator> drift_comparator;  ///< against the previous span
  std::optional<comparator> skew_comparator;   ///< against serving data
};

/// A data set's schema: the features in column order and the dataset-level constraint
/// (TFDV's dataset_constraints.min_examples_count).
/// Thread-safety: a value type.
struct schema {
  int64_t min_examples = 0;
  std::vector<feature_schema> features;

  const feature_schema* find(std::string_view name) const;
};

/// Options of infer_schema(); the defaults are the documented rule.
struct infer_options {
  /// A BYTES column gets a vocabulary domain when its top-k summary is exact and holds at
  /// most this many distinct values.
  size_t max_domain_size = 100;
  /// Presence: a column present in every row requires every row (min_fraction 1); else
  /// min_fraction is the seen fraction minus this slack (rounded down to 0.01, at least 0).
  double presence_slack = 0.1;
  /// min_examples = floor(rows * this), at least 1 when there are rows.
  double min_examples_fraction = 0.1;
  bool numeric_ranges = false;  ///< also record the seen min/max of INT and FLOAT columns
  double infinity_norm_threshold = 0.1;
  double jensen_shannon_threshold = 0.1;
};

/// Infers a schema from statistics by the rule in docs/formats/schema.md: type from the
/// column's type, presence from its missing count, a vocabulary for BYTES columns with few
/// distinct values, disallow_nan for FLOAT columns without NaN, drift and skew comparators
/// (infinity_norm for BYTES, jensen_shannon_divergence for INT and FLOAT).
/// Thread-safety: a pure function.
schema infer_schema(const dataset_stats& stats, const infer_options& options = {});

/// The human-editable YAML form (docs/formats/schema.md), with comments.
/// Thread-safety: a pure function.
std::string to_yaml(const schema& s);
/// Reads the YAML form. Errors name `source` (a file name, for messages), the line and
/// column, and what was wrong: malformed YAML, an unknown key, a missing name or type, a bad
/// number, a duplicate feature.
/// Thread-safety: a pure function.
expected<schema> schema_from_yaml(std::string_view text, std::string_view source = "schema");

/// Reads and parses a schema file. Errors: the file cannot be read, or as schema_from_yaml.
/// Thread-safety: may be called from any thread.
expected<schema> read_schema_file(const std::string& path);

}  // namespace troupe::pipeline
