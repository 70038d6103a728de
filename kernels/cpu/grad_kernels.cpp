// CPU kernels of the gradient helper ops (runtime/ops/grad_ops.hpp). They run in every
// training step: sums are blocked column/row reductions, broadcasts are segment copies,
// zeros are memsets, scatters are linear in the number of updates.

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/broadcast.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"
#include "kernels/cpu/reduce.hpp"
#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

using cpu::array_map;
using cpu::const_array_map;

int64_t product(std::span<const int64_t> dims, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; ++i) p *= dims[size_t(i)];
  return p;
}

// "[1,2]".
std::string list_string(std::span<const int64_t> v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += str_cat(i ? "," : "", v[i]);
  return out + "]";
}

tensor_shape shape_of(const std::vector<int64_t>& dims) {
  return tensor_shape(std::span<const int64_t>(dims));
}

// Elements per piece of the memsets and fills below.
constexpr int64_t fill_block = 16384;

// p[0, n) = 0 (memset, in parallel for large n). T is trivially copyable.
template <class T>
void zero_fill(const kernel_context& ctx, T* p, int64_t n) {
  const int64_t blocks = (n + fill_block - 1) / fill_block;
  ctx.parallel_for(blocks, fill_block * int64_t(sizeof(T)) / 16, [&](int64_t b, int64_t e) {
    const int64_t begin = b * fill_block, end = std::min(n, e * fill_block);
    std::memset(static_cast<void*>(p + begin), 0, size_t(end - begin) * sizeof(T));
  });
}

// ---------------------------------------------------------------------------------------
// zeros_like, ones_like

template <class T>
class zeros_like_kernel {
 public:
  error compute(kernel_context& ctx) const {
    tensor y = TROUPE_TRY(ctx.allocate_output(0, ctx.input(0).shape()));
    // A fresh string tensor already holds empty strings.
    if constexpr (!std::is_same_v<T, std::string>) zero_fill(ctx, y.data<T>(), y.num_elements());
    return {};
  }
};

template <class T>
class ones_like_kernel {
 public:
  error compute(kernel_context& ctx) const {
    tensor y = TROUPE_TRY(ctx.allocate_output(0, ctx.input(0).shape()));
    T* p = y.data<T>();
    const int64_t n = y.num_elements();
    const int64_t blocks = (n + fill_block - 1) / fill_block;
    ctx.parallel_for(blocks, fill_block * int64_t(sizeof(T)) / 16, [&](int64_t b, int64_t e) {
      const int64_t begin = b * fill_block, end = std::min(n, e * fill_block);
      array_map<T>(p + begin, end - begin).setConstant(T(1));
    });
    return {};
  }
};

// ---------------------------------------------------------------------------------------
// sum_to_like: a sum over the broadcast dimensions.

// Note [Gradient sums]
// sum_to_like merges the dimensions of x into groups that are all summed or all kept
// (size-1 dimensions dropped), e.g. [N, C] -> [C] is one summed group [N] and one kept
// group [C]. Each summed group is one pass of cpu::reduce_block over an (outer, n, inner)
// block (Note [Reduction blocks] in kernels/cpu/reduce.hpp), innermost group first,
// through a scratch buffer when more remain. The pieces depend only on the shapes, never
// on the thread count, so results are the same with 1 thread or 16.

