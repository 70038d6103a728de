#include "pipeline/data/csv.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace troupe::pipeline {

namespace {
constexpr size_t block_bytes = size_t(1) << 20;  // read size, and the initial buffer
constexpr size_t max_problems_kept = 100;
}  // namespace

// A byte stream: a plain file, or gzip inflated on the fly.
class csv_source {
 public:
  csv_source(std::string path, std::FILE* f) : path_(std::move(path)), f_(f) {}
  ~csv_source() {
    if (gzip_) inflateEnd(&zs_);
    if (f_) std::fclose(f_);
  }

  bool gzip() const { return gzip_; }

  // Forgets the magic bytes read by init() (after a seek).
  void drop_pending() { pending_n_ = 0; }

  // Limits a plain file to `n` more bytes from the current position.
  void limit(int64_t n) { left_ = n; }

  // Looks at the magic bytes and sets up inflate for gzip.
  error init() {
    unsigned char magic[2];
    size_t n = std::fread(magic, 1, 2, f_);
    if (std::ferror(f_)) return io_error();
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      gzip_ = true;
      in_ = std::make_unique<unsigned char[]>(block_bytes);
      std::memcpy(in_.get(), magic, 2);
      zs_.next_in = in_.get();
      zs_.avail_in = 2;
      if (inflateInit2(&zs_, 15 + 16) != Z_OK)
        return make_error(errc::internal, "csv_reader: ", path_, ": inflateInit2 failed");
      return {};
    }
    std::memcpy(pending_, magic, n);
    pending_n_ = n;
    return {};
  }

  // Reads up to `cap` bytes into `dst`; 0 at the end of the stream.
  expected<size_t> read(char* dst, size_t cap) {
    if (!gzip_) {
      if (left_ >= 0) cap = size_t(std::min<int64_t>(int64_t(cap), left_));
      size_t got = 0;
      while (pending_n_ > 0 && got < cap) {
        dst[got++] = pending_[0];
        std::memmove(pending_, pending_ + 1, --pending_n_);
      }
      got += std::fread(dst + got, 1, cap - got, f_);
      if (std::ferror(f_)) return io_error();
      if (left_ >= 0) left_ -= int64_t(got);
      return got;
    }
    zs_.next_out = reinterpret_cast<unsigned char*>(dst);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(cap, 1u << 30));
    const uInt want = zs_.avail_out;
    while (zs_.avail_out == want) {
      if (zs_.avail_in == 0) {
        if (input_eof_) {
          if (!stream_done_)
            return make_error(errc::data_loss, "csv_reader: ", path_,
                              ": truncated gzip data (the stream ends early)");
          break;
        }
        size_t n = std::fread(in_.get(), 1, block_bytes, f_);
        if (std::ferror(f_)) return io_error();
        if (n == 0) {
          input_eof_ = true;
          continue;
        }
        zs_.next_in = in_.get();
        zs_.avail_in = static_cast<uInt>(n);
      }
      if (stream_done_) {  // another gzip member follows (concatenated .gz files)
        if (inflateReset(&zs_) != Z_OK)
          return make_error(errc::internal, "csv_reader: ", path_, ": inflateReset failed");
        stream_done_ = false;
      }
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        stream_done_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return make_error(errc::data_loss, "csv_reader: ", path_, ": corrupt gzip data: ",
                          zs_.msg ? zs_.msg : "inflate failed");
      }
    }
    return static_cast<size_t>(want - zs_.avail_out);
  }

 private:
  error io_error() const {
    return make_error(errc::data_loss, "csv_reader: ", path_,
                      ": read failed: ", std::strerror(errno));
  }

  std::string path_;
  std::FILE* f_;
  bool gzip_ = false;
  int64_t left_ = -1;  // plain files: bytes left to read (-1: to the end)
  char pending_[2];
  size_t pending_n_ = 0;
  z_stream zs_{};
  std::unique_ptr<unsigned char[]> in_;
  bool input_eof_ = false;
  bool stream_done_ = false;
};

csv_reader::csv_reader(std::string path, csv_options o, std::unique_ptr<csv_source> src)
    : path_(std::move(path)), opt_(o), src_(std::move(src)) {
  cap_ = block_bytes;
  buf_ = std::make_unique_for_overwrite<char[]>(cap_ + 1);
  buf_[0] = '\0';
  stop_[static_cast<unsigned char>(opt_.delimiter)] = true;
  stop_['\n'] = true;
  stop_['\0'] = true;
}

