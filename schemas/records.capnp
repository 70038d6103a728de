@0xe8189c7be45ca9a3;
# Record shards: columnar batches of table rows (what `troupe ingest` writes from CSV).
# Described in prose in docs/formats/records.md, which also gives the file framing (magic,
# version, frame headers with a CRC-32 per message). The only C++ code that touches these
# generated types is pipeline/data/records.cpp.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

enum ColumnType {
  # The type of a column, numbered as troupe::pipeline::column_type (pipeline/data/csv.hpp):
  # never reuse or reorder.
  int64 @0;
  float64 @1;
  string @2;
}

struct ColumnInfo {
  name @0 :Text;
  # The column's name (the CSV header's field).

  type @1 :ColumnType;
}

struct ShardSchema {
  # The first message of a shard file: the columns, in order, and how rows were batched.

  columns @0 :List(ColumnInfo);

  rowsPerBatch @1 :UInt32;
  # The most rows a batch of this file holds (a batch may hold fewer, e.g. the last one, or
  # one cut early because its strings grew large).

  # Next ordinal: @2.
}

struct Column {
  # One column of one batch: numRows values of the type given by the shard's schema.

  nulls @0 :Data;
  # Null (missing) bitmap: bit i (byte i / 8, bit i % 8, least significant first) set when
  # row i is null. Empty when no row of this column in this batch is null; otherwise exactly
  # ceil(numRows / 8) bytes. A null row's value slot holds 0 / 0.0 / an empty string.

  union {
    int64s @1 :List(Int64);
    # Type int64: numRows values.

    float64s @2 :List(Float64);
    # Type float64: numRows values.

    strings :group {
      # Type string: the values back to back in one blob, no per-value object.
      data @3 :Data;
      offsets @4 :List(UInt32);
      # numRows + 1 offsets into data, non-decreasing, offsets[0] = 0,
      # offsets[numRows] = size of data; value i is data[offsets[i], offsets[i+1]).
    }
  }
}

struct RecordBatch {
  # A batch of rows, column by column.

  numRows @0 :UInt32;

  firstRow @1 :UInt64;
  # Index in the file of this batch's first row (0 for the first batch).

  columns @2 :List(Column);
  # One per column of the shard's schema, in the same order.

  # Next ordinal: @3.
}

struct ShardFooter {
  # The last message of a shard file: totals, so that a file cut at a frame boundary is
  # detected as truncated.

  numRows @0 :UInt64;
  numBatches @1 :UInt64;

  # Next ordinal: @2.
}