template <class T>
class sum_to_like_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const tensor_shape& to = ctx.input(1).shape();
    const tensor_shape& from = x.shape();
    const int off = from.rank() - to.rank();
    bool ok = off >= 0;
    for (int i = 0; ok && i < to.rank(); ++i) ok = to[i] == 1 || to[i] == from[i + off];
    TROUPE_REQUIRE(ok, "x ", from.to_string(), " is not a broadcast of like ", to.to_string(),
                   ": it cannot be summed to like's shape");
    if (from.num_elements() == to.num_elements()) {  // only size-1 dimensions differ
      ctx.set_output(0, TROUPE_TRY(x.reshaped(to)));
      return {};
    }
    tensor y = TROUPE_TRY(ctx.allocate_output(0, to));
    T* out = y.data<T>();
    if (y.num_elements() == 0) return {};
    if (from.num_elements() == 0) {
      zero_fill(ctx, out, y.num_elements());
      return {};
    }
    struct group {
      int64_t size;
      bool summed;
    };
    std::vector<group> groups;  // see Note [Gradient sums]
    for (int i = 0; i < from.rank(); ++i) {
      const int64_t d = from[i];
      if (d == 1) continue;
      const bool summed = i < off || to[i - off] == 1;
      if (!groups.empty() && groups.back().summed == summed) groups.back().size *= d;
      else groups.push_back({d, summed});
    }
    std::vector<T> scratch[2];
    const T* src = x.data<T>();
    for (int pass = 0;; ++pass) {
      int g = int(groups.size()) - 1;
      while (!groups[size_t(g)].summed) --g;
      int64_t outer = 1, inner = 1;
      for (int i = 0; i < g; ++i) outer *= groups[size_t(i)].size;
      for (size_t i = size_t(g) + 1; i < groups.size(); ++i) inner *= groups[i].size;
      const bool last = std::none_of(groups.begin(), groups.begin() + g,
                                     [](const group& gr) { return gr.summed; });
      T* dst = out;
      if (!last) {
        scratch[pass % 2].resize(size_t(outer * inner));
        dst = scratch[pass % 2].data();
      }
      cpu::reduce_block<cpu::sum_reducer>(ctx.device(), src, dst, outer, groups[size_t(g)].size,
                                          inner);
      if (last) return {};
      src = dst;
      // Drop the summed group and merge the kept groups now adjacent.
      groups.erase(groups.begin() + g);
      if (g > 0 && size_t(g) < groups.size()) {
        groups[size_t(g) - 1].size *= groups[size_t(g)].size;
        groups.erase(groups.begin() + g);
      }
    }
  }
};

// ---------------------------------------------------------------------------------------
// broadcast_like, reduction_grad: x spread over a larger shape.

// out = x broadcast from `from` (x's elements seen with that shape) to `to`, divided by
// `divisor` unless it is 1. Each segment of the plan is a copy or a fill.
template <class T>
error broadcast_to(kernel_context& ctx, const tensor& x, const tensor_shape& from,
                   const tensor_shape& to, int64_t divisor) {
  auto plan = TROUPE_TRY(cpu::broadcast_plan<2>::make({from, to}));
  TROUPE_REQUIRE(plan.output_shape() == to, "x ", from.to_string(),
                 " cannot be broadcast to like's shape ", to.to_string());
  if (divisor == 1 && from.num_elements() == to.num_elements()) {
    ctx.set_output(0, TROUPE_TRY(x.reshaped(to)));
    return {};
  }
  tensor y = TROUPE_TRY(ctx.allocate_output(0, to));
  if (y.num_elements() == 0) return {};
  const T* in = x.data<T>();
  T* out = y.data<T>();
  const T div = T(divisor);
  cpu::broadcast_segments<2>(
      ctx.device(), plan, 1, [&](int64_t o, const auto& offs, const auto& steps, int64_t len) {
        array_map<T> dst(out + o, len);
        if (steps[0]) {
          const_array_map<T> src(in + offs[0], len);
          if (divisor == 1) dst = src;
          else dst = src / div;
        } else {
          dst.setConstant(divisor == 1 ? in[offs[0]] : T(in[offs[0]] / div));
        }
      });
  return {};
}

template <class T>
class broadcast_like_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    return broadcast_to<T>(ctx, x, x.shape(), ctx.input(1).shape(), 1);
  }
};