csv_reader::~csv_reader() = default;

expected<std::unique_ptr<csv_reader>> csv_reader::open(const std::string& path,
                                                       csv_options o) {
  TROUPE_REQUIRE(o.max_line_bytes > 0, "csv_reader: ", path,
                 ": max_line_bytes must be positive, got ", o.max_line_bytes);
  TROUPE_REQUIRE(o.delimiter != '"' && o.delimiter != '\n' && o.delimiter != '\r' &&
                     o.delimiter != '\0',
                 "csv_reader: ", path, ": the delimiter cannot be a quote, NUL or line end");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    return make_error(errno == ENOENT ? errc::not_found : errc::unavailable,
                      "csv_reader: cannot open '", path, "': ", std::strerror(errno));
  auto src = std::make_unique<csv_source>(path, f);
  TROUPE_TRY(src->init());
  if (o.end >= 0 && !src->gzip()) src->limit(o.end);  // the magic bytes count: offset 0
  std::unique_ptr<csv_reader> r(new csv_reader(path, o, std::move(src)));
  TROUPE_TRY(r->read_header());
  return r;
}

expected<std::unique_ptr<csv_reader>> csv_reader::open_range(const std::string& path,
                                                             std::vector<std::string> header,
                                                             int64_t begin, int64_t end,
                                                             csv_options o) {
  TROUPE_REQUIRE(o.max_line_bytes > 0, "csv_reader: ", path,
                 ": max_line_bytes must be positive, got ", o.max_line_bytes);
  TROUPE_REQUIRE(begin >= 0 && (end < 0 || end >= begin), "csv_reader: ", path,
                 ": bad byte range [", begin, ", ", end, ")");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    return make_error(errno == ENOENT ? errc::not_found : errc::unavailable,
                      "csv_reader: cannot open '", path, "': ", std::strerror(errno));
  auto src = std::make_unique<csv_source>(path, f);
  TROUPE_TRY(src->init());
  TROUPE_REQUIRE(!src->gzip(), "csv_reader: ", path, ": a byte range of gzip data");
  if (std::fseek(f, long(begin), SEEK_SET) != 0)
    return make_error(errc::data_loss, "csv_reader: ", path, ": seek to ", begin,
                      " failed: ", std::strerror(errno));
  src->drop_pending();
  if (end >= 0) src->limit(end - begin);
  o.end = end;
  std::unique_ptr<csv_reader> r(new csv_reader(path, o, std::move(src)));
  r->header_ = std::move(header);
  TROUPE_TRY(r->fill());
  return r;
}

bool csv_reader::is_gzip() const { return src_->gzip(); }

