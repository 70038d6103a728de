#include "runtime/ops/grad_ops.hpp"

#include <string>

#include "runtime/ops/math_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// "[1,2]".
std::string list_string(std::span<const int64_t> v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += str_cat(i ? "," : "", v[i]);
  return out + "]";
}

// True if a dimension known in part may equal `d` (-1 = unknown matches anything).
bool dim_compatible(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

// sum_to_like(x, like): x must be a broadcast of like; the result has like's shape.
error sum_to_like_shape(shape_context& c) {
  const partial_shape& x = c.input(0);
  const partial_shape& like = c.input(1);
  if (x.rank_known() && like.rank_known()) {
    auto mismatch = [&] {
      return make_error(errc::invalid_argument, "x ", x.to_string(),
                        " is not a broadcast of like ", like.to_string(),
                        ": it cannot be summed to like's shape");
    };
    if (like.rank() > x.rank()) return mismatch();
    const int off = x.rank() - like.rank();
    for (int i = 0; i < like.rank(); ++i) {
      int64_t l = like[i], d = x[i + off];
      if (l >= 0 && d >= 0 && l != 1 && l != d) return mismatch();
    }
  }
  c.set_output(0, like);
  return {};
}

// broadcast_like(x, like): x must broadcast to like's shape, which is the result's.
error broadcast_like_shape(shape_context& c) {
  const partial_shape& x = c.input(0);
  const partial_shape& like = c.input(1);
  if (x.rank_known() && like.rank_known()) {
    auto mismatch = [&] {
      return make_error(errc::invalid_argument, "x ", x.to_string(),
                        " cannot be broadcast to like's shape ", like.to_string());
    };
    if (x.rank() > like.rank()) return mismatch();
    const int off = like.rank() - x.rank();
    for (int i = 0; i < x.rank(); ++i) {
      int64_t d = x[i], l = like[i + off];
      if (d >= 0 && l >= 0 && d != 1 && d != l) return mismatch();
    }
  }
  c.set_output(0, like);
  return {};
}

// reduction_grad(g, like): g must be what a reduction of like over axes gives.
error reduction_grad_shape(shape_context& c) {
  const partial_shape& g = c.input(0);
  const partial_shape& like = c.input(1);
  const auto& axes = c.attr<std::vector<int64_t>>("axes");
  const bool keep_dims = c.attr<bool>("keep_dims");
  if (like.rank_known()) {
    const uint32_t mask = TROUPE_TRY(reduction_axis_mask(axes, like.rank()));
    std::vector<int64_t> want;
    for (int i = 0; i < like.rank(); ++i) {
      if (!((mask >> i) & 1u)) want.push_back(like[i]);
      else if (keep_dims) want.push_back(1);
    }
    if (g.rank_known()) {
      bool ok = g.rank() == int(want.size());
      for (int i = 0; ok && i < g.rank(); ++i) ok = dim_compatible(g[i], want[size_t(i)]);
      TROUPE_REQUIRE(ok, "g ", g.to_string(), " is not the result of reducing like ",
                     like.to_string(), " over axes ", list_string(axes),
                     keep_dims ? " with keep_dims" : "", ": expected ",
                     partial_shape(std::span<const int64_t>(want)).to_string());
    }
  }
  c.set_output(0, like);
  return {};
}

error reshape_like_shape(shape_context& c) {
  const partial_shape& x = c.input(0);
  const partial_shape& like = c.input(1);
  int64_t nx = x.num_elements(), nl = like.num_elements();
  TROUPE_REQUIRE(nx < 0 || nl < 0 || nx == nl, "x ", x.to_string(), " has ", nx,
                 " elements but like ", like.to_string(), " has ", nl);
  c.set_output(0, like);
  return {};
}

error slice_grad_shape(shape_context& c) {
  const partial_shape& g = c.input(0);
  const partial_shape& like = c.input(1);
  const auto& begin = c.attr<std::vector<int64_t>>("begin");
  const auto& size = c.attr<std::vector<int64_t>>("size");
  auto where = [&] {
    return str_cat("begin ", list_string(begin), ", size ", list_string(size), ", g ",
                   g.to_string(), ", like ", like.to_string());
  };
  const int rank = int(begin.size());
  TROUPE_REQUIRE(begin.size() == size.size() && rank <= max_rank &&
                     (!like.rank_known() || like.rank() == rank) &&
                     (!g.rank_known() || g.rank() == rank),
                 "begin and size must have one entry per dimension of g and like: ", where());
  for (int i = 0; i < rank; ++i) {
    int64_t b = begin[size_t(i)], sz = size[size_t(i)];
    int64_t d = like.rank_known() ? like[i] : -1;
    TROUPE_REQUIRE(b >= 0 && sz >= -1, "begin[", i, "] must be >= 0 and size[", i,
                   "] >= -1: ", where());
    TROUPE_REQUIRE(d < 0 || b + std::max<int64_t>(sz, 0) <= d, "begin[", i, "] + size[", i,
                   "] exceeds dimension ", i, " of like: ", where());
    int64_t want = sz >= 0 ? sz : (d >= 0 ? d - b : -1);
    TROUPE_REQUIRE(!g.rank_known() || dim_compatible(g[i], want), "dimension ", i,
                   " of g should be ", want, ": ", where());
  }
  c.set_output(0, like);
  return {};
}

// split_like(g, likes...): piece i has like i's shape (whose other dimensions equal g's).
error split_like_shape(shape_context& c) {
  const partial_shape& g = c.input(0);
  const int64_t axis_attr = c.attr<int64_t>("axis");
  int axis = -1;
  if (g.rank_known()) {
    TROUPE_REQUIRE(g.rank() >= 1, "g must have rank >= 1, got a scalar");
    axis = TROUPE_TRY(shape_fns::normalize_axis(axis_attr, g.rank()));
  }
  int64_t total = 0;  // the likes' sizes along axis: -1 once one is unknown
  for (int i = 1; i < c.num_inputs(); ++i) {
    const partial_shape& like = c.input(i);
    partial_shape out = like;
    if (g.rank_known()) {
      if (!like.rank_known()) {
        out = g;
        out.set_dim(axis, -1);
        total = -1;
      } else {
        TROUPE_REQUIRE(like.rank() == g.rank(), "likes[", i - 1, "] ", like.to_string(),
                       " and g ", g.to_string(), " must have the same rank");
        for (int d = 0; d < g.rank(); ++d) {
          if (d == axis) continue;
          TROUPE_REQUIRE(dim_compatible(like[d], g[d]), "likes[", i - 1, "] ", like.to_string(),
                         " and g ", g.to_string(), " differ in dimension ", d,
                         " (only the split axis ", axis, " may differ)");
          if (like[d] < 0) out.set_dim(d, g[d]);
        }
        total = (total < 0 || like[axis] < 0) ? -1 : total + like[axis];
      }
    }
    c.set_output(i - 1, out);
  }
  if (g.rank_known() && total >= 0)
    TROUPE_REQUIRE(g[axis] < 0 || g[axis] == total, "the likes add up to ", total,
                   " along axis ", axis, " but g ", g.to_string(), " has ", g[axis]);
  return {};
}

error scatter_add_like_shape(shape_context& c) {
  const partial_shape& updates = c.input(0);
  const partial_shape& indices = c.input(1);
  const partial_shape& like = c.input(2);
  if (like.rank_known()) {
    TROUPE_REQUIRE(like.rank() >= 1, "like must have rank >= 1, got a scalar");
    int axis = TROUPE_TRY(shape_fns::normalize_axis(c.attr<int64_t>("axis"), like.rank()));
    if (indices.rank_known()) {
      std::vector<int64_t> want;
      for (int i = 0; i < axis; ++i) want.push_back(like[i]);
      for (int64_t d : indices.dims()) want.push_back(d);
      for (int i = axis + 1; i < like.rank(); ++i) want.push_back(like[i]);
      bool ok = int(want.size()) <= max_rank;
      if (ok && updates.rank_known()) {
        ok = updates.rank() == int(want.size());
        for (int i = 0; ok && i < updates.rank(); ++i) ok = dim_compatible(updates[i], want[size_t(i)]);
      }
      TROUPE_REQUIRE(ok, "updates ", updates.to_string(), " do not fit indices ",
                     indices.to_string(), " into like ", like.to_string(), " along axis ", axis,
                     ": expected updates of shape like.shape[:axis] + indices.shape + "
                     "like.shape[axis+1:] = ",
                     int(want.size()) <= max_rank
                         ? partial_shape(std::span<const int64_t>(want)).to_string()
                         : std::string("(rank above the maximum)"));
    }
  }
  c.set_output(0, like);
  return {};
}

error sparse_segment_mean_grad_shape(shape_context& c) {
  const partial_shape& g = c.input(0);
  const partial_shape& ids = c.input(1);
  TROUPE_REQUIRE(!g.rank_known() || g.rank() >= 1, "g must have rank >= 1, got shape ",
                 g.to_string());
  TROUPE_REQUIRE(!ids.rank_known() || ids.rank() == 1, "segment_ids must be a vector, got shape ",
                 ids.to_string());
  if (!g.rank_known()) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  partial_shape out = g;
  out.set_dim(0, ids.rank_known() ? ids[0] : -1);
  c.set_output(0, out);
  return {};
}

}  // namespace

