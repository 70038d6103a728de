#include "pipeline/stats/record_stats.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>

#include "pipeline/data/records.hpp"
#include "pipeline/util/ordered_parallel.hpp"

namespace troupe::pipeline {

namespace {

constexpr size_t k_max_slices = 1000;  // as compute_stats
// Units of work: consecutive batches of one file, at least min_batches_per_unit, and at most
// about max_units of them in all. Every unit's sketches (top-k with up to 10,000 values per
// column) must be merged, which costs about as much as adding many batches, so units are
// large; their bounds depend on the data only, never on the thread count, so the result
// does not either.
constexpr int64_t min_batches_per_unit = 64;
constexpr int64_t max_units = 64;

// A piece of work: batches [begin, end) of one file.
struct work_unit {
  size_t file;
  int64_t begin;
  int64_t end;
};

dataset_stats empty_stats(const std::vector<record_column>& columns, const stats_options& o) {
  dataset_stats s;
  s.columns.reserve(columns.size());
  for (const auto& c : columns) s.columns.emplace_back(c.name, o.kll_k, o.top_k_capacity);
  return s;
}

// Adds rows [0, n) of column c of `b` to `cs`.
void add_column(column_stats& cs, const record_batch& b, size_t c) {
  const int64_t n = b.num_rows();
  const bool nulls = b.has_nulls(c);
  switch (b.type(c)) {
    case column_type::integer: {
      const auto v = b.int64s(c);
      for (int64_t r = 0; r < n; ++r) {
        if (nulls && b.is_null(c, r))
          cs.add_missing();
        else
          cs.add_integer(v[size_t(r)]);
      }
      break;
    }
    case column_type::floating: {
      const auto v = b.float64s(c);
      for (int64_t r = 0; r < n; ++r) {
        if (nulls && b.is_null(c, r))
          cs.add_missing();
        else
          cs.add_floating(v[size_t(r)]);
      }
      break;
    }
    case column_type::string:
      for (int64_t r = 0; r < n; ++r) {
        if (nulls && b.is_null(c, r))
          cs.add_missing();
        else
          cs.add_string(b.string_at(c, r));
      }
      break;
  }
}

void add_value(column_stats& cs, const record_batch& b, size_t c, int64_t r) {
  if (b.is_null(c, r)) {
    cs.add_missing();
    return;
  }
  switch (b.type(c)) {
    case column_type::integer:
      cs.add_integer(b.int64s(c)[size_t(r)]);
      break;
    case column_type::floating:
      cs.add_floating(b.float64s(c)[size_t(r)]);
      break;
    case column_type::string:
      cs.add_string(b.string_at(c, r));
      break;
  }
}

// The slice key of row r: the value's text ("" when null).
std::string_view slice_key(const record_batch& b, size_t c, int64_t r, char* buf, size_t cap) {
  if (b.is_null(c, r)) return {};
  switch (b.type(c)) {
    case column_type::integer: {
      auto res = std::to_chars(buf, buf + cap, b.int64s(c)[size_t(r)]);
      return {buf, size_t(res.ptr - buf)};
    }
    case column_type::floating: {
      auto res = std::to_chars(buf, buf + cap, b.float64s(c)[size_t(r)]);
      return {buf, size_t(res.ptr - buf)};
    }
    case column_type::string:
      return b.string_at(c, r);
  }
  return {};
}

expected<dataset_stats> unit_stats(const record_file& f, const work_unit& u, int slice_index,
                                   const stats_options& o, int64_t& rows_out) {
  dataset_stats s = empty_stats(f.columns(), o);
  if (slice_index >= 0) s.slice_column = o.slice_column;
  const size_t ncols = f.columns().size();
  char buf[64];
  for (int64_t i = u.begin; i < u.end; ++i) {
    const record_batch b = TROUPE_TRY(f.batch(i));
    s.rows += b.num_rows();
    for (size_t c = 0; c < ncols; ++c) add_column(s.columns[c], b, c);
    if (slice_index < 0) continue;
    for (int64_t r = 0; r < b.num_rows(); ++r) {
      const std::string_view key = slice_key(b, size_t(slice_index), r, buf, sizeof buf);
      auto it = s.slices.find(key);
      if (it == s.slices.end()) {
        TROUPE_REQUIRE(s.slices.size() < k_max_slices, "compute_record_stats: ", f.path(),
                       ": batch ", i, ": slice column '", o.slice_column, "' has more than ",
                       k_max_slices, " distinct values; slice by a column with fewer");
        it = s.slices.emplace(std::string(key), empty_stats(f.columns(), o)).first;
      }
      dataset_stats& slice = it->second;
      ++slice.rows;
      for (size_t c = 0; c < ncols; ++c) add_value(slice.columns[c], b, c, r);
    }
  }
  rows_out = s.rows;
  return s;
}

}  // namespace

bool is_record_path(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return true;
  return is_record_file(path);
}

expected<dataset_stats> compute_record_stats(const std::vector<std::string>& paths,
                                             const stats_options& o) {
  TROUPE_REQUIRE(!paths.empty(), "compute_record_stats: no input paths");
  TROUPE_REQUIRE(o.kll_k >= 8, "compute_record_stats: kll_k must be at least 8, got ", o.kll_k);
  TROUPE_REQUIRE(o.top_k_capacity >= 1, "compute_record_stats: top_k_capacity must be at least 1");
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    auto listed = TROUPE_TRY(list_record_files(p));
    for (std::string& f : listed) files.push_back(std::move(f));
  }
  std::vector<std::unique_ptr<record_file>> shards;
  shards.reserve(files.size());
  for (const std::string& f : files) {
    auto shard = TROUPE_TRY(record_file::open(f));
    if (!shards.empty()) {
      const auto& want = shards[0]->columns();
      const auto& got = shard->columns();
      bool same = want.size() == got.size();
      for (size_t c = 0; same && c < want.size(); ++c) same = want[c].name == got[c].name;
      TROUPE_REQUIRE(same, "compute_record_stats: ", f, ": columns differ from ", files[0], "'s");
    }
    shards.push_back(std::move(shard));
  }
  const std::vector<record_column>& columns = shards[0]->columns();
  int slice_index = -1;
  if (!o.slice_column.empty()) {
    auto it = std::find_if(columns.begin(), columns.end(),
                           [&](const record_column& c) { return c.name == o.slice_column; });
    TROUPE_REQUIRE(it != columns.end(), "compute_record_stats: slice column '", o.slice_column,
                   "' is not a column of ", files[0]);
    slice_index = int(it - columns.begin());
  }