error csv_reader::fill() {
  if (eof_) return {};
  if (pos_ > 0) {
    std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (cap_ - end_ < block_bytes / 2) {  // grow: the pending record fills the buffer
    size_t new_cap = cap_ * 2;
    auto nb = std::make_unique_for_overwrite<char[]>(new_cap + 1);
    std::memcpy(nb.get(), buf_.get(), end_);
    buf_ = std::move(nb);
    cap_ = new_cap;
  }
  while (end_ < cap_) {
    size_t n = TROUPE_TRY(src_->read(buf_.get() + end_, cap_ - end_));
    if (n == 0) {
      eof_ = true;
      break;
    }
    end_ += n;
  }
  buf_[end_] = '\0';
  return {};
}

error csv_reader::nul_error(const char* at) const {
  const char* line_start = buf_.get() + pos_;
  int64_t line = line_;
  for (const char* q = line_start; q < at; ++q) {
    if (*q == '\n') {
      ++line;
      line_start = q + 1;
    }
  }
  return make_error(errc::data_loss, "csv_reader: ", path_, ":", line,
                    ": binary garbage: a NUL byte in the text (byte ", at - line_start + 1,
                    " of the line); is this a CSV file?");
}

void csv_reader::add_problem(int64_t line, std::string message) {
  ++malformed_count_;
  if (problems_.size() < max_problems_kept)
    problems_.push_back({path_, line, std::move(message)});
}

// Parses one record starting at pos_ without modifying the buffer; fills spans_,
// record_end_ (the offset just past its line end) and record_lines_. See the class comment
// for the quoting rules.
expected<csv_reader::parse_result> csv_reader::parse_record() {
  char* const base = buf_.get();
  const char* p = base + pos_;
  const char* const e = base + end_;  // *e == '\0'
  const char delim = opt_.delimiter;
  spans_.clear();
  bad_message_.clear();
  int64_t nl = 0;

  if (p == e) return eof_ ? parse_result::end : parse_result::need_more;
  // A blank line.
  if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
    record_end_ = pos_ + (*p == '\n' ? 1 : 2);
    record_lines_ = 1;
    return parse_result::blank;
  }
  if (*p == '\r' && p + 1 == e) {
    if (!eof_) return parse_result::need_more;
    record_end_ = end_;
    record_lines_ = 1;
    return parse_result::blank;
  }

  for (;;) {
    if (*p == '"') {
      const char* cs = ++p;
      bool esc = false;
      for (;;) {
        char c;
        while ((c = *p) != '"' && c != '\0') {
          nl += (c == '\n');
          ++p;
        }
        if (c == '\0') {
          if (p != e) return nul_error(p);
          if (!eof_) return parse_result::need_more;
          bad_message_ = "unterminated quoted field (opened here, still open at the end of the file)";
          ended_inside_quotes_ = true;
          record_end_ = end_;
          record_lines_ = nl + 1;
          return parse_result::malformed;
        }
        if (p + 1 == e && !eof_) return parse_result::need_more;
        if (p[1] == '"') {
          esc = true;
          p += 2;
          continue;
        }
        break;
      }
      spans_.push_back({size_t(cs - base), size_t(p - base), esc});
      ++p;  // the closing quote
      if (*p == delim) {
        ++p;
        continue;
      }
      if (*p == '\n' || (*p == '\r' && p[1] == '\n')) {
        p += (*p == '\n' ? 1 : 2);
        ++nl;
        break;
      }
      if (p == e || (*p == '\r' && p + 1 == e)) {
        if (!eof_) return parse_result::need_more;
        p = e;
        break;
      }
      if (*p == '\0') return nul_error(p);
      bad_message_ = str_cat("bad quoting: unexpected character '", *p,
                             "' after the closing quote of field ", spans_.size());
      // Skip the rest of the record as unquoted text.
      while (*p != '\n' && *p != '\0') ++p;
      if (*p == '\0') {
        if (p != e) return nul_error(p);
        if (!eof_) return parse_result::need_more;
      } else {
        ++p;
        ++nl;
      }
      record_end_ = size_t(p - base);
      record_lines_ = nl;
      return parse_result::malformed;
    }
    const char* fs = p;
    char c;
    while (!stop_[static_cast<unsigned char>(c = *p)]) ++p;
    if (c == delim) {
      spans_.push_back({size_t(fs - base), size_t(p - base), false});
      ++p;
      continue;
    }
    if (c == '\n') {
      const char* fe = (p > fs && p[-1] == '\r') ? p - 1 : p;
      spans_.push_back({size_t(fs - base), size_t(fe - base), false});
      ++p;
      ++nl;
      break;
    }
    if (p != e) return nul_error(p);
    if (!eof_) return parse_result::need_more;
    const char* fe = (p > fs && p[-1] == '\r') ? p - 1 : p;
    spans_.push_back({size_t(fs - base), size_t(fe - base), false});
    break;
  }
  record_end_ = size_t(p - base);
  record_lines_ = nl == 0 ? 1 : nl;
  return parse_result::record;
}

error csv_reader::read_header() {
  // Fill once, skip a UTF-8 BOM.
  TROUPE_TRY(fill());
  if (end_ >= 3 && std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0) pos_ = 3;
  for (;;) {
    parse_result r = TROUPE_TRY(parse_record());
    if (r == parse_result::need_more) {
      if (int64_t(end_ - pos_) > opt_.max_line_bytes)
        return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                          ": the header is longer than max_line_bytes (", opt_.max_line_bytes,
                          ")");
      TROUPE_TRY(fill());
      continue;
    }
    if (r == parse_result::end)
      return make_error(errc::invalid_argument, "csv_reader: ", path_,
                        ": no header: the file is empty");
    if (r == parse_result::blank)
      return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                        ": no header: the first line is blank");
    if (r == parse_result::malformed)
      return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                        ": bad header: ", bad_message_);
    break;
  }
  if (int64_t(record_end_ - pos_) > opt_.max_line_bytes)
    return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                      ": the header is longer than max_line_bytes (", opt_.max_line_bytes,
                      ")");
  std::unordered_set<std::string_view> seen;
  header_.reserve(spans_.size());
  for (const field_span& s : spans_) {
    std::string name(buf_.get() + s.begin, s.end - s.begin);
    if (s.unescape) {
      std::string u;
      for (size_t i = 0; i < name.size(); ++i) {
        u.push_back(name[i]);
        if (name[i] == '"') ++i;
      }
      name = std::move(u);
    }
    header_.push_back(std::move(name));
  }
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i].empty())
      return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                        ": bad header: column ", i + 1, " has an empty name");
    if (!seen.insert(header_[i]).second)
      return make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                        ": bad header: duplicate column name '", header_[i], "' (column ",
                        i + 1, ")");
  }
  pos_ = record_end_;
  line_ += record_lines_;
  return {};
}

