#include "runtime/ops/array_ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/autodiff/gradients.hpp"
#include "runtime/ops/grad_ops.hpp"
#include "runtime/ops/shape_fns.hpp"

namespace troupe {
namespace {

// "[2,-1,3]".
std::string list_string(const std::vector<int64_t>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += str_cat(i ? "," : "", v[i]);
  return out + "]";
}

// An error unless `s` has rank `rank` (or an unknown rank).
error require_rank(const partial_shape& s, int rank, std::string_view name) {
  TROUPE_REQUIRE(!s.rank_known() || s.rank() == rank, name, " must have rank ", rank,
                 ", got shape ", s.to_string());
  return {};
}

error reshape_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  const auto& target = c.attr<std::vector<int64_t>>("shape");
  TROUPE_REQUIRE(target.size() <= size_t(max_rank), "shape ", list_string(target), " has rank ",
                 target.size(), ", more than the maximum ", max_rank);
  int infer = -1;
  int64_t known = 1;  // product of the given dimensions
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      TROUPE_REQUIRE(infer < 0, "shape ", list_string(target),
                     " has more than one -1: at most one dimension can be inferred");
      infer = int(i);
      continue;
    }
    TROUPE_REQUIRE(target[i] >= 0, "shape ", list_string(target), " has a negative dimension ",
                   target[i], " at position ", i);
    TROUPE_REQUIRE(!__builtin_mul_overflow(known, target[i], &known), "shape ",
                   list_string(target), " has too many elements");
  }
  partial_shape out = TROUPE_TRY(partial_shape::make(target));
  int64_t n = in.num_elements();
  if (n >= 0) {
    if (infer < 0) {
      TROUPE_REQUIRE(known == n, "cannot reshape a tensor of shape ", in.to_string(), " (", n,
                     " elements) into shape ", list_string(target), " (", known, " elements)");
    } else {
      TROUPE_REQUIRE(known > 0 && n % known == 0, "cannot reshape a tensor of shape ",
                     in.to_string(), " (", n, " elements) into shape ", list_string(target),
                     ": ", n, " is not a multiple of ", known,
                     known == 0 ? " (a -1 cannot be inferred next to a 0 dimension)" : "");
      out.set_dim(infer, n / known);
    }
  } else if (in.rank_known() && infer < 0) {
    // The known input dimensions must divide the element count of the target.
    int64_t part = 1;
    for (int64_t d : in.dims())
      if (d >= 0) part *= d;
    TROUPE_REQUIRE(part == 0 || known % part == 0, "cannot reshape a tensor of shape ",
                   in.to_string(), " into shape ", list_string(target), " (", known,
                   " elements): the known dimensions alone have ", part, " elements");
  }
  c.set_output(0, out);
  return {};
}

// Checks that perm is a permutation of 0..perm.size()-1.
error check_perm(const std::vector<int64_t>& perm) {
  TROUPE_REQUIRE(perm.size() <= size_t(max_rank), "perm ", list_string(perm), " has ",
                 perm.size(), " entries, more than the maximum rank ", max_rank);
  std::vector<bool> seen(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = perm[i];
    TROUPE_REQUIRE(p >= 0 && p < int64_t(perm.size()) && !seen[size_t(p)], "perm ",
                   list_string(perm), " is not a permutation of 0..", int64_t(perm.size()) - 1,
                   ": entry ", i, " is ", p);
    seen[size_t(p)] = true;
  }
  return {};
}

error transpose_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  const auto& perm = c.attr<std::vector<int64_t>>("perm");
  TROUPE_TRY(check_perm(perm));
  int rank = int(perm.size());
  TROUPE_REQUIRE(!in.rank_known() || in.rank() == rank, "perm ", list_string(perm), " has ",
                 rank, " entries but the input has rank ", in.rank(), " (shape ", in.to_string(),
                 ")");
  partial_shape out = partial_shape::unknown_dims(rank);
  if (in.rank_known())
    for (int i = 0; i < rank; ++i) out.set_dim(i, in[int(perm[size_t(i)])]);
  c.set_output(0, out);
  return {};
}