void register_grad_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  // None of these has a gradient function: second derivatives are not supported.
  ok(reg.add({.signature = "zeros_like(x: T) -> (y: T)",
              .shape = shape_fns::same_as_input<0>,
              .doc = "Zeros of x's shape and dtype (\"\" for strings, false for bool)."}));
  ok(reg.add({.signature = "ones_like(x: T) -> (y: T); T in numeric_types",
              .shape = shape_fns::same_as_input<0>,
              .doc = "Ones of x's shape and dtype."}));
  ok(reg.add({.signature = "sum_to_like(x: T, like: L) -> (y: T); T in numeric_types",
              .shape = sum_to_like_shape,
              .doc = "x summed over the dimensions broadcasting added to like's shape."}));
  ok(reg.add({.signature = "broadcast_like(x: T, like: L) -> (y: T); T in numeric_types",
              .shape = broadcast_like_shape,
              .doc = "x broadcast to like's shape."}));
  ok(reg.add({.signature = "reduction_grad(g: T, like: L) -> (y: T); T in numeric_types; "
                           "axes: list(int) = []; keep_dims: bool = false; mean: bool = false",
              .shape = reduction_grad_shape,
              .doc = "g, a reduction of like over axes, spread back over like's shape "
                     "(divided by the group size when mean)."}));
  ok(reg.add({.signature = "reshape_like(x: T, like: L) -> (y: T); T in numeric_types",
              .shape = reshape_like_shape,
              .doc = "x's elements with like's shape (no copy)."}));
  ok(reg.add({.signature = "slice_grad(g: T, like: L) -> (y: T); T in numeric_types; "
                           "begin: list(int); size: list(int)",
              .shape = slice_grad_shape,
              .doc = "Zeros of like's shape with g written at begin: the gradient of slice."}));
  ok(reg.add({.signature = "split_like(g: T, likes: N*L) -> (pieces: N*T); T in numeric_types; "
                           "axis: int = 0",
              .shape = split_like_shape,
              .doc = "g cut along axis into pieces as long as each of likes: the gradient of "
                     "concat."}));
  ok(reg.add({.signature = "scatter_add_like(updates: T, indices: Tindices, like: L) -> (y: T); "
                           "T in numeric_types; Tindices in {int32, int64}; axis: int = 0",
              .shape = scatter_add_like_shape,
              .doc = "Zeros of like's shape with updates added at indices along axis."}));
  ok(reg.add({.signature = "sparse_segment_mean_grad(g: T, segment_ids: Tseg) -> (values: T); "
                           "T in float_types; Tseg in {int32, int64}",
              .shape = sparse_segment_mean_grad_shape,
              .doc = "g[segment_ids[i]] divided by the size of segment segment_ids[i]."}));
}

