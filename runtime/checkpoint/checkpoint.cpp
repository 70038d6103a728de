#include "runtime/checkpoint/checkpoint.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <set>
#include <system_error>

#include "runtime/codec/tensor_codec.hpp"
#include "schemas/checkpoint.capnp.h"

namespace troupe {

// Note [Checkpoint layout]
// A store is one RocksDB database (default column family) with three kinds of keys:
//   "format"                   the marker "troupe checkpoint store, format 1"
//   "m/<id>"                   the manifest of checkpoint <id>: an 8-byte header (CRC-32C
//                              and size of the rest) and a Manifest message
//                              (schemas/checkpoint.capnp)
//   "t/<id>/<variable name>"   one tensor, encoded by encode_tensor, exactly those bytes
// <id> is 16 lowercase hex digits, so byte order is id order. The manifest lists each
// tensor's dtype, shape, size and CRC-32C. One save is one WriteBatch: the tensors, the
// manifest, and two DeleteRange calls removing every checkpoint older than the newest
// keep_last; RocksDB applies a batch atomically (one WAL record), so after a crash the
// store holds the old state or the new one. docs/formats/checkpoint.md has the details.

// Note [Checkpoint fallback]
// restore() walks the checkpoints newest first (or only the one asked for). For each it
// reads the manifest, selects the tensors to restore, checks them against the existing
// variables (a dtype or shape mismatch is the caller's problem: an error, no fallback),
// then reads every selected tensor: size against the manifest, CRC-32C over the stored
// bytes, decode, dtype and shape against the manifest. The first problem (an unreadable
// manifest, a missing key, a truncated value, a checksum mismatch, RocksDB reporting
// corruption, a tensor that does not decode) makes the checkpoint "damaged": a warning
// naming it, the tensor and the problem goes to stderr and to the report, and the next
// older checkpoint is tried. Only tensors the restore reads are checked, so a subset
// restore may use a checkpoint with a damaged tensor it does not need. Variables change
// only after every selected tensor of one checkpoint is decoded.

static_assert(std::endian::native == std::endian::little,
              "checkpoint headers and the table CRC read little-endian words");

namespace {

// ---------------------------------------------------------------- CRC-32C

constexpr uint32_t crc32c_poly = 0x82F63B78u;  // 0x1EDC6F41, bit-reversed

struct crc32c_tables {
  uint32_t t[8][256];
};

// Slicing-by-8: t[0] is the byte-at-a-time table; t[k][b] is the CRC of byte b followed
// by k zero bytes.
constexpr crc32c_tables make_crc32c_tables() {
  crc32c_tables r{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (crc32c_poly & (0u - (c & 1u)));
    r.t[0][i] = c;
  }
  for (int s = 1; s < 8; ++s)
    for (uint32_t i = 0; i < 256; ++i)
      r.t[s][i] = (r.t[s - 1][i] >> 8) ^ r.t[0][r.t[s - 1][i] & 0xffu];
  return r;
}

constexpr crc32c_tables crc_tables = make_crc32c_tables();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0; ++p, --n)
    c = _mm_crc32_u8(uint32_t(c), *p);
  // TODO(perf): three interleaved streams combined at the end would triple the speed
  // (the instruction has a latency of 3 and a throughput of 1).
  for (; n >= 32; p += 32, n -= 32) {
    uint64_t v[4];
    std::memcpy(v, p, 32);
    c = _mm_crc32_u64(c, v[0]);
    c = _mm_crc32_u64(c, v[1]);
    c = _mm_crc32_u64(c, v[2]);
    c = _mm_crc32_u64(c, v[3]);
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  for (; n > 0; ++p, --n) c = _mm_crc32_u8(uint32_t(c), *p);
  return ~uint32_t(c);
}
#endif

const bool has_sse42 = [] {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2") != 0;
#else
  return false;
#endif
}();

// Copies n bytes and returns their CRC-32C, in blocks that stay in cache between the copy
// and the checksum.
uint32_t crc32c_copy(std::byte* dst, const std::byte* src, size_t n) {
  constexpr size_t block = size_t{64} << 10;
  uint32_t crc = 0;
  for (size_t off = 0; off < n; off += block) {
    const size_t len = std::min(block, n - off);
    std::memcpy(dst + off, src + off, len);
    crc = crc32c_extend(crc, {dst + off, len});
  }
  return crc;
}

// ---------------------------------------------------------------- keys and values

constexpr std::string_view format_key = "format";
constexpr std::string_view format_value = "troupe checkpoint store, format 1";
constexpr size_t manifest_header_bytes = 8;  // CRC-32C of the message, its size
constexpr uint64_t traversal_slack_words = 1024;

std::string hex16(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}
std::string hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}
std::string manifest_key(uint64_t id) { return "m/" + hex16(id); }
std::string tensor_prefix(uint64_t id) { return "t/" + hex16(id) + "/"; }
std::string tensor_key(uint64_t id, std::string_view name) {
  return str_cat(tensor_prefix(id), name);
}
std::optional<uint64_t> parse_manifest_key(std::string_view key) {
  if (key.size() != 18 || !key.starts_with("m/")) return std::nullopt;
  uint64_t id = 0;
  for (char ch : key.substr(2)) {
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    id = id << 4 | uint64_t(d);
  }
  return id;
}

