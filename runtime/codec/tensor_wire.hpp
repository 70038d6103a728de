#pragma once

// Codec-internal: the tensor encoding of schemas/tensor.capnp for codecs whose messages
// embed a Tensor (a graph's tensor attributes). Includes generated Cap'n Proto headers,
// so only runtime/codec/*.cpp may include it; nothing outside runtime/codec sees it.

#include "runtime/codec/tensor_codec.hpp"
#include "schemas/tensor.capnp.h"

namespace troupe::codec {

/// Writes `t` into `out` as docs/formats/tensor.md describes (dtype, shape, chunks of
/// tensor_chunk_bytes or strings; no alignment padding: the element bytes of an embedded
/// tensor are not aligned). Errors (invalid_argument, messages start with
/// "encode_tensor: "): an invalid tensor, a string element of 2^29 bytes or more.
/// Cap'n Proto failures (e.g. a segment limit) are thrown as kj::Exception: the caller,
/// which owns the message, converts them.
error write_tensor(const tensor& t, wire::Tensor::Builder out);

/// Reads a Tensor into a tensor that owns its memory (always a copy). Errors as
/// decode_tensor's (messages start with "decode_tensor: "), except those about the
/// container (segment table, trailing bytes). Cap'n Proto failures (a bad pointer, the
/// traversal limit) are thrown as kj::Exception: the caller converts them.
expected<tensor> read_tensor(wire::Tensor::Reader in);

}  // namespace troupe::codec