namespace ops {

output zeros_like(const scope& s, output x) { return s.add1("zeros_like", {x}); }

output ones_like(const scope& s, output x) { return s.add1("ones_like", {x}); }

output sum_to_like(const scope& s, output x, output like) {
  return s.add1("sum_to_like", {x, like});
}

output broadcast_like(const scope& s, output x, output like) {
  return s.add1("broadcast_like", {x, like});
}

output reduction_grad(const scope& s, output g, output like, std::vector<int64_t> axes,
                      bool keep_dims, bool mean) {
  return s.add1("reduction_grad", {g, like},
                {{"axes", std::move(axes)}, {"keep_dims", keep_dims}, {"mean", mean}});
}

output reshape_like(const scope& s, output x, output like) {
  return s.add1("reshape_like", {x, like});
}

output slice_grad(const scope& s, output g, output like, std::vector<int64_t> begin,
                  std::vector<int64_t> size) {
  return s.add1("slice_grad", {g, like}, {{"begin", std::move(begin)}, {"size", std::move(size)}});
}

std::vector<output> split_like(const scope& s, output g, const std::vector<output>& likes,
                               int64_t axis) {
  std::vector<output> inputs = {g};
  inputs.insert(inputs.end(), likes.begin(), likes.end());
  operation op = s.add("split_like", inputs, {{"axis", axis}});
  std::vector<output> out;
  for (size_t i = 0; i < likes.size(); ++i) out.push_back(op.out(int(i)));
  return out;
}

output scatter_add_like(const scope& s, output updates, output indices, output like,
                        int64_t axis) {
  return s.add1("scatter_add_like", {updates, indices, like}, {{"axis", axis}});
}

output sparse_segment_mean_grad(const scope& s, output g, output segment_ids) {
  return s.add1("sparse_segment_mean_grad", {g, segment_ids});
}

}  // namespace ops
}  // namespace troupe