void store_le32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte((v >> (8 * i)) & 0xffu);
}
uint32_t load_le32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | uint32_t(p[i]);
  return v;
}

rocksdb::Slice as_slice(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
std::span<const std::byte> as_bytes(const rocksdb::Slice& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// RocksDB failures become troupe errors here, the one place that calls RocksDB.
error from_status(const rocksdb::Status& s, std::string_view what) {
  const errc code = s.IsCorruption() ? errc::data_loss
                    : s.IsNotFound() ? errc::not_found
                    : s.IsNoSpace()  ? errc::resource_exhausted
                    : s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()
                        ? errc::unavailable
                    : s.IsInvalidArgument() ? errc::invalid_argument
                    : s.IsNotSupported()    ? errc::unimplemented
                                            : errc::internal;
  return make_error(code, what, ": RocksDB: ", s.ToString());
}

std::string join(const std::vector<std::string>& xs, size_t max_shown = 20) {
  std::string out;
  for (size_t i = 0; i < xs.size() && i < max_shown; ++i)
    out += str_cat(i ? ", " : "", "'", xs[i], "'");
  if (xs.size() > max_shown) out += str_cat(" and ", xs.size() - max_shown, " more");
  return out;
}

std::string describe(uint64_t id, int64_t step) {
  return str_cat("checkpoint ", id, " (step ", step, ")");
}

// ---------------------------------------------------------------- manifest codec

expected<std::string> encode_manifest(const checkpoint_info& info) {
  try {
    capnp::MallocMessageBuilder mb;
    auto m = mb.initRoot<wire::Manifest>();
    m.setFormatVersion(wire::CURRENT_CHECKPOINT_FORMAT_VERSION);
    m.setId(info.id);
    m.setStep(info.step);
    m.setTimeMicros(
        std::chrono::duration_cast<std::chrono::microseconds>(info.time.time_since_epoch())
            .count());
    m.setContainer(capnp::Text::Reader(info.container.c_str(), info.container.size()));
    auto tensors = m.initTensors(unsigned(info.tensors.size()));
    for (unsigned i = 0; i < info.tensors.size(); ++i) {
      const checkpoint_tensor& e = info.tensors[i];
      auto out = tensors[i];
      out.setName(capnp::Text::Reader(e.name.c_str(), e.name.size()));
      out.setDtype(static_cast<wire::DType>(e.type));
      auto dims = out.initShape(unsigned(e.shape.rank()));
      for (int d = 0; d < e.shape.rank(); ++d) dims.set(unsigned(d), e.shape.dim(d));
      out.setEncodedBytes(e.encoded_bytes);
      out.setCrc32c(e.crc32c);
    }
    auto skipped = m.initSkipped(unsigned(info.skipped.size()));
    for (unsigned i = 0; i < info.skipped.size(); ++i)
      skipped.set(i, capnp::Text::Reader(info.skipped[i].c_str(), info.skipped[i].size()));
    kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
    auto bytes = words.asBytes();
    if (bytes.size() > UINT32_MAX)
      return make_error(errc::invalid_argument, "the manifest of ", info.tensors.size(),
                        " tensors is ", bytes.size(), " bytes: expected at most 4 GiB");
    std::string out(manifest_header_bytes + bytes.size(), '\0');
    auto* p = reinterpret_cast<std::byte*>(out.data());
    std::memcpy(p + manifest_header_bytes, bytes.begin(), bytes.size());
    store_le32(p, crc32c({p + manifest_header_bytes, bytes.size()}));
    store_le32(p + 4, uint32_t(bytes.size()));
    return out;
  } catch (const kj::Exception& e) {
    return make_error(errc::internal,
                      "encoding the manifest: Cap'n Proto: ", e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "out of memory encoding the manifest");
  }
}

// Decodes and checks the manifest stored under `id`. Problems with the bytes are data_loss
// errors whose message says what is wrong (the caller names the checkpoint).
expected<checkpoint_info> decode_manifest(uint64_t id, std::span<const std::byte> value) {
  if (value.size() < manifest_header_bytes)
    return make_error(errc::data_loss, "the value is ", value.size(), " bytes, too short for its ",
                      manifest_header_bytes, "-byte header");
  const uint32_t stored_crc = load_le32(value.data());
  const uint64_t message_bytes = load_le32(value.data() + 4);
  if (value.size() != manifest_header_bytes + message_bytes)
    return make_error(
        errc::data_loss, "the value is ", value.size(), " bytes but its header says ",
        manifest_header_bytes + message_bytes,
        value.size() < manifest_header_bytes + message_bytes ? " (truncated)" : " (extra bytes)");
  auto message = value.subspan(manifest_header_bytes);
  const uint32_t actual_crc = crc32c(message);
  if (actual_crc != stored_crc)
    return make_error(errc::data_loss, "checksum mismatch: the header says ", hex32(stored_crc),
                      ", the bytes have ", hex32(actual_crc));
  if (message.size() % sizeof(capnp::word) != 0 || message.empty())
    return make_error(errc::data_loss, "the message is ", message.size(),
                      " bytes: expected a non-zero multiple of 8");
  flat_buffer aligned = TROUPE_TRY(flat_buffer::copy_of(message));
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(aligned.data()),
                                        aligned.size() / sizeof(capnp::word));
  capnp::ReaderOptions options;
  options.traversalLimitInWords = uint64_t(words.size()) + traversal_slack_words;
  checkpoint_info info;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    auto m = reader.getRoot<wire::Manifest>();
    if (m.getFormatVersion() != wire::CURRENT_CHECKPOINT_FORMAT_VERSION)
      return make_error(errc::data_loss, "format version ", m.getFormatVersion(),
                        ": this reader knows only ", wire::CURRENT_CHECKPOINT_FORMAT_VERSION);
    if (m.getId() != id)
      return make_error(errc::data_loss, "it names checkpoint ", m.getId(),
                        " but is stored under id ", id);
    info.id = id;
    info.step = m.getStep();
    info.time = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::microseconds(m.getTimeMicros())));
    info.container = m.getContainer().cStr();
    for (auto e : m.getTensors()) {
      checkpoint_tensor t;
      t.name = std::string(e.getName().cStr(), e.getName().size());
      const auto raw_dtype = static_cast<uint16_t>(e.getDtype());
      if (raw_dtype == 0 || raw_dtype > uint16_t(dtype::string))
        return make_error(errc::data_loss, "tensor '", t.name, "': unknown dtype number ",
                          raw_dtype);
      t.type = static_cast<dtype>(raw_dtype);
      auto dims = e.getShape();
      if (dims.size() > unsigned(max_rank))
        return make_error(errc::data_loss, "tensor '", t.name, "': rank ", dims.size(), " above ",
                          max_rank);
      std::array<int64_t, max_rank> d{};
      for (unsigned i = 0; i < dims.size(); ++i) d[i] = dims[i];
      auto shape = tensor_shape::make(std::span<const int64_t>(d.data(), dims.size()));
      if (!shape)
        return make_error(errc::data_loss, "tensor '", t.name,
                          "': bad shape: ", shape.error_value().message());
      t.shape = *shape;
      t.encoded_bytes = e.getEncodedBytes();
      t.crc32c = e.getCrc32c();
      if (t.name.empty() || (!info.tensors.empty() && info.tensors.back().name >= t.name))
        return make_error(errc::data_loss, "tensor names are not unique, non-empty and sorted ",
                          "(at '", t.name, "')");
      info.total_bytes += t.encoded_bytes;
      info.tensors.push_back(std::move(t));
    }
    for (auto s : m.getSkipped()) info.skipped.emplace_back(s.cStr(), s.size());
  } catch (const kj::Exception& e) {
    return make_error(errc::data_loss,
                      "not a valid Cap'n Proto manifest: ", e.getDescription().cStr());
  }
  return info;
}

