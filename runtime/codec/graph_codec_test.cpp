#include "runtime/codec/graph_codec.hpp"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/ops/core_ops.hpp"
#include "schemas/graph.capnp.h"

namespace troupe {
namespace {

// A shape function for every_attr: y is x's shape, z is the "out_shape" attribute.
error every_attr_shape(shape_context& c) {
  c.set_output(0, c.input(0));
  c.set_output(1, c.attr<partial_shape>("out_shape"));
  return {};
}

// pack's output is a vector of N elements.
error pack_shape(shape_context& c) {
  c.set_output(0, partial_shape{c.attr<int64_t>("N")});
  return {};
}

// The core ops (const, placeholder, identity, no_op) plus test ops using every attribute
// kind and a list input; `with_extra` adds an op other registries do not know.
op_registry test_ops(bool with_extra = false) {
  op_registry reg;
  register_core_ops(reg);
  auto ok = [](error e) { ASSERT_FALSE(e) << e.to_string(); };
  ok(reg.add({.signature = "every_attr(x: T) -> (y: T, z: out_type); T in numeric_types; "
                           "flag: bool; count: int; scale: float; label: string; "
                           "out_type: type; out_shape: shape; axes: list(int); "
                           "weights: list(float); init: tensor",
              .shape = every_attr_shape}));
  ok(reg.add({.signature = "pack(values: N*T) -> (out: T)", .shape = pack_shape}));
  ok(reg.add({.signature = "tuple(components: Tc) -> (outs: out_types); Tc: list(type); "
                           "out_types: list(type)"}));
  if (with_extra) ok(reg.add({.signature = "extra() -> (out: float32)"}));
  return reg;
}

int add(graph& g, node_def def) {
  auto id = g.add_node(std::move(def));
  EXPECT_TRUE(id.has_value()) << id.error_value().to_string();
  return id.has_value() ? *id : -1;
}

// A graph with every attribute kind, list inputs, a second output, control inputs and
// devices.
void build_rich_graph(graph& g) {
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t big = std::numeric_limits<int64_t>::max();
  const std::string nul_y("\0y", 2);
  int p = add(g, {.name = "p", .op = "placeholder", .device = "/cpu:0",
                  .attrs = {{"dtype", dtype::float32}, {"shape", partial_shape{-1, 3}}}});
  int u = add(g, {.name = "u", .op = "placeholder", .attrs = {{"dtype", dtype::int64}}});
  int c = add(g, {.name = "c", .op = "const",
                  .attrs = {{"dtype", dtype::int32},
                            {"value", tensor::from_vector<int32_t>({2, 2}, {1, -2, 3, 1 << 30})}}});
  int e = add(g, {.name = "e", .op = "every_attr", .inputs = {{p, 0}}, .control_inputs = {u, c},
                  .device = "/cpu:1",
                  .attrs = {{"flag", true},
                            {"count", int64_t{-7}},
                            {"scale", 0.1},
                            {"label", std::string("a\0b:c", 5)},
                            {"out_type", dtype::int64},
                            {"out_shape", partial_shape{2, -1, 4}},
                            {"axes", std::vector<int64_t>{0, -1, big}},
                            {"weights", std::vector<double>{0.5, -0.0, 1e300, -inf, 5e-324}},
                            {"init", tensor::from_vector<std::string>({2}, {"x", nul_y})}}});
  int k = add(g, {.name = "k", .op = "pack", .inputs = {{e, 0}, {p, 0}, {e, 0}},
                  .control_inputs = {e}});
  add(g, {.name = "n", .op = "no_op", .control_inputs = {p, k}});
  add(g, {.name = "i", .op = "identity", .inputs = {{e, 1}}});
  add(g, {.name = "b", .op = "const",
          .attrs = {{"dtype", dtype::boolean},
                    {"value", tensor::from_vector<bool>({3}, {true, false, true})}}});
  add(g, {.name = "empty", .op = "const",
          .attrs = {{"dtype", dtype::float64}, {"value", tensor(dtype::float64, {0, 3})}}});
  add(g, {.name = "scalar_shape", .op = "placeholder",
          .attrs = {{"dtype", dtype::string}, {"shape", partial_shape(tensor_shape{})}}});
  add(g, {.name = "no_attrs_given", .op = "every_attr", .inputs = {{c, 0}},
          .attrs = {{"flag", false}, {"count", int64_t{0}}, {"scale", int64_t{3}},
                    {"label", ""}, {"out_type", dtype::boolean},
                    {"out_shape", partial_shape::unknown()}, {"axes", std::vector<int64_t>{}},
                    {"weights", std::vector<double>{}}, {"init", tensor::scalar<double>(NAN)}}});
}

flat_buffer encode_ok(const graph& g) {
  auto r = encode_graph(g);
  EXPECT_TRUE(r.has_value()) << r.error_value().to_string();
  return r.has_value() ? std::move(*r) : flat_buffer{};
}

// The flat form of a message built by hand with the generated builder.
template <class Fill>
flat_buffer build_message(Fill fill) {
  capnp::MallocMessageBuilder mb;
  fill(mb.initRoot<wire::Graph>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return *flat_buffer::copy_of({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()});
}

// An encoded graph, edited through the generated builder.
template <class Edit>
flat_buffer edit_message(const flat_buffer& buf, Edit edit) {
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(buf.data()),
                                        buf.size() / sizeof(capnp::word));
  capnp::FlatArrayMessageReader reader(words);
  return build_message([&](wire::Graph::Builder root) {
    root.setFormatVersion(reader.getRoot<wire::Graph>().getFormatVersion());
    root.setNodes(reader.getRoot<wire::Graph>().getNodes());
    edit(root);
  });
}

void expect_error(const expected<graph>& r, errc code, std::string_view needle) {
  ASSERT_FALSE(r.has_value()) << "decoded a graph of " << r->num_nodes() << " nodes";
  const error& e = r.error_value();
  EXPECT_EQ(e.code(), code) << e.to_string();
  EXPECT_TRUE(e.message().starts_with("decode_graph: ")) << e.message();
  EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
}

void expect_same_graph(const graph& a, const graph& b) {
  ASSERT_EQ(a.num_nodes(), b.num_nodes());
  for (int i = 0; i < a.num_nodes(); ++i) {
    const node& x = a.at(i);
    const node& y = b.at(i);
    SCOPED_TRACE(x.name);
    EXPECT_EQ(y.id, i);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op, y.op);
    EXPECT_EQ(x.def, y.def);  // the same registry's op_def
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.control_inputs, y.control_inputs);
    EXPECT_EQ(x.device, y.device);
    ASSERT_EQ(x.attrs.size(), y.attrs.size());
    for (const auto& [name, value] : x.attrs) {
      const attr_value* other = y.find_attr(name);
      ASSERT_NE(other, nullptr) << name;
      EXPECT_TRUE(value == *other) << name << ": " << value.to_string() << " vs "
                                   << other->to_string();
    }
    EXPECT_EQ(x.input_types, y.input_types);
    EXPECT_EQ(x.output_types, y.output_types);
    ASSERT_EQ(x.output_shapes.size(), y.output_shapes.size());
    for (size_t j = 0; j < x.output_shapes.size(); ++j)
      EXPECT_EQ(x.output_shapes[j], y.output_shapes[j])
          << x.output_shapes[j].to_string() << " vs " << y.output_shapes[j].to_string();
  }
}