template <class T>
class reduction_grad_kernel {
 public:
  error init(const kernel_construction& c) {
    axes_ = c.attr<std::vector<int64_t>>("axes");
    keep_dims_ = c.attr<bool>("keep_dims");
    mean_ = c.attr<bool>("mean");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& g = ctx.input(0);
    const tensor_shape& like = ctx.input(1).shape();
    const uint32_t mask = TROUPE_TRY(reduction_axis_mask(axes_, like.rank()));
    std::vector<int64_t> kept, reduced;  // the result with and without keep_dims
    int64_t count = 1;
    for (int i = 0; i < like.rank(); ++i) {
      if ((mask >> i) & 1u) {
        count *= like[i];
        kept.push_back(1);
      } else {
        kept.push_back(like[i]);
        reduced.push_back(like[i]);
      }
    }
    const tensor_shape want = shape_of(keep_dims_ ? kept : reduced);
    TROUPE_REQUIRE(g.shape() == want, "g ", g.shape().to_string(),
                   " is not the result of reducing like ", like.to_string(), " over axes ",
                   list_string(axes_), keep_dims_ ? " with keep_dims" : "", ": expected ",
                   want.to_string());
    return broadcast_to<T>(ctx, g, shape_of(kept), like, mean_ ? std::max<int64_t>(count, 1) : 1);
  }

 private:
  std::vector<int64_t> axes_;
  bool keep_dims_ = false;
  bool mean_ = false;
};

// ---------------------------------------------------------------------------------------
// reshape_like: a view.

template <class T>
class reshape_like_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const tensor_shape& to = ctx.input(1).shape();
    TROUPE_REQUIRE(x.num_elements() == to.num_elements(), "x ", x.shape().to_string(), " has ",
                   x.num_elements(), " elements but like ", to.to_string(), " has ",
                   to.num_elements());
    ctx.set_output(0, TROUPE_TRY(x.reshaped(to)));
    return {};
  }
};

// ---------------------------------------------------------------------------------------
// slice_grad: zeros with g copied in at begin.

template <class T>
class slice_grad_kernel {
 public:
  error init(const kernel_construction& c) {
    begin_ = c.attr<std::vector<int64_t>>("begin");
    size_ = c.attr<std::vector<int64_t>>("size");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& g = ctx.input(0);
    const tensor_shape& like = ctx.input(1).shape();
    const int rank = like.rank();
    auto where = [&] {
      return str_cat("begin ", list_string(begin_), ", size ", list_string(size_), ", g ",
                     g.shape().to_string(), ", like ", like.to_string());
    };
    TROUPE_REQUIRE(int(begin_.size()) == rank && g.rank() == rank,
                   "begin and size must have one entry per dimension of g and like: ", where());
    for (int i = 0; i < rank; ++i) {
      const int64_t b = begin_[size_t(i)], d = like[i];
      const int64_t sz = size_[size_t(i)] == -1 ? d - b : size_[size_t(i)];
      TROUPE_REQUIRE(b <= d && b + sz <= d && g.dim(i) == sz, "g does not fit like at begin: ",
                     "dimension ", i, " of g should be ", sz, " and begin + size at most ", d,
                     ": ", where());
    }
    if (g.shape() == like) {
      ctx.set_output(0, g);
      return {};
    }
    tensor y = TROUPE_TRY(ctx.allocate_output(0, like));
    T* out = y.data<T>();
    zero_fill(ctx, out, y.num_elements());
    const int64_t total = g.num_elements();
    if (total == 0) return {};
    // Trailing dimensions taken whole merge into contiguous rows of `row` elements.
    int j = rank - 1;
    int64_t row = 1;
    while (j >= 0 && g.dim(j) == like[j]) row *= like[j--];
    row *= g.dim(j);  // j >= 0: g is smaller than like
    std::array<int64_t, max_rank> stride{};
    for (int i = rank - 1, s = 1; i >= 0; --i) {
      stride[size_t(i)] = s;
      s *= like[i];
    }
    int64_t base = 0;
    for (int i = 0; i < rank; ++i) base += begin_[size_t(i)] * stride[size_t(i)];
    const T* in = g.data<T>();
    const tensor_shape& gs = g.shape();
    ctx.parallel_for(total / row, 8 + row / 4 + 2 * j, [&](int64_t b, int64_t e) {
      std::array<int64_t, max_rank> idx{};
      int64_t off = base;
      int64_t rem = b;
      for (int i = j - 1; i >= 0; --i) {
        idx[size_t(i)] = rem % gs[i];
        rem /= gs[i];
        off += idx[size_t(i)] * stride[size_t(i)];
      }
      for (int64_t r = b; r < e; ++r) {
        std::memcpy(out + off, in + r * row, size_t(row) * sizeof(T));
        for (int i = j - 1; i >= 0; --i) {  // advance the odometer
          off += stride[size_t(i)];
          if (++idx[size_t(i)] < gs[i]) break;
          off -= gs[i] * stride[size_t(i)];
          idx[size_t(i)] = 0;
        }
      }
    });
    return {};
  }