// Files RocksDB writes into a database directory before CURRENT exists.
bool is_rocksdb_file(std::string_view name) {
  return name == "LOCK" || name == "IDENTITY" || name.starts_with("LOG") ||
         name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") || name.ends_with(".log") ||
         name.ends_with(".dbtmp");
}

// One tensor restore() will assign.
struct restore_item {
  checkpoint_tensor entry;
  std::string variable;
  std::shared_ptr<variable_resource> existing;  // null: create it
  tensor value;
};

}  // namespace

// ---------------------------------------------------------------- CRC entry points

namespace detail {
uint32_t crc32c_extend_table(uint32_t crc, std::span<const std::byte> bytes) {
  const auto& t = crc_tables.t;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t n = bytes.size();
  uint32_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= c;
    c = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^ t[4][(v >> 24) & 0xff] ^
        t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^ t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
  }
  for (; n > 0; ++p, --n) c = (c >> 8) ^ t[0][(c ^ *p) & 0xffu];
  return ~c;
}

uint32_t crc32c_extend_sse42(uint32_t crc, std::span<const std::byte> bytes) {
#if defined(__x86_64__)
  if (has_sse42)
    return crc32c_hw(crc, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
#endif
  return crc32c_extend_table(crc, bytes);
}

bool crc32c_has_sse42() { return has_sse42; }
}  // namespace detail