TEST(graph_codec, round_trip_keeps_every_field_and_attribute_kind) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  ASSERT_EQ(g.num_nodes(), 11);
  flat_buffer buf = encode_ok(g);
  ASSERT_FALSE(buf.empty());

  auto decoded = decode_graph(buf.bytes(), reg);
  ASSERT_TRUE(decoded.has_value()) << decoded.error_value().to_string();
  expect_same_graph(g, *decoded);

  // Spot checks of values the comparison above relies on, so a bug in attr_value's ==
  // cannot hide a lossy codec.
  const graph& d = *decoded;
  const node& e = d.at(3);
  EXPECT_EQ(e.attr<std::string>("label"), std::string("a\0b:c", 5));
  EXPECT_EQ(e.attr<int64_t>("count"), -7);
  EXPECT_EQ(e.attr<double>("scale"), 0.1);
  EXPECT_EQ(e.attr<dtype>("T"), dtype::float32);  // inferred, written, checked again
  EXPECT_TRUE(std::signbit(e.attr<std::vector<double>>("weights")[1]));
  EXPECT_EQ(e.attr<std::vector<double>>("weights")[4], 5e-324);
  EXPECT_EQ(e.attr<tensor>("init").values<std::string>()[1], std::string("\0y", 2));
  EXPECT_EQ(e.output_types, (std::vector<dtype>{dtype::float32, dtype::int64}));
  EXPECT_EQ(e.output_shapes[0], (partial_shape{-1, 3}));
  EXPECT_EQ(e.output_shapes[1], (partial_shape{2, -1, 4}));
  EXPECT_EQ(e.device, "/cpu:1");
  EXPECT_EQ(e.control_inputs, (std::vector<int>{1, 2}));
  EXPECT_EQ(d.at(4).attr<int64_t>("N"), 3);
  EXPECT_EQ(d.at(4).output_shapes[0], (partial_shape{3}));
  EXPECT_EQ(d.at(6).inputs, (std::vector<endpoint>{{3, 1}}));
  EXPECT_EQ(d.at(6).output_types, (std::vector<dtype>{dtype::int64}));
  EXPECT_EQ(d.at(2).output_shapes[0], (partial_shape{2, 2}));
  EXPECT_EQ(d.at(2).attr<tensor>("value").values<int32_t>()[3], 1 << 30);
  EXPECT_EQ(d.at(8).output_shapes[0], (partial_shape{0, 3}));
  EXPECT_EQ(d.at(9).output_shapes[0], partial_shape(tensor_shape{}));
  EXPECT_FALSE(d.at(10).attr<partial_shape>("out_shape").rank_known());
  EXPECT_EQ(d.at(10).attr<double>("scale"), 3.0);
  EXPECT_TRUE(std::isnan(d.at(10).attr<tensor>("init").values<double>()[0]));
  // Names are looked up again: the decoded graph is usable for building.
  auto ep = d.parse_endpoint("e:1");
  ASSERT_TRUE(ep.has_value()) << ep.error_value().to_string();
  EXPECT_EQ(*ep, (endpoint{3, 1}));
  EXPECT_EQ(d.unique_name("k"), "k_1");
}

