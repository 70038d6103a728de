// Conformance cases of the array op family (runtime/ops/array_ops.cpp). The references
// are plain loops over multi-indices in double, written from the definitions of the ops.
// The random ops are checked by their moments (computed in the graph with math ops) and
// by determinism, as their values are not a reference-able function of the inputs.

#include <cmath>
#include <numbers>

#include "runtime/ops/array_ops.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/math_ops.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {
namespace {

using inputs = std::vector<ref_tensor>;
using outputs = std::vector<ref_tensor>;
using shape_t = std::vector<int64_t>;

ref_tensor zeros(shape_t shape) {
  ref_tensor t{std::move(shape), {}};
  t.values.assign(size_t(t.size()), 0.0);
  return t;
}

int64_t flat_index(const shape_t& shape, const shape_t& idx) {
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + idx[i];
  return flat;
}

// Calls f(multi-index, flat index) for every element of `shape`, in row-major order.
template <class F>
void for_each_index(const shape_t& shape, F f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  shape_t idx(shape.size(), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    f(idx, flat);
    for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
      if (++idx[size_t(i)] < shape[size_t(i)]) break;
      idx[size_t(i)] = 0;
    }
  }
}

std::vector<output> one(output o) { return {o}; }

// ---- reshape ------------------------------------------------------------------------------

op_case reshape_case(std::string name, shape_t in, shape_t target, shape_t want) {
  return {.op = "reshape",
          .name = std::move(name),
          .dtypes = all_types,
          .inputs = {{.shape = in, .lo = -50, .hi = 50}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return one(ops::reshape(s, x[0], target));
          },
          .reference = [=](const inputs& x, dtype) -> outputs { return {{want, x[0].values}}; }};
}

// ---- transpose ----------------------------------------------------------------------------

ref_tensor ref_transpose(const ref_tensor& x, const shape_t& perm) {
  shape_t out_shape;
  for (int64_t p : perm) out_shape.push_back(x.shape[size_t(p)]);
  ref_tensor out = zeros(out_shape);
  for_each_index(out_shape, [&](const shape_t& idx, int64_t flat) {
    shape_t in_idx(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) in_idx[size_t(perm[i])] = idx[i];
    out.values[size_t(flat)] = x.values[size_t(flat_index(x.shape, in_idx))];
  });
  return out;
}

op_case transpose_case(std::string name, shape_t in, shape_t perm) {
  return {.op = "transpose",
          .name = std::move(name),
          .dtypes = all_types,
          .inputs = {{.shape = in, .lo = -50, .hi = 50}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return one(ops::transpose(s, x[0], perm));
          },
          .reference = [=](const inputs& x, dtype) -> outputs {
            return {ref_transpose(x[0], perm)};
          }};
}

// ---- concat and split ---------------------------------------------------------------------

ref_tensor ref_concat(const inputs& xs, int64_t axis) {
  int64_t a = axis < 0 ? axis + int64_t(xs[0].shape.size()) : axis;
  shape_t out_shape = xs[0].shape;
  out_shape[size_t(a)] = 0;
  for (const ref_tensor& x : xs) out_shape[size_t(a)] += x.shape[size_t(a)];
  ref_tensor out = zeros(out_shape);
  for_each_index(out_shape, [&](const shape_t& idx, int64_t flat) {
    shape_t in_idx = idx;
    size_t i = 0;
    while (in_idx[size_t(a)] >= xs[i].shape[size_t(a)]) in_idx[size_t(a)] -= xs[i++].shape[size_t(a)];
    out.values[size_t(flat)] = xs[i].values[size_t(flat_index(xs[i].shape, in_idx))];
  });
  return out;
}

op_case concat_case(std::string name, std::vector<shape_t> ins, int64_t axis) {
  op_case c{.op = "concat", .name = std::move(name), .dtypes = all_types};
  for (const shape_t& s : ins) c.inputs.push_back({.shape = s, .lo = -50, .hi = 50});
  c.build = [=](const scope& s, const std::vector<output>& x, dtype) {
    return one(ops::concat(s, x, axis));
  };
  c.reference = [=](const inputs& x, dtype) -> outputs { return {ref_concat(x, axis)}; };
  return c;
}

