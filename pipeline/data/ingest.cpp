#include "pipeline/data/ingest.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>

#include "pipeline/stats/sketches.hpp"

namespace troupe::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr size_t max_problems_kept = 100;
constexpr size_t problems_in_message = 5;

std::string span_name(int64_t span) { return str_cat("Span-", span); }

std::string shard_name(int64_t index, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "data-%05lld-of-%05lld.trec", static_cast<long long>(index),
                static_cast<long long>(count));
  return buf;
}

void put_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// The next free span number: one above the largest Span-N in `dir` (0 when there is none).
int64_t next_free_span(const std::string& dir) {
  int64_t next = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("Span-")) continue;
    int64_t n = -1;
    auto [end, err] = std::from_chars(name.data() + 5, name.data() + name.size(), n);
    if (err == std::errc() && end == name.data() + name.size() && n >= 0)
      next = std::max(next, n + 1);
  }
  return next;
}

error sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::unavailable, "ingest: cannot open '", path,
                      "' to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return make_error(errc::unavailable, "ingest: fsync of '", path,
                      "' failed: ", std::strerror(err));
  return {};
}

struct source_info {
  std::string path;
  int64_t bytes = 0;
  int64_t rows = 0;
  int64_t malformed = 0;
};

// Removes the temporary directory unless released (the span was published).
class temp_dir_guard {
 public:
  explicit temp_dir_guard(std::string path) : path_(std::move(path)) {}
  ~temp_dir_guard() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

std::string budget_message(int64_t malformed, int64_t total, double budget,
                           const std::vector<csv_problem>& problems) {
  std::string m =
      str_cat("ingest: ", malformed, " malformed rows of ", total, " (fraction ",
              total > 0 ? double(malformed) / double(total) : 0.0,
              ") exceed the error budget --max-error-fraction ", budget, "; first problems:");
  for (size_t i = 0; i < problems.size() && i < problems_in_message; ++i)
    m += str_cat(" ", problems[i].file, ":", problems[i].line, ": ", problems[i].message, ";");
  if (problems.size() > problems_in_message) m += " ... (all in the error report)";
  return m;
}

bool over_budget(int64_t malformed, int64_t total, double budget) {
  return total > 0 && double(malformed) > budget * double(total);
}

std::string manifest_json(const ingest_options& o, const ingest_result& r,
                          const std::vector<source_info>& sources,
                          const std::vector<std::vector<std::pair<std::string, int64_t>>>& files,
                          const std::vector<int64_t>& file_bytes) {
  std::string j = "{\n  \"format\": \"troupe.records\",\n  \"format_version\": 1,\n";
  j += str_cat("  \"span\": ", r.span, ",\n  \"rows\": ", r.rows,
               ",\n  \"malformed_rows\": ", r.malformed_rows,
               ",\n  \"max_error_fraction\": ", o.max_error_fraction,
               ",\n  \"rows_per_batch\": ", o.rows_per_batch, ",\n  \"columns\": [");
  for (size_t i = 0; i < r.columns.size(); ++i) {
    j += i ? ",\n    {\"name\": " : "\n    {\"name\": ";
    put_json_string(j, r.columns[i].name);
    j += str_cat(", \"type\": \"", column_type_name(r.columns[i].type), "\"}");
  }
  j += "\n  ],\n  \"splits\": [";
  size_t fi = 0;
  for (size_t s = 0; s < o.splits.size(); ++s) {
    j += s ? ",\n    {\"name\": " : "\n    {\"name\": ";
    put_json_string(j, o.splits[s].name);
    j += str_cat(", \"hash_buckets\": ", o.splits[s].buckets, ", \"rows\": ", r.split_rows[s],
                 ", \"files\": [");
    for (size_t k = 0; k < files[s].size(); ++k, ++fi) {
      j += k ? ",\n      {\"path\": " : "\n      {\"path\": ";
      put_json_string(j, files[s][k].first);
      j += str_cat(", \"rows\": ", files[s][k].second, ", \"bytes\": ", file_bytes[fi], "}");
    }
    j += "]}";
  }
  j += "\n  ],\n  \"sources\": [";
  for (size_t i = 0; i < sources.size(); ++i) {
    j += i ? ",\n    {\"path\": " : "\n    {\"path\": ";
    put_json_string(j, sources[i].path);
    j += str_cat(", \"bytes\": ", sources[i].bytes, ", \"rows\": ", sources[i].rows,
                 ", \"malformed_rows\": ", sources[i].malformed, "}");
  }
  j += "\n  ],\n  \"problems\": [";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    j += i ? ",\n    {\"file\": " : "\n    {\"file\": ";
    put_json_string(j, r.problems[i].file);
    j += str_cat(", \"line\": ", r.problems[i].line, ", \"message\": ");
    put_json_string(j, r.problems[i].message);
    j += "}";
  }
  j += "\n  ]\n}\n";
  return j;
}

