// The conformance harness: every (op, dtype) run through a real session and compared
// with a float64 reference; plus a check that every registered kernel is covered.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"
#include "tests/conformance/harness.hpp"

namespace troupe::conformance {

int64_t ref_tensor::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t ref_tensor::index(std::initializer_list<int64_t> idx) const {
  int64_t flat = 0;
  size_t i = 0;
  for (int64_t v : idx) flat = flat * shape[i++] + v;
  return flat;
}

namespace {

const platform& the_platform() {
  static const platform p;  // test-only convenience; production code creates its own
  return p;
}

std::vector<op_case> all_cases() {
  std::vector<op_case> cases;
  add_core_cases(cases);
  add_math_cases(cases);
  add_nn_cases(cases);
  add_array_cases(cases);
  add_grad_op_cases(cases);
  add_schedule_cases(cases);
  return cases;
}

const std::vector<op_case>& cases() {
  static const std::vector<op_case> c = all_cases();
  return c;
}

// Rounds a double to what dtype t can hold, as the fed tensor will hold it.
double round_to(dtype t, double v, double lo, double hi, bool fixed) {
  switch (t) {
    case dtype::float32: return double(float(v));
    case dtype::float64: return v;
    case dtype::int32:
    case dtype::int64:
    case dtype::string: return std::floor(v);
    case dtype::boolean: return fixed ? (v != 0 ? 1.0 : 0.0) : (v > (lo + hi) / 2 ? 1.0 : 0.0);
    case dtype::invalid: break;
  }
  return v;
}

tensor to_tensor(dtype t, const ref_tensor& r) {
  tensor out(t, tensor_shape(std::span<const int64_t>(r.shape)));
  visit_dtype(t, [&]<class T>() {
    auto v = out.values<T>();
    for (size_t i = 0; i < r.values.size(); ++i) {
      if constexpr (std::is_same_v<T, std::string>) v[i] = std::to_string(int64_t(r.values[i]));
      else v[i] = T(r.values[i]);
    }
  });
  return out;
}

std::vector<double> to_doubles(const tensor& t) {
  std::vector<double> out(size_t(t.num_elements()));
  visit_dtype(t.dtype(), [&]<class T>() {
    auto v = t.values<T>();
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, std::string>) {
        char* end = nullptr;
        double d = std::strtod(v[i].c_str(), &end);
        out[i] = (v[i].empty() || *end != '\0') ? std::nan("") : d;
      } else {
        out[i] = double(v[i]);
      }
    }
  });
  return out;
}

struct built_case {
  std::unique_ptr<graph> g;
  std::vector<output> inputs;
  std::vector<output> outputs;
  std::vector<ref_tensor> ref_inputs;
  std::vector<dtype> input_types;
  error status;
};

built_case build(const op_case& c, dtype t) {
  built_case b;
  b.g = std::make_unique<graph>(the_platform().ops());
  scope s = scope::root(*b.g);
  std::mt19937_64 rng(std::hash<std::string>{}(c.name) ^ uint64_t(t));
  for (const input_spec& in : c.inputs) {
    dtype it = in.type == dtype::invalid ? t : in.type;
    ref_tensor r;
    r.shape = in.shape;
    int64_t n = r.size();
    bool fixed = !in.values.empty();
    if (fixed) {
      EXPECT_EQ(int64_t(in.values.size()), n) << c.name << ": fixed values vs shape";
    }
    std::uniform_real_distribution<double> u(in.lo, in.hi);
    for (int64_t i = 0; i < n; ++i) {
      double v = fixed ? in.values[size_t(i)] : u(rng);
      r.values.push_back(round_to(it, v, in.lo, in.hi, fixed));
    }
    b.inputs.push_back(ops::placeholder(s, it, partial_shape(std::span<const int64_t>(in.shape))));
    b.ref_inputs.push_back(std::move(r));
    b.input_types.push_back(it);
  }
  b.outputs = c.build(s, b.inputs, t);
  b.status = s.status();
  return b;
}

struct case_param {
  const op_case* c;
  dtype t;
};

std::vector<case_param> all_params() {
  std::vector<case_param> out;
  for (const op_case& c : cases())
    for (dtype t : c.dtypes) out.push_back({&c, t});
  return out;
}

// Readable parameter names in test logs (instead of gtest's byte dump).
void PrintTo(const case_param& p, std::ostream* os) {
  *os << p.c->name << " / " << dtype_name(p.t);
}

class conformance : public ::testing::TestWithParam<case_param> {};

