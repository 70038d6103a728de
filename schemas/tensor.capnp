@0xcae5d6c9404178f1;
# The tensor wire format: how one troupe tensor travels between processes and is stored
# (checkpoints, record shards). Described in prose in docs/formats/tensor.md; the only
# C++ code that touches these generated types lives in runtime/codec/ only (tensor_codec.cpp, and graph_codec.cpp through tensor_wire.hpp).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

enum DType {
  # Element type. The numbering is troupe::dtype's (runtime/core/dtype.hpp): never reuse or
  # reorder; a new dtype takes the next number in both places.
  invalid @0;
  # Never valid in a message (it is what an unset field reads as).
  float32 @1;
  float64 @2;
  int32 @3;
  int64 @4;
  boolean @5;
  # One byte per element, 0 or 1.
  string @6;
  # Each element a byte string, stored in Tensor.strings.
}

struct Tensor {
  # A dense tensor: dtype, shape, and the elements in row-major order.

  dtype @0 :DType;
  # Element type. A reader rejects numbers it does not know.

  shape @1 :List(Int64);
  # Dimensions, outermost first; empty for a scalar. Each >= 0, at most 8 of them.

  chunks @2 :List(Data);
  # For every dtype except string: the raw little-endian element bytes, row-major, cut
  # into chunks because one Data holds at most 2^29-1 bytes. Concatenated they hold exactly
  # num_elements * element size bytes (4, 8, 4, 8, 1). Writers make every chunk but the last
  # a multiple of 64 bytes (troupe writes 2^29-64), so in a one-segment message the chunks
  # lie back to back; readers accept any split. Empty for an empty tensor and for strings.

  strings @3 :List(Data);
  # For dtype string: one Data per element, row-major (arbitrary bytes, not NUL-terminated).
  # Empty for every other dtype.

  padding @4 :Data;
  # Zero bytes that a writer allocates just before the first chunk so that the chunk
  # starts at a 64-byte offset from the start of the flat message (segment table included).
  # Readers ignore its contents; it may be absent.

  # Next ordinal: @5 (e.g. a name).
}