error check_options(const ingest_options& o) {
  TROUPE_REQUIRE(!o.inputs.empty(), "ingest: no input files");
  TROUPE_REQUIRE(!o.out_dir.empty(), "ingest: no output directory");
  TROUPE_REQUIRE(o.span >= -1, "ingest: span must be >= 0, got ", o.span);
  TROUPE_REQUIRE(!o.splits.empty() && o.splits.size() <= 255,
                 "ingest: expected 1 to 255 splits, got ", o.splits.size());
  std::set<std::string> names;
  for (const split_spec& s : o.splits) {
    TROUPE_REQUIRE(!s.name.empty() && s.buckets >= 1, "ingest: split '", s.name,
                   "': expected a name and buckets >= 1, got ", s.buckets);
    TROUPE_REQUIRE(names.insert(s.name).second, "ingest: split '", s.name, "' given twice");
  }
  TROUPE_REQUIRE(o.max_error_fraction >= 0 && o.max_error_fraction <= 1,
                 "ingest: max_error_fraction must be in [0, 1], got ", o.max_error_fraction);
  TROUPE_REQUIRE(o.rows_per_batch >= 1 && o.rows_per_batch <= max_rows_per_batch,
                 "ingest: rows per batch must be in [1, ", max_rows_per_batch, "], got ",
                 o.rows_per_batch);
  TROUPE_REQUIRE(o.rows_per_shard >= 1, "ingest: rows per shard must be >= 1, got ",
                 o.rows_per_shard);
  return {};
}

}  // namespace

size_t split_of_row(std::span<const std::string_view> fields,
                    const std::vector<split_spec>& splits) {
  uint64_t h = 0;
  for (std::string_view f : fields) h = xxhash64(f, h);
  uint64_t total = 0;
  for (const split_spec& s : splits) total += uint64_t(s.buckets);
  uint64_t bucket = total > 0 ? h % total : 0;
  for (size_t i = 0; i < splits.size(); ++i) {
    if (bucket < uint64_t(splits[i].buckets)) return i;
    bucket -= uint64_t(splits[i].buckets);
  }
  return splits.empty() ? 0 : splits.size() - 1;
}

expected<std::vector<split_spec>> parse_splits(std::string_view text) {
  std::vector<split_spec> out;
  size_t pos = 0;
  TROUPE_REQUIRE(!text.empty(), "--split: expected NAME=BUCKETS[,NAME=BUCKETS...], got ''");
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    const size_t eq = item.find('=');
    TROUPE_REQUIRE(eq != std::string_view::npos && eq > 0, "--split: expected NAME=BUCKETS, got '",
                   item, "'");
    const std::string_view name = item.substr(0, eq);
    for (char c : name)
      TROUPE_REQUIRE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-',
                     "--split: split name '", name, "' may hold only letters, digits, '_' and '-'");
    const std::string_view num = item.substr(eq + 1);
    int buckets = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), buckets);
    TROUPE_REQUIRE(
        ec == std::errc() && end == num.data() + num.size() && buckets >= 1 && buckets <= 1000,
        "--split: buckets of '", name, "' must be a number from 1 to 1000, got '", num, "'");
    for (const split_spec& s : out)
      TROUPE_REQUIRE(s.name != name, "--split: split '", name, "' given twice");
    out.push_back({std::string(name), buckets});
    pos = comma + 1;
  }
  return out;
}

