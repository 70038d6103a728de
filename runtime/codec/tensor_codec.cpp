#include "runtime/codec/tensor_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "runtime/codec/tensor_wire.hpp"

namespace troupe {

// Note [Tensor wire layout]
// encode_tensor writes a one-segment flat message straight into a 64-byte aligned
// flat_buffer: the 8-byte segment table, then the segment, whose objects the builder
// allocates in call order: root pointer, Tensor struct, shape, chunks list, padding, then
// the chunk bytes. The padding is sized so the first chunk starts at a multiple of 64
// bytes from the start of the buffer; every chunk but the last is tensor_chunk_bytes
// long (a multiple of 64), so the element bytes lie back to back and decode_tensor can
// wrap them without copying. docs/formats/tensor.md describes the format.

static_assert(std::endian::native == std::endian::little,
              "the tensor wire format stores raw little-endian elements: add byte swapping");
static_assert(static_cast<uint16_t>(wire::DType::FLOAT32) == uint16_t(dtype::float32) &&
                  static_cast<uint16_t>(wire::DType::FLOAT64) == uint16_t(dtype::float64) &&
                  static_cast<uint16_t>(wire::DType::INT32) == uint16_t(dtype::int32) &&
                  static_cast<uint16_t>(wire::DType::INT64) == uint16_t(dtype::int64) &&
                  static_cast<uint16_t>(wire::DType::BOOLEAN) == uint16_t(dtype::boolean) &&
                  static_cast<uint16_t>(wire::DType::STRING) == uint16_t(dtype::string),
              "schemas/tensor.capnp DType must number dtypes as runtime/core/dtype.hpp");
static_assert(tensor_chunk_bytes % flat_buffer_alignment == 0);

namespace {

constexpr size_t word_bytes = sizeof(capnp::word);
constexpr size_t segment_table_bytes = 8;  // one segment: count-1 and size, as uint32
constexpr size_t max_segment_words = (size_t{1} << 29) - 1;
constexpr size_t max_blob_bytes = (size_t{1} << 29) - 1;
// Words a reader may traverse beyond the message's own size (the root pointer, and
// objects of zero size that Cap'n Proto still counts).
constexpr uint64_t traversal_slack_words = 1024;

constexpr size_t huge_page_bytes = size_t{2} << 20;

size_t words_for(size_t bytes) { return (bytes + word_bytes - 1) / word_bytes; }

/// Hands Cap'n Proto exactly one pre-zeroed segment: the memory of the flat_buffer being
/// written. (MallocMessageBuilder would zero a caller's segment again in its destructor.)
class single_segment_builder final : public capnp::MessageBuilder {
 public:
  explicit single_segment_builder(kj::ArrayPtr<capnp::word> segment) : segment_(segment) {}

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_size) override {
    if (given_ || minimum_size > segment_.size())
      kj::throwFatalException(KJ_EXCEPTION(FAILED, "tensor message outgrew its size estimate",
                                           minimum_size, segment_.size()));
    given_ = true;
    return segment_;
  }

 private:
  kj::ArrayPtr<capnp::word> segment_;
  bool given_ = false;
};

void store_le32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte((v >> (8 * i)) & 0xff);
}

// Checks what encode_tensor and write_tensor reject before writing anything.
error check_encodable(const tensor& t) {
  TROUPE_REQUIRE(t.valid(), "encode_tensor: expected a valid tensor, got an invalid one");
  if (t.dtype() == dtype::string)
    for (const std::string& s : t.values<std::string>())
      TROUPE_REQUIRE(s.size() <= max_blob_bytes, "encode_tensor: string element of ", s.size(),
                     " bytes: expected at most ", max_blob_bytes);
  return {};
}