op_case split_case(std::string name, shape_t in, int64_t num_split, int64_t axis) {
  return {.op = "split",
          .name = std::move(name),
          .dtypes = all_types,
          .inputs = {{.shape = in, .lo = -50, .hi = 50}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return ops::split(s, x[0], num_split, axis);
          },
          .reference = [=](const inputs& x, dtype) {
            int64_t a = axis < 0 ? axis + int64_t(in.size()) : axis;
            shape_t piece = in;
            piece[size_t(a)] /= num_split;
            outputs out;
            for (int64_t i = 0; i < num_split; ++i) {
              ref_tensor o = zeros(piece);
              for_each_index(piece, [&](const shape_t& idx, int64_t flat) {
                shape_t in_idx = idx;
                in_idx[size_t(a)] += i * piece[size_t(a)];
                o.values[size_t(flat)] = x[0].values[size_t(flat_index(in, in_idx))];
              });
              out.push_back(o);
            }
            return out;
          }};
}

// ---- slice --------------------------------------------------------------------------------

op_case slice_case(std::string name, shape_t in, shape_t begin, shape_t size) {
  return {.op = "slice",
          .name = std::move(name),
          .dtypes = all_types,
          .inputs = {{.shape = in, .lo = -50, .hi = 50}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return one(ops::slice(s, x[0], begin, size));
          },
          .reference = [=](const inputs& x, dtype) -> outputs {
            shape_t out_shape;
            for (size_t i = 0; i < in.size(); ++i)
              out_shape.push_back(size[i] == -1 ? in[i] - begin[i] : size[i]);
            ref_tensor o = zeros(out_shape);
            for_each_index(out_shape, [&](const shape_t& idx, int64_t flat) {
              shape_t in_idx = idx;
              for (size_t i = 0; i < in.size(); ++i) in_idx[i] += begin[i];
              o.values[size_t(flat)] = x[0].values[size_t(flat_index(in, in_idx))];
            });
            return {o};
          }};
}

// ---- gather -------------------------------------------------------------------------------

op_case gather_case(std::string name, shape_t params, dtype index_type, shape_t ind_shape,
                    std::vector<double> ind, int64_t axis) {
  return {.op = "gather",
          .name = std::move(name),
          .dtypes = all_types,
          .inputs = {{.shape = params, .lo = -50, .hi = 50},
                     {.shape = ind_shape, .type = index_type, .values = ind}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return one(ops::gather(s, x[0], x[1], axis));
          },
          .reference = [=](const inputs& x, dtype) -> outputs {
            int64_t a = axis < 0 ? axis + int64_t(params.size()) : axis;
            shape_t out_shape(params.begin(), params.begin() + a);
            out_shape.insert(out_shape.end(), ind_shape.begin(), ind_shape.end());
            out_shape.insert(out_shape.end(), params.begin() + a + 1, params.end());
            ref_tensor o = zeros(out_shape);
            const size_t r = ind_shape.size();
            for_each_index(out_shape, [&](const shape_t& idx, int64_t flat) {
              shape_t i_idx(idx.begin() + a, idx.begin() + a + int64_t(r));
              shape_t p_idx(idx.begin(), idx.begin() + a);
              p_idx.push_back(int64_t(x[1].values[size_t(flat_index(ind_shape, i_idx))]));
              p_idx.insert(p_idx.end(), idx.begin() + a + int64_t(r), idx.end());
              o.values[size_t(flat)] = x[0].values[size_t(flat_index(params, p_idx))];
            });
            return {o};
          }};
}

// ---- sparse segment reductions ------------------------------------------------------------

