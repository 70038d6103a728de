#include "runtime/graph/op_def.hpp"

#include <gtest/gtest.h>

namespace troupe {
namespace {

TEST(op_def, parses_inputs_outputs_and_attributes) {
  auto d = op_def::parse({.signature =
                              "matmul(a: T, b: T) -> (product: T); T in float_types; "
                              "transpose_a: bool = false; transpose_b: bool = true"});
  ASSERT_TRUE(d.has_value()) << d.error_value().to_string();
  EXPECT_EQ(d->name(), "matmul");
  ASSERT_EQ(d->inputs().size(), 2u);
  EXPECT_EQ(d->inputs()[1].name, "b");
  EXPECT_EQ(d->inputs()[1].type_attr, "T");
  ASSERT_EQ(d->outputs().size(), 1u);
  EXPECT_EQ(d->kernel_type_attr(), "T");
  const attr_def* t = d->find_attr("T");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind, attr_kind::type);
  EXPECT_EQ(t->allowed_types, (std::vector<dtype>{dtype::float32, dtype::float64}));
  const attr_def* tb = d->find_attr("transpose_b");
  ASSERT_NE(tb, nullptr);
  ASSERT_TRUE(tb->default_value.has_value());
  EXPECT_EQ(*tb->default_value, attr_value(true));
}

TEST(op_def, lists_fixed_types_and_implied_attributes) {
  auto d = op_def::parse({.signature =
                              "concat(values: N*T, axis_hint: int64) -> (out: T, count: int32); "
                              "axis: int = -1; shape: shape = [2,?]; w: list(float) = [0.5, 2]; "
                              "S in {int32, bool}; name: string = \"x y\""});
  ASSERT_TRUE(d.has_value()) << d.error_value().to_string();
  EXPECT_TRUE(d->inputs()[0].is_list());
  EXPECT_EQ(d->inputs()[0].number_attr, "N");
  EXPECT_EQ(d->inputs()[1].fixed_type, dtype::int64);
  EXPECT_EQ(d->outputs()[1].fixed_type, dtype::int32);
  ASSERT_NE(d->find_attr("N"), nullptr);
  EXPECT_EQ(d->find_attr("N")->kind, attr_kind::integer);
  EXPECT_EQ(d->find_attr("T")->allowed_types.size(), 6u);  // unconstrained: any dtype
  EXPECT_EQ(*d->find_attr("axis")->default_value, attr_value(int64_t(-1)));
  EXPECT_EQ(*d->find_attr("shape")->default_value, attr_value(partial_shape{2, -1}));
  EXPECT_EQ(*d->find_attr("w")->default_value, attr_value(std::vector<double>{0.5, 2}));
  EXPECT_EQ(d->find_attr("S")->allowed_types, (std::vector<dtype>{dtype::int32, dtype::boolean}));
  EXPECT_EQ(*d->find_attr("name")->default_value, attr_value("x y"));
}

TEST(op_def, list_type_attributes_type_tuples) {
  auto d = op_def::parse({.signature =
                              "queue_op(components: Tcomponents, index: T) -> "
                              "(outs: out_types, count: int32); Tcomponents: list(type); "
                              "out_types: list(type) = [float32, int64]; empty: list(type) = []"});
  ASSERT_TRUE(d.has_value()) << d.error_value().to_string();
  const arg_def& in = d->inputs()[0];
  EXPECT_EQ(in.type_list_attr, "Tcomponents");
  EXPECT_TRUE(in.type_attr.empty());
  EXPECT_FALSE(in.is_list());
  EXPECT_EQ(d->inputs()[1].type_attr, "T");
  EXPECT_EQ(d->outputs()[0].type_list_attr, "out_types");
  EXPECT_EQ(d->outputs()[1].fixed_type, dtype::int32);
  // A list(type) attribute is never the kernel's dtype key; T is.
  EXPECT_EQ(d->kernel_type_attr(), "T");
  ASSERT_NE(d->find_attr("Tcomponents"), nullptr);
  EXPECT_EQ(d->find_attr("Tcomponents")->kind, attr_kind::type_list);
  EXPECT_FALSE(d->find_attr("Tcomponents")->default_value.has_value());
  EXPECT_EQ(*d->find_attr("out_types")->default_value,
            attr_value(std::vector<dtype>{dtype::float32, dtype::int64}));
  EXPECT_EQ(*d->find_attr("empty")->default_value, attr_value(std::vector<dtype>{}));
  EXPECT_EQ(attr_kind_name(d->find_attr("empty")->kind), "list(type)");

  auto only_lists = op_def::parse({.signature = "enq(c: Tc) -> (); Tc: list(type)"});
  ASSERT_TRUE(only_lists.has_value()) << only_lists.error_value().to_string();
  EXPECT_EQ(only_lists->kernel_type_attr(), "");
}

TEST(op_def, malformed_signatures_name_the_problem) {
  struct bad { const char* sig; const char* fragment; };
  for (const bad& b : {bad{"f(x: T -> (y: T)", "expected ')'"},
                       bad{"f(x: T) (y: T)", "expected '->'"},
                       bad{"f(x: T) -> (y: T); T in weird_types", "unknown type set 'weird_types'"},
                       bad{"f(x: T) -> (y: T); a: colour", "unknown attribute kind 'colour'"},
                       bad{"f(x: T) -> (y: T); a: int; a: int", "declared twice"},
                       bad{"f(x: T) -> (y: T); T: int", "is not a type"},
                       bad{"f() -> (); b: bool = maybe", "expected true or false"},
                       bad{"f() -> () trailing", "unexpected text"},
                       bad{"f(x: N*Tc) -> (); Tc: list(type)", "'Tc' is a list(type)"},
                       bad{"f() -> (); t: list(type) = [float32, complex]",
                           "unknown dtype 'complex'"},
                       bad{"f() -> (); t: list(type) = float32", "expected '['"},
                       bad{"f() -> (); t: list(colour)", "unknown list element kind 'colour'"}}) {
    auto d = op_def::parse({.signature = b.sig});
    ASSERT_FALSE(d.has_value()) << b.sig;
    EXPECT_EQ(d.error_value().code(), errc::invalid_argument);
    EXPECT_NE(d.error_value().message().find(b.fragment), std::string::npos)
        << b.sig << " -> " << d.error_value().message();
    EXPECT_NE(d.error_value().message().find(b.sig), std::string::npos);
  }
}

TEST(op_registry, rejects_duplicates_and_suggests_near_names) {
  op_registry reg;
  EXPECT_FALSE(reg.add({.signature = "relu(x: T) -> (y: T)"}));
  error dup = reg.add({.signature = "relu(x: T) -> (y: T)"});
  EXPECT_EQ(dup.code(), errc::already_exists);
  EXPECT_NE(reg.find("relu"), nullptr);
  auto missing = reg.lookup("relu6");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error_value().code(), errc::not_found);
  EXPECT_NE(missing.error_value().message().find("unknown op 'relu6'"), std::string::npos);
  EXPECT_NE(missing.error_value().message().find("did you mean: relu"), std::string::npos);
}

}  // namespace
}  // namespace troupe
