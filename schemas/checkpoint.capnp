@0xd268730872cc610b;
# The checkpoint manifest: what one checkpoint of a troupe checkpoint store (a RocksDB
# database) holds. Described in prose, with the key and value layout around it, in
# docs/formats/checkpoint.md; the only C++ code that touches these generated types is
# runtime/checkpoint/checkpoint.cpp (the store's codec for its own manifest).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

using TensorFormat = import "tensor.capnp";
using DType = TensorFormat.DType;

const currentCheckpointFormatVersion :UInt32 = 1;
# The formatVersion troupe writes, and the only one it reads. Adding a field does not
# change it (old readers skip fields they do not know); a change that old readers would
# misread does.

struct Manifest {
  # One checkpoint: which tensors it holds and how to verify each of them.

  formatVersion @0 :UInt32;
  # currentCheckpointFormatVersion (1). 0 (unset) means the message is not a manifest.

  id @1 :UInt64;
  # The checkpoint's id: the number in its keys (docs/formats/checkpoint.md). Ids grow by
  # one per save in a store and are never reused; the highest is the newest.

  step @2 :Int64;
  # The training step the caller saved at (usually the global step).

  timeMicros @3 :Int64;
  # When it was saved: microseconds since the Unix epoch (UTC), the writer's clock.

  container @4 :Text;
  # The resource container the variables came from ("" = the default container).

  tensors @5 :List(TensorEntry);
  # One entry per saved variable, sorted by name (names are unique).

  skipped @6 :List(Text);
  # Variables of the container that were not initialized when it was saved, and so are
  # not in this checkpoint. Sorted.

  # Next ordinal: @7.
}

struct TensorEntry {
  # One saved variable. Its value is the RocksDB value of key "t/<id>/<name>": one tensor
  # in the wire format of tensor.capnp (docs/formats/tensor.md).

  name @0 :Text;
  # The variable's name in its container.

  dtype @1 :DType;
  # The element type; the encoded tensor must have the same.

  shape @2 :List(Int64);
  # The dimensions, outermost first; the encoded tensor must have the same.

  encodedBytes @3 :UInt64;
  # Size of the value (the encoded tensor) in bytes. A value of another size is truncated
  # or damaged.

  crc32c @4 :UInt32;
  # CRC-32C (Castagnoli, as iSCSI and ext4 use it; crc32c("123456789") = 0xE3069283) of the
  # value's bytes, unmasked.

  # Next ordinal: @5.
}
