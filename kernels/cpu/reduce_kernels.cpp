// CPU kernels of the reductions (sum, mean, max, min, prod) and argmax.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {


namespace {

using cpu::array_map;
using cpu::const_array_map;
using cpu::nan_policy;

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
        int64_t o = u / nb, start = (u % nb) * block_elements;
        int64_t len = std::min(block_elements, n - start);
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
  // blocks with their own partial outputs.
  const int64_t rows_per_block = std::max<int64_t>(1, block_elements / slice);
  const int64_t nb = units >= 16 ? 1 : (n + rows_per_block - 1) / rows_per_block;
  const int64_t rb = (n + nb - 1) / nb;
  std::vector<T> partial(nb > 1 ? size_t(nb * outer * inner) : 0);

  dev.parallel_for(units * nb, rb * slice, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      int64_t b = u / units, o = (u % units) / ns, c0 = (u % ns) * slice;
      int64_t len = std::min(slice, inner - c0);
      int64_t r0 = b * rb, r1 = std::min(n, r0 + rb);
      T* dst = (nb > 1 ? partial.data() + b * outer * inner : out) + o * inner + c0;
      const T* src = in + o * n * inner + c0;
      array_map<T> acc(dst, len);
      acc = const_array_map<T>(src + r0 * inner, len);
      for (int64_t r = r0 + 1; r < r1; ++r)
        R::template accumulate<T>(acc, const_array_map<T>(src + r * inner, len));
    }
  });
  if (nb > 1) {
    const int64_t m = outer * inner;
    array_map<T> acc(out, m);
    acc = const_array_map<T>(partial.data(), m);
    for (int64_t b = 1; b < nb; ++b)
      R::template accumulate<T>(acc, const_array_map<T>(partial.data() + b * m, m));
  }
}

std::string axes_string(std::span<const int64_t> axes) {
  if (axes.empty()) return "[] (all)";
  std::string out = "[";
  for (size_t i = 0; i < axes.size(); ++i) out += str_cat(i ? "," : "", axes[i]);
  return out + "]";
}

/// sum, prod, max, min; mean is sum followed by a division by the count.
template <class T, class R, bool Mean>
class reduce_kernel {
 public:
  error init(const kernel_construction& c) {
    axes_ = c.attr<std::vector<int64_t>>("axes");
    keep_dims_ = c.attr<bool>("keep_dims");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const int rank = x.rank();
    const uint32_t mask = TROUPE_TRY(reduction_axis_mask(axes_, rank));
    std::vector<int64_t> out_dims;
    int64_t count = 1;  // elements reduced into each output element
    struct group {
      int64_t size;
      bool reduced;
    };
    std::vector<group> groups;  // adjacent dimensions merged, size 1 dropped
    for (int i = 0; i < rank; ++i) {
      const bool reduced = (mask >> i) & 1u;
      const int64_t d = x.dim(i);
      if (reduced) count *= d;
      if (!reduced || keep_dims_) out_dims.push_back(reduced ? 1 : d);
      if (d == 1) continue;
      if (!groups.empty() && groups.back().reduced == reduced)
        groups.back().size *= d;
      else
        groups.push_back({d, reduced});
    }
    const tensor_shape out_shape(std::span<const int64_t>(out_dims.data(), out_dims.size()));

    const bool any_reduced = std::any_of(groups.begin(), groups.end(),
                                         [](const group& g) { return g.reduced; });
    if (!any_reduced && count != 0) {  // reduces only size-1 axes: the same values
      ctx.set_output(0, TROUPE_TRY(x.reshaped(out_shape)));
      return {};
    }
    tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
    if (y.num_elements() == 0) return {};
    array_map<T> out(y.data<T>(), y.num_elements());
    if (count == 0) {
      if constexpr (Mean && std::is_floating_point_v<T>) {
        out.setConstant(std::numeric_limits<T>::quiet_NaN());
        return {};
      } else if constexpr (!Mean && R::has_identity) {
        out.setConstant(R::template identity<T>());
        return {};
      } else {
        return make_error(errc::invalid_argument, ctx.this_node().op,
                          " over zero elements: input of shape ", x.shape().to_string(),
                          " has size 0 along the reduced axes ", axes_string(axes_));
      }
    }

    // One pass per reduced group, innermost first; see Note [Reduction blocks].
    std::vector<T> scratch[2];
    const T* src = x.data<T>();
    for (int pass = 0;; ++pass) {
      int g = int(groups.size()) - 1;
      while (!groups[size_t(g)].reduced) --g;
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < g; ++i) outer *= groups[size_t(i)].size;
      for (size_t i = size_t(g) + 1; i < groups.size(); ++i) inner *= groups[i].size;
      const bool last = std::none_of(groups.begin(), groups.begin() + g,
                                     [](const group& gr) { return gr.reduced; });
      T* dst = out.data();
      if (!last) {
        scratch[pass % 2].resize(size_t(outer * inner));
        dst = scratch[pass % 2].data();
      }
      reduce_block<R>(ctx.device(), src, dst, outer, groups[size_t(g)].size, inner);
      if (last) break;
      src = dst;
      // Drop the reduced group and merge the kept groups now adjacent.
      groups.erase(groups.begin() + g);
      if (g > 0 && size_t(g) < groups.size()) {
        groups[size_t(g) - 1].size *= groups[size_t(g)].size;
        groups.erase(groups.begin() + g);
      }
    }
    if constexpr (Mean) {
      const T c = T(count);
      ctx.parallel_for(out.size(), 2, [&](int64_t begin, int64_t end) {
        out.segment(begin, end - begin) /= c;
      });
    }
    return {};
  }

 private:
  std::vector<int64_t> axes_;
  bool keep_dims_ = false;
};