error concat_shape(shape_context& c) {
  int n = c.num_inputs();
  TROUPE_REQUIRE(n >= 1, "concat needs at least one input");
  int first = -1;  // the first input of known rank
  for (int i = 0; i < n && first < 0; ++i)
    if (c.input(i).rank_known()) first = i;
  if (first < 0) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  const partial_shape& ref = c.input(first);
  int rank = ref.rank();
  TROUPE_REQUIRE(rank >= 1, "cannot concatenate scalars: values[", first, "] has shape ",
                 ref.to_string());
  int64_t axis_attr = c.attr<int64_t>("axis");
  int axis = TROUPE_TRY(shape_fns::normalize_axis(axis_attr, rank));
  partial_shape out = ref;
  int64_t axis_size = 0;
  for (int i = 0; i < n; ++i) {
    const partial_shape& s = c.input(i);
    if (!s.rank_known()) {
      axis_size = -1;
      continue;
    }
    TROUPE_REQUIRE(s.rank() == rank, "all inputs must have the same rank: values[", first,
                   "] is ", ref.to_string(), ", values[", i, "] is ", s.to_string());
    for (int d = 0; d < rank; ++d) {
      if (d == axis) continue;
      TROUPE_REQUIRE(s[d] < 0 || out[d] < 0 || s[d] == out[d], "dimension ", d,
                     " differs between inputs (only dimension ", axis,
                     ", the concat axis, may differ): values[", first, "] is ", ref.to_string(),
                     ", values[", i, "] is ", s.to_string());
      if (out[d] < 0) out.set_dim(d, s[d]);
    }
    if (axis_size >= 0) axis_size = s[axis] < 0 ? -1 : axis_size + s[axis];
  }
  out.set_dim(axis, axis_size);
  c.set_output(0, out);
  return {};
}

error split_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  int64_t num_split = c.attr<int64_t>("num_split");
  TROUPE_REQUIRE(num_split >= 1, "num_split must be >= 1, got ", num_split);
  partial_shape out = in;
  if (in.rank_known()) {
    TROUPE_REQUIRE(in.rank() >= 1, "cannot split a scalar");
    int axis = TROUPE_TRY(shape_fns::normalize_axis(c.attr<int64_t>("axis"), in.rank()));
    int64_t d = in[axis];
    TROUPE_REQUIRE(d < 0 || d % num_split == 0, "dimension ", axis, " of the input ",
                   in.to_string(), " has size ", d, ", which is not divisible by num_split ",
                   num_split);
    out.set_dim(axis, d < 0 ? -1 : d / num_split);
  }
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, out);
  return {};
}

error slice_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  const auto& begin = c.attr<std::vector<int64_t>>("begin");
  const auto& size = c.attr<std::vector<int64_t>>("size");
  auto where = [&] {
    return str_cat("begin ", list_string(begin), ", size ", list_string(size), ", input shape ",
                   in.to_string());
  };
  TROUPE_REQUIRE(begin.size() == size.size() && begin.size() <= size_t(max_rank),
                 "begin and size must have one entry per input dimension: ", where());
  TROUPE_REQUIRE(!in.rank_known() || in.rank() == int(begin.size()),
                 "begin and size must have one entry per input dimension: ", where());
  int rank = int(begin.size());
  partial_shape out = partial_shape::unknown_dims(rank);
  for (int i = 0; i < rank; ++i) {
    int64_t b = begin[size_t(i)], sz = size[size_t(i)];
    TROUPE_REQUIRE(b >= 0, "begin[", i, "] is negative: ", where());
    TROUPE_REQUIRE(sz >= -1, "size[", i, "] is ", sz, " (only -1, \"to the end\", may be negative): ",
                   where());
    int64_t d = in.rank_known() ? in[i] : -1;
    if (d >= 0) {
      TROUPE_REQUIRE(b <= d, "begin[", i, "] = ", b, " is past the end of dimension ", i, ": ",
                     where());
      TROUPE_REQUIRE(sz == -1 || b + sz <= d, "begin[", i, "] + size[", i, "] = ", b + sz,
                     " exceeds dimension ", i, " (", d, "): ", where());
    }
    out.set_dim(i, sz >= 0 ? sz : (d >= 0 ? d - b : -1));
  }
  c.set_output(0, out);
  return {};
}