uint32_t crc32c_extend(uint32_t crc, std::span<const std::byte> bytes) {
  return has_sse42 ? detail::crc32c_extend_sse42(crc, bytes)
                   : detail::crc32c_extend_table(crc, bytes);
}

// ---------------------------------------------------------------- the store

struct checkpoint_store::impl {
  std::filesystem::path dir;
  std::string where;  // "checkpoint_store '<dir>'", for messages
  checkpoint_options options;
  std::unique_ptr<rocksdb::DB> db;
  std::mutex save_mu;
  uint64_t next_id = 1;  // guarded by save_mu

  // The ids of the manifests, ascending.
  expected<std::vector<uint64_t>> manifest_ids(const rocksdb::ReadOptions& base) const {
    rocksdb::ReadOptions ro = base;
    const rocksdb::Slice upper("m0");  // '0' follows '/'
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    std::vector<uint64_t> ids;
    for (it->Seek("m/"); it->Valid(); it->Next())
      if (auto id = parse_manifest_key(it->key().ToStringView())) ids.push_back(*id);
    if (!it->status().ok())
      return from_status(it->status(), str_cat(where, ": listing checkpoints"));
    return ids;
  }

  // The manifest of `id`; data_loss (message without the checkpoint's name) if it is
  // missing or unreadable.
  expected<checkpoint_info> read_manifest(const rocksdb::ReadOptions& ro, uint64_t id) const {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db->Get(ro, db->DefaultColumnFamily(), manifest_key(id), &value);
    if (s.IsNotFound()) return make_error(errc::data_loss, "its key is missing");
    if (s.IsCorruption())
      return make_error(errc::data_loss, "RocksDB reports corruption: ", s.ToString());
    if (!s.ok()) return from_status(s, str_cat(where, ": reading checkpoint ", id));
    return decode_manifest(id, as_bytes(value));
  }

  // Reads, checks and decodes one tensor of checkpoint `id`. A problem with the stored
  // bytes is a data_loss error naming the tensor; other errors (I/O, memory) are not the
  // checkpoint's fault. See Note [Checkpoint fallback].
  expected<tensor> read_tensor(const rocksdb::ReadOptions& ro, uint64_t id,
                               const checkpoint_tensor& e) const {
    rocksdb::PinnableSlice value;  // pins the block: no copy out of RocksDB
    rocksdb::Status s = db->Get(ro, db->DefaultColumnFamily(), tensor_key(id, e.name), &value);
    if (s.IsNotFound())
      return make_error(errc::data_loss, "tensor '", e.name, "': its key is missing");
    if (s.IsCorruption())
      return make_error(errc::data_loss, "tensor '", e.name,
                        "': RocksDB reports corruption: ", s.ToString());
    if (!s.ok()) return from_status(s, str_cat(where, ": reading tensor '", e.name, "'"));
    if (value.size() != e.encoded_bytes)
      return make_error(errc::data_loss, "tensor '", e.name, "': the value is ", value.size(),
                        " bytes, the manifest says ", e.encoded_bytes,
                        value.size() < e.encoded_bytes ? " (truncated)" : " (extra bytes)");
    // RocksDB values are not 8-byte aligned and Cap'n Proto needs them aligned: one copy
    // into a 64-byte aligned buffer, checksummed on the way, which the decoded tensor
    // then views without another copy (docs/formats/tensor.md).
    flat_buffer buf = TROUPE_TRY(flat_buffer::allocate(value.size()));
    const uint32_t crc = crc32c_copy(buf.mutable_data(), as_bytes(value).data(), value.size());
    value.Reset();
    if (crc != e.crc32c)
      return make_error(errc::data_loss, "tensor '", e.name,
                        "': checksum mismatch: the manifest says ", hex32(e.crc32c),
                        ", the value has ", hex32(crc));
    expected<tensor> t = decode_tensor(buf);
    if (!t) {
      if (t.error_value().code() == errc::resource_exhausted) return t.error_value();
      return make_error(errc::data_loss, "tensor '", e.name, "': ", t.error_value().message());
    }
    if (t->dtype() != e.type || !(t->shape() == e.shape))
      return make_error(errc::data_loss, "tensor '", e.name, "': it decodes as ",
                        dtype_name(t->dtype()), " ", t->shape().to_string(), ", the manifest says ",
                        dtype_name(e.type), " ", e.shape.to_string());
    return t;
  }

