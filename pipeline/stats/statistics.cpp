#include "pipeline/stats/statistics.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>

#include "pipeline/util/json.hpp"
#include "pipeline/util/ordered_parallel.hpp"

namespace troupe::pipeline {

// ---------------------------------------------------------------------------------------
// column_stats

column_stats::column_stats(std::string name_in, int kll_k, size_t top_k_capacity)
    : name(std::move(name_in)),
      quantiles(kll_k),
      top_values(top_k_capacity),
      kll_k_(kll_k),
      top_k_capacity_(top_k_capacity) {}

double column_stats::stddev() const {
  return finite_count > 0 ? std::sqrt(std::max(0.0, m2 / double(finite_count))) : 0.0;
}

double column_stats::mean_length() const {
  return present() > 0 ? double(length_sum) / double(present()) : 0.0;
}

void column_stats::clear_numeric() {
  numeric_count = finite_count = zeros = nan_count = 0;
  mean = m2 = 0;
  min = std::numeric_limits<double>::infinity();
  max = -std::numeric_limits<double>::infinity();
  quantiles = kll_sketch(kll_k_);
}

void column_stats::add_number(double v) {
  ++numeric_count;
  if (std::isnan(v)) {
    ++nan_count;
    return;
  }
  if (v == 0) ++zeros;
  min = std::min(min, v);
  max = std::max(max, v);
  quantiles.add(v);
  if (std::isfinite(v)) {
    ++finite_count;
    const double delta = v - mean;
    mean += delta / double(finite_count);
    m2 += delta * (v - mean);
  }
}

namespace {

// The canonical texts of numbers (see add_integer, add_floating); buf has >= 48 bytes.
std::string_view integer_text(char* buf, int64_t v) {
  return std::string_view(buf, size_t(std::to_chars(buf, buf + 48, v).ptr - buf));
}

std::string_view floating_text(char* buf, double v) {
  // Integral values below 1e21 in plain digits, as JavaScript prints numbers: "1e+20" would
  // hide that the value is an integer (too big for int64, or written "3.0").
  const auto r = std::trunc(v) == v && std::abs(v) < 1e21
                     ? std::to_chars(buf, buf + 48, v, std::chars_format::fixed)
                     : std::to_chars(buf, buf + 48, v);
  return std::string_view(buf, size_t(r.ptr - buf));
}

}  // namespace

void column_stats::add_present(std::string_view text, uint64_t h) {
  ++count;
  distinct.add_hash(h);
  top_values.add_hashed(text, h);
  const auto len = int64_t(text.size());
  length_min = std::min(length_min, len);
  length_max = std::max(length_max, len);
  length_sum += len;
}

void column_stats::add_missing() {
  ++count;
  ++missing;
}

void column_stats::add_integer(int64_t v) {
  char buf[48];
  const std::string_view text = integer_text(buf, v);
  add_present(text, xxhash64(text));
  if (type != column_type::string) add_number(double(v));
}

void column_stats::add_floating(double v) {
  char buf[48];
  const std::string_view text = floating_text(buf, v);
  add_present(text, xxhash64(text));
  if (type == column_type::string) return;
  type = column_type::floating;
  add_number(v);
}

void column_stats::add_string(std::string_view s) {
  add_present(s, xxhash64(s));
  if (type == column_type::string) return;
  type = column_type::string;
  clear_numeric();
}

void column_stats::add(std::string_view field) {
  if (field.empty()) return add_missing();
  if (type == column_type::string) return add_string(field);
  int64_t i = 0;
  if (parse_int64(field, i)) return add_integer(i);
  double d = 0;
  if (parse_double(field, d)) return add_floating(d);
  add_string(field);
}

void column_stats::add_batch(std::span<const std::string_view> fields) {
  constexpr size_t k_chunk = 128;
  enum class kind : uint8_t { missing, integer, floating, string };
  struct staged {
    kind k;
    uint8_t len;  // of the canonical text in texts
    int64_t i;
    double d;
    uint64_t hash;
  };
  staged st[k_chunk];
  char texts[k_chunk][48];
  for (size_t b = 0; b < fields.size(); b += k_chunk) {
    const size_t m = std::min(k_chunk, fields.size() - b);
    // Stage 1: parse and hash as add() would (after the first non-number every value is a
    // string's raw text, as in a string column), and prefetch the top-k index entries.
    bool is_string = type == column_type::string;
    for (size_t j = 0; j < m; ++j) {
      const std::string_view f = fields[b + j];
      staged& x = st[j];
      if (f.empty()) {
        x.k = kind::missing;
        continue;
      }
      std::string_view text = f;
      if (is_string) {
        x.k = kind::string;
      } else if (parse_int64(f, x.i)) {
        x.k = kind::integer;
        text = integer_text(texts[j], x.i);
      } else if (parse_double(f, x.d)) {
        x.k = kind::floating;
        text = floating_text(texts[j], x.d);
      } else {
        x.k = kind::string;
        is_string = true;
      }
      x.len = uint8_t(text.size());
      x.hash = xxhash64(text);
      top_values.prefetch(x.hash);
    }
    // Stage 2: add.
    for (size_t j = 0; j < m; ++j) {
      const staged& x = st[j];
      switch (x.k) {
        case kind::missing: add_missing(); break;
        case kind::integer:
          add_present(std::string_view(texts[j], x.len), x.hash);
          if (type != column_type::string) add_number(double(x.i));
          break;
        case kind::floating:
          add_present(std::string_view(texts[j], x.len), x.hash);
          if (type != column_type::string) {
            type = column_type::floating;
            add_number(x.d);
          }
          break;
        case kind::string:
          add_present(fields[b + j], x.hash);
          if (type != column_type::string) {
            type = column_type::string;
            clear_numeric();
          }
          break;
      }
    }
  }
}

void column_stats::merge(const column_stats& o) {
  count += o.count;
  missing += o.missing;
  distinct.merge(o.distinct);
  top_values.merge(o.top_values);
  length_min = std::min(length_min, o.length_min);
  length_max = std::max(length_max, o.length_max);
  length_sum += o.length_sum;
  type = std::max(type, o.type);  // integer < floating < string
  if (type == column_type::string) {
    clear_numeric();
    return;
  }
  numeric_count += o.numeric_count;
  zeros += o.zeros;
  nan_count += o.nan_count;
  min = std::min(min, o.min);
  max = std::max(max, o.max);
  quantiles.merge(o.quantiles);
  if (o.finite_count > 0) {  // Chan et al.'s parallel update of mean and M2
    const double na = double(finite_count), nb = double(o.finite_count), n = na + nb;
    const double delta = o.mean - mean;
    mean += delta * nb / n;
    m2 += o.m2 + delta * delta * na * nb / n;
    finite_count += o.finite_count;
  }
}

const column_stats* dataset_stats::find(std::string_view column) const {
  for (const auto& c : columns)
    if (c.name == column) return &c;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// merge

error merge(dataset_stats& a, const dataset_stats& b) {
  if (a.columns.empty() && a.rows == 0 && a.malformed_rows == 0 && a.slices.empty()) {
    a = b;
    return {};
  }
  if (b.columns.empty() && b.rows == 0 && b.malformed_rows == 0 && b.slices.empty()) return {};
  TROUPE_REQUIRE(a.columns.size() == b.columns.size(), "merge statistics: expected ",
                 a.columns.size(), " columns, got ", b.columns.size());
  for (size_t i = 0; i < a.columns.size(); ++i)
    TROUPE_REQUIRE(a.columns[i].name == b.columns[i].name, "merge statistics: column ", i + 1,
                   ": expected '", a.columns[i].name, "', got '", b.columns[i].name, "'");
  TROUPE_REQUIRE(a.slice_column == b.slice_column || a.slices.empty() || b.slices.empty(),
                 "merge statistics: sliced by '", a.slice_column, "' and by '", b.slice_column,
                 "'");
  a.rows += b.rows;
  a.malformed_rows += b.malformed_rows;
  for (const auto& p : b.problems) {
    if (a.problems.size() >= 100) break;
    a.problems.push_back(p);
  }
  for (size_t i = 0; i < a.columns.size(); ++i) a.columns[i].merge(b.columns[i]);
  if (a.slice_column.empty()) a.slice_column = b.slice_column;
  for (const auto& [value, stats] : b.slices) {
    auto it = a.slices.find(value);
    if (it == a.slices.end()) {
      a.slices.emplace(value, stats);
    } else {
      TROUPE_TRY(merge(it->second, stats).with_context(str_cat("slice '", value, "'")));
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// compute_stats

namespace {

// Each slice holds a full set of sketches per column; a slice column with more values than
// this is almost surely not categorical (and would exhaust memory).
constexpr size_t k_max_slices = 1000;

dataset_stats empty_stats(const std::vector<std::string>& header, const stats_options& o) {
  dataset_stats s;
  s.columns.reserve(header.size());
  for (const auto& name : header) s.columns.emplace_back(name, o.kll_k, o.top_k_capacity);
  return s;
}

// The statistics of the records `reader` yields. Problems stay in the reader: the caller
// names their lines (a piece's lines count from its start).
expected<dataset_stats> reader_stats(csv_reader& reader, const std::vector<std::string>& header,
                                     int slice_index, const stats_options& o) {
  dataset_stats s = empty_stats(header, o);
  if (slice_index >= 0) s.slice_column = o.slice_column;
  std::vector<std::string_view> fields;
  int64_t line = 0;
  const size_t n = header.size();
  if (slice_index < 0) {
    // Column-major batches: the fields of up to k_batch_rows rows are copied to an arena,
    // then each column takes its batch in row order. Each column's sketches then stay in
    // cache for a whole batch instead of being evicted by the other columns' every row; the
    // adds, and so the statistics, are the same as row by row.
    constexpr size_t k_batch_rows = 2048;
    std::string arena;
    std::vector<std::pair<uint32_t, uint32_t>> spans;  // row-major (offset, size) per field
    spans.reserve(k_batch_rows * n);
    std::vector<std::string_view> column;
    column.reserve(k_batch_rows);
    for (bool more = true; more;) {
      arena.clear();
      spans.clear();
      size_t rows = 0;
      while (rows < k_batch_rows && arena.size() < (size_t(1) << 31)) {
        more = TROUPE_TRY(reader.next(fields, line));
        if (!more) break;
        TROUPE_REQUIRE(fields.size() == n, "compute_stats: ", reader.path(), ":", line,
                       ": expected ", n, " fields, got ", fields.size());
        for (std::string_view f : fields) {
          spans.emplace_back(uint32_t(arena.size()), uint32_t(f.size()));
          arena.append(f);
        }
        ++rows;
      }
      s.rows += int64_t(rows);
      for (size_t i = 0; i < n; ++i) {
        column.clear();
        for (size_t r = 0; r < rows; ++r) {
          const auto [off, len] = spans[r * n + i];
          column.emplace_back(arena.data() + off, len);
        }
        s.columns[i].add_batch(column);
      }
    }
    s.malformed_rows = reader.malformed_count();
    return s;
  }
  for (;;) {
    const bool more = TROUPE_TRY(reader.next(fields, line));
    if (!more) break;
    TROUPE_REQUIRE(fields.size() == n, "compute_stats: ", reader.path(), ":", line,
                   ": expected ", n, " fields, got ", fields.size());
    ++s.rows;
    for (size_t i = 0; i < n; ++i) s.columns[i].add(fields[i]);
    if (slice_index >= 0) {
      const std::string_view value = fields[size_t(slice_index)];
      auto it = s.slices.find(value);
      if (it == s.slices.end()) {
        TROUPE_REQUIRE(s.slices.size() < k_max_slices, "compute_stats: ", reader.path(), ":",
                       line, ": slice column '", o.slice_column, "' has more than ",
                       k_max_slices, " distinct values; slice by a column with fewer");
        it = s.slices.emplace(std::string(value), empty_stats(header, o)).first;
      }
      dataset_stats& slice = it->second;
      ++slice.rows;
      for (size_t i = 0; i < n; ++i) slice.columns[i].add(fields[i]);
    }
  }
  s.malformed_rows = reader.malformed_count();
  return s;
}

void add_problems(dataset_stats& s, const std::vector<csv_problem>& problems,
                  int64_t line_offset) {
  for (const auto& p : problems) {
    if (s.problems.size() >= 100) break;
    s.problems.push_back(str_cat(p.file, ":", p.line + line_offset, ": ", p.message));
  }
}

// Opens a file and checks its header against the first file's.
expected<std::unique_ptr<csv_reader>> open_checked(const std::string& path,
                                                   const std::string& first_path,
                                                   const std::vector<std::string>& header,
                                                   int64_t end = -1) {
  csv_options co;
  co.end = end;
  auto reader = TROUPE_TRY(csv_reader::open(path, co));
  const std::string diff = header_difference(header, reader->header());
  TROUPE_REQUIRE(diff.empty(), "compute_stats: ", path, ": header differs from ", first_path,
                 "'s: ", diff);
  return reader;
}

// The statistics of one whole file, read by one reader.
expected<dataset_stats> file_stats(const std::string& path, const std::string& first_path,
                                   const std::vector<std::string>& header, int slice_index,
                                   const stats_options& o) {
  auto reader = TROUPE_TRY(open_checked(path, first_path, header));
  dataset_stats s = TROUPE_TRY(reader_stats(*reader, header, slice_index, o));
  add_problems(s, reader->problems(), 0);
  return s;
}

// One piece of one file: bytes [begin, end) (end -1: to the end of the file). A piece that
// starts at 0 reads the header.
struct piece {
  size_t file;
  int64_t begin;
  int64_t end;
  bool last;  // the file's last piece
};

struct piece_result {
  expected<dataset_stats> stats = dataset_stats{};
  std::vector<csv_problem> problems;  // lines relative to the piece's start (see below)
  int64_t lines = 0;                  // lines the piece spans (the header included)
  bool cut_quote = false;             // ended inside a quoted field
};

// The cut points of a plain file: the start of the line after each multiple of
// `piece_bytes` (see Note [Pieces and determinism]); empty when it is not split.
expected<std::vector<int64_t>> cut_points(const std::string& path, int64_t piece_bytes) {
  std::error_code ec;
  const auto size = int64_t(std::filesystem::file_size(path, ec));
  if (ec || size <= piece_bytes + piece_bytes / 2) return std::vector<int64_t>{};
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                    &std::fclose);
  if (!f) return std::vector<int64_t>{};  // the reader reports it
  std::vector<int64_t> cuts;
  std::vector<char> buf(64 << 10);
  for (int64_t at = piece_bytes; at < size - piece_bytes / 2;) {
    if (std::fseek(f.get(), long(at), SEEK_SET) != 0) break;
    int64_t cut = -1;
    for (int64_t pos = at; cut < 0;) {
      const size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
      if (n == 0) break;
      if (const void* nl = std::memchr(buf.data(), '\n', n))
        cut = pos + (static_cast<const char*>(nl) - buf.data()) + 1;
      pos += int64_t(n);
    }
    if (cut < 0 || cut >= size) break;
    cuts.push_back(cut);
    at = std::max(cut, at + piece_bytes);
  }
  return cuts;
}

}  // namespace

// Files and pieces are read by std::thread workers, each taking the next piece; results are
// merged in order as soon as the pieces before them are merged (a file's pieces into that
// file's accumulator, then the file into the total). See Note [Pieces and determinism].
// TODO(soon): the actor version (a stats actor per shard, merged by a reducer) comes with
// issue 4.
expected<dataset_stats> compute_stats(const std::vector<std::string>& csv_paths,
                                      const stats_options& o) {
  TROUPE_REQUIRE(!csv_paths.empty(), "compute_stats: no input files");
  TROUPE_REQUIRE(o.kll_k >= 8, "compute_stats: kll_k must be at least 8, got ", o.kll_k);
  TROUPE_REQUIRE(o.top_k_capacity >= 1, "compute_stats: top_k_capacity must be at least 1");
  TROUPE_REQUIRE(o.piece_bytes >= 1, "compute_stats: piece_bytes must be positive, got ",
                 o.piece_bytes);
  std::vector<std::string> header;
  bool first_gzip = false;
  {
    auto first = TROUPE_TRY(csv_reader::open(csv_paths[0]));
    header = first->header();
    first_gzip = first->is_gzip();
  }
  int slice_index = -1;
  if (!o.slice_column.empty()) {
    auto it = std::find(header.begin(), header.end(), o.slice_column);
    TROUPE_REQUIRE(it != header.end(), "compute_stats: slice column '", o.slice_column,
                   "' is not in the header of ", csv_paths[0]);
    slice_index = int(it - header.begin());
  }

  // Pieces. Only the first file is checked for gzip here; a gzip file's cut points would be
  // wrong, so the others are checked by their first piece's reader (and read whole again).
  const size_t files = csv_paths.size();
  std::vector<piece> pieces;
  for (size_t f = 0; f < files; ++f) {
    std::vector<int64_t> cuts;
    if (!(f == 0 && first_gzip)) cuts = TROUPE_TRY(cut_points(csv_paths[f], o.piece_bytes));
    int64_t begin = 0;
    for (int64_t cut : cuts) {
      pieces.push_back({f, begin, cut, false});
      begin = cut;
    }
    pieces.push_back({f, begin, -1, true});
  }

  const size_t n_pieces = pieces.size();
  size_t threads = o.threads > 0 ? size_t(o.threads)
                                 : std::max<size_t>(1, std::thread::hardware_concurrency());
  dataset_stats total = empty_stats(header, o);
  total.slice_column = slice_index >= 0 ? o.slice_column : std::string();
  // The file being merged: its accumulator, the lines of its pieces so far, and whether it
  // must be read again whole.
  dataset_stats file_acc;
  int64_t file_lines = 0;
  bool file_redo = false;

  auto run_piece = [&](size_t i) {
    const piece& pc = pieces[i];
    piece_result r;
    const std::string& path = csv_paths[pc.file];
    const bool whole = pc.begin == 0 && pc.last;
    auto reader = pc.begin == 0 ? open_checked(path, csv_paths[0], header, pc.end)
                                : csv_reader::open_range(path, header, pc.begin, pc.end);
    if (!reader) {
      r.stats = std::move(reader).error_value();
      return r;
    }
    if (!whole && (*reader)->is_gzip()) {  // never split gzip input: flag for a whole read
      r.cut_quote = true;
      return r;
    }
    r.stats = reader_stats(**reader, header, slice_index, o);
    r.problems = (*reader)->problems();
    r.lines = (*reader)->line() - 1;
    r.cut_quote = !pc.last && (*reader)->ended_inside_quotes();
    return r;
  };

  // Merges piece `i` (in piece order, one at a time). A split file whose pieces fail or were
  // cut inside quotes is read again whole, by this thread, when its last piece comes.
  auto merge_piece = [&](size_t i, piece_result r) -> error {
    const piece& pc = pieces[i];
    const bool split = !(pc.begin == 0 && pc.last);
    if (pc.begin == 0) {
      file_acc = dataset_stats{};
      file_lines = 0;
      file_redo = false;
    }
    if (!r.stats) {
      if (!split) return std::move(r.stats).error_value();
      file_redo = true;
    }
    file_redo = file_redo || r.cut_quote;
    if (!file_redo) {
      TROUPE_TRY(merge(file_acc, *r.stats));
      add_problems(file_acc, r.problems, file_lines);
      file_lines += r.lines;
    }
    if (!pc.last) return {};
    if (file_redo) {
      file_acc = TROUPE_TRY(
          file_stats(csv_paths[pc.file], csv_paths[0], header, slice_index, o));
    }
    TROUPE_TRY(merge(total, file_acc));
    file_acc = dataset_stats{};
    return {};
  };

  TROUPE_TRY(ordered_parallel(n_pieces, threads, run_piece, merge_piece));
  return total;
}

// ---------------------------------------------------------------------------------------
// JSON writer

namespace {

void put_string(std::string& out, std::string_view s) { append_json_string(out, s); }
void put_double(std::string& out, double v) { append_json_number(out, v); }

// Appends `"key":` (with a leading comma unless `first`).
void key(std::string& out, std::string_view k, bool first = false) {
  if (!first) out += ',';
  put_string(out, k);
  out += ':';
}

std::string num(double v) {
  std::string out;
  put_double(out, v);
  return out;
}

std::string quoted(std::string_view v) {
  std::string out;
  put_string(out, v);
  return out;
}

constexpr double k_quantile_points[] = {0, 0.01, 0.25, 0.5, 0.75, 0.99, 1};

void put_column(std::string& out, const column_stats& c) {
  out += str_cat("\"name\":", quoted(c.name), ",\"type\":", quoted(column_type_name(c.type)),
                 ",\"count\":", c.count, ",\"missing\":", c.missing, ",\"kll_k\":", c.kll_k(),
                 ",\"top_k_capacity\":", c.top_k_capacity());
  if (c.is_numeric()) {
    const kll_sketch& q = c.quantiles;
    out += str_cat(",\"numeric\":{\"count\":", c.numeric_count, ",\"finite_count\":",
                   c.finite_count, ",\"mean\":", num(c.mean), ",\"std\":", num(c.stddev()),
                   ",\"m2\":", num(c.m2), ",\"min\":", num(c.min), ",\"max\":", num(c.max),
                   ",\"zeros\":", c.zeros, ",\"nan_count\":", c.nan_count,
                   ",\"rank_error\":", num(q.rank_error()));
    if (q.count() > 0) {
      out += ",\"quantiles\":[";
      for (double p : k_quantile_points)
        out += str_cat(p != 0 ? "," : "", "{\"q\":", num(p), ",\"value\":", num(q.quantile(p)),
                       "}");
      out += str_cat("],\"histogram\":{\"min\":", num(q.min()), ",\"max\":", num(q.max()),
                     ",\"counts\":[");
      const auto counts = q.histogram(10);
      for (size_t i = 0; i < counts.size(); ++i) out += str_cat(i ? "," : "", counts[i]);
      out += "]}";
    }
    out += str_cat(",\"kll\":", q.to_json(), "}");
  }
  out += str_cat(",\"distinct\":{\"estimate\":", num(c.distinct.estimate()),
                 ",\"relative_error\":", num(c.distinct.relative_error()),
                 ",\"hll\":", c.distinct.to_json(), "}");
  out += str_cat(",\"top_values\":{\"max_error\":", c.top_values.max_error(), ",\"top\":[");
  bool first = true;
  for (const auto& [value, n] : c.top_values.top(10)) {
    out += str_cat(first ? "" : ",", "{\"value\":", quoted(value), ",\"count\":", n, "}");
    first = false;
  }
  out += str_cat("],\"sketch\":", c.top_values.to_json(), "}");
  out += str_cat(",\"string_length\":{\"min\":", c.present() > 0 ? c.length_min : 0,
                 ",\"max\":", c.length_max, ",\"sum\":", c.length_sum,
                 ",\"mean\":", num(c.mean_length()), "}");
}

void put_dataset(std::string& out, const dataset_stats& s) {
  out += '{';
  key(out, "rows", true);
  out += std::to_string(s.rows);
  out += str_cat(",\"malformed_rows\":", s.malformed_rows);
  key(out, "problems");
  out += '[';
  for (size_t i = 0; i < s.problems.size(); ++i) {
    if (i) out += ',';
    put_string(out, s.problems[i]);
  }
  out += ']';
  key(out, "columns");
  out += '[';
  for (size_t i = 0; i < s.columns.size(); ++i) {
    out += i ? ",\n{" : "\n{";
    put_column(out, s.columns[i]);
    out += '}';
  }
  out += ']';
  key(out, "slice_column");
  put_string(out, s.slice_column);
  key(out, "slices");
  out += '[';
  bool first = true;
  for (const auto& [value, stats] : s.slices) {
    out += first ? "\n{" : ",\n{";
    first = false;
    key(out, "value", true);
    put_string(out, value);
    key(out, "stats");
    put_dataset(out, stats);
    out += '}';
  }
  out += "]}";
}

}  // namespace

std::string to_json(const dataset_stats& s) {
  std::string out;
  put_dataset(out, s);
  out += '\n';
  return out;
}

// ---------------------------------------------------------------------------------------
// JSON reader: parse_json (util/json) keeps each value's source text, so the sketches' JSON
// can be handed to their own from_json.

namespace {

// Typed access to a parsed object; errors name the field's path.
class json_object {
 public:
  json_object(const json_value& v, std::string path) : v_(v), path_(std::move(path)) {}

  static expected<json_object> of(const json_value& v, std::string path) {
    TROUPE_REQUIRE(v.k == json_value::kind::object, "stats_from_json: ", path,
                   ": expected an object");
    return json_object(v, std::move(path));
  }

  std::string path(std::string_view name) const { return str_cat(path_, ".", name); }

  expected<const json_value*> field(std::string_view name) const {
    const json_value* f = v_.get(name);
    TROUPE_REQUIRE(f != nullptr, "stats_from_json: ", path(name), ": missing");
    return f;
  }
  bool has(std::string_view name) const { return v_.get(name) != nullptr; }

  expected<int64_t> get_int(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    int64_t out = 0;
    const char* end = f->source.data() + f->source.size();
    TROUPE_REQUIRE(f->k == json_value::kind::number &&
                       std::from_chars(f->source.data(), end, out).ptr == end,
                   "stats_from_json: ", path(name), ": expected an integer, got '", f->source,
                   "'");
    return out;
  }

  expected<double> get_double(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    if (f->k == json_value::kind::string) {
      if (f->text == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (f->text == "Infinity") return std::numeric_limits<double>::infinity();
      if (f->text == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    double out = 0;
    const char* end = f->source.data() + f->source.size();
    TROUPE_REQUIRE(f->k == json_value::kind::number &&
                       std::from_chars(f->source.data(), end, out).ptr == end,
                   "stats_from_json: ", path(name), ": expected a number, got '", f->source, "'");
    return out;
  }

  expected<std::string> get_string(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    TROUPE_REQUIRE(f->k == json_value::kind::string, "stats_from_json: ", path(name),
                   ": expected a string, got '", f->source, "'");
    return f->text;
  }

  expected<json_object> get_object(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    return of(*f, path(name));
  }

  expected<const std::vector<json_value>*> get_array(std::string_view name) const {
    const json_value* f = TROUPE_TRY(field(name));
    TROUPE_REQUIRE(f->k == json_value::kind::array, "stats_from_json: ", path(name),
                   ": expected an array");
    return &f->items;
  }

 private:
  const json_value& v_;
  std::string path_;
};

template <class Sketch>
expected<Sketch> sketch_from(const json_object& o, std::string_view name) {
  const json_value* f = TROUPE_TRY(o.field(name));
  auto s = Sketch::from_json(f->source);
  if (!s) return std::move(s).error_value().with_context(str_cat("stats_from_json: ", o.path(name)));
  return std::move(*s);
}

expected<column_stats> column_from(const json_value& v, const std::string& path) {
  const json_object o = TROUPE_TRY(json_object::of(v, path));
  const int64_t kll_k = TROUPE_TRY(o.get_int("kll_k"));
  const int64_t capacity = TROUPE_TRY(o.get_int("top_k_capacity"));
  TROUPE_REQUIRE(kll_k >= 1 && kll_k <= (int64_t(1) << 20) && capacity >= 1,
                 "stats_from_json: ", path, ": bad kll_k ", kll_k, " or top_k_capacity ",
                 capacity);
  column_stats c(TROUPE_TRY(o.get_string("name")), int(kll_k), size_t(capacity));
  const std::string type = TROUPE_TRY(o.get_string("type"));
  bool known = false;
  for (column_type t : {column_type::integer, column_type::floating, column_type::string}) {
    if (column_type_name(t) == type) {
      c.type = t;
      known = true;
    }
  }
  TROUPE_REQUIRE(known, "stats_from_json: ", o.path("type"), ": unknown type '", type, "'");
  c.count = TROUPE_TRY(o.get_int("count"));
  c.missing = TROUPE_TRY(o.get_int("missing"));
  if (c.is_numeric()) {
    const json_object n = TROUPE_TRY(o.get_object("numeric"));
    c.numeric_count = TROUPE_TRY(n.get_int("count"));
    c.finite_count = TROUPE_TRY(n.get_int("finite_count"));
    c.mean = TROUPE_TRY(n.get_double("mean"));
    c.m2 = TROUPE_TRY(n.get_double("m2"));
    c.min = TROUPE_TRY(n.get_double("min"));
    c.max = TROUPE_TRY(n.get_double("max"));
    c.zeros = TROUPE_TRY(n.get_int("zeros"));
    c.nan_count = TROUPE_TRY(n.get_int("nan_count"));
    c.quantiles = TROUPE_TRY(sketch_from<kll_sketch>(n, "kll"));
  }
  const json_object d = TROUPE_TRY(o.get_object("distinct"));
  c.distinct = TROUPE_TRY(sketch_from<hyperloglog>(d, "hll"));
  const json_object t = TROUPE_TRY(o.get_object("top_values"));
  c.top_values = TROUPE_TRY(sketch_from<top_k>(t, "sketch"));
  const json_object l = TROUPE_TRY(o.get_object("string_length"));
  c.length_max = TROUPE_TRY(l.get_int("max"));
  c.length_sum = TROUPE_TRY(l.get_int("sum"));
  c.length_min = c.present() > 0 ? TROUPE_TRY(l.get_int("min"))
                                 : std::numeric_limits<int64_t>::max();
  TROUPE_REQUIRE(c.count >= 0 && c.missing >= 0 && c.missing <= c.count, "stats_from_json: ",
                 path, ": inconsistent count ", c.count, " and missing ", c.missing);
  return c;
}

expected<dataset_stats> dataset_from(const json_value& v, const std::string& path, int depth) {
  const json_object o = TROUPE_TRY(json_object::of(v, path));
  dataset_stats s;
  s.rows = TROUPE_TRY(o.get_int("rows"));
  s.malformed_rows = TROUPE_TRY(o.get_int("malformed_rows"));
  for (const auto& p : *TROUPE_TRY(o.get_array("problems"))) {
    TROUPE_REQUIRE(p.k == json_value::kind::string, "stats_from_json: ", o.path("problems"),
                   ": expected strings");
    s.problems.push_back(p.text);
  }
  const auto& columns = *TROUPE_TRY(o.get_array("columns"));
  for (size_t i = 0; i < columns.size(); ++i) {
    column_stats c = TROUPE_TRY(column_from(columns[i], str_cat(o.path("columns"), "[", i, "]")));
    s.columns.push_back(std::move(c));
  }
  s.slice_column = TROUPE_TRY(o.get_string("slice_column"));
  const auto& slices = *TROUPE_TRY(o.get_array("slices"));
  TROUPE_REQUIRE(depth == 0 || slices.empty(), "stats_from_json: ", path,
                 ": a slice has slices");
  for (size_t i = 0; i < slices.size(); ++i) {
    const std::string sp = str_cat(o.path("slices"), "[", i, "]");
    const json_object so = TROUPE_TRY(json_object::of(slices[i], sp));
    std::string value = TROUPE_TRY(so.get_string("value"));
    const json_value* inner = TROUPE_TRY(so.field("stats"));
    dataset_stats st = TROUPE_TRY(dataset_from(*inner, so.path("stats"), depth + 1));
    TROUPE_REQUIRE(s.slices.emplace(value, std::move(st)).second, "stats_from_json: ", sp,
                   ": duplicate slice value '", value, "'");
  }
  return s;
}

}  // namespace

expected<dataset_stats> stats_from_json(std::string_view text) {
  const json_value root = TROUPE_TRY(parse_json(text, "stats_from_json"));
  return dataset_from(root, "$", 0);
}

// ---------------------------------------------------------------------------------------
// Text table

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string clip(std::string_view s, size_t width) {
  if (s.size() <= width) return std::string(s);
  return str_cat(s.substr(0, width - 3), "...");
}

void append_table(std::string& out, const dataset_stats& s) {
  size_t name_width = 6;
  for (const auto& c : s.columns) name_width = std::max(name_width, std::min<size_t>(c.name.size(), 32));
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %-6s %10s %8s %12s %12s %12s %12s %12s %9s  %s\n",
                int(name_width), "column", "type", "count", "missing", "mean", "std", "min",
                "median", "max", "distinct", "top value");
  out += line;
  for (const auto& c : s.columns) {
    const double missing_pct = c.count > 0 ? 100.0 * double(c.missing) / double(c.count) : 0;
    std::string mean = "-", sd = "-", mn = "-", med = "-", mx = "-";
    if (c.is_numeric() && c.numeric_count > c.nan_count) {
      mean = format_number(c.mean);
      sd = format_number(c.stddev());
      mn = format_number(c.min);
      med = format_number(c.quantiles.quantile(0.5));
      mx = format_number(c.max);
    }
    std::string top = "-";
    if (auto t = c.top_values.top(1); !t.empty())
      top = str_cat(clip(t[0].first, 24), " (", t[0].second, ")");
    std::snprintf(line, sizeof line,
                  "%-*s %-6s %10lld %7.2f%% %12s %12s %12s %12s %12s %9.0f  %s\n",
                  int(name_width), clip(c.name, 32).c_str(),
                  std::string(column_type_name(c.type)).c_str(),
                  static_cast<long long>(c.count), missing_pct, mean.c_str(), sd.c_str(),
                  mn.c_str(), med.c_str(), mx.c_str(), std::round(c.distinct.estimate()),
                  top.c_str());
    out += line;
  }
}

}  // namespace

std::string to_text(const dataset_stats& s) {
  std::string out = str_cat("rows: ", s.rows, "  malformed rows: ", s.malformed_rows, "\n");
  append_table(out, s);
  for (const auto& [value, slice] : s.slices) {
    out += str_cat("\nslice ", s.slice_column, " = ", value, "  rows: ", slice.rows, "\n");
    append_table(out, slice);
  }
  return out;
}

}  // namespace troupe::pipeline