template <class T>
using sum_kernel = reduce_kernel<T, sum_reducer, false>;
template <class T>
using mean_kernel = reduce_kernel<T, sum_reducer, true>;
template <class T>
using max_kernel = reduce_kernel<T, max_reducer, false>;
template <class T>
using min_kernel = reduce_kernel<T, min_reducer, false>;
template <class T>
using prod_kernel = reduce_kernel<T, prod_reducer, false>;

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

/// The index of the largest value along an axis, the first on ties; a NaN is the largest.
template <class T>
class argmax_kernel {
 public:
  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const int rank = x.rank();
    TROUPE_REQUIRE(rank >= 1, "argmax: input must have rank >= 1, got a scalar");
    const int axis = TROUPE_TRY(shape_fns::normalize_axis(axis_, rank));
    int64_t outer = 1, inner = 1;
    const int64_t n = x.dim(axis);
    std::vector<int64_t> out_dims;
    for (int i = 0; i < rank; ++i) {
      if (i < axis) outer *= x.dim(i);
      if (i > axis) inner *= x.dim(i);
      if (i != axis) out_dims.push_back(x.dim(i));
    }
    tensor y = TROUPE_TRY(
        ctx.allocate_output(0, tensor_shape(std::span<const int64_t>(out_dims))));
    if (y.num_elements() == 0) return {};
    TROUPE_REQUIRE(n > 0, "argmax over an empty axis: input of shape ", x.shape().to_string(),
                   " has size 0 along axis ", axis);
    const T* in = x.data<T>();
    int64_t* out = y.data<int64_t>();

    if (inner == 1) {
      // A vectorized max, then a scan for its first occurrence.
      ctx.parallel_for(outer, 2 * n, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          const T* row = in + o * n;
          const T m = const_array_map<T>(row, n).template maxCoeff<nan_policy<T>>();
          const T* it = is_nan(m) ? std::find_if(row, row + n, [](T v) { return is_nan(v); })
                                  : std::find(row, row + n, m);
          out[o] = it - row;
        }
      });
      return {};
    }
    // Running maxima of a slice of columns, updated row by row.
    // TODO(perf): split the rows too when outer * slices is smaller than the thread count.
    constexpr int64_t slice = 512;
    const int64_t ns = (inner + slice - 1) / slice;
    ctx.parallel_for(outer * ns, 2 * n * std::min(slice, inner), [&](int64_t begin, int64_t end) {
      T best[slice];
      for (int64_t u = begin; u < end; ++u) {
        const int64_t o = u / ns, c0 = (u % ns) * slice, len = std::min(slice, inner - c0);
        const T* src = in + o * n * inner + c0;
        int64_t* idx = out + o * inner + c0;
        std::copy(src, src + len, best);
        std::fill(idx, idx + len, int64_t{0});
        for (int64_t r = 1; r < n; ++r) {
          const T* row = src + r * inner;
          for (int64_t j = 0; j < len; ++j) {
            const T v = row[j];
            if (v > best[j] || (is_nan(v) && !is_nan(best[j]))) {
              best[j] = v;
              idx[j] = r;
            }
          }
        }
      }
    });
    return {};
  }

 private:
  int64_t axis_ = -1;
};

}  // namespace

void register_reduce_kernels(kernel_registry& reg) {
  constexpr auto cpu = device_kind::cpu;
  reg.add_for<sum_kernel, float, double, int32_t, int64_t>("sum", cpu);
  reg.add_for<mean_kernel, float, double, int32_t, int64_t>("mean", cpu);
  reg.add_for<max_kernel, float, double, int32_t, int64_t>("max", cpu);
  reg.add_for<min_kernel, float, double, int32_t, int64_t>("min", cpu);
  reg.add_for<prod_kernel, float, double, int32_t, int64_t>("prod", cpu);
  reg.add_for<argmax_kernel, float, double, int32_t, int64_t>("argmax", cpu);
}

}  // namespace troupe