expected<bool> csv_reader::next(std::vector<std::string_view>& fields, int64_t& line) {
  if (failed_) return failed_;
  for (;;) {
    auto r = parse_record();
    if (!r) {
      failed_ = r.error_value();
      return failed_;
    }
    if (*r == parse_result::need_more) {
      if (int64_t(end_ - pos_) > opt_.max_line_bytes) {
        failed_ = make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                             ": record longer than max_line_bytes (", opt_.max_line_bytes,
                             " bytes); an unterminated quote can cause this");
        return failed_;
      }
      if (error err = fill()) {
        failed_ = std::move(err);
        return failed_;
      }
      continue;
    }
    if (*r == parse_result::end) return false;
    if (int64_t(record_end_ - pos_) > opt_.max_line_bytes) {
      failed_ = make_error(errc::invalid_argument, "csv_reader: ", path_, ":", line_,
                           ": record longer than max_line_bytes (", record_end_ - pos_,
                           " > ", opt_.max_line_bytes, " bytes)");
      return failed_;
    }
    const int64_t this_line = line_;
    pos_ = record_end_;
    line_ += record_lines_;
    if (*r == parse_result::blank) continue;
    if (*r == parse_result::malformed) {
      add_problem(this_line, std::move(bad_message_));
      continue;
    }
    if (spans_.size() != header_.size()) {
      add_problem(this_line, str_cat("wrong number of fields: expected ", header_.size(),
                                     ", got ", spans_.size()));
      continue;
    }
    fields.resize(spans_.size());
    char* base = buf_.get();
    for (size_t i = 0; i < spans_.size(); ++i) {
      const field_span& s = spans_[i];
      size_t len = s.end - s.begin;
      if (s.unescape) {  // collapse "" to " in place: the result is never longer
        char* w = base + s.begin;
        for (const char* q = base + s.begin; q < base + s.end; ++q) {
          *w++ = *q;
          if (*q == '"') ++q;
        }
        len = size_t(w - (base + s.begin));
      }
      fields[i] = std::string_view(base + s.begin, len);
    }
    line = this_line;
    ++rows_read_;
    return true;
  }
}

std::string_view column_type_name(column_type t) {
  switch (t) {
    case column_type::integer: return "int";
    case column_type::floating: return "float";
    case column_type::string: return "string";
  }
  return "unknown";
}

bool parse_int64(std::string_view s, int64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e || (*b == '-' && s[0] == '+')) return false;
  int64_t v;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) return false;
  out = v;
  return true;
}

bool parse_double(std::string_view s, double& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e || (*b == '-' && s[0] == '+')) return false;
  double v;
  auto [p, ec] = std::from_chars(b, e, v, std::chars_format::general);
  if (p != e) return false;
  if (ec == std::errc::result_out_of_range) {
    // strtod gives +-HUGE_VAL on overflow and a tiny or zero value on underflow.
    std::string tmp(s);
    errno = 0;
    v = std::strtod(tmp.c_str(), nullptr);
  } else if (ec != std::errc()) {
    return false;
  }
  out = v;
  return true;
}

column_type refine_type(column_type current, std::string_view value) {
  if (value.empty() || current == column_type::string) return current;
  if (current == column_type::integer) {
    int64_t i;
    if (parse_int64(value, i)) return column_type::integer;
  }
  double d;
  if (parse_double(value, d)) return column_type::floating;
  return column_type::string;
}

std::string header_difference(const std::vector<std::string>& want,
                              const std::vector<std::string>& got) {
  for (size_t i = 0; i < std::min(want.size(), got.size()); ++i)
    if (want[i] != got[i])
      return str_cat("column ", i + 1, " is '", got[i], "', expected '", want[i], "'");
  if (want.size() != got.size())
    return str_cat("has ", got.size(), " columns, expected ", want.size());
  return {};
}

}  // namespace troupe::pipeline
