#include "runtime/ops/core_ops.hpp"
// TODO(soon): temporary guards while the op families land; removed at integration.
#if __has_include("runtime/ops/math_ops.hpp")
#include "runtime/ops/math_ops.hpp"
#define TROUPE_HAVE_MATH 1
#endif
#if __has_include("runtime/ops/nn_ops.hpp")
#include "runtime/ops/nn_ops.hpp"
#define TROUPE_HAVE_NN 1
#endif
#if __has_include("runtime/ops/array_ops.hpp")
#include "runtime/ops/array_ops.hpp"
#define TROUPE_HAVE_ARRAY 1
#endif

namespace troupe {

void register_builtin_ops(op_registry& reg) {
  register_core_ops(reg);
#ifdef TROUPE_HAVE_MATH
  register_math_ops(reg);
#endif
#ifdef TROUPE_HAVE_NN
  register_nn_ops(reg);
#endif
#ifdef TROUPE_HAVE_ARRAY
  register_array_ops(reg);
#endif
}

}  // namespace troupe
