// CPU kernels of the array ops (runtime/ops/array_ops.hpp): data movement, gather, the
// sparse segment reductions and one_hot. The random ops are in random_kernels.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_kernels.hpp"

namespace troupe {


namespace {

// Data movement does not care whether 4 bytes are a float or an int32: the kernels of
// those dtypes share one instantiation, over these storage types.
template <class T> struct storage { using type = T; };
template <> struct storage<float> { using type = uint32_t; };
template <> struct storage<int32_t> { using type = uint32_t; };
template <> struct storage<double> { using type = uint64_t; };
template <> struct storage<int64_t> { using type = uint64_t; };
template <> struct storage<bool> { using type = uint8_t; };
template <class T>
using storage_t = typename storage<T>::type;

template <class S>
S* elements(const tensor& t) { return static_cast<S*>(t.raw_data()); }

template <class S>
void copy_n(const S* src, int64_t n, S* dst) {
  if constexpr (std::is_trivially_copyable_v<S>) {
    if (n > 0) std::memcpy(dst, src, size_t(n) * sizeof(S));
  } else {
    std::copy(src, src + n, dst);
  }
}

// Approximate cycles to copy n elements, for parallel_for.
template <class S>
int64_t copy_cost(int64_t n) {
  if constexpr (std::is_trivially_copyable_v<S>) return 8 + n * int64_t(sizeof(S)) / 4;
  else return 8 + 40 * n;
}

// A tensor of shape `s` over the elements of `t` from `offset` on: no copy, t's buffer is
// kept alive by the view. Not for strings.
tensor view_of(const tensor& t, int64_t offset, const tensor_shape& s) {
  char* p = static_cast<char*>(t.raw_data()) + size_t(offset) * dtype_size(t.dtype());
  return tensor::wrap(t.dtype(), s, p, std::make_shared<const tensor>(t));
}

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

expected<int> normalize_axis(int64_t axis, const tensor& t, std::string_view what) {
  int rank = t.rank();
  TROUPE_REQUIRE(axis >= -rank && axis < rank, "axis ", axis, " is out of range for ", what,
                 " of shape ", t.shape().to_string(), ": expected ", -rank, " <= axis < ", rank);
  return int(axis < 0 ? axis + rank : axis);
}

// ---------------------------------------------------------------------------------------
// reshape: a view of the input's buffer.

class reshape_kernel {
 public:
  error init(const kernel_construction& c) {
    const auto& dims = c.attr<std::vector<int64_t>>("shape");
    rank_ = int(dims.size());  // the shape function checked rank, -1s and overflow
    for (int i = 0; i < rank_; ++i) {
      dims_[size_t(i)] = dims[size_t(i)];
      if (dims_[size_t(i)] == -1) infer_ = i;
      else known_ *= dims_[size_t(i)];
    }
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    int64_t n = x.num_elements();
    std::array<int64_t, max_rank> dims = dims_;
    if (infer_ >= 0) {
      TROUPE_REQUIRE(known_ > 0 && n % known_ == 0, "cannot reshape a tensor of shape ",
                     x.shape().to_string(), " (", n, " elements) into shape ",
                     list_string({dims_.data(), size_t(rank_)}), ": ", n,
                     " is not a multiple of ", known_);
      dims[size_t(infer_)] = n / known_;
    } else {
      TROUPE_REQUIRE(known_ == n, "cannot reshape a tensor of shape ", x.shape().to_string(),
                     " (", n, " elements) into shape ",
                     list_string({dims_.data(), size_t(rank_)}), " (", known_, " elements)");
    }
    ctx.set_output(0, TROUPE_TRY(x.reshaped(tensor_shape({dims.data(), size_t(rank_)}))));
    return {};
  }