error gather_shape(shape_context& c) {
  const partial_shape& params = c.input(0);
  const partial_shape& indices = c.input(1);
  if (!params.rank_known()) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  TROUPE_REQUIRE(params.rank() >= 1, "params must have rank >= 1, got shape ", params.to_string());
  int axis = TROUPE_TRY(shape_fns::normalize_axis(c.attr<int64_t>("axis"), params.rank()));
  if (!indices.rank_known()) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  int rank = params.rank() - 1 + indices.rank();
  TROUPE_REQUIRE(rank <= max_rank, "the output would have rank ", rank, " (params ",
                 params.to_string(), ", indices ", indices.to_string(), "), more than the maximum ",
                 max_rank);
  std::vector<int64_t> dims;
  for (int i = 0; i < axis; ++i) dims.push_back(params[i]);
  for (int64_t d : indices.dims()) dims.push_back(d);
  for (int i = axis + 1; i < params.rank(); ++i) dims.push_back(params[i]);
  c.set_output(0, partial_shape(dims));
  return {};
}

error sparse_segment_shape(shape_context& c) {
  const partial_shape& data = c.input(0);
  const partial_shape& indices = c.input(1);
  const partial_shape& ids = c.input(2);
  TROUPE_REQUIRE(!data.rank_known() || data.rank() >= 1, "data must have rank >= 1, got shape ",
                 data.to_string());
  TROUPE_TRY(require_rank(indices, 1, "indices"));
  TROUPE_TRY(require_rank(ids, 1, "segment_ids"));
  if (indices.rank_known() && ids.rank_known())
    TROUPE_REQUIRE(indices[0] < 0 || ids[0] < 0 || indices[0] == ids[0],
                   "indices and segment_ids must have the same length: indices is ",
                   indices.to_string(), ", segment_ids is ", ids.to_string());
  int64_t num_segments = c.attr<int64_t>("num_segments");
  TROUPE_REQUIRE(num_segments >= -1, "num_segments must be >= 0 (or -1: the last id + 1), got ",
                 num_segments);
  if (!data.rank_known()) {
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  partial_shape out = data;
  out.set_dim(0, num_segments);
  c.set_output(0, out);
  return {};
}

error one_hot_shape(shape_context& c) {
  const partial_shape& in = c.input(0);
  dtype t = c.attr<dtype>("dtype");
  TROUPE_REQUIRE(is_numeric(t), "dtype must be numeric (float32, float64, int32, int64), got ",
                 dtype_name(t));
  int64_t depth = c.attr<int64_t>("depth");
  TROUPE_REQUIRE(depth >= 0, "depth must be >= 0, got ", depth);
  int64_t axis = c.attr<int64_t>("axis");
  if (!in.rank_known()) {
    TROUPE_REQUIRE(axis >= -1, "axis must be -1 or in [0, rank of indices], got ", axis);
    c.set_output(0, partial_shape::unknown());
    return {};
  }
  int rank = in.rank();
  TROUPE_REQUIRE(axis >= -1 && axis <= rank, "axis must be -1 or in [0, ", rank,
                 "] for indices of shape ", in.to_string(), ", got ", axis);
  TROUPE_REQUIRE(rank + 1 <= max_rank, "indices of shape ", in.to_string(),
                 " would give an output of rank ", rank + 1, ", more than the maximum ", max_rank);
  int pos = axis < 0 ? rank : int(axis);
  std::vector<int64_t> dims(in.dims().begin(), in.dims().end());
  dims.insert(dims.begin() + pos, depth);
  c.set_output(0, partial_shape(dims));
  return {};
}

// Note [Random seeds]
// random_uniform, random_normal and truncated_normal draw from Philox 4x32-10, a
// counter-based generator: value block j of run r of a node is a pure function of
// (key, j, r), so results do not depend on how the work is split among threads.
// The key is the `seed` attribute when it is not 0; with seed 0 it is derived from the
// node's name, so two unseeded ops of one graph differ, yet a graph rebuilt the same way
// gives the same values. r counts the runs of one kernel (atomically): a fresh session
// starts again at r = 0, so the same seed gives the same sequence on every fresh session,
// and successive runs of a session give new values. (A kernel is per prepared
// executable: a session running the op under a new feed/fetch signature builds a new
// kernel, which starts again at r = 0.)
error random_shape(shape_context& c) {
  dtype t = c.attr<dtype>("dtype");
  TROUPE_REQUIRE(is_floating(t), "dtype must be float32 or float64, got ", dtype_name(t));
  const partial_shape& shape = c.attr<partial_shape>("shape");
  const std::string& op = c.this_node().op;
  if (op == "random_uniform") {
    double lo = c.attr<double>("minval"), hi = c.attr<double>("maxval");
    TROUPE_REQUIRE(std::isfinite(lo) && std::isfinite(hi) && lo < hi,
                   "minval must be less than maxval (both finite), got minval ", lo, ", maxval ",
                   hi);
  } else {
    double mean = c.attr<double>("mean"), stddev = c.attr<double>("stddev");
    TROUPE_REQUIRE(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
                   "mean must be finite and stddev finite and >= 0, got mean ", mean,
                   ", stddev ", stddev);
  }
  c.set_output(0, shape);
  return {};
}


// ---- gradients ---------------------------------------------------------------------------
// Indices and segment ids are integer edges: they never get a gradient.

error reshape_grad(grad_context& c) {
  c.set(0, ops::reshape_like(c.s(), c.dense_grad(0), c.input(0)));
  return {};
}

// The inverse permutation.
error transpose_grad(grad_context& c) {
  const auto& perm = c.attr<std::vector<int64_t>>("perm");
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int64_t(i);
  c.set(0, ops::transpose(c.s(), c.dense_grad(0), std::move(inverse)));
  return {};
}

// g cut into pieces as long as the inputs along axis.
error concat_grad(grad_context& c) {
  output g = c.dense_grad(0);
  const int n = c.num_inputs();
  if (n == 1) {
    c.set(0, g);
    return {};
  }
  std::vector<output> likes;
  for (int i = 0; i < n; ++i) likes.push_back(c.input(i));
  std::vector<output> pieces = ops::split_like(c.s(), g, likes, c.attr<int64_t>("axis"));
  for (int i = 0; i < n; ++i)
    if (c.wants(i)) c.set(i, pieces[size_t(i)]);
  return {};
}

// The pieces' gradients joined again (zeros for pieces nothing reached).
error split_grad(grad_context& c) {
  std::vector<output> pieces;
  for (int i = 0; i < c.num_outputs(); ++i) pieces.push_back(c.dense_grad(i));
  c.set(0, ops::concat(c.s(), pieces, c.attr<int64_t>("axis")));
  return {};
}

error slice_grad_fn(grad_context& c) {
  c.set(0, ops::slice_grad(c.s(), c.dense_grad(0), c.input(0),
                           c.attr<std::vector<int64_t>>("begin"),
                           c.attr<std::vector<int64_t>>("size")));
  return {};
}

// Along axis 0 the gradient of params is sparse: row indices[k] gets the slice of g
// gathered for it (indices flattened, g reshaped to [K] + params.shape[1:]). That needs
// params' trailing dimensions known (and non-zero) statically; otherwise, and along
// other axes, it is dense: g scatter-added into zeros like params.
error gather_grad(grad_context& c) {
  const scope& s = c.s();
  output params = c.input(0), indices = c.input(1), g = c.dense_grad(0);
  const int64_t axis = c.attr<int64_t>("axis");
  const partial_shape& ps = params.shape();
  if (ps.rank_known() && (axis == 0 || axis == -ps.rank())) {
    std::vector<int64_t> dims = {-1};
    bool known = true;
    for (int i = 1; i < ps.rank(); ++i) {
      known = known && ps[i] > 0;
      dims.push_back(ps[i]);
    }
    if (known) {
      c.set_sparse(0, ops::reshape(s, indices, {-1}), ops::reshape(s, g, std::move(dims)));
      return {};
    }
  }
  c.set(0, ops::scatter_add_like(s, g, indices, params, axis));
  return {};
}

// Sparse rows of data: row indices[i] gets g[segment_ids[i]] (divided by the segment's
// size for the mean).
template <bool Mean>
error sparse_segment_grad(grad_context& c) {
  const scope& s = c.s();
  output g = c.dense_grad(0), ids = c.input(2);
  output values = Mean ? ops::sparse_segment_mean_grad(s, g, ids) : ops::gather(s, g, ids);
  c.set_sparse(0, c.input(1), values);
  return {};
}

}  // namespace

