// CPU kernels of the reductions (sum, mean, max, min, prod) and argmax.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"
#include "kernels/cpu/reduce.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {


namespace {

using cpu::array_map;
using cpu::const_array_map;
using cpu::max_reducer;
using cpu::min_reducer;
using cpu::nan_policy;
using cpu::prod_reducer;
using cpu::reduce_block;
using cpu::sum_reducer;

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