TEST(graph_codec, encoding_is_deterministic_and_stable_under_round_trip) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  flat_buffer a = encode_ok(g);
  flat_buffer b = encode_ok(g);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0);
  auto decoded = decode_graph(a.bytes(), reg);
  ASSERT_TRUE(decoded.has_value()) << decoded.error_value().to_string();
  flat_buffer c = encode_ok(*decoded);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size()), 0);
  EXPECT_EQ(a.size() % 8, 0u);
}

TEST(graph_codec, empty_graph_round_trips) {
  op_registry reg = test_ops();
  graph g(reg);
  flat_buffer buf = encode_ok(g);
  auto decoded = decode_graph(buf.bytes(), reg);
  ASSERT_TRUE(decoded.has_value()) << decoded.error_value().to_string();
  EXPECT_EQ(decoded->num_nodes(), 0);
}

TEST(graph_codec, decodes_unaligned_bytes_and_rejects_trailing_bytes) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  flat_buffer buf = encode_ok(g);
  std::vector<std::byte> shifted(buf.size() + 1);
  std::memcpy(shifted.data() + 1, buf.data(), buf.size());
  auto decoded = decode_graph(std::span(shifted).subspan(1), reg);
  ASSERT_TRUE(decoded.has_value()) << decoded.error_value().to_string();
  expect_same_graph(g, *decoded);

  std::vector<std::byte> longer(buf.size() + 8);
  std::memcpy(longer.data(), buf.data(), buf.size());
  expect_error(decode_graph(longer, reg), errc::data_loss,
               str_cat("trailing bytes after the message: expected ", buf.size(), " bytes, got ",
                       buf.size() + 8));
}

TEST(graph_codec, every_truncation_is_data_loss) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  flat_buffer buf = encode_ok(g);
  for (size_t n = 0; n < buf.size(); ++n) {
    SCOPED_TRACE(n);
    expect_error(decode_graph(buf.bytes().first(n), reg), errc::data_loss, "");
  }
  expect_error(decode_graph(buf.bytes().first(4), reg), errc::data_loss,
               "buffer too short for a segment table: expected at least 8 bytes, got 4");
  expect_error(decode_graph(buf.bytes().first(20), reg), errc::data_loss,
               "expected a multiple of 8, got 20 bytes");
  expect_error(decode_graph(buf.bytes().first(buf.size() - 8), reg), errc::data_loss,
               "not a valid Cap'n Proto graph message");
}

