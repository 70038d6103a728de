#include "runtime/codec/tensor_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "schemas/tensor.capnp.h"

namespace troupe {
namespace {

bool is_inside(const void* p, const flat_buffer& buf) {
  auto* b = reinterpret_cast<const std::byte*>(p);
  return b >= buf.data() && b < buf.data() + buf.size();
}

bool aligned_to(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

flat_buffer encode_ok(const tensor& t) {
  auto r = encode_tensor(t);
  EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
  return r.has_value() ? std::move(*r) : flat_buffer{};
}

// The flat form of a message built by hand with the generated builder.
flat_buffer to_flat(capnp::MessageBuilder& mb) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return *flat_buffer::copy_of({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()});
}

template <class Fill>
flat_buffer build_message(Fill fill) {
  capnp::MallocMessageBuilder mb;
  fill(mb.initRoot<wire::Tensor>());
  return to_flat(mb);
}

void expect_decode_error(const expected<tensor>& r, errc code, std::string_view needle = {}) {
  ASSERT_FALSE(r.has_value()) << "decoded " << r->debug_string();
  const error& e = r.error_value();
  EXPECT_EQ(e.code(), code) << e.to_string();
  EXPECT_TRUE(e.message().starts_with("decode_tensor: ")) << e.message();
  EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
}

// A decode of damaged bytes: either an error of the two codes a corrupt message may give,
// with the right prefix, or a well-formed tensor.
void expect_error_or_tensor(const expected<tensor>& r) {
  if (r.has_value()) {
    EXPECT_TRUE(r->valid());
    if (r->dtype() != dtype::string) {
      EXPECT_TRUE(r->num_elements() == 0 || r->raw_data());
    }
    return;
  }
  const error& e = r.error_value();
  EXPECT_TRUE(e.code() == errc::data_loss || e.code() == errc::invalid_argument) << e.to_string();
  EXPECT_TRUE(e.message().starts_with("decode_tensor: ")) << e.message();
}

void expect_round_trip(const tensor& t) {
  SCOPED_TRACE(t.debug_string());
  flat_buffer buf = encode_ok(t);
  auto from_buffer = decode_tensor(buf);
  ASSERT_TRUE(from_buffer.has_value()) << from_buffer.error_value().to_string();
  EXPECT_TRUE(from_buffer->identical(t)) << from_buffer->debug_string();
  auto from_span = decode_tensor(buf.bytes());
  ASSERT_TRUE(from_span.has_value()) << from_span.error_value().to_string();
  EXPECT_TRUE(from_span->identical(t)) << from_span->debug_string();
  EXPECT_TRUE(from_span->buffer_handle()->owns_memory());
}

std::vector<tensor> sample_tensors() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<tensor> ts = {
      tensor::from_vector<float>({2, 3}, {1.5f, -0.0f, inf, std::nanf(""), -3.25f, 1e-38f}),
      tensor::from_vector<double>({4}, {1.0 / 3, -1e300, 5e-324, -0.0}),
      tensor::from_vector<int32_t>({3, 1}, {std::numeric_limits<int32_t>::min(), 0,
                                            std::numeric_limits<int32_t>::max()}),
      tensor::from_vector<int64_t>({2}, {std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max()}),
      tensor::from_vector<bool>({5}, {true, false, true, true, false}),
      tensor::from_vector<std::string>(
          {2, 2}, {"", "hello", std::string("a\0b", 3), std::string(1000, 'x')}),
      tensor::scalar(2.5f),
      tensor::scalar(2.5),
      tensor::scalar(int32_t{-7}),
      tensor::scalar(int64_t{1} << 40),
      tensor::scalar(true),
      tensor::scalar("scalar string"),
      tensor::from_vector<float>({1, 2, 1, 2, 1, 2, 1, 2}, std::vector<float>(16, 0.5f)),
  };
  for (dtype t : all_dtypes) {
    ts.emplace_back(t, tensor_shape{0, 3});
    ts.emplace_back(t, tensor_shape{3, 0});
    ts.emplace_back(t, tensor_shape{0});
  }
  return ts;
}

TEST(TensorCodec, RoundTripsEveryDtypeScalarAndEmpty) {
  for (const tensor& t : sample_tensors()) expect_round_trip(t);
}

TEST(TensorCodec, EncodesAStandardCapnpFlatMessage) {
  tensor t = tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  flat_buffer buf = encode_ok(t);
  ASSERT_EQ(buf.size() % 8, 0u);
  uint32_t table[2];
  std::memcpy(table, buf.data(), 8);
  EXPECT_EQ(table[0], 0u);  // one segment
  EXPECT_EQ(table[1], (buf.size() - 8) / 8);

  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(buf.data()),
                                        buf.size() / 8);
  capnp::FlatArrayMessageReader reader(words);
  auto root = reader.getRoot<wire::Tensor>();
  EXPECT_EQ(root.getDtype(), wire::DType::INT32);
  ASSERT_EQ(root.getShape().size(), 2u);
  EXPECT_EQ(root.getShape()[0], 2);
  EXPECT_EQ(root.getShape()[1], 3);
  ASSERT_EQ(root.getChunks().size(), 1u);
  auto chunk = root.getChunks()[0];
  ASSERT_EQ(chunk.size(), 24u);
  EXPECT_EQ(std::memcmp(chunk.begin(), t.raw_data(), 24), 0);
  EXPECT_EQ((reinterpret_cast<const std::byte*>(chunk.begin()) - buf.data()) % 64, 0);
  EXPECT_EQ(root.getStrings().size(), 0u);
  EXPECT_LE(root.getPadding().size(), 56u);

