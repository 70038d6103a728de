#include "runtime/codec/graph_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <array>
#include <new>
#include <string>
#include <vector>

#include "runtime/codec/tensor_wire.hpp"
#include "schemas/graph.capnp.h"

namespace troupe {

// Note [Graph wire format]
// A graph is written as its nodes in id order; an input is a (node position, output index)
// pair, not "name:index" text: positions are what endpoint holds, they need no name
// look-up or parsing, and "comes before" is a comparison. Shapes and dtypes are not
// written: decode_graph replays every node through graph::add_node, which validates it
// against the reader's op registry and infers them again, so a decoded graph is exactly
// as trustworthy as one built by hand. docs/formats/graph.md describes the format.

static_assert(graph_format_version == wire::CURRENT_GRAPH_FORMAT_VERSION,
              "graph_codec.hpp and schemas/graph.capnp disagree on the format version");

namespace {

using which = wire::AttrValue::Which;

// Union member numbers are attr_kind's plus one (0 is `unset`).
constexpr uint16_t which_of(attr_kind k) { return uint16_t(k) + 1; }
static_assert(uint16_t(which::BOOLEAN) == which_of(attr_kind::boolean) &&
                  uint16_t(which::INTEGER) == which_of(attr_kind::integer) &&
                  uint16_t(which::REAL) == which_of(attr_kind::real) &&
                  uint16_t(which::STRING) == which_of(attr_kind::string) &&
                  uint16_t(which::TYPE) == which_of(attr_kind::type) &&
                  uint16_t(which::SHAPE) == which_of(attr_kind::shape) &&
                  uint16_t(which::INT_LIST) == which_of(attr_kind::int_list) &&
                  uint16_t(which::FLOAT_LIST) == which_of(attr_kind::float_list) &&
                  uint16_t(which::TENSOR) == which_of(attr_kind::tensor) &&
                  uint16_t(which::TYPE_LIST) == which_of(attr_kind::type_list),
              "schemas/graph.capnp AttrValue must number its members as attr_kind + 1");

constexpr size_t word_bytes = sizeof(capnp::word);
constexpr size_t segment_table_min_bytes = 8;
// Words a reader may traverse beyond the message's own size (see docs/formats/graph.md).
constexpr uint64_t traversal_slack_words = 1024;

std::string where(int position, std::string_view name) {
  return str_cat("decode_graph: nodes[", position, "] ('", name, "')");
}

std::string_view text(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

// ---- Encoding --------------------------------------------------------------------------

capnp::Data::Reader as_data(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

error write_attr(const attr_value& value, wire::AttrValue::Builder out) {
  switch (value.kind()) {
    case attr_kind::boolean: out.setBoolean(value.get<bool>()); break;
    case attr_kind::integer: out.setInteger(value.get<int64_t>()); break;
    case attr_kind::real: out.setReal(value.get<double>()); break;
    case attr_kind::string: out.setString(as_data(value.get<std::string>())); break;
    case attr_kind::type: {
      const dtype t = value.get<dtype>();
      TROUPE_REQUIRE(t != dtype::invalid, "expected a dtype, got invalid");
      out.setType(static_cast<wire::DType>(t));
      break;
    }
    case attr_kind::shape: {
      const partial_shape& s = value.get<partial_shape>();
      auto shape = out.initShape();
      shape.setUnknownRank(!s.rank_known());
      auto dims = shape.initDims(unsigned(s.dims().size()));
      for (size_t i = 0; i < s.dims().size(); ++i) dims.set(unsigned(i), s.dims()[i]);
      break;
    }
    case attr_kind::int_list: {
      const auto& v = value.get<std::vector<int64_t>>();
      auto list = out.initIntList(unsigned(v.size()));
      for (size_t i = 0; i < v.size(); ++i) list.set(unsigned(i), v[i]);
      break;
    }
    case attr_kind::float_list: {
      const auto& v = value.get<std::vector<double>>();
      auto list = out.initFloatList(unsigned(v.size()));
      for (size_t i = 0; i < v.size(); ++i) list.set(unsigned(i), v[i]);
      break;
    }
    case attr_kind::tensor: return codec::write_tensor(value.get<tensor>(), out.initTensor());
    case attr_kind::type_list: {
      const auto& v = value.get<std::vector<dtype>>();
      for (size_t i = 0; i < v.size(); ++i)
        TROUPE_REQUIRE(v[i] != dtype::invalid, "element ", i, ": expected a dtype, got invalid");
      auto list = out.initTypeList(unsigned(v.size()));
      for (size_t i = 0; i < v.size(); ++i) list.set(unsigned(i), static_cast<wire::DType>(v[i]));
      break;
    }
  }
  return {};
}

error write_node(const node& n, wire::Node::Builder out) {
  out.setName(n.name);
  out.setOp(n.op);
  auto inputs = out.initInputs(unsigned(n.inputs.size()));
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    inputs[unsigned(i)].setNode(uint32_t(n.inputs[i].node));
    inputs[unsigned(i)].setOutput(uint32_t(n.inputs[i].index));
  }
  auto control = out.initControlInputs(unsigned(n.control_inputs.size()));
  for (size_t i = 0; i < n.control_inputs.size(); ++i)
    control.set(unsigned(i), uint32_t(n.control_inputs[i]));
  if (!n.device.empty()) out.setDevice(n.device);
  auto attrs = out.initAttrs(unsigned(n.attrs.size()));
  unsigned i = 0;
  for (const auto& [name, value] : n.attrs) {  // attr_map is ordered: sorted by name
    attrs[i].setName(name);
    if (error e = write_attr(value, attrs[i].initValue()))
      return std::move(e).with_context(
          str_cat("encode_graph: nodes[", n.id, "] ('", n.name, "'): attribute '", name, "'"));
    ++i;
  }
  return {};
}

// The message in flat form, written straight into a flat_buffer.
expected<flat_buffer> to_flat(capnp::MessageBuilder& message) {
  const size_t size = capnp::computeSerializedSizeInWords(message) * word_bytes;
  flat_buffer out = TROUPE_TRY(flat_buffer::allocate(size));
  kj::ArrayOutputStream stream(
      kj::arrayPtr(reinterpret_cast<kj::byte*>(out.mutable_data()), size));
  capnp::writeMessage(stream, message);
  TROUPE_ASSERT(stream.getArray().size() == size, "encode_graph: wrote ",
                stream.getArray().size(), " bytes, computed ", size);
  return out;
}

// ---- Decoding --------------------------------------------------------------------------

template <class T>
std::vector<T> to_vector(typename capnp::List<T>::Reader list) {
  std::vector<T> out;
  out.reserve(list.size());
  for (T x : list) out.push_back(x);
  return out;
}

// A dtype as numbered in tensor.capnp; `what` says where it was found.
expected<dtype> read_dtype(wire::DType t, std::string_view what = {}) {
  const auto raw = static_cast<uint16_t>(t);
  if (raw == 0 || raw > uint16_t(dtype::string))
    return make_error(errc::invalid_argument, "unknown dtype number ", raw, what,
                      ": expected 1 (float32) to 6 (string)");
  return static_cast<dtype>(raw);
}

expected<attr_value> read_attr(wire::AttrValue::Reader v) {
  switch (v.which()) {
    case which::UNSET:
      return make_error(errc::data_loss, "no value: the union is unset");
    case which::BOOLEAN: return attr_value(v.getBoolean());
    case which::INTEGER: return attr_value(int64_t(v.getInteger()));
    case which::REAL: return attr_value(v.getReal());
    case which::STRING: {
      auto s = v.getString();
      return attr_value(std::string(reinterpret_cast<const char*>(s.begin()), s.size()));
    }
    case which::TYPE: return attr_value(TROUPE_TRY(read_dtype(v.getType())));
    case which::SHAPE: {
      auto s = v.getShape();
      auto dims = s.getDims();
      if (s.getUnknownRank()) {
        if (dims.size() != 0)
          return make_error(errc::data_loss, "shape of unknown rank has ", dims.size(),
                            " dims: expected none");
        return attr_value(partial_shape::unknown());
      }
      if (dims.size() > unsigned(max_rank))
        return make_error(errc::invalid_argument, "shape: rank ", dims.size(),
                          " exceeds the maximum rank: expected at most ", max_rank);
      std::array<int64_t, max_rank> d{};
      for (unsigned i = 0; i < dims.size(); ++i) d[i] = dims[i];
      return attr_value(
          TROUPE_TRY(partial_shape::make(std::span<const int64_t>(d.data(), dims.size()))));
    }
    case which::INT_LIST: return attr_value(to_vector<int64_t>(v.getIntList()));
    case which::FLOAT_LIST: return attr_value(to_vector<double>(v.getFloatList()));
    case which::TENSOR: return attr_value(TROUPE_TRY(codec::read_tensor(v.getTensor())));
    case which::TYPE_LIST: {
      auto list = v.getTypeList();
      std::vector<dtype> out;
      out.reserve(list.size());
      for (unsigned i = 0; i < list.size(); ++i)
        out.push_back(TROUPE_TRY(read_dtype(list[i], str_cat(" at position ", i))));
      return attr_value(std::move(out));
    }
  }
  return make_error(errc::invalid_argument, "unknown attribute kind number ",
                    uint16_t(v.which()), ": expected 1 (bool) to 10 (list(type))");
}

// The node at `position` as a node_def for add_node; checks what add_node cannot see in
// positions (a reference to a later node) and what only the wire can get wrong.
expected<node_def> read_node(const graph& g, int position, wire::Node::Reader n) {
  node_def def;
  def.name = std::string(text(n.getName()));
  def.op = std::string(text(n.getOp()));
  auto source = [&](uint32_t id, auto... what) -> error {
    if (id >= uint32_t(position))
      return make_error(errc::invalid_argument, where(position, def.name), ": ", what...,
                        " refers to nodes[", id, "], which does not come before it: expected a ",
                        "position below ", position);
    return {};
  };
  auto inputs = n.getInputs();
  def.inputs.reserve(inputs.size());
  for (unsigned i = 0; i < inputs.size(); ++i) {
    const uint32_t id = inputs[i].getNode(), output = inputs[i].getOutput();
    TROUPE_TRY(source(id, "input ", i));
    const node& src = g.at(int(id));
    if (output >= uint32_t(src.num_outputs()))
      return make_error(errc::invalid_argument, where(position, def.name), ": input ", i,
                        " refers to output ", output, " of nodes[", id, "] ('", src.name,
                        "'), which has ", src.num_outputs(), " outputs");
    def.inputs.push_back({int(id), int(output)});
  }
  auto control = n.getControlInputs();
  def.control_inputs.reserve(control.size());
  for (unsigned i = 0; i < control.size(); ++i) {
    TROUPE_TRY(source(control[i], "control input ", i));
    def.control_inputs.push_back(int(control[i]));
  }
  def.device = std::string(text(n.getDevice()));
  for (auto a : n.getAttrs()) {
    std::string name(text(a.getName()));
    const std::string context = str_cat(where(position, def.name), ": attribute '", name, "'");
    if (!a.hasValue())
      return make_error(errc::data_loss, context, ": no value");
    auto value = read_attr(a.getValue());
    if (!value) return std::move(value).error_value().with_context(context);
    if (!def.attrs.emplace(std::move(name), std::move(*value)).second)
      return make_error(errc::invalid_argument, context, " is given twice");
  }
  return def;
}

// `position` tells the caller which node was being read when Cap'n Proto threw.
expected<graph> read_graph(wire::Graph::Reader root, const op_registry& ops, int& position) {
  const uint32_t version = root.getFormatVersion();
  if (version == 0)
    return make_error(errc::data_loss, "decode_graph: format version is 0 (unset): expected ",
                      graph_format_version, "; the bytes are not a graph message");
  if (version != graph_format_version)
    return make_error(errc::invalid_argument, "decode_graph: unsupported format version ",
                      version, ": expected ", graph_format_version);
  graph g(ops);
  auto nodes = root.getNodes();
  for (unsigned i = 0; i < nodes.size(); ++i) {
    position = int(i);
    node_def def = TROUPE_TRY(read_node(g, position, nodes[i]));
    auto id = g.add_node(std::move(def));
    if (!id)
      return std::move(id).error_value().with_context(str_cat("decode_graph: nodes[", i, "]"));
    TROUPE_ASSERT(*id == position, "decode_graph: add_node gave id ", *id, " to nodes[", i, "]");
  }
  return g;
}

// Reads the message in `bytes` (8-byte aligned).
expected<graph> decode_words(std::span<const std::byte> bytes, const op_registry& ops) {
  if (bytes.size() < segment_table_min_bytes)
    return make_error(errc::data_loss,
                      "decode_graph: buffer too short for a segment table: expected at least ",
                      segment_table_min_bytes, " bytes, got ", bytes.size());
  if (bytes.size() % word_bytes != 0)
    return make_error(errc::data_loss, "decode_graph: buffer size is not a whole number of ",
                      "8-byte words: expected a multiple of 8, got ", bytes.size(), " bytes");
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(bytes.data()),
                                        bytes.size() / word_bytes);
  capnp::ReaderOptions options;
  // Each object is read once, so an honest message traverses at most its own size; a
  // hostile one whose pointers overlap stops here instead of amplifying the work.
  options.traversalLimitInWords = uint64_t(words.size()) + traversal_slack_words;
  int position = -1;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end())
      return make_error(errc::data_loss, "decode_graph: trailing bytes after the message: ",
                        "expected ", (reader.getEnd() - words.begin()) * word_bytes,
                        " bytes, got ", bytes.size());
    return read_graph(reader.getRoot<wire::Graph>(), ops, position);
  } catch (const kj::Exception& e) {
    return make_error(errc::data_loss, "decode_graph: not a valid Cap'n Proto graph message",
                      position >= 0 ? str_cat(" (reading nodes[", position, "])") : "", ": ",
                      e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "decode_graph: out of memory decoding ",
                      bytes.size(), " bytes");
  }
}

}  // namespace

expected<flat_buffer> encode_graph(const graph& g) {
  try {
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<wire::Graph>();
    root.setFormatVersion(graph_format_version);
    auto nodes = root.initNodes(unsigned(g.num_nodes()));
    for (const node& n : g.nodes()) TROUPE_TRY(write_node(n, nodes[unsigned(n.id)]));
    return to_flat(message);
  } catch (const kj::Exception& e) {
    return make_error(errc::invalid_argument, "encode_graph: Cap'n Proto failed building a ",
                      "graph of ", g.num_nodes(), " nodes: ", e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, "encode_graph: out of memory encoding a ",
                      "graph of ", g.num_nodes(), " nodes");
  }
}

expected<graph> decode_graph(std::span<const std::byte> bytes, const op_registry& ops) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % word_bytes == 0) return decode_words(bytes, ops);
  flat_buffer aligned = TROUPE_TRY(flat_buffer::copy_of(bytes));
  return decode_words(aligned.bytes(), ops);
}

}  // namespace troupe