void register_array_ops(op_registry& reg) {
  auto ok = [](error e) { TROUPE_ASSERT(!e, e.message()); };
  ok(reg.add({.signature = "reshape(tensor: T) -> (output: T); shape: list(int)",
              .shape = reshape_shape,
              .grad = reshape_grad,
              .doc = "The same elements with another shape (at most one -1, inferred); no copy."}));
  ok(reg.add({.signature = "transpose(x: T) -> (y: T); perm: list(int)",
              .shape = transpose_shape,
              .grad = transpose_grad,
              .doc = "Permutes the dimensions: output dimension i is input dimension perm[i]."}));
  ok(reg.add({.signature = "concat(values: N*T) -> (output: T); axis: int = 0",
              .shape = concat_shape,
              .grad = concat_grad,
              .doc = "Joins the inputs along axis."}));
  ok(reg.add({.signature =
                  "split(value: T) -> (output: num_split*T); num_split: int; axis: int = 0",
              .shape = split_shape,
              .grad = split_grad,
              .doc = "Cuts the input into num_split equal pieces along axis."}));
  ok(reg.add({.signature = "slice(input: T) -> (output: T); begin: list(int); size: list(int)",
              .shape = slice_shape,
              .grad = slice_grad_fn,
              .doc = "input[begin : begin + size] per dimension; size -1 = to the end."}));
  ok(reg.add({.signature = "gather(params: T, indices: Tindices) -> (output: T); "
                           "Tindices in {int32, int64}; axis: int = 0",
              .shape = gather_shape,
              .grad = gather_grad,
              .doc = "Slices of params along axis picked by indices."}));
  for (const char* op : {"sparse_segment_sum", "sparse_segment_mean"}) {
    ok(reg.add({.signature = str_cat(op, "(data: T, indices: Tidx, segment_ids: Tseg) -> "
                                         "(output: T); T in float_types; Tidx in {int32, int64}; "
                                         "Tseg in {int32, int64}; num_segments: int = -1"),
                .shape = sparse_segment_shape,
                .grad = std::string_view(op).ends_with("sum") ? grad_fn(sparse_segment_grad<false>)
                                                              : grad_fn(sparse_segment_grad<true>),
                .doc = str_cat("Rows data[indices[i]] reduced (",
                               std::string_view(op).ends_with("sum") ? "summed" : "averaged",
                               ") into segment segment_ids[i] (sorted)")}));
  }
  // The kernel key is the first type attribute of the signature, TI (the indices); the
  // kernels dispatch on the output dtype once, at construction.
  ok(reg.add({.signature = "one_hot(indices: TI) -> (output: dtype); TI in {int32, int64}; "
                           "dtype: type = float32; depth: int; on_value: float = 1; "
                           "off_value: float = 0; axis: int = -1",
              .shape = one_hot_shape,
              .grad = {},
              .doc = "One-hot encoding along a new axis of size depth."}));
  // See Note [Random seeds]. The kernel key is dtype (the only type attribute).
  ok(reg.add({.signature = "random_uniform() -> (output: dtype); dtype: type = float32; "
                           "shape: shape; seed: int = 0; minval: float = 0; maxval: float = 1",
              .shape = random_shape,
              .grad = {},
              .is_stateful = true,
              .doc = "Uniform random values in [minval, maxval)."}));
  for (const char* op : {"random_normal", "truncated_normal"}) {
    ok(reg.add({.signature = str_cat(op, "() -> (output: dtype); dtype: type = float32; "
                                         "shape: shape; seed: int = 0; mean: float = 0; "
                                         "stddev: float = 1"),
                .shape = random_shape,
                .grad = {},
                .is_stateful = true,
                .doc = std::string_view(op) == "random_normal"
                           ? "Normal random values."
                           : "Normal random values, re-drawn beyond 2 standard deviations."}));
  }
}