// Damaged bytes decode to an error with the codec's prefix, or to a graph that add_node
// accepted; never to a crash. Run under ASan/UBSan in CI to see reads out of bounds.
TEST(graph_codec, corrupted_bytes_never_crash) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  flat_buffer buf = encode_ok(g);
  int failures = 0, successes = 0;
  auto check = [&](const flat_buffer& bad) {
    auto r = decode_graph(bad.bytes(), reg);
    if (r.has_value()) {
      ++successes;
      return;
    }
    ++failures;
    const error& e = r.error_value();
    EXPECT_TRUE(e.message().starts_with("decode_graph: ")) << e.message();
    EXPECT_TRUE(e.code() == errc::data_loss || e.code() == errc::invalid_argument ||
                e.code() == errc::not_found || e.code() == errc::already_exists)
        << e.to_string();
  };
  for (size_t i = 0; i < buf.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      flat_buffer bad = *flat_buffer::copy_of(buf.bytes());
      bad.mutable_data()[i] ^= std::byte{flip};
      check(bad);
    }
  }
  std::mt19937 rng(42);
  for (int trial = 0; trial < 2000; ++trial) {
    flat_buffer bad = *flat_buffer::copy_of(buf.bytes());
    for (int k = 0; k < 4; ++k)
      bad.mutable_data()[rng() % bad.size()] = std::byte(rng() & 0xff);
    check(bad);
  }
  // Both outcomes happen: the test exercises validation past Cap'n Proto's own checks.
  EXPECT_GT(failures, 100);
  EXPECT_GT(successes, 0);
}

TEST(graph_codec, unknown_op_names_the_node_and_the_op) {
  op_registry with_extra = test_ops(/*with_extra=*/true);
  graph g(with_extra);
  add(g, {.name = "p", .op = "placeholder", .attrs = {{"dtype", dtype::float32}}});
  add(g, {.name = "mystery", .op = "extra"});
  flat_buffer buf = encode_ok(g);
  op_registry reg = test_ops();
  expect_error(decode_graph(buf.bytes(), reg), errc::not_found,
               "decode_graph: nodes[1]: node 'mystery': unknown op 'extra'");
  auto ok = decode_graph(buf.bytes(), with_extra);
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
  EXPECT_EQ(ok->at(1).output_types, (std::vector<dtype>{dtype::float32}));
}

// Writes a placeholder named `name` of dtype float32 into `n`.
void placeholder_node(wire::Node::Builder n, const char* name) {
  n.setName(name);
  n.setOp("placeholder");
  auto attrs = n.initAttrs(1);
  attrs[0].setName("dtype");
  attrs[0].initValue().setType(wire::DType::FLOAT32);
}

// Writes an identity node reading (src, output) into `n`.
void identity_node(wire::Node::Builder n, const char* name, uint32_t src, uint32_t output = 0) {
  n.setName(name);
  n.setOp("identity");
  auto in = n.initInputs(1);
  in[0].setNode(src);
  in[0].setOutput(output);
}

TEST(graph_codec, hand_written_message_decodes) {
  op_registry reg = test_ops();
  flat_buffer buf = build_message([](wire::Graph::Builder g) {
    g.setFormatVersion(1);
    auto nodes = g.initNodes(2);
    placeholder_node(nodes[0], "a");
    identity_node(nodes[1], "b", 0);
  });
  auto r = decode_graph(buf.bytes(), reg);
  ASSERT_TRUE(r.has_value()) << r.error_value().to_string();
  EXPECT_EQ(r->at(1).output_types, (std::vector<dtype>{dtype::float32}));
  // Attributes left out take their defaults, as with add_node.
  EXPECT_FALSE(r->at(0).attr<partial_shape>("shape").rank_known());
}