  // The tensors of `m` that `o` asks for, in checkpoint-name order, with the variable each
  // goes into. Names asked for but absent go to `missing` (or fail, per o.missing_is_error).
  expected<std::vector<restore_item>> select(const checkpoint_info& m, const restore_options& o,
                                             std::vector<std::string>& missing) const {
    std::map<std::string_view, const checkpoint_tensor*> present;
    for (const checkpoint_tensor& t : m.tensors) present.emplace(t.name, &t);
    std::set<std::string, std::less<>> asked;
    if (o.names) asked.insert(o.names->begin(), o.names->end());
    for (const auto& [from, to] : o.rename) asked.insert(from);
    std::vector<std::string> absent;
    for (const std::string& n : asked)
      if (!present.contains(n)) absent.push_back(n);
    if (!absent.empty() && o.missing_is_error) {
      std::vector<std::string> was_skipped, have;
      for (const std::string& n : absent)
        if (std::find(m.skipped.begin(), m.skipped.end(), n) != m.skipped.end())
          was_skipped.push_back(n);
      for (const checkpoint_tensor& t : m.tensors) have.push_back(t.name);
      return make_error(errc::not_found, where, ": restore: ", describe(m.id, m.step),
                        " has no tensor ", join(absent),
                        was_skipped.empty() ? ""
                                            : str_cat(" (", join(was_skipped),
                                                      " was uninitialized when it was saved)"),
                        "; it has ", join(have),
                        ". Set restore_options::missing_is_error = false to skip missing names");
    }
    missing = std::move(absent);
    std::vector<restore_item> items;
    std::map<std::string_view, std::string_view> target_of;  // variable -> checkpoint name
    for (const checkpoint_tensor& t : m.tensors) {
      if (o.names && !asked.contains(t.name)) continue;
      auto r = o.rename.find(t.name);
      std::string variable = r != o.rename.end() ? r->second : t.name;
      TROUPE_REQUIRE(!variable.empty(), where, ": restore: checkpoint name '", t.name,
                     "' is renamed to an empty variable name");
      items.push_back({t, std::move(variable), nullptr, tensor()});
    }
    for (const restore_item& it : items) {
      auto [pos, fresh] = target_of.emplace(it.variable, it.entry.name);
      TROUPE_REQUIRE(fresh, where, ": restore: checkpoint names '", pos->second, "' and '",
                     it.entry.name, "' would both restore into variable '", it.variable, "'");
    }
    return items;
  }

  // Finds the existing variables and checks their dtype and shape against the checkpoint.
  error check_targets(std::vector<restore_item>& items, const resource_mgr& resources,
                      std::string_view container, uint64_t id) const {
    std::vector<std::string> problems;
    for (restore_item& it : items) {
      const checkpoint_tensor& e = it.entry;
      expected<std::shared_ptr<variable_resource>> var =
          resources.lookup<variable_resource>(container, it.variable);
      if (!var) {
        if (var.error_value().code() == errc::not_found) continue;
        return std::move(var).error_value().with_context(str_cat(where, ": restore"));
      }
      const std::string ours =
          str_cat("variable '", it.variable, "' in ", resource_mgr::describe_container(container));
      const std::string theirs = str_cat("checkpoint ", id, " has ", dtype_name(e.type), " ",
                                         e.shape.to_string(), " for '", e.name, "'");
      expected<tensor> current = (*var)->read(it.variable);
      if ((*var)->type() != e.type)
        problems.push_back(str_cat(ours, " holds ", dtype_name((*var)->type()), " but ", theirs));
      else if (current && !(current->shape() == e.shape))
        problems.push_back(
            str_cat(ours, " has shape ", current->shape().to_string(), " but ", theirs));
      else if (!(*var)->declared_shape().is_compatible_with(e.shape))
        problems.push_back(str_cat(ours, " is declared with shape ",
                                   (*var)->declared_shape().to_string(), " but ", theirs));
      it.existing = std::move(*var);
    }
    if (problems.empty()) return {};
    std::string all;
    for (const std::string& p : problems) all += str_cat(all.empty() ? "" : "; ", p);
    return make_error(errc::invalid_argument, where, ": restore: ", all);
  }
};

