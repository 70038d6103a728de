// The first example of docs/graphs-and-sessions.md, compiled and run as a test so the
// guide stays true.

#include <cstdio>

#include "kernels/platform.hpp"          // troupe::platform: every op and CPU kernel
#include "runtime/exec/session.hpp"
#include "runtime/ops/array_ops.hpp"     // reshape, concat, gather, one_hot, random ...
#include "runtime/ops/core_ops.hpp"      // constant, placeholder, identity, no_op
#include "runtime/ops/math_ops.hpp"      // add, mul, ..., sum, mean, argmax, cast, select
#include "runtime/ops/nn_ops.hpp"        // matmul, bias_add, relu, softmax, losses

using namespace troupe;

int main() {
  platform plat;  // create once per process; no global registry
  graph g(plat.ops());
  scope s = scope::root(g);

  output x = ops::placeholder(s.with_name("x"), dtype::float32, {-1, 4});  // -1: any batch
  output w = ops::random_normal(s.with_name("w"), {4, 3}, dtype::float32, /*seed=*/7);
  output b = ops::constant(s, tensor_shape{3}, std::vector<float>{0.1f, 0.2f, 0.3f});
  output logits = ops::bias_add(s.with_name("logits"), ops::matmul(s, x, w), b);
  ops::softmax(s.with_name("probs"), logits);
  if (!s.ok()) {
    std::puts(s.status().to_string().c_str());
    return 1;
  }

  session sess(g, plat.kernels());
  auto out = sess.run({{"x", tensor::from_vector<float>({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})}},
                      {"probs"});
  if (!out) {
    std::puts(out.error_value().to_string().c_str());
    return 1;
  }
  std::puts((*out)[0].debug_string().c_str());
  // Each row of probabilities sums to one.
  auto p = (*out)[0].matrix<float>();
  for (int r = 0; r < 2; ++r) std::printf("row %d sums to %.4f\n", r, p.row(r).sum());
  return 0;
}