expected<ingest_result> ingest_csv(const ingest_options& o) {
  TROUPE_TRY(check_options(o));
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec)
    return make_error(errc::unavailable, "ingest: cannot create '", o.out_dir, "': ", ec.message());
  ingest_result r;
  r.span = o.span >= 0 ? o.span : next_free_span(o.out_dir);
  const std::string span_dir = (fs::path(o.out_dir) / span_name(r.span)).string();
  if (fs::exists(span_dir, ec))
    return make_error(errc::already_exists, "ingest: ", span_dir,
                      " already exists: a span is never overwritten (give another --span, or "
                      "none for the next free one)");

  // Pass 1: column types over the whole input, row counts, split of every good row.
  std::vector<std::string> header;
  std::vector<column_type> types;
  std::vector<uint8_t> split_ids;
  r.split_rows.assign(o.splits.size(), 0);
  std::vector<source_info> sources;
  std::vector<std::string_view> fields;
  int64_t line = 0;
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    const std::string& path = o.inputs[i];
    auto reader = TROUPE_TRY(csv_reader::open(path));
    if (i == 0) {
      header = reader->header();
      types.assign(header.size(), column_type::integer);
    } else {
      const std::string diff = header_difference(header, reader->header());
      TROUPE_REQUIRE(diff.empty(), "ingest: ", path, ": header differs from ", o.inputs[0],
                     "'s: ", diff);
    }
    const size_t n = header.size();
    for (;;) {
      const bool more = TROUPE_TRY(reader->next(fields, line));
      if (!more) break;
      for (size_t c = 0; c < n; ++c)
        if (types[c] != column_type::string) types[c] = refine_type(types[c], fields[c]);
      const size_t s = split_of_row(fields, o.splits);
      split_ids.push_back(uint8_t(s));
      ++r.split_rows[s];
    }
    source_info src;
    src.path = path;
    src.bytes = int64_t(fs::file_size(path, ec));
    src.rows = reader->rows_read();
    src.malformed = reader->malformed_count();
    sources.push_back(src);
    r.rows += src.rows;
    r.malformed_rows += src.malformed;
    for (const csv_problem& p : reader->problems())
      if (r.problems.size() < max_problems_kept) r.problems.push_back(p);
  }
  if (over_budget(r.malformed_rows, r.rows + r.malformed_rows, o.max_error_fraction))
    return make_error(errc::failed_precondition,
                      budget_message(r.malformed_rows, r.rows + r.malformed_rows,
                                     o.max_error_fraction, r.problems));
  for (size_t c = 0; c < header.size(); ++c) r.columns.push_back({header[c], types[c]});

  // Pass 2: write the shards into a hidden temporary directory.
  std::random_device rd;
  const std::string tmp_dir =
      (fs::path(o.out_dir) / str_cat(".tmp-", span_name(r.span), "-", ::getpid(), "-", rd()))
          .string();
  fs::create_directory(tmp_dir, ec);
  if (ec)
    return make_error(errc::unavailable, "ingest: cannot create '", tmp_dir, "': ", ec.message());
  temp_dir_guard guard(tmp_dir);
  const size_t nsplits = o.splits.size();
  std::vector<int64_t> shard_count(nsplits), written(nsplits, 0);
  std::vector<std::unique_ptr<record_writer>> writers(nsplits);
  std::vector<std::vector<std::pair<std::string, int64_t>>> files(nsplits);
  for (size_t s = 0; s < nsplits; ++s) {
    shard_count[s] =
        std::max<int64_t>(1, (r.split_rows[s] + o.rows_per_shard - 1) / o.rows_per_shard);
    const std::string dir = (fs::path(tmp_dir) / ("Split-" + o.splits[s].name)).string();
    fs::create_directory(dir, ec);
    if (ec)
      return make_error(errc::unavailable, "ingest: cannot create '", dir, "': ", ec.message());
  }
  auto open_shard = [&](size_t s) -> error {
    const int64_t index = int64_t(files[s].size());
    const std::string rel =
        str_cat("Split-", o.splits[s].name, "/", shard_name(index, shard_count[s]));
    writers[s] = TROUPE_TRY(
        record_writer::create((fs::path(tmp_dir) / rel).string(), r.columns, o.rows_per_batch));
    files[s].push_back({rel, 0});
    return {};
  };
  auto close_shard = [&](size_t s) -> error {
    TROUPE_TRY(writers[s]->finish());
    files[s].back().second = writers[s]->rows();
    writers[s].reset();
    return {};
  };
  for (size_t s = 0; s < nsplits; ++s) TROUPE_TRY(open_shard(s));

  size_t good = 0;  // index into split_ids
  int64_t conversion_failures = 0;
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    const std::string& path = o.inputs[i];
    auto reader = TROUPE_TRY(csv_reader::open(path));
    for (;;) {
      const bool more = TROUPE_TRY(reader->next(fields, line));
      if (!more) break;
      TROUPE_REQUIRE(good < split_ids.size(), "ingest: ", path,
                     " changed while it was read: more rows in the second pass");
      const size_t s = split_ids[good++];
      if (written[s] > 0 && written[s] % o.rows_per_shard == 0 &&
          int64_t(files[s].size()) < shard_count[s]) {
        TROUPE_TRY(close_shard(s));
        TROUPE_TRY(open_shard(s));
      }
      if (error e = writers[s]->add_row(fields)) {
        // Cannot happen after the pre-pass decided the types, but never lose a row silently.
        if (e.code() != errc::invalid_argument) return e;
        ++conversion_failures;
        if (r.problems.size() < max_problems_kept) r.problems.push_back({path, line, e.message()});
        continue;
      }
      ++written[s];
    }
    TROUPE_REQUIRE(
        reader->rows_read() == sources[i].rows && reader->malformed_count() == sources[i].malformed,
        "ingest: ", path, " changed while it was read: ", sources[i].rows,
        " good rows in the first pass, ", reader->rows_read(), " in the second");
  }
  for (size_t s = 0; s < nsplits; ++s) TROUPE_TRY(close_shard(s));
  if (conversion_failures > 0) {
    r.malformed_rows += conversion_failures;
    r.rows -= conversion_failures;
    if (over_budget(r.malformed_rows, r.rows + r.malformed_rows, o.max_error_fraction))
      return make_error(errc::failed_precondition,
                        budget_message(r.malformed_rows, r.rows + r.malformed_rows,
                                       o.max_error_fraction, r.problems));
  }
  r.split_rows = written;

  std::vector<int64_t> file_bytes;
  for (size_t s = 0; s < nsplits; ++s)
    for (const auto& f : files[s]) {
      r.files.push_back(f.first);
      file_bytes.push_back(int64_t(fs::file_size(fs::path(tmp_dir) / f.first, ec)));
    }
  const std::string manifest = (fs::path(tmp_dir) / "manifest.json").string();
  {
    std::ofstream out(manifest, std::ios::binary | std::ios::trunc);
    out << manifest_json(o, r, sources, files, file_bytes);
    out.close();
    if (!out) return make_error(errc::unavailable, "ingest: cannot write '", manifest, "'");
  }
  TROUPE_TRY(sync_path(manifest, false));
  for (size_t s = 0; s < nsplits; ++s)
    TROUPE_TRY(sync_path((fs::path(tmp_dir) / ("Split-" + o.splits[s].name)).string(), true));
  TROUPE_TRY(sync_path(tmp_dir, true));

  // Publish: rename, never replacing an existing span (one that appeared meanwhile).
  if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, span_dir.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    if (err == EEXIST || err == ENOTEMPTY)
      return make_error(errc::already_exists, "ingest: ", span_dir,
                        " already exists: a span is never overwritten");
    return make_error(errc::unavailable, "ingest: cannot rename '", tmp_dir, "' to '", span_dir,
                      "': ", std::strerror(err));
  }
  guard.release();
  TROUPE_TRY(sync_path(o.out_dir, true));
  r.span_dir = span_dir;
  return r;
}

}  // namespace troupe::pipeline
