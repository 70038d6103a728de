// The README's example, compiled and run as a test so it stays true:
// build a small graph, run it, print the result.

#include <cstdio>

#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/nn_ops.hpp"

int main() {
  using namespace troupe;
  platform plat;  // the ops and kernels troupe ships
  graph g(plat.ops());
  scope s = scope::root(g);
  output x = ops::placeholder(s.with_name("x"), dtype::float32, {-1, 3});
  output w = ops::constant(s, tensor_shape{3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
  ops::relu(s.with_name("y"), ops::matmul(s, x, w));
  if (!s.ok()) {
    std::printf("graph error: %s\n", s.status().to_string().c_str());
    return 1;
  }
  session sess(g, plat.kernels());
  auto out = sess.run({{"x", tensor::from_vector<float>({1, 3}, {1, -1, 2})}}, {"y"});
  if (!out) {
    std::printf("run error: %s\n", out.error_value().to_string().c_str());
    return 1;
  }
  // [1,-1,2] x [[1,2],[3,4],[5,6]] = [8, 10]
  std::printf("y = %s\n", (*out)[0].debug_string().c_str());
  return 0;
}
