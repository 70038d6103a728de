// The build-time errors quoted in docs/graphs-and-sessions.md, checked word for word.

#include <gtest/gtest.h>

#include "kernels/platform.hpp"
#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/nn_ops.hpp"

namespace troupe {
namespace {

std::string first_error(const std::function<void(const scope&)>& build) {
  platform plat;
  graph g(plat.ops());
  scope s = scope::root(g);
  build(s);
  return s.status().message();
}

TEST(build_errors, match_the_user_guide) {
  EXPECT_EQ(first_error([](const scope& s) {
              output x = ops::placeholder(s, dtype::float32, {-1, 4});
              output w = ops::placeholder(s, dtype::float32, {5, 3});
              ops::matmul(s.with_name("logits"), x, w);
            }),
            "node 'logits' (matmul): inner dimensions differ: a is [?,4], b is [5,3]: op(a) has "
            "4 columns but op(b) has 5 rows");
  EXPECT_EQ(first_error([](const scope& s) {
              output a = ops::placeholder(s.with_name("a"), dtype::float32);
              output b = ops::placeholder(s.with_name("b"), dtype::float64);
              ops::add(s.with_name("c"), a, b);
            }),
            "node 'c' (add): input 'y' (b:0) is float64 but input 'x' (a:0) is float32: both "
            "must have the same dtype T");
  EXPECT_EQ(first_error([](const scope& s) {
              output x = ops::placeholder(s, dtype::float32, {2, 3});
              ops::reshape(s.with_name("r"), x, {4});
            }),
            "node 'r' (reshape): cannot reshape a tensor of shape [2,3] (6 elements) into shape "
            "[4] (4 elements)");
  EXPECT_EQ(first_error([](const scope& s) { s.with_name("q").add("relu6", {}); }),
            "node 'q': unknown op 'relu6' (did you mean: relu?)");
}

}  // namespace
}  // namespace troupe