checkpoint_store::checkpoint_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
checkpoint_store::~checkpoint_store() = default;

const std::filesystem::path& checkpoint_store::path() const { return impl_->dir; }

expected<std::unique_ptr<checkpoint_store>> checkpoint_store::open(const std::filesystem::path& dir,
                                                                   checkpoint_options options) {
  namespace fs = std::filesystem;
  const std::string shown = dir.string();
  TROUPE_REQUIRE(!shown.empty(), "checkpoint_store: expected a directory, got an empty path");
  TROUPE_REQUIRE(options.keep_last >= 1, "checkpoint_store '", shown, "': keep_last is ",
                 options.keep_last, ": expected at least 1");
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  bool fresh = true;
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      return make_error(errc::invalid_argument, "checkpoint_store: '", shown, "' is ",
                        fs::is_regular_file(st) ? "a file" : "not a directory",
                        ": expected a checkpoint directory");
    if (fs::exists(dir / "CURRENT", ec)) {
      fresh = false;
    } else {
      // Empty, or left by a creation interrupted before RocksDB wrote CURRENT: create.
      fs::directory_iterator it(dir, ec);
      if (ec)
        return make_error(errc::unavailable, "checkpoint_store: cannot read directory '", shown,
                          "': ", ec.message());
      for (; it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!is_rocksdb_file(name))
          return make_error(errc::invalid_argument, "checkpoint_store: '", shown,
                            "' is not a troupe checkpoint store: the directory holds '", name,
                            "' but no RocksDB database (no CURRENT file)");
      }
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec)
      return make_error(errc::unavailable, "checkpoint_store: cannot create directory '", shown,
                        "': ", ec.message());
  }

  rocksdb::Options o;
  o.create_if_missing = fresh;
  o.keep_log_file_num = 3;
  // Table files are mapped: RocksDB then hands out uncompressed blocks as slices of the
  // mapping instead of pread-ing them into fresh buffers. A 64 MiB restore from a table
  // file took about half the time this way here.
  o.allow_mmap_reads = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, shown, &raw);
  if (!s.ok()) {
    const std::string text = s.ToString();
    if (s.IsIOError() &&
        (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos))
      return make_error(errc::failed_precondition, "checkpoint_store: '", shown,
                        "' is in use: another open checkpoint_store (in this process or "
                        "another one) holds its lock: RocksDB: ",
                        text);
    return from_status(s, str_cat("checkpoint_store: cannot open '", shown, "'"));
  }
  auto p = std::make_unique<impl>();
  p->dir = dir;
  p->where = str_cat("checkpoint_store '", shown, "'");
  p->options = options;
  p->db.reset(raw);

  std::string marker;
  s = p->db->Get(rocksdb::ReadOptions(), format_key, &marker);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(p->db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid())
      return make_error(errc::invalid_argument, "checkpoint_store: '", shown,
                        "' is a RocksDB database but not a troupe checkpoint store (it has no '",
                        format_key, "' key)");
    // A fresh store, or one whose creation was interrupted before this write.
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = p->db->Put(wo, format_key, format_value);
    if (!s.ok()) return from_status(s, str_cat(p->where, ": writing the format marker"));
  } else if (!s.ok()) {
    return from_status(s, str_cat(p->where, ": reading the format marker"));
  } else if (marker != format_value) {
    return make_error(errc::failed_precondition, "checkpoint_store: '", shown,
                      "' holds a store of another format: '", marker, "': this reader knows '",
                      format_value, "'");
  }
  std::vector<uint64_t> ids = TROUPE_TRY(p->manifest_ids(rocksdb::ReadOptions()));
  if (!ids.empty()) p->next_id = ids.back() + 1;
  return std::unique_ptr<checkpoint_store>(new checkpoint_store(std::move(p)));
}

