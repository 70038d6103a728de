#include "pipeline/data/records.hpp"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <unordered_set>

#include "schemas/records.capnp.h"

namespace troupe::pipeline {

// Note [Record shard framing]
// A shard file is a 16-byte file header (magic, version, flags) and then frames. A frame is
// a 16-byte frame header (uint32 kind, uint32 CRC-32 of the message, uint64 message bytes)
// and one flat Cap'n Proto message (segment table + segments, a whole number of words).
// Every offset is a multiple of 8, and mmap returns page-aligned memory, so each message is
// word-aligned where it lies in the mapping and Cap'n Proto reads it in place. Frames come
// in the order schema, batch*, footer, and the file ends right after the footer. See
// docs/formats/records.md.

static_assert(std::endian::native == std::endian::little,
              "record shards store raw little-endian values: add byte swapping");
static_assert(uint16_t(wire::ColumnType::INT64) == uint16_t(column_type::integer) &&
                  uint16_t(wire::ColumnType::FLOAT64) == uint16_t(column_type::floating) &&
                  uint16_t(wire::ColumnType::STRING) == uint16_t(column_type::string),
              "schemas/records.capnp ColumnType must number types as column_type");

namespace {

constexpr char file_magic[8] = {'\x89', 'T', 'R', 'C', '\r', '\n', '\x1a', '\n'};
constexpr uint32_t format_version = 1;
constexpr size_t file_header_bytes = 16;
constexpr size_t frame_header_bytes = 16;
constexpr uint32_t kind_schema = 1;
constexpr uint32_t kind_batch = 2;
constexpr uint32_t kind_footer = 3;
constexpr size_t word_bytes = sizeof(capnp::word);
constexpr uint64_t traversal_slack_words = 1024;
constexpr size_t write_buffer_bytes = size_t(1) << 20;

void store_le32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
void store_le64(std::byte* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t load_le32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t load_le64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint32_t crc_of(std::span<const std::byte> bytes) {
  return uint32_t(
      crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string_view type_word(column_type t) { return column_type_name(t); }

}  // namespace

// ---------------------------------------------------------------------------------------
// record_writer

// The rows of the current batch of one column.
struct record_writer::column_buffer {
  std::vector<uint8_t> nulls;  // one bit per row; sized as rows come
  bool any_null = false;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::string data;
  std::vector<uint32_t> offsets{0};

  void clear() {
    nulls.clear();
    any_null = false;
    ints.clear();
    floats.clear();
    data.clear();
    offsets.assign(1, 0);
  }
};

record_writer::record_writer(std::string path, std::vector<record_column> columns,
                             int64_t rows_per_batch, std::FILE* f)
    : path_(std::move(path)),
      columns_(std::move(columns)),
      rows_per_batch_(rows_per_batch),
      f_(f),
      buffers_(columns_.size()),
      int_scratch_(columns_.size()),
      float_scratch_(columns_.size()) {}

record_writer::~record_writer() {
  if (f_) std::fclose(f_);
}

expected<std::unique_ptr<record_writer>> record_writer::create(const std::string& path,
                                                               std::vector<record_column> columns,
                                                               int64_t rows_per_batch) {
  TROUPE_REQUIRE(!columns.empty(), "record_writer: ", path, ": expected at least one column");
  TROUPE_REQUIRE(rows_per_batch >= 1 && rows_per_batch <= max_rows_per_batch,
                 "record_writer: ", path, ": rows per batch must be in [1, ", max_rows_per_batch,
                 "], got ", rows_per_batch);
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < columns.size(); ++i) {
    TROUPE_REQUIRE(!columns[i].name.empty(), "record_writer: ", path, ": column ", i + 1,
                   " has an empty name");
    TROUPE_REQUIRE(seen.insert(columns[i].name).second, "record_writer: ", path,
                   ": duplicate column name '", columns[i].name, "'");
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return make_error(errc::unavailable, "record_writer: cannot create '", path,
                      "': ", std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, write_buffer_bytes);
  std::unique_ptr<record_writer> w(new record_writer(path, std::move(columns), rows_per_batch, f));

  std::byte header[file_header_bytes] = {};
  std::memcpy(header, file_magic, 8);
  store_le32(header + 8, format_version);
  if (std::fwrite(header, 1, sizeof header, f) != sizeof header)
    return make_error(errc::unavailable, "record_writer: ", path,
                      ": write failed: ", std::strerror(errno));
  w->bytes_ = file_header_bytes;

  try {
    capnp::MallocMessageBuilder mb;
    auto root = mb.initRoot<wire::ShardSchema>();
    auto cols = root.initColumns(unsigned(w->columns_.size()));
    for (size_t i = 0; i < w->columns_.size(); ++i) {
      cols[unsigned(i)].setName(w->columns_[i].name);
      cols[unsigned(i)].setType(static_cast<wire::ColumnType>(w->columns_[i].type));
    }
    root.setRowsPerBatch(uint32_t(rows_per_batch));
    auto flat = capnp::messageToFlatArray(mb);
    TROUPE_TRY(w->write_frame(
        kind_schema, std::span<const std::byte>(reinterpret_cast<const std::byte*>(flat.begin()),
                                                flat.size() * word_bytes)));
  } catch (const kj::Exception& e) {
    return make_error(errc::internal, "record_writer: ", path,
                      ": Cap'n Proto failed writing the schema: ", e.getDescription().cStr());
  }
  return w;
}

error record_writer::write_frame(uint32_t kind, std::span<const std::byte> message) {
  std::byte header[frame_header_bytes];
  store_le32(header, kind);
  store_le32(header + 4, crc_of(message));
  store_le64(header + 8, message.size());
  if (std::fwrite(header, 1, sizeof header, f_) != sizeof header ||
      std::fwrite(message.data(), 1, message.size(), f_) != message.size())
    return make_error(errc::unavailable, "record_writer: ", path_,
                      ": write failed: ", std::strerror(errno));
  bytes_ += int64_t(sizeof header + message.size());
  return {};
}

error record_writer::add_row(std::span<const std::string_view> fields) {
  if (failed_) return failed_;
  TROUPE_REQUIRE(!finished_, "record_writer: ", path_, ": add_row after finish");
  const size_t n = columns_.size();
  TROUPE_REQUIRE(fields.size() == n, "record_writer: ", path_, ": expected ", n, " fields, got ",
                 fields.size());
  // Convert every field first, so that a bad one leaves the batch untouched.
  bool cut = false;
  for (size_t c = 0; c < n; ++c) {
    const std::string_view f = fields[c];
    if (f.empty()) continue;
    switch (columns_[c].type) {
      case column_type::integer:
        TROUPE_REQUIRE(parse_int64(f, int_scratch_[c]), "record_writer: column '", columns_[c].name,
                       "' (int): '", f, "' is not a 64-bit integer");
        break;
      case column_type::floating:
        TROUPE_REQUIRE(parse_double(f, float_scratch_[c]), "record_writer: column '",
                       columns_[c].name, "' (float): '", f, "' is not a number");
        break;
      case column_type::string:
        TROUPE_REQUIRE(f.size() <= max_string_blob_bytes, "record_writer: column '",
                       columns_[c].name, "' (string): a value of ", f.size(),
                       " bytes: expected at most ", max_string_blob_bytes);
        cut |= buffers_[c].data.size() + f.size() > max_string_blob_bytes;
        break;
    }
  }
  if (cut && batch_rows_ > 0) {
    if (error e = flush_batch()) {
      failed_ = e;
      return e;
    }
  }
  const int64_t r = batch_rows_;
  for (size_t c = 0; c < n; ++c) {
    column_buffer& b = buffers_[c];
    const std::string_view f = fields[c];
    if ((r & 7) == 0) b.nulls.push_back(0);
    if (f.empty()) {
      b.nulls.back() |= uint8_t(1u << (r & 7));
      b.any_null = true;
    }
    switch (columns_[c].type) {
      case column_type::integer:
        b.ints.push_back(f.empty() ? 0 : int_scratch_[c]);
        break;
      case column_type::floating:
        b.floats.push_back(f.empty() ? 0.0 : float_scratch_[c]);
        break;
      case column_type::string:
        b.data.append(f);
        b.offsets.push_back(uint32_t(b.data.size()));
        break;
    }
  }
  ++batch_rows_;
  ++rows_;
  if (batch_rows_ >= rows_per_batch_) {
    if (error e = flush_batch()) {
      failed_ = e;
      return e;
    }
  }
  return {};
}

error record_writer::flush_batch() {
  if (batch_rows_ == 0) return {};
  const unsigned n = unsigned(batch_rows_);
  // Words of the message, so the builder's first segment holds all of it.
  size_t words = 16 + columns_.size() * 8;
  for (size_t c = 0; c < columns_.size(); ++c) {
    const column_buffer& b = buffers_[c];
    words += (b.nulls.size() + 7) / 8 + n + (b.data.size() + 7) / 8 + (size_t(n) + 2) / 2;
  }
  try {
    capnp::MallocMessageBuilder mb(unsigned(std::min<size_t>(words, (size_t(1) << 29) - 1)));
    auto root = mb.initRoot<wire::RecordBatch>();
    root.setNumRows(n);
    root.setFirstRow(uint64_t(rows_ - batch_rows_));
    auto cols = root.initColumns(unsigned(columns_.size()));
    for (size_t c = 0; c < columns_.size(); ++c) {
      const column_buffer& b = buffers_[c];
      auto col = cols[unsigned(c)];
      if (b.any_null) col.setNulls(capnp::Data::Reader(b.nulls.data(), b.nulls.size()));
      switch (columns_[c].type) {
        case column_type::integer: {
          auto list = col.initInt64s(n);
          auto raw = capnp::AnyList::Reader(list.asReader()).getRawBytes();
          std::memcpy(const_cast<kj::byte*>(raw.begin()), b.ints.data(), n * sizeof(int64_t));
          break;
        }
        case column_type::floating: {
          auto list = col.initFloat64s(n);
          auto raw = capnp::AnyList::Reader(list.asReader()).getRawBytes();
          std::memcpy(const_cast<kj::byte*>(raw.begin()), b.floats.data(), n * sizeof(double));
          break;
        }
        case column_type::string: {
          auto s = col.initStrings();
          s.setData(
              capnp::Data::Reader(reinterpret_cast<const kj::byte*>(b.data.data()), b.data.size()));
          auto list = s.initOffsets(n + 1);
          auto raw = capnp::AnyList::Reader(list.asReader()).getRawBytes();
          std::memcpy(const_cast<kj::byte*>(raw.begin()), b.offsets.data(),
                      (n + 1) * sizeof(uint32_t));
          break;
        }
      }
    }
    auto flat = capnp::messageToFlatArray(mb);
    TROUPE_TRY(write_frame(
        kind_batch, std::span<const std::byte>(reinterpret_cast<const std::byte*>(flat.begin()),
                                               flat.size() * word_bytes)));
  } catch (const kj::Exception& e) {
    return make_error(errc::internal, "record_writer: ", path_,
                      ": Cap'n Proto failed writing batch ", batches_, ": ",
                      e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "record_writer: ", path_,
                      ": out of memory writing batch ", batches_);
  }
  for (column_buffer& b : buffers_) b.clear();
  batch_rows_ = 0;
  ++batches_;
  return {};
}

error record_writer::finish() {
  if (failed_) return failed_;
  TROUPE_REQUIRE(!finished_, "record_writer: ", path_, ": finish called twice");
  finished_ = true;
  auto fail = [&](error e) {
    failed_ = e;
    return e;
  };
  if (error e = flush_batch()) return fail(std::move(e));
  try {
    capnp::MallocMessageBuilder mb(16);
    auto root = mb.initRoot<wire::ShardFooter>();
    root.setNumRows(uint64_t(rows_));
    root.setNumBatches(uint64_t(batches_));
    auto flat = capnp::messageToFlatArray(mb);
    if (error e = write_frame(kind_footer, std::span<const std::byte>(
                                               reinterpret_cast<const std::byte*>(flat.begin()),
                                               flat.size() * word_bytes)))
      return fail(std::move(e));
  } catch (const kj::Exception& e) {
    return fail(make_error(errc::internal, "record_writer: ", path_,
                           ": Cap'n Proto failed writing the footer: ", e.getDescription().cStr()));
  }
  if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0)
    return fail(make_error(errc::unavailable, "record_writer: ", path_,
                           ": flush failed: ", std::strerror(errno)));
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0)
    return fail(make_error(errc::unavailable, "record_writer: ", path_,
                           ": close failed: ", std::strerror(errno)));
  return {};
}

// ---------------------------------------------------------------------------------------
// record_file

namespace {

struct mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~mapping() {
    if (addr != nullptr && addr != MAP_FAILED) ::munmap(addr, size);
  }
};

capnp::ReaderOptions reader_options(size_t bytes) {
  capnp::ReaderOptions o;
  // Each object is read once: an honest message fits in its own size (plus slack); a hostile
  // one whose pointers overlap fails instead of causing unbounded work.
  o.traversalLimitInWords = bytes / word_bytes + traversal_slack_words;
  return o;
}

kj::ArrayPtr<const capnp::word> words_at(const std::byte* p, size_t bytes) {
  return kj::arrayPtr(reinterpret_cast<const capnp::word*>(p), bytes / word_bytes);
}

}  // namespace

record_file::~record_file() = default;

std::span<const std::byte> record_file::mapped() const { return {base_, size_}; }

error record_file::fail(int64_t batch, uint64_t offset, std::string_view what) const {
  if (batch < 0)
    return make_error(errc::data_loss, "record_file: ", path_, ": ", what, " (at byte ", offset,
                      ")");
  return make_error(errc::data_loss, "record_file: ", path_, ": batch ", batch, " (at byte ",
                    offset, "): ", what);
}

expected<std::unique_ptr<record_file>> record_file::open(const std::string& path,
                                                         record_read_options o) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errno == ENOENT ? errc::not_found : errc::unavailable,
                      "record_file: cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return make_error(errc::unavailable, "record_file: ", path,
                      ": stat failed: ", std::strerror(err));
  }
  std::unique_ptr<record_file> f(new record_file());
  f->path_ = path;
  f->opt_ = o;
  auto m = std::make_shared<mapping>();
  m->size = size_t(st.st_size);
  if (m->size > 0) {
    m->addr = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m->addr == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return make_error(errc::unavailable, "record_file: ", path,
                        ": mmap failed: ", std::strerror(err));
    }
    ::madvise(m->addr, m->size, MADV_SEQUENTIAL);
  }
  ::close(fd);
  f->base_ = static_cast<const std::byte*>(m->addr);
  f->size_ = m->size;
  f->mapping_ = m;
  const std::byte* base = f->base_;
  const size_t size = f->size_;

  if (size < file_header_bytes || std::memcmp(base, file_magic, 8) != 0)
    return make_error(errc::data_loss, "record_file: ", path,
                      ": not a record shard (no troupe record magic in the first 8 bytes)");
  const uint32_t version = load_le32(base + 8);
  if (version != format_version)
    return make_error(errc::invalid_argument, "record_file: ", path, ": format version ", version,
                      ": expected ", format_version);

  // Walk the frames: schema, batches, footer, end of file.
  size_t pos = file_header_bytes;
  bool have_schema = false, have_footer = false;
  uint64_t footer_rows = 0, footer_batches = 0;
  while (pos < size) {
    const int64_t batch_index = int64_t(f->frames_.size());
    if (have_footer) return f->fail(-1, pos, "bytes after the footer");
    if (size - pos < frame_header_bytes)
      return f->fail(-1, pos, "truncated file: a frame header is cut off");
    const uint32_t kind = load_le32(base + pos);
    const uint32_t crc = load_le32(base + pos + 4);
    const uint64_t bytes = load_le64(base + pos + 8);
    const size_t msg = pos + frame_header_bytes;
    if (bytes > size - msg)
      return f->fail(
          kind == kind_batch ? batch_index : -1, pos,
          str_cat("truncated file: the frame says ", bytes, " bytes, ", size - msg, " remain"));
    if (bytes % word_bytes != 0 || bytes < word_bytes)
      return f->fail(-1, pos, str_cat("frame size ", bytes, " is not a positive multiple of 8"));
    if (kind == kind_batch) {
      if (!have_schema) return f->fail(-1, pos, "a batch before the schema");
      f->frames_.push_back({msg, bytes, crc});
    } else if (kind == kind_schema || kind == kind_footer) {
      if (kind == kind_schema && have_schema) return f->fail(-1, pos, "a second schema");
      if (kind == kind_footer && !have_schema)
        return f->fail(-1, pos, "a footer before the schema");
      if (crc_of({base + msg, bytes}) != crc)
        return f->fail(-1, pos,
                       kind == kind_schema ? "schema checksum mismatch (corrupt data)"
                                           : "footer checksum mismatch (corrupt data)");
      try {
        capnp::FlatArrayMessageReader reader(words_at(base + msg, bytes), reader_options(bytes));
        if (kind == kind_schema) {
          auto root = reader.getRoot<wire::ShardSchema>();
          std::unordered_set<std::string> seen;
          for (auto c : root.getColumns()) {
            const auto t = uint16_t(c.getType());
            if (t > uint16_t(column_type::string))
              return f->fail(-1, pos, str_cat("schema: unknown column type number ", t));
            std::string name(c.getName().cStr(), c.getName().size());
            if (name.empty() || !seen.insert(name).second)
              return f->fail(-1, pos,
                             str_cat("schema: empty or duplicate column name '", name, "'"));
            f->columns_.push_back({std::move(name), column_type(t)});
          }
          if (f->columns_.empty()) return f->fail(-1, pos, "schema: no columns");
          f->rows_per_batch_ = root.getRowsPerBatch();
          have_schema = true;
        } else {
          auto root = reader.getRoot<wire::ShardFooter>();
          footer_rows = root.getNumRows();
          footer_batches = root.getNumBatches();
          have_footer = true;
        }
      } catch (const kj::Exception& e) {
        return f->fail(-1, pos,
                       str_cat("not a valid Cap'n Proto message: ", e.getDescription().cStr()));
      }
    } else {
      return f->fail(-1, pos, str_cat("unknown frame kind ", kind));
    }
    pos = msg + bytes;
  }
  if (!have_schema) return f->fail(-1, pos, "truncated file: no schema");
  if (!have_footer) return f->fail(-1, pos, "truncated file: no footer");
  if (footer_batches != f->frames_.size())
    return f->fail(-1, pos,
                   str_cat("the footer says ", footer_batches, " batches, the file holds ",
                           f->frames_.size()));
  if (footer_rows > uint64_t(f->frames_.size()) * uint64_t(max_rows_per_batch))
    return f->fail(
        -1, pos,
        str_cat("the footer says ", footer_rows, " rows in ", f->frames_.size(), " batches"));
  f->num_rows_ = int64_t(footer_rows);
  return f;
}