 private:
  std::array<int64_t, max_rank> dims_{};
  int rank_ = 0;
  int infer_ = -1;
  int64_t known_ = 1;
};

// ---------------------------------------------------------------------------------------
// transpose

// out[x * ld_out + y] = in[y * ld_in + x] for the tile x, y in [0, n), n = simd_tile<S>:
// an in-register transpose of 16 x 16 32-bit or 8 x 8 64-bit elements.
#if defined(__AVX512F__)
template <class S>
constexpr int simd_tile = sizeof(S) == 4 && std::is_trivially_copyable_v<S>   ? 16
                          : sizeof(S) == 8 && std::is_trivially_copyable_v<S> ? 8
                                                                              : 0;

inline void transpose_tile(const uint32_t* in, int64_t ld_in, uint32_t* out, int64_t ld_out) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(in + i * ld_in);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + 4 + j], 0x88);
      t[i + 4 + j] = _mm512_shuffle_i32x4(r[i + j], r[i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_si512(out + i * ld_out, r[i]);
}

inline void transpose_tile(const uint64_t* in, int64_t ld_in, uint64_t* out, int64_t ld_out) {
  __m512i r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_si512(in + i * ld_in);
  for (int i = 0; i < 8; i += 2) {  // t[i]: even columns of rows i, i+1; t[i+1]: odd ones
    t[i] = _mm512_unpacklo_epi64(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi64(r[i], r[i + 1]);
  }
  for (int h = 0; h < 8; h += 4)  // 128-bit lanes of rows h..h+3
    for (int j = 0; j < 2; ++j) {
      r[h + j] = _mm512_shuffle_i64x2(t[h + j], t[h + 2 + j], 0x88);
      r[h + 2 + j] = _mm512_shuffle_i64x2(t[h + j], t[h + 2 + j], 0xdd);
    }
  // r[0]: columns 0, 4 of rows 0-3; r[1]: 1, 5; r[2]: 2, 6; r[3]: 3, 7; r[4..7] rows 4-7.
  for (int j = 0; j < 4; ++j) {
    _mm512_storeu_si512(out + j * ld_out, _mm512_shuffle_i64x2(r[j], r[4 + j], 0x88));
    _mm512_storeu_si512(out + (j + 4) * ld_out, _mm512_shuffle_i64x2(r[j], r[4 + j], 0xdd));
  }
}
#else
template <class S>
constexpr int simd_tile = 0;
#endif

// Rows of the output (x) handled per unit of parallel work, and the square blocks the
// 2-D transpose walks: small enough that a block's input and output rows stay in L2
// and its pages in the TLB, whatever the row length (powers of two are the worst case).
constexpr int64_t transpose_block = 128;

// out[x * ld_out + y] = in[y * ld_in + x] for x in [x0, x1), y in [0, ny).
template <class S>
void transpose_2d(const S* in, int64_t ld_in, S* out, int64_t ld_out, int64_t x0, int64_t x1,
                  int64_t ny) {
  auto plain = [&](int64_t xa, int64_t xb, int64_t ya, int64_t yb) {
    for (int64_t x = xa; x < xb; ++x) {
      S* dst = out + x * ld_out;
      const S* src = in + x;
      for (int64_t y = ya; y < yb; ++y) dst[y] = src[y * ld_in];
    }
  };
  constexpr int64_t t = simd_tile<S>;
  for (int64_t y0 = 0; y0 < ny; y0 += transpose_block) {
    const int64_t y1 = std::min(ny, y0 + transpose_block);
    if constexpr (t > 0) {
      const int64_t xt = x0 + (x1 - x0) / t * t, yt = y0 + (y1 - y0) / t * t;
      for (int64_t x = x0; x < xt; x += t)
        for (int64_t y = y0; y < yt; y += t)
          transpose_tile(in + y * ld_in + x, ld_in, out + x * ld_out + y, ld_out);
      plain(x0, xt, yt, y1);
      plain(xt, x1, y0, y1);
    } else {
      for (int64_t xs = x0; xs < x1; xs += 32)
        for (int64_t ys = y0; ys < y1; ys += 32)
          plain(xs, std::min(x1, xs + 32), ys, std::min(y1, ys + 32));
    }
  }
}

// Transposes after dropping size-1 dimensions and merging input dimensions that stay
// adjacent: what is left is either a copy of contiguous rows (the input's last axis
// stays last) or a 2-D tiled transpose between the output's last axis and the axis
// holding the input's last one, repeated over the other axes.
template <class S>
void transpose_impl(kernel_context& ctx, const S* in, S* out, int k, const int64_t* in_dims,
                    const int* perm) {
  std::array<int64_t, max_rank> in_stride{}, out_dims{}, out_stride{};
  int64_t total = 1;
  for (int i = k - 1; i >= 0; --i) {
    in_stride[size_t(i)] = total;
    total *= in_dims[i];
  }
  for (int i = 0; i < k; ++i) out_dims[size_t(i)] = in_dims[perm[i]];
  for (int64_t i = k - 1, s = 1; i >= 0; --i) {
    out_stride[size_t(i)] = s;
    s *= out_dims[size_t(i)];
  }
  const int last = k - 1;
  int q = 0;  // the output axis holding the input's last axis
  while (perm[q] != last) ++q;

  if (q == last) {
    // Rows of the input's last axis stay contiguous: copy them.
    const int64_t row = out_dims[size_t(last)];
    const int64_t rows = total / row;
    ctx.parallel_for(rows, copy_cost<S>(row) + 4 * k, [&](int64_t b, int64_t e) {
      std::array<int64_t, max_rank> idx{};
      int64_t off = 0;
      for (int64_t i = last - 1, rem = b; i >= 0; --i) {
        idx[size_t(i)] = rem % out_dims[size_t(i)];
        rem /= out_dims[size_t(i)];
        off += idx[size_t(i)] * in_stride[size_t(perm[i])];
      }
      for (int64_t r = b; r < e; ++r) {
        copy_n(in + off, row, out + r * row);
        for (int i = last - 1; i >= 0; --i) {  // next row
          off += in_stride[size_t(perm[i])];
          if (++idx[size_t(i)] < out_dims[size_t(i)]) break;
          off -= out_dims[size_t(i)] * in_stride[size_t(perm[i])];
          idx[size_t(i)] = 0;
        }
      }
    });
    return;
  }

  // out[.., x (axis q), .., y (last axis)] = in[.., y (axis perm[last]), .., x (last axis)]
  const int64_t nx = out_dims[size_t(q)], ny = out_dims[size_t(last)];
  const int64_t ld_in = in_stride[size_t(perm[last])];  // input step of y
  const int64_t ld_out = out_stride[size_t(q)];         // output step of x
  std::array<int, max_rank> outer{};                    // the other output axes
  int num_outer = 0;
  for (int i = 0; i < last; ++i)
    if (i != q) outer[size_t(num_outer++)] = i;
  const int64_t blocks_x = (nx + transpose_block - 1) / transpose_block;
  const int64_t units = total / (nx * ny) * blocks_x;
  ctx.parallel_for(units, copy_cost<S>(transpose_block * ny) * 2, [&](int64_t b, int64_t e) {
    int64_t cur = -1, in_base = 0, out_base = 0;
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / blocks_x, x0 = (u % blocks_x) * transpose_block;
      if (o != cur) {
        cur = o;
        in_base = out_base = 0;
        for (int j = num_outer - 1; j >= 0; --j) {
          int a = outer[size_t(j)];
          int64_t i = o % out_dims[size_t(a)];
          o /= out_dims[size_t(a)];
          in_base += i * in_stride[size_t(perm[a])];
          out_base += i * out_stride[size_t(a)];
        }
      }
      transpose_2d(in + in_base, ld_in, out + out_base, ld_out, x0,
                   std::min(nx, x0 + transpose_block), ny);
    }
  });
}

template <class T>
class transpose_kernel {
 public:
  using S = storage_t<T>;

  error init(const kernel_construction& c) {
    const auto& perm = c.attr<std::vector<int64_t>>("perm");  // validated by the shape fn
    rank_ = int(perm.size());
    for (int i = 0; i < rank_; ++i) perm_[size_t(i)] = int(perm[size_t(i)]);
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    TROUPE_REQUIRE(x.rank() == rank_, "perm ",
                   list_string(std::vector<int64_t>(perm_.begin(), perm_.begin() + rank_)),
                   " has ", rank_, " entries but the input has rank ", x.rank(), " (shape ",
                   x.shape().to_string(), ")");
    tensor_shape out_shape = x.shape();
    for (int i = 0; i < rank_; ++i) out_shape.set_dim(i, x.dim(perm_[size_t(i)]));

    // Drop size-1 dimensions, then merge runs of input axes that stay adjacent.
    std::array<int, max_rank> renum{};
    std::array<int64_t, max_rank> dims{};
    int r = 0;
    for (int a = 0; a < rank_; ++a) {
      renum[size_t(a)] = x.dim(a) == 1 ? -1 : r;
      if (x.dim(a) != 1) dims[size_t(r++)] = x.dim(a);
    }
    std::array<int, max_rank> start{}, len{};  // groups of input axes, in output order
    int k = 0;
    for (int i = 0; i < rank_; ++i) {
      int a = renum[size_t(perm_[size_t(i)])];
      if (a < 0) continue;
      if (k > 0 && a == start[size_t(k - 1)] + len[size_t(k - 1)]) {
        ++len[size_t(k - 1)];
      } else {
        start[size_t(k)] = a;
        len[size_t(k)] = 1;
        ++k;
      }
    }
    if (k <= 1 || x.num_elements() == 0) {
      // The order of the elements does not change (or there are none).
      if (x.num_elements() != 0) ctx.set_output(0, TROUPE_TRY(x.reshaped(out_shape)));
      else TROUPE_TRY(ctx.allocate_output(0, out_shape));
      return {};
    }
    // Number the groups in input order.
    std::array<int, max_rank> perm{};
    std::array<int64_t, max_rank> group_dims{};
    for (int g = 0; g < k; ++g) {
      int pos = 0;
      for (int h = 0; h < k; ++h) pos += start[size_t(h)] < start[size_t(g)];
      perm[size_t(g)] = pos;
      group_dims[size_t(pos)] = product(dims, start[size_t(g)], start[size_t(g)] + len[size_t(g)]);
    }
    tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
    transpose_impl<S>(ctx, elements<const S>(x), elements<S>(y), k, group_dims.data(),
                      perm.data());
    return {};
  }

 private:
  std::array<int, max_rank> perm_{};
  int rank_ = 0;
};

// ---------------------------------------------------------------------------------------
// concat and split

template <class T>
class concat_kernel {
 public:
  using S = storage_t<T>;

  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const int n = ctx.num_inputs();
    const tensor& x0 = ctx.input(0);
    if (n == 1) {
      ctx.set_output(0, x0);
      return {};
    }
    TROUPE_REQUIRE(x0.rank() >= 1, "cannot concatenate scalars: values[0] has shape ",
                   x0.shape().to_string());
    int axis = TROUPE_TRY(normalize_axis(axis_, x0, "values[0]"));
    tensor_shape out_shape = x0.shape();
    int64_t axis_size = 0;
    for (int i = 0; i < n; ++i) {
      const tensor& x = ctx.input(i);
      bool same = x.rank() == x0.rank();
      for (int d = 0; same && d < x0.rank(); ++d) same = d == axis || x.dim(d) == x0.dim(d);
      TROUPE_REQUIRE(same, "inputs must agree in every dimension but the concat axis ", axis,
                     ": values[0] is ", x0.shape().to_string(), ", values[", i, "] is ",
                     x.shape().to_string());
      axis_size += x.dim(axis);
    }
    out_shape.set_dim(axis, axis_size);
    tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
    if (y.num_elements() == 0) return {};

    const int64_t outer = product(x0.shape().dims(), 0, axis);
    const int64_t inner = product(x0.shape().dims(), axis + 1, x0.rank());
    const int64_t row = axis_size * inner;
    std::vector<const S*> src(static_cast<size_t>(n));
    std::vector<int64_t> width(static_cast<size_t>(n)), offset(static_cast<size_t>(n));
    for (int64_t i = 0, off = 0; i < n; ++i) {
      src[size_t(i)] = elements<const S>(ctx.input(int(i)));
      width[size_t(i)] = ctx.input(int(i)).dim(axis) * inner;
      offset[size_t(i)] = off;
      off += width[size_t(i)];
    }
    S* out = elements<S>(y);
    ctx.parallel_for(outer * n, copy_cost<S>(row / n), [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        int64_t o = u / n;
        size_t i = size_t(u % n);
        copy_n(src[i] + o * width[i], width[i], out + o * row + offset[i]);
      }
    });
    return {};
  }

 private:
  int64_t axis_ = 0;
};