void check_case(const op_case& c, dtype t, int threads) {
  SCOPED_TRACE(str_cat(c.name, " / ", dtype_name(t), " / ", threads, " thread(s)"));
  built_case b = build(c, t);
  ASSERT_FALSE(b.status) << b.status.to_string();
  session sess(*b.g, the_platform().kernels(), {.num_threads = threads});
  std::vector<std::pair<output, tensor>> feeds;
  for (size_t i = 0; i < b.inputs.size(); ++i)
    feeds.emplace_back(b.inputs[i], to_tensor(b.input_types[i], b.ref_inputs[i]));
  auto got = sess.run(feeds, b.outputs);
  ASSERT_TRUE(got.has_value()) << got.error_value().to_string();
  std::vector<ref_tensor> want = c.reference(b.ref_inputs, t);
  ASSERT_EQ(got->size(), want.size()) << "number of outputs";
  for (size_t o = 0; o < want.size(); ++o) {
    const tensor& g = (*got)[o];
    ASSERT_EQ(g.shape().to_vector(), want[o].shape) << "shape of output " << o;
    double atol = c.atol, rtol = c.rtol;
    if (atol < 0) atol = g.dtype() == dtype::float32 ? 1e-5 : g.dtype() == dtype::float64 ? 1e-12 : 0;
    if (rtol < 0) rtol = g.dtype() == dtype::float32 ? 1e-5 : g.dtype() == dtype::float64 ? 1e-12 : 0;
    std::vector<double> gv = to_doubles(g);
    ASSERT_EQ(gv.size(), want[o].values.size()) << "values of output " << o;
    int bad = 0;
    for (size_t i = 0; i < gv.size() && bad < 5; ++i) {
      double w = want[o].values[i];
      bool ok = (std::isnan(w) && std::isnan(gv[i])) || (std::isinf(w) && gv[i] == w) ||
                std::abs(gv[i] - w) <= atol + rtol * std::abs(w);
      if (!ok) {
        ++bad;
        ADD_FAILURE() << "output " << o << " element " << i << ": got " << gv[i] << ", want " << w
                      << " (atol " << atol << ", rtol " << rtol << ")";
      }
    }
  }
}

TEST_P(conformance, matches_float64_reference) {
  check_case(*GetParam().c, GetParam().t, 1);
  check_case(*GetParam().c, GetParam().t, 2);
}

INSTANTIATE_TEST_SUITE_P(ops, conformance, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<case_param>& info) {
                           return str_cat(info.param.c->name, "_", dtype_name(info.param.t));
                         });

// Every (op, dtype) with a CPU kernel, and every registered op, has a case.
TEST(conformance_coverage, every_registered_op_and_dtype_has_a_case) {
  const platform& p = the_platform();
  std::set<std::pair<std::string, dtype>> covered;
  std::set<std::string> names;
  for (const op_case& c : cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    EXPECT_NE(p.ops().find(c.op), nullptr) << "case " << c.name << " covers unknown op " << c.op;
    for (dtype t : c.dtypes) {
      built_case b = build(c, t);
      EXPECT_FALSE(b.status) << c.name << ": " << b.status.to_string();
      for (const node& n : b.g->nodes()) {
        const std::string& ta = n.def->kernel_type_attr();
        covered.emplace(n.op, ta.empty() ? dtype::invalid : n.attr<dtype>(ta));
      }
    }
  }
  std::set<std::string> with_kernel;
  for (const auto& [op, t] : p.kernels().list(device_kind::cpu)) {
    with_kernel.insert(op);
    const op_def* d = p.ops().find(op);
    ASSERT_NE(d, nullptr) << "kernel for unregistered op " << op;
    // Ops on resources (variables, optimizers, queues) need state a single run cannot
    // set up: their own tests cover them (tests/variable_test.cpp, optimizer_test.cpp,
    // queue_test.cpp).
    if (d->is_stateful() && (d->find_attr("var") || d->find_attr("queue"))) continue;
    std::vector<dtype> types;
    if (d->kernel_type_attr().empty()) types = {dtype::invalid};
    else if (t != dtype::invalid) types = {t};
    else types = d->find_attr(d->kernel_type_attr())->allowed_types;
    for (dtype x : types)
      EXPECT_TRUE(covered.count({op, x}))
          << "no conformance case runs op '" << op << "' with dtype " << dtype_name(x);
  }
  for (const std::string& op : p.ops().names())
    EXPECT_TRUE(with_kernel.count(op)) << "op '" << op << "' has no CPU kernel";
}

}  // namespace
}  // namespace troupe::conformance