op_case sparse_segment_case(std::string name, bool mean, shape_t data, dtype idx_type,
                            std::vector<double> idx, dtype seg_type, std::vector<double> seg,
                            int64_t num_segments) {
  const int64_t n = int64_t(idx.size());
  return {.op = mean ? "sparse_segment_mean" : "sparse_segment_sum",
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {{.shape = data, .lo = -3, .hi = 3},
                     {.shape = {n}, .type = idx_type, .values = idx},
                     {.shape = {n}, .type = seg_type, .values = seg}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype) {
            return one(mean ? ops::sparse_segment_mean(s, x[0], x[1], x[2], num_segments)
                            : ops::sparse_segment_sum(s, x[0], x[1], x[2], num_segments));
          },
          .reference = [=](const inputs& x, dtype) -> outputs {
            int64_t rows = num_segments >= 0 ? num_segments : int64_t(seg.back()) + 1;
            int64_t width = 1;
            for (size_t i = 1; i < data.size(); ++i) width *= data[i];
            shape_t out_shape = data;
            out_shape[0] = rows;
            ref_tensor o = zeros(out_shape);
            std::vector<double> count(size_t(rows), 0.0);
            for (int64_t i = 0; i < n; ++i) {
              int64_t s = int64_t(seg[size_t(i)]), r = int64_t(idx[size_t(i)]);
              count[size_t(s)] += 1;
              for (int64_t j = 0; j < width; ++j)
                o.values[size_t(s * width + j)] += x[0].values[size_t(r * width + j)];
            }
            if (mean)
              for (int64_t s = 0; s < rows; ++s)
                for (int64_t j = 0; j < width; ++j)
                  if (count[size_t(s)] > 0) o.values[size_t(s * width + j)] /= count[size_t(s)];
            return {o};
          }};
}

// ---- one_hot ------------------------------------------------------------------------------

op_case one_hot_case(std::string name, dtype index_type, shape_t ind_shape,
                     std::vector<double> ind, int64_t depth, int64_t axis, double on, double off) {
  return {.op = "one_hot",
          .name = std::move(name),
          .dtypes = numeric_types,
          .inputs = {{.shape = ind_shape, .type = index_type, .values = ind}},
          .build = [=](const scope& s, const std::vector<output>& x, dtype t) {
            return one(ops::one_hot(s, x[0], depth, on, off, axis, t));
          },
          .reference = [=](const inputs& x, dtype) -> outputs {
            int64_t a = axis < 0 ? int64_t(ind_shape.size()) : axis;
            shape_t out_shape = ind_shape;
            out_shape.insert(out_shape.begin() + a, depth);
            ref_tensor o = zeros(out_shape);
            for_each_index(out_shape, [&](const shape_t& idx, int64_t flat) {
              shape_t i_idx = idx;
              i_idx.erase(i_idx.begin() + a);
              double v = x[0].values[size_t(flat_index(ind_shape, i_idx))];
              o.values[size_t(flat)] = v == double(idx[size_t(a)]) ? on : off;
            });
            return {o};
          }};
}

// ---- random -------------------------------------------------------------------------------

constexpr int64_t random_n = int64_t(1) << 16;

output make_random(const scope& s, const std::string& op, dtype t, int64_t seed, double a,
                   double b) {
  partial_shape shape{random_n / 64, 64};
  if (op == "random_uniform") return ops::random_uniform(s, shape, t, seed, a, b);
  if (op == "random_normal") return ops::random_normal(s, shape, t, seed, a, b);
  return ops::truncated_normal(s, shape, t, seed, a, b);
}

// Outputs mean(x) and the (biased) variance mean((x - mean(x))^2) of 65536 draws, with
// a tolerance of about 6 standard errors of those estimates.
op_case random_moments_case(std::string op, double a, double b, double want_mean,
                            double want_var, double atol) {
  return {.op = op,
          .name = op + "_moments",
          .dtypes = float_types,
          .inputs = {},
          .build = [=](const scope& s, const std::vector<output>&, dtype t) -> std::vector<output> {
            output x = make_random(s, op, t, 1234, a, b);
            output m = ops::mean(s, x);
            return {m, ops::mean(s, ops::square(s, ops::sub(s, x, m)))};
          },
          .reference = [=](const inputs&, dtype) -> outputs {
            return {{{}, {want_mean}}, {{}, {want_var}}};
          },
          .atol = atol,
          .rtol = 0};
}