template <class T>
class split_kernel {
 public:
  using S = storage_t<T>;

  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    num_split_ = c.attr<int64_t>("num_split");  // >= 1: checked by the shape fn
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    if (num_split_ == 1) {
      ctx.set_output(0, x);
      return {};
    }
    TROUPE_REQUIRE(x.rank() >= 1, "cannot split a scalar");
    int axis = TROUPE_TRY(normalize_axis(axis_, x, "the input"));
    int64_t d = x.dim(axis);
    TROUPE_REQUIRE(d % num_split_ == 0, "dimension ", axis, " of the input ",
                   x.shape().to_string(), " has size ", d, ", which is not divisible by num_split ",
                   num_split_);
    tensor_shape piece = x.shape();
    piece.set_dim(axis, d / num_split_);
    const int64_t outer = product(x.shape().dims(), 0, axis);
    const int64_t width = piece.num_elements() / std::max<int64_t>(outer, 1);
    if (outer == 1 && width > 0 && !std::is_same_v<T, std::string>) {
      // Each piece is a contiguous range of the input: views, no copy.
      for (int64_t i = 0; i < num_split_; ++i) ctx.set_output(int(i), view_of(x, i * width, piece));
      return {};
    }
    std::vector<S*> dst(static_cast<size_t>(num_split_));
    for (int64_t i = 0; i < num_split_; ++i)
      dst[size_t(i)] = elements<S>(TROUPE_TRY(ctx.allocate_output(int(i), piece)));
    if (piece.num_elements() == 0) return {};
    const S* in = elements<const S>(x);
    const int64_t n = num_split_;
    ctx.parallel_for(outer * n, copy_cost<S>(width), [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        int64_t o = u / n, i = u % n;
        copy_n(in + (o * n + i) * width, width, dst[size_t(i)] + o * width);
      }
    });
    return {};
  }

 private:
  int64_t axis_ = 0;
  int64_t num_split_ = 1;
};

