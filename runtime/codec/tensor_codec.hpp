#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "runtime/core/expected.hpp"
#include "runtime/core/tensor.hpp"

namespace troupe {

/// Alignment of flat_buffer storage, and of the first element byte of an encoded tensor.
inline constexpr size_t flat_buffer_alignment = 64;

/// Bytes per data chunk that encode_tensor writes (all chunks but the last). One
/// Cap'n Proto Data holds at most 2^29-1 bytes; a multiple of 64 keeps the chunks back to
/// back in the message. See docs/formats/tensor.md.
inline constexpr size_t tensor_chunk_bytes = (size_t{1} << 29) - 64;

/// Largest flat message encode_tensor writes: one Cap'n Proto segment holds at most
/// 2^29-1 words, plus the 8-byte segment table (about 4 GiB).
inline constexpr size_t max_encoded_tensor_bytes = 8 + ((size_t{1} << 29) - 1) * 8;

/// An owning, 64-byte aligned block of bytes holding one flat Cap'n Proto message.
/// Copies share the storage (reference counted): a tensor decoded zero-copy from it keeps
/// the storage alive after every flat_buffer object is gone, and aliases its bytes, so
/// write through mutable_data() only before decoding.
/// Thread-safety: a value type; shared bytes may be read from any thread, never written.
class flat_buffer {
 public:
  /// An empty buffer (size 0, data() null).
  flat_buffer() = default;

  /// A zero-filled buffer of `size` bytes (e.g. to receive a message from a socket or a
  /// file before decoding it). resource_exhausted when out of memory.
  static expected<flat_buffer> allocate(size_t size);
  /// An aligned copy of `bytes`. resource_exhausted when out of memory.
  static expected<flat_buffer> copy_of(std::span<const std::byte> bytes);

  const std::byte* data() const { return data_.get(); }
  /// Writable bytes, for filling the buffer; never once tensors were decoded from it.
  std::byte* mutable_data() { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::byte> bytes() const { return {data_.get(), size_}; }

  /// Makes size() smaller without reallocating (e.g. after reading fewer bytes than
  /// allocated). Aborts if `new_size` > size().
  void shrink(size_t new_size);

  /// The shared owner of the storage; points at data().
  std::shared_ptr<const std::byte> storage() const { return data_; }

 private:
  std::shared_ptr<std::byte> data_;
  size_t size_ = 0;
};

/// Encodes `t` as one standard flat Cap'n Proto message (schemas/tensor.capnp: an 8-byte
/// segment table then one segment, as capnp::messageToFlatArray writes). The element bytes
/// are copied once, straight into the message, and the first of them lies at a 64-byte
/// offset from the start of the buffer. Errors: invalid_argument for an invalid tensor,
/// a string element of 2^29 bytes or more, or a message above max_encoded_tensor_bytes;
/// resource_exhausted when out of memory.
expected<flat_buffer> encode_tensor(const tensor& t);

/// Decodes a message written by encode_tensor (or by any Cap'n Proto writer of
/// schemas/tensor.capnp). Zero-copy when the element bytes are contiguous and 64-byte
/// aligned inside `buf`: the tensor then views `buf`'s memory and shares its ownership
/// (buffer_handle()->owns_memory() is false). Otherwise (chunks split across segments,
/// unaligned, strings, empty tensors) the elements are copied into a fresh tensor.
/// Errors (messages start with "decode_tensor: "): data_loss for bytes that are not a
/// well-formed message or whose parts disagree (too short, not a multiple of 8, trailing
/// bytes, a Cap'n Proto error, data length != shape, strings count != shape, a bool byte
/// other than 0 or 1); invalid_argument for a well-formed tensor troupe cannot hold
/// (unknown dtype number, rank above max_rank, a negative dimension, element count
/// overflow); resource_exhausted when out of memory. Never reads outside `buf`.
expected<tensor> decode_tensor(const flat_buffer& buf);

/// Decodes bytes from anywhere (a socket, a RocksDB value): always copies the elements
/// into a tensor that owns its memory. Bytes not 8-byte aligned are first copied into an
/// aligned buffer (Cap'n Proto 0.9 rejects unaligned messages). Errors as above.
expected<tensor> decode_tensor(std::span<const std::byte> bytes);

}  // namespace troupe
