#include "runtime/ops/core_ops.hpp"

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

error const_shape(shape_context& c) {
  const tensor& v = c.attr<tensor>("value");
  TROUPE_REQUIRE(v.valid(), "const: attribute 'value' holds no tensor");
  TROUPE_REQUIRE(v.dtype() == c.attr<dtype>("dtype"), "const: attribute 'value' is ",
                 dtype_name(v.dtype()), " but attribute 'dtype' is ",
                 dtype_name(c.attr<dtype>("dtype")));
  c.set_output(0, v.shape());
  return {};
}

// The gradient passes through unchanged, sparse rows included.
error identity_grad(grad_context& c) {
  const gradient& g = c.grad(0);
  if (g.is_sparse())
    c.set_sparse(0, g.indices, g.values);
  else
    c.set(0, c.dense_grad(0));
  return {};
}

}  // namespace

void register_core_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  ok(reg.add({.signature = "const() -> (output: dtype); dtype: type; value: tensor",
              .shape = const_shape,
              .doc = "A constant tensor."}));
  ok(reg.add({.signature = "placeholder() -> (output: dtype); dtype: type; shape: shape = ?",
              .shape = shape_fns::from_shape_attr,
              .doc = "A tensor fed to session::run."}));
  ok(reg.add({.signature = "identity(input: T) -> (output: T)",
              .shape = shape_fns::same_as_input<0>,
              .grad = identity_grad,
              .doc = "Returns its input (no copy)."}));
  ok(reg.add({.signature = "no_op() -> ()", .shape = shape_fns::scalar,
              .doc = "Does nothing; groups control dependencies."}));
}

namespace ops {

output constant(const scope& s, tensor value) {
  dtype t = value.dtype();
  return s.add1("const", {}, {{"dtype", t}, {"value", std::move(value)}});
}

output placeholder(const scope& s, dtype t, partial_shape shape) {
  return s.add1("placeholder", {}, {{"dtype", t}, {"shape", shape}});
}

output identity(const scope& s, output x) { return s.add1("identity", {x}); }

operation no_op(const scope& s) { return s.add("no_op", {}); }

}  // namespace ops
}  // namespace troupe