// ---------------------------------------------------------------------------------------
// slice

template <class T>
class slice_kernel {
 public:
  using S = storage_t<T>;

  error init(const kernel_construction& c) {
    begin_ = c.attr<std::vector<int64_t>>("begin");
    size_ = c.attr<std::vector<int64_t>>("size");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const int rank = x.rank();
    auto where = [&] {
      return str_cat("begin ", list_string(begin_), ", size ", list_string(size_),
                     ", input shape ", x.shape().to_string());
    };
    TROUPE_REQUIRE(int(begin_.size()) == rank,
                   "begin and size must have one entry per input dimension: ", where());
    tensor_shape out_shape = x.shape();
    for (int i = 0; i < rank; ++i) {
      int64_t b = begin_[size_t(i)], sz = size_[size_t(i)], d = x.dim(i);
      TROUPE_REQUIRE(b <= d, "begin[", i, "] = ", b, " is past the end of dimension ", i, ": ",
                     where());
      if (sz == -1) sz = d - b;
      TROUPE_REQUIRE(b + sz <= d, "begin[", i, "] + size[", i, "] = ", b + sz,
                     " exceeds dimension ", i, " (", d, "): ", where());
      out_shape.set_dim(i, sz);
    }
    if (out_shape == x.shape()) {
      ctx.set_output(0, x);
      return {};
    }
    const int64_t total = out_shape.num_elements();
    // Trailing dimensions taken whole merge into contiguous rows of `row` elements.
    int j = rank - 1;
    int64_t row = 1;
    while (j >= 0 && out_shape[j] == x.dim(j)) row *= x.dim(j--);
    // j >= 0 here (the slice is not the whole input).
    row *= out_shape[j];
    std::array<int64_t, max_rank> stride{};
    for (int64_t i = rank - 1, s = 1; i >= 0; --i) {
      stride[size_t(i)] = s;
      s *= x.dim(int(i));
    }
    int64_t base = 0;
    for (int i = 0; i < rank; ++i) base += begin_[size_t(i)] * stride[size_t(i)];
    const int64_t rows = total == 0 ? 0 : total / row;
    if (rows == 1 && !std::is_same_v<T, std::string>) {
      ctx.set_output(0, view_of(x, base, out_shape));  // one contiguous range: no copy
      return {};
    }
    tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
    const S* in = elements<const S>(x);
    S* out = elements<S>(y);
    ctx.parallel_for(rows, copy_cost<S>(row) + 2 * j, [&](int64_t b, int64_t e) {
      std::array<int64_t, max_rank> idx{};
      int64_t off = base;
      for (int64_t i = j - 1, rem = b; i >= 0; --i) {
        idx[size_t(i)] = rem % out_shape[int(i)];
        rem /= out_shape[int(i)];
        off += idx[size_t(i)] * stride[size_t(i)];
      }
      for (int64_t r = b; r < e; ++r) {
        copy_n(in + off, row, out + r * row);
        for (int i = j - 1; i >= 0; --i) {
          off += stride[size_t(i)];
          if (++idx[size_t(i)] < out_shape[i]) break;
          off -= out_shape[i] * stride[size_t(i)];
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
// gather

// How many rows ahead gather and the sparse segment reductions prefetch.
constexpr int64_t prefetch_rows = 8;

// "indices[1,2]" for flat position `pos` of a tensor of shape `s` ("indices[3]" for a
// vector, "indices" for a scalar).
std::string position_string(std::string_view name, const tensor_shape& s, int64_t pos) {
  if (s.rank() == 0) return std::string(name);
  std::array<int64_t, max_rank> idx{};
  for (int i = s.rank() - 1; i >= 0; --i) {
    idx[size_t(i)] = pos % std::max<int64_t>(s[i], 1);
    pos /= std::max<int64_t>(s[i], 1);
  }
  std::string out = str_cat(name, "[");
  for (int i = 0; i < s.rank(); ++i) out += str_cat(i ? "," : "", idx[size_t(i)]);
  return out + "]";
}

template <class I>
error check_indices(const tensor& indices, int64_t limit, std::string_view name,
                    std::string_view what) {
  const I* idx = indices.data<I>();
  const int64_t n = indices.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    if (uint64_t(idx[i]) >= uint64_t(limit)) [[unlikely]]
      return make_error(errc::invalid_argument, position_string(name, indices.shape(), i), " = ",
                        int64_t(idx[i]), " is out of range: valid indices are in [0, ", limit,
                        ") for ", what);
  }
  return {};
}

template <class S, class I>
error gather_impl(kernel_context& ctx, int64_t axis_attr) {
  const tensor& params = ctx.input(0);
  const tensor& indices = ctx.input(1);
  TROUPE_REQUIRE(params.rank() >= 1, "params must have rank >= 1, got shape ",
                 params.shape().to_string());
  int axis = TROUPE_TRY(normalize_axis(axis_attr, params, "params"));
  const int64_t outer = product(params.shape().dims(), 0, axis);
  const int64_t limit = params.dim(axis);
  const int64_t inner = product(params.shape().dims(), axis + 1, params.rank());
  const int64_t m = indices.num_elements();
  std::vector<int64_t> dims;
  for (int i = 0; i < axis; ++i) dims.push_back(params.dim(i));
  for (int64_t d : indices.shape().dims()) dims.push_back(d);
  for (int i = axis + 1; i < params.rank(); ++i) dims.push_back(params.dim(i));
  tensor_shape out_shape = TROUPE_TRY(tensor_shape::make(dims));
  TROUPE_TRY(check_indices<I>(indices, limit, "indices",
                              str_cat("params of shape ", params.shape().to_string(), " along axis ",
                                      axis)));
  tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
  if (y.num_elements() == 0) return {};
  const S* in = elements<const S>(params);
  const I* idx = indices.data<I>();
  S* out = elements<S>(y);
  if (inner == 1) {
    ctx.parallel_for(outer, copy_cost<S>(m) + m, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const S* src = in + o * limit;
        S* dst = out + o * m;
        for (int64_t i = 0; i < m; ++i) dst[i] = src[idx[i]];
      }
    });
    return {};
  }
  // Rows are scattered over params (embedding lookups): prefetch a few rows ahead.
  const int64_t row_bytes = inner * int64_t(sizeof(S));
  auto row = [&](int64_t u) { return in + ((u / m) * limit + int64_t(idx[u % m])) * inner; };
  ctx.parallel_for(outer * m, copy_cost<S>(inner) + 8, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      if (u + prefetch_rows < e && std::is_trivially_copyable_v<S>) {
        const char* r = reinterpret_cast<const char*>(row(u + prefetch_rows));
        for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(r + off);
      }
      copy_n(row(u), inner, out + u * inner);
    }
  });
  return {};
}

template <class T>
class gather_kernel {
 public:
  error init(const kernel_construction& c) {
    axis_ = c.attr<int64_t>("axis");
    impl_ = c.input_type(1) == dtype::int64 ? &gather_impl<storage_t<T>, int64_t>
                                            : &gather_impl<storage_t<T>, int32_t>;
    return {};
  }
  error compute(kernel_context& ctx) const { return impl_(ctx, axis_); }

