// Conformance cases of the gradient helper ops (runtime/ops/grad_ops.cpp). Every
// reference is written here with plain loops in double over explicit multi-indices,
// from the definitions in grad_ops.hpp.

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/ops/grad_ops.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {
namespace {

using inputs = std::vector<ref_tensor>;
using outputs = std::vector<ref_tensor>;
using shape_vec = std::vector<int64_t>;
using builder = std::function<std::vector<output>(const scope&, const std::vector<output>&, dtype)>;

int64_t size_of(const shape_vec& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

input_spec random_input(shape_vec shape, double lo = -1, double hi = 1,
                        dtype type = dtype::invalid) {
  input_spec in;
  in.shape = std::move(shape);
  in.type = type;
  in.lo = lo;
  in.hi = hi;
  return in;
}

input_spec fixed_input(shape_vec shape, std::vector<double> values, dtype type = dtype::invalid) {
  input_spec in;
  in.shape = std::move(shape);
  in.values = std::move(values);
  in.type = type;
  return in;
}

shape_vec unflatten(int64_t flat, const shape_vec& shape) {
  shape_vec idx(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    idx[i] = flat % shape[i];
    flat /= shape[i];
  }
  return idx;
}

int64_t flatten(const shape_vec& idx, const shape_vec& shape) {
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + idx[i];
  return flat;
}

// A reference result as the kernel's output dtype holds it.
double to_dtype(dtype t, double v) {
  if (t == dtype::float32) return double(float(v));
  return v;
}

// Adds `c` with float32 split off under its own tolerance (long sums round more than the
// default allows); the other dtypes keep the defaults.
void add_with_f32_tolerance(std::vector<op_case>& cases, op_case c, double atol32,
                            double rtol32) {
  std::vector<dtype> rest;
  bool has32 = false;
  for (dtype t : c.dtypes) {
    if (t == dtype::float32) has32 = true;
    else rest.push_back(t);
  }
  if (has32) {
    op_case c32 = c;
    c32.name += "_f32tol";
    c32.dtypes = {dtype::float32};
    c32.atol = atol32;
    c32.rtol = rtol32;
    cases.push_back(std::move(c32));
  }
  if (!rest.empty()) {
    c.dtypes = rest;
    cases.push_back(std::move(c));
  }
}

// The flat index in `from` (aligned on the right, size-1 dimensions repeating) of the
// element at multi-index idx of a larger shape.
int64_t broadcast_source(const shape_vec& from, const shape_vec& idx) {
  int64_t flat = 0;
  size_t off = idx.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    flat = flat * from[i] + (from[i] == 1 ? 0 : idx[off + i]);
  return flat;
}

// ---- zeros_like, ones_like --------------------------------------------------------------

void add_fill_cases(std::vector<op_case>& cases) {
  for (const auto& [label, shape] : std::vector<std::pair<std::string, shape_vec>>{
           {"matrix", {3, 4}}, {"scalar", {}}, {"empty", {0, 3}}, {"big", {700, 300}}}) {
    cases.push_back({
        .op = "zeros_like",
        .name = "zeros_like_" + label,
        .dtypes = all_types,
        .inputs = {random_input(shape, 1, 50)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> { return {ops::zeros_like(s, in[0])}; },
        .reference = [](const inputs& in, dtype t) -> outputs {
          // A string zero is "", which reads back as no number (NaN).
          double zero = t == dtype::string ? std::nan("") : 0.0;
          return {ref_tensor{in[0].shape, std::vector<double>(size_t(in[0].size()), zero)}};
        },
    });
    cases.push_back({
        .op = "ones_like",
        .name = "ones_like_" + label,
        .dtypes = numeric_types,
        .inputs = {random_input(shape, -50, 50)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> { return {ops::ones_like(s, in[0])}; },
        .reference = [](const inputs& in, dtype) -> outputs {
          return {ref_tensor{in[0].shape, std::vector<double>(size_t(in[0].size()), 1.0)}};
        },
    });
  }
}

// ---- sum_to_like, broadcast_like ----------------------------------------------------------

struct shape_pair {
  const char* label;
  shape_vec big, small;
};

// x's values summed into like's shape.
ref_tensor ref_sum_to(const ref_tensor& x, const shape_vec& to, dtype t) {
  ref_tensor out{to, std::vector<double>(size_t(size_of(to)), 0.0)};
  for (int64_t i = 0; i < x.size(); ++i)
    out.values[size_t(broadcast_source(to, unflatten(i, x.shape)))] += x.values[size_t(i)];
  for (double& v : out.values) v = to_dtype(t, v);
  return out;
}

// Every path of the kernel: a view (equal element counts), column sums (short, blocked
// rows, wide), row sums (short, in pieces), several summed groups, a scalar, no elements.
const std::vector<shape_pair> sum_shapes = {
    {"same", {2, 3}, {2, 3}},
    {"size1_only", {1, 3}, {3}},
    {"columns", {4, 3}, {3}},
    {"rows", {4, 3}, {4, 1}},
    {"two_groups", {2, 3, 4}, {3, 1}},
    {"outer_and_inner", {2, 3, 4}, {1, 3, 1}},
    {"middle", {2, 3, 4}, {2, 1, 4}},
    {"with_size1", {2, 1, 3}, {1, 1, 3}},
    {"to_scalar", {2, 3}, {}},
    {"empty", {0, 3}, {3}},
    {"big_columns", {3000, 70}, {70}},
    {"wide_columns", {64, 3000}, {3000}},
    {"big_rows", {5, 40000}, {5, 1}},
};

void add_sum_to_like_cases(std::vector<op_case>& cases) {
  for (const shape_pair& p : sum_shapes) {
    op_case c{
        .op = "sum_to_like",
        .name = str_cat("sum_to_like_", p.label),
        .dtypes = numeric_types,
        .inputs = {random_input(p.big, -3, 3), random_input(p.small, -3, 3)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> { return {ops::sum_to_like(s, in[0], in[1])}; },
        .reference = [](const inputs& in, dtype t) -> outputs {
          return {ref_sum_to(in[0], in[1].shape, t)};
        },
    };
    add_with_f32_tolerance(cases, std::move(c), 1e-3, 1e-4);
  }
  // like may have any dtype: only its shape is read.
  cases.push_back({
      .op = "sum_to_like",
      .name = "sum_to_like_bool_like",
      .dtypes = numeric_types,
      .inputs = {random_input({3, 4}, -3, 3), random_input({4}, 0, 1, dtype::boolean)},
      .build = [](const scope& s, const std::vector<output>& in,
                  dtype) -> std::vector<output> { return {ops::sum_to_like(s, in[0], in[1])}; },
      .reference = [](const inputs& in, dtype t) -> outputs {
        return {ref_sum_to(in[0], in[1].shape, t)};
      },
  });
}

ref_tensor ref_broadcast(const ref_tensor& x, const shape_vec& to, double divisor, dtype t) {
  ref_tensor out{to, {}};
  for (int64_t i = 0; i < out.size(); ++i) {
    double v = x.values[size_t(broadcast_source(x.shape, unflatten(i, to)))];
    if (divisor != 1) v = is_integer(t) ? std::trunc(v / divisor) : to_dtype(t, v / divisor);
    out.values.push_back(v);
  }
  return out;
}

const std::vector<shape_pair> broadcast_shapes = {
    {"same", {2, 3}, {2, 3}},
    {"row", {4, 3}, {3}},
    {"column", {4, 3}, {4, 1}},
    {"scalar", {2, 3}, {}},
    {"middle", {2, 3, 4}, {3, 1}},
    {"leading_one", {2, 3}, {1, 3}},
    {"empty", {0, 3}, {3}},
    {"big_row", {400, 300}, {300}},
    {"big_scalar", {500, 200}, {}},
};

void add_broadcast_like_cases(std::vector<op_case>& cases) {
  for (const shape_pair& p : broadcast_shapes) {
    cases.push_back({
        .op = "broadcast_like",
        .name = str_cat("broadcast_like_", p.label),
        .dtypes = numeric_types,
        .inputs = {random_input(p.small, -50, 50), random_input(p.big, -50, 50)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> {
          return {ops::broadcast_like(s, in[0], in[1])};
        },
        .reference = [](const inputs& in, dtype t) -> outputs {
          return {ref_broadcast(in[0], in[1].shape, 1, t)};
        },
    });
  }
  cases.push_back({
      .op = "broadcast_like",
      .name = "broadcast_like_int64_like",
      .dtypes = numeric_types,
      .inputs = {random_input({3}, -50, 50), random_input({2, 3}, 0, 9, dtype::int64)},
      .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
        return {ops::broadcast_like(s, in[0], in[1])};
      },
      .reference = [](const inputs& in, dtype t) -> outputs {
        return {ref_broadcast(in[0], in[1].shape, 1, t)};
      },
  });
}

// ---- reduction_grad --------------------------------------------------------------------

struct reduction_spec {
  const char* label;
  shape_vec like;
  std::vector<int64_t> axes;
  bool keep_dims;
};

const std::vector<reduction_spec> reductions = {
    {"axis0", {4, 3}, {0}, false},
    {"axis1_keep", {4, 3}, {1}, true},
    {"outer_axes", {2, 3, 4}, {0, 2}, false},
    {"outer_axes_keep", {2, 3, 4}, {0, -1}, true},
    {"all", {2, 3, 4}, {}, false},
    {"all_keep", {2, 3}, {}, true},
    {"middle", {2, 3, 4}, {1}, false},
    {"none_reduced_size1", {2, 1, 3}, {1}, false},
    {"big_axis0", {500, 200}, {0}, false},
};

void add_reduction_grad_cases(std::vector<op_case>& cases) {
  for (const reduction_spec& r : reductions) {
    const int rank = int(r.like.size());
    std::vector<bool> reduced(size_t(rank), r.axes.empty());
    for (int64_t a : r.axes) reduced[size_t(a < 0 ? a + rank : a)] = true;
    shape_vec kept, g_shape;
    double count = 1;
    for (int i = 0; i < rank; ++i) {
      kept.push_back(reduced[size_t(i)] ? 1 : r.like[size_t(i)]);
      if (reduced[size_t(i)]) count *= double(r.like[size_t(i)]);
      if (!reduced[size_t(i)] || r.keep_dims) g_shape.push_back(kept.back());
    }
    for (bool mean : {false, true}) {
      cases.push_back({
          .op = "reduction_grad",
          .name = str_cat("reduction_grad_", r.label, mean ? "_mean" : "_sum"),
          .dtypes = numeric_types,
          .inputs = {random_input(g_shape, -50, 50), random_input(r.like, -1, 1)},
          .build = [r, mean](const scope& s, const std::vector<output>& in,
                             dtype) -> std::vector<output> {
            return {ops::reduction_grad(s, in[0], in[1], r.axes, r.keep_dims, mean)};
          },
          .reference = [kept, count, mean](const inputs& in, dtype t) -> outputs {
            ref_tensor g{kept, in[0].values};  // the same elements with the kept shape
            return {ref_broadcast(g, in[1].shape, mean ? count : 1, t)};
          },
      });
    }
  }
}

// ---- reshape_like ----------------------------------------------------------------------

void add_reshape_like_cases(std::vector<op_case>& cases) {
  for (const shape_pair& p : std::vector<shape_pair>{
           {"matrix", {2, 6}, {3, 4}}, {"to_rank3", {12}, {2, 2, 3}}, {"scalar", {}, {1, 1}}}) {
    cases.push_back({
        .op = "reshape_like",
        .name = str_cat("reshape_like_", p.label),
        .dtypes = numeric_types,
        .inputs = {random_input(p.big, -50, 50), random_input(p.small, -1, 1)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> { return {ops::reshape_like(s, in[0], in[1])}; },
        .reference = [](const inputs& in, dtype) -> outputs {
          return {ref_tensor{in[1].shape, in[0].values}};
        },
    });
  }
}

// ---- slice_grad ------------------------------------------------------------------------

struct slice_spec {
  const char* label;
  shape_vec like;
  std::vector<int64_t> begin, size;
};

const std::vector<slice_spec> slices = {
    {"inner_block", {4, 5}, {1, 2}, {2, 3}},
    {"whole_rows", {4, 5}, {1, 0}, {2, -1}},
    {"rank3", {3, 4, 5}, {1, 1, 0}, {-1, 2, -1}},
    {"everything", {3, 2}, {0, 0}, {-1, -1}},
    {"no_rows", {4, 5}, {2, 0}, {0, 5}},
    {"vector", {7}, {3}, {2}},
    {"big", {600, 300}, {100, 50}, {300, 200}},
};

void add_slice_grad_cases(std::vector<op_case>& cases) {
  for (const slice_spec& sp : slices) {
    shape_vec g_shape;
    for (size_t i = 0; i < sp.like.size(); ++i)
      g_shape.push_back(sp.size[i] == -1 ? sp.like[i] - sp.begin[i] : sp.size[i]);
    cases.push_back({
        .op = "slice_grad",
        .name = str_cat("slice_grad_", sp.label),
        .dtypes = numeric_types,
        .inputs = {random_input(g_shape, -50, 50), random_input(sp.like, -1, 1)},
        .build = [sp](const scope& s, const std::vector<output>& in,
                      dtype) -> std::vector<output> {
          return {ops::slice_grad(s, in[0], in[1], sp.begin, sp.size)};
        },
        .reference = [sp](const inputs& in, dtype) -> outputs {
          const ref_tensor& g = in[0];
          ref_tensor out{sp.like, std::vector<double>(size_t(size_of(sp.like)), 0.0)};
          for (int64_t i = 0; i < g.size(); ++i) {
            shape_vec idx = unflatten(i, g.shape);
            for (size_t d = 0; d < idx.size(); ++d) idx[d] += sp.begin[d];
            out.values[size_t(flatten(idx, sp.like))] = g.values[size_t(i)];
          }
          return {out};
        },
    });
  }
}

// ---- split_like ------------------------------------------------------------------------

struct split_spec {
  const char* label;
  std::vector<shape_vec> likes;
  int64_t axis;
};

const std::vector<split_spec> splits = {
    {"rows", {{2, 3}, {3, 3}}, 0},                   // contiguous pieces: views
    {"columns", {{2, 3}, {2, 4}}, 1},                // copies
    {"middle_negative_axis", {{2, 1, 4}, {2, 2, 4}}, -2},
    {"three_with_empty", {{2, 1}, {2, 0}, {2, 2}}, 1},
    {"single", {{3, 2}}, 0},
    {"big_columns", {{300, 100}, {300, 57}, {300, 200}}, 1},
};

void add_split_like_cases(std::vector<op_case>& cases) {
  for (const split_spec& sp : splits) {
    const int rank = int(sp.likes[0].size());
    const size_t axis = size_t(sp.axis < 0 ? sp.axis + rank : sp.axis);
    shape_vec g_shape = sp.likes[0];
    g_shape[axis] = 0;
    for (const shape_vec& l : sp.likes) g_shape[axis] += l[axis];
    std::vector<input_spec> ins = {random_input(g_shape, -50, 50)};
    for (const shape_vec& l : sp.likes) ins.push_back(random_input(l, -1, 1));
    cases.push_back({
        .op = "split_like",
        .name = str_cat("split_like_", sp.label),
        .dtypes = numeric_types,
        .inputs = ins,
        .build = [sp](const scope& s, const std::vector<output>& in,
                      dtype) -> std::vector<output> {
          return ops::split_like(s, in[0], {in.begin() + 1, in.end()}, sp.axis);
        },
        .reference = [axis](const inputs& in, dtype) -> outputs {
          const ref_tensor& g = in[0];
          outputs out;
          int64_t start = 0;
          for (size_t k = 1; k < in.size(); ++k) {
            ref_tensor piece{in[k].shape, {}};
            for (int64_t i = 0; i < piece.size(); ++i) {
              shape_vec idx = unflatten(i, piece.shape);
              idx[axis] += start;
              piece.values.push_back(g.values[size_t(flatten(idx, g.shape))]);
            }
            start += in[k].shape[axis];
            out.push_back(std::move(piece));
          }
          return out;
        },
    });
  }
  // The likes may have another dtype than g.
  cases.push_back({
      .op = "split_like",
      .name = "split_like_float64_likes",
      .dtypes = numeric_types,
      .inputs = {random_input({4, 2}, -50, 50), random_input({1, 2}, -1, 1, dtype::float64),
                 random_input({3, 2}, -1, 1, dtype::float64)},
      .build = [](const scope& s, const std::vector<output>& in, dtype) -> std::vector<output> {
        return ops::split_like(s, in[0], {in[1], in[2]}, 0);
      },
      .reference = [](const inputs& in, dtype) -> outputs {
        const auto& v = in[0].values;
        return {ref_tensor{{1, 2}, {v.begin(), v.begin() + 2}},
                ref_tensor{{3, 2}, {v.begin() + 2, v.end()}}};
      },
  });
}

// ---- scatter_add_like ------------------------------------------------------------------

struct scatter_spec {
  const char* label;
  shape_vec like;
  shape_vec indices_shape;
  std::vector<double> indices;
  int64_t axis;
  dtype index_type;
};

// n indices in [0, limit) spread over the range, repeating with this period.
std::vector<double> spread_indices(int64_t n, int64_t limit, int64_t step, int64_t period) {
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(double(((i % period) * step) % limit));
  return out;
}

std::vector<scatter_spec> scatter_specs() {
  return {
      {"rows_repeated", {5, 3}, {4}, {0, 2, 0, 4}, 0, dtype::int32},
      {"rows_2d_indices", {5, 3}, {2, 2}, {1, 1, 3, 0}, 0, dtype::int64},
      {"middle_axis", {2, 5, 3}, {3}, {4, 0, 4}, 1, dtype::int32},
      {"last_axis", {3, 6}, {4}, {5, 5, 1, 0}, -1, dtype::int64},
      {"scalar_index", {4, 2}, {}, {3}, 0, dtype::int32},
      {"no_indices", {3, 2}, {0}, {}, 0, dtype::int64},
      // An embedding table's gradient: 512 rows of 16 into [10000, 16], some repeated.
      {"embedding", {10000, 16}, {512}, spread_indices(512, 10000, 7919, 400), 0, dtype::int64},
      // Wide rows, split into column ranges among threads; every row hit twice or more.
      {"wide_rows", {50, 600}, {120}, spread_indices(120, 50, 13, 120), 0, dtype::int32},
  };
}

void add_scatter_add_like_cases(std::vector<op_case>& cases) {
  for (const scatter_spec& sp : scatter_specs()) {
    const int rank = int(sp.like.size());
    const size_t axis = size_t(sp.axis < 0 ? sp.axis + rank : sp.axis);
    shape_vec u_shape(sp.like.begin(), sp.like.begin() + int64_t(axis));
    u_shape.insert(u_shape.end(), sp.indices_shape.begin(), sp.indices_shape.end());
    u_shape.insert(u_shape.end(), sp.like.begin() + int64_t(axis) + 1, sp.like.end());
    const size_t index_rank = sp.indices_shape.size();
    op_case c{
        .op = "scatter_add_like",
        .name = str_cat("scatter_add_like_", sp.label),
        .dtypes = numeric_types,
        .inputs = {random_input(u_shape, -50, 50),
                   fixed_input(sp.indices_shape, sp.indices, sp.index_type),
                   random_input(sp.like, -1, 1)},
        .build = [sp](const scope& s, const std::vector<output>& in,
                      dtype) -> std::vector<output> {
          return {ops::scatter_add_like(s, in[0], in[1], in[2], sp.axis)};
        },
        .reference = [sp, axis, index_rank](const inputs& in, dtype t) -> outputs {
          const ref_tensor& u = in[0];
          const ref_tensor& idx = in[1];
          ref_tensor out{sp.like, std::vector<double>(size_t(size_of(sp.like)), 0.0)};
          for (int64_t i = 0; i < u.size(); ++i) {
            shape_vec ui = unflatten(i, u.shape);
            // ui = outer index + index position + inner index.
            shape_vec pos(ui.begin() + int64_t(axis), ui.begin() + int64_t(axis + index_rank));
            shape_vec oi(ui.begin(), ui.begin() + int64_t(axis));
            oi.push_back(int64_t(idx.values[size_t(flatten(pos, idx.shape))]));
            oi.insert(oi.end(), ui.begin() + int64_t(axis + index_rank), ui.end());
            out.values[size_t(flatten(oi, sp.like))] += u.values[size_t(i)];
          }
          for (double& v : out.values) v = to_dtype(t, v);
          return {out};
        },
    };
    add_with_f32_tolerance(cases, std::move(c), 1e-4, 1e-5);
  }
}

// ---- sparse_segment_mean_grad ------------------------------------------------------------

void add_sparse_segment_mean_grad_cases(std::vector<op_case>& cases) {
  struct spec {
    const char* label;
    shape_vec g;
    std::vector<double> ids;
    dtype id_type;
  };
  for (const spec& sp : std::vector<spec>{
           {"rows", {3, 4}, {0, 0, 1, 2, 2, 2}, dtype::int32},
           {"empty_segment", {3, 2}, {0, 2, 2}, dtype::int64},
           {"vector", {4}, {3, 1, 1, 3, 3}, dtype::int32},
           {"rank3", {2, 2, 3}, {1, 0, 1}, dtype::int64},
           {"no_ids", {2, 3}, {}, dtype::int32},
       }) {
    cases.push_back({
        .op = "sparse_segment_mean_grad",
        .name = str_cat("sparse_segment_mean_grad_", sp.label),
        .dtypes = float_types,
        .inputs = {random_input(sp.g, -5, 5), fixed_input({int64_t(sp.ids.size())}, sp.ids,
                                                           sp.id_type)},
        .build = [](const scope& s, const std::vector<output>& in,
                    dtype) -> std::vector<output> {
          return {ops::sparse_segment_mean_grad(s, in[0], in[1])};
        },
        .reference = [](const inputs& in, dtype t) -> outputs {
          const ref_tensor& g = in[0];
          const std::vector<double>& ids = in[1].values;
          const int64_t width = g.shape[0] == 0 ? 0 : g.size() / g.shape[0];
          shape_vec shape = g.shape;
          shape[0] = int64_t(ids.size());
          ref_tensor out{shape, {}};
          for (double id : ids) {
            double count = double(std::count(ids.begin(), ids.end(), id));
            for (int64_t j = 0; j < width; ++j)
              out.values.push_back(to_dtype(t, g.values[size_t(int64_t(id) * width + j)] / count));
          }
          return {out};
        },
    });
  }
}

}  // namespace

void add_grad_op_cases(std::vector<op_case>& cases) {
  add_fill_cases(cases);
  add_sum_to_like_cases(cases);
  add_broadcast_like_cases(cases);
  add_reduction_grad_cases(cases);
  add_reshape_like_cases(cases);
  add_slice_grad_cases(cases);
  add_split_like_cases(cases);
  add_scatter_add_like_cases(cases);
  add_sparse_segment_mean_grad_cases(cases);
}

}  // namespace troupe::conformance