  size_t threads =
      o.threads > 0 ? size_t(o.threads) : std::max<size_t>(1, std::thread::hardware_concurrency());
  int64_t total_batches = 0;
  for (const auto& s : shards) total_batches += s->num_batches();
  const int64_t per_unit =
      std::max(min_batches_per_unit, (total_batches + max_units - 1) / max_units);
  std::vector<work_unit> units;
  for (size_t f = 0; f < shards.size(); ++f)
    for (int64_t b = 0; b < shards[f]->num_batches(); b += per_unit)
      units.push_back({f, b, std::min(b + per_unit, shards[f]->num_batches())});

  dataset_stats total = empty_stats(columns, o);
  total.slice_column = slice_index >= 0 ? o.slice_column : std::string();
  // Merged in unit order as soon as the units before them are done (as compute_stats does).
  struct unit_result {
    expected<dataset_stats> stats;
    int64_t rows = 0;
  };
  std::vector<int64_t> file_rows(shards.size(), 0);
  TROUPE_TRY(ordered_parallel(
      units.size(), threads,
      [&](size_t i) {
        int64_t rows = 0;
        auto r = unit_stats(*shards[units[i].file], units[i], slice_index, o, rows);
        return unit_result{std::move(r), rows};
      },
      [&](size_t i, unit_result r) -> error {
        file_rows[units[i].file] += r.rows;
        return r.stats ? merge(total, *r.stats) : std::move(r.stats).error_value();
      }));
  for (size_t f = 0; f < shards.size(); ++f)
    if (file_rows[f] != shards[f]->num_rows())
      return make_error(errc::data_loss, "compute_record_stats: ", files[f], ": the batches hold ",
                        file_rows[f], " rows, the footer says ", shards[f]->num_rows());
  return total;
}

}  // namespace troupe::pipeline