 private:
  int64_t axis_ = 0;
  error (*impl_)(kernel_context&, int64_t) = nullptr;
};

// ---------------------------------------------------------------------------------------
// sparse_segment_sum / sparse_segment_mean

template <class T, bool Mean, class I, class G>
error sparse_segment_impl(kernel_context& ctx, int64_t num_segments) {
  const tensor& data = ctx.input(0);
  const tensor& indices = ctx.input(1);
  const tensor& ids = ctx.input(2);
  TROUPE_REQUIRE(data.rank() >= 1, "data must have rank >= 1, got shape ",
                 data.shape().to_string());
  TROUPE_REQUIRE(indices.rank() == 1 && ids.rank() == 1 && indices.dim(0) == ids.dim(0),
                 "indices and segment_ids must be vectors of one length: indices is ",
                 indices.shape().to_string(), ", segment_ids is ", ids.shape().to_string());
  const int64_t rows = data.dim(0);
  const int64_t width = product(data.shape().dims(), 1, data.rank());
  const int64_t n = indices.dim(0);
  TROUPE_TRY(check_indices<I>(indices, rows,
                              "indices", str_cat("data of shape ", data.shape().to_string())));
  const I* idx = indices.data<I>();
  const G* seg = ids.data<G>();
  for (int64_t i = 0; i < n; ++i) {
    TROUPE_REQUIRE(seg[i] >= 0, "segment_ids[", i, "] = ", int64_t(seg[i]), " is negative");
    TROUPE_REQUIRE(i == 0 || seg[i] >= seg[i - 1],
                   "segment_ids must be sorted ascending: segment_ids[", i, "] = ",
                   int64_t(seg[i]), " is less than segment_ids[", i - 1, "] = ",
                   int64_t(seg[i > 0 ? i - 1 : 0]));
  }
  const int64_t last = n > 0 ? int64_t(seg[n - 1]) : -1;
  TROUPE_REQUIRE(num_segments < 0 || last < num_segments, "segment_ids[", n - 1, "] = ", last,
                 " is out of range: num_segments is ", num_segments);
  const int64_t num_out = num_segments >= 0 ? num_segments : last + 1;
  tensor_shape out_shape = data.shape();
  out_shape.set_dim(0, num_out);
  tensor y = TROUPE_TRY(ctx.allocate_output(0, out_shape));
  if (num_out == 0 || width == 0) return {};

  // start[s]: the first position of segment s (positions are sorted by segment).
  std::vector<int64_t> start(size_t(num_out) + 1);
  for (int64_t s = 0, p = 0; s <= num_out; ++s) {
    while (p < n && int64_t(seg[p]) < s) ++p;
    start[size_t(s)] = p;
  }
  using row_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  using const_row_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
  const T* in = data.data<T>();
  T* out = y.data<T>();
  auto row = [&](int64_t p) { return const_row_map(in + int64_t(idx[p]) * width, width); };
  const int64_t cost = (n / num_out + 1) * width + 10;
  // The rows are scattered over data: prefetch the ones a few positions ahead (this
  // chunk's positions are start[b] .. start[e], in order).
  const int64_t row_bytes = width * int64_t(sizeof(T));
  ctx.parallel_for(num_out, cost, [&](int64_t b, int64_t e) {
    const int64_t last_pos = start[size_t(e)];
    int64_t ahead = start[size_t(b)];
    auto prefetch_until = [&](int64_t p) {
      for (p = std::min(p, last_pos); ahead < p; ++ahead) {
        const char* r = reinterpret_cast<const char*>(in + int64_t(idx[ahead]) * width);
        for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(r + off);
      }
    };
    for (int64_t s = b; s < e; ++s) {
      row_map acc(out + s * width, width);
      int64_t p = start[size_t(s)], end = start[size_t(s) + 1];
      if (p == end) {
        acc.setZero();
        continue;
      }
      const int64_t count = end - p;
      prefetch_until(p + prefetch_rows);
      acc = row(p++);
      for (; p + 4 <= end; p += 4) {
        prefetch_until(p + 4 + prefetch_rows);
        acc += (row(p) + row(p + 1)) + (row(p + 2) + row(p + 3));
      }
      for (; p < end; ++p) acc += row(p);
      if constexpr (Mean) acc /= T(count);
    }
  });
  return {};
}

template <class T, bool Mean>
class sparse_segment_kernel {
 public:
  error init(const kernel_construction& c) {
    num_segments_ = c.attr<int64_t>("num_segments");
    bool i64 = c.input_type(1) == dtype::int64, g64 = c.input_type(2) == dtype::int64;
    impl_ = i64 ? (g64 ? &sparse_segment_impl<T, Mean, int64_t, int64_t>
                       : &sparse_segment_impl<T, Mean, int64_t, int32_t>)
                : (g64 ? &sparse_segment_impl<T, Mean, int32_t, int64_t>
                       : &sparse_segment_impl<T, Mean, int32_t, int32_t>);
    return {};
  }
  error compute(kernel_context& ctx) const { return impl_(ctx, num_segments_); }

