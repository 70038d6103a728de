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
  ok(reg.add({.signature = "enqueue(key: string, components: Tcomponents) -> (); "
                           "Tcomponents: list(type)"}));
  ok(reg.add({.signature = "dequeue() -> (components: component_types, size: int32); "
                           "component_types: list(type)"}));
  ok(reg.add({.signature = "pass_n(values: N*T, components: Tc) -> (out: Tc); "
                           "Tc: list(type)"}));
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

TEST(graph, list_type_inputs_are_inferred_and_outputs_given) {
  op_registry reg = test_ops();
  graph g(reg);
  scope s = scope::root(g);
  output key = s.add1("source", {}, {{"dtype", dtype::string}});
  output f = s.with_name("f").add1("source", {}, {{"dtype", dtype::float32}});
  output l = s.with_name("l").add1("source", {}, {{"dtype", dtype::int64}});
  operation e = s.with_name("e").add("enqueue", {key, f, l});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(g.at(e.node).attr<std::vector<dtype>>("Tcomponents"),
            (std::vector<dtype>{dtype::float32, dtype::int64}));
  EXPECT_EQ(g.at(e.node).input_types,
            (std::vector<dtype>{dtype::string, dtype::float32, dtype::int64}));
  EXPECT_EQ(e.num_outputs(), 0);
  // Given and matching: fine; an empty tuple is a tuple too.
  s.add("enqueue", {key, f, l},
        {{"Tcomponents", std::vector<dtype>{dtype::float32, dtype::int64}}});
  operation none = s.add("enqueue", {key});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(g.at(none.node).attr<std::vector<dtype>>("Tcomponents").empty());

  operation d = s.add("dequeue", {},
                      {{"component_types",
                        std::vector<dtype>{dtype::float64, dtype::boolean, dtype::string}}});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(d.num_outputs(), 4);
  EXPECT_EQ(g.at(d.node).output_types,
            (std::vector<dtype>{dtype::float64, dtype::boolean, dtype::string, dtype::int32}));

  // An N*T list beside a tuple: N is inferred when the tuple's dtypes are given, and the
  // tuple's dtypes type the output.
  operation p = s.add("pass_n", {l, l, key}, {{"Tc", std::vector<dtype>{dtype::string}}});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(g.at(p.node).attr<int64_t>("N"), 2);
  EXPECT_EQ(g.at(p.node).output_types, (std::vector<dtype>{dtype::string}));
  // With one more input, values is [l, l, f]: its dtypes differ.
  EXPECT_FALSE(s.add("pass_n", {l, l, f, key}, {{"Tc", std::vector<dtype>{dtype::string}}})
                   .valid());
  EXPECT_NE(s.status().message().find("input 'values'[2] (f:0) is float32"), std::string::npos)
      << s.status().message();
}

TEST(graph, list_type_errors_name_node_argument_and_both_lists) {
  op_registry reg = test_ops();
  graph g(reg);
  auto key = g.add_node({.name = "k", .op = "source", .attrs = {{"dtype", dtype::string}}});
  auto f = g.add_node({.name = "f", .op = "source", .attrs = {{"dtype", dtype::float32}}});
  auto i = g.add_node({.name = "i", .op = "source", .attrs = {{"dtype", dtype::int32}}});
  ASSERT_TRUE(key && f && i);
  const std::vector<dtype> want{dtype::float32, dtype::int64};
  auto wrong = g.add_node({.name = "enq", .op = "enqueue",
                           .inputs = {{*key, 0}, {*f, 0}, {*i, 0}},
                           .attrs = {{"Tcomponents", want}}});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error_value().code(), errc::invalid_argument);
  const std::string& m = wrong.error_value().message();
  EXPECT_NE(m.find("node 'enq' (enqueue): input 'components' (f:0, i:0) has dtypes "
                   "[float32,int32] but attribute 'Tcomponents' is [float32,int64]: "
                   "component 1 (i:0) is int32, not int64"),
            std::string::npos) << m;

  auto count = g.add_node({.name = "enq", .op = "enqueue", .inputs = {{*key, 0}, {*f, 0}},
                           .attrs = {{"Tcomponents", want}}});
  ASSERT_FALSE(count.has_value());
  EXPECT_NE(count.error_value().message().find(
                "node 'enq' (enqueue): expected 3 inputs, got 2 (input 'components' takes 2: "
                "the length of attribute 'Tcomponents')"),
            std::string::npos) << count.error_value().message();

  auto missing = g.add_node({.name = "deq", .op = "dequeue"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error_value().message().find(
                "node 'deq' (dequeue): missing attribute 'component_types' (list(type))"),
            std::string::npos) << missing.error_value().message();

  auto kind = g.add_node({.name = "deq", .op = "dequeue",
                          .attrs = {{"component_types", dtype::float32}}});
  ASSERT_FALSE(kind.has_value());
  EXPECT_NE(kind.error_value().message().find(
                "attribute 'component_types' must be list(type), got type float32"),
            std::string::npos) << kind.error_value().message();

  auto invalid = g.add_node({.name = "deq", .op = "dequeue",
                             .attrs = {{"component_types",
                                        std::vector<dtype>{dtype::int64, dtype::invalid}}}});
  ASSERT_FALSE(invalid.has_value());
  EXPECT_NE(invalid.error_value().message().find("element 1 is not a dtype"), std::string::npos)
      << invalid.error_value().message();

  auto both = g.add_node({.name = "p", .op = "pass_n", .inputs = {{*f, 0}, {*f, 0}}});
  ASSERT_FALSE(both.has_value());
  EXPECT_NE(both.error_value().message().find(
                "the lengths of list inputs 'values' and 'components' cannot both be inferred; "
                "give attribute 'Tc'"),
            std::string::npos) << both.error_value().message();
  EXPECT_EQ(g.num_nodes(), 3);  // nothing half-added
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
