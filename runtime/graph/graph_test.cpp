#include "runtime/graph/graph.hpp"

#include <gtest/gtest.h>

#include "runtime/graph/scope.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// A registry of small test ops, independent of the op families.
op_registry test_ops() {
  op_registry reg;
  auto ok = [](error e) { ASSERT_FALSE(e) << e.to_string(); };
  ok(reg.add({.signature = "source() -> (out: dtype); dtype: type; shape: shape = ?",
              .shape = shape_fns::from_shape_attr}));
  ok(reg.add({.signature = "plus(x: T, y: T) -> (z: T); T in numeric_types",
              .shape = shape_fns::broadcast_inputs}));
  ok(reg.add({.signature = "pack(values: N*T) -> (out: T, n: int64)"}));
  ok(reg.add({.signature = "pick(cond: bool, x: T) -> (y: T); scale: float = 1"}));
  return reg;
}

TEST(graph, infers_types_and_shapes) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output a = s.add1("source", {}, {{"dtype", dtype::float32}, {"shape", partial_shape{-1, 3}}});
  output b = s.add1("source", {}, {{"dtype", dtype::float32}, {"shape", partial_shape{3}}});
  output c = s.with_name("sum").add1("plus", {a, b});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(c.name(), "sum:0");
  EXPECT_EQ(c.type(), dtype::float32);
  EXPECT_EQ(c.shape(), (partial_shape{-1, 3}));
  EXPECT_EQ(c.op_node().attr<dtype>("T"), dtype::float32);
  EXPECT_EQ(a.name(), "source:0");
  EXPECT_EQ(b.name(), "source_1:0");
}

TEST(graph, list_inputs_infer_their_length) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output a = s.add1("source", {}, {{"dtype", dtype::int32}});
  operation p = s.add("pack", {a, a, a});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(g.at(p.node).attr<int64_t>("N"), 3);
  EXPECT_EQ(p.num_outputs(), 2);
  EXPECT_EQ(p.out(1).type(), dtype::int64);
}

TEST(graph, dtype_mismatch_names_node_and_both_inputs) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output a = s.with_name("a").add1("source", {}, {{"dtype", dtype::float32}});
  output b = s.with_name("b").add1("source", {}, {{"dtype", dtype::float64}});
  output c = s.with_name("c").add1("plus", {a, b});
  EXPECT_FALSE(c.valid());
  ASSERT_FALSE(s.ok());
  const std::string& m = s.status().message();
  EXPECT_NE(m.find("node 'c' (plus)"), std::string::npos) << m;
  EXPECT_NE(m.find("input 'y' (b:0) is float64"), std::string::npos) << m;
  EXPECT_NE(m.find("input 'x' (a:0) is float32"), std::string::npos) << m;
}

TEST(graph, shape_mismatch_names_node_and_both_shapes) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output a = s.add1("source", {}, {{"dtype", dtype::float32}, {"shape", partial_shape{2, 3}}});
  output b = s.add1("source", {}, {{"dtype", dtype::float32}, {"shape", partial_shape{4, 3}}});
  s.with_name("bad").add1("plus", {a, b});
  ASSERT_FALSE(s.ok());
  const std::string& m = s.status().message();
  EXPECT_EQ(s.status().code(), errc::invalid_argument);
  EXPECT_NE(m.find("node 'bad' (plus)"), std::string::npos) << m;
  EXPECT_NE(m.find("[2,3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4,3]"), std::string::npos) << m;
}

TEST(graph, first_error_sticks_and_later_ops_are_invalid) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output x = s.add1("no_such_op", {});
  output y = s.add1("plus", {x, x});
  EXPECT_FALSE(y.valid());
  EXPECT_EQ(s.status().code(), errc::not_found);
  EXPECT_NE(s.status().message().find("unknown op 'no_such_op'"), std::string::npos);
  EXPECT_EQ(g.num_nodes(), 0);  // nothing half-added
}

TEST(graph, attribute_errors) {
  op_registry reg = test_ops();
  graph g(reg);
  auto src = g.add_node({.name = "s", .op = "source", .attrs = {{"dtype", dtype::float32}}});
  ASSERT_TRUE(src.has_value());
  auto missing = g.add_node({.name = "m", .op = "source"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error_value().message().find("missing attribute 'dtype'"), std::string::npos);
  auto unknown = g.add_node({.name = "u", .op = "source",
                             .attrs = {{"dtype", dtype::float32}, {"colour", 3}}});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error_value().message().find("unknown attribute 'colour'"), std::string::npos);
  auto kind = g.add_node({.name = "k", .op = "source", .attrs = {{"dtype", 3}}});
  ASSERT_FALSE(kind.has_value());
  EXPECT_NE(kind.error_value().message().find("attribute 'dtype' must be type, got int 3"),
            std::string::npos) << kind.error_value().message();
  auto fixed = g.add_node({.name = "f", .op = "pick", .inputs = {{*src, 0}, {*src, 0}}});
  ASSERT_FALSE(fixed.has_value());
  EXPECT_NE(fixed.error_value().message().find("input 'cond' (s:0) must be bool, got float32"),
            std::string::npos) << fixed.error_value().message();
  auto dup = g.add_node({.name = "s", .op = "source", .attrs = {{"dtype", dtype::float32}}});
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error_value().code(), errc::already_exists);
  auto strs = g.add_node({.name = "t", .op = "source", .attrs = {{"dtype", dtype::string}}});
  ASSERT_TRUE(strs.has_value());
  auto notnum = g.add_node({.name = "p", .op = "plus", .inputs = {{*strs, 0}, {*strs, 0}}});
  ASSERT_FALSE(notnum.has_value());
  EXPECT_NE(notnum.error_value().message().find("dtype string is not supported for T"),
            std::string::npos) << notnum.error_value().message();
  // An int given for a float attribute is converted.
  auto conv = g.add_node({.name = "q", .op = "pick", .inputs = {{*strs, 0}}, .attrs = {{"scale", 2}}});
  EXPECT_FALSE(conv.has_value());  // cond must be bool: still an error, but not about scale
  EXPECT_EQ(conv.error_value().message().find("scale"), std::string::npos);
}

TEST(graph, endpoints_parse_and_errors_name_the_text) {
  op_registry reg = test_ops();
  graph g(reg);
  auto id = g.add_node({.name = "x", .op = "source", .attrs = {{"dtype", dtype::int64}}});
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*g.parse_endpoint("x"), (endpoint{*id, 0}));
  EXPECT_EQ(*g.parse_endpoint("x:0"), (endpoint{*id, 0}));
  EXPECT_EQ(g.parse_endpoint("x:1").error_value().code(), errc::invalid_argument);
  EXPECT_EQ(g.parse_endpoint("y").error_value().code(), errc::not_found);
  EXPECT_NE(g.parse_endpoint("x:a").error_value().message().find("'x:a' is not an endpoint"),
            std::string::npos);
}

}  // namespace
}  // namespace troupe