 private:
  int64_t num_segments_ = -1;
  error (*impl_)(kernel_context&, int64_t) = nullptr;
};
template <class T>
using sparse_segment_sum_kernel = sparse_segment_kernel<T, false>;
template <class T>
using sparse_segment_mean_kernel = sparse_segment_kernel<T, true>;

// ---------------------------------------------------------------------------------------
// one_hot

struct one_hot_attrs {
  int64_t depth = 0;
  double on = 1, off = 0;
  int64_t axis = -1;
};

template <class I, class T>
error one_hot_impl(kernel_context& ctx, const one_hot_attrs& a) {
  const tensor& indices = ctx.input(0);
  const int rank = indices.rank();
  TROUPE_REQUIRE(a.axis <= rank, "axis must be -1 or in [0, ", rank, "] for indices of shape ",
                 indices.shape().to_string(), ", got ", a.axis);
  const int pos = a.axis < 0 ? rank : int(a.axis);
  std::vector<int64_t> dims = indices.shape().to_vector();
  dims.insert(dims.begin() + pos, a.depth);
  tensor y = TROUPE_TRY(ctx.allocate_output(0, TROUPE_TRY(tensor_shape::make(dims))));
  if (y.num_elements() == 0) return {};
  const int64_t outer = product(indices.shape().dims(), 0, pos);
  const int64_t inner = product(indices.shape().dims(), pos, rank);
  const int64_t block = a.depth * inner;
  const I* idx = indices.data<I>();
  T* out = y.data<T>();
  const T on = T(a.on), off = T(a.off);
  const int64_t depth = a.depth;
  ctx.parallel_for(outer, block + inner * 2, [&](int64_t b, int64_t e) {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out + b * block, (e - b) * block).setConstant(off);
    for (int64_t o = b; o < e; ++o) {
      T* dst = out + o * block;
      const I* src = idx + o * inner;
      for (int64_t i = 0; i < inner; ++i)
        if (uint64_t(src[i]) < uint64_t(depth)) dst[int64_t(src[i]) * inner + i] = on;
    }
  });
  return {};
}