  // Cap'n Proto's own writer, copying the message, gives bytes that decode the same.
  capnp::MallocMessageBuilder copy;
  copy.setRoot(root);
  auto r = decode_tensor(to_flat(copy));
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_TRUE(r->identical(t));
}

TEST(TensorCodec, DecodesZeroCopyAndKeepsTheBufferAlive) {
  for (int rank = 0; rank <= max_rank; ++rank) {
    for (dtype dt : {dtype::float32, dtype::float64, dtype::int32, dtype::int64, dtype::boolean}) {
      SCOPED_TRACE(str_cat("rank ", rank, " ", dtype_name(dt)));
      std::vector<int64_t> dims(size_t(rank), 2);
      tensor t(dt, tensor_shape(std::span<const int64_t>(dims)));
      auto* bytes = static_cast<unsigned char*>(t.raw_data());
      for (size_t i = 0; i < t.byte_size(); ++i)
        bytes[i] = dt == dtype::boolean ? (i % 3 == 0) : (unsigned char)(i * 37 + 1);

      std::optional<tensor> decoded;
      {
        flat_buffer buf = encode_ok(t);
        auto r = decode_tensor(buf);
        ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
        EXPECT_TRUE(is_inside(r->raw_data(), buf));
        EXPECT_TRUE(aligned_to(r->raw_data(), 64));
        EXPECT_FALSE(r->buffer_handle()->owns_memory());
        EXPECT_FALSE(r->buffer_is_unique());
        decoded = std::move(*r);
      }  // the flat_buffer object is gone; its storage lives on in `decoded`
      EXPECT_TRUE(decoded->identical(t));
    }
  }
}