// Writes the fields of `t` into `root` in the order Note [Tensor wire layout] relies on:
// dtype, shape, then strings, or the chunks list, `before_chunks()`, and the chunk bytes.
template <class BeforeChunks>
void fill_tensor(const tensor& t, wire::Tensor::Builder root, BeforeChunks before_chunks) {
  root.setDtype(static_cast<wire::DType>(t.dtype()));
  auto shape = root.initShape(unsigned(t.rank()));
  for (int i = 0; i < t.rank(); ++i) shape.set(unsigned(i), t.dim(i));
  const size_t n = size_t(t.num_elements());
  if (t.dtype() == dtype::string) {
    auto strings = root.initStrings(unsigned(n));
    auto values = t.values<std::string>();
    for (size_t i = 0; i < n; ++i)
      strings.set(unsigned(i),
                  capnp::Data::Reader(reinterpret_cast<const kj::byte*>(values[i].data()),
                                      values[i].size()));
    return;
  }
  const size_t data_bytes = t.byte_size();
  const size_t num_chunks = (data_bytes + tensor_chunk_bytes - 1) / tensor_chunk_bytes;
  if (num_chunks == 0) return;
  auto chunks = root.initChunks(unsigned(num_chunks));
  before_chunks();
  const auto* src = static_cast<const std::byte*>(t.raw_data());
  for (size_t i = 0; i < num_chunks; ++i) {
    const size_t offset = i * tensor_chunk_bytes;
    const size_t size = std::min(tensor_chunk_bytes, data_bytes - offset);
    auto chunk = chunks.init(unsigned(i), unsigned(size));
    std::memcpy(chunk.begin(), src + offset, size);
  }
}

struct chunk_view {
  const std::byte* data;
  size_t size;
};

// Element bytes of the tensor in `root`: validated, then wrapped (owner set, contiguous,
// aligned) or copied.
expected<tensor> decode_numeric(dtype dt, const tensor_shape& shape,
                                wire::Tensor::Reader root,
                                const std::shared_ptr<const void>& owner) {
  if (root.hasStrings() && root.getStrings().size() != 0)
    return make_error(errc::data_loss, "decode_tensor: strings count mismatch: expected 0 for a ",
                      dtype_name(dt), " tensor, got ", root.getStrings().size());
  auto chunks = root.getChunks();
  std::vector<chunk_view> views;
  views.reserve(chunks.size());
  uint64_t total = 0;  // at most 2^29 chunks of < 2^29 bytes: no overflow
  for (auto chunk : chunks) {  // one getData() per chunk (each counts against the limit)
    views.push_back({reinterpret_cast<const std::byte*>(chunk.begin()), chunk.size()});
    total += chunk.size();
  }
  const int64_t n = shape.num_elements();
  uint64_t want = 0;
  if (__builtin_mul_overflow(uint64_t(n), uint64_t(dtype_size(dt)), &want) || total != want)
    return make_error(errc::data_loss, "decode_tensor: data size mismatch: shape ",
                      shape.to_string(), " of ", dtype_name(dt), " expects ", n, " x ",
                      dtype_size(dt), " bytes, got ", total, " bytes in ", views.size(),
                      " chunks");
  if (dt == dtype::boolean) {
    uint64_t index = 0;
    for (const chunk_view& c : views) {
      unsigned bad = 0;
      for (size_t i = 0; i < c.size; ++i) bad |= unsigned(c.data[i]) & 0xfeu;
      if (bad != 0) {
        size_t i = 0;
        while (unsigned(c.data[i]) <= 1) ++i;
        return make_error(errc::data_loss, "decode_tensor: bool element ", index + i, " is ",
                          unsigned(c.data[i]), ": expected 0 or 1");
      }
      index += c.size;
    }
  }
  if (n == 0) return tensor::allocate(dt, shape);

  bool contiguous = true;
  for (size_t i = 1; i < views.size() && contiguous; ++i)
    contiguous = views[i - 1].data + views[i - 1].size == views[i].data;
  const bool aligned = reinterpret_cast<uintptr_t>(views[0].data) % buffer_alignment == 0;
  if (owner && contiguous && aligned) {
    // The memory is immutable while shared: the wrapped buffer does not own it, so
    // buffer_is_unique() is false and no kernel writes it in place.
    return tensor::wrap(dt, shape, const_cast<std::byte*>(views[0].data), owner);
  }
  tensor out = TROUPE_TRY(tensor::allocate(dt, shape));
  auto* dst = static_cast<std::byte*>(out.raw_data());
  for (const chunk_view& c : views) {
    if (c.size > 0) std::memcpy(dst, c.data, c.size);
    dst += c.size;
  }
  return out;
}