// Keyed by the indices' dtype (TI, the signature's first type attribute); the output
// dtype is dispatched on once, here.
template <class I>
class one_hot_kernel {
 public:
  error init(const kernel_construction& c) {
    attrs_ = {.depth = c.attr<int64_t>("depth"),
              .on = c.attr<double>("on_value"),
              .off = c.attr<double>("off_value"),
              .axis = c.attr<int64_t>("axis")};
    switch (c.attr<dtype>("dtype")) {
      case dtype::float32: impl_ = &one_hot_impl<I, float>; break;
      case dtype::float64: impl_ = &one_hot_impl<I, double>; break;
      case dtype::int32: impl_ = &one_hot_impl<I, int32_t>; break;
      case dtype::int64: impl_ = &one_hot_impl<I, int64_t>; break;
      default:
        return make_error(errc::unimplemented, "one_hot: no kernel for dtype ",
                          dtype_name(c.attr<dtype>("dtype")));
    }
    return {};
  }
  error compute(kernel_context& ctx) const { return impl_(ctx, attrs_); }

 private:
  one_hot_attrs attrs_;
  error (*impl_)(kernel_context&, const one_hot_attrs&) = nullptr;
};

}  // namespace

void register_array_kernels(kernel_registry& reg) {
  constexpr device_kind cpu = device_kind::cpu;
  reg.add_any<reshape_kernel>("reshape", cpu);
  reg.add_for<transpose_kernel, float, double, int32_t, int64_t, bool, std::string>("transpose", cpu);
  reg.add_for<concat_kernel, float, double, int32_t, int64_t, bool, std::string>("concat", cpu);
  reg.add_for<split_kernel, float, double, int32_t, int64_t, bool, std::string>("split", cpu);
  reg.add_for<slice_kernel, float, double, int32_t, int64_t, bool, std::string>("slice", cpu);
  reg.add_for<gather_kernel, float, double, int32_t, int64_t, bool, std::string>("gather", cpu);
  reg.add_for<sparse_segment_sum_kernel, float, double>("sparse_segment_sum", cpu);
  reg.add_for<sparse_segment_mean_kernel, float, double>("sparse_segment_mean", cpu);
  reg.add_for<one_hot_kernel, int32_t, int64_t>("one_hot", cpu);
  register_random_kernels(reg);
}

}  // namespace troupe