TEST(TensorCodec, FlatBufferIsAlignedZeroedAndShared) {
  auto a = flat_buffer::allocate(1000);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->size(), 1000u);
  EXPECT_TRUE(aligned_to(a->data(), 64));
  for (std::byte b : a->bytes()) ASSERT_EQ(b, std::byte{0});
  flat_buffer copy = *a;
  EXPECT_EQ(copy.data(), a->data());
  copy.shrink(10);
  EXPECT_EQ(copy.size(), 10u);
  EXPECT_EQ(a->size(), 1000u);
  auto empty = flat_buffer::allocate(0);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(TensorCodec, RejectsAnInvalidTensor) {
  auto r = encode_tensor(tensor{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  EXPECT_TRUE(r.error_value().message().starts_with("encode_tensor: "));
}

TEST(TensorCodec, RoundTripsA80MiBTensorAboveTheDefaultTraversalLimit) {
  const int64_t n = 80 * (int64_t{1} << 20) / 4;
  tensor t = *tensor::allocate(dtype::float32, tensor_shape{n / 1024, 1024});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = float(i % 65521) * 0.5f - 7.0f;
  flat_buffer buf = encode_ok(t);
  auto r = decode_tensor(buf);
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_TRUE(is_inside(r->raw_data(), buf));
  EXPECT_TRUE(r->identical(t));
  auto copied = decode_tensor(buf.bytes());
  ASSERT_TRUE(copied.has_value()) << copied.error_value().to_string();
  EXPECT_TRUE(copied->identical(t));
}

TEST(TensorCodec, RoundTripsA600MiBTensorInTwoChunks) {
  const int64_t n = 600 * (int64_t{1} << 20) / 4;
  auto pattern = [](int64_t i) { return int32_t(uint32_t(i) * 2654435761u); };
  tensor t = *tensor::allocate(dtype::int32, tensor_shape{n});
  int32_t* p = t.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = pattern(i);

  flat_buffer buf = encode_ok(t);
  {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = buf.size() / 8 + 1024;
    capnp::FlatArrayMessageReader reader(
        {reinterpret_cast<const capnp::word*>(buf.data()), buf.size() / 8}, options);
    auto chunks = reader.getRoot<wire::Tensor>().getChunks();
    ASSERT_EQ(chunks.size(), 2u);
    auto first = chunks[0];
    auto second = chunks[1];
    EXPECT_EQ(first.size(), tensor_chunk_bytes);
    EXPECT_EQ(second.size(), size_t(n) * 4 - tensor_chunk_bytes);
    EXPECT_EQ(first.end(), second.begin());  // back to back
  }
  auto r = decode_tensor(buf);
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_TRUE(is_inside(r->raw_data(), buf));
  const int32_t* q = r->data<int32_t>();
  const int64_t boundary = int64_t(tensor_chunk_bytes / 4);
  for (int64_t i : {int64_t{0}, int64_t{1}, boundary - 2, boundary - 1, boundary, boundary + 1,
                    n - 2, n - 1})
    EXPECT_EQ(q[i], pattern(i)) << "element " << i;
  EXPECT_TRUE(r->identical(t));
}

TEST(TensorCodec, DecodesFromAnUnalignedSpan) {
  for (const tensor& t : sample_tensors()) {
    SCOPED_TRACE(t.debug_string());
    flat_buffer buf = encode_ok(t);
    std::vector<std::byte> storage(1);
    storage.insert(storage.end(), buf.bytes().begin(), buf.bytes().end());
    std::span<const std::byte> unaligned(storage.data() + 1, buf.size());
    ASSERT_FALSE(aligned_to(unaligned.data(), 8));
    auto r = decode_tensor(unaligned);
    ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
    EXPECT_TRUE(r->identical(t));
    EXPECT_TRUE(r->buffer_handle()->owns_memory());
  }
}

TEST(TensorCodec, DecodesMultiSegmentMessagesAndAnyChunkSplit) {
  // A foreign writer: small fixed segments, chunks that split elements.
  capnp::MallocMessageBuilder mb(16, capnp::AllocationStrategy::FIXED_SIZE);
  auto root = mb.initRoot<wire::Tensor>();
  root.setDtype(wire::DType::INT32);
  root.initShape(1).set(0, 100);
  std::vector<int32_t> values(100);
  for (int i = 0; i < 100; ++i) values[size_t(i)] = i * 1000 - 7;
  auto* src = reinterpret_cast<const kj::byte*>(values.data());
  auto chunks = root.initChunks(3);
  chunks.set(0, capnp::Data::Reader(src, 101));
  chunks.set(1, capnp::Data::Reader(src + 101, 198));
  chunks.set(2, capnp::Data::Reader(src + 299, 101));
  EXPECT_GT(mb.getSegmentsForOutput().size(), 1u);
  flat_buffer buf = to_flat(mb);
  tensor want = tensor::from_vector<int32_t>({100}, values);
  for (auto r : {decode_tensor(buf), decode_tensor(buf.bytes())}) {
    ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
    EXPECT_TRUE(r->identical(want));
    EXPECT_TRUE(r->buffer_handle()->owns_memory());
  }
}

TEST(TensorCodec, RejectsShortAndRandomBytes) {
  expect_decode_error(decode_tensor(std::span<const std::byte>{}), errc::data_loss, "too short");
  expect_decode_error(decode_tensor(flat_buffer{}), errc::data_loss, "too short");
  std::vector<std::byte> seven(7, std::byte{0});
  expect_decode_error(decode_tensor(seven), errc::data_loss, "expected at least 8 bytes, got 7");
  std::vector<std::byte> twelve(12, std::byte{0});
  expect_decode_error(decode_tensor(twelve), errc::data_loss, "multiple of 8, got 12");
  std::vector<std::byte> zeros(8, std::byte{0});  // one empty segment: no root
  expect_decode_error(decode_tensor(zeros), errc::data_loss, "root pointer");

  std::mt19937_64 rng(42);
  for (int round = 0; round < 3000; ++round) {
    const size_t size = 8 * (rng() % 40);
    auto buf = *flat_buffer::allocate(size);
    for (size_t i = 0; i < size; ++i) buf.mutable_data()[i] = std::byte(rng());
    if (round % 2 == 1 && size >= 8) {  // a plausible segment table, to get further in
      const uint32_t table[2] = {0, uint32_t(size / 8 - 1)};
      std::memcpy(buf.mutable_data(), table, 8);
    }
    expect_error_or_tensor(decode_tensor(buf));
    expect_error_or_tensor(decode_tensor(buf.bytes()));
  }
}

TEST(TensorCodec, RejectsEveryTruncation) {
  for (const tensor& t : {tensor::from_vector<float>({3, 5}, std::vector<float>(15, 1.25f)),
                          tensor::from_vector<std::string>({3}, {"a", "", "long string value"})}) {
    flat_buffer buf = encode_ok(t);
    for (size_t len = 0; len < buf.size(); ++len) {
      SCOPED_TRACE(str_cat(dtype_name(t.dtype()), " truncated to ", len, " of ", buf.size()));
      auto r = decode_tensor(buf.bytes().first(len));
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error_value().code(), errc::data_loss) << r.error_value().to_string();
      EXPECT_TRUE(r.error_value().message().starts_with("decode_tensor: "));
      flat_buffer copy = *flat_buffer::copy_of(buf.bytes().first(len));
      EXPECT_FALSE(decode_tensor(copy).has_value());
    }
  }
}

TEST(TensorCodec, SurvivesFlippedBytesAnywhere) {
  for (const tensor& t : {tensor::from_vector<float>({3, 5}, std::vector<float>(15, 1.25f)),
                          tensor::from_vector<bool>({9}, std::vector<bool>(9, true)),
                          tensor::from_vector<std::string>({3}, {"a", "", "long string value"})}) {
    flat_buffer buf = encode_ok(t);
    for (size_t pos = 0; pos < buf.size(); ++pos) {
      for (unsigned mask : {0x01u, 0x10u, 0x80u, 0xffu}) {
        SCOPED_TRACE(str_cat(dtype_name(t.dtype()), " byte ", pos, " ^ ", mask));
        flat_buffer damaged = *flat_buffer::copy_of(buf.bytes());
        damaged.mutable_data()[pos] ^= std::byte(mask);
        expect_error_or_tensor(decode_tensor(damaged));
        expect_error_or_tensor(decode_tensor(damaged.bytes()));
      }
    }
  }
}

TEST(TensorCodec, RejectsAShapeThatDoesNotMatchTheData) {
  std::vector<kj::byte> twelve(12, 1);
  flat_buffer buf = build_message([&](wire::Tensor::Builder root) {
    root.setDtype(wire::DType::FLOAT32);
    root.initShape(1).set(0, 4);
    root.initChunks(1).set(0, capnp::Data::Reader(twelve.data(), twelve.size()));
  });
  expect_decode_error(decode_tensor(buf), errc::data_loss, "expects 4 x 4 bytes, got 12 bytes");
  expect_decode_error(decode_tensor(buf.bytes()), errc::data_loss, "data size mismatch");
  // A shape whose byte count overflows 64 bits.
  flat_buffer huge = build_message([&](wire::Tensor::Builder root) {
    root.setDtype(wire::DType::FLOAT64);
    root.initShape(1).set(0, int64_t{1} << 62);
    root.initChunks(1).set(0, capnp::Data::Reader(twelve.data(), twelve.size()));
  });
  expect_decode_error(decode_tensor(huge), errc::data_loss, "data size mismatch");
}

TEST(TensorCodec, RejectsUnknownDtypesAndBadShapes) {
  auto with = [](uint16_t dt, std::vector<int64_t> dims) {
    return build_message([&](wire::Tensor::Builder root) {
      root.setDtype(static_cast<wire::DType>(dt));
      auto shape = root.initShape(unsigned(dims.size()));
      for (size_t i = 0; i < dims.size(); ++i) shape.set(unsigned(i), dims[i]);
    });
  };
  expect_decode_error(decode_tensor(with(42, {1})), errc::invalid_argument,
                      "unknown dtype number 42: expected 1 (float32) to 6 (string)");
  expect_decode_error(decode_tensor(with(7, {1})), errc::invalid_argument, "dtype number 7");
  expect_decode_error(decode_tensor(with(0, {1})), errc::invalid_argument, "dtype number 0");
  expect_decode_error(decode_tensor(with(1, {2, -3})), errc::invalid_argument,
                      "dimension 1 is -3");
  expect_decode_error(decode_tensor(with(1, std::vector<int64_t>(9, 1))), errc::invalid_argument,
                      "rank 9 exceeds the maximum rank: expected at most 8");
  expect_decode_error(decode_tensor(with(1, {int64_t{1} << 32, int64_t{1} << 32})),
                      errc::invalid_argument, "overflows");
}

TEST(TensorCodec, RejectsMismatchedStringsAndChunks) {
  std::vector<kj::byte> four(4, 0);
  auto strings_msg = [&](wire::DType dt, unsigned num_strings, bool add_chunk) {
    return build_message([&](wire::Tensor::Builder root) {
      root.setDtype(dt);
      root.initShape(1).set(0, 1);
      auto strings = root.initStrings(num_strings);
      for (unsigned i = 0; i < num_strings; ++i) strings.set(i, capnp::Data::Reader(four.data(), 2));
      if (add_chunk) root.initChunks(1).set(0, capnp::Data::Reader(four.data(), four.size()));
    });
  };
  expect_decode_error(decode_tensor(strings_msg(wire::DType::STRING, 3, false)), errc::data_loss,
                      "strings count mismatch: shape [1] expects 1 strings, got 3");
  expect_decode_error(decode_tensor(strings_msg(wire::DType::STRING, 1, true)), errc::data_loss,
                      "string tensor has data chunks: expected 0, got 1");
  expect_decode_error(decode_tensor(strings_msg(wire::DType::INT32, 1, true)), errc::data_loss,
                      "strings count mismatch: expected 0 for a int32 tensor, got 1");
  auto ok = decode_tensor(strings_msg(wire::DType::INT32, 0, true));
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
}

TEST(TensorCodec, RejectsBoolBytesOtherThanZeroOrOne) {
  std::vector<kj::byte> bytes = {1, 0, 1, 2, 0};
  flat_buffer buf = build_message([&](wire::Tensor::Builder root) {
    root.setDtype(wire::DType::BOOLEAN);
    root.initShape(1).set(0, 5);
    root.initChunks(1).set(0, capnp::Data::Reader(bytes.data(), bytes.size()));
  });
  expect_decode_error(decode_tensor(buf), errc::data_loss, "bool element 3 is 2: expected 0 or 1");
}

TEST(TensorCodec, RejectsTrailingBytes) {
  flat_buffer buf = encode_ok(tensor::scalar(1.0f));
  flat_buffer longer = *flat_buffer::allocate(buf.size() + 8);
  std::memcpy(longer.mutable_data(), buf.data(), buf.size());
  expect_decode_error(decode_tensor(longer), errc::data_loss,
                      str_cat("trailing bytes after the message: expected ", buf.size(),
                              " bytes, got ", buf.size() + 8));
}

TEST(TensorCodec, TraversalLimitStopsAmplifiedMessages) {
  // K chunk pointers that all point at one 64 KiB Data: small on the wire, 256 MiB when read.
  constexpr unsigned k = 4096;
  constexpr unsigned chunk_bytes = 64 * 1024;
  std::vector<capnp::word> segment(k + chunk_bytes / 8 + 64);
  std::memset(reinterpret_cast<std::byte*>(segment.data()), 0, segment.size() * sizeof(capnp::word));
  flat_buffer buf;
  {
    capnp::MallocMessageBuilder mb(kj::arrayPtr(segment.data(), segment.size()));
    auto root = mb.initRoot<wire::Tensor>();
    root.setDtype(wire::DType::FLOAT32);
    root.initShape(1).set(0, int64_t{k} * chunk_bytes / 4);
    const size_t list_start = mb.getSegmentsForOutput()[0].size();
    auto chunks = root.initChunks(k);
    chunks.init(0, chunk_bytes);
    ASSERT_EQ(mb.getSegmentsForOutput().size(), 1u);
    const size_t data_start = list_start + k;
    for (size_t i = 1; i < k; ++i) {
      const int32_t offset = int32_t(data_start - (list_start + i + 1));
      const uint64_t pointer = uint64_t(uint32_t(offset) << 2 | 1) |
                               uint64_t(uint32_t(chunk_bytes) << 3 | 2) << 32;  // List(UInt8)
      std::memcpy(reinterpret_cast<std::byte*>(segment.data() + list_start + i), &pointer, 8);
    }
    buf = to_flat(mb);
  }
  EXPECT_LT(buf.size(), 128u * 1024);
  expect_decode_error(decode_tensor(buf), errc::data_loss, "traversal limit");
  expect_decode_error(decode_tensor(buf.bytes()), errc::data_loss, "traversal limit");
}

}  // namespace
}  // namespace troupe