expected<tensor> decode_strings(const tensor_shape& shape, wire::Tensor::Reader root) {
  if (root.hasChunks() && root.getChunks().size() != 0)
    return make_error(errc::data_loss,
                      "decode_tensor: string tensor has data chunks: expected 0, got ",
                      root.getChunks().size());
  auto strings = root.getStrings();
  const int64_t n = shape.num_elements();
  if (uint64_t(n) != strings.size())
    return make_error(errc::data_loss, "decode_tensor: strings count mismatch: shape ",
                      shape.to_string(), " expects ", n, " strings, got ", strings.size());
  tensor out = TROUPE_TRY(tensor::allocate(dtype::string, shape));
  auto values = out.values<std::string>();
  for (unsigned i = 0; i < strings.size(); ++i) {
    auto s = strings[i];
    values[i].assign(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

expected<tensor> decode_root(wire::Tensor::Reader root, const std::shared_ptr<const void>& owner) {
  const auto raw_dtype = static_cast<uint16_t>(root.getDtype());
  if (raw_dtype == 0 || raw_dtype > uint16_t(dtype::string))
    return make_error(errc::invalid_argument, "decode_tensor: unknown dtype number ", raw_dtype,
                      ": expected 1 (float32) to 6 (string)");
  const auto dt = static_cast<dtype>(raw_dtype);

  auto dims_list = root.getShape();
  if (dims_list.size() > unsigned(max_rank))
    return make_error(errc::invalid_argument, "decode_tensor: rank ", dims_list.size(),
                      " exceeds the maximum rank: expected at most ", max_rank);
  std::array<int64_t, max_rank> dims{};
  for (unsigned i = 0; i < dims_list.size(); ++i) dims[i] = dims_list[i];
  auto shape = tensor_shape::make(std::span<const int64_t>(dims.data(), dims_list.size()));
  if (!shape) return std::move(shape).error_value().with_context("decode_tensor");

  if (dt == dtype::string) return decode_strings(*shape, root);
  return decode_numeric(dt, *shape, root, owner);
}

// Reads the message in `bytes` (8-byte aligned). With an owner, contiguous aligned element
// bytes are wrapped; without one, they are always copied.
expected<tensor> decode_words(std::span<const std::byte> bytes,
                              const std::shared_ptr<const void>& owner) {
  if (bytes.size() < segment_table_bytes)
    return make_error(errc::data_loss,
                      "decode_tensor: buffer too short for a segment table: expected at least ",
                      segment_table_bytes, " bytes, got ", bytes.size());
  if (bytes.size() % word_bytes != 0)
    return make_error(errc::data_loss, "decode_tensor: buffer size is not a whole number of ",
                      "8-byte words: expected a multiple of 8, got ", bytes.size(), " bytes");
  TROUPE_ASSERT(reinterpret_cast<uintptr_t>(bytes.data()) % word_bytes == 0,
                "decode_words of unaligned bytes");
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(bytes.data()),
                                        bytes.size() / word_bytes);
  capnp::ReaderOptions options;
  // Each object is read once, so an honest message traverses at most its own size; a
  // hostile one whose pointers overlap stops here instead of amplifying the work.
  options.traversalLimitInWords = uint64_t(words.size()) + traversal_slack_words;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end())
      return make_error(errc::data_loss, "decode_tensor: trailing bytes after the message: ",
                        "expected ", (reader.getEnd() - words.begin()) * word_bytes,
                        " bytes, got ", bytes.size());
    return decode_root(reader.getRoot<wire::Tensor>(), owner);
  } catch (const kj::Exception& e) {
    return make_error(errc::data_loss, "decode_tensor: not a valid Cap'n Proto tensor message: ",
                      e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "decode_tensor: out of memory decoding ",
                      bytes.size(), " bytes");
  }
}

}  // namespace

expected<flat_buffer> flat_buffer::allocate(size_t size) {
  flat_buffer out;
  if (size == 0) return out;
  if (size > std::numeric_limits<size_t>::max() - flat_buffer_alignment)
    return make_error(errc::resource_exhausted, "flat_buffer: cannot allocate ", size, " bytes");
  // calloc: fresh pages from the kernel come zeroed without a memset.
  void* raw = std::calloc(size + flat_buffer_alignment, 1);
  if (raw == nullptr)
    return make_error(errc::resource_exhausted, "flat_buffer: out of memory allocating ", size,
                      " bytes");
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + flat_buffer_alignment - 1) &
                            ~uintptr_t(flat_buffer_alignment - 1);
#if defined(__linux__)
  // Filling fresh memory costs mostly page faults: transparent huge pages cut encoding
  // 600 MiB from 0.30 s to 0.07 s here. Advice only, so a failure is ignored.
  if (size >= huge_page_bytes) {
    const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(raw) + page - 1) / page * page;
    const uintptr_t end = (aligned + size) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#endif
  try {
    std::shared_ptr<void> block(raw, std::free);
    out.data_ = std::shared_ptr<std::byte>(std::move(block), reinterpret_cast<std::byte*>(aligned));
  } catch (const std::bad_alloc&) {  // the shared_ptr constructor freed `raw`
    return make_error(errc::resource_exhausted, "flat_buffer: out of memory allocating ", size,
                      " bytes");
  }
  out.size_ = size;
  return out;
}