// Two ops of one graph with the same seed give the same values (max |a - b| = 0).
op_case random_determinism_case(std::string op) {
  return {.op = op,
          .name = op + "_same_seed_same_values",
          .dtypes = float_types,
          .inputs = {},
          .build = [=](const scope& s, const std::vector<output>&, dtype t) {
            output a = make_random(s, op, t, 77, 0.0, 1.0);
            output b = make_random(s, op, t, 77, 0.0, 1.0);
            return one(ops::max(s, ops::abs(s, ops::sub(s, a, b))));
          },
          .reference = [](const inputs&, dtype) -> outputs { return {{{}, {0.0}}}; },
          .atol = 0,
          .rtol = 0};
}

}  // namespace

void add_array_cases(std::vector<op_case>& cases) {
  cases.push_back(reshape_case("reshape_infer_dim", {2, 3, 4}, {4, -1}, {4, 6}));
  cases.push_back(reshape_case("reshape_to_scalar", {1, 1}, {}, {}));
  cases.push_back(reshape_case("reshape_empty", {0, 3}, {3, 0, 2}, {3, 0, 2}));

  cases.push_back(transpose_case("transpose_matrix", {37, 53}, {1, 0}));
  cases.push_back(transpose_case("transpose_matrix_parallel", {300, 257}, {1, 0}));
  cases.push_back(transpose_case("transpose_3d_rotate", {3, 4, 5}, {2, 0, 1}));
  cases.push_back(transpose_case("transpose_3d_last_axis_kept", {3, 4, 5}, {1, 0, 2}));
  cases.push_back(transpose_case("transpose_4d_size1_and_merge", {2, 3, 1, 4}, {3, 2, 0, 1}));
  cases.push_back(transpose_case("transpose_4d_general", {3, 2, 5, 4}, {1, 3, 0, 2}));
  cases.push_back(transpose_case("transpose_identity_perm", {3, 4}, {0, 1}));

  cases.push_back(concat_case("concat_axis1", {{2, 3}, {2, 1}, {2, 4}}, 1));
  cases.push_back(concat_case("concat_negative_axis0", {{2, 3}, {4, 3}}, -2));
  cases.push_back(concat_case("concat_3d_middle", {{2, 3, 2}, {2, 1, 2}, {2, 0, 2}}, 1));
  cases.push_back(concat_case("concat_single_input", {{3, 2}}, 0));

  cases.push_back(split_case("split_axis1", {4, 6}, 3, 1));
  cases.push_back(split_case("split_axis0_views", {6, 5}, 2, 0));
  cases.push_back(split_case("split_negative_axis_3d", {2, 4, 3}, 2, -2));

  cases.push_back(slice_case("slice_2d_to_end", {5, 6}, {1, 2}, {3, -1}));
  cases.push_back(slice_case("slice_3d", {4, 5, 6}, {1, 0, 2}, {2, -1, 3}));
  cases.push_back(slice_case("slice_contiguous_rows", {5, 6}, {2, 0}, {2, 6}));
  cases.push_back(slice_case("slice_empty", {3, 4}, {1, 4}, {2, 0}));

  cases.push_back(gather_case("gather_rows_int32", {5, 3}, dtype::int32, {4}, {4, 0, 2, 2}, 0));
  cases.push_back(gather_case("gather_axis1_int64", {2, 5, 3}, dtype::int64, {2, 2}, {1, 4, 0, 1},
                              1));
  cases.push_back(gather_case("gather_last_axis_int32", {3, 6}, dtype::int32, {3}, {5, 0, 5}, -1));
  cases.push_back(gather_case("gather_scalar_index_int64", {4, 3}, dtype::int64, {}, {2}, 0));

  cases.push_back(sparse_segment_case("sparse_segment_sum_i32_i32", false, {6, 4}, dtype::int32,
                                      {0, 2, 5, 5, 1}, dtype::int32, {0, 0, 1, 1, 3}, -1));
  cases.push_back(sparse_segment_case("sparse_segment_sum_i64_i64_num_segments", false, {5, 2, 3},
                                      dtype::int64, {4, 3, 0, 1, 2, 0, 4}, dtype::int64,
                                      {0, 0, 0, 0, 0, 2, 2}, 5));
  cases.push_back(sparse_segment_case("sparse_segment_sum_i32_i64", false, {4, 3}, dtype::int32,
                                      {3, 3}, dtype::int64, {1, 1}, -1));
  cases.push_back(sparse_segment_case("sparse_segment_sum_i64_i32", false, {4, 3}, dtype::int64,
                                      {0, 1, 2, 3}, dtype::int32, {0, 1, 1, 2}, -1));
  cases.push_back(sparse_segment_case("sparse_segment_mean_i32_i32", true, {6, 4}, dtype::int32,
                                      {0, 2, 5, 5, 1}, dtype::int32, {0, 0, 1, 1, 3}, -1));
  cases.push_back(sparse_segment_case("sparse_segment_mean_i64_i64", true, {5, 2, 3}, dtype::int64,
                                      {4, 3, 0, 1, 2, 0, 4}, dtype::int64,
                                      {0, 0, 0, 0, 0, 2, 2}, 4));
  cases.push_back(sparse_segment_case("sparse_segment_mean_i32_i64", true, {4, 3}, dtype::int32,
                                      {3, 0, 2}, dtype::int64, {1, 1, 1}, -1));
  cases.push_back(sparse_segment_case("sparse_segment_mean_i64_i32", true, {4, 3}, dtype::int64,
                                      {0, 1, 2, 3}, dtype::int32, {0, 1, 1, 2}, -1));

  cases.push_back(one_hot_case("one_hot_last_axis_int32", dtype::int32, {4}, {0, 2, -1, 3}, 3, -1,
                               5, -1));
  cases.push_back(one_hot_case("one_hot_axis0_int64", dtype::int64, {2, 3}, {0, 1, 2, 3, 4, 1}, 4,
                               0, 1, 0));
  cases.push_back(one_hot_case("one_hot_axis1_int32", dtype::int32, {2, 3}, {2, 0, 1, 1, 7, 0}, 3,
                               1, 2, 0));
  cases.push_back(one_hot_case("one_hot_last_axis_int64", dtype::int64, {3}, {1, -5, 0}, 2, -1,
                               1, 0));

  // uniform on [-1, 3): mean 1, variance 16/12 (standard errors ~0.005 each).
  cases.push_back(random_moments_case("random_uniform", -1, 3, 1, 16.0 / 12, 0.03));
  // normal with mean -1, stddev 0.5: variance 0.25 (standard errors ~0.002 / 0.0014).
  cases.push_back(random_moments_case("random_normal", -1, 0.5, -1, 0.25, 0.012));
  // A normal truncated to +-2 standard deviations has variance
  // s^2 (1 - 2 * 2 phi(2) / (2 Phi(2) - 1)).
  {
    const double phi2 = std::exp(-2.0) / std::sqrt(2 * std::numbers::pi);
    const double mass = std::erf(2 / std::numbers::sqrt2);  // 2 Phi(2) - 1
    cases.push_back(random_moments_case("truncated_normal", -1, 0.5, -1,
                                        0.25 * (1 - 4 * phi2 / mass), 0.012));
  }
  // Every truncated value is within 2 stddev: max |x - mean| / stddev is in [0, 2].
  cases.push_back({.op = "truncated_normal",
                   .name = "truncated_normal_within_two_stddev",
                   .dtypes = float_types,
                   .inputs = {},
                   .build = [](const scope& s, const std::vector<output>&, dtype t) {
                     output x = make_random(s, "truncated_normal", t, 99, 3.0, 0.25);
                     output mean = ops::constant(s, t == dtype::float32 ? tensor::scalar(3.0f)
                                                                        : tensor::scalar(3.0));
                     return one(ops::max(s, ops::abs(s, ops::sub(s, x, mean))));
                   },
                   .reference = [](const inputs&, dtype) -> outputs { return {{{}, {0.25}}}; },
                   .atol = 0.25 + 1e-6,
                   .rtol = 0});
  for (const char* op : {"random_uniform", "random_normal", "truncated_normal"})
    cases.push_back(random_determinism_case(op));
}

}  // namespace troupe::conformance
