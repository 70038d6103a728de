#pragma once

#include <cstddef>
#include <span>

#include "runtime/codec/tensor_codec.hpp"
#include "runtime/core/expected.hpp"
#include "runtime/graph/graph.hpp"

namespace troupe {

/// The graph format version encode_graph writes and decode_graph reads
/// (schemas/graph.capnp, currentGraphFormatVersion).
inline constexpr uint32_t graph_format_version = 1;

/// Encodes `g` as one standard flat Cap'n Proto message (schemas/graph.capnp; see
/// docs/formats/graph.md): every node with its name, op, inputs as (node position,
/// output index) pairs, control inputs, requested device and complete attributes
/// (sorted by name; tensors in tensor.capnp's format). Inferred shapes and dtypes are not
/// written: decode_graph infers them again. The same graph always gives the same bytes.
/// Errors: invalid_argument for an attribute that cannot be encoded (an invalid tensor, a
/// string element of 2^29 bytes or more), naming the node and the attribute, or a graph
/// beyond a Cap'n Proto limit (a list of 2^29 elements); resource_exhausted when out of
/// memory.
expected<flat_buffer> encode_graph(const graph& g);

/// Decodes a message written by encode_graph (or by any Cap'n Proto writer of
/// schemas/graph.capnp) into a graph over `ops`, which must outlive it. Every node goes
/// through graph::add_node, so it is validated against its op and its shapes and dtypes
/// are inferred again. Bytes at any address are accepted (unaligned ones are copied
/// first); tensor attributes own their memory. Never crashes, never reads outside `bytes`.
/// Errors (messages start with "decode_graph: "; those about one node name its position
/// as "nodes[i]"):
/// - data_loss: not a well-formed message (too short, not whole words, trailing bytes, a
///   Cap'n Proto error, the traversal limit), a format version of 0 (not a graph), a
///   missing or unset attribute value, a shape with unknownRank and dims, a corrupt
///   tensor attribute (decode_tensor's data_loss errors);
/// - invalid_argument: a format version other than graph_format_version, an input or
///   control input naming a node that does not come before the node (forward or self
///   reference, or no such node), an attribute given twice, an unknown attribute kind or
///   dtype number, an invalid shape or tensor value, and every add_node error other than
///   an unknown op (bad attributes, input dtypes, shapes; prefixed with the position);
/// - not_found: an op `ops` does not know (naming the node and the op);
/// - already_exists: two nodes with the same name;
/// - resource_exhausted: out of memory.
/// The graph class is movable, so the graph is returned by value.
expected<graph> decode_graph(std::span<const std::byte> bytes, const op_registry& ops);

}  // namespace troupe