expected<flat_buffer> flat_buffer::copy_of(std::span<const std::byte> bytes) {
  flat_buffer out = TROUPE_TRY(allocate(bytes.size()));
  if (!bytes.empty()) std::memcpy(out.mutable_data(), bytes.data(), bytes.size());
  return out;
}

void flat_buffer::shrink(size_t new_size) {
  TROUPE_ASSERT(new_size <= size_, "flat_buffer::shrink to ", new_size, " bytes from ", size_);
  size_ = new_size;
}

expected<flat_buffer> encode_tensor(const tensor& t) {
  TROUPE_TRY(check_encodable(t));
  const bool is_string = t.dtype() == dtype::string;
  const size_t n = size_t(t.num_elements());
  const size_t data_bytes = is_string ? 0 : t.byte_size();
  const size_t num_chunks = (data_bytes + tensor_chunk_bytes - 1) / tensor_chunk_bytes;

  // Upper bound on the segment's words, in allocation order (Note [Tensor wire layout]).
  size_t words = 1 + capnp::sizeInWords<wire::Tensor>() + size_t(t.rank());
  if (is_string) {
    words += n;
    for (const std::string& s : t.values<std::string>()) words += words_for(s.size());
  } else {
    words += num_chunks + (flat_buffer_alignment / word_bytes - 1) + words_for(data_bytes);
  }
  TROUPE_REQUIRE(words <= max_segment_words, "encode_tensor: ", dtype_name(t.dtype()), " ",
                 t.shape().to_string(), " needs a message of about ",
                 segment_table_bytes + words * word_bytes, " bytes: expected at most ",
                 max_encoded_tensor_bytes);

  flat_buffer out = TROUPE_TRY(flat_buffer::allocate(segment_table_bytes + words * word_bytes));
  auto* segment_start = reinterpret_cast<capnp::word*>(out.mutable_data() + segment_table_bytes);
  size_t used_words = 0;
  try {
    single_segment_builder builder(kj::arrayPtr(segment_start, words));
    auto root = builder.initRoot<wire::Tensor>();
    fill_tensor(t, root, [&] {
      // The next object starts right after the words used so far.
      const size_t next_offset =
          segment_table_bytes + builder.getSegmentsForOutput()[0].size() * word_bytes;
      const size_t pad = (flat_buffer_alignment - next_offset % flat_buffer_alignment) %
                         flat_buffer_alignment;
      if (pad > 0) root.initPadding(unsigned(pad));
    });
    auto segments = builder.getSegmentsForOutput();
    TROUPE_ASSERT(segments.size() == 1 && segments[0].begin() == segment_start,
                  "encode_tensor: the message left its preallocated segment");
    used_words = segments[0].size();
  } catch (const kj::Exception& e) {
    return make_error(errc::internal, "encode_tensor: Cap'n Proto failed building ",
                      dtype_name(t.dtype()), " ", t.shape().to_string(), ": ",
                      e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "encode_tensor: out of memory encoding ",
                      dtype_name(t.dtype()), " ", t.shape().to_string());
  }
  store_le32(out.mutable_data(), 0);  // segment count - 1
  store_le32(out.mutable_data() + 4, uint32_t(used_words));
  out.shrink(segment_table_bytes + used_words * word_bytes);
  return out;
}

expected<tensor> decode_tensor(const flat_buffer& buf) {
  return decode_words(buf.bytes(), buf.storage());
}

expected<tensor> decode_tensor(std::span<const std::byte> bytes) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % sizeof(capnp::word) == 0)
    return decode_words(bytes, nullptr);
  flat_buffer aligned = TROUPE_TRY(flat_buffer::copy_of(bytes));
  return decode_words(aligned.bytes(), nullptr);
}

namespace codec {

error write_tensor(const tensor& t, wire::Tensor::Builder out) {
  TROUPE_TRY(check_encodable(t));
  fill_tensor(t, out, [] {});
  return {};
}

expected<tensor> read_tensor(wire::Tensor::Reader in) { return decode_root(in, nullptr); }

}  // namespace codec
}  // namespace troupe
