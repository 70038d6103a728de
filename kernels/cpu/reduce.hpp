#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "kernels/cpu/kernel_util.hpp"
#include "runtime/exec/cpu_device.hpp"

/// Blocked reductions over the middle dimension of an (outer, n, inner) block, shared by
/// the reduction kernels (sum, max, ...) and the gradient helpers (sum_to_like,
/// bias_add_grad-like column sums).
namespace troupe::cpu {

// Note [Reduction blocks]
// A reduction collapses the input into groups of adjacent dimensions that are all reduced
// or all kept (dimensions of size 1 dropped), e.g. [K0, R1, K2]. It then reduces one
// reduced group at a time, innermost first, as an (outer, n, inner) block:
//   inner == 1: each of the outer rows of n contiguous values is reduced by one
//               vectorized Eigen reduction (sum(), maxCoeff(), ...);
//   inner > 1:  each output row of inner values accumulates the n input rows of inner
//               contiguous values (acc += row, vectorized), so axis 0 of [N, C] reads
//               the input once, in order, with no transposition.
// Several reduced groups ([R0, K1, R2]) take one pass each through a scratch buffer.
// Work is split in fixed-size pieces whose partial results are combined in a fixed
// order, so results do not depend on the number of threads.

// A reducer: row reduction and accumulation of one row into another.
struct sum_reducer {
  static constexpr bool has_identity = true;
  template <class T>
  static T identity() { return T(0); }
  template <class T>
  static T reduce(const const_array_map<T>& row) { return row.sum(); }
  template <class T>
  static void accumulate(array_map<T>& acc, const const_array_map<T>& row) { acc += row; }
};
struct prod_reducer {
  static constexpr bool has_identity = true;
  template <class T>
  static T identity() { return T(1); }
  template <class T>
  static T reduce(const const_array_map<T>& row) { return row.prod(); }
  template <class T>
  static void accumulate(array_map<T>& acc, const const_array_map<T>& row) { acc *= row; }
};
// max and min propagate NaN.
struct max_reducer {
  static constexpr bool has_identity = false;
  template <class T>
  static T identity() { return T(0); }  // unused
  template <class T>
  static T reduce(const const_array_map<T>& row) { return row.template maxCoeff<nan_policy<T>>(); }
  template <class T>
  static void accumulate(array_map<T>& acc, const const_array_map<T>& row) {
    acc = acc.binaryExpr(row, Eigen::internal::scalar_max_op<T, T, nan_policy<T>>());
  }
};
struct min_reducer {
  static constexpr bool has_identity = false;
  template <class T>
  static T identity() { return T(0); }  // unused
  template <class T>
  static T reduce(const const_array_map<T>& row) { return row.template minCoeff<nan_policy<T>>(); }
  template <class T>
  static void accumulate(array_map<T>& acc, const const_array_map<T>& row) {
    acc = acc.binaryExpr(row, Eigen::internal::scalar_min_op<T, T, nan_policy<T>>());
  }
};

// Pieces of work: about this many input elements each.
constexpr int64_t block_elements = 32768;
// Columns of an (n, inner) block handled by one piece.
constexpr int64_t slice_elements = 2048;

// out[o, j] = reduce over r of in[o, r, j], for a row-major (outer, n, inner) input, n > 0.
// See Note [Reduction blocks].
template <class R, class T>
void reduce_block(cpu_device& dev, const T* in, T* out, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    const int64_t nb = (n + block_elements - 1) / block_elements;  // pieces per row
    if (nb == 1) {
      dev.parallel_for(outer, n, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o)
          out[o] = R::template reduce<T>(const_array_map<T>(in + o * n, n));
      });
      return;
    }
    std::vector<T> partial(size_t(outer * nb));
    dev.parallel_for(outer * nb, block_elements, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t o = u / nb, start = (u % nb) * block_elements;
        const int64_t len = std::min(block_elements, n - start);
        partial[size_t(u)] = R::template reduce<T>(const_array_map<T>(in + o * n + start, len));
      }
    });
    for (int64_t o = 0; o < outer; ++o)
      out[o] = R::template reduce<T>(const_array_map<T>(partial.data() + o * nb, nb));
    return;
  }
  const int64_t slice = std::min(inner, slice_elements);
  const int64_t ns = (inner + slice - 1) / slice;  // slices per output row
  const int64_t units = outer * ns;
  // Too few (outer, slice) units to share among threads: split the n rows as well, into
  // blocks with their own partial outputs, combined in block order.
  const int64_t rows_per_block = std::max<int64_t>(1, block_elements / slice);
  const int64_t nb = units >= 16 ? 1 : (n + rows_per_block - 1) / rows_per_block;
  const int64_t rb = (n + nb - 1) / nb;
  const int64_t used = (n + rb - 1) / rb;  // blocks holding at least one row
  std::vector<T> partial(used > 1 ? size_t(used * outer * inner) : 0);
  dev.parallel_for(units * used, rb * slice, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / units, o = (u % units) / ns, c0 = (u % ns) * slice;
      const int64_t len = std::min(slice, inner - c0);
      const int64_t r0 = b * rb, r1 = std::min(n, r0 + rb);
      T* dst = (used > 1 ? partial.data() + b * outer * inner : out) + o * inner + c0;
      const T* src = in + o * n * inner + c0;
      array_map<T> acc(dst, len);
      acc = const_array_map<T>(src + r0 * inner, len);
      for (int64_t r = r0 + 1; r < r1; ++r)
        R::template accumulate<T>(acc, const_array_map<T>(src + r * inner, len));
    }
  });
  if (used > 1) {
    const int64_t m = outer * inner;
    dev.parallel_for(m, used, [&](int64_t begin, int64_t end) {
      array_map<T> acc(out + begin, end - begin);
      acc = const_array_map<T>(partial.data() + begin, end - begin);
      for (int64_t b = 1; b < used; ++b)
        R::template accumulate<T>(acc, const_array_map<T>(partial.data() + b * m + begin, end - begin));
    });
  }
}

}  // namespace troupe::cpu