TEST(graph_codec, references_to_later_or_missing_nodes_are_rejected) {
  op_registry reg = test_ops();
  auto three = [](auto edit) {
    return build_message([&](wire::Graph::Builder g) {
      g.setFormatVersion(1);
      auto nodes = g.initNodes(3);
      placeholder_node(nodes[0], "a");
      identity_node(nodes[1], "b", 0);
      placeholder_node(nodes[2], "c");
      edit(nodes);
    });
  };
  using nodes_t = capnp::List<wire::Node>::Builder;
  expect_error(decode_graph(three([](nodes_t n) { n[1].getInputs()[0].setNode(2); }).bytes(), reg),
               errc::invalid_argument,
               "decode_graph: nodes[1] ('b'): input 0 refers to nodes[2], which does not come "
               "before it: expected a position below 1");
  expect_error(decode_graph(three([](nodes_t n) { n[1].getInputs()[0].setNode(1); }).bytes(), reg),
               errc::invalid_argument, "input 0 refers to nodes[1], which does not come before it");
  expect_error(
      decode_graph(three([](nodes_t n) { n[1].getInputs()[0].setNode(1000000); }).bytes(), reg),
      errc::invalid_argument, "input 0 refers to nodes[1000000]");
  expect_error(decode_graph(three([](nodes_t n) { n[1].initControlInputs(2).set(1, 2); }).bytes(),
                            reg),
               errc::invalid_argument,
               "nodes[1] ('b'): control input 1 refers to nodes[2], which does not come before it");
  expect_error(
      decode_graph(three([](nodes_t n) { n[1].getInputs()[0].setOutput(4000000000u); }).bytes(),
                   reg),
      errc::invalid_argument,
      "nodes[1] ('b'): input 0 refers to output 4000000000 of nodes[0] ('a'), which has 1 outputs");
  expect_error(decode_graph(three([](nodes_t n) { n[2].setName("a"); }).bytes(), reg),
               errc::already_exists, "decode_graph: nodes[2]: node 'a' (placeholder)");
}

TEST(graph_codec, unsupported_format_versions) {
  op_registry reg = test_ops();
  graph g(reg);
  build_rich_graph(g);
  flat_buffer buf = encode_ok(g);
  flat_buffer v2 = edit_message(buf, [](wire::Graph::Builder r) { r.setFormatVersion(2); });
  expect_error(decode_graph(v2.bytes(), reg), errc::invalid_argument,
               "decode_graph: unsupported format version 2: expected 1");
  flat_buffer v0 = edit_message(buf, [](wire::Graph::Builder r) { r.setFormatVersion(0); });
  expect_error(decode_graph(v0.bytes(), reg), errc::data_loss,
               "format version is 0 (unset): expected 1");
  // Unchanged, the edited copy decodes: the edits above are what fails.
  flat_buffer v1 = edit_message(buf, [](wire::Graph::Builder) {});
  EXPECT_TRUE(decode_graph(v1.bytes(), reg).has_value());
}

// A one-node message: a placeholder whose attributes `fill` writes.
template <class Fill>
flat_buffer placeholder_with(Fill fill) {
  return build_message([&](wire::Graph::Builder g) {
    g.setFormatVersion(1);
    auto n = g.initNodes(1)[0];
    n.setName("p");
    n.setOp("placeholder");
    fill(n);
  });
}