 private:
  std::vector<int64_t> begin_, size_;
};

// ---------------------------------------------------------------------------------------
// split_like: g cut along axis like the likes.

template <class T>
class split_like_kernel {
 public:
  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& g = ctx.input(0);
    const int n = ctx.num_inputs() - 1;
    TROUPE_REQUIRE(g.rank() >= 1, "g must have rank >= 1, got a scalar");
    const int rank = g.rank();
    TROUPE_REQUIRE(axis_ >= -rank && axis_ < rank, "axis ", axis_, " is out of range for g ",
                   g.shape().to_string(), ": expected ", -rank, " <= axis < ", rank);
    const int axis = int(axis_ < 0 ? axis_ + rank : axis_);
    int64_t total = 0;
    for (int i = 0; i < n; ++i) {
      const tensor_shape& like = ctx.input(i + 1).shape();
      bool same = like.rank() == rank;
      for (int d = 0; same && d < rank; ++d) same = d == axis || like[d] == g.dim(d);
      TROUPE_REQUIRE(same, "likes[", i, "] ", like.to_string(), " and g ", g.shape().to_string(),
                     " must agree in every dimension but the split axis ", axis);
      total += like[axis];
    }
    TROUPE_REQUIRE(total == g.dim(axis), "the likes add up to ", total, " along axis ", axis,
                   " but g ", g.shape().to_string(), " has ", g.dim(axis));
    if (n == 1) {  // the one piece is g
      ctx.set_output(0, g);
      return {};
    }
    const int64_t outer = product(g.shape().dims(), 0, axis);
    const int64_t inner = product(g.shape().dims(), axis + 1, rank);
    if (outer == 1) {
      // Each piece is a contiguous range of g: views, no copy.
      auto keep = std::make_shared<const tensor>(g);
      char* base = static_cast<char*>(g.raw_data());
      int64_t start = 0;
      for (int i = 0; i < n; ++i) {
        const tensor_shape& like = ctx.input(i + 1).shape();
        ctx.set_output(i, tensor::wrap(g.dtype(), like, base + size_t(start * inner) * sizeof(T),
                                       keep));
        start += like[axis];
      }
      return {};
    }
    std::vector<T*> dst(static_cast<size_t>(n));
    std::vector<int64_t> width(static_cast<size_t>(n)), offset(static_cast<size_t>(n));
    int64_t off = 0;
    for (int i = 0; i < n; ++i) {
      const tensor_shape& like = ctx.input(i + 1).shape();
      dst[size_t(i)] = TROUPE_TRY(ctx.allocate_output(i, like)).template data<T>();
      width[size_t(i)] = like[axis] * inner;
      offset[size_t(i)] = off;
      off += width[size_t(i)];
    }
    const int64_t row = total * inner;
    if (row == 0 || outer == 0) return {};
    const T* in = g.data<T>();
    ctx.parallel_for(outer * n, 8 + row / n / 4, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t o = u / n;
        const size_t i = size_t(u % n);
        if (width[i] > 0)
          std::memcpy(dst[i] + o * width[i], in + o * row + offset[i], size_t(width[i]) * sizeof(T));
      }
    });
    return {};
  }

 private:
  int64_t axis_ = 0;
};