expected<checkpoint_info> checkpoint_store::save(const resource_mgr& resources,
                                                 std::string_view container, int64_t step) {
  std::lock_guard lock(impl_->save_mu);
  const std::string& where = impl_->where;
  checkpoint_info info;
  info.id = impl_->next_id;
  info.step = step;
  info.time =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  info.container = std::string(container);
  rocksdb::WriteBatch batch;
  for (const auto& [name, r] : resources.list(container)) {  // sorted by name
    auto var = std::dynamic_pointer_cast<variable_resource>(r);
    if (!var) continue;
    expected<tensor> value = var->read(name);
    if (!value) {
      if (value.error_value().code() == errc::failed_precondition) {
        info.skipped.push_back(name);
        continue;
      }
      return std::move(value).error_value().with_context(str_cat(where, ": save"));
    }
    expected<flat_buffer> encoded = encode_tensor(*value);
    if (!encoded)
      return std::move(encoded).error_value().with_context(
          str_cat(where, ": save: variable '", name, "'"));
    const uint32_t crc = crc32c(encoded->bytes());
    rocksdb::Status s = batch.Put(tensor_key(info.id, name), as_slice(encoded->bytes()));
    if (!s.ok()) return from_status(s, str_cat(where, ": save: variable '", name, "'"));
    info.tensors.push_back({name, value->dtype(), value->shape(), encoded->size(), crc});
    info.total_bytes += encoded->size();
  }
  if (info.tensors.empty())
    return make_error(errc::failed_precondition, where, ": save: no initialized variable in ",
                      resource_mgr::describe_container(container),
                      info.skipped.empty() ? std::string(" (it holds none)")
                                           : str_cat(" (uninitialized: ", join(info.skipped), ")"),
                      ": nothing to save");
  std::string manifest = TROUPE_TRY(encode_manifest(info));
  rocksdb::Status s = batch.Put(manifest_key(info.id), manifest);
  if (!s.ok()) return from_status(s, str_cat(where, ": save: manifest"));

  // Retention, in the same batch: keep the new checkpoint and the newest keep_last - 1
  // others; everything below the oldest kept id goes (two range deletions).
  const std::vector<uint64_t> ids = TROUPE_TRY(impl_->manifest_ids(rocksdb::ReadOptions()));
  const size_t keep_old = size_t(impl_->options.keep_last - 1);
  if (ids.size() > keep_old) {
    const uint64_t cutoff = keep_old == 0 ? info.id : ids[ids.size() - keep_old];
    s = batch.DeleteRange("m/", manifest_key(cutoff));
    if (s.ok()) s = batch.DeleteRange("t/", tensor_prefix(cutoff));
    if (!s.ok()) return from_status(s, str_cat(where, ": save: retention"));
  }
  rocksdb::WriteOptions wo;
  wo.sync = impl_->options.fsync;
  s = impl_->db->Write(wo, &batch);
  if (!s.ok()) return from_status(s, str_cat(where, ": save of step ", step));
  impl_->next_id = info.id + 1;
  return info;
}

expected<std::vector<checkpoint_info>> checkpoint_store::list() const {
  rocksdb::ReadOptions ro;
  const rocksdb::Slice upper("m0");
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  std::vector<checkpoint_info> out;
  for (it->Seek("m/"); it->Valid(); it->Next()) {
    auto id = parse_manifest_key(it->key().ToStringView());
    if (!id) continue;
    expected<checkpoint_info> info = decode_manifest(*id, as_bytes(it->value()));
    if (info) {
      out.push_back(std::move(*info));
    } else {
      checkpoint_info bad;
      bad.id = *id;
      bad.problem = str_cat("unreadable manifest: ", info.error_value().message());
      out.push_back(std::move(bad));
    }
  }
  if (!it->status().ok()) return from_status(it->status(), str_cat(impl_->where, ": list"));
  std::reverse(out.begin(), out.end());
  return out;
}