expected<record_batch> record_file::batch(int64_t i) const {
  TROUPE_REQUIRE(i >= 0 && i < num_batches(), "record_file: ", path_, ": batch ", i,
                 " out of range: the file has ", num_batches());
  const frame& fr = frames_[size_t(i)];
  const uint64_t at = fr.offset - frame_header_bytes;
  const std::byte* msg = base_ + fr.offset;
  if (opt_.verify_checksums && crc_of({msg, fr.size}) != fr.crc)
    return fail(i, at, "checksum mismatch (corrupt data)");
  record_batch out;
  out.mapping_ = mapping_;
  const size_t ncols = columns_.size();
  try {
    capnp::FlatArrayMessageReader reader(words_at(msg, fr.size), reader_options(fr.size));
    auto root = reader.getRoot<wire::RecordBatch>();
    const uint64_t n = root.getNumRows();
    if (n == 0 || n > uint64_t(max_rows_per_batch))
      return fail(i, at, str_cat("row count ", n, ": expected 1 to ", max_rows_per_batch));
    out.num_rows_ = int64_t(n);
    out.first_row_ = int64_t(root.getFirstRow());
    if (root.getFirstRow() > uint64_t(num_rows_) || n > uint64_t(num_rows_) - root.getFirstRow())
      return fail(
          i, at,
          str_cat("rows ", root.getFirstRow(), " + ", n, " pass the file's ", num_rows_, " rows"));
    auto cols = root.getColumns();
    if (cols.size() != ncols)
      return fail(i, at, str_cat("expected ", ncols, " columns, got ", cols.size()));
    out.cols_.resize(ncols);
    for (size_t c = 0; c < ncols; ++c) {
      auto col = cols[unsigned(c)];
      record_batch::column_view& v = out.cols_[c];
      const column_type t = columns_[c].type;
      v.type = t;
      auto what = [&](std::string_view s) {
        return fail(i, at, str_cat("column '", columns_[c].name, "' (", type_word(t), "): ", s));
      };
      if (col.hasNulls()) {
        auto nulls = col.getNulls();
        if (nulls.size() != 0) {
          if (nulls.size() != (n + 7) / 8)
            return what(str_cat("null bitmap of ", nulls.size(), " bytes: expected ", (n + 7) / 8));
          v.nulls = reinterpret_cast<const uint8_t*>(nulls.begin());
        }
      }
      switch (t) {
        case column_type::integer: {
          if (!col.isInt64s()) return what("the values are not a list of Int64");
          auto list = col.getInt64s();
          if (list.size() != n) return what(str_cat(list.size(), " values: expected ", n));
          auto raw = capnp::AnyList::Reader(list).getRawBytes();
          v.ints = {reinterpret_cast<const int64_t*>(raw.begin()), size_t(n)};
          break;
        }
        case column_type::floating: {
          if (!col.isFloat64s()) return what("the values are not a list of Float64");
          auto list = col.getFloat64s();
          if (list.size() != n) return what(str_cat(list.size(), " values: expected ", n));
          auto raw = capnp::AnyList::Reader(list).getRawBytes();
          v.floats = {reinterpret_cast<const double*>(raw.begin()), size_t(n)};
          break;
        }
        case column_type::string: {
          if (!col.isStrings()) return what("the values are not strings");
          auto s = col.getStrings();
          auto data = s.getData();
          auto offsets = s.getOffsets();
          if (offsets.size() != n + 1)
            return what(str_cat(offsets.size(), " offsets: expected ", n + 1));
          auto raw = capnp::AnyList::Reader(offsets).getRawBytes();
          const auto* off = reinterpret_cast<const uint32_t*>(raw.begin());
          uint32_t bad = off[0];  // must be 0
          for (uint64_t r = 0; r < n; ++r) bad |= off[r] > off[r + 1] ? 1u : 0u;
          if (bad != 0 || off[n] != data.size())
            return what(str_cat("string offsets are not 0, non-decreasing, ", data.size(),
                                " (the data size) at the end"));
          v.data = reinterpret_cast<const char*>(data.begin());
          v.offsets = off;
          break;
        }
      }
    }
  } catch (const kj::Exception& e) {
    return fail(i, at, str_cat("not a valid Cap'n Proto message: ", e.getDescription().cStr()));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// paths

bool is_record_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[8];
  const bool ok = std::fread(magic, 1, 8, f) == 8 && std::memcmp(magic, file_magic, 8) == 0;
  std::fclose(f);
  return ok;
}

expected<std::vector<std::string>> list_record_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    return make_error(errc::not_found, "record shards: '", path, "' does not exist");
  std::vector<std::string> out;
  if (!fs::is_directory(st)) {
    out.push_back(path);
    return out;
  }
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    // Hidden entries (an ingest's temporary directory) are not shards of a finished span.
    if (it->path().filename().string().starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && it->path().extension() == record_file_extension)
      out.push_back(it->path().string());
  }
  if (ec)
    return make_error(errc::unavailable, "record shards: cannot list '", path, "': ", ec.message());
  TROUPE_REQUIRE(!out.empty(), "record shards: no *", record_file_extension, " file under '", path,
                 "'");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace troupe::pipeline