// ---------------------------------------------------------------------------------------
// scatter_add_like: zeros, then updates added at indices along axis.

// Columns of a row each scatter piece handles (pieces split wide rows among threads).
constexpr int64_t scatter_columns = 256;

template <class T, class I>
error scatter_add_impl(kernel_context& ctx, int64_t axis_attr) {
  const tensor& updates = ctx.input(0);
  const tensor& indices = ctx.input(1);
  const tensor_shape& like = ctx.input(2).shape();
  const int rank = like.rank();
  TROUPE_REQUIRE(rank >= 1, "like must have rank >= 1, got a scalar");
  TROUPE_REQUIRE(axis_attr >= -rank && axis_attr < rank, "axis ", axis_attr,
                 " is out of range for like ", like.to_string(), ": expected ", -rank,
                 " <= axis < ", rank);
  const int axis = int(axis_attr < 0 ? axis_attr + rank : axis_attr);
  std::vector<int64_t> want;
  for (int i = 0; i < axis; ++i) want.push_back(like[i]);
  for (int64_t d : indices.shape().dims()) want.push_back(d);
  for (int i = axis + 1; i < rank; ++i) want.push_back(like[i]);
  TROUPE_REQUIRE(updates.shape().to_vector() == want, "updates ", updates.shape().to_string(),
                 " do not fit indices ", indices.shape().to_string(), " into like ",
                 like.to_string(), " along axis ", axis,
                 ": expected like.shape[:axis] + indices.shape + like.shape[axis+1:] = ",
                 list_string(want));
  const int64_t outer = product(like.dims(), 0, axis);
  const int64_t limit = like[axis];
  const int64_t inner = product(like.dims(), axis + 1, rank);
  const int64_t m = indices.num_elements();
  const I* idx = indices.data<I>();
  for (int64_t i = 0; i < m; ++i) {
    if (uint64_t(idx[i]) >= uint64_t(limit)) [[unlikely]] {
      const tensor_shape& s = indices.shape();
      std::string pos = "indices";
      if (s.rank() > 0) {  // the multi-index of flat position i
        std::vector<int64_t> at(size_t(s.rank()));
        for (int64_t k = s.rank() - 1, r = i; k >= 0; --k) {
          at[size_t(k)] = r % s[int(k)];
          r /= s[int(k)];
        }
        pos = str_cat("indices", list_string(at));
      }
      return make_error(errc::invalid_argument, pos, " = ", int64_t(idx[i]),
                        " is out of range: valid indices are in [0, ", limit, ") for like ",
                        like.to_string(), " along axis ", axis);
    }
  }
  tensor y = TROUPE_TRY(ctx.allocate_output(0, like));
  T* out = y.data<T>();
  zero_fill(ctx, out, y.num_elements());
  if (m == 0 || y.num_elements() == 0) return {};
  const T* in = updates.data<T>();
  if (inner == 1) {
    ctx.parallel_for(outer, 2 * m, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        T* dst = out + o * limit;
        const T* src = in + o * m;
        for (int64_t i = 0; i < m; ++i) dst[idx[i]] += src[i];
      }
    });
    return {};
  }
  // Each piece owns a range of columns of one outer slice and adds every update row's
  // part into it, in index order: repeated indices never race, and the result does not
  // depend on the thread count.
  const int64_t cols = std::min(inner, scatter_columns);
  const int64_t nc = (inner + cols - 1) / cols;
  ctx.parallel_for(outer * nc, m * (cols / 4 + 4), [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t o = u / nc, c0 = (u % nc) * cols, len = std::min(cols, inner - c0);
      T* dst = out + o * limit * inner + c0;
      const T* src = in + o * m * inner + c0;
      for (int64_t i = 0; i < m; ++i)
        array_map<T>(dst + int64_t(idx[i]) * inner, len) += const_array_map<T>(src + i * inner, len);
    }
  });
  return {};
}

