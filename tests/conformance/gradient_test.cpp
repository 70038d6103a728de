// The gradient checks: every op with a gradient function against central finite
// differences in float64 (see gradient_harness.hpp), plus a coverage check.

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/platform.hpp"
#include "runtime/autodiff/gradients.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"
#include "tests/conformance/gradient_harness.hpp"

namespace troupe::conformance {
namespace {

const platform& the_platform() {
  static const platform p;
  return p;
}

std::vector<grad_case> all_grad_cases() {
  std::vector<grad_case> cases;
  add_math_grad_cases(cases);
  add_nn_grad_cases(cases);
  return cases;
}

const std::vector<grad_case>& grad_cases() {
  static const std::vector<grad_case> c = all_grad_cases();
  return c;
}

std::vector<double> as_doubles(const tensor& t) {
  std::vector<double> out(size_t(t.num_elements()));
  visit_dtype(t.dtype(), [&]<class T>() {
    if constexpr (std::is_arithmetic_v<T>) {
      auto v = t.values<T>();
      for (size_t i = 0; i < out.size(); ++i) out[i] = double(v[i]);
    }
  });
  return out;
}

tensor make_input(dtype t, const std::vector<int64_t>& shape, const std::vector<double>& values) {
  tensor out(t, tensor_shape(std::span<const int64_t>(shape)));
  visit_dtype(t, [&]<class T>() {
    if constexpr (std::is_arithmetic_v<T>) {
      auto v = out.values<T>();
      for (size_t i = 0; i < values.size(); ++i) v[i] = T(values[i]);
    }
  });
  return out;
}

// One case built and ready: the graph, its placeholders, ys, the fed values and the
// projection weights.
struct grad_setup {
  std::unique_ptr<graph> g;
  std::vector<output> inputs;
  std::vector<tensor> values;
  std::vector<output> ys;
  std::vector<std::vector<double>> weights;  // one per y, its shape
};

// L = sum_k <ys[k], w_k> at the given input values.
double loss_at(session& sess, const grad_setup& b, const std::vector<tensor>& values) {
  std::vector<std::pair<output, tensor>> feeds;
  for (size_t i = 0; i < b.inputs.size(); ++i) feeds.emplace_back(b.inputs[i], values[i]);
  auto got = sess.run(feeds, b.ys);
  EXPECT_TRUE(got.has_value()) << got.error_value().to_string();
  if (!got) return std::nan("");
  double l = 0;
  for (size_t k = 0; k < got->size(); ++k) {
    std::vector<double> y = as_doubles((*got)[k]);
    for (size_t j = 0; j < y.size(); ++j) l += y[j] * b.weights[k][j];
  }
  return l;
}

void check_gradient(const grad_case& c) {
  grad_setup b;
  b.g = std::make_unique<graph>(the_platform().ops());
  scope s = scope::root(*b.g);
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  for (const input_spec& in : c.inputs) {
    dtype t = in.type == dtype::invalid ? dtype::float64 : in.type;
    int64_t n = 1;
    for (int64_t d : in.shape) n *= d;
    std::vector<double> v;
    std::uniform_real_distribution<double> u(in.lo, in.hi);
    for (int64_t i = 0; i < n; ++i) {
      double x = in.values.empty() ? u(rng) : in.values[size_t(i)];
      v.push_back(t == dtype::float64 ? x : std::floor(x));
    }
    b.inputs.push_back(ops::placeholder(s, t, partial_shape(std::span<const int64_t>(in.shape))));
    b.values.push_back(make_input(t, in.shape, v));
  }
  b.ys = c.build(s, b.inputs);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_FALSE(b.ys.empty());

  session sess(*b.g, the_platform().kernels(), {.num_threads = 1});
  // Projection weights shaped like each y.
  std::vector<std::pair<output, tensor>> feeds;
  for (size_t i = 0; i < b.inputs.size(); ++i) feeds.emplace_back(b.inputs[i], b.values[i]);
  auto ys = sess.run(feeds, b.ys);
  ASSERT_TRUE(ys.has_value()) << ys.error_value().to_string();
  std::uniform_real_distribution<double> wu(-1.0, 1.0);
  std::vector<output> grad_ys;
  for (const tensor& y : *ys) {
    std::vector<double> w;
    for (int64_t j = 0; j < y.num_elements(); ++j) w.push_back(wu(rng));
    b.weights.push_back(w);
    grad_ys.push_back(ops::constant(s, make_input(dtype::float64, y.shape().to_vector(), w)));
  }

  std::vector<int> wrt = c.wrt;
  if (wrt.empty()) {
    for (size_t i = 0; i < b.inputs.size(); ++i)
      if (b.inputs[i].type() == dtype::float64) wrt.push_back(int(i));
  }
  std::vector<output> xs;
  for (int i : wrt) xs.push_back(b.inputs[size_t(i)]);
  auto grads = add_gradients(s.sub("gradients"), b.ys, xs, grad_ys);
  ASSERT_TRUE(grads.has_value()) << grads.error_value().to_string();

  for (size_t k = 0; k < wrt.size(); ++k) {
    int i = wrt[k];
    SCOPED_TRACE(str_cat("gradient w.r.t. input ", i));
    const gradient& gr = (*grads)[k];
    const tensor& x = b.values[size_t(i)];
    std::vector<double> analytic(size_t(x.num_elements()), 0.0);
    EXPECT_EQ(gr.is_sparse(), c.expect_sparse.count(i) > 0)
        << "the gradient is " << (gr.is_sparse() ? "sparse" : "dense");
    if (gr.is_sparse()) {
      auto got = sess.run(feeds, {gr.indices, gr.values});
      ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
      std::vector<double> idx = as_doubles((*got)[0]);
      std::vector<double> val = as_doubles((*got)[1]);
      int64_t row = x.dim(0) == 0 ? 0 : x.num_elements() / x.dim(0);
      ASSERT_EQ(int64_t(val.size()), int64_t(idx.size()) * row) << "values vs indices";
      for (size_t r = 0; r < idx.size(); ++r) {
        ASSERT_TRUE(idx[r] >= 0 && idx[r] < double(x.dim(0))) << "row index " << idx[r];
        for (int64_t j = 0; j < row; ++j)
          analytic[size_t(int64_t(idx[r]) * row + j)] += val[r * size_t(row) + size_t(j)];
      }
    } else if (gr.valid()) {
      auto got = sess.run(feeds, {gr.dense});
      ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
      ASSERT_EQ((*got)[0].shape(), x.shape()) << "shape of the gradient";
      analytic = as_doubles((*got)[0]);
    }
    std::vector<double> base = as_doubles(x);
    int bad = 0;
    for (size_t j = 0; j < base.size() && bad < 5; ++j) {
      std::vector<tensor> plus = b.values, minus = b.values;
      std::vector<double> p = base, m = base;
      p[j] += c.eps;
      m[j] -= c.eps;
      plus[size_t(i)] = make_input(dtype::float64, x.shape().to_vector(), p);
      minus[size_t(i)] = make_input(dtype::float64, x.shape().to_vector(), m);
      double numeric = (loss_at(sess, b, plus) - loss_at(sess, b, minus)) / (2 * c.eps);
      if (!(std::abs(analytic[j] - numeric) <= c.tol * std::max(1.0, std::abs(numeric)))) {
        ++bad;
        ADD_FAILURE() << "element " << j << ": add_gradients gives " << analytic[j]
                      << ", finite differences " << numeric;
      }
    }
  }
}

class gradient_check : public ::testing::TestWithParam<const grad_case*> {};

TEST_P(gradient_check, matches_finite_differences) { check_gradient(*GetParam()); }

std::vector<const grad_case*> case_pointers() {
  std::vector<const grad_case*> out;
  for (const grad_case& c : grad_cases()) out.push_back(&c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(ops, gradient_check, ::testing::ValuesIn(case_pointers()),
                         [](const ::testing::TestParamInfo<const grad_case*>& info) {
                           return info.param->name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(gradient_check);

// Every op with a gradient function has a case; every other stateless op is declared
// non-differentiable on purpose.
TEST(gradient_coverage, every_op_has_a_checked_gradient_or_is_declared_without_one) {
  const op_registry& reg = the_platform().ops();
  std::set<std::string> covered, names;
  for (const grad_case& c : grad_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    const op_def* d = reg.find(c.op);
    ASSERT_NE(d, nullptr) << "case " << c.name << " covers unknown op " << c.op;
    EXPECT_TRUE(bool(d->spec().grad)) << "case " << c.name << " covers op " << c.op
                                      << ", which has no gradient function";
    covered.insert(c.op);
  }
  for (const std::string& op : reg.names()) {
    const op_def* d = reg.find(op);
    if (d->spec().grad) {
      EXPECT_TRUE(covered.count(op)) << "op '" << op << "' has a gradient function but no "
                                     << "finite-difference case";
    } else if (!d->is_stateful()) {
      EXPECT_TRUE(non_differentiable_ops().count(op))
          << "op '" << op << "' has no gradient function and is not declared "
          << "non-differentiable";
    }
  }
  for (const std::string& op : non_differentiable_ops())
    EXPECT_NE(reg.find(op), nullptr) << "non_differentiable_ops lists unknown op " << op;
}

}  // namespace

// Readable parameter names in test logs (instead of a pointer value); found by ADL.
void PrintTo(const grad_case* c, std::ostream* os) { *os << c->name; }

const std::set<std::string>& non_differentiable_ops() {
  // Stateful ops (random values, variables, optimizers, queues) are exempt by rule.
  static const std::set<std::string> ops = {
      // Values that do not depend on inputs, or plumbing.
      "const", "placeholder", "no_op", "fill",
      // Piecewise-constant results: comparisons, logic, indices.
      "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
      "logical_or", "logical_not", "argmax", "one_hot",
      // The gradient helpers themselves: second derivatives are not supported yet.
      "zeros_like", "ones_like", "sum_to_like", "broadcast_like", "reduction_grad",
      "reshape_like", "slice_grad", "split_like", "scatter_add_like",
      "sparse_segment_mean_grad", "relu_grad", "sigmoid_grad", "tanh_grad", "bias_add_grad",
      // A schedule of step numbers.
      "learning_rate",
  };
  return ops;
}

}  // namespace troupe::conformance