TEST(graph_codec, bad_attributes_name_the_node_and_the_attribute) {
  op_registry reg = test_ops();
  using node_t = wire::Node::Builder;
  // Kind mismatch: add_node's error, prefixed with the position.
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(1);
                              a[0].setName("dtype");
                              a[0].initValue().setInteger(3);
                            }).bytes(),
                            reg),
               errc::invalid_argument,
               "decode_graph: nodes[0]: node 'p' (placeholder): attribute 'dtype' must be type, "
               "got int 3");
  expect_error(decode_graph(placeholder_with([](node_t) {}).bytes(), reg),
               errc::invalid_argument,
               "nodes[0]: node 'p' (placeholder): missing attribute 'dtype'");
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(1);
                              a[0].setName("dtype");
                              a[0].initValue().setType(static_cast<wire::DType>(42));
                            }).bytes(),
                            reg),
               errc::invalid_argument,
               "decode_graph: nodes[0] ('p'): attribute 'dtype': unknown dtype number 42: "
               "expected 1 (float32) to 6 (string)");
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(1);
                              a[0].setName("dtype");
                            }).bytes(),
                            reg),
               errc::data_loss, "nodes[0] ('p'): attribute 'dtype': no value");
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(1);
                              a[0].setName("dtype");
                              a[0].initValue();  // the union left at `unset`
                            }).bytes(),
                            reg),
               errc::data_loss, "attribute 'dtype': no value: the union is unset");
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(2);
                              a[0].setName("dtype");
                              a[0].initValue().setType(wire::DType::FLOAT32);
                              a[1].setName("dtype");
                              a[1].initValue().setType(wire::DType::INT32);
                            }).bytes(),
                            reg),
               errc::invalid_argument, "nodes[0] ('p'): attribute 'dtype' is given twice");
  // A union member from a newer writer (tag 10): the reader names it instead of guessing.
  expect_error(decode_graph(placeholder_with([](node_t n) {
                              auto a = n.initAttrs(1);
                              a[0].setName("dtype");
                              auto v = a[0].initValue();
                              v.setBoolean(true);
                              capnp::AnyStruct::Builder any(kj::mv(v));
                              any.getDataSection()[0] = 11;  // the tag: bits [0, 16)
                              any.getDataSection()[1] = 0;
                            }).bytes(),
                            reg),
               errc::invalid_argument,
               "nodes[0] ('p'): attribute 'dtype': unknown attribute kind number 11: expected 1 "
               "(bool) to 10 (list(type))");
  auto with_shape = [](bool unknown_rank, std::vector<int64_t> dims) {
    return placeholder_with([&](node_t n) {
      auto a = n.initAttrs(2);
      a[0].setName("dtype");
      a[0].initValue().setType(wire::DType::FLOAT32);
      a[1].setName("shape");
      auto s = a[1].initValue().initShape();
      s.setUnknownRank(unknown_rank);
      auto d = s.initDims(unsigned(dims.size()));
      for (size_t i = 0; i < dims.size(); ++i) d.set(unsigned(i), dims[i]);
    });
  };
  expect_error(decode_graph(with_shape(true, {2}).bytes(), reg), errc::data_loss,
               "attribute 'shape': shape of unknown rank has 1 dims: expected none");
  expect_error(decode_graph(with_shape(false, {2, -5}).bytes(), reg), errc::invalid_argument,
               "attribute 'shape': shape: dimension 1 is -5");
  expect_error(decode_graph(with_shape(false, std::vector<int64_t>(9, 1)).bytes(), reg),
               errc::invalid_argument, "attribute 'shape': shape: rank 9 exceeds the maximum rank");
  auto ok = decode_graph(with_shape(false, {-1, 7}).bytes(), reg);
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
  EXPECT_EQ(ok->at(0).output_shapes[0], (partial_shape{-1, 7}));
}

TEST(graph_codec, type_list_attributes_round_trip_and_are_checked) {
  op_registry reg = test_ops();
  graph g(reg);
  int f = add(g, {.name = "f", .op = "placeholder", .attrs = {{"dtype", dtype::float32}}});
  int l = add(g, {.name = "l", .op = "placeholder", .attrs = {{"dtype", dtype::int64}}});
  const std::vector<dtype> every(std::begin(all_dtypes), std::end(all_dtypes));
  add(g, {.name = "t", .op = "tuple", .inputs = {{f, 0}, {l, 0}, {f, 0}},
          .attrs = {{"out_types", every}}});
  add(g, {.name = "empty", .op = "tuple", .attrs = {{"out_types", std::vector<dtype>{}}}});
  ASSERT_EQ(g.num_nodes(), 4);
  flat_buffer buf = encode_ok(g);
  auto decoded = decode_graph(buf.bytes(), reg);
  ASSERT_TRUE(decoded.has_value()) << decoded.error_value().to_string();
  expect_same_graph(g, *decoded);
  const node& t = decoded->at(2);
  EXPECT_EQ(t.attr<std::vector<dtype>>("Tc"),
            (std::vector<dtype>{dtype::float32, dtype::int64, dtype::float32}));
  EXPECT_EQ(t.attr<std::vector<dtype>>("out_types"), every);
  EXPECT_EQ(t.output_types, every);
  EXPECT_TRUE(decoded->at(3).attr<std::vector<dtype>>("Tc").empty());
  EXPECT_EQ(decoded->at(3).num_outputs(), 0);

  // Hand-written: an unknown dtype number inside the list, and a list that disagrees
  // with the inputs (add_node's error, found again on decode).
  auto tuple_with = [](std::vector<uint16_t> types) {
    return build_message([&](wire::Graph::Builder root) {
      root.setFormatVersion(1);
      auto nodes = root.initNodes(2);
      nodes[0].setName("f");
      nodes[0].setOp("placeholder");
      auto pa = nodes[0].initAttrs(1);
      pa[0].setName("dtype");
      pa[0].initValue().setType(wire::DType::FLOAT32);
      nodes[1].setName("t");
      nodes[1].setOp("tuple");
      auto in = nodes[1].initInputs(1);
      in[0].setNode(0);
      auto a = nodes[1].initAttrs(2);
      a[0].setName("Tc");
      auto list = a[0].initValue().initTypeList(unsigned(types.size()));
      for (size_t i = 0; i < types.size(); ++i)
        list.set(unsigned(i), static_cast<wire::DType>(types[i]));
      a[1].setName("out_types");
      a[1].initValue().initTypeList(0);
    });
  };
  auto ok = decode_graph(tuple_with({1}).bytes(), reg);
  ASSERT_TRUE(ok.has_value()) << ok.error_value().to_string();
  EXPECT_EQ(ok->at(1).attr<std::vector<dtype>>("Tc"), (std::vector<dtype>{dtype::float32}));
  expect_error(decode_graph(tuple_with({1, 0}).bytes(), reg), errc::invalid_argument,
               "decode_graph: nodes[1] ('t'): attribute 'Tc': unknown dtype number 0 at "
               "position 1: expected 1 (float32) to 6 (string)");
  expect_error(decode_graph(tuple_with({77}).bytes(), reg), errc::invalid_argument,
               "unknown dtype number 77 at position 0");
  expect_error(decode_graph(tuple_with({4}).bytes(), reg), errc::invalid_argument,
               "decode_graph: nodes[1]: node 't' (tuple): input 'components' (f:0) has dtypes "
               "[float32] but attribute 'Tc' is [int64]");
}