template <class T>
class scatter_add_like_kernel {
 public:
  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    impl_ = c.input_type(1) == dtype::int64 ? &scatter_add_impl<T, int64_t>
                                            : &scatter_add_impl<T, int32_t>;
    return {};
  }
  error compute(kernel_context& ctx) const { return impl_(ctx, axis_); }

 private:
  int64_t axis_ = 0;
  error (*impl_)(kernel_context&, int64_t) = nullptr;
};

// ---------------------------------------------------------------------------------------
// sparse_segment_mean_grad: rows of g divided by their segment's size.

template <class T, class G>
error sparse_segment_mean_grad_impl(kernel_context& ctx) {
  const tensor& g = ctx.input(0);
  const tensor& ids = ctx.input(1);
  TROUPE_REQUIRE(g.rank() >= 1, "g must have rank >= 1, got a scalar");
  TROUPE_REQUIRE(ids.rank() == 1, "segment_ids must be a vector, got shape ",
                 ids.shape().to_string());
  const int64_t segments = g.dim(0), n = ids.dim(0);
  const int64_t width = product(g.shape().dims(), 1, g.rank());
  const G* seg = ids.data<G>();
  std::vector<int64_t> count(size_t(segments), 0);
  for (int64_t i = 0; i < n; ++i) {
    TROUPE_REQUIRE(seg[i] >= 0 && int64_t(seg[i]) < segments, "segment_ids[", i, "] = ",
                   int64_t(seg[i]), " is out of range: g ", g.shape().to_string(), " has ",
                   segments, " segments");
    ++count[size_t(seg[i])];
  }
  tensor_shape out_shape = g.shape();
  out_shape.set_dim(0, n);
  tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
  if (y.num_elements() == 0) return {};
  const T* in = g.data<T>();
  T* out = y.data<T>();
  ctx.parallel_for(n, 8 + width, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t s = int64_t(seg[i]);
      array_map<T>(out + i * width, width) =
          const_array_map<T>(in + s * width, width) / T(count[size_t(s)]);
    }
  });
  return {};
}

template <class T>
class sparse_segment_mean_grad_kernel {
 public:
  error init(const kernel_construction& c) {
    impl_ = c.input_type(1) == dtype::int64 ? &sparse_segment_mean_grad_impl<T, int64_t>
                                            : &sparse_segment_mean_grad_impl<T, int32_t>;
    return {};
  }
  error compute(kernel_context& ctx) const { return impl_(ctx); }

 private:
  error (*impl_)(kernel_context&) = nullptr;
};

}  // namespace

void register_grad_kernels(kernel_registry& reg) {
  constexpr auto cpu = device_kind::cpu;
  reg.add_for<zeros_like_kernel, float, double, int32_t, int64_t, bool, std::string>("zeros_like",
                                                                                    cpu);
  reg.add_for<ones_like_kernel, float, double, int32_t, int64_t>("ones_like", cpu);
  reg.add_for<sum_to_like_kernel, float, double, int32_t, int64_t>("sum_to_like", cpu);
  reg.add_for<broadcast_like_kernel, float, double, int32_t, int64_t>("broadcast_like", cpu);
  reg.add_for<reduction_grad_kernel, float, double, int32_t, int64_t>("reduction_grad", cpu);
  reg.add_for<reshape_like_kernel, float, double, int32_t, int64_t>("reshape_like", cpu);
  reg.add_for<slice_grad_kernel, float, double, int32_t, int64_t>("slice_grad", cpu);
  reg.add_for<split_like_kernel, float, double, int32_t, int64_t>("split_like", cpu);
  reg.add_for<scatter_add_like_kernel, float, double, int32_t, int64_t>("scatter_add_like", cpu);
  reg.add_for<sparse_segment_mean_grad_kernel, float, double>("sparse_segment_mean_grad", cpu);
}

}  // namespace troupe