error checkpoint_store::verify(uint64_t id) const {
  rocksdb::ManagedSnapshot snapshot(impl_->db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const std::vector<uint64_t> ids = TROUPE_TRY(impl_->manifest_ids(ro));
  if (!std::binary_search(ids.begin(), ids.end(), id))
    return make_error(errc::not_found, impl_->where, ": verify: no checkpoint ", id);
  expected<checkpoint_info> m = impl_->read_manifest(ro, id);
  if (!m)
    return make_error(m.error_value().code(), impl_->where, ": checkpoint ", id,
                      ": unreadable manifest: ", m.error_value().message());
  ro.fill_cache = false;  // as in restore
  for (const checkpoint_tensor& e : m->tensors) {
    expected<tensor> t = impl_->read_tensor(ro, id, e);
    if (!t)
      return make_error(t.error_value().code(), impl_->where, ": ", describe(id, m->step), ": ",
                        t.error_value().message());
  }
  return {};
}

expected<restore_report> checkpoint_store::restore(resource_mgr& resources,
                                                   std::string_view container,
                                                   const restore_options& options) const {
  const std::string& where = impl_->where;
  rocksdb::ManagedSnapshot snapshot(impl_->db.get());  // saves running meanwhile are unseen
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ro.fill_cache = false;  // each block is read once: keep the cache for index blocks
  std::vector<uint64_t> ids = TROUPE_TRY(impl_->manifest_ids(ro));
  std::reverse(ids.begin(), ids.end());
  if (ids.empty())
    return make_error(errc::not_found, where, ": restore: the store holds no checkpoint");
  std::vector<uint64_t> candidates = ids;
  if (options.checkpoint) {
    if (std::find(ids.begin(), ids.end(), *options.checkpoint) == ids.end()) {
      std::string have;
      for (uint64_t id : ids) have += str_cat(have.empty() ? "" : ", ", id);
      return make_error(errc::not_found, where, ": restore: no checkpoint ", *options.checkpoint,
                        " (the store holds ", have, ")");
    }
    candidates = {*options.checkpoint};
  }

  restore_report report;
  std::vector<std::string> problems;
  std::vector<restore_item> items;
  std::optional<checkpoint_info> used;
  for (uint64_t id : candidates) {
    std::string problem;
    expected<checkpoint_info> m = impl_->read_manifest(ro, id);
    if (!m) {
      if (m.error_value().code() != errc::data_loss) return m.error_value();
      problem = str_cat("checkpoint ", id, ": unreadable manifest: ", m.error_value().message());
    } else {
      std::vector<std::string> missing;
      items = TROUPE_TRY(impl_->select(*m, options, missing));
      TROUPE_TRY(impl_->check_targets(items, resources, container, id));
      error bad;
      for (restore_item& it : items) {
        expected<tensor> t = impl_->read_tensor(ro, id, it.entry);
        if (!t) {
          bad = std::move(t).error_value();
          break;
        }
        it.value = std::move(*t);
      }
      if (!bad) {
        report.missing = std::move(missing);
        used = std::move(*m);
        break;
      }
      if (bad.code() != errc::data_loss) return bad;
      problem = str_cat(describe(id, m->step), ": ", bad.message());
      items.clear();
    }
    if (options.checkpoint) return make_error(errc::data_loss, where, ": restore: ", problem);
    const bool last = id == candidates.back();
    std::string warning = str_cat(
        where, ": restore skips damaged ", problem,
        last ? "; no older checkpoint is left" : "; falling back to the previous checkpoint");
    std::fprintf(stderr, "troupe: warning: %s\n", warning.c_str());
    report.warnings.push_back(std::move(warning));
    problems.push_back(std::move(problem));
  }
  if (!used) {
    std::string all;
    for (const std::string& p : problems) all += str_cat(all.empty() ? "" : "; ", p);
    return make_error(errc::data_loss, where, ": restore: no good checkpoint among the ",
                      problems.size(), ": ", all);
  }
  // Every tensor verified and decoded: now change the variables.
  // TODO(soon): a variable changed concurrently between the check and here can still
  // fail the assignment after others were assigned; restore between steps.
  for (restore_item& it : items) {
    std::shared_ptr<variable_resource> var = it.existing;
    if (!var) {
      bool made = false;
      const checkpoint_tensor& e = it.entry;
      var = TROUPE_TRY(resources.lookup_or_create<variable_resource>(
          container, it.variable, [&]() -> expected<std::shared_ptr<variable_resource>> {
            made = true;
            return std::make_shared<variable_resource>(e.type, partial_shape(e.shape));
          }));
      if (made) report.created.push_back(it.variable);
    }
    error e = var->assign(std::move(it.value), it.variable);
    if (e) return std::move(e).with_context(str_cat(where, ": restore"));
    report.restored.emplace_back(it.entry.name, it.variable);
  }
  report.id = used->id;
  report.step = used->step;
  report.time = used->time;
  return report;
}

}  // namespace troupe