TEST(graph_codec, corrupt_tensor_attribute_is_data_loss) {
  op_registry reg = test_ops();
  flat_buffer buf = build_message([](wire::Graph::Builder g) {
    g.setFormatVersion(1);
    auto n = g.initNodes(1)[0];
    n.setName("c");
    n.setOp("const");
    auto a = n.initAttrs(2);
    a[0].setName("dtype");
    a[0].initValue().setType(wire::DType::BOOLEAN);
    a[1].setName("value");
    auto t = a[1].initValue().initTensor();
    t.setDtype(wire::DType::BOOLEAN);
    t.initShape(1).set(0, 2);
    auto chunk = t.initChunks(1).init(0, 2);
    chunk[0] = 1;
    chunk[1] = 2;
  });
  expect_error(decode_graph(buf.bytes(), reg), errc::data_loss,
               "decode_graph: nodes[0] ('c'): attribute 'value': decode_tensor: bool element 1 "
               "is 2: expected 0 or 1");
}

TEST(graph_codec, shape_and_dtype_errors_are_found_again_on_decode) {
  // A writer that did not validate: const whose dtype attribute disagrees with its value.
  op_registry reg = test_ops();
  flat_buffer buf = build_message([](wire::Graph::Builder g) {
    g.setFormatVersion(1);
    auto n = g.initNodes(1)[0];
    n.setName("c");
    n.setOp("const");
    auto a = n.initAttrs(2);
    a[0].setName("dtype");
    a[0].initValue().setType(wire::DType::INT64);
    a[1].setName("value");
    auto t = a[1].initValue().initTensor();
    t.setDtype(wire::DType::FLOAT32);
    t.initShape(0);
    t.initChunks(1).init(0, 4);
  });
  expect_error(decode_graph(buf.bytes(), reg), errc::invalid_argument,
               "decode_graph: nodes[0]: node 'c' (const): const: attribute 'value' is float32 "
               "but attribute 'dtype' is int64");
}

TEST(graph_codec, unencodable_attribute_names_node_and_attribute) {
  op_registry reg = test_ops();
  graph g(reg);
  int c = add(g, {.name = "c", .op = "const",
                  .attrs = {{"dtype", dtype::float32}, {"value", tensor::scalar<float>(1)}}});
  add(g, {.name = "e", .op = "every_attr", .inputs = {{c, 0}},
          .attrs = {{"flag", false}, {"count", int64_t{0}}, {"scale", 1.0}, {"label", ""},
                    {"out_type", dtype::float32}, {"out_shape", partial_shape{}},
                    {"axes", std::vector<int64_t>{}}, {"weights", std::vector<double>{}},
                    {"init", tensor()}}});
  ASSERT_EQ(g.num_nodes(), 2);
  auto r = encode_graph(g);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_value().code(), errc::invalid_argument);
  EXPECT_EQ(r.error_value().message(),
            "encode_graph: nodes[1] ('e'): attribute 'init': encode_tensor: expected a valid "
            "tensor, got an invalid one");
}

}  // namespace
}  // namespace troupe