namespace ops {

output reshape(const scope& s, output tensor, std::vector<int64_t> shape) {
  return s.add1("reshape", {tensor}, {{"shape", std::move(shape)}});
}

output transpose(const scope& s, output x, std::vector<int64_t> perm) {
  return s.add1("transpose", {x}, {{"perm", std::move(perm)}});
}

output concat(const scope& s, const std::vector<output>& values, int64_t axis) {
  return s.add1("concat", values, {{"axis", axis}});
}

std::vector<output> split(const scope& s, output value, int64_t num_split, int64_t axis) {
  operation op = s.add("split", {value}, {{"num_split", num_split}, {"axis", axis}});
  std::vector<output> out;
  for (int64_t i = 0; i < std::max<int64_t>(num_split, 0); ++i) out.push_back(op.out(int(i)));
  return out;
}

output slice(const scope& s, output input, std::vector<int64_t> begin, std::vector<int64_t> size) {
  return s.add1("slice", {input}, {{"begin", std::move(begin)}, {"size", std::move(size)}});
}

output gather(const scope& s, output params, output indices, int64_t axis) {
  return s.add1("gather", {params, indices}, {{"axis", axis}});
}

output sparse_segment_sum(const scope& s, output data, output indices, output segment_ids,
                          int64_t num_segments) {
  return s.add1("sparse_segment_sum", {data, indices, segment_ids},
                {{"num_segments", num_segments}});
}

output sparse_segment_mean(const scope& s, output data, output indices, output segment_ids,
                           int64_t num_segments) {
  return s.add1("sparse_segment_mean", {data, indices, segment_ids},
                {{"num_segments", num_segments}});
}

output one_hot(const scope& s, output indices, int64_t depth, double on_value, double off_value,
               int64_t axis, dtype t) {
  return s.add1("one_hot", {indices},
                {{"depth", depth},
                 {"on_value", on_value},
                 {"off_value", off_value},
                 {"axis", axis},
                 {"dtype", t}});
}

output random_uniform(const scope& s, partial_shape shape, dtype t, int64_t seed, double minval,
                      double maxval) {
  return s.add1("random_uniform", {},
                {{"shape", shape}, {"dtype", t}, {"seed", seed}, {"minval", minval},
                 {"maxval", maxval}});
}

output random_normal(const scope& s, partial_shape shape, dtype t, int64_t seed, double mean,
                     double stddev) {
  return s.add1("random_normal", {},
                {{"shape", shape}, {"dtype", t}, {"seed", seed}, {"mean", mean},
                 {"stddev", stddev}});
}

output truncated_normal(const scope& s, partial_shape shape, dtype t, int64_t seed, double mean,
                        double stddev) {
  return s.add1("truncated_normal", {},
                {{"shape", shape}, {"dtype", t}, {"seed", seed}, {"mean", mean},
                 {"stddev", stddev}});
}

}  // namespace ops
}  // namespace troupe
