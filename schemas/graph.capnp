@0x82518dcf8c11bf7e;
# The graph wire format: how a troupe dataflow graph travels between processes (a client
# sending a graph to a worker) and is stored (saved models). Described in prose in
# docs/formats/graph.md; the only C++ code that touches these generated types is
# runtime/codec/graph_codec.cpp.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("troupe::wire");

using TensorFormat = import "tensor.capnp";
using DType = TensorFormat.DType;
using Tensor = TensorFormat.Tensor;

const currentGraphFormatVersion :UInt32 = 1;
# The formatVersion troupe writes, and the only one it reads. Adding a field or a union
# member does not change it (old readers skip fields they do not know and reject union
# members they do not know); a change that old readers would misread does.

struct Graph {
  # A dataflow graph: its nodes in order, every node after the nodes it reads.

  formatVersion @0 :UInt32;
  # currentGraphFormatVersion (1). 0 (unset) means the message is not a graph.

  nodes @1 :List(Node);
  # The nodes; a node's id is its position in this list. Every input and control input of
  # the node at position i names a node at a position below i, so a graph has no cycle.

  # Next ordinal: @2 (e.g. a function library).
}

struct Node {
  # One operation: what it is called, which op it runs, what it reads, where it runs.

  name @0 :Text;
  # Unique in the graph, not empty, without ':'.

  op @1 :Text;
  # The op's registered name ("matmul"); the reader's op registry must know it.

  inputs @2 :List(Endpoint);
  # The data inputs, flattened in the op signature's order (a list argument "N*T"
  # contributes N consecutive entries).

  controlInputs @3 :List(UInt32);
  # Positions of nodes that must run before this one (no data flows).

  device @4 :Text;
  # The requested device, e.g. "/cpu:0"; empty means any.

  attrs @5 :List(Attr);
  # The node's attributes, complete (defaults and inferred type attributes included).
  # Each name at most once; troupe writes them sorted by name, readers take any order.

  # Next ordinal: @6.
}

struct Endpoint {
  # One output of an earlier node.

  node @0 :UInt32;
  # The producing node's position in Graph.nodes; below the reading node's position.

  output @1 :UInt32;
  # Which of its outputs, from 0.
}

struct Attr {
  # One named attribute of a node.

  name @0 :Text;
  # As declared in the op's signature ("transpose_a").

  value @1 :AttrValue;
  # Required.
}

struct AttrValue {
  # The value of an attribute: one of the 10 kinds of op signatures. The member numbers
  # are troupe::attr_kind's plus 1 (runtime/graph/attr_value.hpp): a new kind takes the
  # next number in both places.

  union {
    unset @0 :Void;
    # What a value nobody set reads as; never valid in a message.
    boolean @1 :Bool;
    # Kind "bool".
    integer @2 :Int64;
    # Kind "int".
    real @3 :Float64;
    # Kind "float".
    string @4 :Data;
    # Kind "string": arbitrary bytes (not NUL-terminated, NUL allowed).
    type @5 :DType;
    # Kind "type": a dtype, numbered as in tensor.capnp; never invalid.
    shape @6 :Shape;
    # Kind "shape".
    intList @7 :List(Int64);
    # Kind "list(int)".
    floatList @8 :List(Float64);
    # Kind "list(float)".
    tensor @9 :Tensor;
    # Kind "tensor", in tensor.capnp's format.
    typeList @10 :List(DType);
    # Kind "list(type)": the dtypes of a tuple of tensors (queue components), in order;
    # each numbered as in tensor.capnp, never invalid; may be empty.
  }
}

struct Shape {
  # A shape known in part (troupe::partial_shape).

  unknownRank @0 :Bool;
  # True: nothing is known, not even the rank; dims is then empty.

  dims @1 :List(Int64);
  # When the rank is known: the dimensions, outermost first (empty for a scalar), each
  # >= 0, or -1 for an unknown dimension; at most 8 of them.
}
