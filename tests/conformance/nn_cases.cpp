// Conformance cases of the nn op family (runtime/ops/nn_ops.cpp). Every reference is
// written here with plain loops in double, from the definitions of the ops.

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/nn_ops.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {
namespace {

using inputs = std::vector<ref_tensor>;
using outputs = std::vector<ref_tensor>;

ref_tensor zeros(std::vector<int64_t> shape) {
  ref_tensor t{std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  t.values.assign(size_t(n), 0.0);
  return t;
}

// Adds `c` once per float type: float32 with its own tolerance (long dot products round
// more than the default allows), float64 with the defaults.
void add_split_tolerance(std::vector<op_case>& cases, op_case c, double atol32, double rtol32) {
  op_case c32 = c;
  c32.name += "_f32";
  c32.dtypes = {dtype::float32};
  c32.atol = atol32;
  c32.rtol = rtol32;
  cases.push_back(std::move(c32));
  c.name += "_f64";
  c.dtypes = {dtype::float64};
  cases.push_back(std::move(c));
}

// ---- matmul -----------------------------------------------------------------------------

// C[i][j] = sum_p op(A)[i][p] * op(B)[p][j], from the stored (untransposed) layouts.
ref_tensor ref_matmul(const ref_tensor& a, const ref_tensor& b, bool ta, bool tb) {
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t n = tb ? b.shape[0] : b.shape[1];
  ref_tensor c = zeros({m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        double av = ta ? a.values[size_t(p * a.shape[1] + i)] : a.values[size_t(i * a.shape[1] + p)];
        double bv = tb ? b.values[size_t(j * b.shape[1] + p)] : b.values[size_t(p * b.shape[1] + j)];
        s += av * bv;
      }
      c.values[size_t(i * n + j)] = s;
    }
  return c;
}

op_case matmul_case(std::string name, std::vector<int64_t> a_shape, std::vector<int64_t> b_shape,
                    bool ta, bool tb) {
  return {.op = "matmul",
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {{.shape = std::move(a_shape)}, {.shape = std::move(b_shape)}},
          .build = [=](const scope& s, const std::vector<output>& in,
                       dtype) -> std::vector<output> {
            return {ops::matmul(s, in[0], in[1], ta, tb)};
          },
          .reference = [=](const inputs& in, dtype) -> outputs {
            return {ref_matmul(in[0], in[1], ta, tb)};
          }};
}

void add_matmul_cases(std::vector<op_case>& cases) {
  cases.push_back(matmul_case("matmul_basic", {3, 4}, {4, 5}, false, false));
  cases.push_back(matmul_case("matmul_transpose_a", {4, 3}, {4, 5}, true, false));
  cases.push_back(matmul_case("matmul_transpose_b", {3, 4}, {5, 4}, false, true));
  cases.push_back(matmul_case("matmul_transpose_both", {4, 3}, {5, 4}, true, true));
  cases.push_back(matmul_case("matmul_vector_like", {1, 7}, {7, 1}, false, false));
  cases.push_back(matmul_case("matmul_k0_gives_zeros", {3, 0}, {0, 2}, false, false));
  cases.push_back(matmul_case("matmul_k0_transposed", {0, 3}, {2, 0}, true, true));
  cases.push_back(matmul_case("matmul_empty_m", {0, 4}, {4, 3}, false, false));
  cases.push_back(matmul_case("matmul_empty_n", {2, 4}, {4, 0}, false, false));
  // Large enough for a blocked, multi-threaded gemm; odd sizes exercise the edges.
  add_split_tolerance(cases, matmul_case("matmul_odd_large", {67, 129}, {129, 33}, false, false),
                      1e-4, 1e-4);
  add_split_tolerance(cases, matmul_case("matmul_odd_large_tt", {129, 67}, {33, 129}, true, true),
                      1e-4, 1e-4);
}

// ---- bias_add ---------------------------------------------------------------------------

op_case bias_add_case(std::string name, std::vector<int64_t> value_shape) {
  int64_t c = value_shape.back();
  return {.op = "bias_add",
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {{.shape = value_shape}, {.shape = {c}}},
          .build = [](const scope& s, const std::vector<output>& in,
                      dtype) -> std::vector<output> { return {ops::bias_add(s, in[0], in[1])}; },
          .reference = [](const inputs& in, dtype) -> outputs {
            ref_tensor out = in[0];
            const size_t c = in[1].values.size();
            for (size_t i = 0; i < out.values.size(); ++i) out.values[i] += in[1].values[i % c];
            return {out};
          }};
}

void add_bias_add_cases(std::vector<op_case>& cases) {
  cases.push_back(bias_add_case("bias_add_matrix", {4, 5}));
  cases.push_back(bias_add_case("bias_add_rank3", {2, 3, 4}));
  cases.push_back(bias_add_case("bias_add_rank1", {6}));
  cases.push_back(bias_add_case("bias_add_one_channel", {5, 1}));
  cases.push_back(bias_add_case("bias_add_empty_rows", {0, 3}));
}

// ---- activations ------------------------------------------------------------------------

// An elementwise case: f is the scalar reference.
template <class F>
op_case unary_case(std::string op, std::string name, input_spec in,
                   output (*builder)(const scope&, output), F f) {
  return {.op = std::move(op),
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {std::move(in)},
          .build = [builder](const scope& s, const std::vector<output>& x,
                             dtype) -> std::vector<output> { return {builder(s, x[0])}; },
          .reference = [f](const inputs& x, dtype) -> outputs {
            ref_tensor y = x[0];
            for (double& v : y.values) v = f(v);
            return {y};
          }};
}

double ref_relu(double x) { return x > 0 ? x : 0.0; }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_tanh(double x) {
  // (e^x - e^-x) / (e^x + e^-x), written for |x| so it cannot overflow.
  double e = std::exp(-2.0 * std::fabs(x));
  double t = (1.0 - e) / (1.0 + e);
  return x < 0 ? -t : t;
}

const std::vector<double> extremes = {-1000, -80, -20, -1, -1e-3, 0, 1e-3, 1, 20, 80, 1000};

void add_activation_cases(std::vector<op_case>& cases) {
  cases.push_back(unary_case("relu", "relu_random", {.shape = {4, 5}, .lo = -2, .hi = 2},
                             ops::relu, ref_relu));
  cases.push_back(unary_case("relu", "relu_fixed",
                             {.shape = {2, 3}, .values = {-1.5, -0.0, 0, 0.5, 2, -3}}, ops::relu,
                             ref_relu));
  cases.push_back(unary_case("relu", "relu_empty", {.shape = {0, 4}}, ops::relu, ref_relu));
  cases.push_back(unary_case("sigmoid", "sigmoid_random", {.shape = {3, 7}, .lo = -6, .hi = 6},
                             ops::sigmoid, ref_sigmoid));
  cases.push_back(unary_case("sigmoid", "sigmoid_extremes", {.shape = {11}, .values = extremes},
                             ops::sigmoid, ref_sigmoid));
  cases.push_back(unary_case("sigmoid", "sigmoid_scalar", {.shape = {}, .values = {0.25}},
                             ops::sigmoid, ref_sigmoid));
  cases.push_back(unary_case("tanh", "tanh_random", {.shape = {3, 7}, .lo = -4, .hi = 4},
                             ops::tanh, ref_tanh));
  cases.push_back(unary_case("tanh", "tanh_extremes", {.shape = {11}, .values = extremes},
                             ops::tanh, ref_tanh));
  // Long enough to be split over threads.
  cases.push_back(unary_case("tanh", "tanh_long", {.shape = {50000}, .lo = -3, .hi = 3},
                             ops::tanh, ref_tanh));
}

// ---- softmax ----------------------------------------------------------------------------

// softmax or log_softmax over the last axis: the max is subtracted, as the definition is
// invariant to it and exp(1000) would overflow double too.
ref_tensor ref_softmax(const ref_tensor& x, bool log) {
  ref_tensor y = x;
  if (x.values.empty()) return y;
  const size_t c = size_t(x.shape.back());
  for (size_t r = 0; r < x.values.size() / c; ++r) {
    const double* row = &x.values[r * c];
    double m = -std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < c; ++j) m = std::max(m, row[j]);
    double sum = 0;
    for (size_t j = 0; j < c; ++j) sum += std::exp(row[j] - m);
    for (size_t j = 0; j < c; ++j)
      y.values[r * c + j] = log ? row[j] - m - std::log(sum) : std::exp(row[j] - m) / sum;
  }
  return y;
}

void add_softmax_cases(std::vector<op_case>& cases) {
  for (bool log : {false, true}) {
    std::string op = log ? "log_softmax" : "softmax";
    auto builder = log ? ops::log_softmax : ops::softmax;
    auto add = [&](std::string name, input_spec in) {
      cases.push_back({.op = op,
                       .name = op + "_" + name,
                       .dtypes = float_types,
                       .inputs = {std::move(in)},
                       .build = [builder](const scope& s, const std::vector<output>& x,
                                          dtype) -> std::vector<output> {
                         return {builder(s, x[0])};
                       },
                       .reference = [log](const inputs& x, dtype) -> outputs {
                         return {ref_softmax(x[0], log)};
                       }});
    };
    add("matrix", {.shape = {4, 7}, .lo = -3, .hi = 3});
    add("vector", {.shape = {5}, .lo = -3, .hi = 3});
    add("rank3", {.shape = {2, 3, 4}, .lo = -3, .hi = 3});
    add("one_class", {.shape = {3, 1}, .lo = -3, .hi = 3});
    add("empty_batch", {.shape = {0, 3}});
    add("large_logits", {.shape = {3, 3}, .values = {1000, -1000, 0, 1000, 1000, 999, -1000,
                                                     -1000, -999}});
    // Many rows: split over threads.
    add("many_rows", {.shape = {2000, 33}, .lo = -5, .hi = 5});
  }
}

// ---- cross-entropy losses ---------------------------------------------------------------

// loss[i] = -sum_j z[i][j] * log_softmax(x)[i][j]; backprop = softmax(x) - z.
outputs ref_softmax_xent(const ref_tensor& x, const ref_tensor& z) {
  const int64_t n = x.shape[0], c = x.shape[1];
  ref_tensor logp = ref_softmax(x, true);
  ref_tensor loss = zeros({n});
  ref_tensor backprop = zeros({n, c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) {
      size_t k = size_t(i * c + j);
      loss.values[size_t(i)] -= z.values[k] * logp.values[k];
      backprop.values[k] = std::exp(logp.values[k]) - z.values[k];
    }
  return {loss, backprop};
}

outputs ref_sparse_softmax_xent(const ref_tensor& x, const ref_tensor& labels) {
  ref_tensor z = zeros(x.shape);
  for (int64_t i = 0; i < x.shape[0]; ++i)
    z.values[size_t(i * x.shape[1] + int64_t(labels.values[size_t(i)]))] = 1.0;
  return ref_softmax_xent(x, z);
}

void add_cross_entropy_cases(std::vector<op_case>& cases) {
  auto dense = [&](std::string name, input_spec logits, input_spec labels) {
    cases.push_back({.op = "softmax_cross_entropy_with_logits",
                     .name = "softmax_cross_entropy_" + name,
                     .dtypes = float_types,
                     .inputs = {std::move(logits), std::move(labels)},
                     .build = [](const scope& s, const std::vector<output>& in,
                                 dtype) -> std::vector<output> {
                       auto r = ops::softmax_cross_entropy_with_logits(s, in[0], in[1]);
                       return {r.loss, r.backprop};
                     },
                     .reference = [](const inputs& in, dtype) -> outputs {
                       return ref_softmax_xent(in[0], in[1]);
                     }});
  };
  dense("random", {.shape = {4, 5}, .lo = -3, .hi = 3}, {.shape = {4, 5}, .lo = 0, .hi = 1});
  dense("one_hot_large_logits", {.shape = {2, 3}, .values = {1000, -1000, 0, -1000, 1000, 999}},
        {.shape = {2, 3}, .values = {0, 1, 0, 0.5, 0, 0.5}});
  // Logits near 1000 with a loss near 1: checks that the max is subtracted from each logit
  // before lse is added (1000 + lse rounds to float32's 6e-5 spacing there).
  dense("offset_logits", {.shape = {2, 3}, .values = {1000, 999.5, 998, -998, -999.25, -1000}},
        {.shape = {2, 3}, .values = {0.7, 0.2, 0.1, 0.1, 0.3, 0.6}});
  dense("empty_batch", {.shape = {0, 4}}, {.shape = {0, 4}});
  dense("many_rows", {.shape = {1500, 20}, .lo = -4, .hi = 4},
        {.shape = {1500, 20}, .lo = 0, .hi = 1});

  auto sparse = [&](std::string name, dtype label_type, input_spec logits,
                    std::vector<double> labels) {
    const int64_t n = int64_t(labels.size());
    cases.push_back({.op = "sparse_softmax_cross_entropy_with_logits",
                     .name = "sparse_softmax_cross_entropy_" + name,
                     .dtypes = float_types,
                     .inputs = {std::move(logits),
                                {.shape = {n}, .type = label_type, .values = std::move(labels)}},
                     .build = [](const scope& s, const std::vector<output>& in,
                                 dtype) -> std::vector<output> {
                       auto r = ops::sparse_softmax_cross_entropy_with_logits(s, in[0], in[1]);
                       return {r.loss, r.backprop};
                     },
                     .reference = [](const inputs& in, dtype) -> outputs {
                       return ref_sparse_softmax_xent(in[0], in[1]);
                     }});
  };
  sparse("int32_labels", dtype::int32, {.shape = {4, 5}, .lo = -3, .hi = 3}, {0, 4, 2, 1});
  sparse("int64_labels", dtype::int64, {.shape = {4, 5}, .lo = -3, .hi = 3}, {3, 3, 0, 4});
  sparse("large_logits", dtype::int32,
         {.shape = {3, 3}, .values = {1000, -1000, 0, -1000, 1000, 999, 5, 5, 5}}, {1, 2, 0});
  sparse("empty_batch", dtype::int64, {.shape = {0, 3}}, {});
  std::vector<double> many(1000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = double((i * 7) % 17);
  sparse("many_rows", dtype::int32, {.shape = {1000, 17}, .lo = -4, .hi = 4}, many);
}

// max(x, 0) - x z + log(1 + exp(-|x|)) is the stable form of
// -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)); the naive form is used where it is
// exact in double (|x| <= 30), so the two are checked against each other.
double ref_sigmoid_xent(double x, double z) {
  if (std::fabs(x) <= 30) {
    double p = 1.0 / (1.0 + std::exp(-x));
    return -z * std::log(p) - (1 - z) * std::log(1 - p);
  }
  return std::max(x, 0.0) - x * z + std::log1p(std::exp(-std::fabs(x)));
}

void add_sigmoid_xent_cases(std::vector<op_case>& cases) {
  auto add = [&](std::string name, input_spec logits, input_spec labels) {
    cases.push_back({.op = "sigmoid_cross_entropy_with_logits",
                     .name = "sigmoid_cross_entropy_" + name,
                     .dtypes = float_types,
                     .inputs = {std::move(logits), std::move(labels)},
                     .build = [](const scope& s, const std::vector<output>& in,
                                 dtype) -> std::vector<output> {
                       return {ops::sigmoid_cross_entropy_with_logits(s, in[0], in[1])};
                     },
                     .reference = [](const inputs& in, dtype) -> outputs {
                       ref_tensor y = in[0];
                       for (size_t i = 0; i < y.values.size(); ++i)
                         y.values[i] = ref_sigmoid_xent(in[0].values[i], in[1].values[i]);
                       return {y};
                     }});
  };
  add("random", {.shape = {3, 4}, .lo = -5, .hi = 5}, {.shape = {3, 4}, .lo = 0, .hi = 1});
  add("extremes", {.shape = {6}, .values = {-1000, -1000, 1000, 1000, 50, -50}},
      {.shape = {6}, .values = {0, 1, 0, 1, 0.25, 0.75}});
  add("long", {.shape = {30000}, .lo = -8, .hi = 8}, {.shape = {30000}, .lo = 0, .hi = 1});
}

void add_mean_squared_error_cases(std::vector<op_case>& cases) {
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    cases.push_back({.op = "mean_squared_error",
                     .name = "mean_squared_error_" + name,
                     .dtypes = float_types,
                     .inputs = {{.shape = shape, .lo = -2, .hi = 2}, {.shape = shape}},
                     .build = [](const scope& s, const std::vector<output>& in,
                                 dtype) -> std::vector<output> {
                       return {ops::mean_squared_error(s, in[0], in[1])};
                     },
                     .reference = [](const inputs& in, dtype) -> outputs {
                       double sum = 0;
                       for (size_t i = 0; i < in[0].values.size(); ++i) {
                         double d = in[0].values[i] - in[1].values[i];
                         sum += d * d;
                       }
                       return {ref_tensor{{}, {sum / double(in[0].values.size())}}};
                     }});
  };
  add("matrix", {3, 4});
  add("scalar", {});
  add("rank3", {2, 3, 5});
  // Several blocks of the kernel's blocked sum, summed over threads.
  add("long", {3, 7001});
}

// ---- fused gradient ops ----------------------------------------------------------------

// relu_grad, sigmoid_grad or tanh_grad of g and y: f(g, y) is the scalar reference.
template <class F>
op_case activation_grad_case(std::string op, std::string name, std::vector<int64_t> shape,
                             input_spec y, output (*builder)(const scope&, output, output),
                             F f) {
  y.shape = shape;
  return {.op = std::move(op),
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {{.shape = std::move(shape), .lo = -2, .hi = 2}, std::move(y)},
          .build = [builder](const scope& s, const std::vector<output>& in,
                             dtype) -> std::vector<output> { return {builder(s, in[0], in[1])}; },
          .reference = [f](const inputs& in, dtype) -> outputs {
            ref_tensor dx = in[0];
            for (size_t i = 0; i < dx.values.size(); ++i)
              dx.values[i] = f(in[0].values[i], in[1].values[i]);
            return {dx};
          }};
}

void add_activation_grad_cases(std::vector<op_case>& cases) {
  auto relu = [](double g, double y) { return y > 0 ? g : 0.0; };
  auto sigmoid = [](double g, double y) { return g * y * (1 - y); };
  auto tanh = [](double g, double y) { return g * (1 - y * y); };
  cases.push_back(activation_grad_case("relu_grad", "relu_grad_random", {4, 5},
                                       {.lo = -1, .hi = 1}, ops::relu_grad, relu));
  cases.push_back(activation_grad_case("relu_grad", "relu_grad_at_zero", {2, 3},
                                       {.values = {0, -0.0, 1e-30, -1e-30, 3, 0}},
                                       ops::relu_grad, relu));
  cases.push_back(activation_grad_case("relu_grad", "relu_grad_empty", {0, 3}, {},
                                       ops::relu_grad, relu));
  // Long enough to be split over threads, with a length no vector width divides.
  cases.push_back(activation_grad_case("relu_grad", "relu_grad_long", {40001},
                                       {.lo = -1, .hi = 1}, ops::relu_grad, relu));
  cases.push_back(activation_grad_case("sigmoid_grad", "sigmoid_grad_random", {3, 7},
                                       {.lo = 0, .hi = 1}, ops::sigmoid_grad, sigmoid));
  cases.push_back(activation_grad_case("sigmoid_grad", "sigmoid_grad_saturated", {4},
                                       {.values = {0, 1, 0.5, 1e-20}}, ops::sigmoid_grad,
                                       sigmoid));
  cases.push_back(activation_grad_case("sigmoid_grad", "sigmoid_grad_long", {40001},
                                       {.lo = 0, .hi = 1}, ops::sigmoid_grad, sigmoid));
  cases.push_back(activation_grad_case("sigmoid_grad", "sigmoid_grad_scalar", {},
                                       {.values = {0.25}}, ops::sigmoid_grad, sigmoid));
  cases.push_back(activation_grad_case("tanh_grad", "tanh_grad_random", {3, 7},
                                       {.lo = -1, .hi = 1}, ops::tanh_grad, tanh));
  cases.push_back(activation_grad_case("tanh_grad", "tanh_grad_saturated", {4},
                                       {.values = {-1, 1, 0, 0.5}}, ops::tanh_grad, tanh));
  cases.push_back(activation_grad_case("tanh_grad", "tanh_grad_long", {40001},
                                       {.lo = -1, .hi = 1}, ops::tanh_grad, tanh));
}

// g [..., C] summed over every axis but the last.
op_case bias_add_grad_case(std::string name, std::vector<int64_t> shape) {
  return {.op = "bias_add_grad",
          .name = std::move(name),
          .dtypes = float_types,
          .inputs = {{.shape = std::move(shape)}},
          .build = [](const scope& s, const std::vector<output>& in,
                      dtype) -> std::vector<output> { return {ops::bias_add_grad(s, in[0])}; },
          .reference = [](const inputs& in, dtype) -> outputs {
            const int64_t c = in[0].shape.back();
            ref_tensor db = zeros({c});
            for (size_t i = 0; i < in[0].values.size(); ++i)
              db.values[i % size_t(c)] += in[0].values[i];
            return {db};
          }};
}

void add_bias_add_grad_cases(std::vector<op_case>& cases) {
  cases.push_back(bias_add_grad_case("bias_add_grad_matrix", {4, 5}));
  cases.push_back(bias_add_grad_case("bias_add_grad_rank3", {2, 3, 4}));
  cases.push_back(bias_add_grad_case("bias_add_grad_rank1", {6}));
  cases.push_back(bias_add_grad_case("bias_add_grad_one_channel", {7, 1}));
  cases.push_back(bias_add_grad_case("bias_add_grad_empty_rows", {0, 3}));
  cases.push_back(bias_add_grad_case("bias_add_grad_no_channels", {3, 0}));
  // Many narrow rows (several row blocks, rows summed several at a time), wide rows (column
  // chunks and their remainder), and one column (a plain long sum): float32 sums of
  // thousands of values round more than the default tolerance allows.
  add_split_tolerance(cases, bias_add_grad_case("bias_add_grad_narrow_rows", {6001, 7}), 1e-4,
                      1e-4);
  add_split_tolerance(cases, bias_add_grad_case("bias_add_grad_rows_blocks", {50, 30, 70}),
                      1e-4, 1e-4);
  add_split_tolerance(cases, bias_add_grad_case("bias_add_grad_wide_rows", {5, 33000}), 1e-4,
                      1e-4);
  add_split_tolerance(cases, bias_add_grad_case("bias_add_grad_wide_many_rows", {40, 4100}),
                      1e-4, 1e-4);
  add_split_tolerance(cases, bias_add_grad_case("bias_add_grad_one_long_column", {70001, 1}),
                      1e-3, 1e-4);
}

}  // namespace

void add_nn_cases(std::vector<op_case>& cases) {
  add_matmul_cases(cases);
  add_bias_add_cases(cases);
  add_activation_cases(cases);
  add_softmax_cases(cases);
  add_cross_entropy_cases(cases);
  add_sigmoid_xent_cases(cases);
  add_mean_squared_error_cases(cases);
  add_activation_grad_cases(cases);
  add_bias_add_grad_cases(cases);
}

}  // namespace troupe::conformance
